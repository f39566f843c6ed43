# Developer entry points. `make render` and `make test` are the two commands of the README;
# CI runs `make test` (.ci/run). Each target installs what it needs on first use.

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
STACK ?= dev
OUT ?= render

BIN := $(VENV)/bin
DEV_STAMP := $(VENV)/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: setup render render-all test lint lock clean

setup: $(DEV_STAMP) $(CHECKOV_STAMP)

# Reinstall whenever a requirements or lock file changes.
$(DEV_STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c constraints-checkov.txt -r requirements-checkov.txt
	touch $@

## render: the main job offline: write the manifests of stack $(STACK) to $(OUT)/$(STACK)
render: $(DEV_STAMP)
	$(BIN)/python -m tools.render --stack $(STACK) --out $(OUT)/$(STACK)

render-all: $(DEV_STAMP)
	for stack in dev staging prod; do $(BIN)/python -m tools.render --stack $$stack --out $(OUT)/$$stack || exit 1; done

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: lint, then the whole suite (unit, policy, app and conformance tests)
test: setup lint
	$(BIN)/python -m pytest

## lock: refresh the lock files from the installed virtualenvs
lock: setup
	{ echo "# Lock file: every package of the development virtualenv at its tested version."; \
	  echo "# Regenerate with: make lock"; $(BIN)/python -m pip freeze; } > constraints.txt
	{ echo "# Lock file: every package of the checkov virtualenv at its tested version."; \
	  echo "# Regenerate with: make lock"; $(CHECKOV_VENV)/bin/python -m pip freeze; } > constraints-checkov.txt

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(OUT)
