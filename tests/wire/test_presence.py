"""Presence and typing (PROTOCOL.md, "Presence and typing"): a user is
online while any session is, away with a message when they say so (WHO
room presence shows it, plain WHO is unchanged), offline when the last
session ends; typing notices reach the other members live, at most one per
user and space every 2 s, and are never stored; bad input gets a clear
error. The stack is one of several brokers (PYCHAT_BROKER_ID): a second
broker's sessions count, and its members hear the events. The CLI: `pychat
away`, `pychat who` with states, `pychat listen --presence`."""

import json
import time

import pytest

from cluster import Node
from stack import OFF_FANOUT, RawClient, RawSub, wait_for

STACK_ENV = {"PYCHAT_BROKER_ID": "b1"}
_made = set()


def connect(stack, user, endpoint=None, fanout=None, subscribe=True):
    """A logged-in RawClient (on the stack's broker, or at endpoint) with a
    subscriber on its session topic when subscribe."""
    client = RawClient(stack, endpoint=endpoint)
    if user not in _made:
        client.ok("REGISTER", user, "pw-" + user, timeout=10)
        _made.add(user)
    client.login(user, "pw-" + user)
    client.sub = None
    if subscribe:
        client.sub = RawSub(stack, keypair=client.keypair, endpoint=fanout, skip=())
        client.sub.subscribe(client.topic)
        client.wait_subscribed(client.topic)
    return client


def expect(client, command, *head, timeout=10):
    """The fields of the next fan-out message command whose fields start
    with head (others are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = client.sub.recv(max(0.05, deadline - time.monotonic()))
        if message and message[2] == command and tuple(message[4:4 + len(head)]) == head:
            return message[4:]
    raise AssertionError("no %s %r for %s within %s s" % (command, head, client.user, timeout))


def heard(client, command, duration=0.5):
    """The fan-out messages command that arrive within duration."""
    return [m[4:] for m in client.sub.drain(duration) if m[2] == command]


def states(client, room):
    return client.ok("WHO", room, "presence")


def test_presence_of_two_sessions_away_and_offline(stack):
    bob = connect(stack, "pbob")
    bob.join("pres")
    desk = connect(stack, "palice", subscribe=False)
    desk.join("pres")
    assert expect(bob, "PRESENCE", "palice") == ["palice", "online"]
    laptop = connect(stack, "palice", subscribe=False)
    laptop.join("pres")
    assert states(bob, "pres") == ["palice online", "pbob online"]
    assert bob.ok("WHO", "pres") == ["palice", "pbob"], "plain WHO is unchanged"

    assert laptop.ok("AWAY", "at lunch, back at 2") == ["away"]
    assert expect(bob, "PRESENCE", "palice") == ["palice", "away", "at lunch, back at 2"]
    assert states(bob, "pres") == ["palice away at lunch, back at 2", "pbob online"]
    assert desk.ok("AWAY") == ["online"]
    assert expect(bob, "PRESENCE", "palice") == ["palice", "online"]

    desk.ok("AWAY", "gone fishing")
    expect(bob, "PRESENCE", "palice", "away")
    desk.ok("LOGOUT", "keep")
    assert heard(bob, "PRESENCE") == [], "online while the laptop is"
    assert states(bob, "pres") == ["palice away gone fishing", "pbob online"]
    laptop.ok("LOGOUT", "keep")
    assert expect(bob, "PRESENCE", "palice") == ["palice", "offline"]
    assert states(bob, "pres") == ["pbob online"]
    # Offline drops the away message: the next login is online
    again = connect(stack, "palice", subscribe=False)
    again.join("pres")
    assert expect(bob, "PRESENCE", "palice") == ["palice", "online"]
    again.ok("LOGOUT", "keep")
    for client in (bob, desk, laptop, again):
        client.close()


def test_typing_live_rate_limited_not_stored(stack):
    ann = connect(stack, "tann")
    ben = connect(stack, "tben")
    for client in (ann, ben):
        client.join("typeroom")
    ann.send("typeroom", "before typing")
    last = ben.ok("HISTORY", "typeroom", "0", "50")
    assert ann.ok("TYPING", "typeroom") == []
    assert expect(ben, "TYPING") == ["typeroom", "tann"]
    reply = ann.request("TYPING", "typeroom")
    assert reply[1:2] + reply[3:5] == ["ERROR", "429", "typing: one notice every 2 s"], reply
    assert reply[5].startswith("retry-after="), reply
    assert heard(ben, "TYPING", 0.3) == [], "the refused notice goes nowhere"
    assert [m for m in heard(ann, "TYPING", 0.1)] == [], "the typist hears nothing of it"
    # A DM: the peer sees it under the typist's name
    assert ann.ok("TYPING", "@tben") == []
    assert expect(ben, "TYPING") == ["@tann", "tann"]
    assert ben.ok("HISTORY", "typeroom", "0", "50") == last, "typing is not history"
    assert ben.ok("INBOX", "0", "50") == []
    # Bad input gets a clear error
    for fields, code, reason in (
            (("TYPING", "nowhere"), "403", "typing: not in #nowhere (join it first)"),
            (("TYPING", "@"), "422", "typing: a room, or @ and a user name"),
            (("TYPING", "@tann"), "400", "typing: not to yourself"),
            (("AWAY", "x" * 201), "413", "away message: at most 200 bytes"),
            (("AWAY", "two\nlines"), "415", "away message: one line"),
            (("AWAY", b"caf\xe9"), "415", None),
            (("WHO", "typeroom", "everything"), "400", "WHO room [presence]")):
        reply = ann.request(*fields)
        assert reply[1] == "ERROR" and reply[3] == code, (fields, reply)
        assert reason is None or reply[4] == reason, (fields, reply)
    for client in (ann, ben):
        client.ok("LOGOUT", "keep")
        client.close()


def test_presence_and_typing_across_brokers(stack):
    node = Node(stack, "b2").start()
    try:
        here = connect(stack, "xcat")
        there = connect(stack, "xdan", endpoint=node.endpoint(),
                        fanout=node.endpoint(OFF_FANOUT))
        here.join("xroom")
        there.join("xroom")
        assert expect(here, "PRESENCE", "xdan") == ["xdan", "online"]
        there.ok("AWAY", "on the other broker")
        assert expect(here, "PRESENCE", "xdan") == ["xdan", "away", "on the other broker"]
        assert states(here, "xroom") == ["xcat online", "xdan away on the other broker"]
        here.ok("TYPING", "xroom")
        assert expect(there, "TYPING") == ["xroom", "xcat"]
        # xcat's second session on b2: leaving b1 keeps them online
        second = connect(stack, "xcat", endpoint=node.endpoint(), subscribe=False)
        here.ok("LOGOUT", "keep")
        assert heard(there, "PRESENCE", 0.5) == []
        second.ok("LOGOUT", "keep")
        assert expect(there, "PRESENCE", "xcat") == ["xcat", "offline"]
        there.ok("LOGOUT", "keep")
        for client in (here, there, second):
            client.close()
    finally:
        node.stop()
    assert not node.sanitizer_reports(), node.sanitizer_reports()


def test_cli_away_who_and_listen(stack):
    if not stack.has_binary("pychat"):
        pytest.skip("not built yet: pychat")
    for name in ("cann", "cbob"):
        stack.register(name, "pw-" + name)
        _made.add(name)
    desk = connect(stack, "cann", subscribe=False)      # keeps cann online
    desk.join("cliroom")
    bob = stack.listen("cliroom", "--presence", user="cbob", password="pw-cbob")
    try:
        away = stack.pychat("away", "in a meeting", user="cann", password="pw-cann")
        assert away.returncode == 0 and away.stdout == "away: in a meeting\n", away.stderr
        wait_for(lambda: any(o.get("presence") == "away" for o in bob.objects()), 10, 0.05,
                 "bob's listen to print cann away")
        seen = [o for o in bob.objects() if o.get("user") == "cann"]
        assert seen[-1]["text"] == "in a meeting" and isinstance(seen[-1]["ts"], int), seen
        who = stack.pychat("who", "cliroom", user="cbob", password="pw-cbob")
        assert who.returncode == 0, who.stderr
        assert who.stdout == "cann  away: in a meeting\ncbob  online\n", who.stdout
        who = stack.pychat("who", "#cliroom", "--json", user="cbob", password="pw-cbob")
        assert json.loads(who.stdout) == [
            {"name": "cann", "state": "away", "away": "in a meeting"},
            {"name": "cbob", "state": "online"}], who.stdout
        desk.ok("TYPING", "cliroom")
        wait_for(lambda: {"typing": "cliroom", "from": "cann"}.items()
                 <= next((o for o in bob.objects() if "typing" in o), {}).items(),
                 10, 0.05, "bob's listen to print cann typing")
        long = stack.pychat("away", "x" * 201, user="cann", password="pw-cann")
        assert long.returncode == 4 and "away message: at most 200 bytes" in long.stderr, long
        back = stack.pychat("away", user="cann", password="pw-cann")
        assert back.returncode == 0 and back.stdout == "back: online\n", back.stderr
        wait_for(lambda: [o.get("presence") for o in bob.objects()
                          if o.get("user") == "cann"][-1] == "online", 10, 0.05, "cann back")
        assert bob.messages() and all("id" not in o for o in bob.objects()), \
            "presence and typing lines are not messages"
    finally:
        assert bob.stop() == 130, bob.stderr_text()
        desk.ok("LOGOUT", "keep")
        desk.close()
