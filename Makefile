# The two commands every contributor needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check clean lock services-up services-down

LOCK := requirements.lock
# A uv already on PATH makes the virtualenv too (seconds, not ensurepip's); otherwise uv comes from
# the package index into the new virtualenv. pip is the fallback.
UV ?= $(shell command -v uv 2>/dev/null)

# uv installs in seconds what pip takes minutes for. The lock pins every dependency's version (as
# constraints: a dependency added to pyproject.toml before `make lock` still installs, newest).
$(STAMP): pyproject.toml $(LOCK)
	@echo "make: installing gateway-kit and its dependencies into $(VENV)..."
	@uv="$(UV)"; \
	if [ -n "$$uv" ]; then test -x $(BIN)/python || $$uv venv -q --seed --python $(PYTHON) $(VENV); \
	else test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	  $(BIN)/python -m pip install -q uv && uv=$(BIN)/uv; fi; \
	if [ -n "$$uv" ] && $$uv pip install --python $(BIN)/python -c $(LOCK) -e '.[dev]'; then :; else \
	  echo "make: uv did not install them; using pip (slower)"; \
	  $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -c $(LOCK) -e '.[dev]'; fi
	@touch $(STAMP)

# Re-pin every dependency (after changing pyproject.toml's dependencies).
lock: $(STAMP)
	$(or $(UV),$(BIN)/uv) pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o $(LOCK)

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
