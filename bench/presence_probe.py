"""Presence and typing (issue 18, item 6), measured on a private stack it
starts itself (PYCHAT_BIN, default bin/; flood control off): TYPING to the
other member's TYPING on its SUB, WHO room against WHO room presence for a
room of MEMBERS (40) members, and the LOGOUT of a session while the user
stays online against the one that makes them offline (the presence script
and the PRESENCE fan-out). Not part of `make bench`:

    PYCHAT_BIN=$PWD/bin python3 bench/presence_probe.py
"""
import os
import sys
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "helpers"))
from stack import RawClient, Stack

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]

def main():
    members = int(os.environ.get("MEMBERS", "40"))
    stack = Stack(os.environ.get("PYCHAT_BIN", "bin"), name="presence-probe")
    stack.env.update(PYCHAT_RATE_QUERY="0", PYCHAT_RATE_SESSION="0")     # measure, not limit
    stack.start(["authsvc", "broker"])
    try:
        clients = []
        RawClient(stack).ok("REGISTER", "solo", "pw", timeout=20)
        for i in range(members):
            c = RawClient(stack)
            c.ok("REGISTER", "m%d" % i, "pw", timeout=20)
            c.login("m%d" % i, "pw")
            c.join("big")
            clients.append(c)
        typist, reader = clients[0], clients[1]
        sub = reader.subscriber()
        rooms = ["t%d" % i for i in range(200)]
        for r in rooms:
            typist.join(r); reader.join(r)
        sub.drain(0.5)
        lat = []
        for r in rooms:
            t0 = time.perf_counter()
            typist.ok("TYPING", r)
            while True:
                m = sub.recv(5)
                if m and m[2] == "TYPING" and m[4] == r:
                    break
            lat.append((time.perf_counter() - t0) * 1e6)
        print("TYPING -> peer's TYPING, 200 rooms: p50 %.0f us, p99 %.0f us" % (pct(lat, 50), pct(lat, 99)))
        for label, extra in (("WHO", ()), ("WHO presence", ("presence",))):
            t = []
            for _ in range(200):
                t0 = time.perf_counter(); reader.ok("WHO", "big", *extra); t.append((time.perf_counter() - t0) * 1e6)
            print("%s, %d members: p50 %.0f us, p99 %.0f us" % (label, members, pct(t, 50), pct(t, 99)))
        for label, keep_other in (("not the last session", True), ("the last session: offline", False)):
            other = None
            if keep_other:
                other = RawClient(stack); other.login("solo", "pw")
            t = []
            for i in range(50):
                c = RawClient(stack)
                c.login("solo", "pw")
                c.join("big")
                t0 = time.perf_counter()
                c.ok("LOGOUT", "keep")
                t.append((time.perf_counter() - t0) * 1e6)
                c.close()
            if other:
                other.ok("LOGOUT", "keep"); other.close()
            print("LOGOUT of a session in #big (%s), 50: p50 %.0f us, p99 %.0f us" % (label, pct(t, 50), pct(t, 99)))
    finally:
        stack.stop()
        stack.cleanup()

main()
