// What every binding translation unit shares: byte views of Python buffers, the one way to turn C++
// memory into a NumPy array, encode/decode helpers bound once for every tokenizer, and bind_x entries.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "blt_core/bpe/bpe_encoder.hpp"
#include "blt_core/id_buffer.hpp"
#include "blt_core/pipeline/run_stats.hpp"
#include "blt_core/tokenizer.hpp"

namespace blt::bindings {

namespace py = pybind11;

// A read-only byte view of str (its UTF-8), bytes, bytearray, memoryview, mmap, or a C-contiguous
// array of 1-byte items. No copy: the view pins the object's buffer until it is destroyed.
class InputView {
 public:
  explicit InputView(py::handle obj);
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

// Views of every item of a sequence, and their spans (the views must outlive the spans).
std::vector<ByteSpan> view_all(py::sequence items, std::vector<InputView>& views);

// The native Tokenizer behind a Python object (any class bound with blt::Tokenizer as its pybind11
// base); TypeError naming the object's type otherwise. Valid while the object lives.
const Tokenizer& as_tokenizer(py::handle obj);

// The bytes of a Python bytes object (no copy; valid while the object lives).
std::span<const uint8_t> bytes_span(py::handle b);

// --- NumPy arrays from C++ memory -----------------------------------------------------------------
// Every array made here goes through make_array, one call of NumPy's PyArray_NewFromDescr (a
// py::array constructor builds shape and stride vectors and a dtype object on every call, as
// costly as a short encode). With data == nullptr NumPy allocates and owns the memory; otherwise the
// array views `data` and `base` (a new reference, stolen, also on failure) keeps it alive.
py::array make_array(py::dtype dt, std::span<const Py_intptr_t> shape, void* data, PyObject* base);
py::array make_array(DType dt, size_t n, void* data, PyObject* base);  // 1-D, descriptor cached

// Hands an IdBuffer to NumPy without copying: the array's base is the IdBuffer object itself.
py::array to_numpy(IdBuffer&& buf);

// Hands a vector to NumPy without copying (a capsule owning the vector is the base); `shape`
// defaults to 1-D and must multiply out to v.size().
template <class T>
py::array to_numpy(std::vector<T>&& v, std::vector<Py_intptr_t> shape = {}) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule base(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  if (shape.empty()) shape.push_back(static_cast<Py_intptr_t>(owned->size()));
  static T empty_slot{};  // NumPy wants a non-null pointer even for length 0
  void* data = owned->empty() ? static_cast<void*>(&empty_slot) : static_cast<void*>(owned->data());
  return make_array(py::dtype::of<T>(), shape, data, base.release().ptr());
}

inline py::tuple to_numpy(RaggedIds&& r) {
  return py::make_tuple(to_numpy(std::move(r.ids)), to_numpy(std::move(r.offsets)));
}

// --- methods shared by every tokenizer --------------------------------------------------------------
// Encodes an input already viewed, without the GIL, and hands the ids to NumPy without a copy.
py::array encode_view(const Tokenizer& tok, const InputView& view, DType dt);
py::array encode_with(const Tokenizer& tok, py::handle data, DType dt);
// The BPE encoder's own path (short uint32 encodes keep the GIL; see bpe.cpp).
py::array encode_with(const bpe::BpeEncoder& tok, py::handle data, DType dt);
py::tuple encode_batch_with(const Tokenizer& tok, py::sequence items, DType dt, int threads);

// encode(data, dtype) and encode_batch(items, dtype, threads) on tokenizer class `cls`, whose ids
// default to `default_dtype`. safe_split and n_vocab are bound once on the Tokenizer base.
template <class Class>
void def_encode_methods(Class& cls, const char* default_dtype) {
  using T = typename Class::type;
  cls.def("encode",
          [](const T& t, py::handle data, const std::string& dtype) {
            return encode_with(t, data, parse_dtype(dtype));
          },
          py::arg("data"), py::arg("dtype") = default_dtype)
      .def("encode_batch",
           [](const T& t, py::sequence items, const std::string& dtype, int threads) {
             return encode_batch_with(t, items, parse_dtype(dtype), threads);
           },
           py::arg("items"), py::arg("dtype") = default_dtype, py::arg("threads") = 0);
}

// Decodes a 1-D integer array (or anything NumPy turns into one) by calling
// decode(const T* ids, size_t n, std::string& out) without the GIL, with T the array's own integer
// type (no conversion copy for uint16/uint32/int32/int64/uint64). Empty input decodes to "".
template <class Decode>
std::string decode_ids(py::handle ids_obj, const Decode& decode);

// --- one-argument builtins without pybind11's dispatch -----------------------------------------------
// A METH_O builtin `def` bound to `target` (the C++ object it calls, read back with
// PyCapsule_GetPointer(self, nullptr)); it keeps `owner`, the Python object owning target, alive.
// Skipping pybind11's argument dispatch matters for calls on short inputs.
py::object bound_builtin(py::handle owner, const void* target, PyMethodDef* def);

// encode(data) of tokenizer `t` (owned by Python object `owner`) with dtype `dt` fixed, as such a
// builtin.
py::object encode_function(py::handle owner, const Tokenizer& t, DType dt);

// --- progress callbacks of long native runs ------------------------------------------------------------
// A callback for native code running without the GIL: it takes the GIL, raises a pending signal
// (Ctrl-C) as an exception that cancels the run, then calls `progress` unless it is None. Native
// runs call it from the caller's thread, where Python delivers signals. Refers to `progress`,
// which must outlive it.
template <class... Args>
std::function<void(Args...)> progress_callback(const py::object& progress) {
  return [&progress](Args... args) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!progress.is_none()) progress(args...);
  };
}

// Seconds between progress calls, as the pipelines take it (at least 1 ms).
inline std::chrono::milliseconds progress_interval_ms(double seconds) {
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(seconds * 1000)));
}

// The fields every pipeline run reports (RunStats) as a dict; each binding adds its own.
py::dict run_stats_dict(const RunStats& st);

// --- one registration function per area -------------------------------------------------------------
void bind_common(py::module_& m);
void bind_bytes(py::module_& m);
void bind_pipeline(py::module_& m);
void bind_text(py::module_& m);
void bind_bpe(py::module_& m);
void bind_serve(py::module_& m);
void bind_patch(py::module_& m);
void bind_train(py::module_& m);
void bind_parallel(py::module_& m);
void bind_megatron(py::module_& m);

// --- template definitions ---------------------------------------------------------------------------
namespace detail {
template <class T, class Decode>
void decode_typed(const py::array& ids, const Decode& decode, std::string& out) {
  auto a = py::array_t<T, py::array::c_style>::ensure(ids);
  if (!a) throw py::type_error("ids must be a 1-D integer array");
  const T* p = a.data();
  const size_t n = static_cast<size_t>(a.size());
  py::gil_scoped_release nogil;
  decode(p, n, out);
}
}  // namespace detail

template <class Decode>
std::string decode_ids(py::handle ids_obj, const Decode& decode) {
  py::array ids = py::array::ensure(ids_obj);
  if (!ids) throw py::type_error("ids must be a sequence of integers");
  if (ids.ndim() != 1) throw py::value_error("ids must be one-dimensional");
  std::string out;
  if (ids.size() == 0) return out;
  const char kind = ids.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error("ids must be integers, got dtype " + std::string(py::str(ids.dtype())));
  if (ids.dtype().is(py::dtype::of<uint32_t>())) detail::decode_typed<uint32_t>(ids, decode, out);
  else if (ids.dtype().is(py::dtype::of<uint16_t>())) detail::decode_typed<uint16_t>(ids, decode, out);
  else if (ids.dtype().is(py::dtype::of<int32_t>())) detail::decode_typed<int32_t>(ids, decode, out);
  else if (kind == 'u') detail::decode_typed<uint64_t>(ids, decode, out);
  else detail::decode_typed<int64_t>(ids, decode, out);
  return out;
}

}  // namespace blt::bindings
