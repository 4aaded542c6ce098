"""Outages: Redis or the auth service goes away. Accounts become unavailable
(503, exit 3, "try again"), people already logged in keep chatting, and
everything works again once the part is back. Each test has its own stack."""

import re
import time

import pytest

from conftest import _finish, _start
from stack import SIGNATURE, error_line, redis_command, wait_for

CLIENT_TIMEOUT = 5          # pychat's default --timeout
SLACK = 7                   # the broker's 3 s auth deadline, ASan start-up


def assert_unavailable(result, started, what):
    elapsed = time.monotonic() - started
    assert result.returncode == 3, (what, result.returncode, result.stderr)
    assert re.search(r"unavailable", result.stderr, re.I), (what, result.stderr)
    assert elapsed < CLIENT_TIMEOUT + SLACK, "%s took %.1f s to fail" % (what, elapsed)


def chatting(stack, tag):
    """alice (raw, logged in) and bob (pychat listen) in room "outage"."""
    stack.register("alice", "pw-a")
    stack.register("bob", "pw-b")
    alice = stack.logged_in("alice", "pw-a")
    alice.join("outage")
    bob = stack.listen("outage", user="bob", password="pw-b")
    alice.send("outage", "%s: before" % tag)
    bob.wait_messages(1)
    return alice, bob


def still_chatting(stack, alice, bob, tag):
    """alice, logged in before the outage, can JOIN (a room the broker
    knows) and SEND; bob, listening since before, receives."""
    assert alice.ok("LEAVE", "outage") == ["outage"]
    assert alice.join("outage")[0] == "outage"
    # a room never seen before: joined, or refused with 503 when the broker
    # cannot read its settings (fail closed: it may be invite-only)
    reply = alice.request("JOIN", "outage-new-room")
    assert reply[1] == "OK" or reply[3] == "503", reply
    seen = len(bob.messages())
    msg_id, _ = alice.send("outage", "%s: during" % tag)
    got = bob.wait_messages(seen + 1)
    assert got[-1]["text"] == "%s: during" % tag and got[-1]["from"] == "alice", got[-1]
    assert got[-1]["id"] == msg_id
    assert bob.proc.poll() is None, "the listener exited: " + bob.stderr_text()


def retry_until_ok(stack, args, user, password, timeout=10):
    """Runs pychat until it exits 0 or timeout seconds pass; returns the
    last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = stack.pychat(*args, user=user, password=password)
        if result.returncode == 0 or time.monotonic() >= deadline:
            return result
        time.sleep(0.3)


@pytest.fixture
def outage_stack(fresh_stack):
    if not fresh_stack.has_binary("pychat"):
        pytest.skip("not built yet: pychat")
    return fresh_stack


def test_redis_down(outage_stack):
    redis_down_and_back(outage_stack)


def test_redis_by_its_unix_socket(request):
    """PYCHAT_REDIS=PATH (what make up sets for its private Redis): every
    service reaches Redis by the socket, not by TCP, and comes back to it
    after an outage as it does over TCP."""
    stack = _start(request.node.name[:40], redis_socket=True)
    try:
        if not stack.has_binary("pychat"):
            pytest.skip("not built yet: pychat")
        assert "history in redis %s " % stack.redis_socket in stack.log_text("broker")
        assert "redis %s," % stack.redis_socket in stack.log_text("authsvc")
        clients = redis_command(stack.redis_port, "CLIENT", "LIST").decode().splitlines()
        by_socket = [c for c in clients if " addr=%s:" % stack.redis_socket in " " + c]
        by_tcp = [c for c in clients if " addr=127.0.0.1:" in " " + c]
        # the broker and the auth service (the file service connects when
        # first used); by TCP only this CLIENT LIST
        assert len(by_socket) >= 2 and len(by_tcp) == 1, clients
        redis_down_and_back(stack)
    finally:
        _finish(stack)


def redis_down_and_back(stack):
    """Redis stops: accounts answer 503 and people logged in keep chatting;
    it comes back (empty) and new accounts work."""
    alice, bob = chatting(stack, "redis")
    stack.stop_redis()

    started = time.monotonic()
    assert_unavailable(stack.pychat("register", user="carol", password="pw-c"), started,
                       "register")
    started = time.monotonic()
    assert_unavailable(stack.pychat("rooms", user="bob", password="pw-b"), started, "login")
    raw = stack.client()
    for command in ("LOGIN", "REGISTER"):
        reply = raw.request(command, "alice", "pw-a", timeout=10)
        assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "503", (command, reply)
    still_chatting(stack, alice, bob, "redis")

    stack.start_redis()
    # Redis came back empty (no persistence here): a new account works
    result = retry_until_ok(stack, ["register"], "carol", "pw-c")
    assert result.returncode == 0, result.stderr
    assert stack.pychat("rooms", user="carol", password="pw-c").returncode == 0
    assert bob.stop() == 130, bob.stderr_text()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_authsvc_down(outage_stack, how):
    stack = outage_stack
    alice, bob = chatting(stack, "authsvc")
    if how == "stop":
        assert stack.stop_service("authsvc") == 0, stack.log_text("authsvc")[-2000:]
    else:
        stack.kill_service("authsvc")

    started = time.monotonic()
    failed = stack.pychat("register", user="carol", password="pw-c")
    assert_unavailable(failed, started, "register")
    started = time.monotonic()
    assert_unavailable(stack.pychat("rooms", user="bob", password="pw-b"), started, "login")
    still_chatting(stack, alice, bob, "authsvc-" + how)

    stack.start_service("authsvc")
    result = retry_until_ok(stack, ["rooms"], "bob", "pw-b")
    assert result.returncode == 0, result.stderr
    # "try again" means it: the register that was refused during the outage
    # was not carried out later behind the user's back, so it can be done now
    again = stack.pychat("register", user="carol", password="pw-c")
    assert again.returncode == 0, (
        "register refused with 'unavailable' during the outage, then: exit %d %r"
        % (again.returncode, error_line(again.stderr)))
    assert bob.stop() == 130, bob.stderr_text()


def test_authsvc_down_raw_503(fresh_stack):
    """On the wire: REGISTER and LOGIN get 503 within the 3 s deadline."""
    stack = fresh_stack
    stack.register("dora", "pw-d")
    client = stack.client()
    stack.stop_service("authsvc")
    for command, fields in (("REGISTER", ("erin", "pw")), ("LOGIN", ("dora", "pw-d"))):
        started = time.monotonic()
        reply = client.request(command, *fields, timeout=10)
        assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "503", (command, reply)
        assert time.monotonic() - started < 3 + SLACK, command
    stack.start_service("authsvc")
    wait_for(lambda: client.request("LOGIN", "dora", "pw-d", timeout=5)[1] == "OK", 15, 0.3,
             "LOGIN to work after authsvc restarts")


def test_monitor_down_does_not_stop_chat(fresh_stack):
    stack = fresh_stack
    if not stack.alive("monitor"):
        pytest.skip("no monitor in this build")
    stack.register("fay", "pw-f")
    fay = stack.logged_in("fay", "pw-f")
    fay.join("quiet")
    stack.kill_service("monitor")
    assert fay.send("quiet", "nobody is watching")[0] == "1"
    stack.start_service("monitor")
    stack.wait_monitor()
    assert fay.send("quiet", "watched again")[0] == "2"


def test_broker_restart_keeps_accounts_and_key(fresh_stack):
    """The broker restarts with the same key (clients keep broker.pub),
    accounts live on in Redis, and the monitor hears the new broker."""
    stack = fresh_stack
    key = stack.broker_key()
    stack.register("gus", "pw-g")
    gus = stack.logged_in("gus", "pw-g")
    gus.join("before")
    assert stack.stop_service("broker") == 0, stack.log_text("broker")[-2000:]
    if stack.has_binary("pychat"):
        started = time.monotonic()
        down = stack.pychat("--timeout", "2", "ping")
        assert down.returncode == 3, (down.returncode, down.stderr)
        assert time.monotonic() - started < 2 + SLACK
    stack.start_service("broker")
    stack.wait_broker()
    stack.wait_auth()
    assert stack.broker_key() == key, "the broker's key changed on restart"
    # the old session is gone with the old broker; logging in again works
    fresh = stack.logged_in("gus", "pw-g")
    fresh.join("after-restart")
    fresh.send("after-restart", "hello again")
    if stack.alive("monitor"):
        wait_for(lambda: stack.stats()["rooms"].get("after-restart", {}).get("messages") == 1,
                 15, 0.3, "the monitor to count a message sent after the broker restart")


def test_services_stop_cleanly_soon_after_start(fresh_stack):
    """An operator (or docker, or pychat-up) may stop a service a moment
    after starting it: SIGTERM must end it with status 0 within 10 s, every
    time. Three cycles per service, stopped 0.2-1.5 s after it answers."""
    stack = fresh_stack
    stack.register("tess", "pw-t")
    failures = []
    for name in ("monitor", "filesvc", "authsvc", "broker"):
        if not stack.alive(name):
            continue
        assert stack.stop_service(name) == 0, name
        for delay in (0.2, 0.8, 1.5):
            stack.start_service(name)
            if name == "monitor":
                stack.wait_monitor()        # a console has asked it something
                tess = stack.logged_in("tess", "pw-t")
                tess.join("cycle")
                tess.send("cycle", "traffic for the monitor")
            else:
                # up and answering: a SIGTERM before the process reached its
                # main() (the sanitizer's start on a loaded machine) kills any
                # program, so the stop counts from the service being ready
                {"broker": stack.wait_broker, "authsvc": stack.wait_auth,
                 "filesvc": stack.wait_files}[name]()
            time.sleep(delay)       # a pause before the stop, not a measurement
            status = stack.stop_service(name)
            if status != 0:
                failures.append("%s stopped %.1f s after start: status %s"
                                % (name, delay, status))
        stack.start_service(name)
        {"monitor": stack.wait_monitor, "broker": stack.wait_broker,
         "authsvc": stack.wait_auth, "filesvc": stack.wait_files}[name]()
    assert not failures, "\n".join(failures) + "\n" + "\n".join(stack.events[-20:])
