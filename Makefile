# journey-sim: every target bootstraps .venv (Python 3.12) by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format bench bench-quick baseline clean dashboard browser

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

## dashboard: the interactive dashboard on http://127.0.0.1:8765/ (ARGS="scenario=support_cut ...")
dashboard: $(STAMP)
	$(BIN)/journey-sim task=dashboard $(ARGS)

## browser: Debian's chromium + chromedriver for the dashboard's browser test, when missing
## (apt-get as root; elsewhere the test is skipped, and fails in CI)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver (Debian) for the dashboard's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: chromium or chromedriver missing (apt-get install chromium chromium-driver): the browser test is skipped"; fi

## test: the whole test suite, slow statistical tests included, and the notebooks executed
test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q --nbmake tests notebooks

## test-fast: skip the slow statistical tests
test-fast: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q -m "not slow" --nbmake tests notebooks

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
