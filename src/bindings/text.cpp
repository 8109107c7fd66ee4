// Pretokenizers (OpenAI scanners, PCRE2) and the Unicode versions of their tables.
#include <memory>
#include <string>
#include <vector>

#include "bindings/converters.hpp"
#include "blt_core/text/pretokenizer_kind.hpp"
#include "blt_core/text/regex_pretokenizer.hpp"
#include "blt_core/text/unicode_classes.hpp"

namespace blt::bindings {

void bind_text(py::module_& m) {
  py::class_<ChosenPretokenizer>(m, "Pretokenizer")
      .def(py::init([](const std::string& pattern, const std::string& kind) {
             return make_pretokenizer_of_kind(pattern, kind);
           }),
           py::arg("pattern"), py::arg("kind") = "auto")
      .def_property_readonly("pattern", [](const ChosenPretokenizer& p) { return p.impl->pattern(); })
      .def_property_readonly("kind",
                             [](const ChosenPretokenizer& p) {
                               return std::string(pretokenizer_kind_name(p.kind));
                             })
      .def("split",
           [](const ChosenPretokenizer& p, py::handle data) {
             InputView view(data);
             if (view.span().size() > UINT32_MAX)
               throw py::value_error("split: input larger than 4 GiB; split it into chunks first");
             std::vector<uint32_t> ends;
             {
               py::gil_scoped_release nogil;
               p.impl->split(view.span(), ends);
             }
             return to_numpy(std::move(ends));
           },
           py::arg("data"))
      .def("safe_split",
           [](const ChosenPretokenizer& p, py::handle data, size_t target) {
             InputView view(data);
             py::gil_scoped_release nogil;
             return p.impl->safe_split(view.span(), target);
           },
           py::arg("data"), py::arg("target"));
  m.def("pcre2_unicode_version", &pcre2_unicode_version);
  m.def("scanner_unicode_version", [] { return std::string(unicode::kUnicodeVersion); });
}

}  // namespace blt::bindings
