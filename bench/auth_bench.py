#!/usr/bin/python3
"""Auth figures of issue 15, measured from outside on a private stack.

    /usr/bin/python3 bench/auth_bench.py logins [--workers N] [--count 200] [--inflight 32]
        LOGINs per second (each an Argon2id verify), N in flight at once;
        --workers sets PYCHAT_AUTH_WORKERS (1: the single-threaded figure).
    /usr/bin/python3 bench/auth_bench.py sends [--count 60]
        wall time of COUNT sequential `pychat send` runs of one user.
    /usr/bin/python3 bench/auth_bench.py storm [--count 500]
        COUNT sessions logged in, the broker killed (-9) and started again:
        seconds until every client is back (RESUME with its token when the
        LOGIN reply carried one, else LOGIN with the password), and failures.

Binaries from PYCHAT_BIN (default bin/). Every loop is bounded in count and
time; only 127.0.0.1 is contacted.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "helpers"))

import zmq  # noqa: E402
from stack import Stack, RawClient, SIGNATURE, unpack, _decode  # noqa: E402

DEADLINE_S = 300


def _stack(env):
    stack = Stack(name="authbench")
    stack.env.update(env)
    stack.start(["authsvc", "broker"])
    return stack


def _pump(clients, requests, timeout):
    """Sends requests[i] (command, fields) on clients[i], at most as many at
    once as there are clients; returns {index: reply} and the seconds taken."""
    poller = zmq.Poller()
    by_socket = {}
    for index, client in enumerate(clients):
        poller.register(client.socket, zmq.POLLIN)
        by_socket[client.socket] = index
    replies = {}
    start = time.monotonic()
    for index, client in enumerate(clients):
        command, fields = requests[index]
        client.send_raw([SIGNATURE, command, "q%d" % index] + list(fields))
    while len(replies) < len(clients) and time.monotonic() - start < timeout:
        for sock, _ in poller.poll(200):
            message = [_decode(m) for m in unpack(sock.recv_multipart())][0]
            replies[by_socket[sock]] = message
    return replies, time.monotonic() - start


def logins(args):
    env = {"PYCHAT_THROTTLE_SOURCE": "1000000"}
    if args.workers:
        env["PYCHAT_AUTH_WORKERS"] = str(args.workers)
        env["PYCHAT_AUTH_QUEUE"] = str(max(args.inflight * 2, 64))
    stack = _stack(env)
    try:
        stack.register("bench", "bench-pw")
        done, busy, seconds = 0, 0, 0.0
        while done < args.count and seconds < DEADLINE_S:
            batch = min(args.inflight, args.count - done)
            clients = [RawClient(stack) for _ in range(batch)]
            replies, took = _pump(clients, [("LOGIN", ("bench", "bench-pw"))] * batch, 60)
            seconds += took
            done += sum(1 for r in replies.values() if r[1] == "OK")
            busy += sum(1 for r in replies.values() if r[1] != "OK")
            if args.verbose:
                codes = sorted(set(r[3] for r in replies.values() if r[1] != "OK"))
                print("batch: %d replies, %d OK so far, %.2f s, errors %s" % (len(replies), done, took, codes))
            for client in clients:
                client.close()
        print("logins: %d OK in %.2f s = %.1f logins/s (%d refused), workers=%s, in flight %d"
              % (done, seconds, done / seconds, busy, args.workers or "default", args.inflight))
    finally:
        stack.stop()
        stack.cleanup()


def sends(args):
    stack = _stack({})
    try:
        stack.register("sender", "sender-pw")
        assert stack.pychat("create-room", "benchroom", user="sender",
                            password="sender-pw").returncode in (0, 2)
        start = time.monotonic()
        failed = 0
        for index in range(args.count):
            result = stack.pychat("send", "benchroom", "message %d" % index,
                                  user="sender", password="sender-pw")
            failed += result.returncode != 0
        took = time.monotonic() - start
        print("sends: %d sequential `pychat send` in %.2f s (%.0f ms each), %d failed"
              % (args.count, took, took * 1000 / args.count, failed))
    finally:
        stack.stop()
        stack.cleanup()


def _retry_after_s(reply):
    """The seconds of a refusal's "retry-after=MS" detail, else 0."""
    for field in reply[4:6] if reply else ():
        if isinstance(field, str) and field.startswith("retry-after="):
            return int(field.split("=", 1)[1]) / 1000.0
    return 0.0


def _until_all(clients, requests, deadline_s):
    """Sends requests[i] on clients[i] until each was answered OK, waiting
    between rounds what the refusals asked (at most 2 s); returns the OK
    replies by index, the seconds taken, the refusals and who never got in."""
    pending = list(range(len(clients)))
    done, failures = {}, 0
    start = time.monotonic()
    while pending and time.monotonic() - start < deadline_s:
        replies, _ = _pump([clients[i] for i in pending], [requests[i] for i in pending], 30)
        retry, wait = [], 0.0
        for slot, i in enumerate(pending):
            reply = replies.get(slot)
            if reply is not None and reply[1] == "OK":
                done[i] = reply
            else:
                failures += 1
                retry.append(i)
                wait = max(wait, _retry_after_s(reply))
        pending = retry
        if pending:
            time.sleep(min(max(wait, 0.05), 2.0))
    return done, time.monotonic() - start, failures, pending


def storm(args):
    stack = _stack({"PYCHAT_THROTTLE_SOURCE": "1000000"})
    try:
        users = max(1, args.count // 5)
        for u in range(users):
            stack.register("storm%d" % u, "pw-%d" % u)
        clients = [RawClient(stack) for _ in range(args.count)]
        device = (lambda i: ()) if args.plain else (lambda i: ("dev%d" % i,))
        requests = [("LOGIN", ("storm%d" % (i % users), "pw-%d" % (i % users)) + device(i))
                    for i in range(args.count)]
        first, took, refused, missing = _until_all(clients, requests, DEADLINE_S)
        print("storm: %d/%d logged in first in %.2f s (%d refused on the way)"
              % (len(first), args.count, took, refused))
        tokens = {} if args.plain else {i: r[7] for i, r in first.items() if len(r) > 7 and r[7]}
        stack.kill_service("broker")
        stack.start_service("broker")
        stack.wait_broker()
        again = []
        for i in range(args.count):
            user, password = "storm%d" % (i % users), "pw-%d" % (i % users)
            if i in tokens:
                again.append(("RESUME", (user, tokens[i]) + device(i)))
            else:
                again.append(("LOGIN", (user, password) + device(i)))
        back, took, failures, pending = _until_all(clients, again, DEADLINE_S)
        print("storm: %d clients back after broker kill -9 in %.2f s (%s), %d refused on the way, "
              "%d never back" % (len(back), took, "tokens" if tokens else "passwords",
                                 failures, len(pending)))
    finally:
        stack.stop()
        stack.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("logins", "sends", "storm"))
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--inflight", type=int, default=32)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--plain", action="store_true",
                        help="storm: LOGIN without a device name, and with the password "
                             "again after the restart (as before resume tokens)")
    args = parser.parse_args()
    args.count = args.count or {"logins": 200, "sends": 60, "storm": 500}[args.what]
    {"logins": logins, "sends": sends, "storm": storm}[args.what](args)


if __name__ == "__main__":
    main()
