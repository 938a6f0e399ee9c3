#!/usr/bin/env bash
# make bench, part 3: the dashboard measured in headless Chromium (bench/dashboard.mjs). Installs
# what the browser tests install (Debian's chromium, tests/dashboard's npm packages).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}
cargo build --release --bin stackd -q
STACKD_BIN="$TARGET_DIR/release/stackd" BENCH_SCREENSHOT="$TARGET_DIR/dashboard-overview.png" node bench/dashboard.mjs
