"""A peer vanishing mid-command: a client that closes while its LOGIN is
being hashed, one that fires a burst of SENDs and closes without reading a
reply, and a listener killed -9 while messages flow. The broker stays up,
answers the next client, and what it stored has no hole and no duplicate."""

import signal
import time

from stack import SIGNATURE, RawClient, new_cid


def test_client_gone_during_login(stack):
    stack.register("ghost", "pw-g")
    for _ in range(5):
        client = RawClient(stack)
        client.send_raw([SIGNATURE, "LOGIN", "r1", "ghost", "pw-g"])
        client.close()                  # before the Argon2id check answers
    other = RawClient(stack)
    assert other.request("PING")[1] == "OK"
    assert other.request("LOGIN", "ghost", "pw-g", timeout=10)[1] == "OK"
    assert stack.alive("broker") and stack.alive("authsvc")


def test_burst_then_gone_leaves_a_gapless_room(stack):
    stack.register("burst", "pw-b")
    writer = stack.logged_in("burst", "pw-b")
    writer.join("burstroom")
    texts = ["burst %d" % i for i in range(300)]
    for text in texts:                  # pipelined, no reply read
        writer.send_raw([SIGNATURE, "SEND", writer.next_reqid(), "burstroom", new_cid(), text])
    writer.close()
    time.sleep(1.0)
    reader = stack.logged_in("burst", "pw-b")
    reader.join("burstroom")
    stored, since = [], "-1"
    while True:
        fields = reader.ok("HISTORY", "burstroom", since, "200")
        page = [fields[i:i + 4] for i in range(0, len(fields), 4)]
        stored += page
        if len(page) < 200:
            break
        since = page[-1][0]
    ids = [int(record[0]) for record in stored]
    assert ids == list(range(1, len(ids) + 1)), "holes or duplicates: %r" % ids[:20]
    assert [record[3] for record in stored] == texts[:len(stored)]
    assert len(stored) >= 1
    assert reader.request("PING")[1] == "OK"


def test_listener_killed_mid_stream(stack):
    stack.register("victim9", "pw-v")
    stack.register("talker", "pw-t")
    listener = stack.listen("killroom", user="victim9", password="pw-v")
    talker = stack.logged_in("talker", "pw-t")
    talker.join("killroom")
    for i in range(50):
        talker.send("killroom", "before %d" % i)
        if i == 25:
            listener.proc.send_signal(signal.SIGKILL)
    listener.proc.wait(10)
    for i in range(50):
        talker.send("killroom", "after %d" % i)    # the broker keeps going
    other = stack.logged_in("victim9", "pw-v")
    other.join("killroom")
    fields = other.ok("HISTORY", "killroom", "0", "200")
    assert len(fields) // 4 == 100
    assert stack.alive("broker")
