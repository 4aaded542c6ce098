"""Rooms at their edges (issue 16, items 6, 7 and 9): reading a room never
creates it, an invite-only room is invisible to outsiders, and ROOMS counts
messages, not ids. Black-box: real Redis, real (sanitizer) binaries, the
pychat command line as a user runs it and raw frames where a user's client
would hide the answer."""

import json
import os
import subprocess

import pytest

from stack import SIGNATURE, RawFiles, error_line


def rooms_of(client):
    """ROOMS as {name: (members, messages)}."""
    out = {}
    for field in client.ok("ROOMS"):
        name, members, messages = field.split(" ")
        out[name] = (int(members), int(messages))
    return out


def refusal(client, command, *fields):
    """(code, reason) of a request that must fail."""
    reply = client.request(command, *fields)
    assert reply[:2] == [SIGNATURE, "ERROR"], (command, fields, reply)
    return reply[3], reply[4] if len(reply) > 4 else ""


def cli_rooms(stack, user, password):
    result = stack.pychat("rooms", "--json", user=user, password=password)
    assert result.returncode == 0, result.stderr
    return {room["name"]: room for room in json.loads(result.stdout)}


def has_files(stack):
    return stack.has_binary("pychat-filesvc") and stack.alive("filesvc")


@pytest.fixture(scope="module")
def admin(stack):
    """An admin account, made the only way there is (pychat-admin)."""
    if not stack.has_binary("pychat-admin") or not stack.has_binary("pychat"):
        pytest.skip("not built yet: pychat, pychat-admin")
    env = dict(stack.env, PYCHAT_PASSWORD="root-pw")
    made = subprocess.run([stack.binary("pychat-admin"), "create-admin", "root"], env=env,
                          capture_output=True, text=True, timeout=30, cwd=stack.tmp)
    assert made.returncode == 0, made.stderr
    return ("root", "root-pw")


# ---------------------------------------------------------------------------
#  Item 6: only JOIN, SEND and CREATE create rooms

def test_reading_a_missing_room_answers_404_and_creates_nothing(cli, unique):
    user = unique("reader")
    cli.register(user, "pw-r")
    ghost = unique("nosuchroom")
    expected = "no such room: %s" % ghost
    # the command line: one line naming the room, exit 2, for every read
    reads = [("history", ghost), ("who", ghost)]
    if has_files(cli):
        reads += [("files", ghost), ("get", ghost, "x.txt", os.path.join(cli.tmp, ghost + ".out")),
                  ("rm", ghost, "x.txt")]
    for args in reads:
        result = cli.pychat(*args, user=user, password="pw-r")
        assert result.returncode == 2, (args, result.returncode, result.stdout, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)
        assert result.stdout == "", (args, result.stdout)
    # the wire: 404 with the same reason, for every read command
    raw = cli.logged_in(user, "pw-r")
    assert refusal(raw, "HISTORY", ghost, "0", "10") == ("404", expected)
    assert refusal(raw, "WHO", ghost) == ("404", expected)
    assert refusal(raw, "INVITE", ghost, "someone")[0] == "404"
    if has_files(cli):
        files = RawFiles(raw)
        assert refusal(files, "FLIST", ghost) == ("404", expected)
        assert refusal(files, "FOPEN", ghost, "x.txt") == ("404", expected)
        assert refusal(files, "FPUT", ghost, "x.txt", "1", "0" * 64, "") == ("404", expected)
    # nothing of it anywhere afterwards
    assert ghost not in rooms_of(raw)
    assert ghost not in cli_rooms(cli, user, "pw-r")
    if cli.has_binary("pychat-monitor") and cli.alive("monitor"):
        assert ghost not in cli.stats()["rooms"]
    # positive control: send creates it, and then every read works
    sent = cli.pychat("send", ghost, "now it exists", user=user, password="pw-r")
    assert sent.returncode == 0, sent.stderr
    assert cli_rooms(cli, user, "pw-r")[ghost]["messages"] == 1
    history = cli.pychat("history", ghost, "--json", user=user, password="pw-r")
    assert history.returncode == 0 and "now it exists" in history.stdout, history.stderr
    who = cli.pychat("who", ghost, user=user, password="pw-r")
    assert who.returncode == 0, who.stderr
    if has_files(cli):
        listed = cli.pychat("files", ghost, user=user, password="pw-r")
        assert listed.returncode == 0, listed.stderr


def test_put_creates_the_room_it_posts_in(cli, unique):
    """put posts "shared NAME" in the room, as send posts a message: it
    joins the room and so makes it (the raw FPUT of a room nobody joined
    is 404, above)."""
    if not has_files(cli):
        pytest.skip("no file service")
    user = unique("sharer")
    cli.register(user, "pw-s")
    room = unique("shared-in")
    path = os.path.join(cli.tmp, "upload-%s.txt" % room)
    with open(path, "w") as handle:
        handle.write("data")
    put = cli.pychat("put", room, path, user=user, password="pw-s")
    assert put.returncode == 0, put.stderr
    assert cli_rooms(cli, user, "pw-s")[room]["messages"] == 1       # "shared ..."


def test_create_and_join_still_create(cli, unique):
    user = unique("maker")
    cli.register(user, "pw-m")
    raw = cli.logged_in(user, "pw-m")
    made, joined = unique("made"), unique("joined")
    assert raw.ok("CREATE", made, "open") == [made, "open"]
    raw.join(joined)
    rooms = rooms_of(raw)
    assert made in rooms and rooms[joined] == (1, 0), rooms
    assert raw.ok("WHO", made) == [] and raw.ok("WHO", joined) == [user]


# ---------------------------------------------------------------------------
#  Item 7: an invite-only room is invisible to outsiders

def test_invite_only_room_is_invisible_to_outsiders(cli, admin, unique):
    owner, outsider, guest = unique("owner"), unique("outsider"), unique("guest")
    for name in (owner, outsider, guest):
        cli.register(name, "pw-" + name)
    hidden, ghost = unique("hideout"), unique("nothere")
    made = cli.pychat("create-room", hidden, "--invite-only", user=owner, password="pw-" + owner)
    assert made.returncode == 0, made.stderr
    sent = cli.pychat("send", hidden, "secret plans", user=owner, password="pw-" + owner)
    assert sent.returncode == 0, sent.stderr
    invited = cli.pychat("invite", hidden, guest, user=owner, password="pw-" + owner)
    assert invited.returncode == 0, invited.stderr
    own = cli.logged_in(owner, "pw-" + owner)
    own.join(hidden)                              # a member online while the outsider looks

    # the outsider gets exactly what a room that does not exist gives
    out = cli.logged_in(outsider, "pw-" + outsider)
    for command, tail in (("WHO", ()), ("HISTORY", ("0", "10"))):
        code, reason = refusal(out, command, hidden, *tail)
        assert (code, reason.replace(hidden, "X")) == tuple(
            part.replace(ghost, "X") for part in refusal(out, command, ghost, *tail)), (
            command, code, reason)
        assert code == "404", (command, code, reason)
    assert hidden not in rooms_of(out)
    assert hidden not in cli_rooms(cli, outsider, "pw-" + outsider)
    for verb in ("who", "history"):
        seen = cli.pychat(verb, hidden, user=outsider, password="pw-" + outsider)
        missing = cli.pychat(verb, ghost, user=outsider, password="pw-" + outsider)
        assert seen.returncode == missing.returncode == 2, (verb, seen.stderr, missing.stderr)
        assert seen.stdout == "" and "secret plans" not in seen.stderr
        assert error_line(seen.stderr).replace(hidden, "X") == \
            error_line(missing.stderr).replace(ghost, "X"), (seen.stderr, missing.stderr)
    if has_files(cli):
        files = RawFiles(out)
        code, reason = refusal(files, "FLIST", hidden)
        assert (code, reason.replace(hidden, "X")) == tuple(
            part.replace(ghost, "X") for part in refusal(files, "FLIST", ghost)), reason
        listed = cli.pychat("files", hidden, user=outsider, password="pw-" + outsider)
        assert listed.returncode == 2 and "no such room" in listed.stderr, listed.stderr

    # the invited (not joined yet), the members and the admins see it
    guest_raw = cli.logged_in(guest, "pw-" + guest)
    root = cli.logged_in(*admin)
    for reader in (guest_raw, own, root):
        assert hidden in rooms_of(reader), reader.user
        assert reader.ok("WHO", hidden) == [owner], reader.user
    assert rooms_of(own)[hidden] == (1, 1)
    history = cli.pychat("history", hidden, "--json", user=guest, password="pw-" + guest)
    assert history.returncode == 0 and "secret plans" in history.stdout, history.stderr
    who = cli.pychat("who", hidden, user=admin[0], password=admin[1])
    assert who.returncode == 0 and owner in who.stdout, who.stderr
    # an open room stays visible to everyone
    opened = unique("open")
    own.join(opened)
    assert out.ok("WHO", opened) == [owner] and opened in rooms_of(out)


# ---------------------------------------------------------------------------
#  Item 9: ROOMS counts the messages, whatever their ids

def test_rooms_counts_messages_across_restarts(fresh_stack):
    stack = fresh_stack
    stack.register("counter", "pw-c")
    alice = stack.logged_in("counter", "pw-c")
    alice.join("counted")
    alice.join("quiet")
    for i in range(3):
        alice.send("counted", "before %d" % i)
    alice.ok("SEND", "counted", "same-cmid", "once")
    alice.ok("SEND", "counted", "same-cmid", "once")       # a resend: stored once
    alice.send("quiet", "still here")
    assert rooms_of(alice)["counted"] == (1, 4)
    # a broker killed mid-flight numbers past its reservation: ids jump
    stack.kill_service("broker")
    stack.start_service("broker")
    stack.wait_broker()
    alice = stack.logged_in("counter", "pw-c")
    alice.join("counted")
    ids = [int(alice.send("counted", "after %d" % i)[0]) for i in range(2)]
    assert ids[0] > 5, ids                                  # the jump that used to be counted
    assert rooms_of(alice)["counted"] == (1, 6), rooms_of(alice)
    if stack.has_binary("pychat"):
        assert cli_rooms(stack, "counter", "pw-c")["counted"]["messages"] == 6
    # a room with history exists after the restart for a reader that has
    # not joined it since: it is not "no such room"
    assert alice.ok("WHO", "quiet") == []
    assert refusal(alice, "HISTORY", "quiet", "0", "10")[0] == "403"      # not joined
    assert rooms_of(alice)["quiet"] == (0, 1)
