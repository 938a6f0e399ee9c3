#!/usr/bin/env bash
# make bench, part 2: a database of 1,000,000 users built through `stackd users import`, then the
# API on it. Prints the import rate, list-page and e-mail lookup latencies, the sign-up rate
# compared with an empty database (same machine, same run), /users/me req/s and the database size.
# Not a test: nothing here asserts. Expects the release build made by bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
TARGET_DIR=${TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}
BIN="$TARGET_DIR"/release/stackd
USERS=${BENCH_USERS:-1000000}
DIR=$(mktemp -d)
PORT=${BENCH_PORT:-18102}
BASE="http://127.0.0.1:$PORT"
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT

serve() { # db → starts the server, waits until it is ready
  STACKD_LOG=warn "$BIN" serve --dev --db "$1" --listen "127.0.0.1:$PORT" > "$DIR/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do curl -fs "$BASE/health/ready" >/dev/null && return; sleep 0.05; done
  echo "server did not become ready" >&2; cat "$DIR/server.log" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

write_signup_lua "$DIR/signup.lua"
cat > "$DIR/server.lua" <<LUA
wrk.headers["x-stack-access-type"] = "server"
wrk.headers["x-stack-project-id"] = "internal"
wrk.headers["x-stack-secret-server-key"] = "$SSK"
LUA
signup_rate() { wrk -t2 -c64 -d10s -s "$DIR/signup.lua" "$BASE/api/v1/auth/password/sign-up" | ok_rate; }

# 1. An empty database: the sign-up rate to compare with, and a real argon2id hash for the import.
serve "$DIR/empty.db"
EMPTY_SIGNUP=$(signup_rate)
curl -fs "$BASE/api/v1/auth/password/sign-up" -H 'x-stack-access-type: client' -H 'x-stack-project-id: internal' \
  -H "x-stack-publishable-client-key: $PCK" -H 'content-type: application/json' \
  -d '{"email":"hash-source@example.com","password":"bench-password-1"}' >/dev/null
HASH=$("$BIN" users export --db "$DIR/empty.db" 2>/dev/null | python3 -c '
import json, sys
found = None
for line in sys.stdin:
    u = json.loads(line)
    if u["password_hash"] and not found: found = u["password_hash"]
print(found)' 2>/dev/null || true)
stop

# 2. The million: generated as JSON Lines and streamed into `stackd users import` (no server running).
serve "$DIR/million.db"; stop   # the development project `internal` to import into
IMPORT_START=$(date +%s.%N)
python3 - "$USERS" "$HASH" <<'PY' | "$BIN" users import - --db "$DIR/million.db" --batch 5000 > "$DIR/import.out" 2> "$DIR/import.err"
import json, sys, uuid
n, password_hash = int(sys.argv[1]), sys.argv[2]
base = 1_600_000_000_000
out = sys.stdout
for i in range(n):
    at = base + i * 1000
    out.write(json.dumps({
        "id": str(uuid.UUID(int=i + 1)), "display_name": f"User {i}", "signed_up_at_millis": at,
        "password_hash": password_hash, "server_metadata": {"plan": "free", "n": i},
        "contact_channels": [{"id": str(uuid.UUID(int=(1 << 100) + i)), "type": "email", "value": f"user{i}@million.example",
                              "is_primary": True, "is_verified": True, "used_for_auth": True, "created_at_millis": at}],
    }, separators=(",", ":")))
    out.write("\n")
PY
IMPORT_END=$(date +%s.%N)
IMPORTED=$(grep -o 'Imported [0-9]* users' "$DIR/import.out" | awk '{print $2}')
IMPORT_SECS=$(awk -v a="$IMPORT_START" -v b="$IMPORT_END" 'BEGIN { printf "%.1f", b - a }')

# 3. The API on a million users.
serve "$DIR/million.db"
page() { wrk -t2 -c8 -d5s --latency -s "$DIR/server.lua" "$BASE$1" | awk '$1 == "99%" {print $2}'; }
FIRST_PAGE=$(ms "$(page '/api/v1/users?limit=100')")
MIDDLE=$(python3 -c "import uuid; print(uuid.UUID(int=$USERS // 2))")
MIDDLE_PAGE=$(ms "$(page "/api/v1/users?limit=100&cursor=$MIDDLE")")
LOOKUP=$(for i in 1 2 3 4 5; do
  curl -fs -o /dev/null -w '%{time_total}\n' "$BASE/api/v1/users?limit=1&query=user$((USERS * i / 6))@million.example" \
    -H 'x-stack-access-type: server' -H 'x-stack-project-id: internal' -H "x-stack-secret-server-key: $SSK"
done | sort -n | awk '{ t[NR] = $1 * 1000 } END { printf "median %.0f ms, max %.0f ms", t[int((NR + 1) / 2)], t[NR] }')
FULL_SIGNUP=$(signup_rate)
ACCESS=$(curl -fs "$BASE/api/v1/auth/password/sign-up" -H 'x-stack-access-type: client' -H 'x-stack-project-id: internal' \
  -H "x-stack-publishable-client-key: $PCK" -H 'content-type: application/json' \
  -d '{"email":"me-bench@example.com","password":"bench-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
write_me_lua "$DIR/me.lua" "$ACCESS"
ME_RPS=$(wrk -t2 -c64 -d10s -s "$DIR/me.lua" "$BASE/api/v1/users/me" | awk '/Requests\/sec/ {printf "%.0f", $2}')
RSS=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$PID/status")
stop
SIZE=$(du -cm "$DIR"/million.db* | awk 'END {print $1}')

echo
echo "a million users ($USERS imported through \`stackd users import\`, batches of 5,000, synchronous=full):"
echo "  import:        ${IMPORTED:-0} users in ${IMPORT_SECS} s = $(awk -v n="${IMPORTED:-0}" -v s="$IMPORT_SECS" 'BEGIN { printf "%.0f", n / s }') users/s (generating the JSON in Python included)"
echo "  list page:     GET /users?limit=100 p99 ${FIRST_PAGE} ms (first page), ${MIDDLE_PAGE} ms (a page from the middle, by cursor)"
echo "  e-mail lookup: GET /users?query=<e-mail>&limit=1 ${LOOKUP} (substring search)"
echo "  sign-up:       ${FULL_SIGNUP}/s with a million users vs ${EMPTY_SIGNUP}/s on an empty database ($(awk -v a="$FULL_SIGNUP" -v b="$EMPTY_SIGNUP" 'BEGIN { printf "%+.0f%%", 100 * (a - b) / b }'))"
echo "  /users/me:     ${ME_RPS} req/s; server peak RSS ${RSS} MiB"
echo "  database size: ${SIZE} MiB"
