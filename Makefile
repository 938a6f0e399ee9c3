# stackd — the two commands that matter: `make run` and `make test`.
.PHONY: run test test-rust test-sdk sdk-deps openapi openapi-check bench build

# Build and serve in development mode: project `internal` with well-known keys, printed at start.
run:
	cargo run --bin stackd -- serve --dev

# Cargo's real target directory (honours CARGO_TARGET_DIR and .cargo/config), not a guess.
TARGET_DIR := $(shell cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export TARGET_DIR

build:
	cargo build --bin stackd

# Everything CI runs: Rust unit + integration tests, then the official JS SDK against the binary.
test: test-rust test-sdk

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
