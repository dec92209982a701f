# The two commands of the README. Each creates .venv (pinned) by itself when needed.
.PHONY: build test venv system-deps clean

venv:
	@bash scripts/bootstrap.sh

build: venv  ## the default build: SST-2 demo + MiniLM teacher, pruned and distilled -> verified .pte/.tflite + report
	.venv/bin/edgesdk build --target host $(ARGS)

system-deps:  ## Debian packages for the Kotlin, firmware and ssh checks (apt-get, when root)
	@bash scripts/system_deps.sh

# Two pytest workers by default: lowering (torch.export, the ExecuTorch passes) is
# single-threaded Python, so a second worker uses the core the first leaves idle. A file's
# tests stay on one worker (--dist loadfile), so its module fixtures (whole builds) run once;
# files are queued longest first (tests/conftest.py), not by test count (xdist's default).
TEST_JOBS ?= 2

test: venv system-deps  ## the whole test suite (real runtimes and toolchains, tiny models)
	.venv/bin/python -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=25 $(ARGS)

clean:
	rm -rf build .pytest_cache
