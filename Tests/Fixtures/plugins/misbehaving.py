#!/usr/bin/env python3
"""Test plugins that go wrong in one way each; the mode is the first argument."""
import json
import sys
import time

mode = sys.argv[1]


def say(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if mode == "exit-at-once":
    print("misbehaving: giving up at once", file=sys.stderr, flush=True)
    sys.exit(3)

if mode == "crash-loop":
    say({"type": "hello", "protocol": 1, "kind": "source"})
    time.sleep(0.2)
    print("misbehaving: crashing after hello", file=sys.stderr, flush=True)
    sys.exit(1)

if mode == "no-hello":
    for _ in sys.stdin:  # says nothing, ever
        pass

if mode == "wrong-protocol":
    say({"type": "hello", "protocol": 99, "kind": "source"})
    for _ in sys.stdin:
        pass

if mode == "garbage-source":
    sys.stdout.write("this is not JSON\n")
    say({"type": "hello", "protocol": 1, "kind": "source"})
    sys.stdout.write("{\"type\": \"nonsense\"}\n")
    sys.stdout.write("[1, 2, 3]\n")
    say({"type": "event", "ack": "g1", "event": {"type": "track", "event": "Garbage Survived", "messageId": "garbage-1", "userId": "u-g"}})
    sys.stdout.write("still not JSON {\n")
    sys.stdout.flush()
    for _ in sys.stdin:
        pass

if mode == "hang-action":
    say({"type": "hello", "protocol": 1, "kind": "action"})
    for _ in sys.stdin:  # takes every send, answers none
        pass
