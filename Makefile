# encoderlab: the two commands are `make book` and `make test` (see README.md).
# Both start from nothing: they create .venv, install torch==2.13.0 and the pinned requirements.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb)) $(sort $(wildcard assignments/*.ipynb))

# Identical, CPU-only, quiet runs everywhere.
export CUDA_VISIBLE_DEVICES :=
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install book test lint unit nbval html browser screenshots chromium execute assignments assignments-sync assignments-check clean

help:
	@echo "make book     build the HTML book into _build/html from the committed notebook outputs"
	@echo "make test     lint, unit tests, strict nbval on every chapter, the HTML build, then the browser test"
	@echo "make browser  build the HTML, then open every page offline in headless Chromium and check it"
	@echo "              (missing figure alt text and unreadably small figure text fail too; BOOK_STRICT_A11Y=0 makes them warnings)"
	@echo "make screenshots  every page at desktop (1280 px) and phone (390 px) width into _build/screenshots/"
	@echo "make execute  re-execute every chapter notebook and assignment master in place on CPU (after changing src/)"
	@echo "make assignments  student notebooks and autograder zips for every assignment master -> _build/assignments/"
	@echo "make clean    remove _build (keeps .venv)"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

book: html

html: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . --builder html --warningiserror --nitpick --keep-going

lint: $(STAMP)
	$(BIN)/ruff check src tests chapters assignments book benchmarks conftest.py

unit: $(STAMP)
	$(BIN)/pytest tests -q

nbval: $(STAMP)
	$(BIN)/pytest chapters assignments -q --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=300

# The browser test: Debian's Chromium driven by the pinned Playwright (never `playwright install`).
# It is installed here when missing (CI runs as root; elsewhere through sudo), once, quietly.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium (for the browser test)"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core fonts-liberation >/dev/null; }
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) still missing after apt-get install chromium"; exit 1; }

# Every figure must have alt text and readable text: strict unless BOOK_STRICT_A11Y=0.
BOOK_STRICT_A11Y ?= 1

browser: html chromium
	BOOK_STRICT_A11Y=$(BOOK_STRICT_A11Y) BOOK_CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/browser/check_book.py -q

screenshots: html chromium
	BOOK_CHROMIUM=$(CHROMIUM) $(BIN)/python tests/browser/screenshots.py _build/screenshots

test: lint unit nbval html browser assignments-check

execute: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
	  echo "executing $$nb"; \
	  $(BIN)/jupyter execute --inplace --timeout=600 --kernel_name=python3 "$$nb" || exit 1; \
	done

assignments: $(STAMP)
	$(BIN)/python assignments/make_assignments.py build

assignments-sync: $(STAMP)
	$(BIN)/python assignments/make_assignments.py sync

assignments-check: $(STAMP)
	$(BIN)/python assignments/make_assignments.py check

clean:
	rm -rf _build
