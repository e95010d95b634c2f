#!/usr/bin/env python3
"""A Flint action plugin: writes each send it gets to a JSON-lines file.

A stand-in for a Slack notice or an internal audit log: replace `deliver` with the real call.
Flint sends {"type":"send","id":...,"request":{...},"schedule":{...}}, where request is the rule's
rendered `send.with`; the plugin answers {"type":"result","id":...,"ok":true} when done, or
ok:false with retryable:true (Flint tries again later, with backoff) or false (the run fails).

The id is the same on every retry of one send, so delivering is idempotent here: a send already in
OUTPUT_FILE is answered ok without writing it twice.

To see retries and failures without a real outage, a rule's send.with may carry
  fail_times: N         answer "retryable" to the first N attempts of each send, then succeed
  fail: permanent       answer a failure that is not retryable

Settings (environment, declared in flint.yaml):
  OUTPUT_FILE   where sends are written (default: actions.jsonl)
"""
import json
import os
import sys

OUTPUT_FILE = os.environ.get("OUTPUT_FILE", "actions.jsonl")
attempts = {}


def log(message):
    print(f"file_action: {message}", file=sys.stderr, flush=True)


def write(message):
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def delivered_ids():
    ids = set()
    try:
        with open(OUTPUT_FILE) as f:
            for line in f:
                try:
                    ids.add(json.loads(line)["id"])
                except (ValueError, KeyError):
                    pass
    except FileNotFoundError:
        pass
    return ids


def deliver(send, done):
    """Performs one send; returns the result line for it."""
    request = send.get("request") or {}
    send_id = send["id"]
    if send_id in done:
        return {"type": "result", "id": send_id, "ok": True, "details": {"duplicate": True}}
    attempts[send_id] = attempts.get(send_id, 0) + 1
    if request.get("fail") == "permanent":
        return {"type": "result", "id": send_id, "ok": False, "retryable": False, "error": "refused: the request asks to fail"}
    if attempts[send_id] <= int(request.get("fail_times", 0) or 0):
        return {"type": "result", "id": send_id, "ok": False, "retryable": True,
                "error": f"simulated outage (attempt {attempts[send_id]})"}
    with open(OUTPUT_FILE, "a") as f:
        f.write(json.dumps({"id": send_id, "request": request, "schedule": send.get("schedule")}, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
    done.add(send_id)
    return {"type": "result", "id": send_id, "ok": True, "details": {"attempts": attempts[send_id]}}


if __name__ == "__main__":
    done = delivered_ids()
    write({"type": "hello", "protocol": 1, "name": "file_action", "kind": "action"})
    log(f"writing sends to {OUTPUT_FILE} ({len(done)} already there)")
    for line in sys.stdin:  # ends when Flint closes our stdin
        try:
            message = json.loads(line)
        except ValueError:
            log(f"ignoring a line that is not JSON: {line[:100]!r}")
            continue
        if message.get("type") == "send":
            write(deliver(message, done))
    log("stdin closed; exiting")
