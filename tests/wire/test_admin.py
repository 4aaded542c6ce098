"""Account administration with pychat-admin (it talks to the auth service
with the admin key): admins, bans. A ban must reach a user who is already
logged in, not only the next LOGIN (ARCHITECTURE.md, decision 3: "a leave,
kick or ban therefore needs its own design")."""

import subprocess
import time

import pytest

from stack import SIGNATURE


def admin(stack, *args, password=None):
    env = dict(stack.env)
    if password is not None:
        env["PYCHAT_PASSWORD"] = password
    result = subprocess.run([stack.binary("pychat-admin")] + list(args), env=env,
                            capture_output=True, text=True, timeout=30, cwd=stack.tmp)
    stack._note_client_stderr(["pychat-admin"] + list(args), result.stderr)
    return result


@pytest.fixture(scope="module")
def adm(stack):
    if not stack.has_binary("pychat-admin"):
        pytest.skip("not built yet: pychat-admin")
    return stack


def test_create_admin_gets_the_admin_role(adm):
    result = admin(adm, "create-admin", "root", password="root-pw")
    assert result.returncode == 0, result.stderr
    client = adm.client()
    reply = client.request("LOGIN", "root", "root-pw", timeout=10)
    assert reply[:5] == [SIGNATURE, "OK", reply[2], "root", "admin"], reply
    adm.register("plain", "pw")
    reply = adm.client().request("LOGIN", "plain", "pw", timeout=10)
    assert reply[1] == "OK" and reply[4] == "user", reply
    listing = admin(adm, "users")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line.split()[1] for line in listing.stdout.splitlines() if line}
    assert rows.get("root") == "admin" and rows.get("plain") == "user", listing.stdout


def test_ban_refuses_login_and_unban_restores_it(adm):
    adm.register("mallet", "pw-m")
    assert admin(adm, "ban", "mallet").returncode == 0
    reply = adm.client().request("LOGIN", "mallet", "pw-m", timeout=10)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "403", reply
    if adm.has_binary("pychat"):
        cli = adm.pychat("rooms", user="mallet", password="pw-m")
        assert cli.returncode == 2 and "banned" in cli.stderr, (cli.returncode, cli.stderr)
    assert admin(adm, "unban", "mallet").returncode == 0
    assert adm.client().request("LOGIN", "mallet", "pw-m", timeout=10)[1] == "OK"


def test_ban_reaches_a_session_already_logged_in(adm):
    adm.register("trudy", "pw-t")
    adm.register("walt", "pw-w")
    trudy = adm.logged_in("trudy", "pw-t")
    trudy.join("banroom")
    sub = trudy.subscriber()
    walt = adm.logged_in("walt", "pw-w")
    walt.join("banroom")
    walt.send("banroom", "before the ban")
    assert sub.recv(timeout=10)[-1] == "before the ban"

    assert admin(adm, "ban", "trudy").returncode == 0
    # bounded: the broker may learn of the ban on its next heartbeat
    deadline = time.monotonic() + 10
    while True:
        reply = trudy.request("SEND", "banroom", "t-%f" % time.monotonic(), "still here")
        if reply[1] == "ERROR" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "403", (
        "10 s after the ban, trudy's open session still sends: %r" % reply)
    sub.drain(0.3)
    walt.send("banroom", "after the ban")
    got = [m[-1] for m in sub.drain(1.0) if m[2] == "MSG"]
    assert "after the ban" not in got, "a banned session still receives the room"
