"""Several brokers on one Redis (PROTOCOL.md, "Several brokers"): a room
spanning three brokers delivers one order everywhere, with every
acknowledged message exactly once; pub/sub connections killed lose nothing;
a DM, a kick and a ban cross brokers; WHO and ROOMS count every broker's
members; LOGIN names the live brokers; a CLI client given several servers
fails over when its broker is killed."""

import subprocess
import threading
import time

import pytest

from cluster import Node
from stack import OFF_BROKER, OFF_FANOUT, RawClient, RawSub, new_cid, redis_command, wait_for

STACK_ENV = {"PYCHAT_BROKER_ID": "b1"}


class Home:
    """The stack's own broker, seen as a node."""

    def __init__(self, stack):
        self.stack = stack
        self.name = "b1"

    def endpoint(self, offset=OFF_BROKER):
        return self.stack.endpoint(offset)


@pytest.fixture(scope="module")
def nodes(stack):
    extra = [Node(stack, "b2").start(), Node(stack, "b3").start()]
    yield [Home(stack)] + extra
    for node in extra:
        node.stop()
    reports = [line for node in extra for line in node.sanitizer_reports()]
    assert not reports, reports


def connect(stack, node, user, password="pw"):
    """A logged-in RawClient on node with a subscriber on its session topic."""
    client = RawClient(stack, endpoint=node.endpoint())
    if client.request("REGISTER", user, password, timeout=10)[1] not in ("OK", "ERROR"):
        raise AssertionError("no answer to REGISTER")
    fields = client.login(user, password)
    sub = RawSub(stack, keypair=client.keypair, endpoint=node.endpoint(OFF_FANOUT))
    sub.subscribe(client.topic)
    client.wait_subscribed(client.topic)
    client.sub = sub
    return client, fields


def room_messages(sub, room, count, timeout=30):
    """[(id, from, text)] of room off sub until count arrived."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        message = sub.recv(0.5)
        if message and message[2] == "MSG" and message[5] == room:
            got.append((int(message[4]), message[6], message[8]))
    return got


def test_login_names_the_live_brokers(stack, nodes, unique):
    client, fields = connect(stack, nodes[1], unique("lister"))
    brokers = sorted(fields[6:])
    assert brokers == sorted("%s %s" % (node.name, "tcp://127.0.0.1:%d" % (
        node.base if isinstance(node, Node) else stack.base)) for node in nodes), fields


def test_a_room_across_three_brokers_has_one_order_and_loses_nothing(stack, nodes, unique):
    room = unique("span")
    clients = [connect(stack, node, unique("spanner"))[0] for node in nodes]
    for client in clients:
        client.join(room)
    per_sender = 40
    acked = {}

    def send_all(client):
        for index in range(per_sender):
            text = "%s #%d" % (client.user, index)
            acked[text] = int(client.send(room, text)[0])
    threads = [threading.Thread(target=send_all, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    total = per_sender * len(clients)
    assert len(acked) == total
    seen = [room_messages(client.sub, room, total) for client in clients]
    for got in seen:
        assert len(got) == total, (len(got), total)
        ids = [message_id for message_id, _, _ in got]
        assert ids == sorted(set(ids)), "ids out of order or repeated"
        assert ids == list(range(ids[0], ids[0] + total)), "a gap in the ids"
        assert {text: message_id for message_id, _, text in got} == acked
        for client in clients:       # each sender's order kept
            mine = [text for _, sender, text in got if sender == client.user]
            assert mine == ["%s #%d" % (client.user, i) for i in range(per_sender)]
    assert seen[0] == seen[1] == seen[2]


def test_killed_pubsub_connections_lose_nothing(stack, nodes, unique):
    room = unique("cut")
    clients = [connect(stack, node, unique("cutter"))[0] for node in nodes]
    for client in clients:
        client.join(room)
    acked = []
    for index in range(60):
        acked.append(int(clients[index % 3].send(room, "m%d" % index)[0]))
        if index in (15, 40):
            redis_command(stack.redis_port, "CLIENT", "KILL", "TYPE", "pubsub")
    for client in clients:
        got = room_messages(client.sub, room, len(acked))
        assert [message_id for message_id, _, _ in got] == acked
    assert "subscription connection lost" in stack.log_text("broker")


def test_who_and_rooms_count_every_brokers_members(stack, nodes, unique):
    room = unique("census")
    clients = [connect(stack, node, unique("member"))[0] for node in nodes]
    for client in clients:
        client.join(room)
    who = sorted(clients[0].ok("WHO", room))
    assert who == sorted(client.user for client in clients)
    listed = [entry for entry in clients[2].ok("ROOMS") if entry.split()[0] == room]
    assert listed and listed[0].split()[1] == "3", listed
    clients[1].ok("LEAVE", room)
    assert sorted(clients[2].ok("WHO", room)) == sorted([clients[0].user, clients[2].user])


def dm_on(client, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = client.sub.recv(0.5)
        if message and message[2] == "DMMSG":
            return message
    raise AssertionError("no DMMSG reached %s" % client.user)


def test_a_dm_and_the_senders_copy_cross_brokers(stack, nodes, unique):
    alice, _ = connect(stack, nodes[0], unique("alice"))
    laptop, _ = connect(stack, nodes[1], alice.user)        # alice's other device
    bob, _ = connect(stack, nodes[2], unique("bob"))
    box = "c2VhbGVkIGZvciBib2I="
    message_id = alice.ok("DM", bob.user, new_cid(), box)[0]
    got = dm_on(bob)
    assert got[4:7] == [message_id, alice.user, bob.user] and got[-1] == box, got
    copy = dm_on(laptop)
    assert copy[5:7] == [alice.user, bob.user] and copy[-1] == box, copy


def test_a_kick_and_a_ban_cross_brokers(mod_admin, nodes, unique):
    stack = mod_admin
    room = unique("kicked")
    boss = RawClient(stack, endpoint=nodes[0].endpoint())
    boss.login("boss", "boss-pw")
    victim, _ = connect(stack, nodes[1], unique("victim"))
    boss.join(room)
    victim.join(room)
    boss.ok("KICK", room, victim.user)

    def notice(kind):
        message = victim.sub.recv(0.5)
        return message is not None and message[2] == "NOTICE" and message[4] == kind
    wait_for(lambda: notice("kicked"), 10, 0, "the kick to reach the other broker")
    boss.send(room, "after the kick")
    assert not [m for m in victim.sub.drain(1.5) if m[2] == "MSG"], "delivered after the kick"
    boss.ok("BAN", victim.user)
    wait_for(lambda: notice("banned"), 10, 0, "the ban to reach the other broker")
    assert victim.error("ROOMS") == 403


@pytest.fixture(scope="module")
def mod_admin(stack):
    env = dict(stack.env, PYCHAT_PASSWORD="boss-pw")
    made = subprocess.run([stack.binary("pychat-admin"), "create-admin", "boss"], env=env,
                          capture_output=True, text=True, timeout=30, cwd=stack.tmp)
    assert made.returncode == 0, made.stderr
    return stack


def test_a_client_given_several_servers_fails_over_and_loses_nothing(stack, nodes, unique):
    doomed = Node(stack, "b4").start()
    room = unique("failover")
    carol, dave = unique("carol"), unique("dave")
    stack.register(carol, "pw-c")
    sender, _ = connect(stack, nodes[0], dave)
    sender.join(room)
    servers = "%s,%s" % (doomed.endpoint(), nodes[1].endpoint())
    stack.env["PYCHAT_SERVER"] = servers
    try:
        listener = stack.listen(room, user=carol, password="pw-c")
        wait_for(lambda: carol in sender.ok("WHO", room), 10, 0.1, "carol to join")
        first = [int(sender.send(room, "before %d" % i)[0]) for i in range(10)]
        listener.wait_messages(10)
        doomed.kill()
        second = [int(sender.send(room, "after %d" % i)[0]) for i in range(10)]
        got = listener.wait_messages(20, timeout=40)
        assert [int(m["id"]) for m in got] == first + second, got
        assert "ready" in listener.stderr_text()
        assert listener.stop() == 130
        # A one-shot command whose first server is dead asks the next one
        sent = stack.pychat("send", room, "from a one-shot", user=carol, password="pw-c")
        assert sent.returncode == 0, sent.stderr
        history = stack.pychat("history", room, "--json", user=carol, password="pw-c")
        assert history.returncode == 0, history.stderr
        assert "from a one-shot" in history.stdout
    finally:
        stack.env.pop("PYCHAT_SERVER", None)
        doomed.kill()


def test_edits_replies_and_reactions_cross_brokers_in_id_order(stack, nodes, unique):
    """An edit, a reply, a reaction and a delete are appended like messages:
    Redis numbers and publishes them, and both brokers deliver the same
    entries in the same id order."""
    room = unique("kinds")
    (ann, _), (ben, _) = connect(stack, nodes[0], unique("ann")), connect(stack, nodes[1], unique("ben"))
    for client in (ann, ben):
        client.join(room)
    first = ann.send(room, "spanning draft")[0]
    ann.ok("SEND", room, new_cid(), "spanning final", "edit", first)
    ben.ok("SEND", room, new_cid(), "an answer", "reply", first)
    ben.ok("SEND", room, new_cid(), "\U0001F44D", "react", first)
    assert ben.error("SEND", room, new_cid(), "mine now", "edit", first) == 403
    ann.ok("SEND", room, new_cid(), "-", "delete", first)
    seen = [room_messages(client.sub, room, 5) for client in (ann, ben)]
    assert seen[0] == seen[1], seen
    ids = [entry[0] for entry in seen[0]]
    assert ids == list(range(int(first), int(first) + 5)), seen
    assert [entry[2] for entry in seen[0]] == [
        "spanning draft", "\x1eedit %s spanning final" % first, "\x1ereply %s an answer" % first,
        "\x1ereact %s \U0001F44D" % first, "\x1edelete %s" % first], seen
    stream = redis_command(stack.redis_port, "XRANGE", "room:" + room, "-", "+")
    assert b"spanning" not in b"".join(v for _, fields in stream for v in fields), stream
    for client in (ann, ben):
        client.sub.close()
        client.close()


def test_read_markers_and_mentions_cross_brokers(stack, nodes, unique):
    """Read markers and mentions live in Redis: a marker set through one
    broker reaches the user's session on another, live, and a mention sent
    through a third reaches both."""
    room = unique("marked")
    desktop, _ = connect(stack, nodes[1], unique("reader"))
    laptop, _ = connect(stack, nodes[2], desktop.user)
    writer, _ = connect(stack, nodes[0], unique("writer"))
    for client in (desktop, laptop, writer):
        client.join(room)
    writer.send(room, "one")
    last = writer.send(room, "two, @%s" % desktop.user.upper())[0]

    def next_of(sub, command):
        found = []

        def arrived():
            message = sub.recv(0.2)
            if message and message[2] == command:
                found.append(message)
            return bool(found)
        wait_for(arrived, 10, 0, "a %s from another broker" % command)
        return found[0]
    for sub in (desktop.sub, laptop.sub):
        assert next_of(sub, "MENTION")[5:8] == [room, last, writer.user]
    counts = [f for f in desktop.ok("UNREAD") if f.startswith(room + " ")]
    assert counts == ["%s 2 1 all 0 %s" % (room, last)], counts
    assert laptop.ok("MARK", room) == [room, last]
    assert next_of(desktop.sub, "MARKED")[4:6] == [room, last]
    counts = [f for f in desktop.ok("UNREAD") if f.startswith(room + " ")]
    assert counts == ["%s 0 0 all %s %s" % (room, last, last)], counts
