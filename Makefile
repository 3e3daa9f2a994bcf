# Two commands matter: `make demo` runs the server with the sample site and widget,
# `make test` runs every test. Both create the virtualenv and build the widget on first use.
#
# Installs come from uv.lock (every direct and transitive dependency, pinned): `make install`
# syncs .venv/ to it exactly. `make lock` refreshes it after a pyproject.toml changes or to take
# new releases; `make test-latest` runs the suite against the newest releases instead.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# uv itself is pinned by the lock too (dev group): bootstrap that very version.
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"/\1/p;}' uv.lock)
STAMP := $(VENV)/.installed
LATEST := .venv-latest
PACKAGES := . $(sort $(dir $(wildcard plugins/*/pyproject.toml))) examples/chatkit_canned/
# pytest-xdist: one test process per core; tests that start servers pick free ports.
PYTEST_WORKERS ?= auto
# The widget bundle (esbuild, from npm): widget/build.py rebuilds it when what it is made of changed.
WIDGET := widget/dist/chatkit.js
WIDGET_INPUTS := $(wildcard widget/src/*.js) widget/build.mjs widget/package.json widget/package-lock.json \
	chatkit_core/VERSION
# Tests that start no outside program (redis-server, PostgreSQL, nginx, Chromium, a fresh venv, an image).
FAST := not browser and not redis and not postgres and not nginx and not slow

.PHONY: install widget demo test check test-latest lint types lock bench system-deps clean

$(STAMP): pyproject.toml uv.lock $(wildcard plugins/*/pyproject.toml) examples/chatkit_canned/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) sync --frozen --quiet --python $(BIN)/python
	touch $(STAMP)

install: $(STAMP) $(WIDGET)

$(WIDGET): $(WIDGET_INPUTS)
	command -v npm >/dev/null || bash scripts/system-deps.sh
	$(PYTHON) widget/build.py

widget: $(WIDGET)

# Indexes web/ first (only changed pages are redone); the chat works, ungrounded, even if that fails.
demo: install
	-$(BIN)/chatkit index --config demo/chatkit.toml
	$(BIN)/chatkit serve --config demo/chatkit.toml

system-deps:
	bash scripts/system-deps.sh

lint: install
	$(BIN)/ruff check .

types: install
	$(BIN)/mypy

# Fresh virtualenvs the tests make install the locked versions too (pip reads PIP_CONSTRAINT).
$(VENV)/constraints.txt: uv.lock $(STAMP)
	$(UV) export --frozen --quiet --no-emit-workspace --no-hashes --no-header --no-annotate -o $@

test: install system-deps lint types $(VENV)/constraints.txt
	PIP_CONSTRAINT=$(abspath $(VENV)/constraints.txt) $(BIN)/pytest -n $(PYTEST_WORKERS)

# The fast tier for developers: lint, types and the tests that start no outside program.
check: lint types
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "$(FAST)" -q

# The suite against the newest release of every dependency, in a venv of its own, ignoring the lock.
test-latest: install system-deps
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(BIN)/python $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade --group dev $(addprefix -e ,$(PACKAGES))
	$(UV) pip list --python $(LATEST)/bin/python --outdated 2>/dev/null | head -n 40 || true
	$(LATEST)/bin/ruff check .
	$(LATEST)/bin/mypy
	$(LATEST)/bin/pytest -n $(PYTEST_WORKERS)

# Re-resolve uv.lock: after editing a pyproject.toml, or `make lock UPGRADE=1` for new releases.
lock: install
	$(UV) lock $(if $(UPGRADE),--upgrade,)

bench: install
	$(UV) sync --frozen --quiet --python $(BIN)/python --group bench
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache .mypy_cache .hypothesis widget/dist widget/node_modules
