# Portrait Studio. Every target bootstraps what it needs, so each works on a fresh machine.
#   make demo   the whole system locally: emulator, bot, workers, tiny models, a scripted user
#   make test   lint, types and the whole test suite
#   make run    production single machine (needs TELEGRAM_BOT_TOKEN, MASTER_KEY, PAYLOAD_SECRET):
#               `portrait-studio all`, the bot and both workers under a restarting supervisor
#   make constraints   rewrite constraints.txt (the pinned versions) from the current .venv

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Every version pinned (pip freeze of a working .venv); `make constraints` regenerates it.
CONSTRAINTS := constraints.txt

.PHONY: test check demo run redis-server clean constraints

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: pip then takes the local CPU wheel instead of a multi-GB CUDA build.
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) torch==2.13.0
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

# Local version labels (+cpu, +cu128) are dropped: `torch==2.13.0` then matches the CPU wheel
# here and the CUDA wheel in the worker image alike.
constraints: $(STAMP)
	{ echo "# Pinned versions of every package the dev install pulls (bot and worker extras included)."; \
	  echo "# Regenerate with: make constraints   (pip freeze of .venv, local version labels dropped)"; \
	  $(PY) -m pip freeze --exclude-editable --all \
	  | grep -v -E '^(pip|setuptools|wheel)==' | sed -E 's/\+[A-Za-z0-9.]+$$//'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

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
	$(PY) -m portrait_studio all

clean:
	rm -rf $(VENV) demo-out .models/tiny .pytest_cache .mypy_cache .ruff_cache
