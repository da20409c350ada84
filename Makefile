# Every target creates and uses .venv on its own; only python3 (3.11+) and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Pipecat lives in its own environment, used only by the benchmark's comparison side.
BENCH_VENV := .venv-pipecat
PIPECAT_VERSION := 1.14.0

.PHONY: demo inspect test lint bench format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,postgres,otlp,pgmq]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pipebus demo

# The inspector on the newest session of the default log (the demo's, after make demo).
inspect: $(STAMP)
	$(BIN)/pipebus inspect --session last

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet 'pipecat-ai[pgmq]==$(PIPECAT_VERSION)' 'redis[hiredis]>=5'
	touch $@

# Redis at $$PIPEBUS_BENCH_REDIS (default redis://127.0.0.1:6379/0) for benchmarks.over_redis;
# PostgreSQL at $$PIPEBUS_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test).
PIPEBUS_BENCH_POSTGRES ?= postgresql://postgres@127.0.0.1:5432/test
bench: $(STAMP) $(BENCH_VENV)/.installed
	$(BIN)/python -m benchmarks.run --pipecat-python $(BENCH_VENV)/bin/python
	$(BIN)/python -m benchmarks.tracing --pipecat-python $(BENCH_VENV)/bin/python
	$(BIN)/python -m benchmarks.over_redis --pipecat-python $(BENCH_VENV)/bin/python
	$(BIN)/python -m benchmarks.redis_jobs --pipecat-python $(BENCH_VENV)/bin/python --repeat 5
	$(BIN)/python -m benchmarks.loop_watchdog
	$(BIN)/python -m benchmarks.eventlog
	$(BIN)/python -m benchmarks.eventlog --postgres $(PIPEBUS_BENCH_POSTGRES)
	$(BIN)/python -m benchmarks.pg_shared_session --url $(PIPEBUS_BENCH_POSTGRES)
	$(BIN)/python -m benchmarks.pg_shared --url $(PIPEBUS_BENCH_POSTGRES)
	$(BIN)/python -m benchmarks.pgmq_jobs --pipecat-python $(BENCH_VENV)/bin/python
	$(BIN)/python -m benchmarks.append_split
	$(BIN)/python -m benchmarks.sqlite_indexes
	$(BIN)/python -m benchmarks.inspector
	$(BIN)/python -m benchmarks.readme

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache
