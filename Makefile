# stackd — the two commands that matter: `make run` and `make test`.
.PHONY: run test test-rust test-sdk sdk-deps openapi bench build test-clients test-schema clients

# Build and serve in development mode: project `internal` with well-known keys, printed at start.
run:
	cargo run --bin stackd -- serve --dev

# Cargo's real target directory (honours CARGO_TARGET_DIR and .cargo/config), not a guess.
TARGET_DIR := $(shell cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export TARGET_DIR

build:
	cargo build --bin stackd

# Everything CI runs: Rust unit + integration tests, the official JS SDK against the binary,
# clients generated from the OpenAPI document (Python, TypeScript), and a schemathesis run.
test: test-rust test-sdk test-clients test-schema

test-rust:
	cargo test

sdk-deps: tests/sdk/node_modules/.package-lock.json

tests/sdk/node_modules/.package-lock.json: tests/sdk/package.json tests/sdk/package-lock.json
	cd tests/sdk && npm ci --no-audit --no-fund

test-sdk: build sdk-deps
	cd tests/sdk && STACKD_BIN=$(TARGET_DIR)/debug/stackd node --test --test-concurrency=1

# Regenerate the committed OpenAPI document (a test fails when it drifts).
openapi:
	cargo run -q --bin stackd -- openapi > openapi/openapi.json

# Release build + load generator (wrk, from Debian's packages) → README figures.
bench:
	./bench/run.sh

# --- Clients generated from openapi/openapi.json -------------------------------------------------
CLIENTS := tests/clients
VENV := $(CLIENTS)/.venv
PY := $(VENV)/bin/python

$(VENV)/.installed: $(CLIENTS)/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r $(CLIENTS)/requirements.txt
	touch $@

$(CLIENTS)/ts/node_modules/.package-lock.json: $(CLIENTS)/ts/package.json $(CLIENTS)/ts/package-lock.json
	cd $(CLIENTS)/ts && npm ci --no-audit --no-fund

# openapi-python-client and openapi-typescript + openapi-fetch: generate, compile, run against the binary.
test-clients: build $(VENV)/.installed $(CLIENTS)/ts/node_modules/.package-lock.json
	rm -rf $(TARGET_DIR)/clients/python && mkdir -p $(TARGET_DIR)/clients/python
	$(VENV)/bin/openapi-python-client generate --path openapi/openapi.json --meta none \
	  --output-path $(TARGET_DIR)/clients/python/stackd_client --config $(CLIENTS)/python/openapi-python-client.yaml >/dev/null
	STACKD_BIN=$(TARGET_DIR)/debug/stackd $(PY) $(CLIENTS)/python/test_generated_client.py $(TARGET_DIR)/clients/python $(CLIENTS)
	cd $(CLIENTS)/ts && rm -rf generated build && ./node_modules/.bin/openapi-typescript ../../../openapi/openapi.json -o generated/schema.d.ts >/dev/null
	cd $(CLIENTS)/ts && ./node_modules/.bin/tsc -p . && STACKD_BIN=$(TARGET_DIR)/debug/stackd node --test build/

# A bounded schemathesis run over every operation and the three access types: no 5xx, no response
# that breaks its documented schema.
test-schema: build $(VENV)/.installed
	STACKD_BIN=$(TARGET_DIR)/debug/stackd $(PY) $(CLIENTS)/schema/run_schemathesis.py
