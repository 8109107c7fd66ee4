// Byte views of Python buffers, NumPy arrays from C++ memory, and the encode helpers every
// tokenizer class is bound with (see converters.hpp).
#include "bindings/converters.hpp"

#include <cstring>
#include <memory>
#include <stdexcept>

#include "blt_core/batch.hpp"

namespace blt::bindings {

InputView::InputView(py::handle obj) {
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

std::vector<ByteSpan> view_all(py::sequence items, std::vector<InputView>& views) {
  views.reserve(views.size() + py::len(items));
  for (py::handle item : items) views.emplace_back(item);
  std::vector<ByteSpan> spans;
  spans.reserve(views.size());
  for (auto& v : views) spans.push_back(v.span());
  return spans;
}

std::span<const uint8_t> bytes_span(py::handle b) {
  char* p = nullptr;
  Py_ssize_t n = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &p, &n) != 0) throw py::error_already_set();
  return {reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(n)};
}

const Tokenizer& as_tokenizer(py::handle obj) {
  try {
    return *obj.cast<const Tokenizer*>();
  } catch (const py::cast_error&) {
    throw py::type_error("tokenizer must be a native blt tokenizer, got " +
                         std::string(Py_TYPE(obj.ptr())->tp_name));
  }
}

namespace {

py::dtype numpy_dtype(DType dt) {
  switch (dt) {
    case DType::u16: return py::dtype::of<uint16_t>();
    case DType::u32: return py::dtype::of<uint32_t>();
    case DType::i32: return py::dtype::of<int32_t>();
    case DType::i64: return py::dtype::of<int64_t>();
  }
  throw std::logic_error("bad dtype");
}

// Steals `descr` and `base`; strides are NumPy's C-contiguous ones.
py::array new_from_descr(PyObject* descr, std::span<const Py_intptr_t> shape, void* data,
                         PyObject* base) {
  auto& api = py::detail::npy_api::get();
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, static_cast<int>(shape.size()),
                                          const_cast<Py_intptr_t*>(shape.data()), nullptr, data,
                                          data ? py::detail::npy_api::NPY_ARRAY_WRITEABLE_ : 0,
                                          nullptr);
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

}  // namespace

py::array make_array(py::dtype dt, std::span<const Py_intptr_t> shape, void* data, PyObject* base) {
  return new_from_descr(dt.release().ptr(), shape, data, base);
}

py::array make_array(DType dt, size_t n, void* data, PyObject* base) {
  static PyObject* descrs[4] = {};  // one descriptor per DType, kept for the module's lifetime
  PyObject*& descr = descrs[static_cast<int>(dt)];
  if (!descr) descr = numpy_dtype(dt).release().ptr();
  Py_INCREF(descr);  // PyArray_NewFromDescr steals it
  const Py_intptr_t shape[1] = {static_cast<Py_intptr_t>(n)};
  return new_from_descr(descr, shape, data, base);
}

py::array to_numpy(IdBuffer&& buf) {
  auto owner = std::make_unique<IdBuffer>(std::move(buf));
  IdBuffer* raw = owner.get();
  py::object base = py::cast(std::move(owner));
  static uint64_t empty_slot = 0;  // NumPy wants a non-null pointer even for length 0
  void* data = raw->data() ? raw->data() : &empty_slot;
  return make_array(raw->dtype(), raw->size(), data, base.release().ptr());
}

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
  auto spans = view_all(items, views);
  RaggedIds r;
  {
    py::gil_scoped_release nogil;
    r = encode_batch(tok, spans, dt, threads);
  }
  return to_numpy(std::move(r));
}

py::object bound_builtin(py::handle owner, const void* target, PyMethodDef* def) {
  PyObject* cap = PyCapsule_New(const_cast<void*>(target), nullptr, [](PyObject* c) {
    Py_XDECREF(static_cast<PyObject*>(PyCapsule_GetContext(c)));
  });
  if (!cap) throw py::error_already_set();
  Py_INCREF(owner.ptr());
  if (PyCapsule_SetContext(cap, owner.ptr()) != 0) {
    Py_DECREF(owner.ptr());
    Py_DECREF(cap);
    throw py::error_already_set();
  }
  PyObject* fn = PyCFunction_New(def, cap);
  Py_DECREF(cap);  // the function holds it now
  if (!fn) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(fn);
}

namespace {

template <DType dt>
PyObject* encode_call(PyObject* capsule, PyObject* data) {
  auto* t = static_cast<const Tokenizer*>(PyCapsule_GetPointer(capsule, nullptr));
  if (!t) return nullptr;
  try {
    return encode_with(*t, data, dt).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();  // the translators registered for pybind11 calls
  }
  return nullptr;
}

PyMethodDef kEncodeDefs[] = {
    {"encode", encode_call<DType::u16>, METH_O, "encode(data) -> uint16 ids"},
    {"encode", encode_call<DType::u32>, METH_O, "encode(data) -> uint32 ids"},
    {"encode", encode_call<DType::i32>, METH_O, "encode(data) -> int32 ids"},
    {"encode", encode_call<DType::i64>, METH_O, "encode(data) -> int64 ids"},
};

}  // namespace

py::object encode_function(py::handle owner, const Tokenizer& t, DType dt) {
  check_dtype_fits(t, dt);
  return bound_builtin(owner, &t, &kEncodeDefs[static_cast<int>(dt)]);
}

}  // namespace blt::bindings
