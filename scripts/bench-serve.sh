#!/usr/bin/env bash
# The pipeline benchmark (docs/architecture.md, The pipeline), in one go on this machine (release build):
#   (a) a bare Hummingbird endpoint that decodes the body and answers 202 (flint bench http-baseline)
#   (b) flint serve's Segment endpoint /v1/track, single track events with fresh messageIds and a
#       Bearer token, the three bench rules (each event: three decided runs, three sends), the built-in
#       Braze sandbox; then how long deciding takes to catch up, and the decide lag serve reports
#   (b2) the same at half of (b)'s rate (wrk's per-connection delay): latency when not saturated
#   (d) NDJSON batches of 100 such events on /v1/events: events/s accepted, and accepted + decided
#   (c) flint ingest of N such events (NDJSON) with the same rules: events/s accepted and decided
# Usage: scripts/bench-serve.sh [seconds per wrk run, default 10] [events for ingest, default 300000]
# Needs: wrk (apt-get install -y wrk), python3. RULES=DIR overrides the rules (default:
# scripts/bench-rules, three rules that each match every Cart Abandoned event of the workload).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
INGEST_EVENTS="${2:-300000}"
RULES="${RULES:-scripts/bench-rules}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
swift build -c release --product flint >/dev/null
BIN="$PWD/.build/release/flint"
WORK=$(mktemp -d)
TOKEN=bench-token-0123456789
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

cat > "$WORK/track.lua" <<LUA
-- A Segment track call (~300 bytes) per request, a fresh messageId each, users over 50,000 ids.
local counter = 0
local thread_id = 0
local zones = {"America/Los_Angeles", "Europe/Paris", "Asia/Kolkata", "Asia/Tokyo", "America/New_York"}
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
request = function()
  counter = counter + 1
  local body = string.format('{"type":"track","event":"Cart Abandoned","messageId":"w-%d-%d","userId":"u-%d","timestamp":"2026-11-29T18:05:00Z","properties":{"cart_value":%d,"currency":"USD","items":[{"sku":"A1","name":"Socks"}]},"context":{"timezone":"%s","ip":"203.0.113.9"}}', tid, counter, counter % 50000, 25 + counter % 900, zones[counter % 5 + 1])
  return wrk.format("POST", "/v1/track", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $TOKEN"}, body)
end
LUA

# Starts flint serve on port 18192 with a fresh database; SERVE is its pid (exec: the serve itself,
# not a subshell, so stop_serve's TERM reaches it).
start_serve() {
  rm -rf "$WORK/serve.db"*
  (cd "$WORK" && FLINT_WEBHOOK_TOKEN=$TOKEN FLINT_LOG_LEVEL=warning exec "$BIN" serve --listen 127.0.0.1:18192 --database "$WORK/serve.db" --rules "$WORK/rules" --inbox "$WORK/inbox" > "$WORK/serve.out" 2> "$WORK/serve.err") &
  SERVE=$!
  wait_port 18192
}
stop_serve() { kill -TERM "$SERVE"; wait "$SERVE" 2>/dev/null || true; }

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '/ 99%/ {print $2}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $5}' "$1"; }
backlog() { "$BIN" status --json --database "$1" --rules "$WORK/rules" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["decisions"]["backlog"])'; }

echo "== (a) bare Hummingbird: decode + 202"
"$BIN" bench http-baseline --listen 127.0.0.1:18191 > /dev/null & BASE=$!
wait_port 18191
wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/track.lua" http://127.0.0.1:18191 | tee "$WORK/a.txt"
kill $BASE; wait $BASE 2>/dev/null || true

echo "== (b) flint serve: Segment /v1/track, single events, $(ls "$RULES" | wc -l) rules, the Braze sandbox"
cp -r "$RULES" "$WORK/rules"
start_serve
wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/track.lua" http://127.0.0.1:18192 | tee "$WORK/b.txt"
METRICS=$(curl -s http://127.0.0.1:18192/metrics)
LEFT=$(backlog "$WORK/serve.db")
START=$(date +%s.%N)
while [ "$(backlog "$WORK/serve.db")" != "0" ]; do sleep 0.2; done
CATCHUP=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e-s}')
RSS=$(awk '/VmHWM/ {print int($2/1024)}' /proc/"$SERVE"/status)
STATUS_B=$("$BIN" status --database "$WORK/serve.db" --rules "$WORK/rules" | grep -E "^(events|decisions|runs|outbox)")
stop_serve

echo "== (b2) flint serve at half of (b)'s rate: latency when not saturated"
HALF=$(awk -v b="$(rps "$WORK/b.txt")" 'BEGIN {printf "%d", b/2}')
# wrk has no rate option; each of the 64 connections waits DELAY ms before its next request.
DELAY=$(awk -v r="$HALF" 'BEGIN {d = 64000 / (r > 0 ? r : 1); printf "%d", (d < 1 ? 1 : d)}')
sed "s/^request = function()/delay = function() return $DELAY end\nrequest = function()/" "$WORK/track.lua" > "$WORK/track-half.lua"
start_serve
wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/track-half.lua" http://127.0.0.1:18192 | tee "$WORK/b2.txt"
stop_serve

echo "== (d) flint serve: NDJSON batches of 100 events on /v1/events, accepted then decided"
cat > "$WORK/ndjson.lua" <<LUA
-- 100 track events a request, one a line, fresh messageIds.
local counter = 0
local thread_id = 0
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
request = function()
  local lines = {}
  for i = 1, 100 do
    counter = counter + 1
    lines[i] = string.format('{"type":"track","event":"Cart Abandoned","messageId":"n-%d-%d","userId":"u-%d","timestamp":"2026-11-29T18:05:00Z","properties":{"cart_value":%d,"currency":"USD","items":[{"sku":"A1","name":"Socks"}]},"context":{"timezone":"Europe/Paris","ip":"203.0.113.9"}}', tid, counter, counter % 50000, 25 + counter % 900)
  end
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/x-ndjson", ["Authorization"] = "Bearer $TOKEN"}, table.concat(lines, "\n"))
end
LUA
start_serve
START_D=$(date +%s.%N)
wrk -t2 -c16 -d"${DURATION}s" --latency -s "$WORK/ndjson.lua" http://127.0.0.1:18192 | tee "$WORK/d.txt"
while [ "$(backlog "$WORK/serve.db")" != "0" ]; do sleep 0.2; done
D_S=$(awk -v s="$START_D" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e-s}')
D_EVENTS=$("$BIN" status --json --database "$WORK/serve.db" --rules "$WORK/rules" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
stop_serve

echo "== (c) flint ingest: $INGEST_EVENTS events"
python3 - "$INGEST_EVENTS" > "$WORK/events.ndjson" <<'PY'
import sys
zones = ["America/Los_Angeles", "Europe/Paris", "Asia/Kolkata", "Asia/Tokyo", "America/New_York"]
out = sys.stdout
for i in range(int(sys.argv[1])):
    out.write('{"type":"track","event":"Cart Abandoned","messageId":"i-%d","userId":"u-%d","timestamp":"2026-11-29T18:05:00Z","properties":{"cart_value":%d,"currency":"USD","items":[{"sku":"A1","name":"Socks"}]},"context":{"timezone":"%s","ip":"203.0.113.9"}}\n' % (i, i % 50000, 25 + i % 900, zones[i % 5]))
PY
START=$(date +%s.%N)
(cd "$WORK" && "$BIN" ingest "$WORK/events.ndjson" --database "$WORK/ingest.db" --rules "$WORK/rules" --progress > /dev/null)
INGEST_S=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e-s}')
STATUS_C=$("$BIN" status --database "$WORK/ingest.db" --rules "$WORK/rules" | grep -E "^(events|decisions|runs)")

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 -c64 -d${DURATION}s)"
printf "(a) bare Hummingbird 202:        %10s req/s  p99 %s  non-2xx %s\n" "$(rps "$WORK/a.txt")" "$(p99 "$WORK/a.txt")" "$(non2xx "$WORK/a.txt" || echo 0)"
printf "(b) flint serve /v1/track:       %10s req/s  p99 %s  non-2xx %s\n" "$(rps "$WORK/b.txt")" "$(p99 "$WORK/b.txt")" "$(non2xx "$WORK/b.txt" || echo 0)"
awk -v a="$(rps "$WORK/a.txt")" -v b="$(rps "$WORK/b.txt")" 'BEGIN {printf "(b)/(a): %.2f\n", b/a}'
echo "    undecided when wrk stopped: $LEFT; decided all of them ${CATCHUP}s later"
echo "$METRICS" | grep -E "^flint_decide_lag_seconds |^flint_decide_batch_size_(sum|count) " | sed 's/^/    /'
echo "$STATUS_B" | sed 's/^/    /'
echo "    flint serve peak RSS: ${RSS} MB"
printf "(b2) flint serve at half rate:  %10s req/s  p50 %s  p99 %s\n" "$(rps "$WORK/b2.txt")" "$(awk '/ 50%/ {print $2}' "$WORK/b2.txt")" "$(p99 "$WORK/b2.txt")"
awk -v n="$D_EVENTS" -v s="$D_S" -v r="$(rps "$WORK/d.txt")" 'BEGIN {printf "(d) NDJSON x100 over HTTP: %.0f events/s accepted; %d events accepted and decided in %.2f s = %.0f events/s\n", r*100, n, s, n/s}'
awk -v n="$INGEST_EVENTS" -v s="$INGEST_S" 'BEGIN {printf "(c) flint ingest: %d events accepted and decided in %.2f s = %.0f events/s\n", n, s, n/s}'
echo "$STATUS_C" | sed 's/^/    /'
