"""Reconnect storm (issue 15): 500 clients holding resume tokens come back
at once after the broker is killed (-9) and restarted. Every one must be
back (RESUME OK, JOIN OK) within STORM_BOUND_S, with no failure, and the
auth service must run no Argon2id for it.

Run with `make soak` (or: PYCHAT_BIN=build/asan/bin /usr/bin/python3 -m
pytest -q -p no:cacheprovider tests/soak/test_token_storm.py).
"""

import json
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))

from stack import Stack, RawClient, SIGNATURE, OFF_AUTHSVC, unpack, _decode  # noqa: E402

CLIENTS = 500
USERS = 100                     # 5 connections (devices' worth) per token
STORM_BOUND_S = 30.0


def _auth_stats(stack):
    with open(os.path.join(stack.data, "keys", "authsvc.pub")) as handle:
        key = handle.read().strip()
    client = RawClient(stack, endpoint=stack.endpoint(OFF_AUTHSVC), server_key=key,
                       keypair=stack.keypair("admin"))
    try:
        return json.loads(client.ok("STATS", timeout=10)[0])
    finally:
        client.close()


def _round(clients, requests, timeout):
    """Sends requests[i] on clients[i] at once; {i: reply} within timeout."""
    poller = zmq.Poller()
    index = {}
    for i, client in enumerate(clients):
        poller.register(client.socket, zmq.POLLIN)
        index[client.socket] = i
        command, fields = requests[i]
        client.send_raw([SIGNATURE, command, "s%d" % i] + list(fields))
    replies = {}
    deadline = time.monotonic() + timeout
    while len(replies) < len(clients) and time.monotonic() < deadline:
        for sock, _ in poller.poll(100):
            for message in unpack(sock.recv_multipart()):
                reply = _decode(message)
                replies[index[sock]] = reply
    return replies


def _login_all(stack):
    """Registers USERS accounts and logs each in once: their tokens."""
    tokens = {}
    for u in range(USERS):
        stack.register("storm%d" % u, "pw-%d" % u)
    pending = list(range(USERS))
    deadline = time.monotonic() + 300
    while pending and time.monotonic() < deadline:
        batch = pending[:16]
        clients = [RawClient(stack) for _ in batch]
        replies = _round(clients, [("LOGIN", ("storm%d" % u, "pw-%d" % u, "dev%d" % u))
                                   for u in batch], 60)
        for slot, u in enumerate(batch):
            reply = replies.get(slot)
            if reply and reply[1] == "OK":
                tokens[u] = reply[7]
        pending = [u for u in pending if u not in tokens]
        for client in clients:
            client.close()
        if pending:
            time.sleep(0.2)
    assert not pending, "could not log %d users in" % len(pending)
    return tokens


def test_500_clients_resume_after_broker_kill():
    stack = Stack(bin_dir=os.environ.get("PYCHAT_BIN"), name="storm")
    stack.env["PYCHAT_THROTTLE_SOURCE"] = "1000000"
    stack.start(["authsvc", "broker"])
    try:
        tokens = _login_all(stack)
        clients = [RawClient(stack) for _ in range(CLIENTS)]
        resume = [("RESUME", ("storm%d" % (i % USERS), tokens[i % USERS], "dev%d" % i))
                  for i in range(CLIENTS)]
        first = _round(clients, resume, 60)
        assert sum(1 for r in first.values() if r[1] == "OK") == CLIENTS
        joins = _round(clients, [("JOIN", ("storm-room",))] * CLIENTS, 60)
        assert sum(1 for r in joins.values() if r[1] == "OK") == CLIENTS
        hashes = _auth_stats(stack)["hashes"]

        stack.kill_service("broker")
        stack.start_service("broker")
        start = time.monotonic()
        stack.wait_broker()
        back = _round(clients, resume, STORM_BOUND_S)
        failures = [r for r in back.values() if r[1] != "OK"]
        joined = _round(clients, [("JOIN", ("storm-room",))] * CLIENTS, STORM_BOUND_S)
        took = time.monotonic() - start
        print("storm: %d clients back (RESUME + JOIN) %.2f s after the broker restart"
              % (CLIENTS, took))
        assert not failures, "%d RESUMEs refused: %r" % (len(failures), failures[:3])
        assert len(back) == CLIENTS, "%d RESUMEs unanswered" % (CLIENTS - len(back))
        assert sum(1 for r in joined.values() if r[1] == "OK") == CLIENTS
        assert took < STORM_BOUND_S
        assert _auth_stats(stack)["hashes"] == hashes, "the storm ran Argon2id"
    finally:
        stack.stop()
        problems = stack.sanitizer_reports() + stack.bad_exits
        stack.cleanup()
    assert not problems, problems
