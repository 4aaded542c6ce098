"""Edits, deletes, replies and reactions of direct messages (PROTOCOL.md,
"Direct messages"): every ref is an id of the asker's own inbox and the
broker translates it for the peer's; the event's text is sealed as a DM's;
a delete takes the box out of both inboxes; only the author edits or
deletes; every device of both ends sees the events live and folded."""

import pytest

from cluster import Node
from stack import OFF_FANOUT, RawClient, RawSub, json_lines, new_cid, redis_command, wait_for

THUMBS = "\U0001F44D"


@pytest.fixture(scope="module")
def people(stack):
    if not stack.has_binary("pychat"):
        pytest.skip("not built yet: pychat")
    homes = {}
    for name in ("dka", "dkb", "dkc"):
        result = stack.pychat("register", user=name, password="pw-" + name)
        assert result.returncode == 0, result.stderr
        homes[name] = stack.home(name)
    for name in ("dka", "dkb"):             # a second device each
        lap = stack.home(name + "-lap")
        named = stack.pychat("devices", "name", "laptop", user=name, password="pw-" + name,
                             home=lap)
        assert named.returncode == 0, named.stderr
        homes[name + "-lap"] = lap
    return stack, homes


def run(stack, user, *args, home=None):
    return stack.pychat(*args, user=user, password="pw-" + user, home=home)


def ok(stack, user, *args, home=None):
    result = run(stack, user, *args, home=home)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout.strip()


def conversation(stack, user, peer, home=None):
    return json_lines(ok(stack, user, "history", "@" + peer, "--json", home=home))


def inbox_texts(port, user):
    """{id: text} of user's inbox stream, straight from Redis."""
    out = {}
    for entry_id, fields in redis_command(port, "XRANGE", "inbox:" + user, "-", "+"):
        pairs = dict(zip(fields[::2], fields[1::2]))
        out[int(entry_id.split(b"-")[0])] = pairs[b"text"]
    return out


def every_value(port):
    values = []
    for key in redis_command(port, "KEYS", "*"):
        kind = redis_command(port, "TYPE", key)
        values.append(key)
        if kind == b"string":
            values.append(redis_command(port, "GET", key))
        elif kind == b"hash":
            values += redis_command(port, "HGETALL", key)
        elif kind == b"list":
            values += redis_command(port, "LRANGE", key, 0, -1)
        elif kind == b"set":
            values += redis_command(port, "SMEMBERS", key)
        elif kind == b"zset":
            values += redis_command(port, "ZRANGE", key, 0, -1)
        elif kind == b"stream":
            for _, fields in redis_command(port, "XRANGE", key, "-", "+"):
                values += fields
    return values


def test_edit_and_delete_reach_every_device_and_leave_redis(people):
    stack, homes = people
    desk = stack.listen(user="dkb", password="pw-dkb", home=homes["dkb"])
    lap = stack.listen(user="dkb", password="pw-dkb", home=homes["dkb-lap"])
    mine = stack.listen(user="dka", password="pw-dka", home=homes["dka-lap"])
    first = int(ok(stack, "dka", "dm", "dkb", "the first draft"))
    doomed = int(ok(stack, "dka", "dm", "dkb", "secret-dm-words"))
    ok(stack, "dka", "edit", "@dkb", str(first), "the final text")
    ok(stack, "dka", "edit", "@dkb", str(doomed), "secret-dm-edited")
    # Every sealed thing the doomed message left in Redis, before the delete
    received = desk.wait_messages(4)
    bob_doomed = int(received[1]["id"])
    bobs, alices = inbox_texts(stack.redis_port, "dkb"), inbox_texts(stack.redis_port, "dka")
    boxes = [bobs[bob_doomed], alices[doomed]]
    boxes += [text for text in bobs.values() if text.startswith(b"\x1eedit %d " % bob_doomed)]
    boxes += [text for text in alices.values() if text.startswith(b"\x1eedit %d " % doomed)]
    assert len(boxes) == 4, boxes
    bodies = [box.split(b" ")[4 if box.startswith(b"\x1e") else 2] for box in boxes]
    ok(stack, "dka", "delete", "@dkb", str(doomed))
    for listener in (desk, lap):
        seen = listener.wait_messages(5)
        assert [m.get("kind") for m in seen] == [None, None, "edit", "edit", "delete"], seen
        bob_first, bob_doomed = int(seen[0]["id"]), int(seen[1]["id"])
        assert seen[2]["ref"] == bob_first and seen[2]["text"] == "the final text", seen
        assert seen[4]["ref"] == bob_doomed and seen[4]["from"] == "dka", seen
    try:
        copies = mine.wait_messages(5)
    except TimeoutError:
        raise AssertionError((mine.messages(), mine.stop(), mine.stderr_text()))
    assert [(m.get("kind"), m.get("ref")) for m in copies[2:]] == [
        ("edit", first), ("edit", doomed), ("delete", doomed)], copies
    for listener in (desk, lap, mine):
        listener.stop()
    # Folded: the latest text, marked edited, and the tombstone, on every device
    for user, peer, home, ref in (("dkb", "dka", homes["dkb"], bob_doomed),
                                  ("dkb", "dka", homes["dkb-lap"], bob_doomed),
                                  ("dka", "dkb", homes["dka"], doomed)):
        page = conversation(stack, user, peer, home=home)
        assert page[0]["text"] == "the final text" and page[0].get("edited"), page
        assert [(m["kind"], m["ref"]) for m in page[1:]] == [("delete", ref)], page
    plain = ok(stack, "dkb", "history", "@dka", home=homes["dkb"])
    assert "the final text  (edited)" in plain and "(deleted #%d)" % bob_doomed in plain, plain
    # The box, its edit's and their sealed bodies are in no Redis value
    values = every_value(stack.redis_port)
    for sealed in boxes + bodies:
        assert not any(sealed in value for value in values), sealed[:40]
    assert not any(b"secret-dm" in value for value in values)


def test_only_the_author_edits_or_deletes_and_bad_refs(people):
    stack, homes = people
    ok(stack, "dka", "dm", "dkb", "mine to change")
    theirs = max(inbox_texts(stack.redis_port, "dkb"))      # bob's id of it
    result = run(stack, "dkb", "edit", "@dka", str(theirs), "forged")
    assert result.returncode != 0 and "author" in result.stderr, result.stderr
    result = run(stack, "dkb", "delete", "@dka", str(theirs))
    assert result.returncode != 0 and "author" in result.stderr, result.stderr
    result = run(stack, "dka", "edit", "@dkb", "999999", "nothing there")
    assert result.returncode != 0 and "no message" in result.stderr, result.stderr
    # A DM of another conversation is no message of this one
    with_carol = int(ok(stack, "dka", "dm", "dkc", "for carol"))
    result = run(stack, "dka", "edit", "@dkb", str(with_carol), "wrong conversation")
    assert result.returncode != 0 and "no message" in result.stderr, result.stderr
    result = run(stack, "dkb", "react", "@dka", str(theirs), "two words")
    assert result.returncode != 0 and "emoji" in result.stderr, result.stderr
    # Raw protocol: the codes
    raw = stack.logged_in("dkb", "pw-dkb")
    assert raw.error("DM", "dka", new_cid(), "box", "edit", str(theirs)) == 403
    assert raw.error("DM", "dka", new_cid(), "box", "delete", str(theirs)) == 403
    assert raw.error("DM", "dka", new_cid(), "box", "frobnicate", str(theirs)) == 400
    assert raw.error("DM", "dka", new_cid(), "box", "react") == 400
    assert raw.error("DM", "dka", new_cid(), "box", "react", "999999") == 404
    assert raw.error("DM", "dkc", new_cid(), "box", "react", str(theirs)) == 404
    # A resent delete (its OK lost) is answered as the first time, not 404
    _, _, own = raw.ok("DM", "dka", new_cid(), "Ym94")
    cid = new_cid()
    first = raw.ok("DM", "dka", cid, "-", "delete", own)
    assert raw.ok("DM", "dka", cid, "-", "delete", own) == first
    assert raw.error("DM", "dka", new_cid(), "-", "delete", own) == 404
    # A DM to oneself lives once: its events name its one id
    mine, _, own = raw.ok("DM", "dkb", new_cid(), "bm90ZQ==")
    assert own == mine
    edit = raw.ok("DM", "dkb", new_cid(), "bm90ZTI=", "edit", own)
    assert edit[0] == edit[2]
    assert inbox_texts(stack.redis_port, "dkb")[int(edit[0])] == b"\x1eedit %s bm90ZTI=" % own.encode()
    raw.close()
    # The links go with the account
    stack.register("dkd", "pw-dkd")
    gone = stack.logged_in("dkd", "pw-dkd")
    gone.ok("DM", "dka", new_cid(), "Ym94")
    wait_for(lambda: redis_command(stack.redis_port, "EXISTS", "dmlink:dkd") == 1, 5,
             what="the DM's link (written after its OK)")
    gone.ok("DELETEME", "pw-dkd")
    assert redis_command(stack.redis_port, "EXISTS", "dmlink:dkd") == 0


def test_reply_and_reaction_reach_the_author(people):
    stack, homes = people
    asked = int(ok(stack, "dka", "dm", "dkb", "lunch at noon?"))
    bob_id = max(inbox_texts(stack.redis_port, "dkb"))
    reply = int(ok(stack, "dkb", "dm", "dka", "--reply", str(bob_id), "yes, see you there"))
    ok(stack, "dkb", "react", "@dka", str(bob_id), THUMBS)
    ok(stack, "dkb", "react", "@dka", str(bob_id), ":tada:")
    ok(stack, "dkb", "react", "@dka", str(bob_id), ":tada:", "--remove")
    # bob edits his reply by his own id of it
    ok(stack, "dkb", "edit", "@dka", str(reply), "yes, see you at noon")
    page = conversation(stack, "dka", "dkb")
    asked_line = [m for m in page if m["id"] == str(asked)]
    assert asked_line and asked_line[0]["reactions"] == {THUMBS: 1}, page
    replies = [m for m in page if m.get("kind") == "reply"]
    assert len(replies) == 1 and replies[0]["ref"] == asked, page
    assert replies[0]["text"] == "yes, see you at noon" and replies[0].get("edited"), page
    # and alice reacts to the reply, by her id of it
    ok(stack, "dka", "react", "@dkb", replies[0]["id"], THUMBS)
    mine = [m for m in conversation(stack, "dkb", "dka") if m["id"] == str(reply)]
    assert mine and mine[0]["reactions"] == {THUMBS: 1}, mine
    plain = ok(stack, "dka", "history", "@dkb")
    assert "(reply to #%d) yes, see you at noon" % asked in plain, plain


def test_an_edit_crosses_brokers(people):
    stack, _ = people
    node = Node(stack, "dk2").start()
    try:
        alice = stack.logged_in("dkc", "pw-dkc")
        bob = RawClient(stack, endpoint=node.endpoint())
        bob.login("dka", "pw-dka")
        sub = RawSub(stack, keypair=bob.keypair, endpoint=node.endpoint(OFF_FANOUT))
        sub.subscribe(bob.topic)
        bob.wait_subscribed(bob.topic)
        theirs, _, own = alice.ok("DM", "dka", new_cid(), "Ym94IG9uZQ==")
        assert int(own) > 0
        alice.ok("DM", "dka", new_cid(), "Ym94IHR3bw==", "edit", own)
        got = []
        while len(got) < 2:
            message = sub.recv(10)
            assert message, got
            if message[2] == "DMMSG":
                got.append(message)
        assert got[0][4] == theirs and got[0][-1] == "Ym94IG9uZQ==", got
        assert got[1][-1] == "\x1eedit %s Ym94IHR3bw==" % theirs, got
        for client in (alice, bob):
            client.close()
        sub.close()
    finally:
        node.stop()
    assert not node.sanitizer_reports()
