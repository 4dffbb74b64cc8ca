# One entry point: `make demo` (set up + main job), `make test` (set up + tests).
# The virtual environment lives in .venv; torch/torchvision are pinned to the pair that
# installs on this kind of machine (PyPI's CUDA build, which also runs on the CPU).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# Another torch build (CUDA version, CPU only): make setup TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench gpu-check clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e '.[test,workflow]'
	touch $(STAMP)

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 2
	@echo "Tables: results/tables/<group>.tex|.csv  Figures: results/figures/  Aggregates: results/aggregates/"
	@echo "HTML report: $(BIN)/snakemake --report report.html"
	@echo "What to read from it (dca report summary):"
	@$(BIN)/python -m dca report summary --config params.yaml

# Formatting is enforced: ruff here, snakefmt in tests/workflow/test_catalog.py.
test: lint
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check dca tests
	$(BIN)/ruff format --check dca tests

bench: setup
	$(BIN)/python -m dca.bench models

# The GPU check, sized to GPU_CHECK_BUDGET seconds (stages in order of value, each skipped when it cannot fit):
# the machine's own python3 (torch >= 2.11, no package index), the checkout on PYTHONPATH, nothing installed.
# KVASIR: Kvasir-SEG in its download layout (the check also looks in data/Kvasir-SEG and data/raw/Kvasir-SEG).
# On a CPU machine: make gpu-check GPU_CHECK_ARGS=--cpu-smoke (checks the path on a few images).
KVASIR ?= $(firstword $(wildcard ../shared/data/Kvasir-SEG) data/Kvasir-SEG)
GPU_CHECK_BUDGET ?= 360
GPU_CHECK_ARGS ?=

gpu-check:
	PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" $(PYTHON) -m dca.bench gpu-check --budget-s $(GPU_CHECK_BUDGET) \
		--kvasir "$(KVASIR)" --config config/gpu-check/unet-kvasir.yaml --tests-root "$(CURDIR)" \
		--work results/gpu-check $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
