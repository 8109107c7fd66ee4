// Python binding of the BPE trainer (blt_core/train): buffers in, GIL released, classes registered.
// The Pythonic API (train_bpe, train_bpe_from_counts) is python/blt/train.py.
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "bindings/converters.hpp"
#include "blt_core/io/byte_source.hpp"
#include "blt_core/train/piece_counter.hpp"
#include "blt_core/train/trainer.hpp"

using blt::train::PieceCounter;

namespace blt::bindings {
namespace {

// UTF-8 bytes of a str (or the bytes of a bytes-like object), valid while `obj` lives.
blt::TextSpan text_of(const py::handle& obj, size_t index) {
  if (PyUnicode_Check(obj.ptr())) {
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
    if (!p) throw py::error_already_set();
    return {reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(n)};
  }
  if (PyBytes_Check(obj.ptr()))
    return {reinterpret_cast<const uint8_t*>(PyBytes_AS_STRING(obj.ptr())),
            static_cast<size_t>(PyBytes_GET_SIZE(obj.ptr()))};
  if (PyByteArray_Check(obj.ptr()))
    return {reinterpret_cast<const uint8_t*>(PyByteArray_AS_STRING(obj.ptr())),
            static_cast<size_t>(PyByteArray_GET_SIZE(obj.ptr()))};
  throw py::type_error("training text item " + std::to_string(index) + " must be str or bytes, not " +
                       std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
}

}  // namespace

void bind_train(py::module_& m) {
  py::class_<PieceCounter>(m, "PieceCounter",
                           "Counts pre-tokenized pieces for BPE training (see blt_core/train/piece_counter.hpp).")
      .def(py::init([](const std::string& pattern, bool split_lines, std::optional<uint64_t> memcap, int threads) {
             blt::train::CountOptions o;
             o.split_lines = split_lines;
             o.memcap = memcap;
             o.threads = threads;
             return std::make_unique<PieceCounter>(pattern, o);
           }),
           py::arg("pattern"), py::arg("split_lines") = false, py::arg("memcap") = py::none(),
           py::arg("threads") = 0)
      .def(
          "count_documents",
          [](PieceCounter& c, const py::list& docs) {
            std::vector<blt::TextSpan> spans;
            spans.reserve(docs.size());
            for (size_t i = 0; i < docs.size(); ++i) spans.push_back(text_of(docs[i], i));
            py::gil_scoped_release nogil;
            c.count_documents(spans);
          },
          py::arg("docs"), "Count the pieces of each str/bytes document (GIL released).")
      .def(
          "count_fd",
          [](PieceCounter& c, int fd, const std::string& name, py::object progress) {
            blt::FdSource src(fd, name);
            std::atomic<bool> stop{false};
            auto cb = progress_callback<uint64_t>(progress);
            py::gil_scoped_release nogil;
            c.count_source(src, cb, stop);
          },
          py::arg("fd"), py::arg("name"), py::arg("progress") = py::none(),
          "Count a readable descriptor through the chunked reader (GIL released); progress(bytes_done) every 100 ms, Ctrl-C stops it.")
      .def(
          "add_pieces",
          [](PieceCounter& c, const py::list& pieces, const std::vector<uint64_t>& counts) {
            if (pieces.size() != counts.size()) throw py::value_error("pieces and counts differ in length");
            for (size_t i = 0; i < pieces.size(); ++i) c.add_piece(text_of(pieces[i], i), counts[i]);
          },
          py::arg("pieces"), py::arg("counts"))
      .def("pieces",
           [](const PieceCounter& c) {
             py::list out;
             for (auto& [b, n] : c.table().sorted())
               out.append(py::make_tuple(py::bytes(reinterpret_cast<const char*>(b.data()), b.size()), n));
             return out;
           })
      .def_property_readonly("bytes_counted", &PieceCounter::bytes_counted)
      .def_property_readonly("n_pieces", [](const PieceCounter& c) { return c.table().size(); })
      .def_property_readonly("memory_bytes", [](const PieceCounter& c) { return c.table().memory_bytes(); })
      .def_property_readonly("prune_threshold", &PieceCounter::prune_threshold);

  m.def(
      "train_vocab",
      [](PieceCounter& counter, uint64_t vocab_size, const std::vector<std::string>& specials,
         uint64_t min_frequency, std::optional<uint64_t> max_token_length, bool hf_compatible,
         py::object progress) {
        blt::train::TrainOptions o;
        o.vocab_size = vocab_size;
        o.specials = specials;
        o.min_frequency = min_frequency;
        o.max_token_length = max_token_length;
        o.hf_compatible = hf_compatible;
        o.progress = progress_callback<uint64_t>(progress);
        blt::train::TrainedVocab v;
        {
          py::gil_scoped_release nogil;
          v = blt::train::train_vocab(counter.take(), o);
        }
        py::list tokens;
        for (const std::string& t : v.tokens) tokens.append(py::bytes(t));
        py::array_t<uint32_t> merges({static_cast<py::ssize_t>(v.merges.size()), py::ssize_t{3}});
        auto mm = merges.mutable_unchecked<2>();
        for (size_t i = 0; i < v.merges.size(); ++i) {
          mm(i, 0) = v.merges[i].left;
          mm(i, 1) = v.merges[i].right;
          mm(i, 2) = v.merges[i].result;
        }
        py::dict out;
        out["tokens"] = tokens;
        out["specials"] = v.specials;
        out["merges"] = merges;
        return out;
      },
      py::arg("counter"), py::arg("vocab_size"), py::arg("specials") = std::vector<std::string>{},
      py::arg("min_frequency") = 2, py::arg("max_token_length") = py::none(),
      py::arg("hf_compatible") = false, py::arg("progress") = py::none(),
      "Train BPE merges over a PieceCounter, consuming its piece table; returns tokens (bytes by id), specials and merges (n x 3: left, right, result).");
}

}  // namespace blt::bindings
