// BPE: BpeModel (an immutable vocabulary, loaded from tiktoken files, in-memory parts or a blob)
// and BpeEncoder (a model with one special-token policy), including the short-encode fast path.
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings/converters.hpp"
#include "blt_core/bpe/bpe_model.hpp"
#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/bpe/spec_from_parts.hpp"
#include "blt_core/bpe/special_policy.hpp"
#include "blt_core/bpe/vocab_io.hpp"

namespace blt::bindings {

using bpe::BpeModel;
using bpe::BpeSpec;
using bpe::BpeEncoder;

namespace {

using U32Array = py::array_t<uint32_t, py::array::c_style | py::array::forcecast>;

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

// Builds the model (tables, pretokenizer) without the GIL.
std::shared_ptr<BpeModel> build_model(BpeSpec spec) {
  py::gil_scoped_release nogil;
  return std::const_pointer_cast<BpeModel>(std::make_shared<const BpeModel>(std::move(spec)));
}

// (ok, why) of a model self-check run without the GIL.
template <class Check>
py::tuple check_result(const Check& check) {
  std::string why;
  bool ok;
  {
    py::gil_scoped_release nogil;
    ok = check(&why);
  }
  return py::make_tuple(ok, why);
}

// Short inputs keep the GIL (releasing and retaking it costs more than encoding a few tokens),
// encode into one static vector that the GIL guards and that keeps its memory, and copy the few
// ids into a new NumPy array (cheaper than wrapping them in an IdBuffer object). Longer inputs take
// the common path (encode_view). Tokenizer::encode adds nothing for BPE (no prefix, suffix or
// skipped bytes), so encode_body gives the same ids. 256 bytes is long enough to keep the GIL and
// short enough that threads encoding documents (hundreds of bytes and more) still run in parallel.
constexpr size_t kGilMaxBytes = 256;  // at most 256 ids: a 1 KB copy at worst

py::array encode_bpe_u32(const BpeEncoder& t, py::handle data) {
  InputView view(data);
  if (view.span().size() > kGilMaxBytes) return encode_view(t, view, DType::u32);
  static std::vector<uint32_t> ids;  // guarded by the GIL, held from here to the copy
  ids.clear();
  t.encode_body(view.span(), ids);
  py::array out = make_array(DType::u32, ids.size(), nullptr, nullptr);
  if (!ids.empty())
    std::memcpy(reinterpret_cast<py::detail::PyArray_Proxy*>(out.ptr())->data, ids.data(), ids.size() * 4);
  return out;
}

// encode(data) as a Python list of ints, built straight from the encoder's ids (no NumPy array in
// between) for callers that want lists (blt.compat.tiktoken). Long inputs encode without the GIL.
py::list encode_bpe_list(const BpeEncoder& t, py::handle data) {
  InputView view(data);
  static std::vector<uint32_t> short_ids;  // guarded by the GIL, as in encode_bpe_u32
  std::vector<uint32_t> long_ids;
  std::vector<uint32_t>* ids = &long_ids;
  if (view.span().size() > kGilMaxBytes) {
    py::gil_scoped_release nogil;
    t.encode_body(view.span(), long_ids);
  } else {
    ids = &short_ids;
    short_ids.clear();
    t.encode_body(view.span(), short_ids);
  }
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(ids->size()));
  if (!list) throw py::error_already_set();
  for (size_t i = 0; i < ids->size(); ++i) {
    PyObject* v = PyLong_FromUnsignedLong((*ids)[i]);
    if (!v) {
      Py_DECREF(list);
      throw py::error_already_set();
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), v);
  }
  return py::reinterpret_steal<py::list>(list);
}

// enc.encode(data) with the default uint32 dtype as a plain METH_O builtin bound to one encoder,
// skipping pybind11's argument dispatch (self cast, dtype string and its default), a sizeable part
// of a short call. The builtin's self is a capsule holding the BpeEncoder and, as its context, a
// reference to the Python encoder object that owns it.
template <class Encode>
PyObject* encode_builtin(PyObject* capsule, PyObject* data, Encode encode) {
  auto* t = static_cast<const BpeEncoder*>(PyCapsule_GetPointer(capsule, nullptr));
  if (!t) return nullptr;
  try {
    return encode(*t, data).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();  // the translators registered for pybind11 calls
  }
  return nullptr;
}

PyObject* encode_u32_builtin(PyObject* capsule, PyObject* data) {
  return encode_builtin(capsule, data, encode_bpe_u32);
}

PyObject* encode_list_builtin(PyObject* capsule, PyObject* data) {
  return encode_builtin(capsule, data, encode_bpe_list);
}

PyMethodDef kEncodeU32Def = {"encode", encode_u32_builtin, METH_O,
                             "encode(data) -> uint32 ids (BpeEncoder.encode with the default dtype)"};
PyMethodDef kEncodeListDef = {"encode_list", encode_list_builtin, METH_O, "encode_list(data) -> list of ids"};

std::shared_ptr<BpeModel> from_parts(const std::string& name, const std::string& pattern,
                                     py::list tokens, U32Array ids, std::optional<U32Array> merges,
                                     bool whole_piece_lookup, py::list specials) {
  bpe::BpeParts parts;
  parts.name = name;
  parts.pattern = pattern;
  parts.whole_piece_lookup = whole_piece_lookup;
  parts.specials = special_list(specials);
  parts.tokens.reserve(py::len(tokens));
  for (py::handle h : tokens) parts.tokens.push_back(bytes_span(h));
  parts.ids = {ids.data(), static_cast<size_t>(ids.size())};
  if (merges) {
    auto& mg = *merges;
    if (mg.ndim() != 2 || mg.shape(1) != 2) throw py::value_error("merges must have shape (n, 2)");
    parts.merges = std::span<const std::array<uint32_t, 2>>(
        reinterpret_cast<const std::array<uint32_t, 2>*>(mg.data()), static_cast<size_t>(mg.shape(0)));
  }
  return build_model(bpe::spec_from_parts(std::move(parts)));
}

// Decodes every item of (ids, offsets) into one buffer without the GIL, then returns a list of
// bytes or str objects cut from it.
py::list decode_ragged_py(const BpeModel& self, py::handle ids,
                          py::array_t<int64_t, py::array::c_style | py::array::forcecast> offsets, bool text,
                          const std::string& errors) {
  if (offsets.ndim() != 1) throw py::value_error("offsets must be a 1-D array");
  const std::span<const int64_t> offs(offsets.data(), static_cast<size_t>(offsets.size()));
  std::vector<size_t> ends;
  std::string all = decode_ids(ids, [&](const auto* p, size_t n, std::string& out) {
    self.decode_ragged(p, n, offs, out, ends);
  });
  if (ends.size() + 1 != offs.size()) {  // no ids at all: decode_ids did not call in
    std::string none;
    self.decode_ragged(static_cast<const int64_t*>(nullptr), 0, offs, none, ends);
  }
  py::list out(ends.size());
  size_t start = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    const char* p = all.data() + start;
    const auto len = static_cast<ssize_t>(ends[i] - start);
    PyObject* o = text ? PyUnicode_DecodeUTF8(p, len, errors.c_str()) : PyBytes_FromStringAndSize(p, len);
    if (!o) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<ssize_t>(i), o);
    start = ends[i];
  }
  return out;
}

}  // namespace

py::array encode_with(const BpeEncoder& t, py::handle data, DType dt) {
  return dt == DType::u32 ? encode_bpe_u32(t, data) : encode_with(static_cast<const Tokenizer&>(t), data, dt);
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
             return build_model(std::move(spec));
           },
           py::arg("data"), py::arg("source"), py::arg("name"), py::arg("pattern"), py::arg("specials"))
      .def_static("from_parts", &from_parts, py::arg("name"), py::arg("pattern"), py::arg("tokens"),
                  py::arg("ids"), py::arg("merges"), py::arg("whole_piece_lookup"), py::arg("specials"))
      .def_static("from_blob",
           [](py::bytes blob) {
             auto b = bytes_span(blob);
             BpeSpec spec;
             {
               py::gil_scoped_release nogil;
               spec = bpe::deserialize_spec(b);
             }
             return build_model(std::move(spec));
           },
           py::arg("blob"))
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
      .def("token_bytes",
           [](const BpeModel& self, int64_t id) {
             auto b = (id >= 0 && id < 0xFFFFFFFFll) ? self.token_bytes(static_cast<uint32_t>(id))
                                                     : std::span<const uint8_t>{};
             if (b.empty()) throw py::value_error("token id " + std::to_string(id) + " is not in the vocabulary");
             return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
           },
           py::arg("id"))
      .def("decode_bytes",
           [](const BpeModel& self, py::handle ids) {
             return py::bytes(decode_ids(ids, [&self](const auto* p, size_t n, std::string& out) {
               self.decode(p, n, out);
             }));
           },
           py::arg("ids"))
      .def("decode_ragged", &decode_ragged_py, py::arg("ids"), py::arg("offsets"), py::arg("text"),
           py::arg("errors") = "replace",
           "Each item of a ragged batch (ids, int64 offsets) decoded in one call: bytes, or str "
           "when text (invalid UTF-8 handled by errors, as bytes.decode).")
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
        const auto rows = static_cast<Py_intptr_t>(ml.size());
        std::vector<uint32_t> flat(ml.size() * 2);
        if (!ml.empty()) std::memcpy(flat.data(), ml.data(), ml.size() * 8);
        return to_numpy(std::move(flat), {rows, 2});
      })
      .def("format_tiktoken", [](const BpeModel& self) { return py::bytes(bpe::format_tiktoken(self.vocab())); })
      .def("rank_file_equivalent", [](const BpeModel& self) {
        return check_result([&self](std::string* why) { return self.rank_file_equivalent(why); });
      })
      .def("tokens_self_merge", [](const BpeModel& self) {
        return check_result([&self](std::string* why) { return self.tokens_self_merge(why); });
      })
      .def("tokenizer",
           [](std::shared_ptr<BpeModel> self, const std::vector<std::string>& allowed,
              const std::vector<std::string>& disallowed) {
             auto policy = bpe::make_special_policy(self->specials().tokens(), allowed, disallowed);
             return std::make_unique<BpeEncoder>(std::move(self), std::move(policy));
           },
           py::arg("allowed"), py::arg("disallowed"));

  py::class_<BpeEncoder, Tokenizer> encoder(m, "BpeEncoder",
      "A BpeModel with one special-token policy; implements the native Tokenizer interface.");
  def_encode_methods(encoder, "uint32");
  encoder
      .def("encode_u32_function",
           [](py::handle self) { return bound_builtin(self, &self.cast<const BpeEncoder&>(), &kEncodeU32Def); },
           "A one-argument builtin equal to encode(data) (uint32), without pybind11's dispatch.")
      .def("encode_list", &encode_bpe_list, py::arg("data"), "encode(data) as a list of ints")
      .def("encode_list_function",
           [](py::handle self) { return bound_builtin(self, &self.cast<const BpeEncoder&>(), &kEncodeListDef); },
           "A one-argument builtin equal to encode_list(data), without pybind11's dispatch.")
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
           },
           py::arg("data"), py::arg("max_tokens"))
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
           },
           py::arg("data"), py::arg("char_offsets"))
      .def("count",
           [](const BpeEncoder& t, py::handle data) {
             InputView view(data);
             py::gil_scoped_release nogil;
             return t.count(view.span());
           },
           py::arg("data"));
}

}  // namespace blt::bindings
