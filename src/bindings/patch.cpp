// Patching: PatchRule, batch and streaming patchers, the n-gram entropy model and its counter, and
// hashed n-gram embeddings ids.
#include <optional>
#include <string>
#include <vector>

#include "bindings/converters.hpp"
#include "blt_core/patch/entropy_model.hpp"
#include "blt_core/patch/patch_rule.hpp"
#include "blt_core/patch/patch_sequence.hpp"
#include "blt_core/patch/patch_stream.hpp"
#include "blt_core/patch/patch_options.hpp"
#include "blt_core/patch/ngram_hash.hpp"

namespace blt::bindings {
namespace {

using patch::PatchRule;
using IdArray = py::array_t<uint16_t, py::array::c_style>;
using EntropyArray = py::array_t<float, py::array::c_style>;
using OffsetArray = py::array_t<int64_t, py::array::c_style>;

patch::ContextReset context_reset(const std::vector<int>& bytes) {
  return patch::context_reset_of_bytes(bytes);
}

std::span<const int64_t> offsets_span(const OffsetArray& offsets, size_t n_values) {
  std::span<const int64_t> s(offsets.data(), static_cast<size_t>(offsets.size()));
  if (!s.empty() && (s.back() < 0 || static_cast<size_t>(s.back()) != n_values))
    throw py::value_error("offsets[-1] must equal the number of ids (" + std::to_string(n_values) + ")");
  return s;
}

PatchRule make_rule(std::string kind, std::optional<double> patch_size, std::optional<double> threshold,
                    std::optional<double> threshold_add, bool monotonicity,
                    std::optional<int64_t> max_patch_length, bool include_next_token,
                    bool force_boundaries) {
  return patch::make_patch_rule({std::move(kind), patch_size, threshold, threshold_add, monotonicity,
                                 max_patch_length, include_next_token, force_boundaries});
}

py::tuple patch_batch_py(const PatchRule& rule, std::optional<IdArray> ids,
                         std::optional<EntropyArray> entropies, OffsetArray offsets, int threads) {
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
  return to_numpy(std::move(r));
}

// Hash ids written as the dtype asked for ("int64" or "int32"), into `out` when given.
template <class T>
py::array hash_ngrams_as(IdArray& ids, const std::vector<int>& sizes, const std::vector<int>& funcs,
                         int64_t max_hash, int threads, std::optional<py::array>& out_arg, const char* name) {
  const size_t n = static_cast<size_t>(ids.size());
  const ssize_t cols = static_cast<ssize_t>(sizes.size() * funcs.size());
  py::array out;
  if (out_arg) {  // caller's buffer, written in place (no new pages to fault in)
    out = *out_arg;
    if (!out.dtype().is(py::dtype::of<T>()) || out.ndim() != 2 || out.shape(0) != static_cast<ssize_t>(n) ||
        out.shape(1) != cols || !(out.flags() & py::array::c_style) || !out.writeable())
      throw py::value_error("out must be a writable C-contiguous " + std::string(name) + " array of shape (" +
                            std::to_string(n) + ", " + std::to_string(cols) + ")");
  } else {
    out = py::array_t<T>({static_cast<ssize_t>(n), cols});
  }
  T* o = static_cast<T*>(out.mutable_data());
  const uint16_t* ip = ids.data();
  {
    py::gil_scoped_release nogil;
    patch::hash_ngrams(ip, n, sizes, funcs, max_hash, o, threads);
  }
  return out;
}

py::array hash_ngrams_py(IdArray ids, const std::vector<int>& sizes, const std::vector<int>& funcs,
                         int64_t max_hash, int threads, std::optional<py::array> out, const std::string& dtype) {
  if (dtype == "int32") return hash_ngrams_as<int32_t>(ids, sizes, funcs, max_hash, threads, out, "int32");
  if (dtype == "int64") return hash_ngrams_as<int64_t>(ids, sizes, funcs, max_hash, threads, out, "int64");
  throw py::value_error("hash id dtype must be int32 or int64, got '" + dtype + "'");
}

template <class T>
py::array hash_ngrams_batch_as(IdArray& ids, OffsetArray& offsets, const std::vector<int>& sizes,
                               const std::vector<int>& funcs, int64_t max_hash, int threads) {
  const size_t n = static_cast<size_t>(ids.size());
  auto offs = offsets_span(offsets, n);
  py::array_t<T> out({static_cast<ssize_t>(n), static_cast<ssize_t>(sizes.size() * funcs.size())});
  T* o = out.mutable_data();
  const uint16_t* ip = ids.data();
  {
    py::gil_scoped_release nogil;
    patch::hash_ngrams_batch(ip, offs, sizes, funcs, max_hash, o, threads);
  }
  return out;
}

py::array hash_ngrams_batch_py(IdArray ids, OffsetArray offsets, const std::vector<int>& sizes,
                               const std::vector<int>& funcs, int64_t max_hash, int threads,
                               const std::string& dtype) {
  if (dtype == "int32") return hash_ngrams_batch_as<int32_t>(ids, offsets, sizes, funcs, max_hash, threads);
  if (dtype == "int64") return hash_ngrams_batch_as<int64_t>(ids, offsets, sizes, funcs, max_hash, threads);
  throw py::value_error("hash id dtype must be int32 or int64, got '" + dtype + "'");
}

void bind_entropy_model(py::module_& m) {
  py::class_<patch::EntropyCursor>(m, "EntropyCursor").def(py::init<>());

  py::class_<patch::EntropyModel>(m, "EntropyModel")
      .def_static("load",
                  [](const std::string& path) {
                    py::gil_scoped_release nogil;
                    return patch::EntropyModel::load(path);
                  },
                  py::arg("path"))
      .def("save",
           [](const patch::EntropyModel& mdl, const std::string& path) {
             py::gil_scoped_release nogil;
             mdl.save(path);
           },
           py::arg("path"))
      .def("to_bytes",
           [](const patch::EntropyModel& mdl) {
             std::string buf;
             {
               py::gil_scoped_release nogil;
               buf = mdl.to_bytes();
             }
             return py::bytes(buf);
           })
      .def_static("from_bytes",
                  [](py::bytes data) {
                    std::string_view view(data);
                    py::gil_scoped_release nogil;
                    return patch::EntropyModel::from_bytes(view, "pickled entropy model");
                  },
                  py::arg("data"))
      .def_property_readonly("order", &patch::EntropyModel::order)
      .def_property_readonly("n_contexts", &patch::EntropyModel::n_contexts)
      .def_property_readonly("n_ngrams", &patch::EntropyModel::n_ngrams)
      .def("context_table",
           [](const patch::EntropyModel& mdl) {
             std::vector<uint64_t> keys;
             std::vector<float> ent;
             mdl.context_table(keys, ent);
             return py::make_tuple(to_numpy(std::move(keys)), to_numpy(std::move(ent)));
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
           },
           py::arg("cursor"), py::arg("ids"), py::arg("reset"))
      .def("bits_per_byte",
           [](const patch::EntropyModel& mdl, py::handle data, const std::vector<int>& reset) {
             InputView v(data);
             auto rs = context_reset(reset);
             py::gil_scoped_release nogil;
             return mdl.bits_per_byte(v.span(), rs);
           },
           py::arg("data"), py::arg("reset"))
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
             return to_numpy(std::move(r));
           },
           py::arg("rule"), py::arg("ids"), py::arg("offsets"), py::arg("reset"),
           py::arg("threads") = 0);

  py::class_<patch::NgramCounter>(m, "NgramCounter")
      .def(py::init<int>(), py::arg("order"))
      .def_property_readonly("bytes_seen", &patch::NgramCounter::bytes_seen)
      .def("add",
           [](patch::NgramCounter& c, py::sequence docs, int threads) {
             std::vector<InputView> views;
             auto spans = view_all(docs, views);
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
}

}  // namespace

void bind_patch(py::module_& m) {
  py::class_<PatchRule>(m, "PatchRule")
      .def(py::init(&make_rule), py::arg("kind"), py::arg("patch_size") = py::none(),
           py::arg("threshold") = py::none(), py::arg("threshold_add") = py::none(),
           py::arg("monotonicity") = false, py::arg("max_patch_length") = py::none(),
           py::arg("include_next_token") = false, py::arg("force_boundaries") = true)
      .def_property_readonly("is_topk", &PatchRule::is_topk);

  m.def("patch_batch", &patch_batch_py, py::arg("rule"), py::arg("ids"), py::arg("entropies"),
        py::arg("offsets"), py::arg("threads") = 0);

  bind_entropy_model(m);

  py::class_<patch::PatchStream>(m, "PatchStream")
      .def(py::init<const PatchRule&>(), py::arg("rule"))
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
             return to_numpy(std::move(out));
           },
           py::arg("ids"), py::arg("entropies") = py::none())
      .def("finish", [](patch::PatchStream& s) {
        std::vector<int32_t> out;
        s.finish(out);
        return to_numpy(std::move(out));
      });

  m.def("hash_ngrams", &hash_ngrams_py, py::arg("ids"), py::arg("sizes"), py::arg("funcs"),
        py::arg("max_hash"), py::arg("threads") = 1, py::arg("out") = py::none(),
        py::arg("dtype") = "int64");
  m.def("hash_ngrams_batch", &hash_ngrams_batch_py, py::arg("ids"), py::arg("offsets"),
        py::arg("sizes"), py::arg("funcs"), py::arg("max_hash"), py::arg("threads") = 0,
        py::arg("dtype") = "int64");
  m.attr("DEFAULT_THRESHOLD") = patch::kDefaultThreshold;
  m.attr("DEFAULT_RESET_BYTE") = patch::kDefaultResetByte;
  m.attr("NGRAM_HASH_PRIMES") = py::cast(std::vector<uint64_t>(
      std::begin(patch::kNgramHashPrimes), std::end(patch::kNgramHashPrimes)));
}

}  // namespace blt::bindings
