// Megatron shards: the MegatronIndex (.idx table) and the JSONL document pipeline over
// descriptors, with progress callbacks where Ctrl-C is noticed; the GIL is released while it runs.
#include <chrono>
#include <optional>
#include <string>

#include "bindings/converters.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/io/megatron_index.hpp"
#include "blt_core/pipeline/document_pipeline.hpp"

namespace blt::bindings {
namespace {

py::dict tokenize_jsonl_py(py::object tokenizer, MegatronIndex& index, int input_fd, int bin_fd,
                           const std::string& input_name, const std::string& bin_name,
                           const std::string& json_key, std::optional<uint32_t> eod, int threads,
                           uint64_t memcap, size_t chunk, py::object progress,
                           double progress_interval) {
  const Tokenizer& tok = as_tokenizer(tokenizer);
  DocumentOptions o;
  o.json_key = json_key;
  o.eod = eod;
  o.threads = threads;
  o.memcap = memcap;
  o.chunk = chunk;
  o.progress_interval = progress_interval_ms(progress_interval);
  o.progress = progress_callback<uint64_t, uint64_t>(progress);
  FdSource src(input_fd, input_name);
  FdSink sink(bin_fd, bin_name);
  DocumentStats st;
  {
    py::gil_scoped_release nogil;
    st = tokenize_jsonl(tok, src, sink, index, o);
  }
  py::dict out = run_stats_dict(st);
  out["documents"] = st.documents;
  return out;
}

}  // namespace

void bind_megatron(py::module_& m) {
  m.def("megatron_dtype_for_vocab",
        [](uint64_t n_vocab) { return std::string(dtype_name(megatron_dtype_for_vocab(n_vocab))); },
        py::arg("n_vocab"), "Megatron's id dtype for a vocabulary: uint16 below 65,500 ids, else int32.");

  py::class_<MegatronIndex>(m, "MegatronIndex",
                            "The document table of a Megatron indexed dataset (.idx) being written.")
      .def(py::init([](const std::string& dtype) { return MegatronIndex(parse_dtype(dtype)); }),
           py::arg("dtype"))
      .def_property_readonly("dtype",
                             [](const MegatronIndex& i) { return std::string(dtype_name(i.dtype())); })
      .def("add_document", &MegatronIndex::add_document, py::arg("n_ids"),
           "Record a document of n_ids ids (already written to the .bin).")
      .def_property_readonly("documents", &MegatronIndex::documents)
      .def_property_readonly("sequences", &MegatronIndex::sequences)
      .def_property_readonly("ids", &MegatronIndex::ids)
      .def(
          "write",
          [](const MegatronIndex& i, int fd, const std::string& name) {
            FdSink sink(fd, name);
            std::atomic<bool> stop{false};
            py::gil_scoped_release nogil;
            i.write(sink, stop);
          },
          py::arg("fd"), py::arg("name") = "<idx>", "Write the whole .idx file to a descriptor.");

  m.def("tokenize_jsonl", &tokenize_jsonl_py, py::arg("tokenizer"), py::arg("index"),
        py::arg("input_fd"), py::arg("bin_fd"), py::arg("input_name") = "<input>",
        py::arg("bin_name") = "<bin>", py::arg("json_key") = "text", py::arg("eod") = py::none(),
        py::arg("threads") = 0, py::arg("memcap") = 256u << 20, py::arg("chunk") = 1u << 20,
        py::arg("progress") = py::none(), py::arg("progress_interval") = 0.05,
        "Tokenize JSON lines (one document per line, text under json_key) into a Megatron .bin on "
        "bin_fd, recording each document in index. Returns a dict of statistics.");
}

}  // namespace blt::bindings
