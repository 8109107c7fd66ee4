// Which backend runs the core's parallel loops in this process (oneTBB, or the ForkPool of a
// forked child), for tests and diagnostics.
#include "bindings/converters.hpp"
#include "blt_core/parallel/fork_pool.hpp"
#include "blt_core/parallel/fork_state.hpp"
#include "blt_core/parallel/parallel_for.hpp"

namespace blt::bindings {

void bind_parallel(py::module_& m) {
  m.def("parallel_backend", &parallel_backend,
        "'onetbb', or 'fork_pool' in a process forked from one that had blt loaded (oneTBB is not "
        "fork-safe, so such a child runs parallel work on a fresh pool of its own)");
  m.def("fork_generation", &fork_generation,
        "How many fork() calls separate this process from the one that loaded blt (0: that one)");
  m.def("fork_pool_workers", [] { return in_forked_child() ? ForkPool::current().workers() : 0; },
        "Worker threads the fork pool of this process has started (0 outside a forked child)");
}

}  // namespace blt::bindings
