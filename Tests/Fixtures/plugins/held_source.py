#!/usr/bin/env python3
"""Test source: sends COUNT events, then does not read its stdin while HOLD_FILE exists.

So Flint commits the events, but its acks pile up: the first ones fill the pipe, the rest wait in
Flint. A test can kill Flint there, with events committed and not acknowledged. Acks read are
appended to ACKED_FILE; on each start, only events not acknowledged are sent (a real source's
resend). Each start appends "sent N" to STARTS_FILE; the pid goes to PID_FILE.
"""
import json
import os
import sys
import time

count = int(os.environ["COUNT"])
acked_file = os.environ["ACKED_FILE"]
hold_file = os.environ["HOLD_FILE"]

with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(os.getpid()))
try:
    with open(acked_file) as f:
        acked = set(f.read().split())
except FileNotFoundError:
    acked = set()

out = sys.stdout
out.write(json.dumps({"type": "hello", "protocol": 1, "name": "held", "kind": "source"}) + "\n")
sent = 0
for i in range(count):
    if str(i) in acked:
        continue
    event = {"type": "track", "event": "Held", "messageId": f"held-{i}", "userId": f"u-{i}", "properties": {"n": i}}
    out.write(json.dumps({"type": "event", "ack": str(i), "event": event}) + "\n")
    sent += 1
out.flush()
with open(os.environ["STARTS_FILE"], "a") as f:
    f.write(f"sent {sent}\n")
print(f"held_source: sent {sent} events", file=sys.stderr, flush=True)

while os.path.exists(hold_file):
    time.sleep(0.05)

with open(acked_file, "a") as f:
    for line in sys.stdin:
        ack = json.loads(line)
        if ack.get("type") == "ack" and ack.get("ok"):
            f.write(ack["ack"] + "\n")
            f.flush()
