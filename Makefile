# make lab  — set up .venv when missing, then open the lab
# make test — set up .venv when missing, then run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test lint bench inventory clean

$(BIN)/d2l-lab: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@# The compiled CPU kernels (about a minute); without a compiler Python and torch run.
	-$(BIN)/python -m lab.models.native
	touch $@

lab: $(BIN)/d2l-lab
	$(BIN)/d2l-lab

test: $(BIN)/d2l-lab
	$(BIN)/python -m ruff check lab tui tests benchmarks
	$(BIN)/python -m pytest

bench: $(BIN)/d2l-lab
	$(BIN)/python -m benchmarks

inventory: $(BIN)/d2l-lab
	$(BIN)/python tests/inventory.py --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
