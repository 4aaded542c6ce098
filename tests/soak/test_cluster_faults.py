"""Several brokers under faults, with a checker in the spirit of Jepsen
(issue 17): three brokers on one Redis primary with a replica and three
Sentinels; senders spread over the brokers (each fails over by itself,
resending its unacknowledged SEND with the same client id); `pychat
listen` readers on every broker, given every broker as seeds; R rooms;
faults at fixed times: kill -9 of a broker (started again), SIGSTOP and
SIGCONT of a broker, the pub/sub connections killed, kill -9 of the Redis
primary (a Sentinel failover).

The checker: per room, each reader's ids strictly increasing; every
acknowledged SEND exactly once in every reader, under its acknowledged id;
each sender's order kept; a missing id only where the reader reported a
gap; 0 acknowledged messages lost. It prints the fault timeline and the
failover times."""

import os
import signal
import sys
import threading
import time

import pytest

from conftest import _bin_dir
from cluster import Node, start_with_sentinels
from stack import RawClient, Stack, new_cid, redis_command, wait_for

ROOMS = 3
SENDERS = 3
DURATION = float(os.environ.get("PYCHAT_FAULT_SECONDS", "40"))


class Sender(threading.Thread):
    """Sends to the rooms in turn; on silence moves to the next broker,
    logs in again and resends the same client id; on 503 sends it again."""

    def __init__(self, stack, name, endpoints, rooms, stop_at):
        threading.Thread.__init__(self, daemon=True)
        self.stack, self.name, self.endpoints, self.rooms = stack, name, endpoints, rooms
        self.stop_at = stop_at
        self.at = 0
        self.acked = []             # (room, id, text, acked at)
        self.failovers = []         # (seconds without an ack, endpoint moved to)
        self.client = None
        self.error = None

    def _connect(self):
        if self.client:
            self.client.close()
        self.client = RawClient(self.stack, endpoint=self.endpoints[self.at])
        self.client.login(self.name, "pw")
        for room in self.rooms:
            self.client.join(room)

    def run(self):
        try:
            self._run()
        except Exception as error:      # reported by the test
            self.error = "%s: %r" % (self.name, error)

    def _run(self):
        index = 0
        while time.monotonic() < self.stop_at:
            room = self.rooms[index % len(self.rooms)]
            text = "%s #%d" % (self.name, index)
            cid = new_cid()
            began = time.monotonic()
            while time.monotonic() < self.stop_at + 30:
                try:
                    if self.client is None:
                        self._connect()
                    reply = self.client.request("SEND", room, cid, text, timeout=2)
                except (TimeoutError, AssertionError):
                    self.at = (self.at + 1) % len(self.endpoints)
                    try:
                        self._connect()
                        self.failovers.append((time.monotonic() - began, self.endpoints[self.at]))
                    except (TimeoutError, AssertionError):
                        self.client = None
                        time.sleep(0.2)
                    continue
                if reply[1] == "OK":
                    self.acked.append((room, int(reply[3]), text, time.monotonic()))
                    break
                if reply[3] in ("503", "429"):
                    time.sleep(0.1)
                    continue
                if reply[3] == "403":        # the broker forgot us (restarted)
                    self.client = None
                    continue
                raise AssertionError("SEND refused: %r" % reply)
            index += 1
            time.sleep(0.03)


@pytest.fixture
def faulty(request):
    stack = Stack(_bin_dir(), name="faults")
    sentinels = None
    nodes = []
    try:
        sentinels = start_with_sentinels(stack)
        nodes = [Node(stack, "b2").start(), Node(stack, "b3").start()]
        yield stack, sentinels, nodes
    finally:
        for node in nodes:
            node.kill()
        stack.stop()
        if sentinels:
            sentinels.stop()
        problems = stack.sanitizer_reports() + [line for node in nodes
                                                for line in node.sanitizer_reports()]
        if problems:
            pytest.fail("sanitizer reports (logs in %s):\n  %s" % (stack.logs, "\n  ".join(problems[:20])),
                        pytrace=False)
        stack.cleanup()


def test_faults_lose_no_acknowledged_message(faulty):
    stack, sentinels, nodes = faulty
    endpoints = [stack.endpoint(0)] + [node.endpoint() for node in nodes]
    rooms = ["fault%d" % r for r in range(ROOMS)]
    names = ["sender%d" % i for i in range(SENDERS)]
    for name in names + ["reader"]:
        stack.register(name, "pw")
    # Readers: per room, one per broker, each seeded with every broker
    readers = []
    for index, room in enumerate(rooms):
        seeds = endpoints[index % 3:] + endpoints[:index % 3]
        for shift in range(3):
            stack.env["PYCHAT_SERVER"] = ",".join(seeds[shift:] + seeds[:shift])
            readers.append((room, stack.listen(room, user="reader", password="pw",
                                               home=stack.home("reader-%s-%d" % (room, shift)))))
    stack.env.pop("PYCHAT_SERVER", None)
    start = time.monotonic()
    stop_at = start + DURATION
    senders = [Sender(stack, name, endpoints[i % 3:] + endpoints[:i % 3], rooms, stop_at)
               for i, name in enumerate(names)]
    for sender in senders:
        sender.start()
    timeline = []

    def at(seconds, what, action):
        delay = start + seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        timeline.append((round(time.monotonic() - start, 2), what))
        action()
    primary = stack.redis
    at(DURATION * 0.15, "kill -9 broker b2", nodes[0].kill)
    at(DURATION * 0.27, "broker b2 started again", lambda: nodes[0].start(wait=False))
    at(DURATION * 0.40, "SIGSTOP broker b3", lambda: nodes[1].signal(signal.SIGSTOP))
    at(DURATION * 0.50, "SIGCONT broker b3", lambda: nodes[1].signal(signal.SIGCONT))
    at(DURATION * 0.58, "CLIENT KILL TYPE pubsub",
       lambda: redis_command(stack.redis_port, "CLIENT", "KILL", "TYPE", "pubsub"))
    killed_primary = [None]

    def kill_primary():
        killed_primary[0] = time.monotonic()
        primary.kill()
        primary.wait()
    at(DURATION * 0.70, "kill -9 the Redis primary", kill_primary)
    for sender in senders:
        sender.join(DURATION + 60)
    errors = [sender.error for sender in senders if sender.error]
    assert not errors, errors
    acked = [entry for sender in senders for entry in sender.acked]
    after_primary = [when for *_, when in acked if when > killed_primary[0]]
    assert after_primary, "no SEND was acknowledged after the Redis primary was killed"
    print("\nfault timeline (s from start): %s" % timeline, file=sys.stderr)
    print("acknowledged: %d SENDs; first ack after the primary's kill -9: %.2f s; "
          "sender failovers (s without an ack, to): %s"
          % (len(acked), min(after_primary) - killed_primary[0],
             [[(round(s, 2), e) for s, e in sender.failovers] for sender in senders]),
          file=sys.stderr)
    # Every reader catches up with everything acknowledged in its room
    by_room = {room: {(message_id, text) for r, message_id, text, _ in acked if r == room}
               for room in rooms}
    for room, reader in readers:
        wanted = len(by_room[room])
        wait_for(lambda: len({(int(m["id"]), m["text"]) for m in reader.messages()}
                             & by_room[room]) >= wanted or reader.proc.poll() is not None,
                 90, 0.2, "a reader of %s to catch up" % room)
    for room, reader in readers:
        got = [(int(m["id"]), m["text"]) for m in reader.messages() if m["room"] == room]
        ids = [message_id for message_id, _ in got]
        assert ids == sorted(set(ids)), "%s: ids out of order or repeated" % room
        missing_acked = by_room[room] - set(got)
        assert not missing_acked, "%s: acknowledged but never read: %s" % (room, sorted(missing_acked)[:5])
        for pair in by_room[room]:
            assert got.count(pair) == 1
        for name in names:
            mine = [int(text.split("#")[1]) for _, text in got
                    if text.startswith(name + " ") and (_, text) in by_room[room]]
            assert mine == sorted(mine), "%s: %s's order not kept" % (room, name)
        # A missing id only where the reader said so
        gaps = reader.gaps()
        for before, after in zip(ids, ids[1:]):
            for hole in range(before + 1, after):
                assert any(g["room"] == room and int(g["first"]) <= hole <= int(g["last"])
                           for g in gaps), "%s: id %d missing without a gap report" % (room, hole)
    for _, reader in readers:
        reader.stop()
