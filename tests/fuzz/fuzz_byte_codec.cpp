// Fuzz target: the BLT byte codec with fuzzed options and dtypes: decode(encode(x)) == x (minus a
// stripped BOM), body_size == ids, encode_body_into == encode_body, safe cuts keep UTF-8 whole.
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/text/utf8.hpp"
#include "fuzz_support.hpp"

using namespace blt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t f = in.byte();
  ByteCodecOptions opts;
  opts.bos = f & 1;
  opts.eos = f & 2;
  opts.strip_bom = f & 4;
  if (f & 8) opts.meta = static_cast<ContentType>((f >> 4) % kMetaIdCount);
  ByteCodec codec(opts);
  codec.keep_utf8_chars = f & 128;
  const DType dts[] = {DType::u16, DType::u32, DType::i32, DType::i64};
  const DType dt = dts[in.byte() % 4];
  const size_t step = 1 + in.byte();
  ByteSpan text = in.rest();

  IdBuffer ids = codec.encode(text, dt);
  std::vector<int64_t> wide(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    switch (dt) {
      case DType::u16: wide[i] = ids.as<uint16_t>()[i]; break;
      case DType::u32: wide[i] = ids.as<uint32_t>()[i]; break;
      case DType::i32: wide[i] = ids.as<int32_t>()[i]; break;
      case DType::i64: wide[i] = ids.as<int64_t>()[i]; break;
    }
    BLT_FUZZ_CHECK(wide[i] >= 0 && static_cast<uint64_t>(wide[i]) < codec.n_vocab(), "id range");
  }
  std::string back;
  codec.decode_bytes(wide, back);
  const size_t skip = codec.leading_skip(text);
  BLT_FUZZ_CHECK(skip == (opts.strip_bom ? ByteCodec::bom_length(text) : 0), "leading_skip is the BOM");
  BLT_FUZZ_CHECK(back == std::string(reinterpret_cast<const char*>(text.data()) + skip, text.size() - skip),
                 "decode(encode(text)) == text without a stripped BOM");

  std::vector<uint32_t> body;
  codec.encode_body(text, body);
  BLT_FUZZ_CHECK(codec.body_size(text) == body.size(), "body_size == len(encode_body)");
  std::vector<uint32_t> into(body.size());
  codec.encode_body_into(text, DType::u32, into.data());
  BLT_FUZZ_CHECK(into == body, "encode_body_into == encode_body");

  for (size_t pos = 0; pos < text.size();) {
    ByteSpan window = text.subspan(pos);
    if (window.size() <= step) break;
    size_t cut = codec.safe_split(window, step);
    BLT_FUZZ_CHECK(cut <= step, "safe_split <= target");
    if (cut == 0) break;
    if (codec.keep_utf8_chars)
      BLT_FUZZ_CHECK((window[cut] & 0xC0) != 0x80 || cut == step, "cuts avoid continuation bytes");
    pos += cut;
  }
  // Invalid ids are refused with the documented error, never read past.
  const int64_t bad[] = {-1, static_cast<int64_t>(codec.n_vocab()), INT64_MAX, INT64_MIN,
                         int64_t{1} << 32};
  for (int64_t b : bad) {
    std::string out;
    bool threw = false;
    try {
      codec.decode_bytes(std::span<const int64_t>(&b, 1), out);
    } catch (const InvalidIdError& e) {
      threw = e.id == b;
    }
    BLT_FUZZ_CHECK(threw, "an id outside the vocabulary raises InvalidIdError naming it");
  }
  return 0;
}
