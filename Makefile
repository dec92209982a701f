# The two commands of the README. Each creates .venv (pinned) by itself when needed.
.PHONY: build test venv system-deps clean

venv:
	@bash scripts/bootstrap.sh

build: venv  ## the default build: SST-2 demo + MiniLM teacher, pruned and distilled -> verified .pte/.tflite + report
	.venv/bin/edgesdk build --target host $(ARGS)

system-deps:  ## Debian packages for the Kotlin, firmware and ssh checks (apt-get, when root)
	@bash scripts/system_deps.sh

test: venv system-deps  ## the whole test suite (real runtimes and toolchains, tiny models; ~60 min on 2 cores)
	.venv/bin/python -m pytest -q --durations=25 $(ARGS)

clean:
	rm -rf build .pytest_cache
