# The two commands every contributor needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check clean lock services-up services-down

LOCK := requirements.lock

# uv (itself from the package index) installs in seconds what pip takes minutes for; pip is the
# fallback. The lock pins every dependency's version (as constraints: a dependency added to
# pyproject.toml before `make lock` still installs, at its newest version).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "make: installing gateway-kit and its dependencies into $(VENV)..."
	@if $(BIN)/python -m pip install -q uv && $(BIN)/uv pip install --python $(BIN)/python -c $(LOCK) -e '.[dev]'; then :; else \
	  echo "make: uv did not install them; using pip (slower)"; \
	  $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -c $(LOCK) -e '.[dev]'; fi
	@touch $(STAMP)

# Re-pin every dependency (after changing pyproject.toml's dependencies).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o $(LOCK)

demo: $(STAMP)
	$(BIN)/gateway-kit demo

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gateway_kit tests bench examples docs
	$(BIN)/ruff format --check gateway_kit tests bench examples docs

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
