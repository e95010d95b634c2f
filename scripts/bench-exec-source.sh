#!/usr/bin/env bash
# Exec source throughput: how fast events from the example Python source (Plugins/Examples/
# ndjson_source.py) become committed events with runs, compared with `flint ingest` of the same file
# in the same run. Release build; prints events/s for both and their ratio.
#   scripts/bench-exec-source.sh [EVENTS]
set -euo pipefail
events=${1:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
flint="$root/.build/release/flint"
[ -x "$flint" ] || { echo "build first: swift build -c release" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/rules"
cat > "$work/rules/bench.yaml" <<'YAML'
id: bench
when:
  event: Order Placed
  if:
    properties.total: { gte: 1000000 }
send:
  campaign_id: c-1
YAML
python3 - "$work/orders.ndjson" "$events" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"type": "track", "event": "Order Placed", "messageId": f"o-{i}", "userId": f"u-{i % 5000}",
                            "timestamp": "2026-11-29T09:00:00Z", "properties": {"order_id": str(i), "total": i % 300}}) + "\n")
PY
cat > "$work/flint.yaml" <<YAML
database: exec.db
rules: rules
plugins:
  - name: orders
    kind: source
    command: [python3, $root/Plugins/Examples/ndjson_source.py]
    env: { SOURCE_FILE: orders.ndjson, MAX_IN_FLIGHT: "${MAX_IN_FLIGHT:-5000}" }
YAML
cd "$work"
count() { python3 -c "import sqlite3,sys; print(sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True).execute('select count(*) from events').fetchone()[0])" "$1" 2>/dev/null || echo 0; }

start=$(date +%s.%N)
"$flint" serve --listen 127.0.0.1:0 > serve.log 2>&1 &
while [ "$(count exec.db)" -lt "$events" ]; do sleep 0.2; done
exec_s=$(echo "$(date +%s.%N) - $start" | bc)
kill -TERM %1; wait || true

start=$(date +%s.%N)
"$flint" ingest --database ingest.db --rules rules orders.ndjson > /dev/null
ingest_s=$(echo "$(date +%s.%N) - $start" | bc)

printf "events %d\nexec source (ndjson_source.py -> flint serve): %.2f s, %.0f events/s\nflint ingest (same file):                     %.2f s, %.0f events/s\nratio exec/ingest: %.2f\n" \
  "$events" "$exec_s" "$(echo "$events / $exec_s" | bc -l)" "$ingest_s" "$(echo "$events / $ingest_s" | bc -l)" "$(echo "$ingest_s / $exec_s" | bc -l)"
