# The README's commands. Everything installs itself: Python packages into .venv,
# system packages (for the throwaway test hosts) with apt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,deploy,local,ansible

INVENTORY ?= inventory/example_ssh.py

# The real Claude Code CLI for the e2e test (claude mcp add/list/get only), kept in a
# git-ignored folder: installed once, reused by every later run.
CLAUDE_CODE_VERSION ?= 2.1.197
NPM_TOOLS := .npm-tools
CLAUDE := $(NPM_TOOLS)/node_modules/.bin/claude

.PHONY: demo test lint bench install system-packages claude-code deploy checklist testhost clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed-$(EXTRAS): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

system-packages:
	@command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null \
	  && command -v systemd-analyze >/dev/null && command -v npm >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    debootstrap systemd-container systemd openssh-client iproute2 nodejs npm >/dev/null; }

$(CLAUDE): | system-packages
	npm install --prefix $(NPM_TOOLS) --no-audit --no-fund --loglevel=error \
	  @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)

claude-code: $(CLAUDE)

# The README's first command: a throwaway Debian 13 host, deployed and checked (KEEP=1 keeps it).
demo: install system-packages
	$(BIN)/python -m provisioning.demo $(if $(KEEP),--keep)

deploy: install   # make deploy INVENTORY=inventory/my_server.py
	$(BIN)/python -m provisioning deploy $(INVENTORY)

checklist: install   # make checklist HOSTS=ssh://root@server
	$(BIN)/python -m provisioning.checklist --hosts=$(HOSTS) $(ARGS)

testhost: install system-packages
	$(BIN)/python -m provisioning.testhost up

# Two workers: the e2e hosts mostly wait on apt, pip and systemd, so a second worker overlaps
# that wait (tests/conftest.py keeps each module, and the modules sharing one deployed host,
# on one worker).
test: install system-packages claude-code lint
	$(BIN)/pytest -q -ra -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd provisioning/ansible && ../../$(BIN)/ansible-lint --profile production site.yml roles/

# Not part of make test: minutes to an hour on 2 cores. Each writes bench/results/NAME.json;
# the last step renders all of them into the README's benchmark tables.
bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/hybrid_search.py --dims 384  # 1k-100k, HNSW, exact, NumPy, 200 queries
	$(BIN)/python bench/hybrid_search.py --dims 1536 --name hybrid_search_1536
	$(BIN)/python bench/locomo.py         # LoCoMo recall, local MiniLM, about 10 minutes
	$(BIN)/python bench/locomo.py --insights observations --output locomo_observations  # the client's own distilled insights
	$(BIN)/python bench/embedding.py      # the local MiniLM alone: torch against ONNX Runtime
	$(BIN)/python bench/e2e_search.py     # search through the stdio MCP client, local MiniLM
	$(BIN)/python bench/http_concurrency.py  # 1 and 16 clients over Streamable HTTP
	$(BIN)/python bench/peer_e2e.py       # against mcp-memory-service (own venv, offline)
	$(BIN)/python bench/dual_judge.py     # 50 docs, judges at 0.4-1.2 s per call, about 2 minutes
	$(BIN)/python bench/backup_restore.py  # 1k and 10k insights, about a minute
	$(BIN)/python bench/reindex.py        # the upgrade to 005 at 10k and 100k insights, about 15 minutes
	$(BIN)/python bench/deploy_times.py   # two throwaway hosts, about 6 minutes
	$(BIN)/python bench/deploy_times.py --offsite  # the same, each with a backup host, about 10 minutes
# RPO/RTO from a backup host at 0 and 100k insights, about 15 minutes on a quiet machine (the
# dump rows, kept in the results file: bench/recovery.py --insights 0 100000 --from dump)
	$(BIN)/python bench/recovery.py --insights 0 100000
	$(BIN)/python bench/readme_table.py

clean:
	rm -rf $(VENV) $(NPM_TOOLS) .pytest_cache .ruff_cache dist build
