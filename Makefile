# Two commands: `make dev` runs the whole service locally, `make test` runs every test.
# Everything beyond Rust, Python 3.11 and Node is installed here: into .venv, and Azurite into
# emulators/node_modules.
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: dev test tools lint template-check sam-build bench cost clean console console-check e2e-test screenshots

## The Python tools through uv (pinned): it installs them in about 10 s, pip in 2.5 minutes.
UV_VERSION := 0.13.9
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

## Azurite (npm), reinstalled only when its lock changes.
EMULATORS := $(CURDIR)/emulators
$(EMULATORS)/node_modules/.installed: $(EMULATORS)/package-lock.json
	cd $(EMULATORS) && npm ci --no-audit --no-fund
	touch $@

tools: $(VENV)/.installed $(EMULATORS)/node_modules/.installed
	@rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

## Run the whole service locally (moto + provisioned tables + demo org + auditctl serve).
dev: tools
	scripts/dev.sh

## Every test: formatting, clippy, template lint, the console's build, unit, integration (against
## moto) and CLI tests, the API fuzzed against its OpenAPI document (schemathesis), then the
## console's end-to-end tests in headless Chromium. Leaves the work tree as it found it:
## everything it writes goes under target/ (ignored) or a temp dir.
## Benches and examples are compiled and linted by clippy; `make bench` runs them.
test: tools lint template-check console-check
	scripts/with-moto.sh cargo test --workspace --tests
	scripts/with-moto.sh scripts/fuzz-api.sh
	$(MAKE) e2e-test

## The admin console: console/src (TypeScript) → console/dist, which is committed and compiled
## into the API binary, so neither CI's Rust build nor the Lambda needs node.
console:
	cd console && npm ci --no-audit --no-fund && npm run build

## Fails when console/dist is not what console/src builds to (rebuild with `make console`).
CONSOLE_CHECK_DIR := $(CURDIR)/target/console-check
console-check:
	cd console && npm ci --no-audit --no-fund
	rm -rf $(CONSOLE_CHECK_DIR)
	cd console && node_modules/.bin/tsc -p tsconfig.json --outDir $(CONSOLE_CHECK_DIR) && cp static/index.html static/style.css $(CONSOLE_CHECK_DIR)/
	diff -r $(CONSOLE_CHECK_DIR) console/dist || (echo "console/dist is stale: run make console and commit it" >&2; exit 1)

## The console in headless Chromium (Debian's chromium, installed here if missing) driven by
## playwright-core, against `auditctl serve` on moto. Screenshots land in target/screenshots/.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
e2e-test: tools
	@test -x $(CHROMIUM) || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver)
	cd e2e && npm ci --no-audit --no-fund
	cargo build -q -p auditctl
	CHROMIUM=$(CHROMIUM) scripts/with-moto.sh node --test --test-concurrency=1 e2e/

## Refresh the committed screenshots in docs/screenshots/ (the console's e2e run, writing there).
screenshots:
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(MAKE) e2e-test

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

template-check: tools
	cfn-lint template.yaml
	sam validate --lint

## Benchmarks: the CPU part of an S3 batch, webhook signing, OTLP request encoding and export-job
## encoding (criterion); then, against moto, the deliver function (batches of 10 concurrently), an
## end-to-end flush into S3 and into each emulated store (S3-compatible, GCS, Azure), and an
## end-to-end CSV export job of BENCH_EVENTS events, with peak memory; and offline verification of
## 1,000 files (a million events) against their signed digests.
BENCH_EVENTS ?= 20000
bench: tools
	cargo bench -p relay-core --bench signing
	cargo bench -p relay-app --bench export --bench otel --bench export_job
	scripts/with-moto.sh cargo bench -p auditrelay-tests --bench deliver
	cargo build --release -p auditrelay-tests --example flush_bench
	scripts/with-moto.sh target/release/examples/flush_bench $(BENCH_EVENTS)
	for store in s3compat gcs azure; do scripts/with-moto.sh target/release/examples/flush_bench $(BENCH_EVENTS) jsonl $$store; done
	cargo build --release -p auditrelay-tests --example export_bench
	scripts/with-moto.sh target/release/examples/export_bench $(BENCH_EVENTS) csv
	cargo build --release -p auditrelay-tests --example verify_bench
	target/release/examples/verify_bench 1000
	cargo build --release -p auditrelay-tests --example noisy_bench
	scripts/with-moto.sh target/release/examples/noisy_bench

## What one event costs, counted from moto's request recorder: COST_EVENTS events of ~1 KB through
## `auditctl serve` with a webhook, OTLP and the S3 stream; DynamoDB write units (from item
## sizes), SQS, S3, KMS and STS requests per event, and the bytes stored (docs/cost.md).
COST_EVENTS ?= 1000
cost: tools
	cargo build -q -p auditctl
	cargo build -q -p auditrelay-tests --example cost_bench
	scripts/with-moto.sh $${CARGO_TARGET_DIR:-target}/debug/examples/cost_bench $(COST_EVENTS)

## Build the deployable artifacts exactly as `sam deploy` will (cargo-lambda, arm64, release).
## Every function runs the one `auditrelay` binary (its Handler picks the handler); sam runs
## one `cargo lambda build --bin auditrelay` per function, the first builds it and the others
## find it fresh (docs/operations.md, "Build").
sam-build: tools
	sam build

clean:
	rm -rf target .aws-sam .local
