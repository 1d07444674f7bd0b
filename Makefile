# Two commands do all set-up: `make launch` and `make test`.
# Each creates (or reuses) .venv, installs what is needed, then runs.
#
# torch: TORCH_SPEC is installed before the project. On Linux without a GPU, a CPU build keeps the
# download small:  make launch TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"
# For a given CUDA version:  make launch TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: launch test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

launch: $(STAMP)
	$(BIN)/tui-gen launch $(ARGS)

# The end-to-end tests run the app in a real terminal under tmux, and served in a headless chromium:
# install them where we can (CI runs as root on Debian); elsewhere each such test is skipped with a note.
# Two pytest-xdist workers, one a core (PYTEST_WORKERS=0: one process). --dist worksteal: each worker starts
# on one half of the tests, in order (so a file's module fixtures are mostly built once), and one that runs
# out takes half of what the other has left; the files with slow tests come first (tests/conftest.py).
PYTEST_WORKERS ?= 2
test: $(STAMP)
	@for tool in tmux chromium; do command -v $$tool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ apt-get install -y -qq $$tool >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $$tool >/dev/null; }; }; } || \
		echo "note: $$tool is not installed, so its end-to-end test will be skipped"; done
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal --durations=15 $(ARGS)

# The lint CI runs before the tests: ruff (pyproject.toml's rules), mypy (strict on the layers
# everything stands on, checked on the rest) and import-linter (the layers' contracts in pyproject.toml).
STRICT := tui_gen/core tui_gen/runs tui_gen/process
lint: $(STAMP)
	$(BIN)/ruff format --check tui_gen tests bench
	$(BIN)/ruff check tui_gen tests bench
	$(BIN)/mypy --strict $(STRICT)
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
