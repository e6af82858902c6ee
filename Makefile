# Thin wrappers over scripts/. See README.md.
PY      := .venv/bin/python
STAMP   := .venv/.mage-gcp-setup
PIPELINE ?=
START   ?=
END     ?=
STACK   ?= dev
ROWS    ?=

.PHONY: setup up down demo backfill test bench plan cost lint deploy

$(STAMP): pyproject.toml uv.lock scripts/setup.sh
	scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

up: $(STAMP)          ## run Mage + the local GCP twin (Ctrl-C stops everything); ROWS=N|full sizes the sample months
	$(if $(ROWS),TWIN_SAMPLE_ROWS="$(ROWS)" )$(PY) scripts/twin.py up

down:                 ## stop a twin started by `make up` in another terminal
	$(PY) scripts/twin.py down

demo: $(STAMP)        ## twin + every pipeline headless + a summary of what landed
	$(if $(ROWS),TWIN_SAMPLE_ROWS="$(ROWS)" )$(PY) scripts/demo.py

backfill: $(STAMP)    ## make backfill PIPELINE=green_taxi_etl START=2020-10 END=2020-12 [CONFIRM=yes]
	$(if $(ROWS),TWIN_SAMPLE_ROWS="$(ROWS)" )$(PY) scripts/backfill.py --pipeline "$(PIPELINE)" --start "$(START)" --end "$(END)"$(if $(filter yes,$(CONFIRM)), --yes)

test: $(STAMP)        ## the whole test suite (no network)
	$(PY) -m pytest

bench: $(STAMP)       ## benchmark against the course pipeline (slow; prints a table)
	$(PY) benchmarks/run.py

plan: $(STAMP)        ## offline `pulumi preview`: the planned resources as a table
	$(PY) scripts/plan.py --stack $(STACK)

cost: $(STAMP)        ## idle and per-run monthly cost of the stack
	$(PY) scripts/cost.py --stack $(STACK)

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

deploy: $(STAMP)      ## check the prerequisites, then pulumi up (see docs/deploy.md)
	$(PY) scripts/deploy_check.py --stack $(STACK)
	pulumi up --stack $(STACK)
