# Everything runs from a local virtualenv that `make` builds (and rebuilds when requirements change).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := wsgi
export PORT

.PHONY: install run web worker test lint format migrate clean

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

test: install  ## The whole test suite (SQLite unless TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
