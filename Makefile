# Every step that sets the project up lives here, so a fresh clone needs only `make run`
# or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run once test lint typecheck browser bench check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/monitor run

once: $(STAMP)
	$(BIN)/monitor run --once

check: $(STAMP)
	$(BIN)/monitor check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
	$(BIN)/python bench/digest.py

clean:
	rm -rf $(VENV) state/monitor.db* state/digests/*
