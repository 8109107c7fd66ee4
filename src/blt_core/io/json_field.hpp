// One string field of a JSON object (a line of JSONL): finds the top-level key and decodes its
// string value to UTF-8, skipping every other value without building a document tree.
#pragma once
#include <string>
#include <string_view>

namespace blt {

// Decodes the value of top-level key `key` of the JSON object `text` into `out` (replaced).
// Throws std::invalid_argument naming the problem and its byte position in `text`: not an
// object, malformed JSON, key missing, value not a string, or a lone UTF-16 surrogate (which has
// no UTF-8 form). A key given twice takes its last value, as Python's json module does.
void json_string_field(std::string_view text, std::string_view key, std::string& out);

}  // namespace blt
