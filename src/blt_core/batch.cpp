#include "blt_core/batch.hpp"

#include <cstring>

#include "blt_core/parallel/parallel_for.hpp"

namespace blt {

RaggedIds encode_batch(const Tokenizer& tok, std::span<const ByteSpan> items, DType dt,
                       int threads) {
  check_dtype_fits(tok, dt);
  const size_t n = items.size();
  std::vector<uint32_t> head, tail;
  tok.prefix(head);
  tok.suffix(tail);
  const size_t fixed = head.size() + tail.size();
  const size_t w = dtype_size(dt);

  std::vector<ByteSpan> bodies(n);
  std::vector<int64_t> offsets(n + 1, 0);
  bool exact = true;
  for (size_t i = 0; i < n; ++i) {
    bodies[i] = items[i].subspan(tok.leading_skip(items[i]));
    auto sz = tok.body_size(bodies[i]);
    if (!sz) {
      exact = false;
      break;
    }
    offsets[i + 1] = offsets[i] + static_cast<int64_t>(fixed + *sz);
  }

  RaggedIds result;
  if (exact) {
    // Sizes known up front: each task writes its item straight into the final flat buffer.
    result.ids = IdBuffer::allocate(dt, static_cast<size_t>(offsets[n]));
    auto* base = result.ids.as<std::byte>();
    parallel_for(threads, n, 1, [&](size_t a, size_t b, int) {
        for (size_t i = a; i != b; ++i) {
          std::byte* o = base + static_cast<size_t>(offsets[i]) * w;
          convert_ids(head.data(), head.size(), dt, o);
          size_t body = static_cast<size_t>(offsets[i + 1] - offsets[i]) - fixed;
          tok.encode_body_into(bodies[i], dt, o + head.size() * w);
          convert_ids(tail.data(), tail.size(), dt, o + (head.size() + body) * w);
        }
    });
  } else {
    // Unknown sizes: encode each item into its own vector, then copy into place in parallel.
    for (size_t i = 0; i < n; ++i) bodies[i] = items[i].subspan(tok.leading_skip(items[i]));
    std::vector<std::vector<uint32_t>> parts(n);
    parallel_for(threads, n, 1, [&](size_t a, size_t b, int) {
      for (size_t i = a; i != b; ++i) {
        parts[i] = head;
        tok.encode_body(bodies[i], parts[i]);
        parts[i].insert(parts[i].end(), tail.begin(), tail.end());
      }
    });
    for (size_t i = 0; i < n; ++i) offsets[i + 1] = offsets[i] + static_cast<int64_t>(parts[i].size());
    result.ids = IdBuffer::allocate(dt, static_cast<size_t>(offsets[n]));
    auto* base = result.ids.as<std::byte>();
    parallel_for(threads, n, 1, [&](size_t a, size_t b, int) {
      for (size_t i = a; i != b; ++i)
        convert_ids(parts[i].data(), parts[i].size(), dt, base + static_cast<size_t>(offsets[i]) * w);
    });
  }
  result.offsets = IdBuffer::adopt(std::move(offsets));
  return result;
}

}  // namespace blt
