# Ore/Masora pipeline: build, test and run the local emulator stack.
# `make` (or `make help`) lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every Go module of the repository (go.work uses them all).
MODULES := libs libs/schema libs/producer libs/testkit schemas services/ore services/masora tools

GO    ?= go
STACK := $(GO) run ./tools/cmd/stack

.PHONY: help deps stack-up stack-down stack-status stack-env test test-unit bench fuzz chaos load lint lint-infra demo lambda-zip generate bqschema jsonschema images

help: ## list the targets (default)
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

deps: ## install and build what the local stack needs (PostgreSQL, fauxqs, emulators)
	$(STACK) deps

stack-up: ## start the local emulator stack (reuses a healthy one) and print .stack/env
	$(STACK) up

stack-down: ## stop the local stack and delete its throwaway PostgreSQL cluster
	$(STACK) down

stack-status: ## show pid, port and health of each stack component
	$(STACK) status

stack-env: ## print .stack/env of the running stack
	@$(STACK) env

# with-stack runs $(1) with the stack up, and takes the stack down afterwards if it started it
# (also when $(1) fails or make is interrupted); a stack that was already running stays up.
# $(1) sets status=1 on failure; the recipe exits with it.
define with-stack
	@status=0; started=0; $(STACK) status >/dev/null 2>&1 || started=1; \
	trap '[ $$started = 1 ] && $(STACK) down; exit 130' INT TERM; \
	$(STACK) up || status=$$?; \
	if [ $$status -eq 0 ]; then $(1); fi; \
	if [ $$started = 1 ]; then $(STACK) down || [ $$status -ne 0 ] || status=1; fi; \
	exit $$status
endef

# Each module's tests get a fresh stack (the BigQuery emulator's memory only grows). make test
# keeps its stack in its own folder (TEST_STACK_DIR), so a stack a developer started by hand in
# .stack is neither used nor stopped, and no test stack is left running afterwards.
TEST_STACK_DIR ?= $(CURDIR)/.stack-test
TEST_STACK     := STACK_DIR=$(TEST_STACK_DIR) $(STACK)

test: deps ## run every module's tests, each against a fresh stack of its own (STACK_REQUIRED=1), then GOWORK=off build+vet and gofmt
	@status=0; \
	trap '$(TEST_STACK) down >/dev/null 2>&1; exit 130' INT TERM; \
	for m in $(MODULES); do \
		$(TEST_STACK) down >/dev/null 2>&1; \
		if ! out=$$($(TEST_STACK) up 2>&1); then echo "$$out"; echo "make test: the local stack did not start"; status=1; break; fi; \
		echo "==> $$m: go test -count=1 ./..."; \
		(cd $$m && STACK_REQUIRED=1 ORE_MASORA_STACK_ENV=$(TEST_STACK_DIR)/env $(GO) test -count=1 -timeout 20m ./...) || status=1; \
	done; \
	$(TEST_STACK) down >/dev/null || status=1; \
	for m in $(MODULES); do \
		echo "==> $$m: GOWORK=off go build ./... && go vet ./..."; \
		(cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...) || status=1; \
	done; \
	unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; status=1; fi; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)"; else echo "make test: all passed"; fi; \
	exit $$status

test-unit: ## run the unit tests only (go test -short; no stack needed)
	@status=0; \
	for m in $(MODULES); do \
		echo "==> $$m: go test -short ./..."; \
		(cd $$m && $(GO) test -short ./...) || status=1; \
	done; \
	exit $$status

bench: deps ## run every module's benchmarks with the stack up
	$(call with-stack, \
	for m in $(MODULES); do \
		echo "==> $$m: go test -run '^$$' -bench . -benchmem ./..."; \
		(cd $$m && $(GO) test -run '^$$' -bench . -benchmem ./...) || status=1; \
	done)

# The chaos suite (tools/internal/chaos) at full size, repeated with new seeds for
# CHAOS_DURATION; it runs on a private stack of its own. CHAOS_SEED replays a round.
CHAOS_DURATION ?= 20m
CHAOS_EVENTS   ?= 1000
CHAOS_FAULTS   ?= 3

chaos: deps ## chaos suite: every fault scenario on real processes, checked by the invariant checker (CHAOS_DURATION=20m, CHAOS_SEED)
	$(call with-stack, \
	(cd tools && STACK_REQUIRED=1 ORE_MASORA_STACK_ENV=$(CURDIR)/.stack/env CHAOS_DURATION=$(CHAOS_DURATION) \
		CHAOS_EVENTS=$(CHAOS_EVENTS) CHAOS_BAD_ROUNDS=$${CHAOS_BAD_ROUNDS:-5} CHAOS_FAULTS=$(CHAOS_FAULTS) \
		$(GO) test -count=1 -v -timeout 3h -run '^TestChaos$$' ./internal/chaos/) || status=1)

# FUZZTIME is how long `make fuzz` runs each fuzz target. The seed corpora (f.Add and
# testdata/fuzz/<FuzzName>/) run as plain tests in `make test`.
FUZZTIME ?= 30s

fuzz: ## run every fuzz target (func Fuzz* of each module's packages) for FUZZTIME each (30s)
	@status=0; \
	for m in $(MODULES); do \
		for d in $$(cd $$m && $(GO) list -f '{{.Dir}}' ./...); do \
			for t in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' $$d/*_test.go 2>/dev/null); do \
				echo "==> $${d#$(CURDIR)/}: $$t for $(FUZZTIME)"; \
				(cd $$d && $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) .) || status=1; \
			done; \
		done; \
	done; \
	if [ $$status -ne 0 ]; then exit 1; fi

# The load and freshness run (tools/cmd/load) on a private stack of its own (LOAD_STACK_DIR), so
# the emulators' memory figures are the run's; LOAD_RATE, LOAD_DURATION, LOAD_ORE_WINDOW,
# LOAD_CADENCE and the other LOAD_* variables size it (go run ./tools/cmd/load -help). The report,
# the figures and the cost table go to .load/.
LOAD_STACK_DIR ?= $(CURDIR)/.stack-load
LOAD_STACK     := STACK_DIR=$(LOAD_STACK_DIR) $(STACK)

load: deps ## load and freshness run on a private stack, then the cost table (LOAD_RATE=500 LOAD_DURATION=60s LOAD_ORE_WINDOW=5s LOAD_CADENCE=30s)
	@set -o pipefail; status=0; mkdir -p .load; \
	trap '$(LOAD_STACK) down >/dev/null 2>&1; exit 130' INT TERM; \
	$(LOAD_STACK) down >/dev/null 2>&1; \
	if out=$$($(LOAD_STACK) up 2>&1); then \
		ORE_MASORA_STACK_ENV=$(LOAD_STACK_DIR)/env $(GO) run ./tools/cmd/load -figures .load/figures.json -report .load/report.json \
			-logs .load/services.log | tee .load/report.txt || status=1; \
		if [ $$status -eq 0 ]; then $(GO) run ./tools/cmd/costmodel -figures .load/figures.json | tee .load/cost.md || status=1; fi; \
	else echo "$$out"; echo "make load: the local stack did not start"; status=1; fi; \
	$(LOAD_STACK) down >/dev/null || status=1; \
	exit $$status

lint: lint-infra ## go vet every module, check gofmt, and lint-infra
	@status=0; \
	for m in $(MODULES); do \
		echo "==> $$m: go vet ./..."; \
		(cd $$m && $(GO) vet ./...) || status=1; \
	done; \
	unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; status=1; fi; \
	exit $$status

VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
DIST      ?= dist
LAMBDA_ARCHES := arm64 amd64
TERRAFORM ?= terraform
TF_STACKS := infra/aws infra/gcp

lambda-zip: ## build Ore's Lambda zips (bootstrap, provided.al2023), byte-identical for the same source: $(DIST)/ore-lambda-{arm64,amd64}.zip
	$(GO) run ./tools/cmd/lambdazip -version $(VERSION) -dist $(DIST) $(LAMBDA_ARCHES)

lint-infra: ## Terraform files parse and are formatted (always); with terraform installed, also terraform fmt -check and a configuration load of each stack (no providers needed)
	@status=0; \
	echo "==> infra: HCL syntax and terraform fmt formatting (tools/internal/tfcheck)"; \
	(cd tools && $(GO) test -count=1 -run 'TestInfra$$' ./internal/tfcheck/) || status=1; \
	if ! command -v $(TERRAFORM) >/dev/null; then echo "lint-infra: $(TERRAFORM) not found, skipping terraform fmt -check and terraform providers (install Terraform >= 1.6 for them)"; exit $$status; fi; \
	echo "==> terraform fmt -check -recursive infra"; \
	TF_CLI_CONFIG_FILE=/dev/null $(TERRAFORM) fmt -check -recursive infra || { echo "run: terraform fmt -recursive infra"; status=1; }; \
	for s in $(TF_STACKS); do \
		echo "==> $$s: terraform providers (loads and checks the configuration)"; \
		TF_CLI_CONFIG_FILE=/dev/null $(TERRAFORM) -chdir=$$s providers >/dev/null || status=1; \
	done; \
	exit $$status

generate: bqschema jsonschema ## regenerate every file derived from schemas/logtypes (commit the result)

bqschema: ## regenerate infra/gcp/schemas/<log_type>_v<N>.json and infra/gcp/views/<log_type>.sql from schemas/logtypes
	$(GO) run ./tools/cmd/bqschema-gen

jsonschema: ## regenerate schemas/jsonschema/<log_type>/v<N>.schema.json (JSON Schema for producers) from schemas/logtypes
	$(GO) run ./tools/cmd/jsonschema-gen

images: ## build the Ore (poll mode) and Masora container images (needs Docker; not available on our machines)
	docker build -f services/ore/Dockerfile --build-arg VERSION=$(VERSION) -t ore-masora/ore:$(VERSION) .
	docker build -f services/masora/Dockerfile -t ore-masora/masora:$(VERSION) .

# EVENTS sizes the demo; KEEP=1 leaves the stack up afterwards (it is only stopped if the demo
# started it) and keeps Masora serving its status page until Ctrl-C.
EVENTS ?= 3000
KEEP   ?=

demo: deps ## run the pipeline end to end on the local stack and print a report (EVENTS=3000, KEEP=1)
	@started=0; $(STACK) status >/dev/null 2>&1 || started=1; \
	status=0; \
	trap '[ $$started = 1 ] && [ -z "$(KEEP)" ] && $(STACK) down; exit 130' INT TERM; \
	$(STACK) up >/dev/null || status=$$?; \
	if [ $$status -eq 0 ]; then \
		stays=true; [ $$started = 1 ] && [ -z "$(KEEP)" ] && stays=false; \
		( set -a; . .stack/env; set +a; $(GO) run ./tools/cmd/demo -events $(EVENTS) -stack-stays=$$stays -keep-masora=$(if $(KEEP),true,false) ) || status=$$?; \
	fi; \
	if [ $$started = 1 ] && [ -z "$(KEEP)" ]; then $(STACK) down >/dev/null || true; \
	else echo "the stack is still up: make stack-env shows its endpoints, make stack-down stops it"; fi; \
	exit $$status
