# Shared by bench/run.sh and bench/million.sh (sourced, not run).

PCK=this-publishable-client-key-is-for-local-development-only
SSK=this-secret-server-key-is-for-local-development-only

ms() { # wrk latency (e.g. 812.00us, 1.20ms, 1.02s) → milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# Successful requests per second from wrk's summary on standard input (a shed or refused request
# does not count).
ok_rate() {
  awk '/requests in/ { n = $1; d = $4 + 0; if ($4 ~ /ms,?$/) d /= 1000; else if ($4 ~ /m,?$/) d *= 60 }
       /Non-2xx/ { bad = $5 } END { printf "%.1f", (n - bad) / d }'
}

write_signup_lua() { # file → a wrk script signing up a new e-mail per request (per-thread tag + counter)
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["x-stack-access-type"] = "client"
wrk.headers["x-stack-project-id"] = "internal"
wrk.headers["x-stack-publishable-client-key"] = "$PCK"
wrk.headers["content-type"] = "application/json"
local counter, tag = 0, 0
function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)); tag = math.random(1, 2000000000) end
function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format('{"email":"s%d-%d@example.com","password":"bench-password-1"}', tag, counter))
end
LUA
}

write_me_lua() { # file access-token → a wrk script for GET /users/me as that user
  cat > "$1" <<LUA
wrk.headers["x-stack-access-type"] = "client"
wrk.headers["x-stack-project-id"] = "internal"
wrk.headers["x-stack-publishable-client-key"] = "$PCK"
wrk.headers["x-stack-access-token"] = "$2"
LUA
}
