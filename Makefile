# sopflow — the two commands: `make run` and `make test`.
# Needs only Python 3.11+ and make; npm (if present) installs the front-end files.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
VENDOR := webapp/static/vendor

.PHONY: run test install assets migrate seed lint format schema bench clean

run: install assets migrate seed ## set up everything and serve the board
	@$(BIN)/sopflow demo-logins
	$(BIN)/sopflow up --host $(HOST) --port $(PORT)

test: install assets ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

install: $(VENV)/.installed

# htmx, CodeMirror + esbuild (the SOP editor) and, for the tests, ical.js from the npm
# registry: nothing is loaded from a CDN and no third-party bundle is committed.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

assets:
	@if command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory node_modules/.package-lock.json && \
	  mkdir -p $(VENDOR) && cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js && \
	  $(MAKE) --no-print-directory $(VENDOR)/editor.js; \
	else \
	  echo "npm not found: the board runs without htmx (plain links and forms), the SOP editor as a plain textarea."; \
	fi

# The SOP editor: our own webapp/frontend/ code bundled with CodeMirror 6 (from npm) by esbuild.
$(VENDOR)/editor.js: $(wildcard webapp/frontend/*.js) node_modules/.package-lock.json
	npm run --silent build:editor

migrate: install
	$(BIN)/sopflow db upgrade

seed: install
	$(BIN)/sopflow seed-demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: install ## regenerate sop_definitions/sop.schema.json from the pydantic model
	$(BIN)/sopflow schema

bench: install
	$(BIN)/python bench/seed.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .ruff_cache
