"""Rooms and messages end to end: real client, real broker, real fan-out
(PROTOCOL.md, "Commands to the broker", "Fan-out messages")."""

import json

import pytest

from stack import SIGNATURE, new_cid, now_ms, pack, unpack

ALICE, BOB = ("alice", "pw-alice"), ("bob", "pw-bob")


@pytest.fixture(scope="module")
def people(stack):
    stack.register(*ALICE)
    stack.register(*BOB)
    return stack


def msg_time(message):
    return message["ts"] if "ts" in message else message["time"]


def names_in(value):
    """Names from a JSON list of strings or of objects with "name", or from
    an object keyed by name."""
    if isinstance(value, dict):
        for key in ("rooms", "members", "users"):
            if isinstance(value.get(key), (list, dict)):
                return names_in(value[key])
        return list(value.keys())
    return [item["name"] if isinstance(item, dict) else item for item in value]


def parse_json_output(text):
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_fifty_messages_in_order_exactly_once(cli, people):
    bob = cli.listen("lobby", "--count", "50", user=BOB[0], password=BOB[1])
    start = now_ms()
    alice = cli.logged_in(*ALICE)
    alice.join("lobby")
    sent_ids = []
    for n in range(1, 48):
        fields = alice.send("lobby", "msg %d" % n)
        assert len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit(), fields
        assert abs(int(fields[1]) - now_ms()) < 10000, fields
        sent_ids.append(int(fields[0]))
    for n in range(48, 51):
        result = cli.pychat("send", "lobby", "msg %d" % n, user=ALICE[0], password=ALICE[1])
        assert result.returncode == 0, result.stderr
        printed = result.stdout.strip()
        assert printed.isdigit(), "pychat send prints the message id: %r" % result.stdout
        sent_ids.append(int(printed))
    assert bob.wait(timeout=30) == 0, bob.stderr_text()
    end = now_ms()
    got = bob.messages()
    assert [m["text"] for m in got] == ["msg %d" % n for n in range(1, 51)]
    assert all(m["from"] == "alice" for m in got), [m["from"] for m in got]
    assert all(m.get("room", "lobby") == "lobby" for m in got)
    ids = [int(m["id"]) for m in got]
    assert all(a < b for a, b in zip(ids, ids[1:])), ids
    assert ids == sent_ids, (ids, sent_ids)
    for m in got:
        assert isinstance(msg_time(m), int), m
        assert start - 1000 <= msg_time(m) <= end + 1000, (m, start, end)


def test_two_way_conversation(cli, people):
    listeners = {who: cli.listen("duo", "--count", "4", user=who, password=pw)
                 for who, pw in (ALICE, BOB)}
    script = [(ALICE, "hi bob"), (BOB, "hi alice"), (ALICE, "how are you?"), (BOB, "fine")]
    for (who, pw), text in script:
        result = cli.pychat("send", "duo", text, user=who, password=pw)
        assert result.returncode == 0, (who, result.stderr)
    for who, listener in listeners.items():
        assert listener.wait(timeout=30) == 0, (who, listener.stderr_text())
        got = [(m["from"], m["text"]) for m in listener.messages()]
        assert got == [(w, t) for (w, _), t in script], (who, got)


def test_rooms_and_who(cli, people):
    bob = cli.listen("lobby", user=BOB[0], password=BOB[1])
    try:
        rooms = cli.pychat("rooms", "--json", user=ALICE[0], password=ALICE[1])
        assert rooms.returncode == 0, rooms.stderr
        assert "lobby" in names_in(parse_json_output(rooms.stdout)), rooms.stdout
        who = cli.pychat("who", "lobby", "--json", user=ALICE[0], password=ALICE[1])
        assert who.returncode == 0, who.stderr
        assert "bob" in names_in(parse_json_output(who.stdout)), who.stdout
    finally:
        assert bob.stop() == 130, bob.stderr_text()


def test_rooms_and_who_raw(stack, people):
    alice = stack.logged_in(*ALICE)
    bob = stack.logged_in(*BOB)
    assert alice.join("raw-room") == ["raw-room", alice.topic]
    bob.join("raw-room")
    assert alice.ok("WHO", "raw-room") == ["alice", "bob"]
    alice.send("raw-room", "one")
    rooms = {f.split(" ")[0]: f.split(" ")[1:] for f in alice.ok("ROOMS")}
    assert rooms["raw-room"] == ["2", "1"], rooms
    assert bob.ok("LEAVE", "raw-room") == ["raw-room"]
    assert alice.ok("WHO", "raw-room") == ["alice"]
    assert bob.error("LEAVE", "raw-room") == 404
    assert alice.error("WHO", "no-such-room") == 404
    assert bob.error("SEND", "raw-room", "c2", "not a member") == 403


def test_message_ids_are_per_room_from_1(stack, people):
    alice = stack.logged_in(*ALICE)
    alice.join("fresh-room-a")
    alice.join("fresh-room-b")
    a = [alice.send("fresh-room-a", "x")[0] for _ in range(3)]
    b = [alice.send("fresh-room-b", "y")[0] for _ in range(2)]
    assert a == ["1", "2", "3"] and b == ["1", "2"], (a, b)


def test_sender_cannot_forge_from(stack, people):
    """SEND has no from field: an extra field is refused (400), and what
    is delivered names the logged-in sender."""
    alice = stack.logged_in(*ALICE)
    bob = stack.logged_in(*BOB)
    alice.join("forge")
    topic = bob.join("forge")[1]
    assert topic == bob.topic, "JOIN answers the session topic: %r" % topic
    sub = bob.subscriber()
    reply = alice.request("SEND", "forge", "c1", "i am bob", "bob")
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "400", reply
    msg_id, server_time = alice.send("forge", "i am alice")
    got = sub.recv(timeout=10)
    assert got is not None, "nothing delivered"
    # topic SIGNATURE MSG request-id | message-id room from time text
    assert got[:3] == [topic, SIGNATURE, "MSG"], got
    assert got[4:] == [msg_id, "forge", "alice", server_time, "i am alice"], got
    assert sub.drain(0.5) == [], "the refused SEND was delivered"


UTF8_TEXTS = ["你好，世界", "emoji 🎉🚀👩‍💻", "mixed: naïve café — Ελληνικά — עברית",
              "tab\tand\nnewline"]


def test_utf8_round_trip_cli(cli, people):
    bob = cli.listen("utf8", "--count", str(len(UTF8_TEXTS)), user=BOB[0], password=BOB[1])
    for text in UTF8_TEXTS:
        result = cli.pychat("send", "utf8", text, user=ALICE[0], password=ALICE[1])
        assert result.returncode == 0, (text, result.stderr)
    assert bob.wait(timeout=30) == 0, bob.stderr_text()
    assert [m["text"] for m in bob.messages()] == UTF8_TEXTS


def test_text_limits_cli(cli, people):
    exact = "€" * 1365 + "a"                      # 4096 bytes, 1366 characters
    assert len(exact.encode()) == 4096
    bob = cli.listen("limits", "--count", "2", user=BOB[0], password=BOB[1])
    for text in ("a" * 4096, exact):
        result = cli.pychat("send", "limits", text, user=ALICE[0], password=ALICE[1])
        assert result.returncode == 0, result.stderr
    over = cli.pychat("send", "limits", "a" * 4097, user=ALICE[0], password=ALICE[1])
    assert over.returncode == 4, (over.returncode, over.stderr)
    over = cli.pychat("send", "limits", exact + "b", user=ALICE[0], password=ALICE[1])
    assert over.returncode == 4, (over.returncode, over.stderr)
    assert bob.wait(timeout=30) == 0, bob.stderr_text()
    assert [m["text"] for m in bob.messages()] == ["a" * 4096, exact]


def test_text_limits_raw(stack, people):
    alice = stack.logged_in(*ALICE)
    alice.join("limits-raw")
    alice.send("limits-raw", "a" * 4096)
    assert alice.error("SEND", "limits-raw", "c2", "a" * 4097) == 413
    assert alice.error("SEND", "limits-raw", "c3", b"caf\xe9") == 415          # Latin-1
    assert alice.error("SEND", "limits-raw", "c4", b"\xc0\xaf") == 415         # overlong '/'
    assert alice.error("SEND", "limits-raw", "c5", b"\xed\xa0\x80") == 415     # surrogate
    assert alice.error("SEND", "limits-raw", "c6", b"\xf4\x90\x80\x80") == 415  # > U+10FFFF
    assert alice.error("SEND", "limits-raw", "c7", "bell\x07") == 415
    assert alice.error("SEND", "limits-raw", "c8", "") == 415
    assert alice.error("SEND", "limits-raw", "c9", b"nul\x00byte") == 415
    alice.send("limits-raw", "tab\tand\nnewline are fine")


def test_utf8_round_trip_raw(stack, people):
    alice = stack.logged_in(*ALICE)
    bob = stack.logged_in(*BOB)
    alice.join("utf8-raw")
    topic = bob.join("utf8-raw")[1]
    assert topic == bob.topic, "JOIN answers the session topic: %r" % topic
    sub = bob.subscriber()
    for text in UTF8_TEXTS:
        alice.send("utf8-raw", text)
    got = [sub.recv(timeout=10) for _ in UTF8_TEXTS]
    assert [m[-1] if m else None for m in got] == UTF8_TEXTS


def test_cli_send_to_unknown_user_password(cli, people):
    result = cli.pychat("send", "lobby", "hello", user=ALICE[0], password="not-her-password")
    assert result.returncode == 2, (result.returncode, result.stderr)


def test_message_time_is_the_servers(stack, people):
    """The broker stamps server time: the SEND reply and the MSG agree."""
    alice = stack.logged_in(*ALICE)
    topic = alice.join("clock")[1]
    assert topic == alice.topic, "JOIN answers the session topic: %r" % topic
    sub = alice.subscriber()
    before = now_ms()
    msg_id, stamp = alice.send("clock", "tick")
    after = now_ms()
    assert before - 1000 <= int(stamp) <= after + 1000, (before, stamp, after)
    got = sub.recv(timeout=10)
    assert got is not None and got[-5:] == [msg_id, "clock", "alice", stamp, "tick"], got


def test_retried_client_message_id_is_delivered_once(stack, people):
    """A SEND repeated with the same client message id (a retry after a lost
    reply) gets the same message id back and is not delivered twice."""
    alice = stack.logged_in(*ALICE)
    topic = alice.join("retry")[1]
    assert topic == alice.topic, "JOIN answers the session topic: %r" % topic
    sub = alice.subscriber()
    first = alice.ok("SEND", "retry", "same-cid-1", "once")
    again = alice.ok("SEND", "retry", "same-cid-1", "once")
    assert again[0] == first[0], (first, again)
    other = alice.send("retry", "twice")
    assert int(other[0]) == int(first[0]) + 1, (first, other)
    got = [m[-1] for m in sub.drain(1.0)]
    assert got == ["once", "twice"], got


def test_pipelined_sends_are_answered_in_one_frame(stack, people):
    """A client that packs several SENDs in one frame (PROTOCOL.md,
    "Framing") gets their OKs in the order it sent them, packed in one reply
    frame (so it must read every message of a reply frame), with
    consecutive ids, and the room gets every message once, in order."""
    alice = stack.logged_in(*ALICE)
    alice.join("pipelined")
    sub = alice.subscriber()
    sends = [[SIGNATURE, "SEND", "pipe-%d" % i, "pipelined", new_cid(), "line %d" % i]
             for i in range(5)]
    alice.send_raw([pack(*sends)])
    assert alice.socket.poll(5000), "no answer to five pipelined SENDs"
    replies = unpack(alice.socket.recv_multipart())
    assert [r[1] for r in replies] == [b"OK"] * 5, replies
    assert [r[2] for r in replies] == [b"pipe-%d" % i for i in range(5)], replies
    ids = [int(r[3]) for r in replies]
    assert ids == list(range(ids[0], ids[0] + 5)), ids
    assert [m[-1] for m in sub.drain(1.0)] == ["line %d" % i for i in range(5)]


def test_listening_while_sending_from_the_same_device(cli, people):
    """A user listens in one terminal and sends from another on the same
    device (same PYCHAT_HOME, so the same device key and session): after
    the send, the listener is still a member (WHO lists it) and still
    receives the room."""
    bob = cli.listen("same-device", user=BOB[0], password=BOB[1])
    try:
        sent = cli.pychat("send", "same-device", "bob here", user=BOB[0], password=BOB[1])
        assert sent.returncode == 0, sent.stderr
        bob.wait_messages(1)
        who = cli.pychat("who", "same-device", "--json", user=ALICE[0], password=ALICE[1])
        assert who.returncode == 0, who.stderr
        assert "bob" in names_in(parse_json_output(who.stdout)), (
            "bob is listening but WHO says %s" % who.stdout.strip())
        reply = cli.pychat("send", "same-device", "still there?", user=ALICE[0],
                           password=ALICE[1])
        assert reply.returncode == 0, reply.stderr
        got = bob.wait_messages(2)
        assert [m["text"] for m in got] == ["bob here", "still there?"], got
    finally:
        assert bob.stop() == 130, bob.stderr_text()


def test_many_senders_at_once(stack, people):
    """20 sessions send 10 messages each, all at once: a listener gets all
    200 exactly once, ids 1..200 without a gap, each sender's in order."""
    import threading
    names = ["crowd-%d" % i for i in range(20)]
    for name in names:
        stack.register(name, "pw")
    senders = [stack.logged_in(name, "pw") for name in names]
    for sender in senders:
        sender.join("crowd")
    listener = stack.logged_in(*ALICE)
    topic = listener.join("crowd")[1]
    assert topic == listener.topic, "JOIN answers the session topic: %r" % topic
    sub = listener.subscriber()
    errors = []

    def burst(sender, name):
        try:
            for n in range(10):
                sender.send("crowd", "%s %d" % (name, n))
        except Exception as exc:        # reported below, in the test's thread
            errors.append(repr(exc))
    threads = [threading.Thread(target=burst, args=(s, n)) for s, n in zip(senders, names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[:3]
    got = []
    while len(got) < 200:
        message = sub.recv(timeout=10)
        assert message is not None, "only %d of 200 delivered" % len(got)
        got.append(message)
    assert sub.drain(0.5) == [], "more than 200 delivered"
    assert [int(m[4]) for m in got] == list(range(1, 201))
    for name in names:
        mine = [m[-1] for m in got if m[6] == name]
        assert mine == ["%s %d" % (name, n) for n in range(10)], (name, mine)


def test_cli_input_errors(cli, people):
    for args, code in ((("send", "Bad Room!", "hi"), 4), (("send", "lobby", ""), 4),
                       (("listen", "no room here"), 4), (("who", "no-such-room-x"), 2)):
        result = cli.pychat(*args, user=ALICE[0], password=ALICE[1])
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert result.stderr.strip(), args
