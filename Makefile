# Two commands do all the set-up on a fresh machine:
#   make demo    — the main job: `critic reproduce` on the IMDB data (installs the runtime only)
#   make test    — the fast tier: ruff, mypy and every test not marked slow (a few minutes)
#   make verify  — the slow tier: what needs all of IMDB's training or a Ray cluster
# (integration tests need CRITIC_DATA; .ci/run runs test, then verify.)
VENV ?= .venv
PY := $(VENV)/bin/python
# The local copy beside the repository, when there is one; otherwise critic resolves the data
# itself ($CRITIC_DATA, then its cache, then a verified download). Absolute, so the tests'
# subprocesses started in other folders (the notebook's kernel) find it too.
CRITIC_DATA ?= $(abspath $(wildcard ../shared/data/aclImdb_v1.tar.gz))
ifneq ($(CRITIC_DATA),)
export CRITIC_DATA
endif

.PHONY: install demo test verify docs lint bench clean

# Python writes each module's bytecode (.pyc) when it first imports it, unless
# PYTHONDONTWRITEBYTECODE is set, as it is in some containers: then every process compiles
# PyTorch's sources again (2.3 s of each `critic` command here, and of each test that starts
# one). The install below skips compiling at install time (--no-compile) on the strength of
# the lazy write, so under make that write is always on.
unexport PYTHONDONTWRITEBYTECODE

# The runtime alone: what `make demo` needs (no Ray, no test tools).
$(VENV)/.runtime: pyproject.toml
	python3 -m venv $(VENV)
	# The CPU build of PyTorch first: with it present, `torch>=…` pulls no CUDA build.
	# --no-compile: Python compiles what is imported when it is first imported, not all of
	# PyTorch's and SciPy's modules at install time (the first command's wait).
	$(PY) -m pip install -q --no-compile torch==2.13.0
	$(PY) -m pip install -q --no-compile -e .
	touch $@

# The test tools, Ray and the docs' tools on top, for `make test`, `make verify`, `make docs`.
$(VENV)/.installed: $(VENV)/.runtime
	$(PY) -m pip install -q -e '.[test,ray,docs,pretrain]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.runtime
	$(VENV)/bin/critic reproduce --overwrite

# One worker per core, each test file on one worker (tests/conftest.py says why). pytest's
# exit status is make's: 5 (no test collected) fails like any other.
test: install
	$(VENV)/bin/ruff check src tests benchmarks
	@# mypy takes 20 s of one core from a fresh clone (an empty cache): it runs beside the
	@# tests, its report printed after theirs; either failing fails make (pytest's status
	@# first, so that 5, no test collected, shows).
	@$(VENV)/bin/mypy > $(VENV)/.mypy-report 2>&1 & checker=$$!; \
	$(PY) -m pytest -q -n auto -m "not slow"; tests=$$?; \
	wait $$checker; typed=$$?; echo "mypy:"; cat $(VENV)/.mypy-report; \
	if [ $$tests -ne 0 ]; then exit $$tests; fi; exit $$typed

verify: install
	$(PY) -m pytest -q -n auto -m slow

# The documentation site, built with --strict: a broken link or reference fails.
docs: install
	$(VENV)/bin/mkdocs build --strict

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

bench: $(VENV)/.bench
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_reproduce.py
	$(PY) benchmarks/bench_predict.py
	# needs Debian's wrk: apt-get install wrk
	$(PY) benchmarks/bench_serve.py

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache
