# The README's two commands: `make demo` and `make test`. Each sets up .venv on a fresh machine
# (pinning torch==2.13.0 only when no torch is importable) and re-runs in seconds once set up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-stamp
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup demo test test-all workloads bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || { echo "installing torch==2.13.0 (CPU build)"; $(PY) -m pip install -q "torch==2.13.0"; }
	$(PY) -m pip install -q -e ".[dev,ray]"
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/sparoa demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest

# Regenerate the shipped workload graphs from the model zoo (needs torch; takes a few minutes).
workloads: setup
	$(PY) -m sparoa_sim.real.models.regenerate

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
