#!/usr/bin/env python3
"""A Flint source plugin: follows an NDJSON file and sends each line to Flint as an event.

Like a Kafka consumer, it remembers how far Flint has acknowledged (in SOURCE_FILE.offset) and
moves that mark only after Flint's ack, which Flint sends once the event is committed (it saves the
mark at most every 200 ms, and when idle or stopping). When it
starts again (after a crash of Flint or of itself), it resends everything after the mark; Flint
drops what it already has, by messageId (or by this plugin's ack id, the line's byte offset).

Settings (environment, declared in flint.yaml; a plugin sees nothing else of Flint's):
  SOURCE_FILE    the NDJSON file to follow (required); lines appended later are sent too
  OFFSET_FILE    where the acknowledged mark is kept (default: SOURCE_FILE + ".offset")
  POLL_SECONDS   how often to look for new lines (default 0.5)
  MAX_IN_FLIGHT  events sent but not yet acknowledged, at most (default 1000)

Protocol (JSON lines; docs/plugins.md): write hello, then event lines; read ack lines.
Logs go to stderr, which Flint copies into its own log. Exits when its stdin closes.
"""
import json
import os
import sys
import threading
import time

SOURCE_FILE = os.environ.get("SOURCE_FILE")
OFFSET_FILE = os.environ.get("OFFSET_FILE") or (SOURCE_FILE or "") + ".offset"
POLL_SECONDS = float(os.environ.get("POLL_SECONDS", "0.5"))
MAX_IN_FLIGHT = int(os.environ.get("MAX_IN_FLIGHT", "1000"))

lock = threading.Condition()
in_flight = {}    # ack id (byte offset of the line) -> (offset of the next line, the message)
done = set()      # acknowledged, waiting for the lines before them
retry = []        # (when, message): what Flint asked us to send again later
stdout_lock = threading.Lock()


def log(message):
    print(f"ndjson_source: {message}", file=sys.stderr, flush=True)


def write(message):
    with stdout_lock:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def read_mark():
    try:
        with open(OFFSET_FILE) as f:
            return int(f.read().strip() or "0")
    except FileNotFoundError:
        return 0


def save_mark(offset):
    temporary = OFFSET_FILE + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(offset))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, OFFSET_FILE)


def advance_mark():
    """Moves the mark over every acknowledged line at its front (called with the lock held)."""
    global mark
    moved = False
    while str(mark) in done:
        done.discard(str(mark))
        mark, _ = in_flight.pop(str(mark))
        moved = True
    if moved:
        lock.notify_all()
        # Saving (with fsync) after every ack would cap us at a few thousand events a second; a mark
        # saved a little late only means a few more lines are resent after a crash, and Flint drops
        # those copies.
        save_soon()


saved = {"mark": None, "at": 0.0}


def save_soon(force=False):
    """Saves the mark if it moved and the last save is 200 ms old (or `force`); lock held."""
    if saved["mark"] != mark and (force or time.time() - saved["at"] >= 0.2):
        save_mark(mark)
        saved["mark"], saved["at"] = mark, time.time()


def follow():
    """Reads new lines from the mark on and sends them, never more than MAX_IN_FLIGHT unacknowledged."""
    read_at = line_start = mark
    pending = b""
    while True:
        resend_due()
        try:
            with open(SOURCE_FILE, "rb") as f:
                f.seek(read_at)
                chunk = f.read(1 << 20)
        except FileNotFoundError:
            chunk = b""
        if not chunk:
            with lock:
                save_soon(force=True)
            time.sleep(POLL_SECONDS)
            continue
        read_at += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            ack = str(line_start)
            line_start += len(raw) + 1
            text = raw.decode("utf-8", errors="replace").strip()
            try:
                event = json.loads(text) if text else None
            except ValueError:
                event = text  # Flint rejects it, says why, and keeps it in `flint events --rejected`
            message = {"type": "event", "ack": ack, "event": event}
            with lock:
                while len(in_flight) >= MAX_IN_FLIGHT:
                    lock.wait(timeout=1.0)
                    resend_due()
                in_flight[ack] = (line_start, message)
                if event is None:  # a blank line: nothing to send
                    done.add(ack)
                    advance_mark()
                    continue
            write(message)


def resend_due():
    """Sends again what Flint could not take earlier, once its second has passed."""
    with lock:
        now = time.time()
        due = [m for at, m in retry if at <= now]
        retry[:] = [(at, m) for at, m in retry if at > now]
    for message in due:
        write(message)


def read_acks():
    for line in sys.stdin:
        try:
            ack = json.loads(line)
        except ValueError:
            log(f"ignoring a line from Flint that is not JSON: {line[:100]!r}")
            continue
        if ack.get("type") != "ack":
            continue
        with lock:
            entry = in_flight.get(ack["ack"])
            if entry is None:
                continue
            if ack.get("ok") or not ack.get("retryable"):
                if not ack.get("ok"):
                    log(f"Flint rejected line at byte {ack['ack']}: {ack.get('error')}")
                done.add(ack["ack"])
                advance_mark()
            else:
                log(f"Flint could not take line at byte {ack['ack']} now ({ack.get('error')}); sending it again shortly")
                retry.append((time.time() + 1.0, entry[1]))


if __name__ == "__main__":
    if not SOURCE_FILE:
        log("SOURCE_FILE is not set: declare it under env: in flint.yaml")
        sys.exit(2)
    mark = read_mark()
    write({"type": "hello", "protocol": 1, "name": "ndjson_source", "kind": "source"})
    log(f"following {SOURCE_FILE} from byte {mark}")
    threading.Thread(target=follow, daemon=True).start()
    read_acks()  # returns when Flint closes our stdin: time to go
    with lock:
        save_soon(force=True)
    log("stdin closed; exiting")
