"""Accounts through the real client: register, login, names, throttling
(PROTOCOL.md, "Commands to the auth service"; exit codes from "Error codes")."""

import re
import time

from stack import SIGNATURE, RawClient, error_line, number_in


def login(cli, user, password):
    """The client has no bare login command: `rooms` logs in, then lists."""
    return cli.pychat("rooms", user=user, password=password)


def test_register_then_login(cli, unique):
    name = unique("alice")
    reg = cli.pychat("register", user=name, password="pw-alice-1")
    assert reg.returncode == 0, reg.stderr
    result = login(cli, user=name, password="pw-alice-1")
    assert result.returncode == 0, result.stderr


def test_duplicate_register_exit_2(cli, unique):
    name = unique("dup")
    assert cli.pychat("register", user=name, password="first-pw").returncode == 0
    again = cli.pychat("register", user=name, password="second-pw")
    assert again.returncode == 2, (again.returncode, again.stderr)
    assert error_line(again.stderr), "a refusal says why on stderr"
    # the first password still holds; the second one was not stored
    assert login(cli, user=name, password="first-pw").returncode == 0
    assert login(cli, user=name, password="second-pw").returncode == 2


def test_names_are_case_insensitive(cli, unique):
    name = unique("carla")
    assert cli.pychat("register", user=name.capitalize(), password="pw-c").returncode == 0
    again = cli.pychat("register", user=name, password="pw-c2")
    assert again.returncode == 2, (again.returncode, again.stderr)
    # logging in with either spelling is the same account
    assert login(cli, user=name, password="pw-c").returncode == 0
    assert login(cli, user=name.upper(), password="pw-c").returncode == 0


def test_concurrent_register_exactly_one_wins(cli, unique):
    name = unique("race")
    procs = [cli.pychat_popen("register", user=name, password="pw-%d" % i,
                              home=cli.home("%s-home%d" % (name, i))) for i in range(8)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        cli._note_client_stderr(["register"], err.decode(errors="replace"))
        results.append((proc.returncode, err.decode(errors="replace")))
    codes = sorted(code for code, _ in results)
    assert codes == [0] + [2] * 7, results
    winner = [i for i, (code, _) in enumerate(results) if code == 0][0]
    # the winner's password is the one stored
    assert login(cli, user=name, password="pw-%d" % winner).returncode == 0


def test_wrong_password_and_unknown_user_look_the_same(cli, unique):
    name = unique("known")
    assert cli.pychat("register", user=name, password="right-pw").returncode == 0
    wrong = login(cli, user=name, password="wrong-pw")
    unknown = login(cli, user=unique("ghost"), password="wrong-pw")
    assert wrong.returncode == 2, wrong.stderr
    assert unknown.returncode == 2, unknown.stderr
    assert error_line(wrong.stderr), "no error line on stderr"
    assert error_line(wrong.stderr) == error_line(unknown.stderr)
    # and on the wire: the same code and reason
    raw = RawClient(cli)
    a = raw.request("LOGIN", name, "wrong-pw")
    b = raw.request("LOGIN", unique("ghost"), "wrong-pw")
    assert a[:2] == [SIGNATURE, "ERROR"] and a[3] == "401", a
    assert a[3:] == b[3:], (a, b)


def test_invalid_names_exit_4(cli):
    for bad in ("bad name!", "a" * 33, "slash/name"):
        result = cli.pychat("register", user=bad, password="pw")
        assert result.returncode == 4, (bad, result.returncode, result.stderr)
        assert error_line(result.stderr), bad


def test_name_of_32_characters_is_fine(cli):
    name = "n" * 31 + "2"
    assert cli.pychat("register", user=name, password="pw-32").returncode == 0
    assert login(cli, user=name, password="pw-32").returncode == 0


def test_register_raw_reply(stack, unique):
    name = unique("raw")
    client = RawClient(stack)
    assert client.ok("REGISTER", name, "pw-raw", timeout=10) == [name]
    reply = client.request("LOGIN", name, "pw-raw", timeout=10)
    assert reply[1] == "OK", reply
    # OK name role fan-out-port session-topic resume-token token-id
    assert reply[3] == name and reply[4] == "user", reply
    assert reply[5] == str(stack.base + 1), reply
    assert len(reply) == 9 and re.fullmatch(r"s/[0-9a-f]{16}/", reply[6]), reply
    assert re.fullmatch(r"[0-9a-f]{64}", reply[7]) and re.fullmatch(r"[0-9a-f]{16}", reply[8]), reply
    assert client.error("REGISTER", name, "other") == 409
    assert client.error("REGISTER", "Upper", "pw") == 422


def test_throttle_after_five_failures(cli, unique):
    name = unique("slow")
    assert cli.pychat("register", user=name, password="right-pw").returncode == 0
    for attempt in range(5):
        wrong = login(cli, user=name, password="wrong-%d" % attempt)
        assert wrong.returncode == 2, (attempt, wrong.stderr)
    refused = login(cli, user=name, password="right-pw")
    assert refused.returncode == 2, "the right password is refused while locked: %r" % (
        refused.stderr,)
    line = error_line(refused.stderr)
    assert re.search(r"retry|try again", line, re.I), line
    seconds = number_in(line)
    assert seconds is not None and 0 < seconds <= 10, line
    # Waits the time it was told, then tries again; bounded: 10 s in all.
    deadline = time.monotonic() + 10.5
    while True:
        time.sleep(min(seconds + 0.2, max(0.0, deadline - time.monotonic())))
        result = login(cli, user=name, password="right-pw")
        if result.returncode == 0:
            break
        assert result.returncode == 2 and time.monotonic() < deadline, (
            "still refused %.1f s after the lock: %r" % (seconds, result.stderr))
        seconds = number_in(error_line(result.stderr)) or 1
    # a success clears the failures: one wrong password is a plain 401 again
    raw = RawClient(cli)
    assert raw.error("LOGIN", name, "wrong-again", timeout=10) == 401


def test_throttle_raw_detail_and_doubling(stack, unique):
    """429 carries the seconds to wait in its detail field; the lock is 2 s
    after the 5th failure and doubles with the next failure (4 s)."""
    name = unique("slowraw")
    stack.register(name, "right-pw")
    client = RawClient(stack)
    codes = [client.error("LOGIN", name, "bad-%d" % i, timeout=10) for i in range(5)]
    assert codes == [401] * 5, codes
    reply = client.request("LOGIN", name, "right-pw", timeout=10)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "429", reply
    assert len(reply) == 6 and reply[5].isdigit() and 1 <= int(reply[5]) <= 2, reply
    time.sleep(int(reply[5]) + 0.3)         # waits out the lock it was given
    assert client.error("LOGIN", name, "bad-6", timeout=10) == 401
    reply = client.request("LOGIN", name, "right-pw", timeout=10)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "429", reply
    assert 2 < int(reply[5]) <= 4, "the second lock doubles to 4 s: %r" % reply


def test_throttle_per_source(fresh_stack):
    """30 failed LOGINs from one source (PROTOCOL.md: the peer's address,
    since a CURVE key costs nothing to make) lock that source out, whatever
    the account, with 429 and the seconds to wait; a fresh key from the same
    address does not escape the lock, and the lock lifts after the wait. Own
    stack: the lock would spill over into other tests."""
    stack = fresh_stack
    stack.register("real", "real-pw")
    attacker = RawClient(stack)
    codes = []
    while len(codes) < 35 and (not codes or codes[-1] == 401):
        codes.append(attacker.error("LOGIN", "guess-%d" % len(codes), "nope", timeout=10))
    refused_after = codes.index(429) if 429 in codes else None
    assert refused_after is not None, "35 failures from one source and no 429: %r" % codes
    assert 25 <= refused_after <= 30, "the source limit is 30: %r" % codes
    reply = attacker.request("LOGIN", "real", "real-pw", timeout=10)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "429", reply
    assert len(reply) == 6 and reply[5].isdigit() and int(reply[5]) >= 1, reply
    other = RawClient(stack)
    reply = other.request("LOGIN", "real", "real-pw", timeout=10)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "429", (
        "a new key from the same address escaped the source lock: %r" % reply)
    time.sleep(int(reply[5]) + 0.5)
    reply = other.request("LOGIN", "real", "real-pw", timeout=10)
    assert reply[1] == "OK", "the lock did not lift after the wait it named: %r" % reply
