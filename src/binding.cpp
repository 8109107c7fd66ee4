// The only Python-facing translation unit: turns Python buffers into byte views, releases the GIL
// around native work, and registers the core's classes. All logic lives in src/blt_core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "blt_core/batch.hpp"
#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/vocab_io.hpp"
#include "blt_core/codec/bpe_delimited_codec.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/io/id_format.hpp"
#include "blt_core/pipeline/file_pipeline.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_sequence.hpp"
#include "blt_core/patch/patch_stream.hpp"
#include "blt_core/resources.hpp"
#include "blt_core/serve/batch_engine.hpp"
#include "blt_core/simd/dispatch.hpp"
#include "blt_core/patch/ngram_hash.hpp"
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

// A 1-d NumPy array of n items of `dt`, made straight through pybind11's table of NumPy
// functions: py::array's constructor builds shape and stride vectors and a fresh dtype object on
// every call, which for a 10-token encode cost as much as the encoding. With data == nullptr NumPy
// allocates (and owns) the memory; otherwise the array views `data` and `base` (a new reference,
// stolen) keeps it alive.
py::array new_array(DType dt, size_t n, void* data, PyObject* base) {
  static PyObject* descrs[4] = {};  // one descriptor per DType, kept for the module's lifetime
  auto& api = py::detail::npy_api::get();
  PyObject*& descr = descrs[static_cast<int>(dt)];
  if (!descr) descr = numpy_dtype(dt).release().ptr();
  Py_INCREF(descr);  // PyArray_NewFromDescr steals it
  Py_intptr_t dims[1] = {static_cast<Py_intptr_t>(n)};
  Py_intptr_t strides[1] = {static_cast<Py_intptr_t>(dtype_size(dt))};
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, 1, dims, strides, data,
                                          data ? py::detail::npy_api::NPY_ARRAY_WRITEABLE_ : 0, nullptr);
  if (!a) {
    Py_XDECREF(base);
    throw py::error_already_set();
  }
  if (base && api.PyArray_SetBaseObject_(a, base) != 0) {  // steals base, also on failure
    Py_DECREF(a);
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::array>(a);
}

// Hands an IdBuffer to NumPy without copying: the array's base is the IdBuffer object itself.
py::array to_numpy(IdBuffer&& buf) {
  auto owner = std::make_unique<IdBuffer>(std::move(buf));
  IdBuffer* raw = owner.get();
  py::object base = py::cast(std::move(owner));
  static uint64_t empty_slot = 0;  // NumPy wants a non-null pointer even for length 0
  void* data = raw->data() ? raw->data() : &empty_slot;
  return new_array(raw->dtype(), raw->size(), data, base.release().ptr());
}

// Encodes an input already viewed, without the GIL, and hands the ids to NumPy without a copy.
py::array encode_view(const Tokenizer& tok, const InputView& view, DType dt) {
  IdBuffer out;
  {
    py::gil_scoped_release nogil;
    out = tok.encode(view.span(), dt);
  }
  return to_numpy(std::move(out));
}

py::array encode_with(const Tokenizer& tok, py::handle data, DType dt) {
  InputView view(data);
  return encode_view(tok, view, dt);
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
  py::class_<ByteCodec, Tokenizer>(m, "ByteCodec")
      .def(py::init([](bool bos, bool eos, std::optional<std::string> meta, bool strip_bom) {
             return ByteCodec(byte_options(bos, eos, std::move(meta), strip_bom));
           }),
           py::arg("bos") = true, py::arg("eos") = true, py::arg("meta") = py::none(),
           py::arg("strip_bom") = false)
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

  // BLT bytes with a BPE delimiter (3) before each token of a native BPE encoder (copied: it
  // shares its immutable model, so the codec does not keep the Python object alive).
  py::class_<BpeDelimitedCodec, Tokenizer>(m, "BpeDelimitedCodec")
      .def(py::init([](const bpe::BpeEncoder& bpe, bool bos, bool eos,
                       std::optional<std::string> meta, bool strip_bom) {
             return BpeDelimitedCodec(byte_options(bos, eos, std::move(meta), strip_bom), bpe);
           }),
           py::arg("bpe"), py::arg("bos") = true, py::arg("eos") = true,
           py::arg("meta") = py::none(), py::arg("strip_bom") = false)
      .def("encode",
           [](const BpeDelimitedCodec& c, py::handle data, const std::string& dtype) {
             return encode_with(c, data, parse_dtype(dtype));
           },
           py::arg("data"), py::arg("dtype") = "uint16")
      .def("encode_batch",
           [](const BpeDelimitedCodec& c, py::sequence items, const std::string& dtype, int threads) {
             return encode_batch_with(c, items, parse_dtype(dtype), threads);
           },
           py::arg("items"), py::arg("dtype") = "uint16", py::arg("threads") = 0)
      .def("safe_split", [](const BpeDelimitedCodec& c, py::handle window, size_t target) {
        InputView view(window);
        if (target > view.span().size()) throw py::value_error("target is past the end of the window");
        py::gil_scoped_release nogil;
        return c.safe_split(view.span(), target);
      });
}

// === pipeline (tokenize_file, streams, sinks) ====================================================
// The native Tokenizer behind a Python object: a ByteCodec (copied, so text chunks can keep UTF-8
// characters whole), or any class registered with blt::Tokenizer as its pybind11 base.
const Tokenizer& native_tokenizer(py::handle obj, bool utf8_chunks, std::optional<ByteCodec>& copy) {
  if (py::isinstance<ByteCodec>(obj)) {
    copy.emplace(obj.cast<const ByteCodec&>());
    copy->keep_utf8_chars = utf8_chunks;
    return *copy;
  }
  try {
    return *obj.cast<const Tokenizer*>();
  } catch (const py::cast_error&) {
    throw py::type_error("tokenizer must be a native blt tokenizer, got " +
                         std::string(Py_TYPE(obj.ptr())->tp_name));
  }
}

// Ids collected in memory become a NumPy array owning the vector (no copy).
py::array bytes_to_array(std::vector<uint8_t>&& bytes, DType dt) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  py::capsule base(owned, [](void* p) { delete static_cast<std::vector<uint8_t>*>(p); });
  ssize_t item = static_cast<ssize_t>(dtype_size(dt));
  static uint64_t empty_slot = 0;
  void* data = owned->empty() ? static_cast<void*>(&empty_slot) : owned->data();
  return py::array(numpy_dtype(dt), {static_cast<ssize_t>(owned->size()) / item}, {item}, data, base);
}

void bind_pipeline(py::module_& m) {
  // OSError(errno, message): Python picks the subclass (FileNotFoundError, IsADirectoryError...).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::system_error& e) {
      py::object err = py::reinterpret_borrow<py::object>(PyExc_OSError)(e.code().value(), e.what());
      PyErr_SetObject(PyExc_OSError, err.ptr());
    }
  });

  m.def(
      "tokenize_stream",
      [](py::object tokenizer, py::object input, int input_fd, const std::string& input_name,
         int output_fd, const std::string& output_name, const std::string& dtype,
         const std::string& format, int threads, uint64_t memcap, size_t min_chunk,
         size_t max_chunk, py::object progress, bool utf8_chunks, double progress_interval) {
        std::optional<ByteCodec> codec_copy;
        const Tokenizer& tok = native_tokenizer(tokenizer, utf8_chunks, codec_copy);
        PipelineOptions o;
        o.dtype = parse_dtype(dtype);
        o.format = parse_output_format(format);
        o.threads = threads;
        o.memcap = memcap;
        o.min_chunk = min_chunk;
        o.max_chunk = max_chunk;
        o.progress_interval = std::chrono::milliseconds(
            std::max<int64_t>(1, static_cast<int64_t>(progress_interval * 1000)));
        // Runs on the calling (main) thread between waits: the place where Ctrl-C is noticed.
        o.progress = [&progress](uint64_t done, uint64_t total) {
          py::gil_scoped_acquire gil;
          if (PyErr_CheckSignals() != 0) throw py::error_already_set();
          if (!progress.is_none()) progress(done, total);
        };

        std::optional<InputView> view;
        std::unique_ptr<ByteSource> src;
        if (!input.is_none()) {
          view.emplace(input);
          src = std::make_unique<MemorySource>(view->span(), input_name);
        } else {
          src = std::make_unique<FdSource>(input_fd, input_name);
        }
        std::unique_ptr<ByteSink> sink;
        VectorSink* memory = nullptr;
        if (output_fd >= 0) {
          sink = std::make_unique<FdSink>(output_fd, output_name);
        } else {
          auto v = std::make_unique<VectorSink>();
          memory = v.get();
          sink = std::move(v);
        }
        PipelineStats st;
        {
          py::gil_scoped_release nogil;
          st = tokenize_stream(tok, *src, *sink, o);
        }
        py::dict out;
        out["bytes_in"] = st.bytes_in;
        out["ids_out"] = st.ids_out;
        out["chunks"] = st.chunks;
        out["seconds"] = st.seconds;
        out["threads"] = st.threads;
        out["chunk_size"] = st.plan.chunk;
        out["in_flight"] = st.plan.in_flight;
        out["buffer_bytes"] = st.plan.buffer_bytes * st.plan.buffers;
        if (memory) out["ids"] = bytes_to_array(std::move(memory->bytes), o.dtype);
        return out;
      },
      py::arg("tokenizer"), py::arg("input") = py::none(), py::arg("input_fd") = -1,
      py::arg("input_name") = "<input>", py::arg("output_fd") = -1,
      py::arg("output_name") = "<output>", py::arg("dtype") = "uint16",
      py::arg("format") = "bin", py::arg("threads") = 0, py::arg("memcap") = 256u << 20,
      py::arg("min_chunk") = 64u << 10, py::arg("max_chunk") = 1u << 20,
      py::arg("progress") = py::none(), py::arg("utf8_chunks") = false,
      py::arg("progress_interval") = 0.05,
      "Tokenize a buffer or a readable descriptor into a writable descriptor (or into memory "
      "when output_fd < 0, returned as 'ids'). Returns a dict of statistics.");
}

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
using bpe::BpeEncoder;

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

// BpeEncoder::encode with uint32 ids, tuned for the many short calls of chat and data loaders.
// Short inputs keep the GIL (releasing and retaking it cost more than encoding ten tokens), encode
// into one static vector that the GIL guards and that keeps its memory, and copy the few ids into
// a new NumPy array (cheaper than wrapping them in an IdBuffer object). Longer inputs take the
// common path (encode_view). Tokenizer::encode adds nothing for BPE (no prefix, suffix or skipped
// bytes), so encode_body gives the same ids.
// 256 bytes encode in ~3 us: long enough to keep the GIL, short enough that threads encoding
// documents (hundreds of bytes and more) still run in parallel.
constexpr size_t kGilMaxBytes = 256;  // at most 256 ids: a 1 KB copy at worst

py::array encode_bpe_u32(const BpeEncoder& t, py::handle data) {
  InputView view(data);
  if (view.span().size() > kGilMaxBytes) return encode_view(t, view, DType::u32);
  static std::vector<uint32_t> ids;  // guarded by the GIL, held from here to the copy
  ids.clear();
  t.encode_body(view.span(), ids);
  py::array out = new_array(DType::u32, ids.size(), nullptr, nullptr);
  if (!ids.empty())
    std::memcpy(reinterpret_cast<py::detail::PyArray_Proxy*>(out.ptr())->data, ids.data(), ids.size() * 4);
  return out;
}

// enc.encode(data) with the default uint32 dtype as a plain METH_O builtin bound to one encoder:
// pybind11's argument dispatch (self cast, dtype string and its default) cost ~1,100 of the ~5,500
// instructions of a 7-token call (callgrind). The builtin's self is a capsule holding the BpeEncoder and,
// as its context, a reference to the Python encoder object that owns it.
PyObject* encode_u32_builtin(PyObject* capsule, PyObject* data) {
  auto* t = static_cast<const BpeEncoder*>(PyCapsule_GetPointer(capsule, nullptr));
  if (!t) return nullptr;
  try {
    return encode_bpe_u32(*t, data).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();  // the translators registered for pybind11 calls
  }
  return nullptr;
}

PyMethodDef kEncodeU32Def = {"encode", encode_u32_builtin, METH_O,
                             "encode(data) -> uint32 ids (BpeEncoder.encode with the default dtype)"};

py::object encode_u32_function(py::handle encoder, const BpeEncoder& t) {
  PyObject* cap = PyCapsule_New(const_cast<BpeEncoder*>(&t), nullptr, [](PyObject* c) {
    Py_XDECREF(static_cast<PyObject*>(PyCapsule_GetContext(c)));
  });
  if (!cap) throw py::error_already_set();
  Py_INCREF(encoder.ptr());
  if (PyCapsule_SetContext(cap, encoder.ptr()) != 0) {
    Py_DECREF(encoder.ptr());
    Py_DECREF(cap);
    throw py::error_already_set();
  }
  PyObject* fn = PyCFunction_New(&kEncodeU32Def, cap);
  Py_DECREF(cap);  // the function holds it now
  if (!fn) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(fn);
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
             return std::make_unique<BpeEncoder>(std::move(self), std::move(policy));
           },
           py::arg("allowed"), py::arg("disallowed"));

  py::class_<BpeEncoder, Tokenizer>(m, "BpeEncoder",
      "A BpeModel with one special-token policy; implements the native Tokenizer interface.")
      .def_property_readonly("n_vocab", &BpeEncoder::n_vocab)
      .def("encode",
           [](const BpeEncoder& t, py::handle data, const std::string& dtype) {
             DType dt = parse_dtype(dtype);
             return dt == DType::u32 ? encode_bpe_u32(t, data) : encode_with(t, data, dt);
           },
           py::arg("data"), py::arg("dtype") = "uint32")
      .def("encode_u32_function",
           [](py::handle self) { return encode_u32_function(self, self.cast<const BpeEncoder&>()); },
           "A one-argument builtin equal to encode(data) (uint32), without pybind11's dispatch.")
      .def("encode_batch",
           [](const BpeEncoder& t, py::sequence items, const std::string& dtype, int threads) {
             return encode_batch_with(t, items, parse_dtype(dtype), threads);
           },
           py::arg("items"), py::arg("dtype") = "uint32", py::arg("threads") = 0)
      .def("encode_prefix",
           [](const BpeEncoder& t, py::handle data, size_t max_tokens) {
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
           [](const BpeEncoder& t, py::handle data, bool char_offsets) {
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
           [](const BpeEncoder& t, py::handle data) {
             InputView view(data);
             py::gil_scoped_release nogil;
             return t.count(view.span());
           })
      .def("safe_split", [](const BpeEncoder& t, py::handle window, size_t target) {
        InputView view(window);
        if (target > view.span().size()) throw py::value_error("target is past the end of the window");
        py::gil_scoped_release nogil;
        return t.safe_split(view.span(), target);
      });
}

// === serving (async batch engine) ================================================================
bool python_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// Releases a Python reference from any thread: takes the GIL, except while the interpreter is
// finalizing, when the reference is deliberately leaked (taking the GIL then would hang).
void release_py_ref(py::object* ref) {
  if (python_finalizing()) {
    ref->release();
    delete ref;
    return;
  }
  py::gil_scoped_acquire gil;
  delete ref;
}

// Delivers engine completions to an asyncio loop: holds the GIL only to build the result tuples
// and call loop.call_soon_threadsafe(handler, results); a closed loop drops the results.
class LoopSink final : public serve::CompletionSink {
 public:
  LoopSink(py::object loop, py::object handler)
      : loop_(new py::object(std::move(loop))), handler_(new py::object(std::move(handler))) {}
  ~LoopSink() override {
    release_py_ref(loop_);
    release_py_ref(handler_);
  }
  void deliver(std::vector<serve::Completion>& done) override {
    if (python_finalizing()) {
      for (auto& c : done) c.ids = IdBuffer();
      return;  // tokenizer references leak by design (see release_py_ref)
    }
    py::gil_scoped_acquire gil;
    try {
      py::list out(done.size());
      for (size_t i = 0; i < done.size(); ++i) {
        auto& c = done[i];
        py::object ids = py::none();
        if (c.status == serve::Status::ok) {
          if (c.decoded)
            ids = py::bytes(c.bytes);  // decode requests deliver bytes
          else if (!c.json.empty())
            ids = py::bytes(c.json);  // JSON text of the ids (json_only requests)
          else
            ids = to_numpy(std::move(c.ids));
        }
        out[i] = py::make_tuple(c.id, static_cast<int>(c.status), c.error, ids, c.consumed, c.count);
      }
      loop_->attr("call_soon_threadsafe")(*handler_, out);
    } catch (py::error_already_set& e) {
      // The loop is closed (RuntimeError) or gone: nobody is waiting for these results any more.
      (void)e;
    }
    done.clear();  // drops tokenizer references while the GIL is held
  }

 private:
  py::object* loop_;
  py::object* handler_;
};

// Python face of serve::BatchEngine. Every call that may wait for engine threads releases the GIL,
// because those threads take it to deliver completions.
class PyBatchEngine {
 public:
  PyBatchEngine(py::object loop, py::object handler, size_t max_batch_size, double max_wait_ms,
                size_t queue_capacity, int threads, size_t max_inflight_batches, bool wake_on_submit) {
    if (max_wait_ms < 0) throw py::value_error("max_wait_ms must be >= 0");
    serve::EngineOptions o;
    o.max_batch_size = max_batch_size;
    o.max_wait = std::chrono::microseconds(static_cast<int64_t>(max_wait_ms * 1000.0));
    o.queue_capacity = queue_capacity;
    o.threads = threads;
    o.max_inflight_batches = max_inflight_batches;
    o.wake_on_submit = wake_on_submit;
    auto sink = std::make_shared<LoopSink>(std::move(loop), std::move(handler));
    engine_ = std::make_unique<serve::BatchEngine>(o, std::move(sink));
  }
  ~PyBatchEngine() {
    if (engine_ && engine_->on_own_thread()) {
      // Collected by Python code running on the engine's own completion thread (garbage
      // collection can run anywhere): that thread cannot wait for itself, so a helper thread
      // shuts the engine down once the current delivery has returned.
      std::thread([e = engine_.release()] {
        e->shutdown(false);
        delete e;  // the sink's Python references are released with the GIL (release_py_ref)
      }).detach();
      return;
    }
    close(false);
  }

  uint64_t submit(py::object tokenizer, py::handle data, const std::string& dtype,
                  const std::string& priority, double timeout_s, bool segment, bool stream_start,
                  bool stream_end, size_t target, bool json, uint64_t stream_offset) {
    const DType dt = parse_dtype(dtype);
    serve::Request r = new_request(std::move(tokenizer), priority, timeout_s);
    r.dtype = dt;
    {
      InputView view(data);
      auto s = view.span();
      r.data.assign(reinterpret_cast<const char*>(s.data()), s.size());
    }
    r.segment = segment;
    r.stream_start = stream_start;
    r.stream_end = stream_end;
    r.target = target;
    r.stream_offset = stream_offset;
    r.json_only = json;
    return live().submit(std::move(r));
  }

  // Queues the decoding of `ids` (a 1-D int64 array, copied) into bytes.
  uint64_t submit_decode(py::object tokenizer, py::array_t<int64_t, py::array::c_style | py::array::forcecast> ids,
                         const std::string& priority, double timeout_s) {
    if (ids.ndim() != 1) throw py::value_error("ids must be a 1-D array");
    serve::Request r = new_request(std::move(tokenizer), priority, timeout_s);
    r.decode = true;
    r.ids.assign(ids.data(), ids.data() + ids.size());
    return live().submit(std::move(r));
  }

  bool cancel(uint64_t id) { return live().cancel(id); }
  void flush() { live().flush(); }

  void close(bool drain) {
    if (!engine_) return;
    {
      py::gil_scoped_release nogil;
      engine_->shutdown(drain);
    }
    engine_.reset();  // with the GIL: the sink drops its loop and handler references
  }

  bool closed() const { return !engine_; }

  py::tuple queue_depth() {
    auto d = live().queue_depth();
    return py::make_tuple(d[0], d[1], d[2]);
  }

  py::dict stats() {
    auto s = live().stats();
    py::dict d;
    d["submitted"] = s.submitted;
    d["completed"] = s.completed;
    d["rejected"] = s.rejected;
    d["cancelled"] = s.cancelled;
    d["timed_out"] = s.timed_out;
    d["batches"] = s.batches;
    d["batched_requests"] = s.batched_requests;
    py::list bounds, counts;
    for (auto b : serve::kBatchSizeBounds) bounds.append(b);
    for (auto c : s.batch_size_counts) counts.append(c);
    d["batch_size_bounds"] = bounds;
    d["batch_size_counts"] = counts;
    d["queued"] = py::make_tuple(s.queued[0], s.queued[1], s.queued[2]);
    d["inflight_batches"] = s.inflight_batches;
    return d;
  }

 private:
  // A request on `tokenizer` (TypeError unless a blt._core.Tokenizer) with its priority and
  // timeout; the request holds a reference to the Python object until the engine drops it.
  static serve::Request new_request(py::object tokenizer, const std::string& priority, double timeout_s) {
    auto* raw = tokenizer.cast<const Tokenizer*>();
    serve::Request r;
    r.priority = serve::parse_priority(priority);
    if (timeout_s < 0) throw py::value_error("timeout must be >= 0");
    r.timeout = std::chrono::duration_cast<serve::Clock::duration>(std::chrono::duration<double>(timeout_s));
    auto* ref = new py::object(std::move(tokenizer));
    r.tokenizer = std::shared_ptr<const Tokenizer>(raw, [ref](const Tokenizer*) { release_py_ref(ref); });
    return r;
  }

  serve::BatchEngine& live() {
    if (!engine_) throw std::runtime_error("batch engine is closed");
    return *engine_;
  }
  std::unique_ptr<serve::BatchEngine> engine_;
};

void bind_serve(py::module_& m) {
  py::register_exception<serve::QueueFull>(m, "Overloaded", PyExc_RuntimeError);
  py::class_<PyBatchEngine>(m, "BatchEngine",
                            "Native batch encoder; results arrive through loop.call_soon_threadsafe.")
      .def(py::init<py::object, py::object, size_t, double, size_t, int, size_t, bool>(), py::arg("loop"),
           py::arg("handler"), py::arg("max_batch_size") = 64, py::arg("max_wait_ms") = 2.0,
           py::arg("queue_capacity") = 1024, py::arg("threads") = 0,
           py::arg("max_inflight_batches") = 0, py::arg("wake_on_submit") = true)
      .def("submit", &PyBatchEngine::submit, py::arg("tokenizer"), py::arg("data"),
           py::arg("dtype") = "uint32", py::arg("priority") = "normal", py::arg("timeout_s") = 0.0,
           py::arg("segment") = false, py::arg("stream_start") = false,
           py::arg("stream_end") = false, py::arg("target") = 0, py::arg("json") = false,
           py::arg("stream_offset") = 0)
      .def("submit_decode", &PyBatchEngine::submit_decode, py::arg("tokenizer"), py::arg("ids"),
           py::arg("priority") = "normal", py::arg("timeout_s") = 0.0)
      .def("cancel", &PyBatchEngine::cancel, py::arg("id"))
      .def("flush", &PyBatchEngine::flush)
      .def("close", &PyBatchEngine::close, py::arg("drain") = false)
      .def_property_readonly("closed", &PyBatchEngine::closed)
      .def("queue_depth", &PyBatchEngine::queue_depth)
      .def("stats", &PyBatchEngine::stats);
}

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
            patch::hash_ngrams(ip, n, sizes, funcs, max_hash, o, threads);
          }
          return out;
        },
        py::arg("ids"), py::arg("sizes"), py::arg("funcs"), py::arg("max_hash"),
        py::arg("threads") = 1, py::arg("out") = py::none());
  m.attr("NGRAM_HASH_PRIMES") = py::cast(std::vector<uint64_t>(
      std::begin(patch::kNgramHashPrimes), std::end(patch::kNgramHashPrimes)));
}

}  // namespace

namespace blt::bindings { void bind_train(py::module_& m); }  // src/bindings/train.cpp

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

  // Base of every native tokenizer: the pipeline, batch engine and server accept any of them.
  py::class_<Tokenizer>(m, "Tokenizer", "Native tokenizer interface (see blt_core/tokenizer.hpp).")
      .def_property_readonly("n_vocab", &Tokenizer::n_vocab);

  m.def("usable_cores", &usable_cores);
  m.def("available_ram_bytes", &available_ram_bytes);
  m.def("simd_arch", &simd::kernel_arch);

  bind_bytes(m);
  bind_pipeline(m);
  bind_text(m);
  bind_bpe(m);
  bind_patch(m);
  bind_serve(m);
  blt::bindings::bind_train(m);
}
