# Two commands: `make dev` runs the whole service locally, `make test` runs every test.
# Everything beyond Rust and Python 3.11 is installed here, into .venv.
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: dev test tools lint unit-test integration-test template-check sam-build bench clean

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

tools: $(VENV)/.installed
	@rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

## Run the whole service locally (moto + provisioned tables + demo org + auditctl serve).
dev: tools
	scripts/dev.sh

## Every test: formatting, clippy, template lint, unit, integration (against moto) and CLI tests.
test: tools lint template-check
	scripts/with-moto.sh cargo test --workspace --all-targets

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

template-check: tools
	cfn-lint template.yaml
	sam validate --lint

## Benchmarks: the CPU part of an S3 batch and webhook signing (criterion); then, against
## moto, the deliver function (batches of 10 concurrently), an end-to-end S3 flush and an
## end-to-end CSV export job of BENCH_EVENTS events, with peak memory.
BENCH_EVENTS ?= 20000
bench: tools
	cargo bench -p shared --bench export --bench signing --bench export_job
	scripts/with-moto.sh cargo bench -p auditrelay-tests --bench deliver
	cargo build --release -p auditrelay-tests --example flush_bench
	scripts/with-moto.sh target/release/examples/flush_bench $(BENCH_EVENTS)
	cargo build --release -p auditrelay-tests --example export_bench
	scripts/with-moto.sh target/release/examples/export_bench $(BENCH_EVENTS) csv

## Build the deployable artifacts exactly as `sam deploy` will (cargo-lambda, arm64, release).
sam-build: tools
	sam build

clean:
	rm -rf target .aws-sam .local
