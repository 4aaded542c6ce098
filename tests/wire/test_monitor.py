"""The monitor (PROTOCOL.md, "Commands to the monitor"): STATS over CURVE
on base+3 counts what the broker fans out, and who is online."""

import pytest

from stack import SIGNATURE, RawClient, RawSub, wait_for

K, M = 7, 4


@pytest.fixture(scope="module")
def mon(stack):
    if not stack.alive("monitor"):
        pytest.skip("not built yet: pychat-monitor")
    stack.register("stat-alice", "pw-sa")
    stack.register("olive", "pw-o")
    return stack


def test_ping_and_stats_shape(mon):
    client = mon.monitor_client()
    assert client.request("PING", reqid="mp") == [SIGNATURE, "OK", "mp", "PONG"]
    stats = mon.stats(client)
    for key in ("messages_total", "rooms", "users_online", "online", "uptime_s"):
        assert key in stats, (key, stats)
    assert isinstance(stats["rooms"], dict) and isinstance(stats["online"], list), stats
    assert client.error("FLY") == 405


def test_message_counts_per_room(mon):
    before = mon.stats()["messages_total"]
    alice = mon.logged_in("stat-alice", "pw-sa")
    alice.join("stats1")
    alice.join("stats2")
    for i in range(K):
        alice.send("stats1", "one %d" % i)
    for i in range(M):
        alice.send("stats2", "two %d" % i)

    def counted():
        stats = mon.stats()
        rooms = stats["rooms"]
        done = (rooms.get("stats1", {}).get("messages") == K
                and rooms.get("stats2", {}).get("messages") == M)
        return stats if done else None
    try:
        stats = wait_for(counted, 10, 0.2, "the monitor to count the messages")
    except TimeoutError:
        pytest.fail("monitor counts after 10 s: %r" % mon.stats()["rooms"])
    assert stats["rooms"]["stats1"]["messages"] == K
    assert stats["rooms"]["stats2"]["messages"] == M
    assert stats["messages_total"] >= before + K + M, stats
    # and not more than were sent: nothing is counted twice
    alice.send("stats1", "one more")

    def changed():
        rooms = mon.stats()["rooms"]
        return rooms if rooms["stats1"]["messages"] != K else None
    rooms = wait_for(changed, 10, 0.2, "the monitor to count one more")
    assert rooms["stats1"]["messages"] == K + 1, rooms
    assert rooms["stats2"]["messages"] == M, rooms


def test_members_per_room(mon):
    alice = mon.logged_in("stat-alice", "pw-sa")
    alice.join("stats-members")
    olive = mon.logged_in("olive", "pw-o")
    olive.join("stats-members")
    wait_for(lambda: mon.stats()["rooms"].get("stats-members", {}).get("members") == 2,
             10, 0.2, "members == 2")
    olive.ok("LEAVE", "stats-members")
    wait_for(lambda: mon.stats()["rooms"].get("stats-members", {}).get("members") == 1,
             10, 0.2, "members == 1 after LEAVE")
    # olive is online while any session of hers is: the tests below count
    # on her having none
    olive.ok("LOGOUT")


def online(mon, name):
    stats = mon.stats()
    assert stats["users_online"] == len(stats["online"]), stats
    return name in stats["online"]


def test_listener_is_online_then_offline(mon):
    if not mon.has_binary("pychat"):
        pytest.skip("not built yet: pychat")
    listener = mon.listen("stats-online", user="olive", password="pw-o")
    # heartbeats come every 2 s: bounded wait, not a fixed sleep
    wait_for(lambda: online(mon, "olive"), 10, 0.2, "olive to be online")
    assert mon.stats()["users_online"] >= 1
    assert listener.stop() == 130, listener.stderr_text()
    wait_for(lambda: not online(mon, "olive"), 10, 0.2, "olive to go offline after quitting")


def test_raw_logout_goes_offline(mon):
    olive = mon.logged_in("olive", "pw-o")
    wait_for(lambda: online(mon, "olive"), 10, 0.2, "olive to be online")
    olive.ok("LOGOUT")
    wait_for(lambda: not online(mon, "olive"), 10, 0.2, "olive to go offline after LOGOUT")


def test_monitor_needs_its_server_key(mon):
    """A client with the wrong server key gets no answer (CURVE)."""
    wrong = RawClient(mon, endpoint=mon.endpoint(3), server_key=mon.broker_key())
    try:
        wrong.request("PING", timeout=1.5)
    except TimeoutError:
        return
    pytest.fail("the monitor answered a client that used the broker's key")


def test_monitor_key_may_subscribe_to_everything(mon):
    """Positive control for the subscription tests: the monitor's service
    key (and only it) gets "" - every room and the events."""
    with open(mon.data + "/keys/monitor.key") as handle:
        public, secret = [line.strip().encode() for line in handle.readlines()[:2]]
    sub = RawSub(mon, keypair=(public, secret))
    sub.subscribe("")
    alice = mon.logged_in("stat-alice", "pw-sa")
    alice.join("watched")

    def heard():
        alice.send("watched", "for the monitor")
        got = sub.drain(0.5)
        return any(m[0] == "r/watched/" and m[-1] == "for the monitor" for m in got)
    wait_for(heard, 10, 0.1, "the monitor key to receive room traffic")
    got = sub.drain(2.5)
    assert any(m[0].startswith("$ev/") and m[2] == "EVENT" for m in got), got[:5]
