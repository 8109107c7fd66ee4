// blt_fuzz_seeds: writes the binary seed files of the fuzz targets (BPE blobs, entropy-model files)
// into tests/fuzz/corpus; run once after format changes, the outputs are committed.
// Usage: blt_fuzz_seeds CORPUS_DIR
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "blt_core/bpe/spec_from_parts.hpp"
#include "blt_core/bpe/vocab_io.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "fuzz_support.hpp"

using namespace blt;

namespace {

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::filesystem::create_directories(p.parent_path());
  FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + p.string());
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const std::string text = "the quick brown fox jumps over the lazy dog; it's 42 o'clock\n";

  // Blobs: a rank model with a special, and a merges model (GPT-2 style) with HF flags.
  auto ranks = fuzz::small_model(fuzz::as_bytes(text));
  write(dir / "fuzz_bpe_blob" / "ranks.blob", bpe::serialize_spec(ranks->spec()));
  bpe::BpeSpec merged = ranks->spec();
  merged.merges = ranks->merge_list();
  merged.has_merges = true;
  merged.whole_piece_lookup = false;
  merged.specials.push_back({"<pad>", merged.vocab.id_end() + 20, true, true, false});
  write(dir / "fuzz_bpe_blob" / "merges.blob", bpe::serialize_spec(bpe::BpeModel(merged).spec()));

  // Entropy-model files of orders 1..kMaxOrder (first byte of a seed is the target's mode byte:
  // 1 = the file as given).
  for (int order = 1; order <= patch::kMaxOrder; ++order) {
    patch::NgramCounter counter(order);
    const std::string second = "abcabcabd\nxy";
    std::vector<ByteSpan> docs{fuzz::as_bytes(text), fuzz::as_bytes(second)};
    counter.add(docs, 1);
    const std::string tmp = (dir / "model.tmp").string();
    counter.build(1).save(tmp);
    write(dir / "fuzz_entropy_model" / ("order" + std::to_string(order) + ".model"),
          std::string(1, '\x01') + fuzz::read_file(tmp));
    std::filesystem::remove(tmp);
  }
  return 0;
}
