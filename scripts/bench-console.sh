#!/usr/bin/env bash
# Server time of every console page and API call on a big store: curl's time_starttransfer (request
# sent to first byte of the answer), median of 7 after one warm-up request, release build.
# The store: flint bench ledger --events 1400000 --database FILE (about a million runs); it is only read.
# Usage: scripts/bench-console.sh FILE [port, default 8082]
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${1:?usage: scripts/bench-console.sh FILE [port]}"
PORT="${2:-8082}"
if [ -z "${FLINT_BIN:-}" ]; then swift build -c release --product flint >/dev/null; fi
BIN="${FLINT_BIN:-.build/release/flint}"
"$BIN" bench console --database "$DB" --listen "127.0.0.1:$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.05; done
BASE="http://127.0.0.1:$PORT"

# A run, an event and a user of the store, read through the API itself.
RUN=$(curl -s "$BASE/api/v1/runs?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
EVENT=$(curl -s "$BASE/api/v1/runs/$RUN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event_id"])')
USER_KEY=user-5000
OLD=$(( RUN - 500000 ))

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-58s %10s %8s\n' "path" "median ms" "bytes"
for path in \
  "/ui/" \
  "/ui/runs" \
  "/ui/runs?status=scheduled" \
  "/ui/runs?rule=cart-abandoned&status=not_matched" \
  "/ui/runs?before=$OLD" \
  "/ui/runs?since=1h" \
  "/ui/runs/$RUN" \
  "/ui/events/$EVENT" \
  "/ui/users?user=$USER_KEY" \
  "/ui/rules" \
  "/ui/sends" \
  "/ui/sends?zone=America/New_York&days=14" \
  "/api/v1/status" \
  "/api/v1/runs" \
  "/api/v1/runs?after=$OLD" \
  "/api/v1/why?user=$USER_KEY" \
  "/api/v1/sends" \
  ; do
  curl -s -o /dev/null "$BASE$path"
  times=$(for _ in 1 2 3 4 5 6 7; do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$BASE$path"; done)
  bytes=$(curl -s -o /dev/null -w '%{size_download}' "$BASE$path")
  ms=$(echo "$times" | median | awk '{printf "%.1f", $1 * 1000}')
  printf '%-58s %10s %8s\n' "$path" "$ms" "$bytes"
done
