# CNN Lab -- two commands: `make book` and `make test` (see README.md).
# Both create .venv on first use and reuse it afterwards.

# bash, so that a failed `pip install` fails make although its noise is filtered (pipefail)
SHELL  := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.cnnlab-installed
# Every package of the environment at its exact version (`make lock` refreshes it).
LOCK   := requirements.lock
# PyTorch's CPU build, pinned in the lock; it is installed first, from pip's
# configured indexes, else from PyTorch's CPU index (a plain `torch` would pull
# a CUDA build of several GB).
TORCH_PIN   = $(shell grep -E '^torch==' $(LOCK))
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=
# pip's notes about local index folders that lack a package are noise; its exit status still counts.
QUIET  := 2>&1 | { grep -v "is ignored" || true; }
DIST   ?= dist
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: help setup sysdeps test book pdf notebooks release lock bench clean

help:
	@echo "make test     set up .venv and run every test"
	@echo "make book     set up .venv, build the executed website into book/_build/html (with the PDF)"
	@echo "make pdf      build the whole book as one PDF (book/_build/html/cnnlab-book.pdf)"
	@echo "make notebooks  write the Colab notebooks of the chapters and assignments (commit them)"
	@echo "make release VERSION=x.y.z   set the version and put wheel, sdist, site, PDF and student zips into dist/"
	@echo "make lock     refresh requirements.lock and environment.yml (UPGRADE=1: newest allowed versions)"
	@echo "make bench    run the benchmarks of cnnlab.ref and cnnlab.gpu (prints ratios against torch)"
	@echo "make clean    remove build outputs (keeps .venv)"

setup: $(STAMP)

$(STAMP): pyproject.toml autograder/pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH_PIN)" $(QUIET) || $(PIP) install -q --index-url $(TORCH_INDEX) "$(TORCH_PIN)" $(QUIET)
	$(PIP) install -q -r $(LOCK) $(QUIET)
	$(PIP) install -q --no-deps --no-build-isolation -e . -e ./autograder $(QUIET)
	$(BIN)/python .ci/lock.py prune
	$(PIP) check
	$(BIN)/python -c "import cnnlab, cnnlab_grade, torch, numba"
	@touch $@

lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/pip-compile || $(PIP) install -q "pip-tools>=7.4" $(QUIET)
	$(BIN)/python .ci/lock.py $(if $(UPGRADE),--upgrade)

sysdeps:
	@bash .ci/sysdeps.sh

test: setup sysdeps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

book: setup notebooks
	$(BIN)/jupyter-book build -W -n --keep-going book/
	$(MAKE) --no-print-directory pdf

# One page holding every chapter (the execution cache of `make book` is reused),
# printed by headless Chromium once MathJax has typeset it.
pdf: setup
	$(BIN)/jupyter-book build -W -n --keep-going --builder singlehtml book/ > book/_build/singlehtml.log \
	  || { tail -n 40 book/_build/singlehtml.log; exit 1; }
	$(BIN)/python .ci/book_pdf.py

# Each chapter's .ipynb beside its .md, and the first cell of each assignment:
# what Colab opens (see .ci/notebooks.py).
notebooks: setup
	$(BIN)/python .ci/notebooks.py

release: setup
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z" >&2; exit 2; }
	$(BIN)/python .ci/release.py set-version "$(VERSION)"
	$(MAKE) --no-print-directory book
	$(BIN)/python .ci/release.py package --dist "$(DIST)"

bench: setup
	$(BIN)/python benchmarks/bench_ref.py
	$(BIN)/python benchmarks/bench_gpu.py

clean:
	rm -rf book/_build .pytest_cache .hypothesis dist build
