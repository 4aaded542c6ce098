"""`pychat slowmode ROOM SECONDS` and the full-screen client's /slowmode
(PROTOCOL.md, SLOWMODE), and the full-screen client's use of the resume
token the CLI keeps in PYCHAT_HOME/tokens/USER (PROTOCOL.md, "Sessions and
resume tokens"): black box against a real stack, the full-screen client
driven through tmux as in test_tui.py.
"""

import os
import stat
import time

from stack import new_cid
from test_tui import HEIGHT, tui  # noqa: F401  (tui: the fixture, used by name)


def _register(stack, unique, prefix):
    name = unique(prefix)
    stack.register(name, "pw-" + name)
    return name


def _token_path(stack, user):
    return os.path.join(stack.home(user), "tokens", user)


def _saved_token(stack, user):
    """The token saved for user in its home, or None."""
    try:
        with open(_token_path(stack, user)) as handle:
            return handle.read().split()[1]
    except FileNotFoundError:
        return None


# -- the scriptable command -------------------------------------------------


def assert_second_message_held(cli, user, room, seconds):
    """user joins room and sends twice: the second, within the slow mode's
    window, is refused with 429 and the broker's reason."""
    raw = cli.logged_in(user, "pw-" + user)
    try:
        raw.join(room)
        raw.send(room, "first")
        reply = raw.request("SEND", room, new_cid(), "too soon")
        assert reply[1] == "ERROR" and reply[3] == "429", reply
        assert reply[4] == "slow mode: one message every %d s" % seconds, reply
    finally:
        raw.close()

def test_cli_slowmode_by_the_creator_holds_a_second_message(cli, unique):
    owner = _register(cli, unique, "owner")
    guest = _register(cli, unique, "guest")
    room = unique("calm")
    made = cli.pychat("create-room", room, user=owner, password="pw-" + owner)
    assert made.returncode == 0, made.stderr
    result = cli.pychat("slowmode", "#" + room, "30", user=owner, password="pw-" + owner)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "slow mode in #%s: one message every 30 s\n" % room, result.stdout
    # A member's second message within the 30 s is refused with 429, as the broker says
    assert_second_message_held(cli, guest, room, 30)
    # ... and `pychat send` says so, and gives up when --timeout runs out first
    held = cli.pychat("--timeout", "2", "send", room, "still too soon", user=guest,
                      password="pw-" + guest)
    assert held.returncode == 3, (held.returncode, held.stderr)
    assert "held back by the server (slow mode: one message every 30 s)" in held.stderr, held.stderr
    assert "the server was holding the message back" in held.stderr, held.stderr
    # the creator is not held; 0 ends slow mode, and the member may write again
    assert cli.pychat("send", room, "creator 1", user=owner, password="pw-" + owner).returncode == 0
    ended = cli.pychat("slowmode", room, "0", user=owner, password="pw-" + owner)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout == "slow mode in #%s ended\n" % room, ended.stdout
    again = cli.pychat("send", room, "after the end", user=guest, password="pw-" + guest)
    assert again.returncode == 0, again.stderr


def test_cli_slowmode_refusals_and_exit_codes(cli, unique):
    owner = _register(cli, unique, "owner")
    other = _register(cli, unique, "other")
    room = unique("ruled")
    assert cli.pychat("create-room", room, user=owner, password="pw-" + owner).returncode == 0
    # not the creator nor an admin: 403, exit 2
    refused = cli.pychat("slowmode", room, "5", user=other, password="pw-" + other)
    assert refused.returncode == 2, (refused.returncode, refused.stderr)
    assert refused.stdout == ""
    assert ("slowmode #%s refused: only the room's creator or an admin may set slow mode"
            % room) in refused.stderr, refused.stderr
    # no such room: 404, exit 2
    nowhere = unique("nowhere")
    missing = cli.pychat("slowmode", nowhere, "5", user=owner, password="pw-" + owner)
    assert missing.returncode == 2, (missing.returncode, missing.stderr)
    assert "no such room: %s" % nowhere in missing.stderr, missing.stderr
    # missing or extra arguments: usage, exit 1
    for args in (["slowmode"], ["slowmode", room], ["slowmode", room, "5", "6"]):
        usage = cli.pychat(*args, user=owner, password="pw-" + owner)
        assert usage.returncode == 1, (args, usage.returncode, usage.stderr)
        assert "slowmode ROOM SECONDS" in usage.stderr, usage.stderr
    # a bad SECONDS: exit 4 before anything else (no password, no token,
    # nothing listening at --server: any attempt would exit 1 or 3)
    for bad in ("abc", "-1", "99999", "3601", "1.5", "", " 5", "+5"):
        result = cli.pychat("--server", "tcp://127.0.0.1:1", "--timeout", "1", "slowmode", room, bad,
                            user=other, home=cli.home(unique("nohome")))
        assert result.returncode == 4, (bad, result.returncode, result.stderr)
        assert "bad SECONDS" in result.stderr and "0-3600" in result.stderr, result.stderr
    # the limits themselves are accepted
    for good in ("3600", "0"):
        result = cli.pychat("slowmode", room, good, user=owner, password="pw-" + owner)
        assert result.returncode == 0, (good, result.stderr)


def test_help_names_slowmode(cli):
    usage = cli.pychat("--help")
    assert usage.returncode == 0 and "slowmode ROOM SECONDS" in usage.stdout, usage.stdout


# -- the full-screen client ---------------------------------------------------

def _wait_gone(client, timeout=10.0):
    """Waits until the client's process (its tmux session) has ended."""
    deadline = time.monotonic() + timeout
    while client._tmux("has-session", "-t", client.session, check=False).returncode == 0:
        assert time.monotonic() < deadline, "the client did not exit:\n" + client.screen()
        time.sleep(0.1)
    client.alive = False


def _quit(client):
    client.keys("C-u")
    client.type("/quit")
    _wait_gone(client)


def test_tui_resumes_with_the_saved_token_quit_keeps_it_logout_revokes(cli, tui, unique):
    alice = _register(cli, unique, "alice")
    # the CLI logs in once with the password and saves this device's token
    first = cli.pychat("rooms", user=alice, password="pw-" + alice)
    assert first.returncode == 0, first.stderr
    token = _saved_token(cli, alice)
    assert token, "the CLI saved no token"
    # no password at hand: the token logs in, no form
    client = tui(alice, None)
    screen = client.wait("[connected]")
    assert "sign in" not in screen and "Password" not in screen, screen
    assert "[connected] %s" % alice in screen, screen
    _quit(client)
    # /quit sent LOGOUT keep: the same token is still saved and still valid
    assert _saved_token(cli, alice) == token
    again = cli.pychat("sessions", user=alice)
    assert again.returncode == 0 and "(current)" in again.stdout, (again.stdout, again.stderr)
    # /logout revokes it on the server and forgets it here
    client = tui(alice, None)
    client.wait("[connected]")
    client.type("/logout")
    _wait_gone(client)
    assert _saved_token(cli, alice) is None
    raw = cli.client()
    try:
        reply = raw.request("RESUME", alice, token, "x", timeout=10)
        assert reply[1] == "ERROR" and reply[3] == "401", reply
    finally:
        raw.close()
    # and the next start asks
    client = tui(alice, None)
    client.wait("sign in")


def test_tui_revoked_token_shows_the_form_then_a_form_login_saves_one(cli, tui, unique):
    bob = _register(cli, unique, "bob")
    assert cli.pychat("rooms", user=bob, password="pw-" + bob).returncode == 0
    old = _saved_token(cli, bob)
    assert old
    # revoked from another device (every token of bob's: '*')
    raw = cli.logged_in(bob, "pw-" + bob)
    try:
        raw.ok("REVOKE", "*", timeout=10)
    finally:
        raw.close()
    client = tui(bob, None)
    screen = client.wait("Your saved session has ended; please log in again.")
    assert "sign in" in screen and "[connected]" not in screen, screen
    assert _saved_token(cli, bob) is None, "the refused token was kept"
    client.type("pw-" + bob)                        # the password field has the focus
    client.wait("[connected]")
    path = _token_path(cli, bob)
    new = _saved_token(cli, bob)
    assert new and new != old
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    _quit(client)
    # the next start goes straight in with it
    client = tui(bob, None)
    screen = client.wait("[connected]")
    assert "ended" not in screen, screen


def test_tui_slowmode(cli, tui, unique):
    carol = _register(cli, unique, "carol")
    dave = _register(cli, unique, "dave")
    room = unique("slow")
    assert cli.pychat("create-room", room, user=carol, password="pw-" + carol).returncode == 0
    client = tui(carol, "pw-" + carol)
    client.wait("[connected]")
    client.type("/join " + room)
    client.wait(lambda s: "#%s>" % room in s and "#%s (" % room in s)
    client.type("/slowmode 7")
    client.wait("slow mode in #%s: one message every 7 s" % room)
    assert_second_message_held(cli, dave, room, 7)
    client.type("/slowmode abc")
    client.wait("slowmode: SECONDS is a whole number 0-3600")
    nowhere = unique("nowhere")
    client.type("/slowmode %s 5" % nowhere)
    client.wait("slowmode #%s: no such room: %s" % (nowhere, nowhere))
    client.type("/slowmode #%s 0" % room)
    client.wait("slow mode in #%s ended" % room)
    # Tab completes the command
    client.type("/slowm", enter=False)
    client.keys("Tab")
    client.wait(lambda s: s.split("\n")[HEIGHT - 1].rstrip().endswith("> /slowmode"))
