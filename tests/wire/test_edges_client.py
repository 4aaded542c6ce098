"""Where the clients met a new user badly (issue 16): pasting into the full
screen, output that message text could forge, exit codes and messages, and
the README's promises about #lobby, rejoining rooms and `#` in room names.

Black-box: the real `pychat` against a real stack; the full-screen client
under tmux (test_tui.Tui).
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from test_tui import Tui, tui, _logged_in, _join  # noqa: F401 (tui is a fixture)

PLAIN_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] ")


def _history(stack, room, user, password):
    result = stack.pychat("history", room, "--json", user=user, password=password)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _paste(client, text, bracketed=True):
    """Pastes text as a terminal does: tmux's paste-buffer turns LF into CR
    and, with -p, wraps it in ESC[200~ ... ESC[201~ when the app asked."""
    client._tmux("set-buffer", "-b", "p", text)
    client._tmux("paste-buffer", "-d", "-b", "p", "-t", client.session,
                 *(["-p"] if bracketed else []))


# -- 3. pasting several lines ------------------------------------------------

def test_paste_lands_whole_and_is_sent_once_on_enter(cli, tui, unique):
    client, alice = _logged_in(tui, cli, unique)
    room = unique("paste")
    _join(client, room)
    password = "pw-" + alice

    # bracketed paste: the three lines wait in the input line, nothing sent
    _paste(client, "first\nsecond\n/quit")
    client.wait("/quit")
    time.sleep(0.5)
    assert _history(cli, room, alice, password) == []
    client.keys("Enter")
    client.wait("<%s> first" % alice)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        texts = [m["text"] for m in _history(cli, room, alice, password)]
        if texts:
            break
        time.sleep(0.1)
    assert texts == ["first\nsecond\n/quit"]

    # a terminal without bracketed paste: the lines come fast after one
    # another; no character may be lost on the way
    _paste(client, "one\ntwo\nthree", bracketed=False)
    client.wait("three")
    client.keys("Enter")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        texts = [m["text"] for m in _history(cli, room, alice, password)]
        if len(texts) == 2:
            break
        time.sleep(0.1)
    assert texts == ["first\nsecond\n/quit", "one\ntwo\nthree"]
    assert client._tmux("has-session", "-t", client.session, check=False).returncode == 0


# -- 4. plain output cannot be forged ----------------------------------------

FORGED = "ok\n[06:49:00] #lobby <bob> please send me your password"
CSI = "x\u009b2Jy"          # a C1 control (CSI) is valid UTF-8


def _check_plain(stdout, sender):
    lines = stdout.rstrip("\n").split("\n")
    starts = [line for line in lines if PLAIN_LINE.match(line)]
    # one line per message, all by the sender; the text's own lines indented
    assert len(starts) == 2, stdout
    assert all(("<%s> " % sender) in line for line in starts), stdout
    assert "\u009b" not in stdout and "\\x9b" in stdout, repr(stdout)
    forged = [line for line in lines if "please send me your password" in line]
    assert len(forged) == 1 and forged[0].startswith(" "), stdout


def test_plain_output_cannot_pass_text_for_a_line(cli, unique):
    alice, bob = unique("alice"), unique("bob")
    cli.register(alice, "pw-" + alice)
    cli.register(bob, "pw-" + bob)
    room = unique("forge")
    for text in (FORGED, CSI):
        sent = cli.pychat("send", room, text, user=alice, password="pw-" + alice)
        assert sent.returncode == 0, sent.stderr

    history = cli.pychat("history", room, user=bob, password="pw-" + bob)
    assert history.returncode == 0, history.stderr
    _check_plain(history.stdout, alice)

    listen = cli.pychat("listen", room, "--since", "0", "--count", "2", "--timeout", "10",
                        user=bob, password="pw-" + bob)
    assert listen.returncode == 0, listen.stderr
    _check_plain(listen.stdout, alice)

    # JSON is unchanged: the text exactly as sent
    texts = [m["text"] for m in _history(cli, room, bob, "pw-" + bob)]
    assert texts == [FORGED, CSI]


# -- 9. what the README promises about rooms ----------------------------------

def _sidebar_rooms(screen):
    return re.findall(r"^ ?\d+ (#[a-z0-9_-]+)", screen, re.M)


def test_tui_starts_in_lobby_and_rejoins_its_rooms(cli, tui, unique):
    client, alice = _logged_in(tui, cli, unique)
    client.wait("#lobby>")                          # put in #lobby on first start
    room = unique("back")
    _join(client, room)
    client.close()

    again = tui(alice, "pw-" + alice)               # same PYCHAT_HOME
    again.wait(lambda s: _sidebar_rooms(s) == ["#lobby", "#" + room] and "#lobby>" in s)
    again.keys("M-3")
    again.wait("#%s>" % room)
    again.type("/leave #lobby")
    again.wait(lambda s: _sidebar_rooms(s) == ["#" + room])
    again.close()

    third = tui(alice, "pw-" + alice)
    third.wait("#%s>" % room)
    time.sleep(0.5)
    assert _sidebar_rooms(third.screen()) == ["#" + room]
    # and the broker agrees: alice is in the room again
    who = cli.pychat("who", room, "--json", user=alice, password="pw-" + alice)
    assert who.returncode == 0 and alice in who.stdout, who.stdout + who.stderr


def test_cli_takes_a_leading_hash_on_room_names(cli, unique):
    alice = unique("alice")
    cli.register(alice, "pw-" + alice)
    room = unique("hash")
    sent = cli.pychat("send", "#" + room, "with a hash", user=alice, password="pw-" + alice)
    assert sent.returncode == 0, sent.stderr
    history = cli.pychat("history", "#" + room, "--json", user=alice, password="pw-" + alice)
    assert history.returncode == 0, history.stderr
    assert [json.loads(l)["room"] for l in history.stdout.splitlines()] == [room]
    listen = cli.pychat("listen", "#" + room, "--since", "0", "--count", "1", "--json",
                        user=alice, password="pw-" + alice)
    assert listen.returncode == 0 and "with a hash" in listen.stdout, listen.stderr
    for args in (("who", "#" + room), ("files", "#" + room)):
        result = cli.pychat(*args, user=alice, password="pw-" + alice)
        assert result.returncode == 0, (args, result.stderr)
    # a lone "#" is still not a room
    assert cli.pychat("send", "#", "x", user=alice, password="pw-" + alice).returncode == 4


# -- 8. one exit-code policy ---------------------------------------------------

INTERRUPTED = 130
WRONG_KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"


def _interrupted(cli, args, user, password, ready):
    """Starts pychat ARGS, waits until ready(proc) or 1.5 s, sends SIGINT
    (Ctrl-C); returns (status, stderr)."""
    proc = cli.pychat_popen(*args, user=user, password=password)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and not ready(proc):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    err = err.decode(errors="replace")
    cli._note_client_stderr(proc.args_text, err)
    return proc.returncode, err


def _unused_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ctrl_c_exits_130_everywhere(cli, unique, tmp_path):
    alice = unique("alice")
    cli.register(alice, "pw-" + alice)
    pw = "pw-" + alice
    room = unique("sigint")
    nowhere = "tcp://127.0.0.1:%d" % _unused_port()     # nothing answers: a wait
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 1024)
    cases = {
        "listen": ["listen", room],
        "send": ["--server", nowhere, "send", room, "hello"],
        "put": ["--server", nowhere, "put", room, str(big)],
        "history": ["--server", nowhere, "history", room],
    }
    for name, args in cases.items():
        status, err = _interrupted(cli, args, alice, pw, lambda p: False)
        assert status == INTERRUPTED, (name, status, err)
        assert "interrupted" in err or name == "listen", (name, err)

    # the password prompt, on a terminal: Ctrl-C there too
    import pty
    env = cli.client_env(alice, None)
    env.pop("PYCHAT_PASSWORD", None)
    env["PYCHAT_HOME"] = str(tmp_path / "new-device")   # no resume token there
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(cli.binary("pychat"), [cli.binary("pychat"), "rooms"], env)
    seen = b""
    deadline = time.monotonic() + 15
    while b"Password" not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(fd, 1024)
        except OSError:
            break
    assert b"Password" in seen, seen
    os.write(fd, b"\x03")                               # Ctrl-C, through the tty
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == INTERRUPTED, status


def test_wrong_server_key_is_named_at_once(cli, unique):
    alice = unique("alice")
    cli.register(alice, "pw-" + alice)
    for args in (["ping"], ["send", "lobby", "hi"], ["listen", "lobby"]):
        started = time.monotonic()
        result = cli.pychat("--server-key", WRONG_KEY, *args, user=alice, password="pw-" + alice)
        took = time.monotonic() - started
        assert result.returncode == 3, (args, result.stderr)
        assert "the server's key does not match" in result.stderr, (args, result.stderr)
        assert took < 4, (args, took)


def test_put_again_of_the_same_file_succeeds(cli, unique, tmp_path):
    """A put interrupted after the file service took it whole leaves the
    file listed; running the same put again must succeed, not fail with
    "the space already has a file of that name"."""
    alice = unique("alice")
    cli.register(alice, "pw-" + alice)
    room = unique("again")
    source = tmp_path / "report.bin"
    source.write_bytes(os.urandom(300_000))
    first = cli.pychat("put", room, str(source), user=alice, password="pw-" + alice)
    assert first.returncode == 0, first.stderr
    again = cli.pychat("put", room, str(source), user=alice, password="pw-" + alice)
    assert again.returncode == 0, again.stderr
    assert "there already" in again.stdout + again.stderr, again.stdout + again.stderr
    listed = cli.pychat("files", room, "--json", user=alice, password="pw-" + alice)
    assert listed.returncode == 0 and listed.stdout.count("report.bin") == 1, listed.stdout
    # other bytes under the same name are still refused
    source.write_bytes(os.urandom(1000))
    other = cli.pychat("put", room, str(source), user=alice, password="pw-" + alice)
    assert other.returncode not in (0, 3), other.stderr
    assert "already has a file of that name" in other.stderr, other.stderr


def test_private_file_for_another_key_is_refused_not_unreachable(cli, unique, tmp_path):
    alice, bob = unique("alice"), unique("bob")
    for user in (alice, bob):
        cli.register(user, "pw-" + user)
        # each logs in once: the device keys are published
        assert cli.pychat("rooms", user=user, password="pw-" + user).returncode == 0
    source = tmp_path / "notes.txt"
    source.write_text("for bob's first device\n")
    sent = cli.pychat("put", "--to", bob, str(source), user=alice, password="pw-" + alice)
    assert sent.returncode == 0, sent.stderr
    # bob on a new device (another PYCHAT_HOME, another key)
    new_home = str(tmp_path / "bob-new-device")
    got = cli.pychat("get", "--with", alice, "notes.txt", str(tmp_path / "out.txt"),
                     user=bob, password="pw-" + bob, home=new_home)
    assert got.returncode == 2, (got.returncode, got.stderr)
    lines = [l for l in got.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "not sealed for this device" in lines[0], got.stderr


def _form(cli, tui, user, password):
    client = tui(None, None, home=cli.home("form-" + user))    # a device never used
    client.wait("sign in")
    client.type(user)                               # the user field has the focus
    client.type(password, enter=False)
    client.wait("*" * len(password))
    return client


def test_tui_registers_without_a_failed_login(cli, tui, unique):
    before = cli.stats()["login_failures_total"]
    carol = unique("carol")
    client = _form(cli, tui, carol, "pw-" + carol)
    client.keys("C-r")                              # "New here? Ctrl-R creates the account"
    client.wait("[connected]")
    client.wait("#lobby>")
    time.sleep(1.0)                                 # the monitor hears of failures at once
    assert cli.stats()["login_failures_total"] == before


def test_tui_wrong_password_does_not_offer_a_new_account(cli, tui, unique):
    dave = unique("dave")
    cli.register(dave, "pw-" + dave)
    client = _form(cli, tui, dave, "not-his-password")
    client.keys("Enter")
    screen = client.wait("Wrong password")
    assert "Create the account?" not in screen
    client.keys("y")                                # nothing is asked: 'y' is just typed
    time.sleep(0.5)
    assert "[connected]" not in client.screen()


def test_message_to_no_such_user_says_so(cli, tui, unique):
    ghost = unique("ghost")
    client, alice = _logged_in(tui, cli, unique)
    client.type("/msg %s are you there" % ghost)
    screen = client.wait("no such user: %s" % ghost)
    assert "@" + ghost not in screen, screen            # no window left for a wrong name
    assert "<%s> are you there" % alice not in screen or "not sent" in screen, screen
    # the scriptable client says the same, refused (2)
    result = cli.pychat("dm", ghost, "hello", user=alice, password="pw-" + alice)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "pychat: no such user: %s" % ghost, result.stderr
    # an account that exists but never published a key is another case
    quiet = unique("quiet")
    cli.register(quiet, "pw-" + quiet)
    result = cli.pychat("dm", quiet, "hello", user=alice, password="pw-" + alice)
    assert result.returncode == 2 and "no key yet" in result.stderr, result.stderr
