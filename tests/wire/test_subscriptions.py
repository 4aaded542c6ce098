"""Fan-out authorisation (PROTOCOL.md, "Subscriptions"; ARCHITECTURE.md,
decision 3). Delivery is per session: each logged-in session has its own
topic s/TOKEN/ (from LOGIN) and gets there the messages of the rooms it has
joined; the broker applies a subscription only when the key is logged in and
the topic is exactly its own session topic. Every negative case runs while a
positive control proves messages are flowing, and a twin subscribed at the
same moment proves the refused subscriptions had reached the broker."""

import re
import time

import pytest

from stack import RawSub

USERS = {"alice": "pw-a", "carol": "pw-c", "dave": "pw-d"}
TOPIC = re.compile(r"s/[0-9a-f]{16}/")


@pytest.fixture(scope="module")
def people(stack):
    for name, password in USERS.items():
        stack.register(name, password)
    return stack


@pytest.fixture
def dave(people):
    dave = people.logged_in("dave", USERS["dave"])
    assert TOPIC.fullmatch(dave.topic or ""), dave.topic
    assert dave.join("lobby") == ["lobby", dave.topic]
    return dave


@pytest.fixture
def control(dave):
    """dave, a member of lobby: his SUB (his key, his session topic)."""
    return dave.subscriber()


@pytest.fixture
def alice(people):
    alice = people.logged_in("alice", USERS["alice"])
    alice.join("lobby")
    return alice


def flow(alice, control, subs, count=20, label="m"):
    """alice sends count messages to lobby; the control receives every one
    (delivery works right now); returns what each of subs received in the
    same window plus a short grace period."""
    texts = ["%s %d" % (label, i) for i in range(count)]
    for text in texts:
        alice.send("lobby", text)
    got = []
    deadline = time.monotonic() + 15
    while len(got) < count and time.monotonic() < deadline:
        message = control.recv(timeout=max(0.0, deadline - time.monotonic()))
        if message is not None and message[2] == "MSG" and message[5] == "lobby":
            got.append(message[-1])
    assert got == texts, "positive control did not receive the messages: %r" % got
    return [sub.drain(0.5) for sub in subs]


def lobby_texts(messages):
    return [m[-1] for m in messages if m[2] == "MSG" and m[5] == "lobby"]


def test_unauthenticated_key_gets_nothing(people, dave, control, alice):
    """A valid CURVE key that never logged in: nothing, whatever it asks
    for - "", a room topic, a prefix, or a real session's topic."""
    stranger = RawSub(people)
    twin_client = people.logged_in("dave", USERS["dave"])
    twin_client.join("lobby")
    twin = RawSub(people, keypair=twin_client.keypair)
    for topic in ("", "r/lobby/", "r/", "s/", dave.topic):
        stranger.subscribe(topic)
    twin.subscribe(twin_client.topic)
    twin_client.wait_subscribed(twin_client.topic)
    got_stranger, got_twin = flow(alice, control, [stranger, twin])
    assert lobby_texts(got_twin) == ["m %d" % i for i in range(20)], got_twin
    assert got_stranger == [], "a key that never logged in received %d messages: %r" % (
        len(got_stranger), got_stranger[:1])


def test_logged_in_non_member_gets_nothing(people, dave, control, alice):
    """carol is logged in, has her own session topic, has NOT joined lobby:
    she gets nothing of lobby, neither through her topic nor through "",
    r/lobby/, a prefix or dave's session topic. Positive control: after
    she JOINs lobby, her own topic carries lobby."""
    carol = people.logged_in("carol", USERS["carol"])
    carol.join("carols-room")
    sub = RawSub(people, keypair=carol.keypair)
    for topic in ("r/lobby/", "", "r/lob", "r/", "s/", dave.topic):
        sub.subscribe(topic)
    sub.subscribe(carol.topic)
    carol.wait_subscribed(carol.topic)     # the earlier ones were handled too
    (got,) = flow(alice, control, [sub])
    assert got == [], "carol (not in lobby) received %d messages: %r" % (len(got), got[:2])
    applied = carol.subs()
    assert applied == [carol.topic], "SUBS lists more than her own topic: %r" % applied

    assert carol.join("lobby") == ["lobby", carol.topic]
    (got,) = flow(alice, control, [sub], count=5, label="after-join")
    assert lobby_texts(got) == ["after-join %d" % i for i in range(5)], got
    assert all(m[0] == carol.topic for m in got), "delivered on another topic: %r" % got
    assert carol.subs() == [carol.topic]


def test_user_key_cannot_read_events(people, control, alice):
    carol = people.logged_in("carol", USERS["carol"])
    sub = RawSub(people, keypair=carol.keypair)
    for topic in ("$ev/", "$", "r/"):
        sub.subscribe(topic)
    sub.subscribe(carol.topic)
    carol.wait_subscribed(carol.topic)
    # events happen: logins, joins, leaves, heartbeats every 2 s
    other = people.logged_in("alice", USERS["alice"])
    other.join("event-room")
    other.ok("LEAVE", "event-room")
    flow(alice, control, [], count=3, label="ev")
    got = sub.drain(2.5)
    assert got == [], "a user key received: %r" % got[:3]
    assert carol.subs() == [carol.topic]


@pytest.mark.parametrize("how", ["LEAVE", "LOGOUT"])
def test_no_messages_after_leaving(people, control, alice, how):
    """After LEAVE (or LOGOUT, which leaves every room), the session gets no
    new messages of the room, though its SUB still holds its subscription."""
    carol = people.logged_in("carol", USERS["carol"])
    carol.join("lobby")
    sub = carol.subscriber()
    (got,) = flow(alice, control, [sub], count=3, label="before")
    assert lobby_texts(got) == ["before %d" % i for i in range(3)], got
    if how == "LEAVE":
        carol.ok("LEAVE", "lobby")
    else:
        carol.ok("LOGOUT")
    (got,) = flow(alice, control, [sub], count=5, label="after")
    assert lobby_texts(got) == [], (
        "still receiving lobby after %s: %d messages, first %r" % (how, len(got), got[:1]))


def test_session_topic_of_another_key_is_refused(people, control, alice):
    """Knowing a member's session topic is not enough: carol, logged in,
    subscribing to dave-2's topic (dave-2 is in lobby) gets nothing."""
    member = people.logged_in("dave", USERS["dave"])
    member.join("lobby")
    twin = member.subscriber()
    carol = people.logged_in("carol", USERS["carol"])
    thief = RawSub(people, keypair=carol.keypair)
    thief.subscribe(member.topic)
    thief.subscribe(carol.topic)
    carol.wait_subscribed(carol.topic)
    got_thief, got_twin = flow(alice, control, [thief, twin], count=5, label="steal")
    assert lobby_texts(got_twin) == ["steal %d" % i for i in range(5)], got_twin
    assert got_thief == [], "someone else's session topic delivered: %r" % got_thief[:1]
    assert member.topic not in carol.subs()


def test_one_topic_carries_every_joined_room(people, alice):
    erin = people.logged_in("carol", USERS["carol"])
    sub = erin.subscriber()
    for room in ("multi-a", "multi-b"):
        erin.join(room)
        alice.join(room)
    alice.send("multi-a", "to a")
    alice.send("multi-b", "to b")
    got = [sub.recv(timeout=10) for _ in range(2)]
    assert [(m[0], m[5], m[-1]) for m in got if m] == [
        (erin.topic, "multi-a", "to a"), (erin.topic, "multi-b", "to b")], got
