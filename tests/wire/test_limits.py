"""Graceful limits and flood control (PROTOCOL.md, "Flood control and
limits"): a broker short of file descriptors refuses new connections and
keeps serving its sessions; PYCHAT_MAX_SESSIONS answers 503 "server full";
a flooder gets 429 with retry-after while others' messages still flow;
slow mode; a reader too far behind is told what history no longer holds.
Each test runs a stack of its own (its own limits)."""

import os
import re
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from conftest import _bin_dir, _finish
from stack import SIGNATURE, RawClient, Stack, json_lines, new_cid, unpack, wait_for

FD_LIMIT = 128          # the broker's descriptors (soft and hard: no raising past it)
FD_CLIENTS = 200        # more connections than that


def own_stack(name, env=None, broker_prefix=(), monitor=False, max_sockets=4096):
    stack = Stack(_bin_dir(), name=name)
    stack.context.set(zmq.MAX_SOCKETS, max_sockets)     # before its first socket
    stack.env.update(env or {})
    try:
        stack.start_redis()
        stack.start_service("authsvc")
        stack.start_service("broker", prefix=broker_prefix)
        if monitor:
            stack.start_service("monitor")
        stack.wait_broker()
        stack.wait_auth()
        if monitor:
            stack.wait_monitor()
    except BaseException:
        stack.stop()
        raise
    return stack


def retry_after(reply):
    """The ms of "retry-after=MS" in an ERROR's detail (or reason), else None."""
    for field in reply[4:6]:
        found = re.search(r"retry-after=(\d+)", field)
        if found:
            return int(found.group(1))
    return None


FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)


def handshake_outcomes(monitors):
    """How many of the monitored clients had a handshake succeed, and how
    many had one refused (libzmq's HANDSHAKE_FAILED_*), so far."""
    admitted = refused = 0
    for monitor in monitors:
        seen = set()
        while monitor.poll(0):
            seen.add(recv_monitor_message(monitor)["event"])
        admitted += zmq.EVENT_HANDSHAKE_SUCCEEDED in seen
        refused += any(event & FAILED for event in seen)
    return admitted, refused


def test_descriptor_exhaustion_refuses_new_connections_and_keeps_sessions():
    """prlimit NOFILE 128 on the broker, 200 clients connect: the broker
    does not abort, alice and bob (logged in before) keep chatting, and a
    new connection's handshake is refused with a temporary-failure status."""
    stack = own_stack("fdstorm", broker_prefix=("prlimit", "--nofile=%d" % FD_LIMIT, "--"))
    try:
        stack.register("alice", "pw-alice")
        stack.register("bob", "pw-bob")
        alice = stack.logged_in("alice", "pw-alice")
        bob = stack.logged_in("bob", "pw-bob")
        alice.join("lobby")
        bob.join("lobby")
        sub = bob.subscriber()
        crowd = [RawClient(stack) for _ in range(FD_CLIENTS)]
        monitors = [client.socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | FAILED)
                    for client in crowd]
        stack._sockets.extend(monitors)         # closed by stack.stop whatever happens
        # a client refused before its PING has no peer left to queue for:
        # its PING is dropped rather than waited on (its refusal is counted)
        for n, client in enumerate(crowd):
            client.send_raw([SIGNATURE, "PING", "p%d" % n], block=False)
        # the storm goes on while they chat: every message arrives
        for n in range(10):
            alice.send("lobby", "during the storm %d" % n)
            time.sleep(0.2)
        got = [sub.recv(timeout=10) for _ in range(10)]
        assert all(got), "a message sent during the storm did not arrive: %r" % got
        assert [m[-1] for m in got] == ["during the storm %d" % n for n in range(10)]
        assert stack.alive("broker"), "the broker died:\n" + stack.log_text("broker")[-2000:]
        admitted, refused = handshake_outcomes(monitors)
        open_fds = len(os.listdir("/proc/%d/fd" % stack.procs["broker"].pid))
        # some were let in, the others were refused (their handshake failed)
        # or wait in the kernel's queue: none beyond the descriptors
        assert 0 < admitted < FD_LIMIT and refused > 0, (admitted, refused, open_fds)
        assert admitted + refused <= FD_CLIENTS
        # the gate keeps the last descriptors free for the broker's own needs
        # (Redis reconnecting, a log): connections wait in their SYN retries
        assert open_fds <= FD_LIMIT - 8, open_fds
        assert "refusing new connections" in stack.log_text("broker")
        bob.send("lobby", "still here")
        assert sub.recv(timeout=10)[-1] == "still here"
        for client in crowd:
            client.close()
        # once they are gone, new clients get in again
        wait_for(lambda: stack.client().request("PING", timeout=2)[1] == "OK", 20, 0.2,
                 "a new client to be served after the storm")
        assert stack.alive("broker")
        assert "Assertion" not in stack.log_text("broker")
    finally:
        _finish(stack)


def test_max_sessions_answers_503_server_full():
    stack = own_stack("maxsess", env={"PYCHAT_MAX_SESSIONS": "2"})
    try:
        for name in ("ann", "ben", "cat"):
            stack.register(name, "pw-" + name)
        ann = stack.logged_in("ann", "pw-ann")
        stack.logged_in("ben", "pw-ben")
        cat = RawClient(stack)
        reply = cat.request("LOGIN", "cat", "pw-cat", timeout=10)
        assert reply[1] == "ERROR" and reply[3] == "503" and reply[4] == "server full", reply
        assert retry_after(reply) is not None, reply
        # a logged-in session may log in again; after a logout there is room
        assert ann.ok("LOGIN", "ann", "pw-ann", timeout=10)
        ann.ok("LOGOUT")
        assert cat.ok("LOGIN", "cat", "pw-cat", timeout=10)[0] == "cat"
    finally:
        _finish(stack)


def test_flooder_gets_429_and_others_still_flow():
    """alice pipelines SENDs as fast as she can for 3 s; she is held to her
    rate with 429 retry-after, while carol's messages reach bob with a p99
    under 100 ms."""
    stack = own_stack("flood", env={"PYCHAT_RATE_SEND": "50/100"}, monitor=True)
    try:
        for name in ("alice", "bob", "carol"):
            stack.register(name, "pw-" + name)
        alice, bob, carol = (stack.logged_in(n, "pw-" + n) for n in ("alice", "bob", "carol"))
        for client in (alice, bob, carol):
            client.join("flood")
        sub = bob.subscriber()
        ok = refused = inflight = 0
        waits, sent_at, latencies = [], {}, []
        start = time.monotonic()
        next_carol = start
        while time.monotonic() - start < 3.0 or len(sent_at) < 40:
            while inflight < 64:
                alice.send_raw([SIGNATURE, "SEND", alice.next_reqid(), "flood", new_cid(), "spam"])
                inflight += 1
            now = time.monotonic()
            if now >= next_carol and len(sent_at) < 40:
                text = "carol %d" % len(sent_at)
                sent_at[text] = now
                carol.send_raw([SIGNATURE, "SEND", carol.next_reqid(), "flood", new_cid(), text])
                next_carol = now + 0.075
            while alice.socket.poll(0):
                for frames in unpack(alice.socket.recv_multipart()):
                    reply = [f.decode() for f in frames]
                    inflight -= 1
                    if reply[1] == "OK":
                        ok += 1
                    else:
                        assert reply[3] == "429", reply
                        refused += 1
                        waits.append(retry_after(reply))
            while carol.socket.poll(0):
                for frames in unpack(carol.socket.recv_multipart()):
                    assert frames[1] == b"OK", frames
            while True:
                message = sub.recv(0)
                if message is None:
                    break
                if message[-1] in sent_at:
                    latencies.append((time.monotonic() - sent_at[message[-1]]) * 1000)
            time.sleep(0.001)
        for _ in range(100):
            message = sub.recv(0.05)
            if message is not None and message[-1] in sent_at:
                latencies.append((time.monotonic() - sent_at[message[-1]]) * 1000)
        elapsed = time.monotonic() - start
        assert refused > 0, "no 429 after %d messages in %.1f s" % (ok, elapsed)
        assert ok <= 100 + 50 * elapsed + 10, "%d acknowledged in %.1f s at 50/s" % (ok, elapsed)
        assert all(w is not None and 0 < w <= 1000 for w in waits), waits[:5]
        assert len(latencies) == 40, "carol's messages delivered: %d of 40" % len(latencies)
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        assert p99 < 100, "carol's p99 %.1f ms while alice floods" % p99
        # the monitor counts alice's refusals
        counted = wait_for(lambda: stack.stats().get("throttled", {}).get("alice"), 10, 0.2,
                           "the monitor to count alice's refusals")
        assert counted >= 1
    finally:
        _finish(stack)


def test_cli_send_waits_and_says_so():
    """With one message per 2 s, a second `pychat send` at once is held
    back: it says so on stderr, waits, and is delivered (exit 0)."""
    stack = own_stack("clisend", env={"PYCHAT_RATE_SEND": "0.5/1"})
    try:
        first = stack.pychat("register", user="dora", password="pw-dora")
        assert first.returncode == 0, first.stderr
        sends = [stack.pychat("send", "lobby", "hello %d" % n, user="dora", password="pw-dora")
                 for n in range(2)]
        assert [s.returncode for s in sends] == [0, 0], [s.stderr for s in sends]
        assert "held back by the server" in sends[1].stderr, sends[1].stderr
        reader = stack.logged_in("dora", "pw-dora")
        reader.join("lobby")
        fields = reader.ok("HISTORY", "lobby", "0", "10")
        assert fields[3::4] == ["hello 0", "hello 1"], fields
    finally:
        _finish(stack)


def test_slow_mode():
    stack = own_stack("slowmode")
    try:
        for name in ("owner", "guest"):
            stack.register(name, "pw-" + name)
        owner = stack.logged_in("owner", "pw-owner")
        guest = stack.logged_in("guest", "pw-guest")
        owner.ok("CREATE", "calm", "open")
        owner.join("calm")
        guest.join("calm")
        assert guest.error("SLOWMODE", "calm", "2") == 403
        assert owner.error("SLOWMODE", "calm", "x") == 400
        assert owner.error("SLOWMODE", "nowhere-room", "2") == 404
        assert owner.ok("SLOWMODE", "calm", "2") == ["calm", "2"]
        guest.send("calm", "first")
        reply = guest.request("SEND", "calm", new_cid(), "too soon")
        assert reply[1] == "ERROR" and reply[3] == "429" and "slow mode" in reply[4], reply
        wait = retry_after(reply)
        assert wait is not None and 0 < wait <= 2000, reply
        owner.send("calm", "the creator is not held")
        owner.send("calm", "twice")
        time.sleep(wait / 1000 + 0.1)
        guest.send("calm", "after the wait")
        assert owner.ok("SLOWMODE", "calm", "0") == ["calm", "0"]
        guest.send("calm", "no wait now")
    finally:
        _finish(stack)


def test_reader_too_far_behind_is_told_the_gap():
    """PYCHAT_HISTORY 20: a reader that stopped after message 1 while 300
    more came is told, on stderr and as a JSON object, which ids history no
    longer holds; then gets what it holds, in order."""
    stack = own_stack("gap", env={"PYCHAT_HISTORY": "20", "PYCHAT_RATE_SEND": "0"})
    try:
        assert stack.pychat("register", user="rita", password="pw-rita").returncode == 0
        stack.register("wes", "pw-wes")
        wes = stack.logged_in("wes", "pw-wes")
        wes.join("far")
        first = stack.listen("far", "--count", "1", user="rita", password="pw-rita")
        wes.send("far", "message 1")
        assert first.wait() == 0
        for n in range(2, 302):
            wes.send_raw([SIGNATURE, "SEND", wes.next_reqid(), "far", new_cid(), "message %d" % n])
        wait_for(lambda: wes.ok("HISTORY", "far", "0", "1")[0] == "301", 20, 0.1, "301 stored")
        oldest = int(wes.ok("HISTORY", "far", "-1", "1")[0])
        assert oldest > 2, "history still holds message 2: nothing to test"
        again = stack.pychat("listen", "far", "--count", str(302 - oldest), "--json",
                             user="rita", password="pw-rita", timeout=60)
        assert again.returncode == 0, again.stderr
        line = "#far: messages 2-%d are no longer in the history" % (oldest - 1)
        assert line in again.stderr, again.stderr
        objects = json_lines(again.stdout)
        gaps = [o for o in objects if o.get("gap")]
        assert gaps == [{"gap": True, "room": "far", "dm": False, "first": 2, "last": oldest - 1}], gaps
        texts = [o["text"] for o in objects if not o.get("gap")]
        assert texts == ["message %d" % n for n in range(oldest, 302)]
    finally:
        _finish(stack)


def test_services_raise_their_descriptor_limit():
    """Soft 64, hard 4096: the broker raises its soft limit to the hard one."""
    stack = own_stack("nofile", broker_prefix=("prlimit", "--nofile=64:4096", "--"))
    try:
        pid = stack.procs["broker"].pid
        with open("/proc/%d/limits" % pid) as handle:
            line = [l for l in handle if l.startswith("Max open files")][0]
        assert line.split()[3:5] == ["4096", "4096"], line
    finally:
        _finish(stack)
