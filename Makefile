# Seatmeter: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKA := bash deploy/local/kafka.sh

.PHONY: help setup run test test-slow chaos soak test-unit test-integration lint format bench kafka-up kafka-down kafka-status schema deploy-check clean

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Virtualenv, Python dependencies, Kafka jars (Maven), kcat and promtool.
	@$(KAFKA) fetch
	@command -v kcat >/dev/null || bash deploy/local/install-kcat.sh
	@bash deploy/check.sh promtool >/dev/null

run: setup ## Local Kafka, worker, simulated fleet, embedded warehouse; ends with the per-product view.
	@$(KAFKA) up
	@bash deploy/local/demo.sh

test: setup ## What CI runs: unit and integration tests on the local broker and chDB, without the slow and chaos runs.
	@$(KAFKA) up
	$(BIN)/pytest -q tests -m "(not slow and not chaos) or chaos_ci"

test-slow: setup ## Not in CI: the long runs marked slow (three SIGKILLs in a row, every secured listener ...).
	@$(KAFKA) up
	$(BIN)/pytest -q tests -m "slow and not chaos"

soak: setup ## Not in CI: SOAK_MINUTES (30) of fleet traffic with faults; RSS and lag to .seatmeter/soak/<time>/.
	@$(BIN)/pip install --quiet -e '.[dev,soak]'
	@$(KAFKA) up
	$(BIN)/python -m tests.soak.run --minutes $${SOAK_MINUTES:-30}

chaos: setup ## Every fault-injection scenario (kill -9, rebalance, outages, poison ...) against the ledger; under 20 min.
	@$(KAFKA) up
	$(BIN)/pytest -q tests -m chaos

test-unit: $(STAMP) ## Fast unit tests only (no broker).
	$(BIN)/pytest -q tests/unit

lint: $(STAMP) ## ruff (lint and format check) and mypy --strict.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff formatting and fixes.
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Benchmarks; writes BENCHMARKS.md.
	@$(KAFKA) up
	$(BIN)/python -m tests.bench.run --out BENCHMARKS.md

schema: $(STAMP) ## Export the producers' JSON Schemas into schemas/json/.
	$(BIN)/seatmeter export-schema --out schemas/json

kafka-up: ## Start the local single-node Kafka broker (KRaft) on 127.0.0.1:9092.
	@$(KAFKA) up

kafka-down: ## Stop the local Kafka broker.
	@$(KAFKA) down

kafka-status: ## Is the local broker running?
	@$(KAFKA) status

deploy-check: ## Validate the Helm chart (lint, kubeconform), the compose file and the Prometheus rules (promtool).
	bash deploy/check.sh

clean: ## Stop the broker and delete local state (.seatmeter/).
	-@$(KAFKA) down
	rm -rf .seatmeter
