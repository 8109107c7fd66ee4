// PieceMemoryLimit: the working memory one pre-tokenized piece may take on this thread. Runs that
// promise a memory cap (the file pipeline) set it; tokenizers whose scratch grows with a piece check it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace blt {

class PieceMemoryLimit {
 public:
  static constexpr uint64_t kNone = UINT64_MAX;

  // Bytes of scratch one piece may use on the calling thread; kNone outside any Scope.
  static uint64_t current() noexcept;

  // Sets the calling thread's limit for its lifetime and restores the previous one after.
  class Scope {
   public:
    explicit Scope(uint64_t bytes) noexcept;
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    uint64_t previous_;
  };
};

}  // namespace blt
