// The only Python-facing translation unit: turns Python buffers into byte views, releases the GIL
// around native work, and registers the core's classes. All logic lives in src/blt_core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "blt_core/batch.hpp"
#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/bpe_tokenizer.hpp"
#include "blt_core/bpe/vocab_io.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/resources.hpp"
#include "blt_core/simd/byte_kernel.hpp"
#include "blt_core/text/openai_scanner.hpp"
#include "blt_core/text/pretokenizer.hpp"
#include "blt_core/text/regex_pretokenizer.hpp"
#include "blt_core/text/unicode_classes.hpp"

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
void bind_text(py::module_& m) {
  // A thin handle on a core Pretokenizer; kind picks the implementation so tests can compare them.
  struct PyPretokenizer {
    std::unique_ptr<Pretokenizer> impl;
    std::string kind;
  };
  py::class_<PyPretokenizer>(m, "Pretokenizer")
      .def(py::init([](const std::string& pattern, const std::string& kind) {
             PyPretokenizer p;
             if (kind == "auto") {
               p.impl = make_pretokenizer(pattern);
               p.kind = make_scanner_pretokenizer(pattern) ? "scanner" : "regex";
             } else if (kind == "regex") {
               p.impl = make_regex_pretokenizer(pattern);
               p.kind = kind;
             } else if (kind == "scanner") {
               p.impl = make_scanner_pretokenizer(pattern);
               if (!p.impl)
                 throw py::value_error("no scanner for pattern '" + pattern +
                                       "' (scanners exist only for the OpenAI r50k/p50k, "
                                       "cl100k and o200k patterns; use kind='regex')");
               p.kind = kind;
             } else {
               throw py::value_error("unknown pretokenizer kind '" + kind +
                                     "' (expected 'auto', 'scanner' or 'regex')");
             }
             return p;
           }),
           py::arg("pattern"), py::arg("kind") = "auto")
      .def_property_readonly("pattern", [](const PyPretokenizer& p) { return p.impl->pattern(); })
      .def_property_readonly("kind", [](const PyPretokenizer& p) { return p.kind; })
      .def("split",
           [](const PyPretokenizer& p, py::handle data) {
             InputView view(data);
             if (view.span().size() > UINT32_MAX)
               throw py::value_error("split: input larger than 4 GiB; split it into chunks first");
             auto ends = std::make_unique<std::vector<uint32_t>>();
             {
               py::gil_scoped_release nogil;
               p.impl->split(view.span(), *ends);
             }
             auto* raw = ends.get();
             py::capsule owner(ends.release(), [](void* v) {
               delete static_cast<std::vector<uint32_t>*>(v);
             });
             static uint32_t empty_slot = 0;
             return py::array_t<uint32_t>({static_cast<ssize_t>(raw->size())},
                                          raw->empty() ? &empty_slot : raw->data(), owner);
           },
           py::arg("data"))
      .def("safe_split",
           [](const PyPretokenizer& p, py::handle data, size_t target) {
             InputView view(data);
             py::gil_scoped_release nogil;
             return p.impl->safe_split(view.span(), target);
           },
           py::arg("data"), py::arg("target"));
  m.def("pcre2_unicode_version", &pcre2_unicode_version);
  m.def("scanner_unicode_version", [] { return std::string(unicode::kUnicodeVersion); });
}

// === BPE (rank tables, pretokenizers, encoders, loaders) =========================================
using bpe::BpeModel;
using bpe::BpeSpec;
using bpe::BpeTokenizer;

std::span<const uint8_t> bytes_span(const py::bytes& b) {
  char* p = nullptr;
  Py_ssize_t n = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &p, &n) != 0) throw py::error_already_set();
  return {reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(n)};
}

// specials: list of (bytes text, int id, bool always[, bool lstrip, bool rstrip])
std::vector<bpe::SpecialToken> special_list(py::list specials) {
  std::vector<bpe::SpecialToken> out;
  for (py::handle h : specials) {
    auto t = h.cast<py::tuple>();
    auto text = bytes_span(t[0].cast<py::bytes>());
    bpe::SpecialToken st{std::string(text.begin(), text.end()), t[1].cast<uint32_t>(), t[2].cast<bool>()};
    if (t.size() >= 5) {
      st.lstrip = t[3].cast<bool>();
      st.rstrip = t[4].cast<bool>();
    }
    out.push_back(std::move(st));
  }
  return out;
}

std::shared_ptr<const BpeModel> build_model(BpeSpec spec) {
  py::gil_scoped_release nogil;
  return std::make_shared<const BpeModel>(std::move(spec));
}

bpe::SpecialPolicy make_policy(const BpeModel& m, const std::vector<std::string>& allowed,
                               const std::vector<std::string>& disallowed) {
  const auto& toks = m.specials().tokens();
  bpe::SpecialPolicy policy(toks.size(), bpe::SpecialUse::text);
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < toks.size(); ++i) index.emplace(toks[i].text, i);
  // Names that are not specials of this vocabulary are ignored, and a special in both sets is
  // disallowed (tiktoken checks for disallowed specials before anything else).
  for (const auto& a : allowed)
    if (auto it = index.find(a); it != index.end()) policy[it->second] = bpe::SpecialUse::allowed;
  for (const auto& d : disallowed)
    if (auto it = index.find(d); it != index.end()) policy[it->second] = bpe::SpecialUse::disallowed;
  return policy;
}

template <class T>
void decode_bpe_array(const BpeModel& m, py::array ids, std::string& out) {
  auto a = py::array_t<T, py::array::c_style>::ensure(ids);
  if (!a) throw py::type_error("ids must be a 1-D integer array");
  const T* p = a.data();
  size_t n = static_cast<size_t>(a.size());
  py::gil_scoped_release nogil;
  m.decode(p, n, out);
}

std::string decode_bpe(const BpeModel& m, py::handle ids_obj) {
  py::array ids = py::array::ensure(ids_obj);
  if (!ids) throw py::type_error("ids must be a sequence of integers");
  if (ids.ndim() != 1) throw py::value_error("ids must be one-dimensional");
  std::string out;
  if (ids.size() == 0) return out;
  auto kind = ids.dtype().kind();
  if (kind != 'i' && kind != 'u') throw py::type_error("ids must be integers, got dtype " + std::string(py::str(ids.dtype())));
  if (ids.dtype().is(py::dtype::of<uint32_t>())) decode_bpe_array<uint32_t>(m, ids, out);
  else if (ids.dtype().is(py::dtype::of<uint16_t>())) decode_bpe_array<uint16_t>(m, ids, out);
  else if (ids.dtype().is(py::dtype::of<int32_t>())) decode_bpe_array<int32_t>(m, ids, out);
  else if (kind == 'u') decode_bpe_array<uint64_t>(m, ids, out);
  else decode_bpe_array<int64_t>(m, ids, out);
  return out;
}

void bind_bpe(py::module_& m) {
  py::class_<BpeModel, std::shared_ptr<BpeModel>>(m, "BpeModel",
      "Immutable byte-level BPE vocabulary (use blt.BPETokenizer).")
      .def_static("from_tiktoken",
           [](py::bytes data, const std::string& source, const std::string& name,
              const std::string& pattern, py::list specials) {
             BpeSpec spec;
             spec.name = name;
             spec.pattern = pattern;
             spec.specials = special_list(specials);
             auto d = bytes_span(data);
             {
               py::gil_scoped_release nogil;
               spec.vocab = bpe::parse_tiktoken(d, source);
             }
             return std::const_pointer_cast<BpeModel>(build_model(std::move(spec)));
           },
           py::arg("data"), py::arg("source"), py::arg("name"), py::arg("pattern"), py::arg("specials"))
      .def_static("from_parts",
           [](const std::string& name, const std::string& pattern, py::list tokens,
              py::array_t<uint32_t, py::array::c_style | py::array::forcecast> ids,
              std::optional<py::array_t<uint32_t, py::array::c_style | py::array::forcecast>> merges,
              bool whole_piece_lookup, py::list specials) {
             BpeSpec spec;
             spec.name = name;
             spec.pattern = pattern;
             spec.whole_piece_lookup = whole_piece_lookup;
             spec.specials = special_list(specials);
             if (static_cast<size_t>(ids.size()) != py::len(tokens))
               throw py::value_error("tokens and ids differ in length");
             spec.vocab.reserve(py::len(tokens));
             const uint32_t* idp = ids.data();
             size_t i = 0;
             for (py::handle h : tokens) {
               auto b = bytes_span(py::reinterpret_borrow<py::bytes>(h));
               if (b.empty()) throw py::value_error("token with id " + std::to_string(idp[i]) + " is empty");
               if (!spec.vocab.add(b, idp[i]))
                 throw py::value_error("token id " + std::to_string(idp[i]) + " or its bytes appear twice");
               ++i;
             }
             if (merges) {
               auto& mg = *merges;
               if (mg.ndim() != 2 || mg.shape(1) != 2) throw py::value_error("merges must have shape (n, 2)");
               spec.has_merges = true;
               spec.merges.resize(static_cast<size_t>(mg.shape(0)));
               std::memcpy(spec.merges.data(), mg.data(), spec.merges.size() * 8);
             }
             return std::const_pointer_cast<BpeModel>(build_model(std::move(spec)));
           })
      .def_static("from_blob",
           [](py::bytes blob) {
             auto b = bytes_span(blob);
             BpeSpec spec;
             {
               py::gil_scoped_release nogil;
               spec = bpe::deserialize_spec(b);
             }
             return std::const_pointer_cast<BpeModel>(build_model(std::move(spec)));
           })
      .def("to_blob", [](const BpeModel& self) { return py::bytes(bpe::serialize_spec(self.spec())); })
      .def_property_readonly("name", &BpeModel::name)
      .def_property_readonly("pattern", &BpeModel::pattern)
      .def_property_readonly("n_vocab", &BpeModel::n_vocab)
      .def_property_readonly("has_merges", &BpeModel::has_merges)
      .def_property_readonly("whole_piece_lookup", &BpeModel::whole_piece_lookup)
      .def_property_readonly("specials", [](const BpeModel& self) {
        py::list out;
        for (const auto& t : self.specials().tokens())
          out.append(py::make_tuple(py::bytes(t.text), t.id, t.always, t.lstrip, t.rstrip));
        return out;
      })
      .def("token_bytes", [](const BpeModel& self, int64_t id) {
        auto b = (id >= 0 && id < 0xFFFFFFFFll) ? self.token_bytes(static_cast<uint32_t>(id)) : std::span<const uint8_t>{};
        if (b.empty()) throw py::value_error("token id " + std::to_string(id) + " is not in the vocabulary");
        return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
      })
      .def("decode_bytes", [](const BpeModel& self, py::handle ids) { return py::bytes(decode_bpe(self, ids)); })
      .def("vocab", [](const BpeModel& self) {
        py::list toks;
        std::vector<uint32_t> ids;
        const auto& v = self.vocab();
        for (uint32_t id = 0; id < v.id_end(); ++id) {
          auto b = v.bytes(id);
          if (b.empty()) continue;
          toks.append(py::bytes(reinterpret_cast<const char*>(b.data()), b.size()));
          ids.push_back(id);
        }
        return py::make_tuple(toks, to_numpy(IdBuffer::adopt(std::move(ids))));
      })
      .def("merge_list", [](const BpeModel& self) {
        auto ml = self.merge_list();
        py::array_t<uint32_t> out({static_cast<ssize_t>(ml.size()), ssize_t{2}});
        if (!ml.empty()) std::memcpy(out.mutable_data(), ml.data(), ml.size() * 8);
        return out;
      })
      .def("format_tiktoken", [](const BpeModel& self) { return py::bytes(bpe::format_tiktoken(self.vocab())); })
      .def("rank_file_equivalent", [](const BpeModel& self) {
        std::string why;
        bool ok;
        {
          py::gil_scoped_release nogil;
          ok = self.rank_file_equivalent(&why);
        }
        return py::make_tuple(ok, why);
      })
      .def("tokens_self_merge", [](const BpeModel& self) {
        std::string why;
        bool ok;
        {
          py::gil_scoped_release nogil;
          ok = self.tokens_self_merge(&why);
        }
        return py::make_tuple(ok, why);
      })
      .def("tokenizer",
           [](std::shared_ptr<BpeModel> self, const std::vector<std::string>& allowed,
              const std::vector<std::string>& disallowed) {
             auto policy = make_policy(*self, allowed, disallowed);
             return std::make_unique<BpeTokenizer>(std::move(self), std::move(policy));
           },
           py::arg("allowed"), py::arg("disallowed"));

  // The pipeline area registers the Tokenizer base; register it here only if that has not
  // happened, so this section also works on its own.
  if (!py::detail::get_type_info(typeid(Tokenizer)))
    py::class_<Tokenizer>(m, "Tokenizer", "Native tokenizer interface (see blt_core/tokenizer.hpp).");
  py::class_<BpeTokenizer, Tokenizer>(m, "BpeEncoder",
      "A BpeModel with one special-token policy; implements the native Tokenizer interface.")
      .def_property_readonly("n_vocab", &BpeTokenizer::n_vocab)
      .def("encode",
           [](const BpeTokenizer& t, py::handle data, const std::string& dtype) {
             return encode_with(t, data, parse_dtype(dtype));
           },
           py::arg("data"), py::arg("dtype") = "uint32")
      .def("encode_batch",
           [](const BpeTokenizer& t, py::sequence items, const std::string& dtype, int threads) {
             return encode_batch_with(t, items, parse_dtype(dtype), threads);
           },
           py::arg("items"), py::arg("dtype") = "uint32", py::arg("threads") = 0)
      .def("encode_prefix",
           [](const BpeTokenizer& t, py::handle data, size_t max_tokens) {
             InputView view(data);
             std::vector<uint32_t> ids;
             size_t consumed;
             {
               py::gil_scoped_release nogil;
               consumed = t.encode_prefix(view.span(), max_tokens, ids);
             }
             return py::make_tuple(to_numpy(IdBuffer::adopt(std::move(ids))), consumed);
           })
      .def("encode_with_offsets",
           [](const BpeTokenizer& t, py::handle data, bool char_offsets) {
             InputView view(data);
             std::vector<uint32_t> ids;
             std::vector<int64_t> starts, chars;
             {
               py::gil_scoped_release nogil;
               t.encode_with_offsets(view.span(), ids, starts);
               if (char_offsets) {
                 chars = starts;
                 bpe::byte_to_char_offsets(view.span(), chars);
               }
             }
             py::object c = char_offsets ? py::object(to_numpy(IdBuffer::adopt(std::move(chars)))) : py::none();
             return py::make_tuple(to_numpy(IdBuffer::adopt(std::move(ids))),
                                   to_numpy(IdBuffer::adopt(std::move(starts))), c);
           })
      .def("count",
           [](const BpeTokenizer& t, py::handle data) {
             InputView view(data);
             py::gil_scoped_release nogil;
             return t.count(view.span());
           })
      .def("safe_split", [](const BpeTokenizer& t, py::handle window, size_t target) {
        InputView view(window);
        if (target > view.span().size()) throw py::value_error("target is past the end of the window");
        py::gil_scoped_release nogil;
        return t.safe_split(view.span(), target);
      });
}

// === patching (patchers, entropy model, hash n-grams) ============================================
void bind_patch(py::module_& m) { (void)m; }

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
