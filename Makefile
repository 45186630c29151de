# wirefeed: the two commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit kafka bench lock clean

$(STAMP): requirements/dev.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements/dev.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

kafka: $(STAMP)  ## fetch the Apache Kafka broker jars from Maven Central (cached in .cache/)
	$(PY) -m consumer.devtools.broker fetch

lint: $(STAMP)
	$(VENV)/bin/ruff check consumer tests bench
	$(VENV)/bin/mypy

test: $(STAMP) kafka lint  ## venv, broker jars, ruff, mypy --strict, all tests against a real broker
	$(VENV)/bin/pytest

unit: $(STAMP)  ## the broker-free tests only, for a quick loop
	$(VENV)/bin/pytest -m "not integration"

demo: $(STAMP) kafka  ## local broker, topics, sample feed, worker, live summary; Ctrl-C stops all
	$(PY) -m consumer.devtools.demo $(DEMO_ARGS)

bench: $(STAMP) kafka  ## benchmarks (not part of make test)
	$(PY) -m pip install -q --require-hashes -r requirements/bench.lock
	$(PY) bench/run_all.py

lock:  ## re-resolve the lock files after changing dependencies in pyproject.toml
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.11 --generate-hashes -o requirements/main.lock
	$(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.11 --extra dev --generate-hashes -o requirements/dev.lock
	$(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.11 --extra dev --extra bench --generate-hashes -o requirements/bench.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
