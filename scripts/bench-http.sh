#!/usr/bin/env bash
# HTTP ingest benchmark, in one go on this machine (release build, wrk -t2 -c64):
#   (a) a bare Hummingbird endpoint that decodes the body and answers 202
#   (b) flint serve's /v1/events, single ~300-byte events, the example rules, 202 after commit
#   (c) flint serve's /v1/events, NDJSON batches of 100 events
# Then checks that every event flint answered 202 for is in the database, and reads serve's peak RSS.
# Usage: scripts/bench-http.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
swift build -c release --product flint >/dev/null
BIN=.build/release/flint
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

cat > "$WORK/single.lua" <<'LUA'
-- Every request a new messageId, so each one is a new event (300 bytes or so).
local counter = 0
local thread_id = 0
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
request = function()
  counter = counter + 1
  local body = string.format('{"type":"track","event":"Cart Abandoned","messageId":"w-%d-%d","userId":"u-%d","timestamp":"2026-11-29T18:05:00Z","properties":{"cart_value":59.5,"currency":"USD","items":[{"sku":"A1","name":"Socks"}]},"context":{"timezone":"America/Los_Angeles","ip":"203.0.113.9"}}', tid, counter, counter % 5000)
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"}, body)
end
LUA
cat > "$WORK/batch.lua" <<'LUA'
-- NDJSON batches of 100 events.
local counter = 0
local thread_id = 0
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
request = function()
  local lines = {}
  for i = 1, 100 do
    counter = counter + 1
    lines[i] = string.format('{"type":"track","event":"Cart Abandoned","messageId":"b-%d-%d","userId":"u-%d","timestamp":"2026-11-29T18:05:00Z","properties":{"cart_value":59.5,"currency":"USD","items":[{"sku":"A1","name":"Socks"}]},"context":{"timezone":"America/Los_Angeles","ip":"203.0.113.9"}}', tid, counter, counter % 5000)
  end
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/x-ndjson"}, table.concat(lines, "\n"))
end
LUA

echo "== (a) bare Hummingbird: decode + 202"
$BIN bench http-baseline --listen 127.0.0.1:18091 & BASE=$!
wait_port 18091
wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/single.lua" http://127.0.0.1:18091 | tee "$WORK/a.txt"
kill $BASE; wait $BASE 2>/dev/null || true

echo "== (b) flint serve: single events"
cp -r rules "$WORK/rules"
(cd "$WORK" && FLINT_LOG_LEVEL=warning "$OLDPWD/$BIN" serve --listen 127.0.0.1:18092 --database "$WORK/flint.db" --rules "$WORK/rules" --inbox "$WORK/inbox" > "$WORK/serve.out" 2> "$WORK/serve.err") & SERVE=$!
wait_port 18092
wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/single.lua" http://127.0.0.1:18092 | tee "$WORK/b.txt"

echo "== (c) flint serve: NDJSON batches of 100"
wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/batch.lua" http://127.0.0.1:18092 | tee "$WORK/c.txt"
PID=$(pgrep -f "flint serve --listen 127.0.0.1:18092" | head -1)
RSS=$(awk '/VmHWM/ {print int($2/1024)}' /proc/"$PID"/status)
kill -TERM "$PID"; wait $SERVE 2>/dev/null || true

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '/ 99%/ {print $2}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $5}' "$1"; }
EVENTS=$($BIN events --json --limit 100000000 --database "$WORK/flint.db" --rules "$WORK/rules" | grep -c '"seq"' || true)
STATUS=$($BIN status --database "$WORK/flint.db" --rules "$WORK/rules")
echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 -c64 -d${DURATION}s)"
printf "(a) bare Hummingbird 202:      %10s req/s  p99 %s\n" "$(rps "$WORK/a.txt")" "$(p99 "$WORK/a.txt")"
printf "(b) flint serve, single:       %10s req/s  p99 %s  non-2xx %s\n" "$(rps "$WORK/b.txt")" "$(p99 "$WORK/b.txt")" "$(non2xx "$WORK/b.txt" || echo 0)"
printf "(c) flint serve, NDJSON x100:  %10s req/s  = %s events/s  p99 %s\n" "$(rps "$WORK/c.txt")" "$(awk -v r="$(rps "$WORK/c.txt")" 'BEGIN {printf "%.0f", r*100}')" "$(p99 "$WORK/c.txt")"
awk -v a="$(rps "$WORK/a.txt")" -v b="$(rps "$WORK/b.txt")" 'BEGIN {printf "(b)/(a): %.0f%%\n", 100*b/a}'
echo "events in the database after the runs: $EVENTS"
echo "$STATUS" | sed -n '2,4p'
echo "flint serve peak RSS: ${RSS} MB"
