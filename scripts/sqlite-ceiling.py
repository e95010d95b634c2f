#!/usr/bin/env python3
"""What SQLite alone costs for the rows Flint writes per event (BENCHMARKS.md, the pipeline's ceiling).

Creates a database with Flint's schema (`flint` runs its migrations on it), then writes, with INSERT ...
SELECT statements only (no per-row work outside SQLite), what the decider writes for the pipeline workload:
per event one events row, and per matching rule (three) one runs row and one outbox row, the same sizes
and keys as Flint's (fresh message ids, users over 50,000 ids), in transactions of BATCH events, with
Flint's writer settings. The result is an upper bound on events/s for this schema on this machine: Flint
also parses, decides and builds requests. Variants:
  flint   the schema as migrated (every index)
  bare    the same rows with no secondary index at all
Usage: scripts/sqlite-ceiling.py FLINT_BINARY [events, default 200000] [batch, default 1000]
"""
import os, sqlite3, subprocess, sys, tempfile, time

flint = sys.argv[1]
events = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
work = tempfile.mkdtemp()

BODY = ('{"type":"track","event":"Cart Abandoned","messageId":"i-\'||n||\'","userId":"u-\'||(n%50000)||\'",'
        '"timestamp":"2026-11-29T18:05:00Z","properties":{"cart_value":\'||(25+n%900)||\',"currency":"USD",'
        '"items":[{"sku":"A1","name":"Socks"}]},"context":{"timezone":"Europe/Paris","ip":"203.0.113.9"}}')
REQUEST = ('{"broadcast":false,"campaign_id":"5a1d4c2e-8f3b-4a6d-9c7e-1b2a3c4d5e63","recipients":[{"external_user_id":'
           '"u-\'||(n%50000)||\'","trigger_properties":{"cart_value":\'||(25+n%900)||\'}}],"schedule":{"at_optimal_time":false,'
           '"in_local_time":false,"time":"2026-12-07T21:21:22Z"}}')
SCHEDULE = '{"at_optimal_time":false,"in_local_time":false,"time":"2026-12-07T21:21:22Z"}'

def statements(first):
    last = first + batch - 1
    series = f"WITH RECURSIVE s(n) AS (SELECT {first} UNION ALL SELECT n+1 FROM s WHERE n < {last}) "
    rules = "(SELECT 0 AS r, 'bench-after-2h' AS rule UNION ALL SELECT 1, 'bench-at-10' UNION ALL SELECT 2, 'bench-after-2h-at-10')"
    return [
        series + "INSERT INTO events (seq, message_id, type, name, user_key, user_id, timestamp, received_at, source, body) "
        f"SELECT n, 'i-'||n, 'track', 'Cart Abandoned', 'external_user_id:u-'||(n%50000), 'u-'||(n%50000), 1796000000.0, "
        f"1796678421.0 + n / 10000.0, 'ingest', '{BODY}' FROM s",
        series + "INSERT INTO runs (id, event_seq, rule_id, rule_version, user_key, status, reason, action, send_at, outbox_key, "
        "context_id, consumed_at, created_at, updated_at) "
        f"SELECT n*3+r, n, rule, 'e461d0a51f51a11a', 'external_user_id:u-'||(n%50000), 'pending', "
        "'planned: 2026-12-07T21:21:22Z', 'braze', 1796678482.0 + (n%7)*3600, rule||'|e461d0a51f51a11a|i-'||n||'|external_user_id:u-'||(n%50000), "
        f"1, 1796678421.0 + n / 10000.0, 1796678421.0 + n / 10000.0, 1796678421.0 + n / 10000.0 FROM s, {rules}",
        series + "INSERT INTO outbox (id, run_id, key, action, body, send_at, state, created_at, updated_at, schedule, zone) "
        f"SELECT n*3+r, n*3+r, rule||'|e461d0a51f51a11a|i-'||n||'|external_user_id:u-'||(n%50000), 'braze', '{REQUEST}', "
        f"1796678482.0 + (n%7)*3600, 'pending', 1796678421.0 + n / 10000.0, 1796678421.0 + n / 10000.0, '{SCHEDULE}', 'Europe/Paris' "
        f"FROM s, {rules}",
        f"INSERT OR REPLACE INTO decide_position (id, decided_through, updated_at) VALUES (1, {last}, 0)",
    ]

def run(variant):
    path = os.path.join(work, variant + ".db")
    empty = os.path.join(work, "empty.ndjson")
    open(empty, "w").close()
    subprocess.run([flint, "ingest", empty, "--database", path, "--rules", work], check=True, capture_output=True)
    db = sqlite3.connect(path, isolation_level=None)
    if variant == "bare":
        for (name,) in db.execute("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL").fetchall():
            db.execute(f"DROP INDEX {name}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -8192")
    db.execute("PRAGMA wal_autocheckpoint = 10000")
    start = time.perf_counter()
    for first in range(1, events + 1, batch):
        db.execute("BEGIN IMMEDIATE")
        for sql in statements(first):
            db.execute(sql)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    size = os.path.getsize(path) + os.path.getsize(path + "-wal")
    print(f"{variant:6} {events} events ({events * 7} rows) in {elapsed:.2f} s: {events / elapsed:,.0f} events/s, "
          f"{events * 7 / elapsed:,.0f} rows/s, {size / events:,.0f} bytes/event on disk")

for variant in ("flint", "bare"):
    run(variant)
