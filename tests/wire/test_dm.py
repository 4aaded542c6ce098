"""Direct messages on the wire (PROTOCOL.md, "Direct messages"): public keys
through SETKEY/GETKEY, opaque boxes through DM, delivery to every session of
the recipient and to nobody else, INBOX for whoever was offline."""

import base64
import os

import pytest
import zmq

from stack import SIGNATURE, cli_user, json_lines, redis_command


def box(size=48):
    """What a client sends: base64 (nonce || ciphertext); opaque to the server."""
    return base64.b64encode(os.urandom(size)).decode()


def dms(messages):
    return [m for m in messages if m[2] == "DMMSG"]


@pytest.fixture(scope="module")
def people(stack):
    for name in ("nia", "oto", "pam"):
        stack.register(name, "pw-" + name)
    return stack


def test_setkey_getkey(people):
    nia = people.logged_in("nia", "pw-nia")
    oto = people.logged_in("oto", "pw-oto")
    assert oto.error("GETKEY", "nia") == 404            # no key published yet
    assert oto.error("GETKEY", "nobody-here") == 404
    key = zmq.curve_keypair()[0].decode()
    [device] = nia.ok("SETKEY", key, "nia-desk")
    assert len(device) == 8, device
    assert oto.ok("GETKEY", "nia")[:2] == ["nia", key]
    ident, listed, added, name = oto.ok("GETKEY", "nia")[2].split(" ", 3)
    assert (ident, listed, name) == (device, key, "nia-desk") and int(added) > 0
    spaced = "not z85: forty characters with spaces..."
    assert len(spaced) == 40
    for bad in ("short", "x" * 41, spaced):
        reply = nia.request("SETKEY", bad)
        assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "400", (bad, reply)
    assert oto.ok("GETKEY", "nia")[:2] == ["nia", key], "a refused SETKEY changed the key"
    assert len(oto.ok("GETKEY", "nia")) == 3, "a refused SETKEY added a device"


def test_dm_reaches_every_session_of_the_recipient_and_nobody_else(people):
    nia = people.logged_in("nia", "pw-nia")
    oto_phone = people.logged_in("oto", "pw-oto")
    oto_laptop = people.logged_in("oto", "pw-oto")
    pam = people.logged_in("pam", "pw-pam")
    subs = {"phone": oto_phone.subscriber(), "laptop": oto_laptop.subscriber(),
            "pam": pam.subscriber(), "nia": nia.subscriber()}
    sealed = box()
    msg_id, stamp, own = nia.ok("DM", "oto", "dm-1", sealed)
    for who, session in (("phone", oto_phone), ("laptop", oto_laptop)):
        got = subs[who].recv(timeout=10)
        assert got is not None, "%s got no DMMSG" % who
        assert got[0] == session.topic and got[1:3] == [SIGNATURE, "DMMSG"], got
        assert got[4:] == [msg_id, "nia", "oto", stamp, sealed], got
    assert dms(subs["pam"].drain(0.5)) == [], "a third user received the DM"
    # the sender's copy, for its other devices: from its own inbox
    copies = dms(subs["nia"].drain(0.5))
    assert len(copies) == 1 and copies[0][5:] == ["nia", "oto", copies[0][7], sealed], copies
    assert copies[0][0] == nia.topic, copies
    assert copies[0][4] == own, "the OK's third field is the id of the sender's copy"


def test_dm_retry_is_stored_once(people):
    nia = people.logged_in("nia", "pw-nia")
    pam = people.logged_in("pam", "pw-pam")
    sub = pam.subscriber()
    sealed = box()
    first = nia.ok("DM", "pam", "dm-retry", sealed)
    again = nia.ok("DM", "pam", "dm-retry", sealed)
    assert again == first
    got = dms(sub.drain(1.0))
    assert len(got) == 1, got
    inbox = pam.ok("INBOX", "0", "200")
    assert inbox.count(sealed) == 1, inbox


def test_inbox_for_the_offline_recipient(people):
    nia = people.logged_in("nia", "pw-nia")
    # pam is not logged in anywhere new; an older session may exist: that
    # is fine, INBOX is per user
    boxes = [box() for _ in range(3)]
    ids = [nia.ok("DM", "pam", "dm-off-%d" % i, b)[0] for i, b in enumerate(boxes)]
    pam = people.logged_in("pam", "pw-pam")
    fields = pam.ok("INBOX", "0", "200")
    assert len(fields) % 5 == 0, fields
    records = [fields[i:i + 5] for i in range(0, len(fields), 5)]
    mine = [r for r in records if r[4] in boxes]
    assert [(r[0], r[1], r[2], r[4]) for r in mine] == [
        (i, "nia", "pam", b) for i, b in zip(ids, boxes)], records
    since = pam.ok("INBOX", ids[0], "200")
    assert [since[i + 4] for i in range(0, len(since), 5)][-2:] == boxes[1:]
    # nia's inbox holds her copies, from nia to pam
    own = nia.ok("INBOX", "0", "200")
    copies = [own[i:i + 5] for i in range(0, len(own), 5) if own[i + 4] in boxes]
    assert [(r[1], r[2], r[4]) for r in copies] == [("nia", "pam", b) for b in boxes], own
    # nobody else reads pam's inbox
    oto = people.logged_in("oto", "pw-oto")
    theirs = oto.ok("INBOX", "0", "200")
    assert not any(b in theirs for b in boxes), "oto's INBOX holds pam's DMs"


def test_dm_limits_and_login(people):
    nia = people.logged_in("nia", "pw-nia")
    assert nia.error("DM", "oto", "dm-big", "A" * 8193) == 413
    nia.ok("DM", "oto", "dm-8192", "A" * 8192)
    stranger = people.client()
    assert stranger.error("DM", "oto", "dm-anon", box()) == 403
    assert stranger.error("INBOX", "0", "10") == 403
    assert stranger.error("SETKEY", zmq.curve_keypair()[0].decode()) == 403


# ---------------------------------------------------------------------------
#  The client side (issue #3): `pychat dm`, DMs in `pychat listen`, pinning,
#  `pychat trust` and `pychat fingerprint`. Sealing is end to end: the text
#  never reaches the broker, Redis or the monitor.

import re                                           # noqa: E402
import time                                         # noqa: E402

FINGERPRINT = re.compile(r"^[0-9a-f]{4}( [0-9a-f]{4}){7}$")


def _flatten(value):
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif isinstance(value, bytes):
        yield value


def redis_dump(port):
    """Every byte string Redis holds: keys and values of every type."""
    out = []
    cursor = b"0"
    while True:
        cursor, keys = redis_command(port, "SCAN", cursor, "COUNT", "1000")
        for key in keys:
            out.append(key)
            kind = redis_command(port, "TYPE", key)
            command = {b"string": ("GET", key), b"hash": ("HGETALL", key),
                       b"list": ("LRANGE", key, "0", "-1"), b"set": ("SMEMBERS", key),
                       b"zset": ("ZRANGE", key, "0", "-1"),
                       b"stream": ("XRANGE", key, "-", "+")}.get(kind)
            assert command, "unknown type %r of %r" % (kind, key)
            out.extend(_flatten(redis_command(port, *command)))
        if cursor == b"0":
            return out


def test_dm_round_trip_and_secrecy(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    carol, cpw = cli_user(cli, unique, "carol")
    listener = cli.listen(user=bob, password=bpw)          # no room: DMs only
    carol_listener = cli.listen(user=carol, password=cpw)
    secret = "the eagle lands at dawn %d" % time.time()
    sent = cli.pychat("dm", bob, secret, user=alice, password=apw)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip().isdigit(), sent.stdout
    got = listener.wait_messages(1)
    assert len(got) == 1, got
    assert got[0]["dm"] is True and got[0]["from"] == alice and got[0]["to"] == bob
    assert got[0]["text"] == secret
    # the id printed is the sender's copy's, in alice's own inbox (the one
    # her edits name)
    raw_alice = cli.logged_in(alice, apw)
    mine = raw_alice.ok("INBOX", "0", "200")
    at = mine[0::5].index(sent.stdout.strip()) * 5
    assert mine[at + 1:at + 3] == [alice, bob], mine
    raw_alice.close()
    assert isinstance(got[0]["ts"], int)
    # the sender pinned bob's key on first use
    assert open(cli.home(alice) + "/peers/" + bob).read().strip()
    # a third user gets nothing, and its inbox is empty
    time.sleep(1.0)
    assert carol_listener.messages() == []
    raw_carol = cli.logged_in(carol, cpw)
    assert raw_carol.ok("INBOX", "0", "200") == []
    assert listener.stop() == 130 and carol_listener.stop() == 130
    # the text is nowhere on the server side
    needle = secret.encode()
    assert not any(needle in value for value in redis_dump(cli.redis_port)), "plaintext in Redis"
    for name in ("broker", "monitor", "authsvc"):
        assert secret not in cli.log_text(name), "plaintext in the %s log" % name
    # plain output
    again = cli.pychat("dm", bob, "second line", user=alice, password=apw)
    assert again.returncode == 0, again.stderr
    plain = cli.pychat("listen", "--count", "1", "--timeout", "20", user=bob, password=bpw)
    assert plain.returncode == 0, plain.stderr
    assert re.match(r"^\[\d\d:\d\d:\d\d\] \*dm\* <%s> second line$" % alice, plain.stdout.strip()), \
        plain.stdout


def test_offline_dms_in_order_once(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    texts = ["offline %d" % i for i in range(3)]
    ids = []
    for text in texts:
        result = cli.pychat("dm", bob, text, user=alice, password=apw)
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    first = cli.pychat("listen", "--json", "--count", "3", "--timeout", "20",
                       user=bob, password=bpw)
    assert first.returncode == 0, first.stderr
    got = json_lines(first.stdout)
    assert [(m["from"], m["text"]) for m in got] == [(alice, t) for t in texts]
    assert [int(m["id"]) for m in got] == sorted(int(m["id"]) for m in got)
    assert all(i.isdigit() for i in ids), ids
    second = cli.pychat("listen", "--json", "--timeout", "1.5", user=bob, password=bpw)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "", "old DMs printed again: %r" % second.stdout


def test_tampered_box_is_reported_not_shown(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    listener = cli.listen(user=bob, password=bpw)
    good = cli.pychat("dm", bob, "genuine", user=alice, password=apw)
    assert good.returncode == 0, good.stderr
    listener.wait_messages(1)
    # alice's client could have sent anything: a raw session as alice takes
    # the real box from the inbox, flips bytes in the sealed text (the
    # body: "2 SENDER BODY ID:KEYBOX..."), sends it
    stored = redis_command(cli.redis_port, "XRANGE", "inbox:" + bob, "-", "+")
    fields = stored[-1][1]
    real = dict(zip(fields[::2], fields[1::2]))[b"text"].decode().split(" ")
    assert real[0] == "2" and len(real) >= 4, real
    sealed = bytearray(base64.b64decode(real[2]))
    sealed[30] ^= 0x55
    sealed[-1] ^= 0x01
    real[2] = base64.b64encode(bytes(sealed)).decode()
    forged = " ".join(real)
    raw_alice = cli.logged_in(alice, apw)
    bad_id = raw_alice.ok("DM", bob, "forged-1", forged)[0]
    after = cli.pychat("dm", bob, "still here", user=alice, password=apw)
    assert after.returncode == 0, after.stderr
    got = listener.wait_messages(2)
    time.sleep(0.5)
    got = listener.messages()
    assert [m["text"] for m in got] == ["genuine", "still here"], got
    assert bad_id not in [m["id"] for m in got]
    expected = ("pychat: direct message %s from %s could not be opened "
                "(tampered, or not sealed for this device); not shown" % (bad_id, alice))
    assert expected in listener.stderr_text(), listener.stderr_text()
    assert listener.stop() == 130


def test_new_device_is_announced_not_refused(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    first = cli.pychat("dm", bob, "hello old device", user=alice, password=apw)
    assert first.returncode == 0, first.stderr
    mine = cli.pychat("fingerprint", user=alice, password=apw)
    assert mine.returncode == 0 and FINGERPRINT.match(mine.stdout.strip()), mine.stdout
    # bob on a new device: a new PYCHAT_HOME, a new key, added at login
    new_home = cli.home(bob + "-new-device")
    login = cli.pychat("listen", "--timeout", "1", user=bob, password=bpw, home=new_home)
    assert login.returncode == 0, login.stderr
    # the DM sealed before the new device existed does not open on it
    assert "could not be opened" in login.stderr and login.stdout == ""
    new_print = cli.pychat("fingerprint", user=bob, password=bpw, home=new_home).stdout.strip()
    # alice is told, and writes to both devices (no refusal)
    told = cli.pychat("dm", bob, "are you still you?", user=alice, password=apw)
    assert told.returncode == 0, told.stderr
    assert "%s added a device" % bob in told.stderr and new_print in told.stderr, told.stderr
    got = cli.pychat("listen", "--json", "--count", "1", "--timeout", "20",
                     user=bob, password=bpw, home=new_home)
    assert got.returncode == 0, got.stderr
    assert [m["text"] for m in json_lines(got.stdout)] == ["are you still you?"]
    # both devices pinned now; a pinned id with another key (an id is its
    # key's, so only a forged collision) is refused: client_dm's selftest
    lines = open(cli.home(alice) + "/peers/" + bob).read().splitlines()
    assert len(lines) == 2, lines
    trusted = cli.pychat("trust", bob, user=alice, password=apw)
    assert trusted.returncode == 0, trusted.stderr
    assert new_print in trusted.stdout, trusted.stdout
    ok = cli.pychat("dm", bob, "welcome back", user=alice, password=apw)
    assert ok.returncode == 0, ok.stderr


def test_dm_refusals(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    nobody = cli.pychat("dm", "no-such-user-here", "hi", user=alice, password=apw)
    assert nobody.returncode == 2
    assert nobody.stderr.strip() == "pychat: no such user: no-such-user-here"
    big = cli.pychat("dm", alice, "x" * 4097, user=alice, password=apw)
    assert big.returncode == 4
    usage = cli.pychat("dm", alice, user=alice, password=apw)
    assert usage.returncode == 1
    helptext = cli.pychat("--help")
    for command in ("history", "dm USER", "fingerprint", "trust USER", "--since"):
        assert command in helptext.stdout, command
