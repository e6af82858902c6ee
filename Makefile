# Thin wrappers over scripts/. See README.md.
PY      := .venv/bin/python
STAMP   := .venv/.mage-gcp-setup
PIPELINE ?=
START   ?=
END     ?=
STACK   ?= dev
ROWS    ?=
PARALLEL ?=
CLOUD   ?=

.PHONY: setup up down demo backfill homework test bench plan plan-diff cost lint deploy image

$(STAMP): pyproject.toml uv.lock scripts/setup.sh scripts/setup_python.sh
	scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

up: $(STAMP)          ## run Mage + the local GCP twin (Ctrl-C stops everything); ROWS=N|full sizes the sample months
	$(if $(ROWS),TWIN_SAMPLE_ROWS="$(ROWS)" )$(PY) -m twin up

down:                 ## stop a twin started by `make up` in another terminal
	$(PY) -m twin down

demo: $(STAMP)        ## twin + every pipeline headless + a summary of what landed
	$(if $(ROWS),TWIN_SAMPLE_ROWS="$(ROWS)" )$(PY) -m twin.demo

backfill: $(STAMP)    ## make backfill PIPELINE=green_taxi_etl START=2020-10 END=2020-12 [CONFIRM=yes] [PARALLEL=N] [CLOUD=1]
	$(if $(ROWS),TWIN_SAMPLE_ROWS="$(ROWS)" )$(PY) -m twin.backfill --pipeline "$(PIPELINE)" --start "$(START)" --end "$(END)"$(if $(filter yes,$(CONFIRM)), --yes)$(if $(PARALLEL), --parallelism $(PARALLEL))$(if $(CLOUD), --cloud --stack $(STACK))

homework: $(STAMP)    ## fetch the three green files of Q4 2020 into ~/tlc (HOMEWORK_DIR) and check the homework on them
	$(PY) -m twin.homework

image: $(STAMP)       ## build the Dockerfile here with buildah (root; tests/cloudrun runs inside it)
	scripts/setup_tests.sh
	$(PY) -m tools.image build

test: $(STAMP)        ## the whole test suite (no network; as a user, the root-only tests through sudo -n)
	scripts/setup_tests.sh
	scripts/run_tests.sh

bench: $(STAMP)       ## benchmark against the course pipeline (slow; prints a table)
	$(PY) -m benchmarks.run
	PYTHONWARNINGS=ignore $(PY) -m benchmarks.backfill_bench --parallelism 1,2

plan: $(STAMP)        ## offline `pulumi preview`: the planned resources as a table
	$(PY) -m tools.plan --stack $(STACK)

plan-diff: $(STAMP)   ## offline plan diff of this checkout against BASE (default origin/main), as markdown
	$(PY) -m tools.plan_diff --base "$(or $(BASE),origin/main)" --stack $(STACK)

cost: $(STAMP)        ## idle and per-run monthly cost of the stack
	$(PY) -m tools.cost --stack $(STACK)

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

deploy: $(STAMP)      ## check the prerequisites, then pulumi up (see docs/deploy.md)
	$(PY) scripts/deploy_check.py --stack $(STACK)
	PATH="$(CURDIR)/.venv-uv/bin:$$PATH" pulumi up --stack $(STACK)
