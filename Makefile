# speechnb: every target sets itself up on a fresh machine (creates .venv, installs) and is quick once installed.
SHELL := /bin/bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-fast lab check-sync nbtest pytest bench data clean sysdeps

$(STAMP):
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# System packages the browser test needs (Debian's chromium); installed once, as the machine's root.
sysdeps:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (Debian) for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "WARNING: could not install chromium; the browser test will be skipped"; }

## The main job on the bundled demo data: keyword spotting, held-out speakers.
demo: install
	$(BIN)/speechnb train configs/demo.json

## JupyterLab on nbs/
lab: install
	$(BIN)/jupyter lab --notebook-dir=nbs

## Notebooks and package must agree: export + clean, then nothing may differ from git.
check-sync: $(if $(NO_INSTALL),,install)
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/python tools/make_readme.py
	@if [ -n "$$(git status --porcelain -- speechnb nbs README.md)" ]; then \
	  echo "ERROR: notebooks and exported package (or README) are out of sync, or notebooks are not clean:"; \
	  git status --porcelain -- speechnb nbs README.md; git --no-pager diff --stat -- speechnb nbs README.md; exit 1; fi
	@echo "notebooks, package and README are in sync"

nbtest: install
	SPEECHNB_DEBUG=1 $(BIN)/nbdev-test --flags slow --n-workers 2 --timing

pytest: install sysdeps
	$(BIN)/python -m pytest tests -q -rs

## Everything CI runs: sync check, every notebook (slow cells included), then pytest.
test: check-sync nbtest pytest

## For your own loop only (CI never uses it): skips cells flagged slow and pytest's slow tests.
test-fast: install
	SPEECHNB_DEBUG=1 $(BIN)/nbdev-test --n-workers 2
	$(BIN)/python -m pytest tests -q -m "not slow"

bench: install
	$(BIN)/python bench/data.py; $(BIN)/python bench/models.py; $(BIN)/python bench/loop.py; $(BIN)/python bench/speech_to_text.py

## Regenerates data/demo (needs espeak-ng and sox: apt-get install espeak-ng sox)
data: install
	$(BIN)/python tools/make_demo_data.py --out data/demo

clean:
	rm -rf $(VENV) runs .cache
