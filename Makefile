# fraud-alerts: every target sets up what it needs in .venv (Python 3.11+ on PATH as python3).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help demo test lint bench package synth deploy migrate-aws destroy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.local-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,infra]'
	touch $@ $(VENV)/.local-installed

demo: $(VENV)/.local-installed ## Run the main job on the embedded default (DuckDB + .eml outbox)
	$(BIN)/fraud-alerts demo

test: $(VENV)/.test-installed ## Install what the tests need, lint, and run the whole suite
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

lint: $(VENV)/.test-installed ## ruff, mypy and the layering contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.test-installed ## Benchmarks (not part of test); writes bench/results.md
	$(BIN)/python -m bench

package: $(VENV)/.test-installed ## Build the Lambda asset (arm64 wheels) into build/lambda
	$(BIN)/python infra/package_lambda.py --output build/lambda

CDK = npx --yes aws-cdk@2
CDK_APP = --app "$(BIN)/python infra/app.py" --output infra/cdk.out -c settings=$(SETTINGS)
SETTINGS ?= infra/settings.json

synth: package ## Synthesise the CloudFormation template into infra/cdk.out
	$(CDK) synth $(CDK_APP)

deploy: package ## Deploy to the AWS account in your environment (see README)
	$(CDK) deploy $(CDK_APP)

migrate-aws: $(VENV)/.local-installed ## Create fraud-alerts' table in Redshift (AWS settings in env)
	FRAUD_ALERTS_BACKEND=aws $(BIN)/fraud-alerts migrate

destroy: ## Tear the stack down again
	$(CDK) destroy $(CDK_APP)

clean: ## Remove the local warehouse, the outbox and build output
	rm -rf .fraud-alerts build infra/cdk.out
