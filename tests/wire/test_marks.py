"""Read markers, unread counts, mentions and notification levels
(PROTOCOL.md, "Read markers and mentions"): a marker set on one device
clears the other device's count, live; markers are the user's alone; a
mention made while its user is offline waits in the mentions inbox; the
level of a room decides what counts and what is told live; bad requests get
a clear error."""

import json
import os

import pytest

from stack import RawSub, redis_command, wait_for


@pytest.fixture(scope="module")
def marks(stack):
    if not stack.has_binary("pychat"):
        pytest.skip("not built yet: pychat")
    for name in ("ann", "bob", "cat", "dan"):
        stack.register(name, "pw-" + name)
    return stack


def device(stack, user, name):
    """A PYCHAT_HOME of its own: one device of user."""
    path = os.path.join(stack.homes, "%s-%s" % (user, name))
    os.makedirs(path, exist_ok=True)
    return path


def run(stack, user, *args, home=None):
    return stack.pychat(*args, user=user, password="pw-" + user, home=home)


def ok(stack, user, *args, home=None):
    result = run(stack, user, *args, home=home)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def online(stack, user, *rooms):
    """A raw session of user (another device), in rooms, with its fan-out."""
    client = stack.logged_in(user, "pw-" + user)
    for room in rooms:
        client.join(room)
    client.sub = client.subscriber()
    return client


def unread(client):
    """{room: (unread, mentions, level, mark, last)} from UNREAD."""
    rows = {}
    for field in client.ok("UNREAD"):
        room, count, mentions, level, mark, last = field.split(" ")
        rows[room] = (int(count), int(mentions), level, int(mark), int(last))
    return rows


def next_of(sub, command, timeout=10.0):
    """The next fan-out message that is command (others are skipped)."""
    found = []

    def arrived():
        message = sub.recv(0.2)
        if message and message[2] == command:
            found.append(message)
        return bool(found)
    wait_for(arrived, timeout, 0, "a %s on the fan-out" % command)
    return found[0]


def test_reading_on_one_device_clears_the_others_count_live(marks):
    desktop = online(marks, "bob", "mk")          # bob is in the room before it fills
    ok(marks, "cat", "send", "mk", "cat was here first")
    ids = [int(ok(marks, "ann", "send", "mk", "news %d" % i)) for i in range(3)]
    rows = unread(desktop)
    assert rows["mk"][:3] == (4, 0, "all"), rows
    assert rows["mk"][4] == ids[-1]
    # the sidebar's number, as the CLI of the desktop shows it
    assert "#mk  4 unread  0 mentions" in ok(marks, "bob", "unread", home=device(marks, "bob", "desk"))
    # the laptop reads up to the second of ann's messages, then everything
    laptop = device(marks, "bob", "laptop")
    assert ok(marks, "bob", "read", "mk", ids[1], home=laptop).strip() == "#mk read up to %d" % ids[1]
    marked = next_of(desktop.sub, "MARKED")
    assert marked[4:6] == ["mk", str(ids[1])]
    assert unread(desktop)["mk"][:2] == (1, 0)
    ok(marks, "bob", "read", "mk", home=laptop)
    assert next_of(desktop.sub, "MARKED")[4:6] == ["mk", str(ids[-1])]
    assert unread(desktop)["mk"][:2] == (0, 0)
    # a marker only moves forward: reading an older id leaves it, and tells nobody
    assert ok(marks, "bob", "read", "mk", ids[0], home=laptop).strip() == "#mk read up to %d" % ids[-1]
    # what bob writes himself is never unread for him
    desktop.send("mk", "bob answers")
    assert unread(desktop)["mk"][:2] == (0, 0)
    desktop.close()


def test_markers_are_private(marks):
    cat = online(marks, "cat", "priv")
    bob = online(marks, "bob", "priv")
    for i in range(2):
        ok(marks, "ann", "send", "priv", "two for everyone %d" % i)
    bob.ok("MARK", "priv")
    assert unread(bob)["priv"][:2] == (0, 0)
    assert unread(cat)["priv"][:2] == (2, 0), "bob's reading is not cat's"
    # nobody can name another user's markers: MARK and UNREAD take no user
    assert cat.error("MARK", "priv", "0", "bob") == 400
    assert cat.error("UNREAD", "bob") == 400
    # nor hear them: cat's fan-out got no MARKED of bob's
    assert not [m for m in cat.sub.drain(0.3) if m[2] == "MARKED"]
    cat.close()
    bob.close()


def test_mentions_wait_for_an_offline_user(marks):
    ok(marks, "dan", "send", "lounge", "dan joins and goes offline")
    ok(marks, "ann", "send", "other", "a room dan is not in")
    before = int(ok(marks, "ann", "send", "lounge", "hi @Dan, and @nobody, and ann@dan.example"))
    ok(marks, "ann", "send", "other", "@dan is not in this room")
    ok(marks, "dan", "send", "lounge", "talking to myself @dan")
    ok(marks, "ann", "send", "lounge", "a plain message with no name")
    # dan comes back: the mention is there, once, with its room and id
    got = json.loads(ok(marks, "dan", "mentions", "--json"))
    assert [(m["room"], m["msg"], m["from"], m["text"]) for m in got] == [
        ("lounge", before, "ann", "hi @Dan, and @nobody, and ann@dan.example")]
    text = ok(marks, "dan", "mentions")
    assert "#lounge:%d  <ann> hi @Dan" % before in text
    assert "#lounge  2 unread  1 mention\n" in ok(marks, "dan", "unread")
    assert redis_command(marks.redis_port, "EXISTS", "mentions:nobody") == 0
    # since: only what came after
    assert json.loads(ok(marks, "dan", "mentions", "--since", str(got[0]["id"]), "--json")) == []


def test_notification_levels(marks):
    bob = online(marks, "bob", "loud")
    ok(marks, "ann", "send", "loud", "noise")
    assert ok(marks, "bob", "notify", "loud", "mentions").strip() == "#loud: notify mentions"
    first = int(ok(marks, "ann", "send", "loud", "@bob look"))
    mention = next_of(bob.sub, "MENTION")
    assert mention[5:8] == ["loud", str(first), "ann"] and mention[8] == "@bob look"
    rows = unread(bob)
    assert rows["loud"][:3] == (2, 1, "mentions")
    assert "#loud  1 mention  (notify: mentions)" in ok(marks, "bob", "unread")
    # none: counted nowhere, told nothing live, still kept in the inbox
    ok(marks, "bob", "notify", "loud", "none")
    quiet = int(ok(marks, "ann", "send", "loud", "@bob quietly"))
    assert "#loud  muted" in ok(marks, "bob", "unread")
    ok(marks, "bob", "notify", "loud", "all")
    loud = int(ok(marks, "ann", "send", "loud", "@bob again"))
    mention = next_of(bob.sub, "MENTION")
    assert mention[6] == str(loud), "no MENTION came for the message sent while muted"
    inbox = [m["msg"] for m in json.loads(ok(marks, "bob", "mentions", "--json"))]
    assert [first, quiet, loud] == [i for i in inbox if i in (first, quiet, loud)]
    assert "#loud  4 unread  3 mentions" in ok(marks, "bob", "unread")
    bob.close()


def test_bad_requests_get_clear_errors(marks):
    ann = online(marks, "ann", "errs")
    last = int(ann.send("errs", "one")[0])
    reply = ann.request("MARK", "nosuchroom", "1")
    assert reply[1:5:2] == ["ERROR", "404"] and "no such room" in reply[4]
    reply = ann.request("MARK", "errs", str(last + 5))
    assert reply[3] == "404" and reply[4] == "no message %d in #errs: its last id is %d" % (last + 5, last)
    assert ann.error("MARK", "errs", "-3") == 400
    assert ann.error("NOTIFY", "errs", "loud") == 400
    assert ann.error("NOTIFY", "nosuchroom", "all") == 404
    assert ann.error("MENTIONS", "0", "0") == 400
    # a user who never joined the room may not mark it
    cat = marks.logged_in("cat", "pw-cat")
    reply = cat.request("MARK", "errs", str(last))
    assert reply[3] == "403" and "join the room" in reply[4]
    cat.close()
    ann.close()
    # and the CLI says so in one line
    result = run(marks, "bob", "read", "nosuchroom")
    assert result.returncode == 2 and "no such room: nosuchroom" in result.stderr
    result = run(marks, "bob", "notify", "errs", "loud")
    assert result.returncode != 0 and "all, mentions or none" in result.stderr


def test_a_deleted_account_takes_its_markers_and_mentions_along(marks):
    marks.register("eve", "pw-eve")
    ok(marks, "eve", "send", "gone", "eve is here")
    ok(marks, "ann", "send", "gone", "@eve remember this")
    assert len(json.loads(ok(marks, "eve", "mentions", "--json"))) == 1
    ok(marks, "eve", "delete-account")
    assert not [key for key in redis_command(marks.redis_port, "KEYS", "*eve*")
                if key.split(b":")[0] in (b"joined", b"marks", b"notify", b"mentions")]
    marks.register("eve", "pw-eve")             # a new account of the name starts clean
    assert json.loads(ok(marks, "eve", "mentions", "--json")) == []
    assert "#gone" not in ok(marks, "eve", "unread")
