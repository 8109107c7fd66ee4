// Fuzz target: models from parts (spec_from_parts + BpeModel, what the GPT-2 vocab.json/merges.txt
// and HF tokenizer.json readers hand to the core) with fuzzed tokens, ids, merges and specials,
// then encode -> decode round trips, count == encode, and chunked encoding at safe cuts == one-shot.
#include <array>
#include <stdexcept>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/spec_from_parts.hpp"
#include "blt_core/bpe/special_policy.hpp"
#include "fuzz_support.hpp"

using namespace blt;

namespace {

const char* const kPatterns[] = {
    nullptr,  // r50k, cl100k, o200k by index below
    nullptr, nullptr, R"([a-z]+|\d{1,3}| ?[^\sa-z\d]+|\s+)", R"(\w+|.)",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  bpe::BpeParts parts;
  parts.name = "fuzz";
  uint8_t pat = in.byte() % 5;
  parts.pattern = pat < 3 ? std::string(openai_pattern_text(static_cast<OpenAIPattern>(pat)))
                          : std::string(kPatterns[pat]);
  const bool use_merges = in.flag();
  parts.whole_piece_lookup = in.flag();
  const bool permute_bytes = in.flag();
  const bool break_something = in.byte() == 0x5a;  // now and then a bad spec, which must be refused

  // The 256 byte tokens (ids optionally rotated), then tokens built by merging two existing ones,
  // as a GPT-2 vocabulary is; merges list those pairs in order.
  std::vector<std::string> tokens;
  std::vector<uint32_t> ids;
  const uint32_t rot = permute_bytes ? in.byte() : 0;
  for (int b = 0; b < 256; ++b) {
    tokens.emplace_back(1, static_cast<char>(b));
    ids.push_back((b + rot) % 256);
  }
  std::vector<std::array<uint32_t, 2>> merges;
  size_t n_merges = in.byte();
  std::vector<size_t> by_id(256);
  for (size_t i = 0; i < 256; ++i) by_id[ids[i]] = i;
  for (size_t k = 0; k < n_merges && in.remaining() > 2; ++k) {
    uint32_t a = in.below(static_cast<uint32_t>(tokens.size()));
    uint32_t b = in.below(static_cast<uint32_t>(tokens.size()));
    uint32_t ida = a < 256 ? ids[a] : static_cast<uint32_t>(a), idb = b < 256 ? ids[b] : static_cast<uint32_t>(b);
    std::string t = tokens[a < 256 ? a : a] + tokens[b];
    if (t.size() > 64) continue;
    bool dup = false;
    for (auto& x : tokens) dup = dup || x == t;
    merges.push_back({ida, idb});
    if (dup) continue;  // a repeated pair: HF keeps the later rank; the token exists already
    tokens.push_back(std::move(t));
    ids.push_back(static_cast<uint32_t>(tokens.size() - 1));
  }
  if (break_something && !tokens.empty()) {
    switch (in.byte() % 4) {
      case 0: ids.back() = ids.front(); break;                          // an id twice
      case 1: tokens.back() = tokens.front(); break;                    // a token twice
      case 2: merges.push_back({ids[0], 0xFFFFFFF0u}); break;           // merge of an unknown id
      case 3: tokens.back().clear(); break;                             // an empty token
    }
  }
  // Specials: up to 3, text from the input, ids past the vocabulary; two may share an id (an
  // alias, as tiktoken allows).
  size_t n_specials = in.byte() % 4;
  for (size_t k = 0; k < n_specials; ++k) {
    auto t = in.take(1 + in.byte() % 12);
    if (t.empty()) break;
    bpe::SpecialToken s;
    s.text.assign(reinterpret_cast<const char*>(t.data()), t.size());
    s.id = static_cast<uint32_t>(tokens.size() + k + (in.byte() % 3));
    uint8_t f = in.byte();
    s.always = f & 1;
    s.lstrip = f & 2;
    s.rstrip = f & 4;
    parts.specials.push_back(std::move(s));
  }
  for (auto& t : tokens) parts.tokens.emplace_back(reinterpret_cast<const uint8_t*>(t.data()), t.size());
  parts.ids = ids;
  if (use_merges) parts.merges = std::span<const std::array<uint32_t, 2>>(merges);

  std::shared_ptr<const bpe::BpeModel> model;
  try {
    model = std::make_shared<const bpe::BpeModel>(bpe::spec_from_parts(std::move(parts)));
  } catch (const std::invalid_argument&) {
    return 0;
  }
  std::vector<std::string> allowed;
  if (in.flag())
    for (auto& s : model->specials().tokens()) allowed.push_back(s.text);
  bpe::BpeEncoder enc(model, bpe::make_special_policy(model->specials().tokens(), allowed, {}));
  ByteSpan text = in.rest();

  std::vector<uint32_t> ids_out;
  enc.encode_body(text, ids_out);
  for (uint32_t id : ids_out) BLT_FUZZ_CHECK(id < enc.n_vocab(), "ids are below n_vocab");
  BLT_FUZZ_CHECK(enc.count(text) == ids_out.size(), "count == len(encode)");
  std::vector<int64_t> wide(ids_out.begin(), ids_out.end());
  std::string back;
  enc.decode_bytes(wide, back);
  // Special texts that share an id are aliases (as tiktoken allows): decoding the id gives one of
  // them, so only a model without aliases must round-trip exactly.
  bool aliases = false;
  const auto& specials = model->specials().tokens();
  for (size_t a = 0; a < specials.size(); ++a)
    for (size_t b = a + 1; b < specials.size(); ++b) aliases = aliases || specials[a].id == specials[b].id;
  if (!model->specials().strips() && !aliases)
    BLT_FUZZ_CHECK(back == std::string(reinterpret_cast<const char*>(text.data()), text.size()),
                   "decode(encode(text)) == text");

  // Chunked at the tokenizer's safe cuts (targets from the text's length) == one-shot.
  std::vector<uint32_t> chunked;
  size_t pos = 0, step = 1 + text.size() % 7;
  while (pos < text.size()) {
    ByteSpan window = text.subspan(pos);
    size_t cut = window.size() > step ? enc.safe_split(window, step) : window.size();
    if (cut == 0) cut = window.size();  // no safe cut: the rest goes as one chunk
    BLT_FUZZ_CHECK(cut <= window.size(), "safe_split stays in the window");
    enc.encode_body(window.first(cut), chunked);
    pos += cut;
  }
  BLT_FUZZ_CHECK(chunked == ids_out, "chunked at safe cuts == one-shot");
  return 0;
}
