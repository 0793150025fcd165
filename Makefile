# Quick start: `make demo` (train the default image recipe on bundled MNIST digits)
# and `make test` (the whole suite). Both create .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU wheel of torch lies on this project's machines; installing it first keeps
# pip from pulling a multi-GB CUDA build for the package's torch range.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-slow bench mutation install install-dev clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q $(TORCH) -e '.[dev]'  # torch named too: the text extra's transformers must not pull a CUDA build
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

# Mutation testing (benchmarks/README.md §12): mutmut mutates gankit/objectives/, nets/layers.py,
# recipes/adversarial.py and train/dist.py ([tool.mutmut] in pyproject.toml) and runs the targeted tests that
# cover each mutant: every mutant of the first three and of dist.py, a seeded sample of 150 of adversarial.py's
# ~575 (all of them: MUTANTS=--all, ~2.5 h on 2 cores). ~40 min on 2 cores; results are cached in mutants/
# (delete it for a fresh run); `.venv/bin/mutmut show NAME` prints one mutant's diff.
MUTANTS ?= --sample 150
mutation: install-dev
	$(PY) -m pip install -q -e '.[mutation]'
	test -d mutants || OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children 2 no-such-mutant || true
	OMP_NUM_THREADS=1 nice -n 19 $(VENV)/bin/mutmut run --max-children 2 $$($(PY) benchmarks/mutation_sample.py $(MUTANTS))
	$(PY) benchmarks/mutation_summary.py mutants > benchmarks/results_mutation.json

clean:
	rm -rf $(VENV) runs build *.egg-info
