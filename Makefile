# journey-sim: every target bootstraps .venv (Python 3.12) by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format bench bench-quick baseline clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info >= (3, 12), "journey-sim needs Python >= 3.12 (pyenv: 3.12 is pinned in .python-version)"'
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m simulator.kernels.warm
	@touch $(STAMP)

## run: simulate the default scenario (pass Hydra overrides with ARGS="months=24 ...")
run: $(STAMP)
	$(BIN)/journey-sim $(ARGS)

## test: the whole test suite, slow statistical tests included
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

## test-fast: skip the slow statistical tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

## lint: ruff check and format check of the whole repo (also run by the test suite)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: speed and memory of the engine (prints ns per customer-month, bytes per customer)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

## bench-quick: the same at small sizes (a smoke run for CI, seconds; prints figures, asserts none)
bench-quick: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py --quick

## baseline: regenerate the golden baseline on purpose (a change of numbers, in its own commit)
baseline: $(STAMP)
	$(BIN)/python tests/golden_baseline.py --update

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
