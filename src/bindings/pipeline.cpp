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
#include "blt_core/pipeline/file_pipeline.hpp"

namespace blt::bindings {
namespace {

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

// Ids collected in memory (raw bytes of dtype `dt`) become a NumPy array owning the vector.
py::array ids_array(std::vector<uint8_t>&& bytes, DType dt) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  py::capsule base(owned, [](void* p) { delete static_cast<std::vector<uint8_t>*>(p); });
  static uint64_t empty_slot = 0;
  void* data = owned->empty() ? static_cast<void*>(&empty_slot) : owned->data();
  return make_array(dt, owned->size() / dtype_size(dt), data, base.release().ptr());
}

py::dict tokenize_stream_py(py::object tokenizer, py::object input, int input_fd,
                            const std::string& input_name, int output_fd,
                            const std::string& output_name, const std::string& dtype,
                            const std::string& format, int threads, uint64_t memcap,
                            size_t min_chunk, size_t max_chunk, py::object progress,
                            bool utf8_chunks, double progress_interval) {
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
  if (memory) out["ids"] = ids_array(std::move(memory->bytes), o.dtype);
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
}

}  // namespace blt::bindings
