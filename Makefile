# CNN Lab -- two commands: `make book` and `make test` (see README.md).
# Both create .venv on first use and reuse it afterwards.

# bash, so that a failed `pip install` fails make although its noise is filtered (pipefail)
SHELL  := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cnnlab-installed
# The CPU build of PyTorch (a plain `torch` would pull a CUDA build of several GB).
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: help setup sysdeps test book bench clean

help:
	@echo "make test   set up .venv and run every test"
	@echo "make book   set up .venv and build the executed website into book/_build/html"
	@echo "make bench  run the benchmarks of cnnlab.ref and cnnlab.gpu (prints ratios against torch)"
	@echo "make clean  remove build outputs (keeps .venv)"

setup: $(STAMP)

# pip's harmless "... is ignored" lines are filtered out; any failure of pip still stops make
$(STAMP): pyproject.toml autograder/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	set -o pipefail; $(BIN)/python -m pip install -q "$(TORCH)" 2>&1 | { grep -v "is ignored" || true; }
	set -o pipefail; $(BIN)/python -m pip install -q -e ".[dev,book,grade]" -e ./autograder 2>&1 | { grep -v "is ignored" || true; }
	$(BIN)/python -c "import cnnlab, cnnlab_grade, torch, numba"
	@touch $@

sysdeps:
	@bash .ci/sysdeps.sh

test: setup sysdeps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

book: setup
	$(BIN)/jupyter-book build -W -n --keep-going book/

bench: setup
	$(BIN)/python benchmarks/bench_ref.py
	$(BIN)/python benchmarks/bench_gpu.py

clean:
	rm -rf book/_build .pytest_cache .hypothesis
