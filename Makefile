# localread: every target sets up what it needs (.venv, the package, the default model).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXAMPLE ?= examples/segment_demo

.PHONY: setup demo test test-fast bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[llm,dev]'
	$(BIN)/localread models path >/dev/null
	touch $(STAMP)

demo: setup
	$(BIN)/localread tour $(EXAMPLE)

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
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
	rm -rf $(VENV) build *.egg-info
