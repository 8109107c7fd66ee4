# Two commands do all set-up on a fresh Debian machine (see README):
#   make demo   installs everything and tokenizes a corpus file with the CLI and from Python
#   make test   installs everything and runs the C++ and Python test suites
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BLT_SHARED_DIR ?= $(abspath ../shared)
export BLT_SHARED_DIR
SYS_PKGS := libtbb-dev libxsimd-dev libpcre2-dev libgtest-dev pkg-config g++
JOBS ?= $(shell nproc)

.PHONY: all sysdeps install cpp-test py-test test demo bench clean

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

# Non-editable install; build/{wheel_tag} persists, so rebuilds are incremental.
install: sysdeps $(VENV)/.deps
	$(PY) -m pip install -q --no-build-isolation --no-deps .

cpp-test: sysdeps $(VENV)/.deps
	PATH=$(abspath $(VENV))/bin:$$PATH cmake -S . -B build/cpp -G Ninja -DBLT_BUILD_TESTS=ON -DBLT_SHARED_DIR=$(BLT_SHARED_DIR)
	PATH=$(abspath $(VENV))/bin:$$PATH cmake --build build/cpp -j $(JOBS)
	PATH=$(abspath $(VENV))/bin:$$PATH ctest --test-dir build/cpp --output-on-failure -j $(JOBS)

py-test: install
	$(PY) -m pytest -q -n $(JOBS) tests

test: cpp-test py-test

demo: install
	@mkdir -p demo_out
	$(VENV)/bin/blt-tokenize --input $(BLT_SHARED_DIR)/corpus/en_prose.txt --output demo_out/en_prose.npy --type text
	$(PY) examples/tour.py

bench: install
	$(PY) -m pip install -q -r benchmarks/requirements.txt
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build $(VENV) demo_out
