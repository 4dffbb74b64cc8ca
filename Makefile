# One entry point: `make demo` (set up + main job), `make test` (set up + tests).
# The virtual environment lives in .venv; torch/torchvision are pinned to the pair that
# installs on this kind of machine (PyPI's CUDA build, which also runs on the CPU).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --profile workflow/profiles/local
	@echo "Tables: results/tables/<group>.tex|.csv  Figures: results/figures/  Metrics: results/metrics/"
	@echo "HTML report: $(BIN)/snakemake --report report.html"

test: setup
	$(BIN)/ruff check dca tests
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check dca tests

bench: setup
	$(BIN)/python -m dca.bench models

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
