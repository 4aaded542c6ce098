"""Moderation from the pychat command line (PROTOCOL.md, "Accounts, roles
and moderation"): admin commands refused to users, a ban that ends a running
listen, a kick that stops delivery to a SUB that keeps its old
subscription, invite-only rooms, passwd, delete-account, and the audit log."""

import subprocess

import pytest

from stack import SIGNATURE, RawSub, redis_command, wait_for


@pytest.fixture(scope="module")
def mod(stack):
    for binary in ("pychat", "pychat-admin"):
        if not stack.has_binary(binary):
            pytest.skip("not built yet: " + binary)
    env = dict(stack.env, PYCHAT_PASSWORD="boss-pw")
    made = subprocess.run([stack.binary("pychat-admin"), "create-admin", "boss"], env=env,
                          capture_output=True, text=True, timeout=30, cwd=stack.tmp)
    assert made.returncode == 0, made.stderr
    return stack


def boss(stack, *args, new_password=None):
    if new_password:
        stack.env["PYCHAT_NEW_PASSWORD"] = new_password
    try:
        return stack.pychat(*args, user="boss", password="boss-pw")
    finally:
        stack.env.pop("PYCHAT_NEW_PASSWORD", None)


def audit_actions(stack):
    """The 'action' of every entry of the Redis stream "audit"."""
    entries = redis_command(stack.redis_port, "XRANGE", "audit", "-", "+")
    return [dict(zip(fields[::2], fields[1::2]))[b"action"].decode() for _, fields in entries]


def test_admin_commands_are_refused_to_users(mod):
    mod.register("norm", "pw-n")
    assert mod.pychat("send", "normroom", "hi", user="norm", password="pw-n").returncode == 0
    for args in (("admin", "users"), ("admin", "ban", "boss"), ("admin", "kick", "normroom", "boss"),
                 ("admin", "delete", "boss")):
        result = mod.pychat(*args, user="norm", password="pw-n")
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        assert "admins only" in result.stderr or "creator" in result.stderr, result.stderr


def test_admin_users_lists_roles_and_bans(mod):
    mod.register("listed", "pw-l")
    result = boss(mod, "admin", "users", "--json")
    assert result.returncode == 0, result.stderr
    import json
    users = {u["name"]: u for u in json.loads(result.stdout)}
    assert users["boss"]["role"] == "admin" and users["listed"]["role"] == "user"
    assert users["listed"]["banned"] is False and users["listed"]["created"] > 0


def test_ban_ends_a_running_listen_and_blocks_login(mod):
    mod.register("victim", "pw-v")
    listener = mod.listen("banlobby", user="victim", password="pw-v")
    result = boss(mod, "admin", "ban", "victim")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: listener.proc.poll() is not None, 10, 0.1, "the banned listen to end")
    assert listener.proc.returncode == 2, listener.stderr_text()
    assert "banned" in listener.stderr_text()
    again = mod.pychat("rooms", user="victim", password="pw-v")
    assert again.returncode == 2 and "banned" in again.stderr, again.stderr
    users = {u.split()[0]: u for u in boss(mod, "admin", "users").stdout.splitlines()}
    assert "BANNED" in users["victim"]
    assert boss(mod, "admin", "unban", "victim").returncode == 0
    assert mod.pychat("rooms", user="victim", password="pw-v").returncode == 0


def test_kick_stops_delivery_to_a_sub_that_keeps_its_subscription(mod):
    mod.register("kate", "pw-k")
    mod.register("walt2", "pw-w")
    kate = mod.logged_in("kate", "pw-k")
    kate.join("kickroom")
    sub = kate.subscriber()              # keeps its subscription throughout
    walt = mod.logged_in("walt2", "pw-w")
    walt.join("kickroom")
    walt.send("kickroom", "before the kick")
    got = sub.recv(timeout=10)
    assert got is not None and got[-1] == "before the kick", got
    result = boss(mod, "admin", "kick", "kickroom", "kate")
    assert result.returncode == 0, result.stderr
    notice = sub.recv(timeout=10)
    assert notice is not None and notice[2] == "NOTICE" and notice[4] == "kicked", notice
    for i in range(5):
        walt.send("kickroom", "after the kick %d" % i)
    later = sub.drain(1.5)
    assert not [m for m in later if m[2] == "MSG"], "a kicked SUB still receives: %r" % later
    # she may come back: the room is open
    kate.join("kickroom")
    walt.send("kickroom", "welcome back")
    assert any(m[-1] == "welcome back" for m in sub.drain(2.0))


def test_invite_only_room_refuses_outsiders(mod):
    mod.register("owner", "pw-o")
    mod.register("outsider", "pw-x")
    mod.register("guest", "pw-g")
    made = mod.pychat("create-room", "club", "--invite-only", user="owner", password="pw-o")
    assert made.returncode == 0, made.stderr
    again = mod.pychat("create-room", "club", user="guest", password="pw-g")
    assert again.returncode == 2, again.stderr
    refused = mod.pychat("send", "club", "let me in", user="outsider", password="pw-x")
    assert refused.returncode == 2 and "invite-only" in refused.stderr, refused.stderr
    # a raw client: JOIN refused, and its own subscription hears nothing of the room
    outsider = mod.logged_in("outsider", "pw-x")
    reply = outsider.request("JOIN", "club")
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "403", reply
    # its history is refused as a room that does not exist is (issue 16):
    # an outsider does not learn what is in it, nor that it is there
    reply = outsider.request("HISTORY", "club", "0", "10")
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3:5] == ["404", "no such room: club"], reply
    spy = outsider.subscriber()
    wildcard = RawSub(mod, keypair=outsider.keypair)
    wildcard.subscribe("")
    wildcard.subscribe("r/club/")
    assert mod.pychat("send", "club", "members only", user="owner", password="pw-o").returncode == 0
    assert spy.drain(1.0) == [] and wildcard.drain(0.5) == []
    # the guest is invited by the owner, and then may join
    assert mod.pychat("invite", "club", "guest", user="guest", password="pw-g").returncode == 2
    invited = mod.pychat("invite", "club", "guest", user="owner", password="pw-o")
    assert invited.returncode == 0, invited.stderr
    sent = mod.pychat("send", "club", "hello club", user="guest", password="pw-g")
    assert sent.returncode == 0, sent.stderr
    history = mod.pychat("history", "club", "--json", user="guest", password="pw-g")
    assert "hello club" in history.stdout and "members only" in history.stdout


def test_passwd_and_delete_account(mod):
    mod.register("pat", "old-pw")
    mod.env["PYCHAT_NEW_PASSWORD"] = "new-pw"
    try:
        wrong = mod.pychat("passwd", user="pat", password="not-it")
        changed = mod.pychat("passwd", user="pat", password="old-pw")
    finally:
        mod.env.pop("PYCHAT_NEW_PASSWORD", None)
    assert wrong.returncode == 2, wrong.stderr
    assert changed.returncode == 0, changed.stderr
    assert mod.pychat("rooms", user="pat", password="old-pw").returncode == 2
    assert mod.pychat("rooms", user="pat", password="new-pw").returncode == 0
    gone = mod.pychat("delete-account", user="pat", password="new-pw")
    assert gone.returncode == 0, gone.stderr
    assert mod.pychat("rooms", user="pat", password="new-pw").returncode == 2
    # and the name is free again
    assert mod.pychat("register", user="pat", password="third-pw").returncode == 0


def test_admin_actions_are_audited(mod):
    mod.register("audited", "pw-a")
    assert boss(mod, "admin", "ban", "audited").returncode == 0
    assert boss(mod, "admin", "unban", "audited").returncode == 0
    assert boss(mod, "admin", "reset-password", "audited", new_password="reset-pw").returncode == 0
    assert mod.pychat("rooms", user="audited", password="reset-pw").returncode == 0
    actions = audit_actions(mod)
    for action in ("ban", "unban", "reset-password"):
        assert action in actions, actions
    monitor_log = mod.log_text("monitor") if mod.has_binary("pychat-monitor") else ""
    assert "reset-pw" not in monitor_log
