# segwork: `make help` lists the targets. The first target that needs it creates .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/demo.yaml
LOCK   := requirements.lock

.DEFAULT_GOAL := help
.PHONY: help report test system-deps lab demo lint format bench bench-all clean lock

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-8s %s\n", $$1, $$2}'

# Installs come from the lock: the exact versions the test suite last passed with.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lock: ## Re-resolve pyproject.toml's dependencies (with test extras) into requirements.lock
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[test]'
	( echo "# The exact versions \`make\` installs. Update: make lock, then make test, then commit."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^segwork' ) > $(LOCK)
	rm -rf .venv-lock build

data/demo/truth/truth.json: | $(STAMP)
	$(BIN)/segwork demo --out data/demo

demo: $(STAMP) ## (Re)generate the demo CRM data in data/demo
	$(BIN)/segwork demo --out data/demo

report: $(STAMP) data/demo/truth/truth.json ## Full report run on the demo data -> reports/latest/index.html
	env -u MPLBACKEND $(BIN)/segwork run --config $(CONFIG)

system-deps: ## Install Java, PostgreSQL and Chromium for the integration tests, if missing
	@bash scripts/system-deps.sh

test: $(STAMP) system-deps ## Run all tests: unit, statistical, end-to-end, Spark, PostgreSQL, browser
	env -u MPLBACKEND OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# JupyterLab refuses to start as root without --allow-root (containers and CI run as root).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(STAMP) ## Open the notebooks in JupyterLab (also as root)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[test,lab]'
	cd notebooks && env -u MPLBACKEND $(abspath $(BIN))/jupyter lab $(LAB_ROOT)

bench: $(STAMP) ## Scale benchmarks: 1M-100M orders, runs at 20k/200k customers (~25 min, ~4 GB disk)
	$(BIN)/python benchmarks/bench_scale.py --orders 1e6 1e7 1e8
	env -u MPLBACKEND $(BIN)/python benchmarks/bench_run.py --customers 20000 200000

bench-all: bench ## bench, then the model benchmarks (BG/NBD fit, A/B tests, clustering)
	$(BIN)/python benchmarks/bench_clv.py
	$(BIN)/python benchmarks/bench_abtest.py
	$(BIN)/python benchmarks/bench_clusters.py

clean: ## Remove generated data, reports and the environment
	rm -rf $(VENV) .venv-oracles data/demo reports/runs reports/latest reports/index.html reports/scratch
