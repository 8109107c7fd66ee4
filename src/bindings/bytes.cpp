// Byte-level codecs: ByteCodec (BLT byte ids) and BpeDelimitedCodec (byte ids with a delimiter
// before each BPE token).
#include <optional>
#include <string>

#include "bindings/converters.hpp"
#include "blt_core/codec/bpe_delimited_codec.hpp"
#include "blt_core/codec/byte_codec.hpp"

namespace blt::bindings {
namespace {

ByteCodecOptions byte_options(bool bos, bool eos, std::optional<std::string> meta, bool strip_bom) {
  ByteCodecOptions o;
  o.bos = bos;
  o.eos = eos;
  o.strip_bom = strip_bom;
  if (meta) {
    auto t = parse_content_type(*meta);
    if (!t) throw py::value_error("unknown content type '" + *meta +
                                  "' (expected text, audio, image, video or bin)");
    o.meta = *t;
  }
  return o;
}

}  // namespace

void bind_bytes(py::module_& m) {
  py::class_<ByteCodec, Tokenizer> byte_codec(m, "ByteCodec");
  byte_codec
      .def(py::init([](bool bos, bool eos, std::optional<std::string> meta, bool strip_bom) {
             return ByteCodec(byte_options(bos, eos, std::move(meta), strip_bom));
           }),
           py::arg("bos") = true, py::arg("eos") = true, py::arg("meta") = py::none(),
           py::arg("strip_bom") = false)
      .def_static("meta_id",
                  [](const std::string& name) {
                    auto t = parse_content_type(name);
                    if (!t) throw py::value_error("unknown content type '" + name + "'");
                    return ByteCodec::meta_id(*t);
                  },
                  py::arg("name"))
      .def_static("decode",
                  [](py::handle ids) {
                    return py::bytes(decode_ids(ids, [](const auto* p, size_t n, std::string& out) {
                      ByteCodec::decode(p, n, out);
                    }));
                  },
                  py::arg("ids"));
  def_encode_methods(byte_codec, "uint16");

  // BLT bytes with a BPE delimiter (3) before each token of a native BPE encoder (copied: it
  // shares its immutable model, so the codec does not keep the Python object alive).
  py::class_<BpeDelimitedCodec, Tokenizer> delimited(m, "BpeDelimitedCodec");
  delimited.def(py::init([](const bpe::BpeEncoder& bpe, bool bos, bool eos,
                            std::optional<std::string> meta, bool strip_bom) {
                  return BpeDelimitedCodec(byte_options(bos, eos, std::move(meta), strip_bom), bpe);
                }),
                py::arg("bpe"), py::arg("bos") = true, py::arg("eos") = true,
                py::arg("meta") = py::none(), py::arg("strip_bom") = false);
  def_encode_methods(delimited, "uint16");
}

}  // namespace blt::bindings
