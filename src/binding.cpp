// The only Python-facing translation unit: turns Python buffers into byte views, releases the GIL
// around native work, and registers the core's classes. All logic lives in src/blt_core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blt_core/batch.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_sequence.hpp"
#include "blt_core/patch/patch_stream.hpp"
#include "blt_core/resources.hpp"
#include "blt_core/simd/byte_kernel.hpp"
#include "blt_core/simd/ngram_hash.hpp"

namespace py = pybind11;
using namespace blt;

namespace {

// ---------------------------------------------------------------------------------------------
// Inputs: a read-only byte view of str (its UTF-8), bytes, bytearray, memoryview, mmap, or a
// C-contiguous array of 1-byte items. No copy: the view pins the object's buffer until released.
class InputView {
 public:
  explicit InputView(py::handle obj) {
    if (PyUnicode_Check(obj.ptr())) {
      Py_ssize_t n = 0;
      const char* p = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
      if (!p) throw py::error_already_set();  // lone surrogates: the Python layer handles them
      span_ = ByteSpan(reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(n));
      return;
    }
    if (!PyObject_CheckBuffer(obj.ptr())) {
      throw py::type_error("expected str or a bytes-like object (bytes, bytearray, memoryview, "
                           "mmap, uint8 array), got " +
                           std::string(Py_TYPE(obj.ptr())->tp_name));
    }
    if (PyObject_GetBuffer(obj.ptr(), &buf_, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0)
      throw py::error_already_set();
    held_ = true;
    if (buf_.itemsize != 1) {
      std::string fmt = buf_.format ? buf_.format : "B";
      PyBuffer_Release(&buf_);
      held_ = false;
      throw py::type_error("expected a buffer of bytes (itemsize 1), got format '" + fmt +
                           "'; convert with .view(np.uint8) or .tobytes()");
    }
    span_ = ByteSpan(static_cast<const uint8_t*>(buf_.buf), static_cast<size_t>(buf_.len));
  }
  InputView(const InputView&) = delete;
  InputView& operator=(const InputView&) = delete;
  InputView(InputView&& o) noexcept : buf_(o.buf_), held_(o.held_), span_(o.span_) { o.held_ = false; }
  ~InputView() {
    if (held_) PyBuffer_Release(&buf_);
  }
  ByteSpan span() const { return span_; }

 private:
  Py_buffer buf_{};
  bool held_ = false;
  ByteSpan span_;
};

py::dtype numpy_dtype(DType dt) {
  switch (dt) {
    case DType::u16: return py::dtype::of<uint16_t>();
    case DType::u32: return py::dtype::of<uint32_t>();
    case DType::i32: return py::dtype::of<int32_t>();
    case DType::i64: return py::dtype::of<int64_t>();
  }
  throw std::logic_error("bad dtype");
}

// Hands an IdBuffer to NumPy without copying: the array's base is the IdBuffer object itself.
py::array to_numpy(IdBuffer&& buf) {
  auto owner = std::make_unique<IdBuffer>(std::move(buf));
  IdBuffer* raw = owner.get();
  py::object base = py::cast(std::move(owner));
  ssize_t n = static_cast<ssize_t>(raw->size());
  ssize_t item = static_cast<ssize_t>(dtype_size(raw->dtype()));
  static uint64_t empty_slot = 0;  // NumPy wants a non-null pointer even for length 0
  void* data = raw->data() ? raw->data() : &empty_slot;
  return py::array(numpy_dtype(raw->dtype()), {n}, {item}, data, base);
}

py::array encode_with(const Tokenizer& tok, py::handle data, DType dt) {
  InputView view(data);
  IdBuffer out;
  {
    py::gil_scoped_release nogil;
    out = tok.encode(view.span(), dt);
  }
  return to_numpy(std::move(out));
}

py::tuple encode_batch_with(const Tokenizer& tok, py::sequence items, DType dt, int threads) {
  std::vector<InputView> views;
  views.reserve(py::len(items));
  for (py::handle item : items) views.emplace_back(item);
  std::vector<ByteSpan> spans;
  spans.reserve(views.size());
  for (auto& v : views) spans.push_back(v.span());
  RaggedIds r;
  {
    py::gil_scoped_release nogil;
    r = encode_batch(tok, spans, dt, threads);
  }
  return py::make_tuple(to_numpy(std::move(r.ids)), to_numpy(std::move(r.offsets)));
}

template <class T>
void decode_array(py::array_t<T, py::array::c_style> ids, std::string& out) {
  auto n = static_cast<size_t>(ids.size());
  const T* p = ids.data();
  py::gil_scoped_release nogil;
  ByteCodec::decode(p, n, out);
}

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



// Each area of the API registers itself in its own function, so the sections stay independent.
void bind_bytes(py::module_& m) {
  py::class_<ByteCodec>(m, "ByteCodec")
      .def(py::init([](bool bos, bool eos, std::optional<std::string> meta, bool strip_bom) {
             return ByteCodec(byte_options(bos, eos, std::move(meta), strip_bom));
           }),
           py::arg("bos") = true, py::arg("eos") = true, py::arg("meta") = py::none(),
           py::arg("strip_bom") = false)
      .def_property_readonly_static("n_vocab", [](py::object) { return ByteCodec::kVocab; })
      .def("encode",
           [](const ByteCodec& c, py::handle data, const std::string& dtype) {
             return encode_with(c, data, parse_dtype(dtype));
           },
           py::arg("data"), py::arg("dtype") = "uint16")
      .def("encode_batch",
           [](const ByteCodec& c, py::sequence items, const std::string& dtype, int threads) {
             return encode_batch_with(c, items, parse_dtype(dtype), threads);
           },
           py::arg("items"), py::arg("dtype") = "uint16", py::arg("threads") = 0)
      .def_static("meta_id", [](const std::string& name) {
        auto t = parse_content_type(name);
        if (!t) throw py::value_error("unknown content type '" + name + "'");
        return ByteCodec::meta_id(*t);
      })
      .def_static("decode", [](py::array ids) {
        std::string out;
        if (ids.ndim() != 1) throw py::value_error("ids must be one-dimensional");
        auto kind = ids.dtype().kind();
        if (kind != 'i' && kind != 'u') throw py::type_error("ids must be integers");
        if (ids.dtype().is(py::dtype::of<uint16_t>()))
          decode_array<uint16_t>(ids, out);
        else if (ids.dtype().is(py::dtype::of<uint32_t>()))
          decode_array<uint32_t>(ids, out);
        else if (ids.dtype().is(py::dtype::of<int32_t>()))
          decode_array<int32_t>(ids, out);
        else if (ids.dtype().is(py::dtype::of<uint64_t>()))
          decode_array<uint64_t>(ids, out);
        else
          decode_array<int64_t>(ids, out);
        return py::bytes(out);
      });
}

// === pipeline (tokenize_file, streams, sinks) ====================================================
void bind_pipeline(py::module_& m) { (void)m; }

// === text (pretokenizers: OpenAI scanners, PCRE2) ================================================
void bind_text(py::module_& m) { (void)m; }

// === BPE (rank tables, pretokenizers, encoders, loaders) =========================================
void bind_bpe(py::module_& m) { (void)m; }

// === patching (patchers, entropy model, hash n-grams) ============================================
using IdArray = py::array_t<uint16_t, py::array::c_style>;
using EntropyArray = py::array_t<float, py::array::c_style>;
using OffsetArray = py::array_t<int64_t, py::array::c_style>;

patch::ContextReset context_reset(const std::vector<int>& bytes) {
  patch::ContextReset r;
  for (int b : bytes) {
    if (b < 0 || b > 255) throw py::value_error("reset byte out of range 0..255: " + std::to_string(b));
    r.byte[static_cast<size_t>(b)] = true;
  }
  return r;
}

std::span<const int64_t> offsets_span(const OffsetArray& offsets, size_t n_values) {
  std::span<const int64_t> s(offsets.data(), static_cast<size_t>(offsets.size()));
  if (!s.empty() && (s.back() < 0 || static_cast<size_t>(s.back()) != n_values))
    throw py::value_error("offsets[-1] must equal the number of ids (" + std::to_string(n_values) + ")");
  return s;
}

py::array_t<int32_t> int32_array(const std::vector<int32_t>& v) {
  py::array_t<int32_t> a(static_cast<ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

void bind_patch(py::module_& m) {
  using patch::PatchRule;
  py::class_<PatchRule>(m, "PatchRule")
      .def(py::init([](const std::string& kind, int patch_size, std::optional<double> threshold,
                       std::optional<double> threshold_add, bool monotonicity, double topk_patch_size,
                       int max_patch_length, bool include_next_token, bool force_boundaries) {
             PatchRule r;
             if (kind == "static") r.kind = PatchRule::Kind::static_size;
             else if (kind == "byte") r.kind = PatchRule::Kind::byte;
             else if (kind == "space") r.kind = PatchRule::Kind::space;
             else if (kind == "bpe") r.kind = PatchRule::Kind::bpe;
             else if (kind == "entropy") r.kind = PatchRule::Kind::entropy;
             else throw py::value_error("unknown patching rule '" + kind +
                                        "' (expected static, byte, space, bpe or entropy)");
             r.patch_size = patch_size;
             r.threshold = threshold;
             r.threshold_add = threshold_add;
             r.monotonicity = monotonicity;
             r.topk_patch_size = topk_patch_size;
             r.max_patch_length = max_patch_length;
             r.include_next_token = include_next_token;
             r.force_boundaries = force_boundaries;
             r.validate();
             return r;
           }),
           py::arg("kind"), py::arg("patch_size") = 4, py::arg("threshold") = py::none(),
           py::arg("threshold_add") = py::none(), py::arg("monotonicity") = false,
           py::arg("topk_patch_size") = 4.5, py::arg("max_patch_length") = 0,
           py::arg("include_next_token") = false, py::arg("force_boundaries") = true)
      .def_property_readonly("is_topk", &PatchRule::is_topk);

  m.def("patch_batch",
        [](const PatchRule& rule, std::optional<IdArray> ids, std::optional<EntropyArray> entropies,
           OffsetArray offsets, int threads) {
          size_t n = offsets.size() ? static_cast<size_t>(offsets.at(offsets.size() - 1)) : 0;
          if (ids && static_cast<size_t>(ids->size()) != n)
            throw py::value_error("ids and offsets disagree on the number of positions");
          if (entropies && static_cast<size_t>(entropies->size()) != n)
            throw py::value_error("entropies and offsets disagree on the number of positions");
          auto offs = offsets_span(offsets, n);
          const uint16_t* ip = ids ? ids->data() : nullptr;
          const float* ep = entropies ? entropies->data() : nullptr;
          RaggedIds r;
          {
            py::gil_scoped_release nogil;
            r = patch::patch_batch(rule, ip, ep, offs, threads);
          }
          return py::make_tuple(to_numpy(std::move(r.ids)), to_numpy(std::move(r.offsets)));
        },
        py::arg("rule"), py::arg("ids"), py::arg("entropies"), py::arg("offsets"),
        py::arg("threads") = 0);

  py::class_<patch::EntropyCursor>(m, "EntropyCursor").def(py::init<>());

  py::class_<patch::EntropyModel>(m, "EntropyModel")
      .def_static("load", [](const std::string& path) {
        py::gil_scoped_release nogil;
        return patch::EntropyModel::load(path);
      })
      .def("save", [](const patch::EntropyModel& mdl, const std::string& path) {
        py::gil_scoped_release nogil;
        mdl.save(path);
      })
      .def_property_readonly("order", &patch::EntropyModel::order)
      .def_property_readonly("n_contexts", &patch::EntropyModel::n_contexts)
      .def_property_readonly("n_ngrams", &patch::EntropyModel::n_ngrams)
      .def("context_table",
           [](const patch::EntropyModel& mdl) {
             std::vector<uint64_t> keys;
             std::vector<float> ent;
             mdl.context_table(keys, ent);
             py::array_t<uint64_t> k(static_cast<ssize_t>(keys.size()));
             py::array_t<float> e(static_cast<ssize_t>(ent.size()));
             std::copy(keys.begin(), keys.end(), k.mutable_data());
             std::copy(ent.begin(), ent.end(), e.mutable_data());
             return py::make_tuple(k, e);
           })
      .def("entropies",
           [](const patch::EntropyModel& mdl, IdArray ids, OffsetArray offsets,
              const std::vector<int>& reset, int threads) {
             const size_t n = static_cast<size_t>(ids.size());
             auto offs = offsets_span(offsets, n);
             auto rs = context_reset(reset);
             EntropyArray out(static_cast<ssize_t>(n));
             float* o = out.mutable_data();
             const uint16_t* ip = ids.data();
             {
               py::gil_scoped_release nogil;
               patch::entropies_batch(mdl, rs, ip, offs, o, threads);
             }
             return out;
           },
           py::arg("ids"), py::arg("offsets"), py::arg("reset"), py::arg("threads") = 0)
      .def("entropies_stream",
           [](const patch::EntropyModel& mdl, patch::EntropyCursor& cur, IdArray ids,
              const std::vector<int>& reset) {
             auto rs = context_reset(reset);
             EntropyArray out(ids.size());
             float* o = out.mutable_data();
             const uint16_t* ip = ids.data();
             size_t n = static_cast<size_t>(ids.size());
             py::gil_scoped_release nogil;
             mdl.entropies(cur, rs, ip, n, o);
             return out;
           })
      .def("bits_per_byte",
           [](const patch::EntropyModel& mdl, py::handle data, const std::vector<int>& reset) {
             InputView v(data);
             auto rs = context_reset(reset);
             py::gil_scoped_release nogil;
             return mdl.bits_per_byte(v.span(), rs);
           })
      .def("patch_batch",
           [](const patch::EntropyModel& mdl, const PatchRule& rule, IdArray ids,
              OffsetArray offsets, const std::vector<int>& reset, int threads) {
             auto offs = offsets_span(offsets, static_cast<size_t>(ids.size()));
             auto rs = context_reset(reset);
             const uint16_t* ip = ids.data();
             RaggedIds r;
             {
               py::gil_scoped_release nogil;
               r = patch::patch_batch_with_model(rule, mdl, rs, ip, offs, threads);
             }
             return py::make_tuple(to_numpy(std::move(r.ids)), to_numpy(std::move(r.offsets)));
           },
           py::arg("rule"), py::arg("ids"), py::arg("offsets"), py::arg("reset"),
           py::arg("threads") = 0);

  py::class_<patch::NgramCounter>(m, "NgramCounter")
      .def(py::init<int>(), py::arg("order"))
      .def_property_readonly("bytes_seen", &patch::NgramCounter::bytes_seen)
      .def("add",
           [](patch::NgramCounter& c, py::sequence docs, int threads) {
             std::vector<InputView> views;
             views.reserve(py::len(docs));
             for (py::handle d : docs) views.emplace_back(d);
             std::vector<ByteSpan> spans;
             for (auto& v : views) spans.push_back(v.span());
             py::gil_scoped_release nogil;
             c.add(spans, threads);
           },
           py::arg("documents"), py::arg("threads") = 0)
      .def("build",
           [](const patch::NgramCounter& c, int threads) {
             py::gil_scoped_release nogil;
             return c.build(threads);
           },
           py::arg("threads") = 0);

  py::class_<patch::PatchStream>(m, "PatchStream")
      .def(py::init<const PatchRule&>())
      .def_property_readonly("position", &patch::PatchStream::position)
      .def("feed",
           [](patch::PatchStream& s, std::optional<IdArray> ids, std::optional<EntropyArray> entropies) {
             if (!ids && !entropies) throw py::value_error("feed needs ids or entropies");
             size_t n = ids ? static_cast<size_t>(ids->size()) : static_cast<size_t>(entropies->size());
             if (ids && entropies && static_cast<size_t>(entropies->size()) != n)
               throw py::value_error("ids and entropies differ in length");
             std::vector<int32_t> out;
             {
               py::gil_scoped_release nogil;
               s.feed(ids ? ids->data() : nullptr, entropies ? entropies->data() : nullptr, n, out);
             }
             return int32_array(out);
           },
           py::arg("ids"), py::arg("entropies") = py::none())
      .def("finish", [](patch::PatchStream& s) {
        std::vector<int32_t> out;
        s.finish(out);
        return int32_array(out);
      });

  m.def("hash_ngrams",
        [](IdArray ids, const std::vector<int>& sizes, const std::vector<int>& funcs,
           int64_t max_hash, int threads, std::optional<py::array> out_arg) {
          const size_t n = static_cast<size_t>(ids.size());
          const ssize_t cols = static_cast<ssize_t>(sizes.size() * funcs.size());
          py::array out;
          if (out_arg) {  // caller's buffer, written in place (no new pages to fault in)
            out = *out_arg;
            if (!out.dtype().is(py::dtype::of<int64_t>()) || out.ndim() != 2 ||
                out.shape(0) != static_cast<ssize_t>(n) || out.shape(1) != cols ||
                !(out.flags() & py::array::c_style) || !out.writeable())
              throw py::value_error("out must be a writable C-contiguous int64 array of shape (" +
                                    std::to_string(n) + ", " + std::to_string(cols) + ")");
          } else {
            out = py::array_t<int64_t>({static_cast<ssize_t>(n), cols});
          }
          int64_t* o = static_cast<int64_t*>(out.mutable_data());
          const uint16_t* ip = ids.data();
          {
            py::gil_scoped_release nogil;
            simd::hash_ngrams(ip, n, sizes, funcs, max_hash, o, threads);
          }
          return out;
        },
        py::arg("ids"), py::arg("sizes"), py::arg("funcs"), py::arg("max_hash"),
        py::arg("threads") = 1, py::arg("out") = py::none());
  m.attr("NGRAM_HASH_PRIMES") = py::cast(std::vector<uint64_t>(
      std::begin(simd::kNgramHashPrimes), std::end(simd::kNgramHashPrimes)));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "bltok native core (see the blt package for the documented API)";

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
        return py::buffer_info(b.data(), 1,
                               py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<ssize_t>(b.nbytes())}, {1});
      })
      .def_property_readonly("nbytes", &IdBuffer::nbytes)
      .def_property_readonly("address", [](IdBuffer& b) { return reinterpret_cast<uintptr_t>(b.data()); });

  m.def("usable_cores", &usable_cores);
  m.def("available_ram_bytes", &available_ram_bytes);
  m.def("simd_arch", &simd::byte_kernel_arch);

  bind_bytes(m);
  bind_pipeline(m);
  bind_text(m);
  bind_bpe(m);
  bind_patch(m);
}
