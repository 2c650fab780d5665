# The two commands of the README; both create .venv and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench contracts clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/bvgconnect up

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_outbox_inbox.py
	$(BIN)/python benchmarks/bench_cold_start.py
	$(BIN)/python benchmarks/bench_price_cli.py
	$(BIN)/python benchmarks/bench_pricing_service.py
	$(BIN)/python benchmarks/bench_coverage_domain.py
	$(BIN)/python benchmarks/bench_coverage_service.py
	$(BIN)/python benchmarks/bench_coverage_service.py --instances 2
	$(BIN)/python benchmarks/bench_dunning_day.py
	$(BIN)/python benchmarks/bench_auth_tokens.py
	$(BIN)/python benchmarks/bench_auth_login.py
	$(BIN)/python benchmarks/bench_pipeline.py

contracts: $(STAMP)
	$(BIN)/bvgconnect contracts export

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
