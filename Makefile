# Every step that sets the project up lives here, so a fresh clone needs only `make run`
# or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Pinned, hashed dependencies (see `make lock`): the image installs LOCK, the venv DEV_LOCK
# (the same pins plus the dev tools), the image's wheel stage BUILD_LOCK.
LOCK := .lock/requirements.txt
DEV_LOCK := .lock/requirements-dev.txt
BUILD_LOCK := .lock/requirements-build.txt
# `make lock` keeps the pins it can; `make lock LOCK_FLAGS=--upgrade` moves every pin to
# the newest release the ranges in pyproject.toml allow.
LOCK_FLAGS ?=
UV_COMPILE := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' $(LOCK_FLAGS)

.PHONY: run once test lint typecheck browser bench soak check clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(DEV_LOCK) | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Regenerate the lock files from pyproject.toml (needs the network). uv comes from the dev
# lock once the venv is installed; only a clone without lock files takes the latest.
lock: | $(BIN)/python
	test -x $(BIN)/uv || $(BIN)/pip install --quiet uv
	$(UV_COMPILE) pyproject.toml --extra postgres -o $(LOCK)
	$(UV_COMPILE) pyproject.toml --extra dev --extra postgres -c $(LOCK) -o $(DEV_LOCK)
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(UV_COMPILE) - -o $(BUILD_LOCK)

run: $(STAMP)
	$(BIN)/monitor run

once: $(STAMP)
	$(BIN)/monitor run --once

check: $(STAMP)
	$(BIN)/monitor check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/test_browser.py renders a digest in headless Chromium: Debian's package, installed
# here when it is missing and we may (root); otherwise those tests skip, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for tests/test_browser.py"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			>/dev/null 2>&1 || echo "chromium could not be installed: browser tests will skip"; \
	else echo "no chromium and not root: browser tests will skip"; fi

test: lint typecheck browser
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/match.py
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/signal.py
	$(BIN)/python bench/fulltext.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/digest.py

# Twenty minutes of the job on 500 changing loopback feeds: memory and descriptors over time.
soak: $(STAMP)
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) state/monitor.db* state/digests/*
