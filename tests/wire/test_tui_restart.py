"""The full-screen client survives a broker that is killed and restarted on
the same ports within a second (what `make up` does after a crash).

The old session is gone with the old broker, but the client's sockets
reconnect on their own, so nothing looks wrong to it until a reply says
403 "log in first": the client must notice, log in again, join again,
subscribe again, resend what was typed meanwhile (stored once), and go on
receiving, with no gap.
"""

import json
import time

from conftest import need
from test_tui import HEIGHT, Tui, _join


def _status_row(screen):
    return screen.split("\n")[HEIGHT - 2]


def _history(stack, room, user, password):
    result = stack.pychat("history", room, "--json", "--limit", "50",
                          user=user, password=password)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_broker_killed_and_restarted_at_once(fresh_stack, unique):
    stack = fresh_stack
    need(stack, "pychat")
    alice, bob = unique("alice"), unique("bob")
    stack.register(alice, "pw-" + alice)
    stack.register(bob, "pw-" + bob)
    room = unique("restart")
    client = Tui(stack, "restart", stack.client_env(alice, "pw-" + alice))
    try:
        client.wait("[connected]")
        _join(client, room)
        sent = stack.pychat("send", room, "before the crash", user=bob, password="pw-" + bob)
        assert sent.returncode == 0, sent.stderr
        client.wait("<%s> before the crash" % bob)

        stack.kill_service("broker")                 # -9
        stack.start_service("broker")                # same ports, at once
        client.type("typed during the restart")
        stack.wait_broker()
        stack.wait_auth()

        # the client noticed: it said so, logged in again, and is connected
        client.keys("M-1")
        client.wait("reconnected as %s" % alice, timeout=30)
        client.keys("M-3")                           # 2 is #lobby, joined at start
        client.wait(lambda s: _status_row(s).startswith(" [connected]")
                    and "queued" not in _status_row(s), timeout=30)
        screen = client.wait("<%s> typed during the restart" % alice, timeout=20)
        assert "not sent" not in screen, screen

        # the line typed meanwhile is stored exactly once
        deadline = time.monotonic() + 10
        while True:
            texts = [m["text"] for m in _history(stack, room, bob, "pw-" + bob)]
            if "typed during the restart" in texts or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert texts.count("typed during the restart") == 1, texts

        # what bob says afterwards arrives, every line, in order
        for n in range(1, 4):
            sent = stack.pychat("send", room, "after the restart %d" % n,
                                user=bob, password="pw-" + bob)
            assert sent.returncode == 0, sent.stderr
        screen = client.wait("<%s> after the restart 3" % bob, timeout=20)
        order = ["before the crash", "typed during the restart", "after the restart 1",
                 "after the restart 2", "after the restart 3"]
        at = [screen.find(text) for text in order]
        assert all(a >= 0 for a in at) and at == sorted(at), screen
        assert screen.count("typed during the restart") == 1, screen
    finally:
        client.close()
