# localread: every target sets up what it needs (.venv, the package, the default model).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXAMPLE ?= examples/segment_demo

LOCK   := constraints.txt
LOCKENV := .lock-venv

.PHONY: setup browser screenshot demo test test-fast bench lint clean lock

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

test: setup browser
	$(BIN)/python -m pytest -q

test-fast: setup browser
	$(BIN)/python -m pytest -q -m "not model"

bench: setup
	$(BIN)/python benchmarks/map_speed.py $(VENV)/lib/python3.11/site-packages/networkx
	$(BIN)/python benchmarks/explain_latency.py
	$(BIN)/python benchmarks/summarize_throughput.py
	$(BIN)/python benchmarks/paper_recall.py
	$(BIN)/python benchmarks/tour_fidelity.py

lint: setup
	$(BIN)/python -m ruff check localread tests benchmarks

clean:
	rm -rf $(VENV) $(LOCKENV) .browser build *.egg-info
