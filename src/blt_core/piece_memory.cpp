#include "blt_core/piece_memory.hpp"

namespace blt {
namespace {
// A thread-local rather than a parameter: the limit belongs to the run, and the Tokenizer
// interface it would otherwise pass through is shared by every caller that has no cap.
thread_local uint64_t piece_limit = PieceMemoryLimit::kNone;
}  // namespace

uint64_t PieceMemoryLimit::current() noexcept { return piece_limit; }

PieceMemoryLimit::Scope::Scope(uint64_t bytes) noexcept : previous_(piece_limit) { piece_limit = bytes; }

PieceMemoryLimit::Scope::~Scope() { piece_limit = previous_; }

}  // namespace blt
