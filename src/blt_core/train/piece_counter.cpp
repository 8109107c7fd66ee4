#include "blt_core/train/piece_counter.hpp"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "blt_core/parallel/parallel_for.hpp"
#include "blt_core/pipeline/chunk_reader.hpp"
#include "blt_core/train/memcap_prune.hpp"

namespace blt::train {

namespace {

// Drives ChunkReader: only its cut rule is used (counting needs no ids). Cuts go where the
// pretokenizer proves them safe, or after a newline when lines are pre-tokenized separately.
class CutRule final : public Tokenizer {
 public:
  CutRule(const Pretokenizer& p, bool lines) : pretok_(p), lines_(lines) {}
  uint64_t n_vocab() const override { return 0; }
  size_t safe_split(ByteSpan window, size_t target) const override {
    if (!lines_) return pretok_.safe_split(window, target);
    size_t p = std::min(target, window.size());
    for (; p > 0; --p)
      if (window[p - 1] == '\n') return p;
    return 0;
  }
  void encode_body(ByteSpan, std::vector<uint32_t>&) const override {
    throw std::logic_error("CutRule does not encode");
  }

 private:
  const Pretokenizer& pretok_;
  bool lines_;
};

}  // namespace

struct PieceCounter::Locals {
  struct Local {
    PieceTable table;
    std::vector<uint32_t> ends;
  };
  // One per parallel_for slot (slots are unique among pieces running at once).
  std::vector<Local> per_slot;
};

PieceCounter::PieceCounter(std::string_view pattern, CountOptions opts)
    : pretok_(make_pretokenizer(pattern)), opts_(opts), locals_(std::make_unique<Locals>()) {
  if (opts_.memcap) check_memcap(*opts_.memcap);
  locals_->per_slot.resize(static_cast<size_t>(resolve_threads(opts_.threads)));
}

PieceCounter::~PieceCounter() = default;

void PieceCounter::count_span(TextSpan text, PieceTable& into, std::vector<uint32_t>& ends) const {
  auto count_part = [&](TextSpan part) {
    ends.clear();
    pretok_->split(part, ends);
    uint32_t start = 0;
    for (uint32_t e : ends) {
      into.add(part.subspan(start, e - start));
      start = e;
    }
  };
  if (!opts_.split_lines) {
    count_part(text);
    return;
  }
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      count_part(text.subspan(start, i + 1 - start));
      start = i + 1;
    }
  }
  if (start < text.size()) count_part(text.subspan(start));
}

// Sums the per-thread tables into the main one, then applies the memcap rule.
void PieceCounter::fold_locals() {
  for (auto& l : locals_->per_slot) {
    if (table_.empty()) {
      std::swap(table_, l.table);
    } else {
      table_.merge_from(l.table);
    }
    l.table.clear();
  }
  if (opts_.memcap) {
    uint64_t t = prune_to_memcap(table_, *opts_.memcap);
    if (t > prune_threshold_) prune_threshold_ = t;
  }
}

void PieceCounter::count_documents(const std::vector<TextSpan>& docs) {
  parallel_for(opts_.threads, docs.size(), 1, [&](size_t begin, size_t end, int slot) {
    auto& l = locals_->per_slot[static_cast<size_t>(slot)];
    for (size_t i = begin; i < end; ++i) count_span(docs[i], l.table, l.ends);
  });
  for (const TextSpan& d : docs) bytes_ += d.size();
  fold_locals();
}

void PieceCounter::count_source(ByteSource& src, const std::function<void(uint64_t)>& progress,
                                const std::atomic<bool>& stop) {
  // Reading and counting run on a helper thread; this thread only waits and reports, so a
  // progress callback that throws (Ctrl-C) is seen within kProgressEvery even while a pipe is
  // silent and the reader is blocked.
  std::atomic<bool> cancel{false};
  std::atomic<uint64_t> consumed{0};
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      CutRule rule(*pretok_, opts_.split_lines);
      ChunkPlan plan;
      plan.chunk = kChunkBytes;
      plan.lookahead = 4096;
      ChunkReader reader(rule, src, plan, cancel);
      std::vector<Chunk> batch(kBatchChunks);
      {
        while (!cancel.load(std::memory_order_relaxed)) {
          size_t n = 0;
          while (n < batch.size() && reader.next(batch[n])) ++n;
          if (n == 0) break;
          parallel_for(opts_.threads, n, 1, [&](size_t begin, size_t end, int slot) {
            auto& l = locals_->per_slot[static_cast<size_t>(slot)];
            for (size_t i = begin; i < end; ++i) count_span(batch[i].body, l.table, l.ends);
          });
          for (size_t i = 0; i < n; ++i) bytes_ += batch[i].body.size();
          // Without a cap the per-thread tables are summed once at the end.
          if (opts_.memcap) fold_locals();
          src.release_before(reader.consumed());
          consumed.store(reader.consumed(), std::memory_order_relaxed);
          if (n < batch.size()) break;
        }
      }
    } catch (...) {
      failure = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(m);
    done = true;
    cv.notify_one();
  });
  try {
    std::unique_lock<std::mutex> lock(m);
    while (!cv.wait_for(lock, kProgressEvery, [&] { return done; })) {
      lock.unlock();
      if (stop.load(std::memory_order_relaxed)) cancel.store(true);
      if (progress) progress(consumed.load(std::memory_order_relaxed));
      lock.lock();
    }
  } catch (...) {
    cancel.store(true);
    worker.join();
    throw;
  }
  worker.join();
  if (failure) std::rethrow_exception(failure);
  if (progress) progress(consumed.load(std::memory_order_relaxed));
  fold_locals();
}

void PieceCounter::add_piece(Bytes piece, uint64_t count) { table_.add(piece, count); }

}  // namespace blt::train
