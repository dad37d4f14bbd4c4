# Two commands on a fresh machine:  make run  |  make test
# Both create .venv from the pinned lock (requirements.lock) when it is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all
CONFIG ?=

.PHONY: run test test-fast lint venv lock clean-results bench

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . || \
	    $(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The whole study on the embedded synthetic dataset (or CONFIG=overlay.yaml on top of config.yaml).
run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile config.yaml $(CONFIG))
	$(BIN)/snakemake --report private/report.html $(if $(CONFIG),--configfile config.yaml $(CONFIG))
	$(BIN)/python -m mcdetect.privacy private/report.html results/report.html \
	    --sources private/sources.tsv --configfile config.yaml $(CONFIG)
	@echo "Dataset: results/dataset/summary.md (manifest images.tsv, mcs.tsv, folds.tsv beside it)"
	@echo "Preprocessed images: results/preprocessed/{raw,dehaze,clahe}/, masks: results/masks/"
	@echo "Figures: results/figures/; training curves: results/training/; held-out scores: results/predictions/"
	@echo "Table 3 replica: results/evaluation/table3.md; Fig. 3: results/figures/fig3_average_roc.png"
	@echo "Summary of the study (Markdown): results/report/summary.md"
	@echo "Report (one self-contained HTML file, source files named by pseudonyms only): results/report.html"
	@echo "Never share private/ (the map from pseudonyms to your files) or logs/ (they name files)"

# Everything: lint, the unit tests, then the tiny study built once and the tests that read it.
test: lint
	$(BIN)/pytest

# Day-to-day: the tests that need no built study (pytest -m "not slow"), without lint.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

# ruff on the Python, snakefmt (formatting) and snakemake --lint (best practices) on the workflow.
lint: $(STAMP)
	$(BIN)/ruff check src workflow tests $(wildcard benchmarks)
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

# Regenerate requirements.lock from requirements.in in a scratch venv.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -r requirements.in
	{ echo "# Pinned lock of requirements.in for Python 3.11 on Linux x86_64 (regenerate: make lock)."; \
	  .lockvenv/bin/pip freeze | grep -v -e '^-e' -e '^#'; } > requirements.lock
	rm -rf .lockvenv

clean-results:
	rm -rf results data/synthetic
