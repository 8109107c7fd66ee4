// The async batch engine: completions reach an asyncio loop through call_soon_threadsafe, and
// Python references held by requests are released safely from engine threads.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bindings/converters.hpp"
#include "blt_core/serve/batch_engine.hpp"
#include "blt_core/serve/host_sink.hpp"

namespace blt::bindings {
namespace {

bool python_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// A Python thread state kept by an engine thread (a thread Python did not create) from its first
// entry into Python until it exits. pybind11's gil_scoped_acquire alone creates and deletes a
// thread state on every entry, each time under CPython's runtime lock (HEAD_LOCK), which it takes
// without the GIL; CPython before 3.12 resets that lock in a forked child only after using it
// (CPython gh-112275), so an os.fork() by another thread at that moment left the child
// deadlocked inside os.fork(). With the state kept, entering Python takes only the GIL.
struct KeptThreadState {
  bool kept = false;
  ~KeptThreadState() {
    // While or after the interpreter finalizes, it deletes the state itself.
    if (!kept || python_finalizing() || !Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    gil.dec_ref();  // drops the count kept below: this acquire's end deletes the state
  }
};
thread_local KeptThreadState t_kept_state;

// Holds the GIL on any thread; on a thread Python did not create, keeps the thread state.
class EngineThreadGil {
 public:
  EngineThreadGil() {
    if (first_native_entry_) {
      gil_.inc_ref();  // the count the thread keeps until its KeptThreadState ends
      t_kept_state.kept = true;
    }
  }

 private:
  // Decided before gil_ is constructed (members initialise in declaration order), while the
  // thread has no state yet; PyGILState_GetThisThreadState needs no GIL.
  bool first_native_entry_ = !t_kept_state.kept && PyGILState_GetThisThreadState() == nullptr;
  py::gil_scoped_acquire gil_;
};

// Releases a Python reference from any thread: takes the GIL, except while the interpreter is
// finalizing, when the reference is deliberately leaked (taking the GIL then would hang).
void release_py_ref(py::object* ref) {
  if (python_finalizing()) {
    ref->release();
    delete ref;
    return;
  }
  EngineThreadGil gil;
  delete ref;
}

// Delivers engine completions to an asyncio loop: holds the GIL only to build the result tuples
// and call loop.call_soon_threadsafe(handler, results); a closed loop drops the results. While the
// interpreter finalizes, HostSink drops them without taking the GIL (tokenizer references leak by
// design, see release_py_ref).
class LoopSink final : public serve::HostSink {
 public:
  LoopSink(py::object loop, py::object handler)
      : loop_(new py::object(std::move(loop))), handler_(new py::object(std::move(handler))) {}
  ~LoopSink() override {
    release_py_ref(loop_);
    release_py_ref(handler_);
  }

 protected:
  bool host_alive() const override { return !python_finalizing(); }

  void hand_over(std::vector<serve::Completion>& done) override {
    EngineThreadGil gil;
    try {
      py::list out(done.size());
      for (size_t i = 0; i < done.size(); ++i) {
        auto& c = done[i];
        py::object payload = py::none();
        switch (serve::payload_of(c)) {
          case serve::Payload::none: break;
          case serve::Payload::bytes: payload = py::bytes(c.bytes); break;
          case serve::Payload::json: payload = py::bytes(c.json); break;
          case serve::Payload::ids: payload = to_numpy(std::move(c.ids)); break;
        }
        out[i] = py::make_tuple(c.id, static_cast<int>(c.status), c.error, payload, c.consumed, c.count);
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
    if (engine_ && !engine_->owned_by_this_process()) {
      serve::discard(std::move(engine_));  // inherited through fork(): see discard
      return;
    }
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
    if (!engine_->owned_by_this_process()) {
      serve::discard(std::move(engine_));
      return;
    }
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
    const Tokenizer* raw = &as_tokenizer(tokenizer);
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

}  // namespace

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

}  // namespace blt::bindings
