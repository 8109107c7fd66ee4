// OutOfMemory: a std::bad_alloc that says which run ran out and under which limits. pybind11
// turns every std::bad_alloc into MemoryError carrying what(), so users read this message instead
// of a bare "std::bad_alloc" that names neither the input nor what to change.
#pragma once
#include <memory>
#include <new>
#include <string>

namespace blt {

class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string message)
      : message_(std::make_shared<const std::string>(std::move(message))) {}
  const char* what() const noexcept override { return message_->c_str(); }

 private:
  // Shared so that copying the exception (std::exception_ptr, rethrow) cannot itself allocate.
  std::shared_ptr<const std::string> message_;
};

}  // namespace blt
