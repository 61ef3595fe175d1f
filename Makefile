# Everything runs from a local virtualenv that `make` builds (and rebuilds when requirements change).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := wsgi
export PORT

.PHONY: install run web worker test lint format migrate clean faults bench-ingest bench-api bench-e2e bench-shaping bench-cpu bench-instructions

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed  ## Create .venv with runtime and test dependencies

run: install  ## Web + worker on the embedded default (SQLite, console SMS, offline AI)
	$(BIN)/flask db upgrade
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start -f Procfile.dev

web: install  ## Only the web process
	$(BIN)/flask db upgrade
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

worker: install  ## Only the Celery worker
	$(BIN)/celery -A wsgi:celery_app worker --loglevel=INFO

# The suite runs on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto

test: install  ## The whole test suite (SQLite unless TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Process-level fault tests: real gunicorn and Celery processes on PostgreSQL + Redis.
FAULTS_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
FAULTS_REDIS_URL ?= redis://127.0.0.1:6379/0

faults: install  ## Kill workers, stop the broker, fail OpenAI/Twilio stand-ins (CI runs this)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-$(FAULTS_DATABASE_URL)} \
	TEST_REDIS_URL=$${TEST_REDIS_URL:-$(FAULTS_REDIS_URL)} \
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

# Benchmarks, run by hand on PostgreSQL + Redis; each prints its figures (see bench/README.md).
bench-ingest: install  ## Signed webhooks per second against gunicorn, beside an empty-TwiML ceiling
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.ingest $(BENCH_ARGS)

bench-api: install  ## API latency, CPU and statements per request at 100,000 and 1,000,000 tasks
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.api $(BENCH_ARGS)

bench-e2e: install  ## 1,000 messages through web, Redis, workers and a 500 ms model stand-in
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.e2e $(BENCH_ARGS)

bench-cpu: install  ## CPU per webhook and per task in one process, and Celery's own per job
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.pipeline_cpu $(BENCH_ARGS)

bench-instructions: install  ## Instructions per webhook and per task under valgrind: the same on a busy host
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.instructions $(BENCH_ARGS)

bench-shaping: install  ## Shape 200+ model answers for each tier: chars per segment, cuts, UCS-2, MORE
	$(BIN)/python -m bench.shaping $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install  ## Autogenerate a migration after a model change: make migrate m="what changed"
	$(BIN)/flask db migrate -m "$(m)"

clean:
	rm -rf $(VENV) instance .pytest_cache
