// The extension module blt._core: shared classes (IdBuffer, the Tokenizer base), the BLT id
// constants, OpenAI split patterns and version, then each area's bind_x in dependency order.
#include <pybind11/pybind11.h>

#include "bindings/converters.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/resources.hpp"
#include "blt_core/simd/dispatch.hpp"
#include "blt_core/text/openai_patterns.hpp"

#ifndef BLT_VERSION
#error "BLT_VERSION must be defined by the build (from pyproject.toml [project] version)"
#endif

namespace blt::bindings {

void bind_common(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidIdError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::class_<IdBuffer>(m, "IdBuffer", py::buffer_protocol(),
                       "Native owner of an id array; NumPy results keep it as their base.")
      .def_buffer([](IdBuffer& b) {
        return py::buffer_info(b.data(), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<ssize_t>(b.nbytes())}, {1});
      })
      .def_property_readonly("nbytes", &IdBuffer::nbytes)
      .def_property_readonly("address", [](IdBuffer& b) { return reinterpret_cast<uintptr_t>(b.data()); });

  // Base of every native tokenizer: the pipeline, batch engine and server accept any of them, and
  // what every tokenizer shares is bound here once.
  py::class_<Tokenizer>(m, "Tokenizer", "Native tokenizer interface (see blt_core/tokenizer.hpp).")
      .def_property_readonly("n_vocab", &Tokenizer::n_vocab)
      .def("safe_split",
           [](const Tokenizer& t, py::handle window, size_t target) {
             InputView view(window);
             if (target > view.span().size())
               throw py::value_error("target is past the end of the window");
             py::gil_scoped_release nogil;
             return t.safe_split(view.span(), target);
           },
           py::arg("window"), py::arg("target"))
      .def(
          "encode_into",
          [](const Tokenizer& t, py::handle data, py::array out) {
            if (out.ndim() != 1 || !(out.flags() & py::array::c_style))
              throw py::value_error("out must be a 1-D C-contiguous array (got " + std::to_string(out.ndim()) +
                                    " dimensions" + (out.ndim() == 1 ? ", strided" : "") + ")");
            if (!out.writeable()) throw py::value_error("out must be writable");
            const DType dt = parse_dtype(py::str(out.dtype().attr("name")).cast<std::string>());
            InputView view(data);
            void* dst = out.mutable_data();
            const auto capacity = static_cast<size_t>(out.shape(0));
            py::gil_scoped_release nogil;
            return t.encode_into(view.span(), dt, dst, capacity);
          },
          py::arg("data"), py::arg("out"),
          "Encodes data into out (writable, 1-D, C-contiguous uint16/uint32/int32/int64) without the GIL; "
          "returns how many ids were written. ValueError when they do not fit.")
      .def(
          "encode_function",
          [](py::handle self, const std::string& dtype) {
            return encode_function(self, self.cast<const Tokenizer&>(), parse_dtype(dtype));
          },
          py::arg("dtype"), "A one-argument builtin equal to encode(data, dtype), without pybind11's dispatch.");

  m.def("usable_cores", &usable_cores);
  m.def("available_ram_bytes", &available_ram_bytes);
  m.def("simd_arch", &simd::kernel_arch);

  // BLT ids, as ByteCodec defines them (Python reads them from here).
  m.attr("BOE_ID") = kBoeId;
  m.attr("BOS_ID") = kBosId;
  m.attr("EOS_ID") = kEosId;
  m.attr("BPE_DELIM_ID") = kBpeDelimId;
  m.attr("BYTE_OFFSET") = kByteOffset;
  m.attr("MAX_ID") = kMaxBltId;
  py::dict meta;
  for (uint32_t i = 0; i < kMetaIdCount; ++i) {
    const auto t = static_cast<ContentType>(i);
    meta[py::str(std::string(content_type_name(t)))] = meta_id(t);
  }
  m.attr("META_IDS") = meta;

  py::dict patterns;
  patterns["r50k_base"] = std::string(openai_pattern_text(OpenAIPattern::r50k));
  patterns["p50k_base"] = std::string(openai_pattern_text(OpenAIPattern::r50k));
  patterns["cl100k_base"] = std::string(openai_pattern_text(OpenAIPattern::cl100k));
  patterns["o200k_base"] = std::string(openai_pattern_text(OpenAIPattern::o200k));
  m.attr("OPENAI_PATTERNS") = patterns;

  m.attr("__version__") = BLT_VERSION;
}

}  // namespace blt::bindings

PYBIND11_MODULE(_core, m) {
  namespace b = blt::bindings;
  m.doc() = "bltok native core (see the blt package for the documented API)";
  b::bind_common(m);
  b::bind_parallel(m);
  b::bind_bytes(m);
  b::bind_pipeline(m);
  b::bind_text(m);
  b::bind_bpe(m);
  b::bind_patch(m);
  b::bind_serve(m);
  b::bind_train(m);
  b::bind_megatron(m);
}
