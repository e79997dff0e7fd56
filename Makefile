# `make run` installs and starts the platform; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# The platform's packages, then the nango package (SDK, client, `nango` CLI) editable, so
# the venv's `nango` command runs this tree's code.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# The official @nangohq/node and @nangohq/frontend, for the end-to-end compatibility tests
# (needs npm).
NODE_CLIENT := tests/e2e/node/node_modules/.installed
$(NODE_CLIENT): tests/e2e/node/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/e2e/node --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the @nangohq/node and @nangohq/frontend tests will be skipped"; fi

.PHONY: install run test lint bench
install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py serve

test: install $(NODE_CLIENT)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run -v0
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/bench_sync.py
	$(PY) bench/bench_async.py
