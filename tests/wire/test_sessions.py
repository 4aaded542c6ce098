"""Resume tokens and the auth service's worker pool (issue 15, items 1-2),
black box against real stacks (PROTOCOL.md, "Sessions and resume tokens").

The auth service's STATS (asked with the admin key, as pychat-admin does)
counts every Argon2id run: a RESUME that did none leaves it where it was.
"""

import json
import os
import re
import stat
import subprocess
import time

import pytest

from stack import RawClient, OFF_AUTHSVC, SIGNATURE


def auth_stats(stack):
    """The auth service's STATS object, over CURVE with the admin key."""
    with open(os.path.join(stack.data, "keys", "authsvc.pub")) as handle:
        key = handle.read().strip()
    client = RawClient(stack, endpoint=stack.endpoint(OFF_AUTHSVC), server_key=key,
                       keypair=stack.keypair("admin"))
    try:
        fields = client.ok("STATS", timeout=10)
        return json.loads(fields[0])
    finally:
        client.close()


def hashes(stack):
    return auth_stats(stack)["hashes"]


def login(stack, name, password, device):
    """A RawClient logged in from device: (client, token, session id)."""
    client = RawClient(stack)
    fields = client.ok("LOGIN", name, password, device, timeout=15)
    assert fields[0] == name and len(fields) == 6, fields
    token, sid = fields[4], fields[5]
    assert re.fullmatch(r"[0-9a-f]{64}", token), token          # 256 bits
    assert re.fullmatch(r"[0-9a-f]{16}", sid), sid
    client.user, client.topic = name, fields[3]
    return client, token, sid


def resume(stack, name, token, device="dev"):
    """A new connection (new key) resumed with token: (client, reply)."""
    client = RawClient(stack)
    reply = client.request("RESUME", name, token, device, timeout=10)
    if reply[1] == "OK":
        client.user, client.topic = name, reply[6]
    return client, reply


def test_resume_after_broker_kill_needs_no_argon2id(fresh_stack):
    stack = fresh_stack
    stack.register("rita", "pw-rita")
    client, token, sid = login(stack, "rita", "pw-rita", "laptop")
    client.join("resumed")
    client.close()
    before = hashes(stack)
    stack.kill_service("broker")
    stack.start_service("broker")
    stack.wait_broker()
    again, reply = resume(stack, "rita", token, "laptop")
    assert reply[1] == "OK", reply
    assert reply[3:6] == ["rita", "user", str(stack.base + 1)] and reply[7] == sid, reply
    # The resumed session works like a logged-in one: join, subscribe, send, receive
    again.join("resumed")
    sub = again.subscriber()
    msg_id, _ = again.send("resumed", "after the crash")
    got = sub.recv(timeout=5)
    assert got and got[2] == "MSG" and got[4] == msg_id and got[8] == "after the crash", got
    assert hashes(stack) == before, "RESUME ran Argon2id"
    # A token that was never issued, or another user's name with it: 401
    stranger, reply = resume(stack, "rita", "0" * 64)
    assert reply[1] == "ERROR" and reply[3] == "401", reply
    stack.register("otto", "pw-otto")
    stranger, reply = resume(stack, "otto", token)
    assert reply[1] == "ERROR" and reply[3] == "401", reply


def test_revocation_ban_passwd_logout_then_password_works(stack, unique):
    name = unique("vera")
    stack.register(name, "pw-1")
    a, token_a, sid_a = login(stack, name, "pw-1", "laptop")
    b, token_b, sid_b = login(stack, name, "pw-1", "phone")
    listed = a.ok("SESSIONS")
    assert sorted(line.split()[0] for line in listed) == sorted([sid_a, sid_b]), listed
    assert sorted(line.split()[1] for line in listed) == ["laptop", "phone"]
    # PASSWD from the laptop: the phone's token dies, the laptop's lives
    a.ok("PASSWD", "pw-1", "pw-2", timeout=15)
    assert resume(stack, name, token_b)[1][3] == "401"
    client, reply = resume(stack, name, token_a)
    assert reply[1] == "OK", reply
    # LOGOUT revokes the session's own token...
    client.ok("LOGOUT")
    assert resume(stack, name, token_a)[1][3] == "401"
    # ...but LOGOUT keep does not
    c, token_c, _ = login(stack, name, "pw-2", "desk")
    c.ok("LOGOUT", "keep")
    assert resume(stack, name, token_c)[1][1] == "OK"
    # REVOKE by id (the owner's own list)
    d, token_d, sid_d = login(stack, name, "pw-2", "tablet")
    d.ok("REVOKE", sid_d)
    assert resume(stack, name, token_d)[1][3] == "401"
    assert d.error("REVOKE", sid_d) == 404
    # Another user's sessions are for admins only
    other = unique("olga")
    stack.register(other, "pw-o")
    o, _, _ = login(stack, other, "pw-o", "x")
    assert o.error("SESSIONS", name) == 403
    assert o.error("REVOKE", "*", name) == 403
    # After each revocation the password still works
    login(stack, name, "pw-2", "phone")


def test_ban_revokes_every_token(fresh_stack):
    stack = fresh_stack
    stack.register("mallet", "pw-m")
    result = subprocess.run([stack.binary("pychat-admin"), "create-admin", "root"],
                            env=dict(stack.env, PYCHAT_PASSWORD="root-pw"),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    _, token, _ = login(stack, "mallet", "pw-m", "laptop")
    root, _, _ = login(stack, "root", "root-pw", "console")
    # An admin lists another user's sessions
    assert [line.split()[1] for line in root.ok("SESSIONS", "mallet")] == ["laptop"]
    root.ok("BAN", "mallet", timeout=10)
    assert resume(stack, "mallet", token)[1][3] == "401"
    assert root.ok("SESSIONS", "mallet") == []
    root.ok("UNBAN", "mallet", timeout=10)
    assert resume(stack, "mallet", token)[1][3] == "401"     # still revoked
    login(stack, "mallet", "pw-m", "laptop")                 # the password works


def test_cli_sends_reuse_the_token(cli, unique):
    stack = cli
    name = unique("cli")
    stack.register(name, "pw-cli")
    home = os.path.join(stack.homes, name)
    result = stack.pychat("send", "tokroom", "first", user=name, password="pw-cli", home=home)
    assert result.returncode == 0, result.stderr
    path = os.path.join(home, "tokens", name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = hashes(stack)
    for index in range(5):
        result = stack.pychat("send", "tokroom", "again %d" % index, user=name,
                              password="pw-cli", home=home)
        assert result.returncode == 0, result.stderr
    assert hashes(stack) == before, "a send with a saved token ran Argon2id"
    # Without a password at hand, the token alone is enough
    result = stack.pychat("send", "tokroom", "no password", user=name, home=home)
    assert result.returncode == 0, result.stderr
    sessions = stack.pychat("sessions", user=name, home=home)
    assert sessions.returncode == 0 and "current" in sessions.stdout, sessions
    # Revoked (passwd elsewhere): the next send falls back to the password
    other = RawClient(stack)
    other.ok("LOGIN", name, "pw-cli", "elsewhere", timeout=15)
    other.ok("PASSWD", "pw-cli", "pw-new", timeout=15)
    result = stack.pychat("send", "tokroom", "after passwd", user=name, password="pw-new", home=home)
    assert result.returncode == 0, result.stderr
    history = stack.pychat("history", "tokroom", user=name, password="pw-new", home=home)
    assert "after passwd" in history.stdout and "no password" in history.stdout


STACK_ENV_BUSY = {"PYCHAT_AUTH_WORKERS": "1", "PYCHAT_AUTH_QUEUE": "1",
                  "PYCHAT_THROTTLE_SOURCE": "100000"}


def test_full_queue_answers_503_retry_after_at_once(fresh_stack):
    stack = fresh_stack
    stack.stop_service("authsvc")
    stack.start_service("authsvc", env=STACK_ENV_BUSY)
    stack.wait_auth()
    stack.register("busy", "pw-b")
    assert auth_stats(stack)["workers"] == 1
    clients = [RawClient(stack) for _ in range(12)]
    start = time.monotonic()
    for client in clients:
        client.send_raw([SIGNATURE, "LOGIN", "q", "busy", "pw-b", "d"])
    answers = []
    for client in clients:
        reply = client.recv(timeout=10)
        answers.append((reply, time.monotonic() - start))
    busy = [(r, t) for r, t in answers if r[1] == "ERROR"]
    assert busy, "12 LOGINs at once, one worker, queue 1: some must be refused"
    for reply, took in busy:
        assert reply[3] == "503", reply
        assert re.search(r"retry-after=\d+$", reply[5]), reply
        assert took < 1.0, "refused after %.2f s, not at once" % took
    assert any(r[1] == "OK" for r, _ in answers)
    assert auth_stats(stack)["refused_busy"] >= len(busy)
