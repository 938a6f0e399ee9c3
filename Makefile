# stackd — the two commands that matter: `make run` and `make test`.
.PHONY: run test test-rust test-sdk sdk-deps openapi bench build test-clients test-schema clients system-deps test-dashboard dashboard-deps browser

# Build and serve in development mode: project `internal` with well-known keys, printed at start.
run: system-deps
	cargo run --bin stackd -- serve --dev

# Passkeys are verified by webauthn-rs, which links the system OpenSSL: its headers must be there.
system-deps:
	@pkg-config --exists openssl 2>/dev/null || (apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config)

# Cargo's real target directory (honours CARGO_TARGET_DIR and .cargo/config), not a guess.
TARGET_DIR := $(shell cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export TARGET_DIR

build: system-deps
	cargo build --bin stackd

# Everything CI runs: Rust unit + integration tests, the official JS SDK against the binary,
# clients generated from the OpenAPI document (Python, TypeScript), a schemathesis run, and the
# dashboard in headless Chromium.
test: test-rust test-sdk test-clients test-schema test-dashboard

test-rust: system-deps
	cargo test

sdk-deps: tests/sdk/node_modules/.package-lock.json

tests/sdk/node_modules/.package-lock.json: tests/sdk/package.json tests/sdk/package-lock.json
	cd tests/sdk && npm ci --no-audit --no-fund

test-sdk: build sdk-deps
	cd tests/sdk && STACKD_BIN=$(TARGET_DIR)/debug/stackd node --test --test-concurrency=1

# The dashboard's browser tests: Debian's Chromium driven by playwright-core, pages checked with
# axe-core. Screenshots of every page land in $(TARGET_DIR)/dashboard-screenshots.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

dashboard-deps: tests/dashboard/node_modules/.package-lock.json

tests/dashboard/node_modules/.package-lock.json: tests/dashboard/package.json tests/dashboard/package-lock.json
	cd tests/dashboard && npm ci --no-audit --no-fund

test-dashboard: build browser dashboard-deps
	cd tests/dashboard && STACKD_BIN=$(TARGET_DIR)/debug/stackd DASHBOARD_OUTPUT=$(TARGET_DIR)/dashboard-screenshots \
	  node --test --test-concurrency=1

# Regenerate the committed OpenAPI document (a test fails when it drifts).
openapi: system-deps
	cargo run -q --bin stackd -- openapi > openapi/openapi.json

# Release build + load generator (wrk, from Debian's packages) → README figures; the dashboard
# measured in headless Chromium.
bench: system-deps browser dashboard-deps
	./bench/run.sh
	./bench/million.sh
	./bench/dashboard.sh

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

# Rust (progenitor) and Go (openapi-generator's go generator, Go from Debian) clients, generated and
# run against the binary like the Python and TypeScript ones. Not part of `make test` (slow installs).
clients: build $(VENV)/.installed
	cargo install cargo-progenitor --version 0.15.1 --locked --quiet --root $(TARGET_DIR)/tools
	rm -rf $(CLIENTS)/rust/generated && mkdir -p $(CLIENTS)/rust/generated
	PATH=$(TARGET_DIR)/tools/bin:$$PATH cargo progenitor -i openapi/openapi.json \
	  -o $(CLIENTS)/rust/generated/stackd-client -n stackd-client -v 0.1.0
	cd $(CLIENTS)/rust && STACKD_BIN=$(TARGET_DIR)/debug/stackd CARGO_TARGET_DIR=$(TARGET_DIR)/clients/rust cargo run -q
	command -v go >/dev/null || (apt-get update -qq && apt-get install -y -qq golang-go)
	command -v java >/dev/null || (apt-get update -qq && apt-get install -y -qq default-jre-headless)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r $(CLIENTS)/requirements-generators.txt
	rm -rf $(CLIENTS)/go/generated && mkdir -p $(CLIENTS)/go/generated
	$(VENV)/bin/openapi-generator-cli generate -i openapi/openapi.json -g go --package-name stackdclient \
	  -o $(CLIENTS)/go/generated/stackd_client --additional-properties=withGoMod=true >/dev/null
	cd $(CLIENTS)/go/generated/stackd_client && go mod edit -module stackd.local/client -go 1.19
	cd $(CLIENTS)/go && GOFLAGS=-mod=mod STACKD_BIN=$(TARGET_DIR)/debug/stackd go run .
