// JSON text of an id array ("[1,2,3]"), written by batch workers so servers never format ids on
// their event loop; the one place the serving path turns ids into text.
#pragma once
#include <string>

#include "blt_core/id_buffer.hpp"

namespace blt::serve {

// Appends the ids of `ids` (any dtype) to `out` as a JSON array without spaces.
void append_ids_json(const IdBuffer& ids, std::string& out);

}  // namespace blt::serve
