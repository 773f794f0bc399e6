# localread: every target sets up what it needs (.venv, the package, the default model).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXAMPLE ?= examples/segment_demo

LOCK   := constraints.txt
LOCKENV := .lock-venv

# llama.cpp's llama-server, built from the llama.cpp that the pinned llama-cpp-python
# sdist vendors, for the tests and benchmarks of the server engine (issue 16). Built
# once per version into a cache outside the checkout (a clean checkout or `make
# clean` does not pay the build again); LLAMA_SDIST=FILE builds from a copy of the
# sdist instead of downloading it from PyPI.
LLAMA_CPP_PYTHON := $(shell sed -n 's/^llama[-_]cpp[-_]python==//p' $(LOCK))
BUILD_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/localread-build
SERVER_DIR  := $(BUILD_CACHE)/llama-server-$(LLAMA_CPP_PYTHON)
LLAMA_SERVER ?= $(SERVER_DIR)/llama-server
# `make test` builds it when it is missing (about 9 minutes on 2 cores, once per
# machine) and runs the real-server tests (marker `server`, about 4 minutes) with
# the rest, so a fresh clone tests the server engine against a real llama.cpp server.
SERVER_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# The machine's cmake, else one from PyPI into the venv (llama.cpp needs 3.14 or newer).
CMAKE ?= $(or $(shell command -v cmake 2>/dev/null),$(BIN)/cmake)
# Only the server: no tests, examples, web UI, curl or OpenSSL; static libraries, so
# the cached binary stands alone.
SERVER_CMAKE := -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF \
	-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF

.PHONY: setup browser screenshot demo test test-fast bench lint clean lock server

setup: $(STAMP)

# What the browser tests need besides the venv (playwright comes with the dev extra):
# Debian's chromium (installed by .ci/run) and the Mermaid parser, from npm into an
# ignored folder at a pinned version. The tests fail, never skip, without them.
MERMAID_VERSION := 11.17.2
MERMAID := .browser/node_modules/mermaid/dist/mermaid.min.js

browser: $(MERMAID)

$(MERMAID):
	npm install --no-audit --no-fund --silent --prefix .browser mermaid@$(MERMAID_VERSION)

# Every package at the exact version of constraints.txt (build dependencies of
# llama-cpp-python's source build included, through PIP_CONSTRAINT), so a fresh
# machine gets what CI tested.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/python -m pip install -q pip
	PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/python -m pip install -q -e '.[llm,dev]'
	$(BIN)/localread models path >/dev/null
	touch $(STAMP)

# Regenerate constraints.txt from the newest releases pyproject.toml allows; then run
# `make test` (and `make demo`) before committing it.
lock:
	rm -rf $(LOCKENV)
	$(PYTHON) -m venv $(LOCKENV)
	$(LOCKENV)/bin/python -m pip install -q --upgrade pip setuptools wheel
	$(LOCKENV)/bin/python -m pip install -q '.[llm,dev]' scikit-build-core
	{ echo "# Exact versions for make setup (CPython 3.11, Linux). Regenerate: make lock"; \
	  $(LOCKENV)/bin/python -m pip freeze --all --exclude localread; } > $(LOCK)
	rm -rf $(LOCKENV) build

# docs/report.png, the README's screenshot of `localread report examples/segment_demo`.
screenshot: setup
	$(BIN)/python docs/screenshot.py

demo: setup
	$(BIN)/localread tour $(EXAMPLE)

test: setup browser server
	LLAMA_SERVER=$(LLAMA_SERVER) $(BIN)/python -m pytest -q

server: $(LLAMA_SERVER)

$(LLAMA_SERVER): | $(STAMP)
	rm -rf $(SERVER_DIR).tmp && mkdir -p $(SERVER_DIR).tmp
	if [ -n "$(LLAMA_SDIST)" ]; then cp "$(LLAMA_SDIST)" $(SERVER_DIR).tmp/; else \
	  $(BIN)/python -m pip download -q --no-deps --no-binary :all: \
	    llama-cpp-python==$(LLAMA_CPP_PYTHON) -d $(SERVER_DIR).tmp; fi
	tar xzf $(SERVER_DIR).tmp/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz -C $(SERVER_DIR).tmp
	test -x "$(CMAKE)" || $(BIN)/python -m pip install -q 'cmake>=3.14'
	$(CMAKE) -S $(SERVER_DIR).tmp/llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp \
	  -B $(SERVER_DIR).tmp/build $(SERVER_CMAKE) > $(SERVER_DIR).tmp/configure.log
	$(CMAKE) --build $(SERVER_DIR).tmp/build --target llama-server -j $(SERVER_JOBS)
	mkdir -p $(SERVER_DIR)
	cp $(SERVER_DIR).tmp/build/bin/llama-server $(LLAMA_SERVER).part
	cp $(SERVER_DIR).tmp/configure.log $(SERVER_DIR)/
	mv $(LLAMA_SERVER).part $(LLAMA_SERVER)
	rm -rf $(SERVER_DIR).tmp

test-fast: setup browser
	$(BIN)/python -m pytest -q -m "not model and not server"

bench: setup server
	$(BIN)/python benchmarks/map_speed.py $(VENV)/lib/python3.11/site-packages/networkx
	$(BIN)/python benchmarks/explain_latency.py
	$(BIN)/python benchmarks/summarize_throughput.py
	$(BIN)/python benchmarks/paper_recall.py
	$(BIN)/python benchmarks/tour_fidelity.py
	LLAMA_SERVER=$(LLAMA_SERVER) $(BIN)/python benchmarks/parallel_throughput.py

lint: setup
	$(BIN)/python -m ruff check localread tests benchmarks

clean:
	rm -rf $(VENV) $(LOCKENV) .browser build *.egg-info
