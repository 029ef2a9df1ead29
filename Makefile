# encoderlab: the two commands are `make book` and `make test` (see README.md).
# Both start from nothing: they create .venv, install torch==2.13.0 and the pinned requirements.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where torch==2.13.0 comes from: the default index, or (TORCH_INDEX=...) a CPU-only one, as the CI workflow does.
TORCH_INDEX ?=
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb)) $(sort $(wildcard assignments/*.ipynb))

# Identical, CPU-only, quiet runs everywhere.
export CUDA_VISIBLE_DEVICES :=
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: weights help install book test lint workflows unit nbval html browser screenshots chromium execute assignments assignments-sync assignments-check colab colab-check colab-sim singlehtml pdf pdf-check clean

help:
	@echo "make book     build the HTML book into _build/html from the committed notebook outputs"
	@echo "make test     lint, unit tests, strict nbval on every chapter, the HTML build, then the browser test"
	@echo "make browser  build the HTML, then open every page offline in headless Chromium and check it"
	@echo "              (missing figure alt text and unreadably small figure text fail too; BOOK_STRICT_A11Y=0 makes them warnings)"
	@echo "make screenshots  every page at desktop (1280 px) and phone (390 px) width into _build/screenshots/"
	@echo "make colab    Colab-ready copies of the chapters (plain Markdown, an empty cell before every solution) -> _build/colab/"
	@echo "make colab-sim  run every chapter from a fresh, Colab-like install of the package (part of make test)"
	@echo "make pdf      the whole book as one PDF (Chromium prints the single-page build) -> _build/pdf/"
	@echo "make execute  re-execute every chapter notebook and assignment master in place on CPU (after changing src/)"
	@echo "make assignments  student notebooks and autograder zips for every assignment master -> _build/assignments/"
	@echo "make weights  train the book's autoencoders from nothing (runs/kl-f8, runs/kl-f4; resumable, about two hours on a CPU)"
	@echo "make clean    remove _build (keeps .venv)"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

book: html

html: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . --builder html --warningiserror --nitpick --keep-going

lint: $(STAMP)
	$(BIN)/ruff check src tests chapters assignments book benchmarks conftest.py

# The GitHub Actions workflow (.github/workflows), checked by actionlint (a binary shipped in a PyPI wheel).
workflows: $(STAMP)
	$(BIN)/actionlint .github/workflows/*.yml

# Two workers: most unit tests pin one thread (tests/conftest.py), so two run side by side on two cores.
unit: $(STAMP)
	$(BIN)/pytest tests -q -n 2

nbval: $(STAMP)
	$(BIN)/pytest chapters assignments -q --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=300

# The browser test: Debian's Chromium driven by the pinned Playwright (never `playwright install`).
# It is installed here when missing (CI runs as root; elsewhere through sudo), once, quietly.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# poppler-utils (pdftotext, pdfimages) reads the PDF back in `make pdf-check`.
chromium:
	@test -x $(CHROMIUM) && command -v pdftotext >/dev/null || { \
	  echo "installing Debian's chromium and poppler-utils (for the browser test and the PDF)"; \
	  $(SUDO) apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core fonts-liberation \
	    poppler-utils >/dev/null; }
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) still missing after apt-get install chromium"; exit 1; }

# Every figure must have alt text and readable text: strict unless BOOK_STRICT_A11Y=0.
BOOK_STRICT_A11Y ?= 1

browser: html colab chromium
	BOOK_STRICT_A11Y=$(BOOK_STRICT_A11Y) BOOK_CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/browser/check_book.py -q

screenshots: html chromium
	BOOK_CHROMIUM=$(CHROMIUM) $(BIN)/python tests/browser/screenshots.py _build/screenshots

test: lint workflows unit nbval colab-sim html colab-check browser pdf-check assignments-check

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

# Colab-ready copies of the chapters (what the Colab buttons open, published on the `colab` branch).
colab: $(STAMP)
	$(BIN)/python book/_tools/colab_copies.py build

colab-check: $(STAMP)
	$(BIN)/python book/_tools/colab_copies.py check

# Every chapter run from a student's Colab install: a fresh venv with what Colab preinstalls, the package as a
# wheel with only its own dependencies, each notebook alone in an empty folder (tests/colab_sim/run.py).
colab-sim: $(STAMP)
	TORCH_INDEX=$(TORCH_INDEX) $(BIN)/python tests/colab_sim/run.py

# The PDF: the single-page HTML build, printed by Chromium with every solution opened.
singlehtml: $(STAMP)
	rm -rf _build/singlehtml
	$(BIN)/jupyter-book build . --builder singlehtml --warningiserror --keep-going

pdf: singlehtml chromium
	BOOK_CHROMIUM=$(CHROMIUM) $(BIN)/python book/_tools/pdf.py build

pdf-check: pdf
	$(BIN)/python book/_tools/pdf.py check

# The named training runs of encoderlab.train.recipes, all at once (one CPU thread each, logs in runs/NAME.log),
# then each exported into the package with its model card. Run again to continue after an interruption (each
# resumes from its newest intact checkpoint). About two and a quarter hours on 2 cores with AVX-512 BF16 (the
# recipes' docstring); not part of `make test`.
RECIPES ?= kl-f8 kl-f4
weights: $(STAMP)
	@mkdir -p runs; pids=""; for r in $(RECIPES); do \
	  echo "training $$r into runs/$$r (log: runs/$$r.log)"; \
	  $(BIN)/python -m encoderlab.train --recipe $$r --out runs/$$r --resume auto --no-samples --threads 1 \
	    --no-progress > runs/$$r.log 2>&1 & pids="$$pids $$!"; \
	done; for p in $$pids; do wait $$p || { echo "a training run failed: see runs/*.log"; exit 1; }; done
	@for r in $(RECIPES); do \
	  $(BIN)/python -m encoderlab.train.publish --recipe $$r --run runs/$$r --into src/encoderlab/trained || exit 1; \
	done

clean:
	rm -rf _build
