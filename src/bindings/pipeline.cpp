// tokenize_stream: the file pipeline over a Python buffer or descriptor, into a descriptor or into
// memory, with progress callbacks where Ctrl-C is noticed; std::system_error becomes OSError.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "bindings/converters.hpp"
#include "blt_core/codec/byte_codec.hpp"
#include "blt_core/io/byte_sink.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/io/id_format.hpp"
#include "blt_core/patch/patch_options.hpp"
#include "blt_core/pipeline/file_pipeline.hpp"
#include "blt_core/pipeline/patch_stage.hpp"

namespace blt::bindings {

py::dict run_stats_dict(const RunStats& st) {
  py::dict out;
  out["bytes_in"] = st.bytes_in;
  out["ids_out"] = st.ids_out;
  out["chunks"] = st.chunks;
  out["seconds"] = st.seconds;
  out["threads"] = st.threads;
  return out;
}

namespace {

// The native Tokenizer behind a Python object: a ByteCodec (copied, so text chunks can keep UTF-8
// characters whole), or any class registered with blt::Tokenizer as its pybind11 base.
const Tokenizer& native_tokenizer(py::handle obj, bool utf8_chunks, std::optional<ByteCodec>& copy) {
  if (py::isinstance<ByteCodec>(obj)) {
    copy.emplace(obj.cast<const ByteCodec&>());
    copy->keep_utf8_chars = utf8_chunks;
    return *copy;
  }
  return as_tokenizer(obj);
}

// Ids collected in memory (raw bytes of dtype `dt`) become a NumPy array owning the vector.
py::array ids_array(std::vector<uint8_t>&& bytes, DType dt) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  py::capsule base(owned, [](void* p) { delete static_cast<std::vector<uint8_t>*>(p); });
  static uint64_t empty_slot = 0;
  void* data = owned->empty() ? static_cast<void*>(&empty_slot) : owned->data();
  return make_array(dt, owned->size() / dtype_size(dt), data, base.release().ptr());
}

PipelineOptions pipeline_options(const std::string& dtype, const std::string& format, int threads,
                                 uint64_t memcap, size_t min_chunk, size_t max_chunk,
                                 py::object& progress, double progress_interval) {
  PipelineOptions o;
  o.dtype = parse_dtype(dtype);
  o.format = parse_output_format(format);
  o.threads = threads;
  o.memcap = memcap;
  o.min_chunk = min_chunk;
  o.max_chunk = max_chunk;
  o.progress_interval = progress_interval_ms(progress_interval);
  o.progress = progress_callback<uint64_t, uint64_t>(progress);
  return o;
}

std::unique_ptr<ByteSource> byte_source(py::object& input, int input_fd, const std::string& name,
                                        std::optional<InputView>& view) {
  if (!input.is_none()) {
    view.emplace(input);
    return std::make_unique<MemorySource>(view->span(), name);
  }
  return std::make_unique<FdSource>(input_fd, name);
}

py::dict stats_dict(const PipelineStats& st) {
  py::dict out = run_stats_dict(st);
  out["chunk_size"] = st.plan.chunk;
  out["in_flight"] = st.plan.in_flight;
  out["buffer_bytes"] = st.plan.buffer_bytes * st.plan.buffers;
  py::list times;
  for (const StageTime& t : st.stage_times) times.append(py::make_tuple(t.name, t.seconds));
  out["stage_times"] = times;
  out["queue_mean"] = st.queue_mean;
  out["queue_max"] = st.queue_max;
  return out;
}

py::dict tokenize_stream_py(py::object tokenizer, py::object input, int input_fd,
                            const std::string& input_name, int output_fd,
                            const std::string& output_name, const std::string& dtype,
                            const std::string& format, int threads, uint64_t memcap,
                            size_t min_chunk, size_t max_chunk, py::object progress,
                            bool utf8_chunks, double progress_interval) {
  std::optional<ByteCodec> codec_copy;
  const Tokenizer& tok = native_tokenizer(tokenizer, utf8_chunks, codec_copy);
  PipelineOptions o = pipeline_options(dtype, format, threads, memcap, min_chunk, max_chunk,
                                       progress, progress_interval);
  std::optional<InputView> view;
  std::unique_ptr<ByteSource> src = byte_source(input, input_fd, input_name, view);
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
  py::dict out = stats_dict(st);
  if (memory) out["ids"] = ids_array(std::move(memory->bytes), o.dtype);
  return out;
}

py::dict tokenize_patch_stream_py(py::object tokenizer, py::object input, int input_fd,
                                 const std::string& input_name, int output_fd,
                                 const std::string& output_name, int lengths_spool_fd,
                                 int hash_spool_fd, const std::string& dtype, int threads,
                                 uint64_t memcap, size_t min_chunk, size_t max_chunk,
                                 py::object progress, bool utf8_chunks, double progress_interval,
                                 std::optional<patch::PatchRule> rule,
                                 const patch::EntropyModel* model, const std::vector<int>& reset,
                                 const std::vector<int>& hash_sizes,
                                 const std::vector<int>& hash_funcs, int64_t max_hash,
                                 const std::string& hash_dtype) {
  if (output_fd < 0 || lengths_spool_fd < 0 || hash_spool_fd < 0)
    throw py::value_error("tokenize_patch_stream needs output_fd, lengths_spool_fd and hash_spool_fd");
  std::optional<ByteCodec> codec_copy;
  const Tokenizer& tok = native_tokenizer(tokenizer, utf8_chunks, codec_copy);
  PipelineOptions o = pipeline_options(dtype, "bin", threads, memcap, min_chunk, max_chunk,
                                       progress, progress_interval);
  PatchStageOptions so;
  so.rule = rule;
  so.model = model;
  so.reset = patch::context_reset_of_bytes(reset);
  so.hash.sizes = hash_sizes;
  so.hash.funcs = hash_funcs;
  so.hash.max_hash = max_hash;
  so.hash.dtype = parse_dtype(hash_dtype);
  PatchStage stage(so, output_fd, output_name, lengths_spool_fd, hash_spool_fd);
  std::optional<InputView> view;
  std::unique_ptr<ByteSource> src = byte_source(input, input_fd, input_name, view);
  PipelineStats st;
  {
    py::gil_scoped_release nogil;
    st = tokenize_stream(tok, *src, stage, o);
  }
  py::dict out = stats_dict(st);
  out["patches"] = stage.patches_out();
  out["hash_columns"] = stage.hash_columns();
  return out;
}

}  // namespace

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

  m.def("tokenize_stream", &tokenize_stream_py, py::arg("tokenizer"), py::arg("input") = py::none(),
        py::arg("input_fd") = -1, py::arg("input_name") = "<input>", py::arg("output_fd") = -1,
        py::arg("output_name") = "<output>", py::arg("dtype") = "uint16",
        py::arg("format") = "bin", py::arg("threads") = 0, py::arg("memcap") = 256u << 20,
        py::arg("min_chunk") = 64u << 10, py::arg("max_chunk") = 1u << 20,
        py::arg("progress") = py::none(), py::arg("utf8_chunks") = false,
        py::arg("progress_interval") = 0.05,
        "Tokenize a buffer or a readable descriptor into a writable descriptor (or into memory "
        "when output_fd < 0, returned as 'ids'). Returns a dict of statistics.");
  m.def("tokenize_patch_stream", &tokenize_patch_stream_py, py::arg("tokenizer"),
        py::arg("input") = py::none(), py::arg("input_fd") = -1, py::arg("input_name") = "<input>",
        py::arg("output_fd") = -1, py::arg("output_name") = "<output>",
        py::arg("lengths_spool_fd") = -1, py::arg("hash_spool_fd") = -1, py::arg("dtype") = "uint16", py::arg("threads") = 0,
        py::arg("memcap") = 256u << 20, py::arg("min_chunk") = 64u << 10,
        py::arg("max_chunk") = 1u << 20, py::arg("progress") = py::none(),
        py::arg("utf8_chunks") = false, py::arg("progress_interval") = 0.05,
        py::arg("rule") = py::none(), py::arg("model") = nullptr,
        py::arg("reset") = std::vector<int>{}, py::arg("hash_sizes") = std::vector<int>{},
        py::arg("hash_funcs") = std::vector<int>{}, py::arg("max_hash") = 500002,
        py::arg("hash_dtype") = "int64",
        "Tokenize into an .npz at output_fd (a regular file at offset 0): ids, patch_lengths "
        "(with rule) and hash_ids (with hash_sizes), the patching and hashing run per chunk in "
        "the pipeline's graph. The spool descriptors (empty regular files) hold lengths and hash "
        "ids until the end. Returns a dict of statistics.");
}

}  // namespace blt::bindings
