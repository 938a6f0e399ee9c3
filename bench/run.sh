#!/usr/bin/env bash
# make bench: release build, real server on a temp database, wrk at 64 connections per scenario.
# Prints req/s, p50, p99 and the server's peak RSS. Not a test: nothing here asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi

cargo build --release --bin stackd --example argon2_time --example token_time --example smtp_sink --example webhook_sink -q
# Cargo's real target directory (CARGO_TARGET_DIR or .cargo/config may move it).
TARGET_DIR=${TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}
# The two CPU-bound primitives, measured on an idle machine before any load.
ARGON_MS=$("$TARGET_DIR"/release/examples/argon2_time)
TOKEN_TIMES=$("$TARGET_DIR"/release/examples/token_time)            # "sign X µs, verify (uncached) Y µs"
SIGN_US=$(echo "$TOKEN_TIMES" | awk '{print $2}')
BIN="$TARGET_DIR"/release/stackd
DIR=$(mktemp -d)
PORT=${BENCH_PORT:-18102}
BASE="http://127.0.0.1:$PORT"
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SMTP_PORT=${BENCH_SMTP_PORT:-18125}
# A local SMTP sink (examples/smtp_sink.rs) receives the e-mails the OTP scenario queues.
"$TARGET_DIR"/release/examples/smtp_sink "$SMTP_PORT" "$DIR/smtp.count" &
SINK=$!
# A local webhook receiver (examples/webhook_sink.rs) logs each delivery's svix-id and arrival time.
HOOK_PORT=${BENCH_HOOK_PORT:-18126}
"$TARGET_DIR"/release/examples/webhook_sink "$HOOK_PORT" "$DIR/hooks.log" &
HOOK_SINK=$!
STACKD_LOG=warn "$BIN" serve --dev --db "$DIR/bench.db" --listen "127.0.0.1:$PORT" \
  --smtp-url "smtp://127.0.0.1:$SMTP_PORT?tls=none" > "$DIR/server.log" 2>&1 &
PID=$!
trap 'kill $PID $SINK $HOOK_SINK 2>/dev/null; wait $PID $SINK $HOOK_SINK 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do curl -fs "$BASE/health" >/dev/null && break; sleep 0.05; done
# Idle: started, the development project created, nothing asked yet.
sleep 0.5
IDLE_RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")

SIGNUP=$(curl -fs "$BASE/api/v1/auth/password/sign-up" -H 'x-stack-access-type: client' -H 'x-stack-project-id: internal' \
  -H "x-stack-publishable-client-key: $PCK" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench-password-1"}')
ACCESS=$(echo "$SIGNUP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
REFRESH=$(echo "$SIGNUP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')

write_me_lua "$DIR/me.lua" "$ACCESS"
# A second user that a background writer updates: 4 connections, each pausing 1 ms between requests
# (wrk's delay()); durable commits (synchronous=full) cap what it reaches, and the bench prints that.
OTHER=$(curl -fs "$BASE/api/v1/users" -H 'x-stack-access-type: server' -H 'x-stack-project-id: internal' \
  -H "x-stack-secret-server-key: $SSK" -H 'content-type: application/json' -d '{"display_name":"writer target"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cat > "$DIR/writer.lua" <<LUA
wrk.method = "PATCH"
wrk.headers["x-stack-access-type"] = "server"
wrk.headers["x-stack-project-id"] = "internal"
wrk.headers["x-stack-secret-server-key"] = "$SSK"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"server_metadata":{"tick":1}}'
function delay() return 1 end
LUA
cat > "$DIR/refresh.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/x-www-form-urlencoded;charset=UTF-8"
wrk.body = "refresh_token=$REFRESH&grant_type=refresh_token&client_id=internal&client_secret=$PCK"
LUA
cat > "$DIR/signin.lua" <<LUA
wrk.method = "POST"
wrk.headers["x-stack-access-type"] = "client"
wrk.headers["x-stack-project-id"] = "internal"
wrk.headers["x-stack-publishable-client-key"] = "$PCK"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"bench-password-1"}'
LUA

write_signup_lua "$DIR/signup.lua"

cat > "$DIR/otp.lua" <<LUA
wrk.method = "POST"
wrk.headers["x-stack-access-type"] = "client"
wrk.headers["x-stack-project-id"] = "internal"
wrk.headers["x-stack-publishable-client-key"] = "$PCK"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"email":"otp-bench@example.com","callback_url":"http://localhost:3000/handler/magic-link-callback"}'
LUA

# Teams: the bench user is in 10 teams; in the first it holds p1, the top of a 5-level chain
# p1 ⊃ p2 ⊃ p3 ⊃ p4 ⊃ p5 ⊃ \$update_team.
SAK=this-super-secret-admin-key-is-for-local-development-only
BENCH_USER=$(echo "$SIGNUP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user_id"])')
server() { curl -fs "$BASE/api/v1$1" -H 'x-stack-access-type: server' -H 'x-stack-project-id: internal' \
  -H "x-stack-secret-server-key: $SSK" -H 'content-type: application/json' "${@:2}"; }
admin() { curl -fs "$BASE/api/v1$1" -H 'x-stack-access-type: admin' -H 'x-stack-project-id: internal' \
  -H "x-stack-super-secret-admin-key: $SAK" -H 'content-type: application/json' "${@:2}"; }
for i in $(seq 10); do
  TEAM=$(server /teams -d "{\"display_name\":\"bench team $i\",\"creator_user_id\":\"$BENCH_USER\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  [ "$i" = 1 ] && FIRST_TEAM=$TEAM
done
NEXT='$update_team'
for level in 5 4 3 2 1; do
  admin /team-permission-definitions -d "{\"id\":\"p$level\",\"contained_permission_ids\":[\"$NEXT\"]}" >/dev/null
  NEXT=p$level
done
server "/team-permissions/$FIRST_TEAM/$BENCH_USER/p1" -d "{}" >/dev/null


declare -A RPS REQS P99
run() { # name path [lua]
  local name=$1 path=$2 script=${3:-}
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency ${script:+-s "$script"} "$BASE$path")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  RPS[$name]=$rps
  P99[$name]=$(ms "$p99")
  REQS[$name]=$(echo "$out" | awk '/requests in/ {print $1}')
  printf "| %-28s | %10.0f | %8s | %8s | %s\n" "$name" "$rps" "$(ms "$p50")" "$(ms "$p99")" "${non2xx:+($non2xx non-2xx!)}"
}

echo "stackd bench: $CONNECTIONS connections, $DURATION per scenario, $(nproc) cores, wrk -t2 on the same machine"
echo
echo "| scenario                     |      req/s | p50 (ms) | p99 (ms) |"
echo "|------------------------------|-----------:|---------:|---------:|"
run "GET /api/v1 (ceiling)" /api/v1
run "GET /users/me" /api/v1/users/me "$DIR/me.lua"
wrk -t1 -c4 -d"$DURATION" -s "$DIR/writer.lua" "$BASE/api/v1/users/$OTHER" > "$DIR/writer.out" 2>&1 &
WRITER=$!
run "GET /users/me + writer (1/ms)" /api/v1/users/me "$DIR/me.lua"
wait $WRITER
WRITES=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$DIR/writer.out")
run "refresh grant (oauth/token)" /api/v1/auth/oauth/token "$DIR/refresh.lua"
run "JWKS" /api/v1/projects/internal/.well-known/jwks.json
run "GET /teams?user_id=me (10)" "/api/v1/teams?user_id=me" "$DIR/me.lua"
run "team perms, 5-level recursive" "/api/v1/team-permissions?team_id=$FIRST_TEAM&user_id=me&recursive=true" "$DIR/me.lua"
run "password sign-in" /api/v1/auth/password/sign-in "$DIR/signin.lua"
run "password sign-up" /api/v1/auth/password/sign-up "$DIR/signup.lua"
AUTH_PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
metric() { curl -fs "$BASE/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Overload: 512 connections of sign-ups; past the hashing queue's bound requests are shed with 503.
SHED_BEFORE=$(metric stackd_password_hashing_rejections_total)
DURATION_SAVED=$DURATION; DURATION=5s; CONNECTIONS_SAVED=$CONNECTIONS; CONNECTIONS=512
run "sign-up at 512 connections" /api/v1/auth/password/sign-up "$DIR/signup.lua"
DURATION=$DURATION_SAVED; CONNECTIONS=$CONNECTIONS_SAVED
SHED=$(awk -v a="$(metric stackd_password_hashing_rejections_total)" -v b="$SHED_BEFORE" 'BEGIN { printf "%.0f", a - b }')
OVERLOAD_PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
# /users/me at 32 connections while 64 connections of sign-ups keep the hashing pool saturated
# (after the queue the 512-connection run filled has drained).
sleep 6
wrk -t1 -c64 -d12s -s "$DIR/signup.lua" "$BASE/api/v1/auth/password/sign-up" > "$DIR/saturating.out" 2>&1 &
SATURATING=$!
sleep 1
CONNECTIONS_SAVED=$CONNECTIONS; CONNECTIONS=32
run "GET /users/me (32) + sign-ups" /api/v1/users/me "$DIR/me.lua"
CONNECTIONS=$CONNECTIONS_SAVED
wait $SATURATING
SATURATING_RPS=$(ok_rate < "$DIR/saturating.out")
# E-mail: each OTP request writes a code and an outbox row in one transaction; the worker delivers
# to the local sink meanwhile. Then /users/me runs while the worker drains what is left.
DURATION_SAVED=$DURATION; DURATION=${BENCH_OTP_DURATION:-5s}
run "OTP send (enqueues an e-mail)" /api/v1/auth/otp/send-sign-in-code "$DIR/otp.lua"
DURATION=$DURATION_SAVED
QUEUED=${REQS["OTP send (enqueues an e-mail)"]}
sent() { local c; c=$(cat "$DIR/smtp.count" 2>/dev/null); echo "${c:-0}"; }
DRAIN_START_COUNT=$(sent); DRAIN_START=$(date +%s.%N)
( while [ "$(sent)" -lt "$QUEUED" ]; do sleep 0.02; done; date +%s.%N > "$DIR/drained" ) &
DRAINER=$!
run "GET /users/me + e-mail worker" /api/v1/users/me "$DIR/me.lua"
for _ in $(seq 6000); do [ -f "$DIR/drained" ] && break; sleep 0.02; done
kill $DRAINER 2>/dev/null || true
DRAIN_END=$(cat "$DIR/drained" 2>/dev/null || date +%s.%N)
DELIVERED=$(( $(sent) - DRAIN_START_COUNT ))

# Webhooks: one endpoint on the local receiver. Latency: 200 events one at a time (a user update
# each, 10 ms apart), from the event's commit time to its arrival.
SVIX=$(admin /webhooks/svix-token -d '{}')
SVIX_URL=$(echo "$SVIX" | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
SVIX_TOKEN=$(echo "$SVIX" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -fs "$SVIX_URL/api/v1/app/internal/endpoint" -H "authorization: Bearer $SVIX_TOKEN" \
  -H 'content-type: application/json' -d "{\"url\":\"http://127.0.0.1:$HOOK_PORT/hook\"}" >/dev/null
hooks() { local n; n=$(wc -l < "$DIR/hooks.log" 2>/dev/null); echo "${n:-0}"; }
last_seq() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COALESCE(MAX(seq),0) FROM events").fetchone()[0])' "$DIR/bench.db"; }
BURST_BASE=$(last_seq)
for i in $(seq 200); do server "/users/$OTHER" -X PATCH -d "{\"display_name\":\"hook $i\"}" >/dev/null; sleep 0.01; done
for _ in $(seq 500); do [ "$(hooks)" -ge 200 ] && break; sleep 0.02; done
HOOK_LATENCY=$(python3 - "$DIR/bench.db" "$DIR/hooks.log" <<'PY'
import sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1])
lat = []
for line in open(sys.argv[2]):
    msg, arrived = line.split()
    row = db.execute("SELECT created_at FROM events WHERE id = ?", (str(uuid.UUID(msg[4:])),)).fetchone()
    if row:
        lat.append(int(arrived) - row[0])
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{len(lat)} events, p50 {q(0.5)} ms, p99 {q(0.99)} ms")
PY
)
# Throughput: deleting a user who is in 1,000 teams commits 1,001 events at once (user.deleted and a
# team_membership.deleted per team), a real backlog. First to the receiver as it is (the dispatcher's
# rate); then to a receiver that answers after 100 ms, as one across a network does, which keeps the
# dispatcher busy for over a second while /users/me is measured for 1 s (wrk's shortest run).
in_1000_teams() { # → a new user in 1,000 teams, once their team.created deliveries have arrived
  local user
  user=$(server /users -d '{"display_name":"webhook bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  seq 1000 | xargs -P 4 -I{} curl -fs -o /dev/null "$BASE/api/v1/teams" -H 'x-stack-access-type: server' \
    -H 'x-stack-project-id: internal' -H "x-stack-secret-server-key: $SSK" -H 'content-type: application/json' \
    -d "{\"display_name\":\"hooked {}\",\"creator_user_id\":\"$user\"}"
  for _ in $(seq 3000); do [ "$(hooks)" -ge $(( $(last_seq) - BURST_BASE )) ] && break; sleep 0.02; done
  echo "$user"
}
delete_user() {
  curl -fs -o /dev/null -X DELETE "$BASE/api/v1/users/$1" -H 'x-stack-access-type: server' \
    -H 'x-stack-project-id: internal' -H "x-stack-secret-server-key: $SSK"
}
drain() { # events since $1, delivered since hook line $2 → "<seconds> <deliveries/s>"
  local n=$(( $(last_seq) - $1 ))
  for _ in $(seq 3000); do [ "$(hooks)" -ge $(( $2 + n )) ] && break; sleep 0.02; done
  tail -n "$n" "$DIR/hooks.log" | awk 'NR == 1 {a = $2} {b = $2} END { d = (b - a) / 1000; if (d <= 0) d = 0.001; printf "%.2f %.0f", d, NR / d }'
}
HOOKED=$(in_1000_teams)
FROM=$(last_seq); BEFORE=$(hooks)
delete_user "$HOOKED"
BURST=$(( $(last_seq) - FROM ))
HOOK_DRAIN=$(drain "$FROM" "$BEFORE")
kill $HOOK_SINK; wait $HOOK_SINK 2>/dev/null || true
"$TARGET_DIR"/release/examples/webhook_sink "$HOOK_PORT" "$DIR/hooks.log" 100 &
HOOK_SINK=$!
HOOKED=$(in_1000_teams)
FROM=$(last_seq); BEFORE=$(hooks)
DURATION_SAVED=$DURATION; DURATION=1s
( sleep 0.1; delete_user "$HOOKED" ) &
run "GET /users/me + webhook delivery" /api/v1/users/me "$DIR/me.lua"
DURATION=$DURATION_SAVED
SLOW_DRAIN=$(drain "$FROM" "$BEFORE")
echo
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
CORES=$(nproc)
SIGN_BOUND=$(awk -v us="$SIGN_US" -v c="$CORES" 'BEGIN { printf "%.0f", c * 1000000 / us }')
BOUND=$(awk -v ms="$ARGON_MS" -v c="$CORES" 'BEGIN { printf "%.0f", c * 1000 / ms }')
ceiling=${RPS["GET /api/v1 (ceiling)"]}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
echo "memory:    idle RSS $((IDLE_RSS_KB / 1024)) MiB; peak RSS through the sign-in and sign-up scenarios $((AUTH_PEAK_KB / 1024)) MiB (target ≤ 80), with 512 connections of sign-ups $((OVERLOAD_PEAK_KB / 1024)) MiB, over the whole bench $((RSS_KB / 1024)) MiB"
echo "overload:  512 connections of sign-ups: ${SHED} requests shed with 503 + Retry-After (hashing queue bound); /users/me at 32 connections while sign-ups saturate the hashing pool (${SATURATING_RPS} sign-ups/s): p99 ${P99["GET /users/me (32) + sign-ups"]} ms (target ≤ 10)"
echo "argon2id verification: ${ARGON_MS} ms → ${CORES}-core bound ${BOUND} sign-ins/s"
echo "ES256 (p256): ${TOKEN_TIMES} → ${CORES}-core signing bound ${SIGN_BOUND} tokens/s"
echo "/users/me: $(pct "${RPS["GET /users/me"]}" "$ceiling") of ceiling (target ≥ 50%)"
echo "/users/me with a writer committing ${WRITES} times/s: $(pct "${RPS["GET /users/me + writer (1/ms)"]}" "${RPS["GET /users/me"]}") of /users/me alone"
echo "refresh:   $(pct "${RPS["refresh grant (oauth/token)"]}" "$ceiling") of ceiling (target ≥ 25%); $(pct "${RPS["refresh grant (oauth/token)"]}" "$SIGN_BOUND") of the signing bound"
echo "JWKS:      $(pct "${RPS["JWKS"]}" "$ceiling") of ceiling (target ≥ 80%)"
echo "teams:     GET /teams?user_id=me (10 teams) $(pct "${RPS["GET /teams?user_id=me (10)"]}" "$ceiling") of ceiling; recursive permission listing over a 5-level chain $(pct "${RPS["team perms, 5-level recursive"]}" "$ceiling") of ceiling"
echo "sign-up:   $(pct "${RPS["password sign-up"]}" "$BOUND") of the argon2id bound"
echo "sign-in:   $(pct "${RPS["password sign-in"]}" "$BOUND") of the argon2id bound (target ≥ 90%)"
echo "e-mail:    ${QUEUED} queued by the OTP scenario, $(sent) delivered to the SMTP sink; worker drained ${DELIVERED} of them at $(awk -v n="$DELIVERED" -v a="$DRAIN_START" -v b="$DRAIN_END" 'BEGIN { d = b - a; if (d <= 0) d = 0.001; printf "%.0f", n / d }') e-mails/s"
echo "/users/me while the worker delivers: $(pct "${RPS["GET /users/me + e-mail worker"]}" "${RPS["GET /users/me"]}") of /users/me alone"
echo "webhooks:  event-to-delivery latency ($HOOK_LATENCY); ${BURST} events committed at once delivered in ${HOOK_DRAIN% *} s = ${HOOK_DRAIN#* } deliveries/s"
echo "           to a receiver answering in 100 ms: ${SLOW_DRAIN% *} s = ${SLOW_DRAIN#* } deliveries/s; /users/me in a 1 s window inside that delivery $(pct "${RPS["GET /users/me + webhook delivery"]}" "${RPS["GET /users/me"]}") of /users/me alone"
