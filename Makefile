# Quick start: `make demo` (train the default image recipe on bundled MNIST digits)
# and `make test` (the whole suite). Both create .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU wheel of torch lies on this project's machines; installing it first keeps
# pip from pulling a multi-GB CUDA build for the package's torch range.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-slow bench install install-dev clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(VENV)/bin/gankit demo

test: install-dev
	$(PY) -m pytest -q -m "not slow"

test-slow: install-dev
	$(PY) -m pytest -q -m slow

bench: install
	$(PY) benchmarks/bench_step.py

clean:
	rm -rf $(VENV) runs build *.egg-info
