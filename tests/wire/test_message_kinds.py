"""Edits, deletes, replies and reactions end to end (PROTOCOL.md, "Edits,
deletes, replies and reactions"): each is the room's next entry, seen live
by a listener and folded into history; a delete takes the text out of
Redis; only the author edits, the author, the room's creator or an admin
deletes."""

import json
import subprocess

import pytest

from stack import redis_command, wait_for


@pytest.fixture(scope="module")
def kinds(stack):
    for binary in ("pychat", "pychat-admin"):
        if not stack.has_binary(binary):
            pytest.skip("not built yet: " + binary)
    env = dict(stack.env, PYCHAT_PASSWORD="boss-pw")
    made = subprocess.run([stack.binary("pychat-admin"), "create-admin", "boss"], env=env,
                          capture_output=True, text=True, timeout=30, cwd=stack.tmp)
    assert made.returncode == 0, made.stderr
    for name in ("ann", "ben", "cat"):
        stack.register(name, "pw-" + name)
    return stack


def run(stack, user, *args):
    password = "boss-pw" if user == "boss" else "pw-" + user
    return stack.pychat(*args, user=user, password=password)


def ok(stack, user, *args):
    result = run(stack, user, *args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout.strip()


def history(stack, user, room, *extra):
    out = ok(stack, user, "history", room, "--json", *extra)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def all_redis_values(port):
    """Every value of every key of the stack's Redis, as bytes."""
    values = []
    for key in redis_command(port, "KEYS", "*"):
        kind = redis_command(port, "TYPE", key)
        if kind == b"string":
            values.append(redis_command(port, "GET", key))
        elif kind == b"hash":
            values += redis_command(port, "HGETALL", key)
        elif kind == b"list":
            values += redis_command(port, "LRANGE", key, 0, -1)
        elif kind in (b"set",):
            values += redis_command(port, "SMEMBERS", key)
        elif kind == b"zset":
            values += redis_command(port, "ZRANGE", key, 0, -1)
        elif kind == b"stream":
            for _, fields in redis_command(port, "XRANGE", key, "-", "+"):
                values += fields
    return values


def test_edit_and_delete_live_and_in_history(kinds):
    ok(kinds, "ann", "send", "kroom", "warm up")
    listener = kinds.listen("kroom", user="ben", password="pw-ben")
    first = int(ok(kinds, "ann", "send", "kroom", "the first draft"))
    secret = int(ok(kinds, "ann", "send", "kroom", "secret-words-to-forget"))
    edit = int(ok(kinds, "ann", "edit", "kroom", str(first), "the final text"))
    assert edit == secret + 1, "an edit takes the room's next id"
    ok(kinds, "ann", "edit", "kroom", str(secret), "secret-words-edited-too")
    gone = int(ok(kinds, "ann", "delete", "kroom", str(secret)))
    seen = listener.wait_messages(5)
    edits = [m for m in seen if m.get("kind") == "edit"]
    deletes = [m for m in seen if m.get("kind") == "delete"]
    assert edits[0]["ref"] == first and edits[0]["text"] == "the final text", seen
    assert deletes[0]["ref"] == secret and int(deletes[0]["id"]) == gone, seen
    assert [int(m["id"]) for m in seen] == sorted(int(m["id"]) for m in seen)
    listener.stop() if hasattr(listener, "stop") else listener.proc.terminate()
    # History: the first message with its latest text, the deleted one
    # replaced by its tombstone
    page = history(kinds, "ben", "kroom")
    texts = {int(m["id"]): m for m in page}
    assert texts[first]["text"] == "the final text" and texts[first].get("edited"), page
    assert secret not in texts, page
    assert texts[gone]["kind"] == "delete" and texts[gone]["ref"] == secret, page
    plain = ok(kinds, "ben", "history", "kroom")
    assert "the final text  (edited)" in plain and "(deleted #%d)" % secret in plain, plain
    # The deleted text and its edit are in no Redis value at all
    for value in all_redis_values(kinds.redis_port):
        assert b"secret-words" not in value, value


def test_only_author_edits_and_author_creator_admin_delete(kinds):
    ok(kinds, "cat", "create-room", "catroom")
    ok(kinds, "ben", "send", "catroom", "ben was here")
    mine = int(ok(kinds, "ann", "send", "catroom", "ann's words"))
    result = run(kinds, "ben", "edit", "catroom", str(mine), "forged")
    assert result.returncode != 0 and "author" in result.stderr, result.stderr
    result = run(kinds, "ben", "delete", "catroom", str(mine))
    assert result.returncode != 0 and "author" in result.stderr, result.stderr
    result = run(kinds, "ann", "edit", "catroom", "999999", "nothing there")
    assert result.returncode != 0 and "no message" in result.stderr, result.stderr
    ok(kinds, "cat", "delete", "catroom", str(mine))            # the room's creator
    again = run(kinds, "ann", "edit", "catroom", str(mine), "too late")
    assert again.returncode != 0 and "no message" in again.stderr, again.stderr
    hers = int(ok(kinds, "ann", "send", "catroom", "another"))
    ok(kinds, "boss", "delete", "catroom", str(hers))           # an admin
    # Raw protocol: the error codes
    client = kinds.logged_in("ben", "pw-ben")
    client.join("catroom")
    own = int(client.send("catroom", "raw one")[0])
    assert client.error("SEND", "catroom", "c-x1", "t", "edit", str(hers)) == 404
    mine = int(ok(kinds, "ann", "send", "catroom", "again"))
    assert client.error("SEND", "catroom", "c-x2", "t", "edit", str(mine)) == 403
    assert client.error("SEND", "catroom", "c-x3", "t", "frobnicate", str(own)) == 400
    assert client.error("SEND", "catroom", "c-x4", "two words", "react", str(own)) == 400
    assert client.error("SEND", "catroom", "c-x5", "t", "edit") == 400
    client.close()


def test_replies_and_thread(kinds):
    root = int(ok(kinds, "ann", "send", "troom", "a question"))
    ok(kinds, "ben", "send", "troom", "unrelated")
    reply = int(ok(kinds, "ben", "send", "troom", "--reply", str(root), "an answer"))
    ok(kinds, "cat", "send", "troom", "--reply", str(root), "another answer")
    result = run(kinds, "cat", "send", "troom", "--reply", "999999", "into the void")
    assert result.returncode != 0 and "no message" in result.stderr, result.stderr
    thread = history(kinds, "cat", "troom", "--thread", str(root))
    assert [m["text"] for m in thread] == ["a question", "an answer", "another answer"], thread
    assert thread[1]["kind"] == "reply" and thread[1]["ref"] == root and int(thread[1]["id"]) == reply
    plain = ok(kinds, "cat", "history", "troom", "--thread", str(root))
    assert "(reply to #%d) an answer" % root in plain and "unrelated" not in plain, plain


def test_reactions_are_counted(kinds):
    target = int(ok(kinds, "ann", "send", "rroom", "react to me"))
    listener = kinds.listen("rroom", user="ann", password="pw-ann")
    ok(kinds, "ben", "react", "rroom", str(target), "\U0001F44D")
    ok(kinds, "cat", "react", "rroom", str(target), "\U0001F44D")
    ok(kinds, "cat", "react", "rroom", str(target), ":tada:")
    ok(kinds, "cat", "react", "rroom", str(target), "\U0001F44D", "--remove")
    live = listener.wait_messages(4)
    assert [m["kind"] for m in live] == ["react", "react", "react", "unreact"], live
    assert [m["count"] for m in live] == [1, 2, 1, 1], live          # the count after each
    listener.proc.terminate()
    page = history(kinds, "ann", "rroom")
    assert len(page) == 1 and page[0]["reactions"] == {"\U0001F44D": 1, ":tada:": 1}, page
    for bad in ("two words", "x" * 40, "\U0001F44Dabc"):
        result = run(kinds, "ben", "react", "rroom", str(target), bad)
        assert result.returncode != 0 and "emoji" in result.stderr, (bad, result.stderr)


def test_a_deleted_message_is_no_gap_for_a_late_listener(kinds):
    """A listener catching up past a deleted message gets its tombstone,
    not a report that history lost it."""
    before = int(ok(kinds, "ann", "send", "groom", "before"))
    doomed = int(ok(kinds, "ann", "send", "groom", "doomed"))
    ok(kinds, "ann", "delete", "groom", str(doomed))
    result = run(kinds, "ben", "listen", "groom", "--since", str(before), "--count", "1", "--json")
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert "no longer" not in result.stderr and not [o for o in printed if o.get("gap")], result
    assert [(o.get("kind"), o.get("ref")) for o in printed] == [("delete", doomed)], printed
