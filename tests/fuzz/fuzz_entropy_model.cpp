// Fuzz target: entropy-model files (EntropyModel::load) and models trained on fuzzed documents.
// A file is refused with std::invalid_argument or loads and answers; a trained model survives
// save -> load unchanged and gives the same entropies chunked as one-shot.
#include <unistd.h>

#include <cstring>
#include <cstdio>
#include <stdexcept>

#include "blt_core/codec/blt_ids.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "fuzz_support.hpp"

using namespace blt;
using namespace blt::patch;

namespace {

std::string g_path;

// The loader's checksum (FNV-1a 64 over everything before it), so fuzzed bodies get past it.
uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  BLT_FUZZ_CHECK(f, "temporary model file opens");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

std::vector<uint16_t> blt_ids(ByteSpan doc) {
  std::vector<uint16_t> ids{static_cast<uint16_t>(kBosId)};
  for (uint8_t b : doc) ids.push_back(static_cast<uint16_t>(b + kByteOffset));
  ids.push_back(static_cast<uint16_t>(kEosId));
  return ids;
}

// Entropies of ids in one call and in pieces of `step`, carrying the cursor.
void check_chunked(const EntropyModel& m, const ContextReset& reset, const std::vector<uint16_t>& ids,
                   size_t step) {
  std::vector<float> one(ids.size()), parts(ids.size());
  EntropyCursor a, b;
  m.entropies(a, reset, ids.data(), ids.size(), one.data());
  for (size_t pos = 0; pos < ids.size(); pos += step)
    m.entropies(b, reset, ids.data() + pos, std::min(step, ids.size() - pos), parts.data() + pos);
  for (size_t i = 0; i < ids.size(); ++i)
    BLT_FUZZ_CHECK(std::memcmp(&one[i], &parts[i], sizeof(float)) == 0, "chunked entropies == one-shot");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  g_path = std::string(tmp && *tmp ? tmp : "/tmp") + "/blt_fuzz_entropy_" + std::to_string(getpid()) + ".bin";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t mode = in.byte();
  ContextReset reset;
  reset.byte['\n'] = mode & 16;
  ByteSpan payload = in.rest();
  std::vector<uint8_t> file(payload.begin(), payload.end());
  if ((mode & 3) == 0) {
    // A model trained on the payload (documents split at NUL): save, load, compare, chunk.
    std::vector<ByteSpan> docs;
    size_t start = 0;
    for (size_t i = 0; i <= payload.size(); ++i)
      if (i == payload.size() || payload[i] == 0) {
        docs.push_back(payload.subspan(start, i - start));
        start = i + 1;
      }
    NgramCounter counter(1 + (mode >> 2) % kMaxOrder);
    counter.add(docs, 1);
    EntropyModel m = counter.build(1);
    m.save(g_path);
    EntropyModel back = EntropyModel::load(g_path);
    std::vector<uint64_t> k1, k2;
    std::vector<float> e1, e2;
    m.context_table(k1, e1);
    back.context_table(k2, e2);
    BLT_FUZZ_CHECK(k1 == k2 && e1 == e2 && m.order() == back.order(), "save -> load keeps the model");
    for (ByteSpan d : docs) check_chunked(back, reset, blt_ids(d), 1 + (mode >> 5));
    return 0;
  }
  // A model file: as given (mode 1), or with the header's magic/version and a correct checksum
  // so the fuzzer reaches the table parsing (modes 2, 3).
  if ((mode & 3) != 1) {
    const uint8_t head[16] = {'B', 'L', 'T', 'N', 'G', 'R', 'A', 'M', 1, 0, 0, 0};
    for (size_t i = 0; i < 12 && i < file.size(); ++i) file[i] = head[i];
    uint64_t sum = fnv1a(file.data(), file.size());
    const uint8_t* s = reinterpret_cast<const uint8_t*>(&sum);
    file.insert(file.end(), s, s + 8);
  }
  write_file(g_path, file);
  EntropyModel m;
  try {
    m = EntropyModel::load(g_path);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  // A loaded model answers for any BLT ids (bytes, specials, meta tokens), chunked as one-shot.
  std::vector<uint16_t> ids;
  for (size_t i = 0; i < 64; ++i) ids.push_back(static_cast<uint16_t>((i * 37 + mode) % (kMaxBltId + 1)));
  std::vector<float> h(ids.size());
  EntropyCursor c;
  m.entropies(c, reset, ids.data(), ids.size(), h.data());
  (void)m.bits_per_byte(fuzz::as_bytes(std::string("hello\nworld")), reset);
  check_chunked(m, reset, ids, 5);
  return 0;
}
