"""Malformed, oversized and out-of-order input to the broker (PROTOCOL.md,
"Framing", "Field types", "Error codes"): each gets its error reply or is
dropped, and the broker keeps serving everyone."""

import time

import pytest

from stack import SIGNATURE, RawClient, new_cid, pack, unpack

PASSWORD = "malformed-pw-1"


@pytest.fixture(scope="module")
def mallory(stack):
    """A logged-in client, so that field errors are not masked by 403."""
    stack.register("mallory", PASSWORD)
    client = stack.logged_in("mallory", PASSWORD)
    client.join("lobby")
    return client


def assert_serving(stack, client, label):
    """After bad input: the broker process lives, answers a PING on a fresh
    client, and the same client's next request gets its own reply (any stray
    reply before it may only be an ERROR to the bad input)."""
    assert stack.alive("broker"), "broker died after %s:\n%s" % (
        label, stack.log_text("broker")[-3000:])
    fresh = RawClient(stack)
    reply = fresh.request("PING", reqid="fresh-ping", timeout=10)
    assert reply == [SIGNATURE, "OK", "fresh-ping", "PONG"], (label, reply)
    fresh.close()
    if client is not None:
        reply = client.request("PING", reqid="after-" + label, timeout=10)
        assert reply == [SIGNATURE, "OK", "after-" + label, "PONG"], (label, reply)
        for stray in client.pending:
            assert stray[:2] == [SIGNATURE, "ERROR"] and stray[2] == "", (label, stray)
        client.pending.clear()


def test_ping(stack):
    client = RawClient(stack)
    assert client.request("PING", reqid="p1") == [SIGNATURE, "OK", "p1", "PONG"]
    # an empty request id is allowed (0*64 VCHAR) and echoed as empty
    assert client.request("PING", reqid="") == [SIGNATURE, "OK", "", "PONG"]


@pytest.mark.parametrize("frames", [
    [SIGNATURE],
    [SIGNATURE, "PING"],
    ["HTTP/1.1", "PING", "bad-sig"],
    [b"\x00\xff\xfe", b"\x01", b"\x02"],
    [b""],
], ids=["1-frame", "2-frames", "bad-signature", "binary-junk", "empty-frame"])
def test_undecodable_is_dropped_or_400(stack, frames):
    client = RawClient(stack)
    client.send_raw(frames)
    reply = client.recv(timeout=1.0)
    if reply is not None:
        # "dropped and counted" is the contract; an ERROR 400 would be
        # acceptable too, never an OK.
        assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "400", reply
    assert_serving(stack, client, "undecodable")


def test_other_version_gets_426(stack):
    client = RawClient(stack)
    client.send_raw(["PYCHAT9", "PING", "v9"])
    reply = client.recv(timeout=5)
    assert reply is not None, "no reply to a PYCHAT9 request (PROTOCOL.md: answers 426)"
    assert reply[:2] == [SIGNATURE, "ERROR"], reply
    assert reply[2] in ("v9", ""), reply
    assert reply[3] == "426", reply
    assert_serving(stack, client, "pychat9")


def test_unknown_command_405_echoes_request_id(stack):
    client = RawClient(stack)
    reply = client.request("FLY", reqid="fly-42")
    assert reply[:4] == [SIGNATURE, "ERROR", "fly-42", "405"], reply
    assert len(reply) >= 5 and reply[4].strip(), "an error has a reason: %r" % reply
    assert_serving(stack, client, "fly")


def test_lower_case_command_is_unknown(stack):
    client = RawClient(stack)
    assert client.error("ping") == 405


@pytest.mark.parametrize("room", ["Bad Room", "LOBBY", "a" * 33, "r/lobby", "lob\u00e9"])
def test_join_bad_room_422(stack, mallory, room):
    reply = mallory.request("JOIN", room)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "422", (room, reply)


def test_join_empty_room_422(stack, mallory):
    assert mallory.error("JOIN", "") == 422


@pytest.mark.parametrize("fields", [
    ("PING", ["extra"]),
    ("JOIN", []),
    ("JOIN", ["lobby", "hall"]),
    ("SEND", ["lobby", "c1"]),
    ("SEND", ["lobby", "c1", "hello", "alice"]),
    ("LOGIN", ["mallory"]),
    ("WHO", []),
], ids=lambda f: "%s-%d" % (f[0], len(f[1])))
def test_wrong_field_count_400(stack, mallory, fields):
    command, args = fields
    reply = mallory.request(command, *args, reqid="wfc")
    assert reply[:4] == [SIGNATURE, "ERROR", "wfc", "400"], (command, args, reply)
    assert_serving(stack, mallory, "wfc")


def test_text_over_100k_413(stack, mallory):
    reply = mallory.request("SEND", "lobby", "c-big", "x" * (100 * 1024), reqid="big")
    assert reply[:4] == [SIGNATURE, "ERROR", "big", "413"], reply[:5]


def test_request_id_too_long_is_not_echoed_blindly(stack, mallory):
    mallory.send_raw([SIGNATURE, "PING", "i" * 65])
    reply = mallory.recv(timeout=1.0)
    assert reply is None or (reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "400"), reply
    assert_serving(stack, mallory, "long-reqid")


def test_nul_in_password_400(stack):
    client = RawClient(stack)
    reply = client.request("LOGIN", "mallory", b"pass\x00word")
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "400", reply


def test_message_over_maxmsgsize_drops_connection(stack, mallory):
    """~2 MiB in one message is over ZMQ_MAXMSGSIZE (1 MiB): no reply, the
    connection is dropped, and everybody else is still served."""
    big = RawClient(stack)
    assert big.request("PING")[1] == "OK"
    big.send_raw([SIGNATURE, "SEND", "huge", "lobby", "c1", b"y" * (2 * 1024 * 1024)])
    reply = big.recv(timeout=2.0)
    assert reply is None, "a 2 MiB message got a reply: %r" % (reply[:5],)
    assert_serving(stack, mallory, "2mib")
    # and the same key, on a new connection, is served again
    again = RawClient(stack, keypair=big.keypair)
    assert again.request("PING", reqid="again", timeout=10) == [SIGNATURE, "OK", "again", "PONG"]


def test_many_frames_over_limit(stack, mallory):
    """More than 1027 frames: refused (400) or dropped, never a crash."""
    mallory.send_raw([SIGNATURE, "PING", "frames"] + ["f"] * 1100)
    reply = mallory.recv(timeout=2.0)
    assert reply is None or (reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "400"), reply[:5]
    assert_serving(stack, mallory, "frames")


def test_burst_of_garbage(stack, mallory):
    """A few hundred malformed messages in a row, then normal service."""
    junk = RawClient(stack)
    for i in range(300):
        junk.send_raw([SIGNATURE, "SEND", "j%d" % i, "Bad Room", "c", "\xff"])
    # every one is answered with an error; none is OK
    deadline = time.monotonic() + 20
    errors = 0
    while errors < 300 and time.monotonic() < deadline:
        reply = junk.recv(timeout=max(0.0, deadline - time.monotonic()))
        if reply is None:
            break
        assert reply[1] == "ERROR", reply
        errors += 1
    assert errors == 300, "only %d of 300 malformed requests got an ERROR" % errors
    assert_serving(stack, mallory, "burst")


@pytest.mark.parametrize("command,fields", [
    ("JOIN", ["lobby"]),
    ("SEND", ["lobby", "c1", "hello"]),
    ("ROOMS", []),
    ("WHO", ["lobby"]),
    ("LEAVE", ["lobby"]),
])
def test_commands_before_login_403(stack, command, fields):
    client = RawClient(stack)
    reply = client.request(command, *fields, reqid="early")
    assert reply[:4] == [SIGNATURE, "ERROR", "early", "403"], (command, reply)


def test_login_then_logout_then_403(stack, mallory):
    client = stack.logged_in("mallory", PASSWORD)
    client.join("lobby")
    client.ok("LOGOUT")
    assert client.error("SEND", "lobby", "c1", "after logout") == 403


def test_broker_alive_at_end(stack):
    assert stack.alive("broker")
    assert stack.alive("authsvc")


# ---------------------------------------------------------------------------
#  Packed form (PROTOCOL.md, "Framing"): one frame per message, batches

def test_replies_come_in_one_frame(stack):
    client = RawClient(stack)
    client.send_raw([SIGNATURE, "PING", "plain-in"])
    assert client.socket.poll(5000)
    frames = client.socket.recv_multipart()
    assert len(frames) == 1, "a reply is one packed frame, got %d frames" % len(frames)
    assert unpack(frames) == [[SIGNATURE.encode(), b"OK", b"plain-in", b"PONG"]]


def test_batch_of_requests_answered_in_order(stack, mallory):
    stack.register("malformed-listener", PASSWORD)
    listener = stack.logged_in("malformed-listener", PASSWORD)
    listener.join("lobby")
    sub = listener.subscriber()
    cid = new_cid()
    mallory.send_raw([pack([SIGNATURE, "PING", "batch-1"],
                           [SIGNATURE, "SEND", "batch-2", "lobby", cid, "batched hello"],
                           [SIGNATURE, "PING", "batch-3"])])
    replies = [mallory.recv(timeout=5) for _ in range(3)]
    assert [r[2] for r in replies] == ["batch-1", "batch-2", "batch-3"], replies
    assert all(r[1] == "OK" for r in replies), replies
    got = sub.recv(timeout=5)
    assert got is not None and got[2] == "MSG" and got[-1] == "batched hello", got
    assert_serving(stack, mallory, "batch")


def test_torn_batch_keeps_what_came_before(stack, mallory):
    whole = pack([SIGNATURE, "PING", "torn-1"])
    torn = pack([SIGNATURE, "PING", "torn-2"])[:-3]
    mallory.send_raw([whole + torn])
    first = mallory.recv(timeout=5)
    assert first == [SIGNATURE, "OK", "torn-1", "PONG"], first
    second = mallory.recv(timeout=5)
    assert second is not None and second[:2] == [SIGNATURE, "ERROR"] and second[3] == "400", second
    assert_serving(stack, mallory, "torn-batch")


def test_version_1_frames_are_refused(stack):
    client = RawClient(stack)
    # version 1's packed form: 4-byte big-endian count and sizes
    old = b"".join([(3).to_bytes(4, "big")] + [len(p).to_bytes(4, "big") + p
                                              for p in (b"PYCHAT1", b"PING", b"v1-old")])
    client.send_raw([old])
    reply = client.recv(timeout=2)
    if reply is not None:
        assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "400", reply
    # the signature of version 1 in today's framing: 426, as PROTOCOL.md says
    client.send_raw([pack(["PYCHAT1", "PING", "v1-new"])])
    reply = client.recv(timeout=5)
    assert reply is not None and reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "426", reply
    assert_serving(stack, client, "version-1")
