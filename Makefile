# Two commands matter: `make demo` runs the server with the sample site and widget,
# `make test` runs every test. Both create the virtualenv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := . $(sort $(dir $(wildcard plugins/*/pyproject.toml))) examples/chatkit_canned
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench system-deps clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) examples/chatkit_canned/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' $(addprefix -e ,$(filter-out .,$(PACKAGES)))
	touch $(STAMP)

install: $(STAMP)

# Indexes web/ first (only changed pages are redone); the chat works, ungrounded, even if that fails.
demo: install
	-$(BIN)/chatkit index --config demo/chatkit.toml
	$(BIN)/chatkit serve --config demo/chatkit.toml

system-deps:
	bash scripts/system-deps.sh

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
