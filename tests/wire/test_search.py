"""Search (PROTOCOL.md, "Search"): `pychat search ROOM WORDS` finds a
room's messages holding every word, newest first, with the message
before and after; `word*` is a prefix; an edited message is found by its
latest text only; a deleted one is not found and leaves nothing in the
index; only who may read a room's history may search it; bad queries get
a clear error; direct messages are searched on the client; a second
broker on the same Redis finds what the first one stored. The stack runs
as one of several brokers (PYCHAT_BROKER_ID), so that a second one can
join it."""

import json

import pytest

from cluster import Node
from stack import SIGNATURE, RawClient, redis_command, wait_for

STACK_ENV = {"PYCHAT_BROKER_ID": "b1"}


@pytest.fixture(scope="module")
def srch(stack):
    if not stack.has_binary("pychat"):
        pytest.skip("not built yet: pychat")
    for name in ("ann", "ben", "cat"):
        stack.register(name, "pw-" + name)
    return stack


def run(stack, user, *args):
    return stack.pychat(*args, user=user, password="pw-" + user)


def ok(stack, user, *args):
    result = run(stack, user, *args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout.strip()


def search(stack, user, *args):
    out = ok(stack, user, "search", *args, "--json")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_hits_with_context_words_and_prefix(srch):
    ok(srch, "ann", "send", "sr1", "good morning everyone")
    deploy = int(ok(srch, "ann", "send", "sr1", "We deploy on Friday, après-midi"))
    ok(srch, "ben", "send", "sr1", "lunch at noon?")
    later = int(ok(srch, "ben", "send", "sr1", "the deploy moved to monday"))
    hits = search(srch, "cat", "sr1", "deploy")
    assert [int(h["id"]) for h in hits] == [later, deploy], "newest first"
    first = hits[1]
    assert first["from"] == "ann" and first["text"] == "We deploy on Friday, après-midi"
    assert first["ts"] > 0
    assert first["before"].endswith("ann good morning everyone")
    assert first["after"] == "%d ben lunch at noon?" % (deploy + 1)
    #  Every word, whole words, case folded, UTF-8 kept whole
    assert [int(h["id"]) for h in search(srch, "cat", "sr1", "DEPLOY", "friday")] == [deploy]
    assert [int(h["id"]) for h in search(srch, "cat", "sr1", "après")] == [deploy]
    assert search(srch, "cat", "sr1", "deplo") == []
    assert [int(h["id"]) for h in search(srch, "cat", "sr1", "deplo*", "mon*")] == [later]
    #  What a person reads
    plain = run(srch, "cat", "search", "#sr1", "fri*")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert "<ann> We deploy on Friday, après-midi  (#%d)" % deploy in lines[0], lines
    assert lines[1].strip().startswith("before #") and "<ann> good morning everyone" in lines[1]
    assert lines[2].strip().startswith("after") and "<ben> lunch at noon?" in lines[2]
    none = run(srch, "cat", "search", "sr1", "zzzabsent")
    assert none.returncode == 0 and none.stdout == "" and "no message of #sr1" in none.stderr


def index_values(port, room):
    """Every key of room's search index and every value in them."""
    found = []
    for key in redis_command(port, "KEYS", "room:%s:sx*" % room):
        found.append(key)
        kind = redis_command(port, "TYPE", key)
        if kind == b"zset":
            found += redis_command(port, "ZRANGE", key, 0, -1)
        elif kind == b"hash":
            found += redis_command(port, "HGETALL", key)
        else:
            found.append(redis_command(port, "GET", key))
    return found


def test_edit_found_by_new_text_delete_leaves_nothing(srch):
    edited = int(ok(srch, "ann", "send", "sr2", "draft wombat text"))
    ok(srch, "ann", "send", "sr2", "filler line")
    ok(srch, "ann", "edit", "sr2", str(edited), "final platypus text")
    hits = search(srch, "ann", "sr2", "platypus")
    assert [(int(h["id"]), h["text"]) for h in hits] == [(edited, "final platypus text")]
    assert search(srch, "ann", "sr2", "wombat") == [], "the old text is not found"
    doomed = int(ok(srch, "ann", "send", "sr2", "quokkasecret numbat"))
    ok(srch, "ann", "edit", "sr2", str(doomed), "quokkasecret dingoword")
    assert [int(h["id"]) for h in search(srch, "ann", "sr2", "dingoword")] == [doomed]
    ok(srch, "ann", "delete", "sr2", str(doomed))
    for word in ("quokkasecret", "numbat", "dingoword"):
        assert search(srch, "ann", "sr2", word) == []
    values = index_values(srch.redis_port, "sr2")
    assert values, "the room has an index"
    for value in values:
        for word in (b"quokkasecret", b"numbat", b"dingoword"):
            assert word not in value, value
        assert value != str(doomed).encode(), "the deleted id is in no word's set"
    assert [int(h["id"]) for h in search(srch, "ann", "sr2", "text")] == [edited]


def test_who_may_search(srch):
    made = run(srch, "ann", "create-room", "srpriv", "--invite-only")
    assert made.returncode == 0, made.stderr
    ok(srch, "ann", "send", "srpriv", "private plans here")
    assert [h["text"] for h in search(srch, "ann", "srpriv", "plans")] == ["private plans here"]
    refused = run(srch, "ben", "search", "srpriv", "plans")
    assert refused.returncode == 2 and refused.stdout == "", refused
    assert "refused" in refused.stderr
    client = RawClient(srch)
    client.login("ben", "pw-ben")
    assert client.error("SEARCH", "srpriv", "plans") == 404, "invisible to outsiders"
    ok(srch, "cat", "send", "sropen", "open plans")
    assert client.error("SEARCH", "sropen", "plans") == 403, "join first, as for HISTORY"
    client.join("sropen")
    fields = client.ok("SEARCH", "sropen", "plans")
    assert fields[0] == "0" and fields[2:5] == ["cat", fields[3], "open plans"]


def test_bad_queries(srch):
    client = RawClient(srch)
    client.login("cat", "pw-cat")
    client.join("sr1")

    def refused(*fields):
        reply = client.request("SEARCH", *fields)
        assert reply[:2] == [SIGNATURE, "ERROR"], reply
        return int(reply[3]), reply[4]

    assert refused("sr1", "")[0] == 415
    code, reason = refused("sr1", "a ! ?")
    assert code == 400 and "nothing to search for" in reason
    code, reason = refused("sr1", "x" * 300)
    assert code == 413 and "at most 256 bytes" in reason
    code, reason = refused("sr1", "w" * 70)
    assert code == 400 and "64 bytes" in reason
    code, reason = refused("sr1", "aa bb cc dd ee ff gg hh ii")
    assert code == 400 and "at most 8" in reason
    assert refused("sr1", b"caf\xe9")[0] == 415
    code, reason = refused("nosuchroom", "hello")
    assert code == 404 and "no such room" in reason
    for args, words in (((), "nothing to search for"), (("-",), "nothing to search for"),
                        (("ab" * 200,), "too long")):
        result = run(srch, "cat", "search", "sr1", *args)
        assert result.returncode == 4 and words in result.stderr, result
    unknown = run(srch, "cat", "search", "nosuchroom", "hello")
    assert unknown.returncode == 2 and "no such room" in unknown.stderr


def test_dm_search_on_the_client(srch):
    ok(srch, "ann", "dm", "ben", "meet at the lighthouse at dawn")
    ok(srch, "ben", "dm", "ann", "see you there")
    ok(srch, "cat", "dm", "ben", "the lighthouse keeper called")
    hits = search(srch, "ben", "--dm", "lighthouse")
    assert [(h["from"], h["text"]) for h in hits] == [
        ("cat", "the lighthouse keeper called"), ("ann", "meet at the lighthouse at dawn")]
    assert all(h["dm"] for h in hits)
    with_ann = search(srch, "ben", "@ann", "lighth*")
    assert [h["text"] for h in with_ann] == ["meet at the lighthouse at dawn"]
    plain = run(srch, "ben", "search", "@ann", "dawn")
    assert "<ann> meet at the lighthouse at dawn" in plain.stdout
    assert "after  #" in plain.stdout and "<ben> see you there" in plain.stdout
    assert search(srch, "ben", "@cat", "dawn") == []
    #  The sender's own copy is searched too
    assert [h["to"] for h in search(srch, "ann", "--dm", "dawn")] == ["ben"]


def test_second_broker_finds_what_the_first_stored(srch):
    node = Node(srch, "b2").start()
    try:
        sent = int(ok(srch, "ann", "send", "sr3", "cross broker capybara"))
        client = RawClient(srch, endpoint=node.endpoint())
        client.login("ben", "pw-ben")
        client.join("sr3")
        fields = client.ok("SEARCH", "sr3", "capybara")
        assert int(fields[1]) == sent and fields[2] == "ann"
        assert fields[4] == "cross broker capybara"
        #  and it keeps the index up to date for the first one: its timer
        #  indexes the rooms it holds
        later = int(ok(srch, "ann", "send", "sr3", "second capybara"))

        def indexed():
            cursor = redis_command(srch.redis_port, "GET", "room:sr3:sxc")
            return cursor is not None and int(cursor) >= later
        wait_for(indexed, 10, 0.1, "a broker's timer to index the new message")
        assert [int(f) for f in client.ok("SEARCH", "sr3", "capybara")[1::6]] == [later, sent]
    finally:
        node.stop()
    assert not node.sanitizer_reports()


def test_full_screen_search(srch):
    """/search in a room window asks the broker; in a DM window it
    searches the lines this device opened."""
    import shutil
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    from test_tui import Tui
    ok(srch, "ann", "send", "sr4", "an older line about otters")
    ok(srch, "ann", "send", "sr4", "the tuisearch marker text")
    srch.register("dee", "pw-dee")
    screen = Tui(srch, "search-dee", srch.client_env("dee", "pw-dee"))
    try:
        screen.wait("[connected]")
        screen.type("/join sr4")
        screen.wait("#sr4>")
        screen.type("/search TUIsearch")
        shown = screen.wait("search #sr4: 1 hit")
        assert "<ann> the tuisearch marker text" in shown.split("search #sr4: 1 hit")[1]
        screen.wait("before #")
        assert "<ann> an older line about otters" in screen.screen()
        screen.type("/search nosuchwordanywhere")
        screen.wait("search #sr4: 0 hits")
        screen.type("/search a")
        screen.wait("search: nothing to search for")
        ok(srch, "ann", "dm", "dee", "the dmsecret phrase")
        screen.type("/msg ann")
        screen.wait("<ann> the dmsecret phrase")
        screen.type("/search dmsec*")
        screen.wait("search @ann (this device's messages")
        assert screen.screen().count("the dmsecret phrase") == 2, screen.screen()
    finally:
        screen.close()
