# The quick start: `make demo`, then `make test`. Both create .venv first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# The first Python 3.11+ on PATH, unless PYTHON is given.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { echo $$p; break; }; done)

.PHONY: demo preview test lint bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/digest demo

# The sample week, live, while you edit templates/email/ or sample/.
preview: $(STAMP)
	$(BIN)/digest preview --sample

test: $(STAMP)
	$(BIN)/python -m pytest

# The demo week's build per segment; the ingest of a 5 MB feed of alike
# titles and of one of 20,000 entries on both stores, with the longest a
# write beside it waited; a template save to the refreshed
# preview (in chromium). DKIM: composing signed (RSA, RSA + Ed25519) against
# unsigned. Delivery, each as a ratio to smtp-source in the same run, three
# runs: both stores with one worker at 2 and 8 connections, signed and
# unsigned; PostgreSQL with two workers; `digest send`; a worker's peak RSS
# on a list of a million (stopped after 100,000 sends). Then wrk's one-click
# unsubscribes against gunicorn (sync, and gthread with 4 threads), and
# readers' clicks on counted links (/r/…) through gunicorn, three runs.
bench: $(STAMP)
	$(BIN)/python bench/render.py
	$(BIN)/python bench/ingest.py --stores sqlite,postgresql
	$(BIN)/python bench/preview.py
	bash bench/setup.sh
	$(BIN)/python bench/signing.py --messages 5000 --runs 3
	test -f $(VENV)/bench-dkim.pem || openssl genrsa -out $(VENV)/bench-dkim.pem 2048
	$(BIN)/python bench/delivery.py --subscribers 100000 --connections 2,8 --dkim $(VENV)/bench-dkim.pem
	$(BIN)/python bench/delivery.py --subscribers 100000 --stores postgresql --workers 2 --connections 1,4
	$(BIN)/python bench/delivery.py --subscribers 20000 --via send --connections 2,8 --naive 0
	$(BIN)/python bench/delivery.py --subscribers 1000000 --stores postgresql --stop-after 100000 --naive 0
	$(BIN)/python bench/unsubscribe.py --subscribers 50000 --seconds 10
	$(BIN)/python bench/redirects.py --runs 3 --seconds 10

# ruff, then the import contract (pyproject.toml, docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) demo-out test-artifacts .pytest_cache
