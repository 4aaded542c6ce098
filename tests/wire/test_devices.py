"""Several DM devices per account (PROTOCOL.md, "Direct messages"): every
device has its own key in the account's device list; a DM is sealed for each
device of the recipient and of the sender; a contact's new device is
announced, not refused; an own device one did not add is said loudly; a
revoked device gets nothing new."""

import re

from stack import SIGNATURE, cli_user, json_lines

FINGERPRINT = r"[0-9a-f]{4}( [0-9a-f]{4}){7}"


def device_id(cli, user, password, home):
    """This home's device id, from `pychat devices` ("(this device)")."""
    listed = cli.pychat("devices", user=user, password=password, home=home)
    assert listed.returncode == 0, listed.stderr
    for line in listed.stdout.splitlines():
        if "(this device)" in line:
            return line.split()[0]
    raise AssertionError("no (this device) line: %r" % listed.stdout)


def read_dms(cli, user, password, home, count, timeout="20", status=0):
    got = cli.pychat("listen", "--json", "--count", str(count), "--timeout", timeout,
                     user=user, password=password, home=home)
    assert got.returncode == status, got.stderr
    return json_lines(got.stdout), got.stderr


def laptop(cli, user, password):
    """A second device of user: its own PYCHAT_HOME, named 'laptop' before
    its first login (which adds it to the account's list)."""
    home = cli.home(user + "-laptop")
    named = cli.pychat("devices", "name", "laptop", user=user, password=password, home=home)
    assert named.returncode == 0, named.stderr
    return home


def test_device_list_on_the_wire(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    raw = cli.logged_in(alice, apw)
    reply = raw.ok("GETKEY", alice)
    assert reply[0] == alice and len(reply) == 3, reply
    ident, key, added, name = reply[2].split(" ", 3)
    assert key == reply[1] and re.match(r"^[0-9a-f]{8}$", ident) and int(added) > 0
    # revoking a device that is not there: 404; a malformed request: 400
    assert raw.error("DEVREVOKE", "00000000") == 404
    bad = raw.request("DEVREVOKE")
    assert bad[:2] == [SIGNATURE, "ERROR"] and bad[3] == "400", bad


def test_both_devices_read_and_see_what_the_other_sent(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    first = cli.pychat("dm", bob, "before the laptop", user=alice, password=apw)
    assert first.returncode == 0, first.stderr
    desk = cli.home(bob)
    lap = laptop(cli, bob, bpw)
    # alice writes again: bob's new device is announced, and the DM goes out
    sent = cli.pychat("dm", bob, "hello both of you", user=alice, password=apw)
    assert sent.returncode == 0, sent.stderr
    assert "key has changed" not in sent.stderr
    assert re.search(r"%s added a device 'laptop' \(id [0-9a-f]{8}\) — fingerprint %s"
                     % (bob, FINGERPRINT), sent.stderr), sent.stderr
    # both of bob's devices open it; the desktop the older one too
    on_desk, _ = read_dms(cli, bob, bpw, desk, 2)
    assert [m["text"] for m in on_desk] == ["before the laptop", "hello both of you"]
    on_lap, _ = read_dms(cli, bob, bpw, lap, 1)
    assert [(m["from"], m["text"]) for m in on_lap] == [(alice, "hello both of you")]
    # bob answers from the laptop: alice reads it, and bob's desktop sees
    # what the laptop sent (the sender's copy)
    answer = cli.pychat("dm", alice, "answered from the laptop", user=bob, password=bpw, home=lap)
    assert answer.returncode == 0, answer.stderr
    on_alice, _ = read_dms(cli, alice, apw, cli.home(alice), 3)
    texts = [(m["from"], m["to"], m["text"]) for m in on_alice]
    assert (bob, alice, "answered from the laptop") in texts, texts
    copy, _ = read_dms(cli, bob, bpw, desk, 1)
    assert [(m["from"], m["to"], m["text"]) for m in copy] == [
        (bob, alice, "answered from the laptop")]
    # and the other way round: the desktop writes, the laptop sees it
    desk_says = cli.pychat("dm", alice, "and from the desk", user=bob, password=bpw, home=desk)
    assert desk_says.returncode == 0, desk_says.stderr
    copy, _ = read_dms(cli, bob, bpw, lap, 2)
    assert [(m["from"], m["to"], m["text"]) for m in copy][-1] == (bob, alice, "and from the desk")


def test_revoked_device_gets_nothing_new(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    desk = cli.home(bob)
    lap = laptop(cli, bob, bpw)
    lap_id = device_id(cli, bob, bpw, lap)
    revoked = cli.pychat("devices", "revoke", lap_id, user=bob, password=bpw, home=desk)
    assert revoked.returncode == 0, revoked.stderr
    listed = cli.pychat("devices", user=bob, password=bpw, home=desk)
    assert lap_id not in listed.stdout, listed.stdout
    # the laptop cannot add itself again at its next login
    again = cli.pychat("devices", user=bob, password=bpw, home=lap)
    assert "this device was revoked" in again.stderr, again.stderr
    assert lap_id not in again.stdout
    sent = cli.pychat("dm", bob, "after the revocation", user=alice, password=apw)
    assert sent.returncode == 0, sent.stderr
    on_desk, _ = read_dms(cli, bob, bpw, desk, 1)
    assert [m["text"] for m in on_desk] == ["after the revocation"]
    on_lap, err = read_dms(cli, bob, bpw, lap, 1, timeout="3", status=3)     # timed out
    assert on_lap == [], on_lap
    assert "could not be opened" in err, err


def test_unknown_own_device_is_loud(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    first = cli.pychat("dm", bob, "first", user=alice, password=apw)
    assert first.returncode == 0, first.stderr
    assert "WARNING" not in first.stderr
    # someone else logs in as alice from a device of their own
    intruder = cli.home(alice + "-intruder")
    logged = cli.pychat("devices", "name", "not-alice", user=alice, password=apw, home=intruder)
    assert logged.returncode == 0, logged.stderr
    intruder_id = device_id(cli, alice, apw, intruder)
    second = cli.pychat("dm", bob, "second", user=alice, password=apw)
    assert second.returncode == 0, second.stderr
    assert re.search(r"WARNING: a device you did not add here appeared on your account %s: "
                     r"'not-alice' \(id %s, fingerprint %s\); if it is not yours, run "
                     r"`pychat devices revoke %s`" % (alice, intruder_id, FINGERPRINT, intruder_id),
                     second.stderr), second.stderr
    # said once: the device is pinned now
    third = cli.pychat("dm", bob, "third", user=alice, password=apw)
    assert third.returncode == 0 and "WARNING" not in third.stderr, third.stderr


def test_fingerprint_and_trust_per_device(cli, unique):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    lap = laptop(cli, bob, bpw)
    prints = cli.pychat("fingerprint", bob, user=alice, password=apw)
    assert prints.returncode == 0, prints.stderr
    lines = prints.stdout.strip().splitlines()
    assert len(lines) == 2 and all("(not pinned yet)" in line for line in lines), lines
    own = cli.pychat("fingerprint", user=bob, password=bpw, home=lap).stdout.strip()
    assert any(line.endswith("'laptop': %s  (not pinned yet)" % own) for line in lines), lines
    trusted = cli.pychat("trust", bob, user=alice, password=apw)
    assert trusted.returncode == 0, trusted.stderr
    assert len(trusted.stdout.strip().splitlines()) == 2, trusted.stdout
    assert "now trusting %s's device 'laptop'" % bob in trusted.stdout
    again = cli.pychat("fingerprint", bob, user=alice, password=apw)
    assert "not pinned" not in again.stdout, again.stdout


def test_private_file_for_every_device(cli, unique, tmp_path):
    alice, apw = cli_user(cli, unique, "alice")
    bob, bpw = cli_user(cli, unique, "bob")
    lap = laptop(cli, bob, bpw)
    alice_lap = laptop(cli, alice, apw)
    plain = tmp_path / "notes.txt"
    plain.write_bytes(b"for both of bob's devices\n" * 5000)
    put = cli.pychat("put", "--to", bob, str(plain), user=alice, password=apw)
    assert put.returncode == 0, put.stderr
    # bob's two devices and alice's other one all open it
    for who, password, home in ((bob, bpw, cli.home(bob)), (bob, bpw, lap), (alice, apw, alice_lap)):
        peer = alice if who == bob else bob
        dest = str(tmp_path / ("%s-%s.txt" % (who, home.rsplit("/", 1)[-1])))
        got = cli.pychat("get", "--with", peer, "notes.txt", dest, user=who, password=password,
                         home=home)
        assert got.returncode == 0, (home, got.stderr)
        assert open(dest, "rb").read() == plain.read_bytes()
