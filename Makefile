# Portrait Studio. Every target bootstraps what it needs, so each works on a fresh machine.
#   make demo   the whole system locally: emulator, bot, workers, tiny models, a scripted user
#   make test   lint, types and the whole test suite
#   make run    production single machine (needs TELEGRAM_BOT_TOKEN, MASTER_KEY, PAYLOAD_SECRET)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test check demo run redis-server clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: pip then takes the local CPU wheel instead of a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

redis-server:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server is missing: install it (apt-get install redis-server)"; exit 1; fi; }

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

test: check redis-server
	HF_HUB_OFFLINE=1 $(VENV)/bin/pytest

demo: $(STAMP) redis-server
	HF_HUB_OFFLINE=1 $(PY) scripts/demo.py --out demo-out

run: $(STAMP) redis-server
	$(PY) scripts/launch.py

clean:
	rm -rf $(VENV) demo-out .models/tiny .pytest_cache .mypy_cache .ruff_cache
