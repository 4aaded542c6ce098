"""History and zero loss (PROTOCOL.md, "History and zero loss"): every
acknowledged room message is in HISTORY, ids are per-room sequence numbers
from 1 that are never reused, across a broker restart and a Redis outage."""

import pytest

from stack import SIGNATURE, wait_for


def history(client, room, since=0, limit=200):
    """HISTORY as a list of (id, from, time, text)."""
    fields = client.ok("HISTORY", room, str(since), str(limit))
    assert len(fields) % 4 == 0, fields
    return [tuple(fields[i:i + 4]) for i in range(0, len(fields), 4)]


@pytest.fixture(scope="module")
def people(stack):
    for name in ("hal", "ivy", "jon"):
        stack.register(name, "pw-" + name)
    return stack


def test_history_latest_and_since(people):
    hal = people.logged_in("hal", "pw-hal")
    hal.join("hist")
    sent = [hal.send("hist", "h%d" % i) for i in range(5)]
    got = history(hal, "hist")
    assert [(m[0], m[1], m[2], m[3]) for m in got] == [
        (sent[i][0], "hal", sent[i][1], "h%d" % i) for i in range(5)], got
    assert [m[0] for m in got] == ["1", "2", "3", "4", "5"]
    assert [m[3] for m in history(hal, "hist", since=2)] == ["h2", "h3", "h4"]
    assert [m[3] for m in history(hal, "hist", since=0, limit=2)] == ["h3", "h4"]
    assert history(hal, "hist", since=5) == []


def test_late_joiner_catches_up(people):
    hal = people.logged_in("hal", "pw-hal")
    hal.join("catch-up")
    for i in range(3):
        hal.send("catch-up", "early %d" % i)
    ivy = people.logged_in("ivy", "pw-ivy")
    ivy.join("catch-up")
    sub = ivy.subscriber()
    hal.send("catch-up", "live")
    live = sub.recv(timeout=10)
    assert live is not None and live[-1] == "live" and live[4] == "4", live
    # the MSG id says 3 were missed; HISTORY fills the gap, in order, and
    # the reader drops what it has already seen
    got = history(ivy, "catch-up", since=0, limit=200)
    assert [m[3] for m in got] == ["early 0", "early 1", "early 2", "live"], got
    assert [m[0] for m in got] == ["1", "2", "3", "4"]


def test_history_needs_membership(people):
    hal = people.logged_in("hal", "pw-hal")
    hal.join("private-ish")
    hal.send("private-ish", "members only")
    jon = people.logged_in("jon", "pw-jon")
    reply = jon.request("HISTORY", "private-ish", "0", "10")
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "403", (
        "a session that has not joined the room reads its history: %r" % reply)


def test_history_limit_bounds(people):
    hal = people.logged_in("hal", "pw-hal")
    hal.join("big-hist")
    for i in range(205):
        hal.send("big-hist", "b%d" % i)
    assert hal.error("HISTORY", "big-hist", "0", "x") == 400
    assert hal.error("HISTORY", "big-hist", "-", "10") == 400
    # over the 1-200 range: refused (400) or held to 200, never more
    reply = hal.request("HISTORY", "big-hist", "0", "100000")
    if reply[1] == "OK":
        assert len(reply[3:]) // 4 <= 200, "HISTORY returned %d messages (limit is 200)" % (
            len(reply[3:]) // 4)
    else:
        assert reply[3] == "400", reply
    got = history(hal, "big-hist", since=0, limit=200)
    assert [m[3] for m in got] == ["b%d" % i for i in range(5, 205)]


def restart_broker(stack):
    """Stops the broker cleanly and starts it again, ready for logins."""
    assert stack.stop_service("broker") == 0
    stack.start_service("broker")
    stack.wait_broker()
    stack.wait_auth()


def test_ids_survive_a_broker_restart(fresh_stack):
    stack = fresh_stack
    stack.register("kim", "pw-k")
    kim = stack.logged_in("kim", "pw-k")
    kim.join("durable")
    for i in range(3):
        kim.send("durable", "before %d" % i)
    restart_broker(stack)
    kim = stack.logged_in("kim", "pw-k")
    kim.join("durable")
    assert kim.send("durable", "after")[0] == "4", "ids are never reused"
    assert [m[3] for m in history(kim, "durable")] == [
        "before 0", "before 1", "before 2", "after"]


def test_resend_after_a_broker_restart_is_stored_once(fresh_stack):
    """A client whose OKs were lost when the broker died sends the same
    SENDs again (same client message ids) to the new broker: each gets its
    first id back and nothing is stored or delivered twice. The new broker
    knows them only from Redis (its dedup record), not from memory; the
    first SEND went through the checked path, the rest were numbered ahead
    and written as one pipelined lot."""
    stack = fresh_stack
    stack.register("ria", "pw-r")
    ria = stack.logged_in("ria", "pw-r")
    ria.join("resent")
    first = ria.ok("SEND", "resent", "ria-cid-0", "message 0")
    for i in range(1, 6):
        ria.send_raw([SIGNATURE, "SEND", "lot-%d" % i, "resent", "ria-cid-%d" % i,
                      "message %d" % i])
    lot = [ria.recv(timeout=5) for _ in range(5)]
    assert all(r and r[1] == "OK" for r in lot), lot
    ids = [first[0]] + [r[3] for r in sorted(lot, key=lambda r: r[2])]
    restart_broker(stack)
    ria = stack.logged_in("ria", "pw-r")
    ria.join("resent")
    sub = ria.subscriber()
    again = [ria.ok("SEND", "resent", "ria-cid-%d" % i, "message %d" % i)[0] for i in range(6)]
    assert again == ids, (ids, again)
    assert sub.drain(0.5) == [], "a resend is not delivered again"
    assert [m[3] for m in history(ria, "resent")] == ["message %d" % i for i in range(6)]
    assert ria.send("resent", "new")[0] == str(int(ids[-1]) + 1)


def test_redis_outage_loses_nothing_acknowledged(fresh_stack):
    """During a Redis outage, SEND to a room whose last id the broker knows
    is acknowledged and delivered; when Redis returns (with its data), the
    messages are written in order: HISTORY has them all. A room whose last
    id the broker does not know answers 503."""
    stack = fresh_stack
    stack.register("lea", "pw-l")
    stack.register("max", "pw-m")
    lea = stack.logged_in("lea", "pw-l")
    lea.join("journal")
    max_ = stack.logged_in("max", "pw-m")
    max_.join("journal")
    sub = max_.subscriber()
    lea.send("journal", "stored 1")
    assert sub.recv(timeout=10)[-1] == "stored 1"

    stack.stop_redis(keep_data=True)
    during = [lea.send("journal", "during %d" % i) for i in range(3)]
    assert [d[0] for d in during] == ["2", "3", "4"], during
    got = [sub.recv(timeout=10) for _ in range(3)]
    assert [m[-1] for m in got if m] == ["during 0", "during 1", "during 2"], got
    reply = lea.request("JOIN", "unknown-room")
    if reply[1] == "OK":      # else 503: the room's settings are unknown too
        reply = lea.request("SEND", "unknown-room", "u1", "nowhere to store it")
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "503", reply

    stack.start_redis()

    def flushed():
        reply = lea.request("HISTORY", "journal", "0", "200")
        return reply[1] == "OK" and reply[3:][3::4] == [
            "stored 1", "during 0", "during 1", "during 2"]
    try:
        wait_for(flushed, 15, 0.3, "the kept messages to reach Redis")
    except TimeoutError:
        pytest.fail("HISTORY 15 s after Redis returned: %r"
                    % lea.request("HISTORY", "journal", "0", "200"))
    assert lea.send("journal", "after")[0] == "5"
    # and they survive a broker restart, so they really are in Redis
    assert stack.stop_service("broker") == 0
    stack.start_service("broker")
    stack.wait_broker()
    stack.wait_auth()
    lea = stack.logged_in("lea", "pw-l")
    lea.join("journal")
    assert [m[3] for m in history(lea, "journal")] == [
        "stored 1", "during 0", "during 1", "during 2", "after"]


# ---------------------------------------------------------------------------
#  The client side (issue #3): `pychat history`, and `pychat listen` that
#  resumes where it stopped, fills gaps from HISTORY and reconnects by itself.

import re                                           # noqa: E402
import signal                                       # noqa: E402
import threading                                    # noqa: E402
import time                                         # noqa: E402

from stack import (Listener, RawClient, cli_user, json_lines,  # noqa: E402
                   new_cid, redis_command)

PLAIN_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] #(\S+) <(\S+)> (.*)$")


def redis_stream(port, key):
    """(id, text) of every entry of a room stream, in order."""
    entries = redis_command(port, "XRANGE", key, "-", "+")
    result = []
    for entry_id, fields in entries:
        values = dict(zip(fields[::2], fields[1::2]))
        result.append((int(entry_id.split(b"-")[0]), values[b"text"].decode()))
    return result


def send_many(client, room, texts, window=100):
    """Pipelined SENDs (window requests in flight): fast, and each text is
    acknowledged once. Returns the message ids in order."""
    ids = {}
    pending = {}
    queue = list(texts)
    while queue or pending:
        while queue and len(pending) < window:
            text = queue.pop(0)
            reqid = client.next_reqid()
            client.send_raw([SIGNATURE, "SEND", reqid, room, new_cid(), text])
            pending[reqid] = text
        reply = client.recv(timeout=20)
        assert reply is not None, "no SEND reply within 20 s"
        if len(reply) > 2 and reply[2] in pending:
            assert reply[1] == "OK", reply
            ids[pending.pop(reply[2])] = int(reply[3])
    return [ids[t] for t in texts]


def test_cli_history_limit_and_since(cli, unique):
    user, password = cli_user(cli, unique, "hist-cli")
    room = unique("hcli")
    writer = cli.logged_in(user, password)
    writer.join(room)
    texts = ["line %d" % i for i in range(1, 261)]
    ids = send_many(writer, room, texts)
    assert ids == list(range(1, 261))

    def history_json(*args):
        result = cli.pychat("history", room, "--json", *args, user=user, password=password)
        assert result.returncode == 0, result.stderr
        return json_lines(result.stdout)

    got = history_json()                                    # default: the last 50
    assert [m["text"] for m in got] == texts[-50:]
    assert [m["id"] for m in got] == [str(i) for i in range(211, 261)]
    assert all(m["room"] == room and m["from"] == user and isinstance(m["ts"], int) for m in got)
    assert [m["text"] for m in history_json("--limit", "5")] == texts[-5:]
    assert [m["text"] for m in history_json("--since", "10", "--limit", "3")] == texts[10:13]
    assert [m["text"] for m in history_json("--since", "255")] == texts[255:]
    assert history_json("--since", "260") == []
    # more than one page (the broker gives at most 200 per HISTORY)
    assert [m["text"] for m in history_json("--limit", "250")] == texts[-250:]
    assert [m["text"] for m in history_json("--since", "3", "--limit", "1000")] == texts[3:]
    plain = cli.pychat("history", room, "--limit", "2", user=user, password=password)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert [PLAIN_LINE.match(line).groups() for line in lines] == [
        (room, user, "line 259"), (room, user, "line 260")], lines
    bad = cli.pychat("history", room, "--limit", "0", user=user, password=password)
    assert bad.returncode == 1


def test_listen_resumes_where_it_stopped(cli, unique):
    user, password = cli_user(cli, unique, "resume")
    room = unique("resume-room")
    writer = cli.logged_in(user, password)
    writer.join(room)
    listener = cli.listen(room, user=user, password=password)
    writer.send(room, "before")
    assert [m["text"] for m in listener.wait_messages(1)] == ["before"]
    assert listener.stop() == 130, listener.stderr_text()

    texts = ["missed %d" % i for i in range(100)]
    send_many(writer, room, texts)
    started = time.monotonic()
    again = cli.pychat("listen", room, "--json", "--count", "100", "--timeout", "30",
                       user=user, password=password, timeout=60)
    assert again.returncode == 0, again.stderr
    assert time.monotonic() - started < 30
    got = json_lines(again.stdout)
    assert [m["text"] for m in got] == texts
    ids = [int(m["id"]) for m in got]
    assert ids == list(range(ids[0], ids[0] + 100)), ids
    # nothing old a second time, nothing else within a second more
    third = cli.listen(room, user=user, password=password)
    time.sleep(1.2)
    assert third.messages() == []
    writer.send(room, "live")
    assert [m["text"] for m in third.wait_messages(1)] == ["live"]
    time.sleep(1.0)
    assert [m["text"] for m in third.messages()] == ["live"]
    assert third.stop() == 130
    # --since overrides the saved position
    since = cli.pychat("listen", room, "--json", "--since", str(ids[-3]), "--count", "3",
                       "--timeout", "20", user=user, password=password, timeout=40)
    assert since.returncode == 0, since.stderr
    assert [m["text"] for m in json_lines(since.stdout)] == texts[-2:] + ["live"]


def test_gap_fill_after_high_water_mark_overflow(fresh_stack, unique):
    """A listener frozen (SIGSTOP) while 600 messages of 3000 bytes go by
    overflows the broker's fan-out high-water mark (PYCHAT_FANOUT_HWM=20
    here; 1.8 MB is more than the broker's queue and the socket buffers
    hold), so the broker drops most of them for it. After SIGCONT it sees
    the gap in the ids and fills it from HISTORY: every message once, in
    order."""
    stack = fresh_stack
    stack.stop_service("broker")
    stack.env["PYCHAT_FANOUT_HWM"] = "20"
    stack.start_service("broker")
    stack.wait_broker()
    stack.wait_auth()
    user, password = cli_user(stack, unique, "frozen")
    room = unique("frozen-room")
    writer = stack.logged_in(user, password)
    writer.join(room)
    listener = stack.listen(room, user=user, password=password)
    listener.proc.send_signal(signal.SIGSTOP)
    try:
        texts = [("flood %d " % i) + "x" * 3000 for i in range(600)]
        ids = send_many(writer, room, texts, window=100)
    finally:
        listener.proc.send_signal(signal.SIGCONT)
    got = listener.wait_messages(600, timeout=60)
    time.sleep(1.0)
    got = listener.messages()
    assert [m["text"] for m in got] == texts, (len(got), listener.stderr_text()[-2000:])
    assert [int(m["id"]) for m in got] == ids
    assert listener.stop() == 130


def test_broker_killed_mid_stream(fresh_stack, unique):
    """Two senders resend the same client message id until acknowledged;
    the broker is killed (-9) and restarted in the middle. Every
    acknowledged message is in history exactly once, and a listener that
    kept running printed each exactly once, in order."""
    stack = fresh_stack
    if not stack.has_binary("pychat"):
        pytest.skip("pychat not built")
    room = "kill-room"
    users = [cli_user(stack, unique, "killer") for _ in range(3)]
    (a, pa), (b, pb), (watcher, pw) = users
    listener = stack.listen(room, user=watcher, password=pw)
    per_sender = 500
    acked = {a: [], b: []}
    errors = []
    halfway = threading.Event()

    def sender(name, password):
        client = RawClient(stack)
        logged = False
        try:
            for i in range(per_sender):
                if i == per_sender // 3:
                    halfway.set()
                cid, text = new_cid(), "%s %d" % (name, i)
                deadline = time.monotonic() + 60
                while True:
                    assert time.monotonic() < deadline, "no ack for %s" % text
                    try:
                        if not logged:
                            reply = client.request("LOGIN", name, password, timeout=2)
                            if reply[1] != "OK":
                                time.sleep(0.2)
                                continue
                            if client.request("JOIN", room, timeout=2)[1] != "OK":
                                time.sleep(0.2)
                                continue
                            logged = True
                        reply = client.request("SEND", room, cid, text, timeout=1)
                    except TimeoutError:
                        logged = False
                        continue
                    if reply[1] == "OK":
                        acked[name].append((int(reply[3]), text))
                        break
                    if reply[3] == "403":
                        logged = False
                    else:
                        time.sleep(0.1)
        except Exception as error:                  # reported by the test
            errors.append(repr(error))
        finally:
            client.socket.close(0)

    threads = [threading.Thread(target=sender, args=(a, pa)),
               threading.Thread(target=sender, args=(b, pb))]
    for thread in threads:
        thread.start()
    assert halfway.wait(60)
    stack.kill_service("broker")
    time.sleep(0.5)
    stack.start_service("broker")
    stack.wait_broker()
    stack.wait_auth()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    everything = sorted(acked[a] + acked[b])
    assert len(everything) == 2 * per_sender
    texts = [text for _, text in everything]
    assert len(set(texts)) == len(texts)

    # in the store exactly once each (read straight from Redis) ...
    stored = redis_stream(stack.redis_port, "room:" + room)
    assert stored == everything, "the store differs from what was acknowledged"
    # ... and `pychat history` shows every one of them, message 1 included
    # (more than a page: read from the start with since -1)
    result = stack.pychat("history", room, "--json", "--limit", "5000", user=a, password=pa)
    assert result.returncode == 0, result.stderr
    shown = [(int(m["id"]), m["text"]) for m in json_lines(result.stdout)]
    assert shown == everything

    got = listener.wait_messages(len(everything), timeout=60)
    time.sleep(1.0)
    got = listener.messages()
    assert [(int(m["id"]), m["text"]) for m in got] == everything, (
        len(got), listener.stderr_text()[-3000:])
    for name in (a, b):                             # per sender, in its order
        mine = [m["text"] for m in got if m["from"] == name]
        assert mine == ["%s %d" % (name, i) for i in range(per_sender)]
    errors_text = listener.stderr_text()
    assert "pychat: connection lost, reconnecting in" in errors_text, errors_text
    assert "pychat: reconnected" in errors_text, errors_text
    assert listener.stop() == 130


def test_ids_jump_past_a_killed_broker(fresh_stack, unique):
    """The broker delivers a message before Redis has stored it, from ids
    it reserved in Redis (PROTOCOL.md, "History and zero loss"). Killed
    (-9), it leaves that reservation behind and the next broker numbers past
    it, so no id a reader may have seen names another message; a listener
    that kept running follows the jump and prints every message once."""
    stack = fresh_stack
    if not stack.has_binary("pychat"):
        pytest.skip("pychat not built")
    room = "jump-room"
    (writer, wp), (watcher, pw) = [cli_user(stack, unique, "jumper") for _ in range(2)]
    listener = stack.listen(room, user=watcher, password=pw)
    client = stack.logged_in(writer, wp)
    client.join(room)
    before = [int(client.send(room, "before %d" % i)[0]) for i in range(3)]
    assert before == [1, 2, 3]
    listener.wait_messages(3, timeout=20)
    assert redis_command(stack.redis_port, "EXISTS", "room:%s:ahead" % room) == 1

    stack.kill_service("broker")
    stack.start_service("broker")
    stack.wait_broker()
    stack.wait_auth()
    client = stack.logged_in(writer, wp)
    client.join(room)
    after = [int(client.send(room, "after %d" % i)[0]) for i in range(2)]
    assert after[0] > 3 + 512, "numbered past the dead broker's reservation: %r" % after
    assert after[1] == after[0] + 1
    assert redis_stream(stack.redis_port, "room:" + room) == list(zip(
        before + after, ["before 0", "before 1", "before 2", "after 0", "after 1"]))

    listener.wait_messages(5, timeout=30)
    time.sleep(0.5)
    got = [(int(m["id"]), m["text"]) for m in listener.messages()]
    assert got == list(zip(before + after, ["before 0", "before 1", "before 2",
                                             "after 0", "after 1"])), got
    assert listener.stop() == 130


def test_a_new_login_does_not_inherit_sends(fresh_stack, unique):
    """The broker remembers client message ids per login: after LOGOUT,
    another user logging in on the same connection with the same client
    message id sends a new message, not an echo of the first user's."""
    stack = fresh_stack
    (first, fp), (second, sp) = [cli_user(stack, unique, "sharer") for _ in range(2)]
    client = RawClient(stack)
    try:
        client.login(first, fp)
        client.join("shared")
        one = client.ok("SEND", "shared", "same-cid", "from the first")
        assert client.ok("SEND", "shared", "same-cid", "from the first") == one
        client.ok("LOGOUT")
        client.login(second, sp)
        client.join("shared")
        two = client.ok("SEND", "shared", "same-cid", "from the second")
        assert int(two[0]) == int(one[0]) + 1, (one, two)
        assert [text for _, text in redis_stream(stack.redis_port, "room:shared")] == [
            "from the first", "from the second"]
    finally:
        client.close()


def test_send_rides_out_a_broker_restart(fresh_stack, unique):
    """`pychat send` resends the same client message id (logging in again)
    until the broker, back from a restart, acknowledges it: stored once."""
    stack = fresh_stack
    if not stack.has_binary("pychat"):
        pytest.skip("pychat not built")
    user, password = cli_user(stack, unique, "patient")
    stack.stop_service("broker")
    proc = stack.pychat_popen("send", "waiting-room", "sent during the outage",
                              user=user, password=password)
    time.sleep(2.0)
    stack.start_service("broker")
    stack.wait_broker()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.decode().strip() == "1"
    result = stack.pychat("history", "waiting-room", "--json", user=user, password=password)
    assert [m["text"] for m in json_lines(result.stdout)] == ["sent during the outage"]
    stack.stop_service("broker")
    down = stack.pychat("--timeout", "2", "send", "waiting-room", "nobody home",
                        user=user, password=password)
    assert down.returncode == 3, down.stderr
    assert "no reply" in down.stderr


class FanoutCutter:
    """A TCP proxy on 127.0.0.2 for the broker's command and fan-out ports
    (the client connects its SUB to the host it was given and the port the
    LOGIN reply names). cut() drops the fan-out connections and refuses new
    ones until heal(): ZeroMQ reconnects the SUB by itself, the broker
    re-applies its subscription, and what was published meanwhile is lost
    for that SUB: a real gap in the ids."""

    def __init__(self, stack):
        import socket
        self.stack = stack
        self.blocked = False
        self.fanout_conns = []
        self.listeners = []
        self.lock = threading.Lock()
        for offset in (0, 1):
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.2", stack.base + offset))
            server.listen(16)
            self.listeners.append(server)
            threading.Thread(target=self._accept, args=(server, offset), daemon=True).start()

    def _accept(self, server, offset):
        import socket
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if offset == 1 and self.blocked:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.stack.base + offset))
            if offset == 1:
                with self.lock:
                    self.fanout_conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        import socket
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        import socket
        self.blocked = True
        with self.lock:
            conns, self.fanout_conns = self.fanout_conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def heal(self):
        self.blocked = False

    def close(self):
        for server in self.listeners:
            server.close()


def test_gap_in_live_ids_is_filled_from_history(cli, unique):
    """The listener's fan-out connection breaks for a second while 50
    messages go by (its DEALER keeps working, so no reconnect happens): the
    next live message shows a gap, the listener fetches it from HISTORY and
    prints every message once, in order."""
    user, password = cli_user(cli, unique, "gappy")
    room = unique("gap-room")
    cutter = FanoutCutter(cli)
    try:
        proc = cli.pychat_popen("--server", "tcp://127.0.0.2:%d" % cli.base,
                                "listen", room, "--json", user=user, password=password)
        listener = Listener(cli, proc)
        listener.wait_ready(20)
        writer = cli.logged_in(user, password)
        writer.join(room)
        sent = [writer.send(room, "before %d" % i) for i in range(5)]
        listener.wait_messages(5)
        cutter.cut()
        time.sleep(0.3)
        sent += [writer.send(room, "during %d" % i) for i in range(50)]
        cutter.heal()
        texts = ["before %d" % i for i in range(5)] + ["during %d" % i for i in range(50)]
        deadline = time.monotonic() + 30
        n = 0
        while time.monotonic() < deadline:
            text = "after %d" % n
            writer.send(room, text)
            texts.append(text)
            n += 1
            time.sleep(0.2)
            if listener.messages() and listener.messages()[-1]["text"] == text:
                break
        time.sleep(0.5)
        got = listener.messages()
        assert [m["text"] for m in got] == texts, listener.stderr_text()
        ids = [int(m["id"]) for m in got]
        assert ids == list(range(1, len(texts) + 1))
        assert "connection lost" not in listener.stderr_text(), (
            "the gap was closed by a reconnect, not by the gap fill")
        assert listener.stop() == 130
    finally:
        cutter.close()
