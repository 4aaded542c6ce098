"""The monitoring half of issue #4: pychat-monitor's extended STATS, its
Prometheus endpoint (GET /metrics on base+4) and alerts, and pychat-console
(--once --json, and the full-screen dashboard driven through tmux)."""

import json
import contextlib
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from stack import OFF_METRICS, SIGNATURE, RawClient, sanitizer_lines, wait_for

C1_COUNT, C2_COUNT = 7, 3


def console_binary(stack):
    return stack.binary("pychat-console")


@pytest.fixture(scope="module")
def mon(stack):
    if not stack.alive("monitor"):
        pytest.skip("not built yet: pychat-monitor")
    if not stack.has_binary("pychat-console"):
        pytest.skip("not built yet: %s" % console_binary(stack))
    return stack


def console_env(stack, **extra):
    env = stack.client_env()
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra)
    return env


def run_console(stack, *args, timeout=30, **extra):
    result = subprocess.run([console_binary(stack)] + list(args), env=console_env(stack, **extra),
                            capture_output=True, text=True, timeout=timeout, cwd=stack.tmp,
                            errors="replace")
    for line in sanitizer_lines(result.stderr):
        stack.client_reports.append("pychat-console %s: %s" % (" ".join(args), line))
    return result


def snapshot(stack):
    """One STATS snapshot through `pychat-console --once --json`."""
    result = run_console(stack, "--once", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def metrics_url(stack, path="/metrics"):
    return "http://127.0.0.1:%d%s" % (stack.base + OFF_METRICS, path)


def scrape(stack):
    """(content type, {sample line name{labels}: value}) of GET /metrics."""
    with urllib.request.urlopen(metrics_url(stack), timeout=5) as reply:
        assert reply.status == 200
        ctype = reply.headers.get("Content-Type")
        text = reply.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return ctype, text, samples


def test_once_json_and_metrics_count_exactly(mon, unique):
    user, c1, c2 = unique("cons"), unique("c1"), unique("c2")
    mon.register(user, "pw-c")
    client = mon.logged_in(user, "pw-c")
    client.join(c1)
    client.join(c2)
    for i in range(C1_COUNT):
        client.send(c1, "one %d" % i)
    for i in range(C2_COUNT):
        client.send(c2, "two %d" % i)

    def counted():
        stats = snapshot(mon)
        rooms = stats["rooms"]
        return stats if (rooms.get(c1, {}).get("messages") == C1_COUNT
                         and rooms.get(c2, {}).get("messages") == C2_COUNT) else None
    stats = wait_for(counted, 10, 0.3, "the console to show the counts")
    for key in ("messages_total", "users_online", "login_failures_total", "rooms", "online",
                "uptime_s", "rate_1s", "rate_1m", "rate_15m", "dms_total", "rejects_total",
                "alerts", "broker", "authsvc_last_heard_ms", "redis", "memory_rss_bytes",
                "events", "rate_history"):
        assert key in stats, (key, stats)
    assert stats["rooms"][c1] ["members"] == 1 and stats["rooms"][c2]["members"] == 1
    assert stats["messages_total"] >= C1_COUNT + C2_COUNT
    assert user in stats["online"]
    assert stats["memory_rss_bytes"] > 0
    assert len(stats["rate_history"]) == 60
    assert any(e["kind"] == "join" and c1 in e["text"] for e in stats["events"]), stats["events"]

    def scraped():
        _, _, samples = scrape(mon)
        return samples if samples.get('pychat_messages_total{room="%s"}' % c1) == C1_COUNT \
            and samples.get('pychat_messages_total{room="%s"}' % c2) == C2_COUNT else None
    samples = wait_for(scraped, 10, 0.3, "GET /metrics to show the counts")
    ctype, text, samples = scrape(mon)
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    total = snapshot(mon)["messages_total"]
    assert samples["pychat_messages_all_total"] == total
    for name in ("pychat_messages_all_total", "pychat_users_online", "pychat_login_failures_total",
                 "pychat_dms_total", "pychat_rejects_total", "pychat_broker_sessions",
                 "pychat_broker_up", "pychat_authsvc_up", "pychat_redis_up",
                 "pychat_monitor_uptime_seconds", "pychat_monitor_memory_bytes"):
        assert name in samples, (name, text)
        assert "# HELP %s " % name in text and "# TYPE %s " % name in text, name
    for family in ("pychat_messages_total", "pychat_alerts_active", "pychat_alerts_total"):
        assert "# TYPE %s " % family in text, family
    # health comes with the broker's heartbeat, every 2 s
    wait_for(lambda: scrape(mon)[2]["pychat_broker_up"] == 1
             and scrape(mon)[2]["pychat_redis_up"] == 1
             and scrape(mon)[2]["pychat_authsvc_up"] == 1, 10, 0.3, "the services to be up")
    # every sample line is name{labels} value, as Prometheus reads it
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.match(r'^[a-z_]+(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? [0-9.e+-]+$',
                            line), line
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(metrics_url(mon, "/other"), timeout=5)
    assert err.value.code == 404


def test_dm_and_reject_are_counted(mon, unique):
    before = snapshot(mon)
    raw = RawClient(mon)
    raw.send_raw([SIGNATURE, "PING", "x", "surplus"])          # malformed: a reject
    raw.recv(5)
    wait_for(lambda: snapshot(mon)["rejects_total"] >= before["rejects_total"] + 1, 10, 0.3,
             "the reject to be counted")


def test_failed_login_burst_raises_alert(mon, unique):
    user = unique("victim")
    mon.register(user, "right")
    before = snapshot(mon)["login_failures_total"]
    raw = RawClient(mon)
    for _ in range(6):
        assert raw.error("LOGIN", user, "wrong", timeout=10) in (401, 429)

    def alerted():
        stats = snapshot(mon)
        return stats if any(a["kind"] == "login_failures" for a in stats["alerts"]) else None
    stats = wait_for(alerted, 10, 0.3, "the login_failures alert")
    assert stats["login_failures_total"] == before + 6, stats["login_failures_total"]
    assert stats["login_failures_1m"] >= 6
    alert = [a for a in stats["alerts"] if a["kind"] == "login_failures"][0]
    assert alert["since_ms"] > 0 and alert["detail"]
    wait_for(lambda: scrape(mon)[2].get('pychat_alerts_active{kind="login_failures"}') == 1,
             10, 0.3, "pychat_alerts_active{kind=\"login_failures\"} 1")
    samples = scrape(mon)[2]
    assert samples['pychat_alerts_total{kind="login_failures"}'] >= 1
    assert samples["pychat_login_failures_total"] >= before + 6
    assert "alert login_failures raised" in mon.log_text("monitor")


def test_once_times_out_with_exit_3(mon):
    start = time.monotonic()
    result = run_console(mon, "--once", "--json", "--timeout", "1",
                         PYCHAT_MONITOR="tcp://127.0.0.1:%d" % (mon.base + 8))
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert time.monotonic() - start < 10


def _tmux(socket, *args):
    return subprocess.run(["tmux", "-S", socket] + list(args), capture_output=True, text=True,
                          timeout=10)


def test_dashboard_in_tmux_survives_resize(mon, unique):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    user, room = unique("tmuxer"), unique("tmuxroom")
    mon.register(user, "pw-t")
    client = mon.logged_in(user, "pw-t")
    client.join(room)
    client.send(room, "hello tmux")
    socket = os.path.join(mon.tmp, "tmux.sock")
    errors = os.path.join(mon.tmp, "console.err")
    env = console_env(mon, TERM="xterm-256color")
    command = "exec env %s %s 2>%s" % (
        " ".join("%s='%s'" % (k, v) for k, v in env.items()
                 if k.startswith(("PYCHAT_", "ASAN_", "UBSAN_", "LANG"))),
        console_binary(mon), errors)
    started = _tmux(socket, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                    command)
    assert started.returncode == 0, started.stderr
    try:
        pid = int(_tmux(socket, "display-message", "-p", "#{pane_pid}").stdout.strip())

        def screen():
            return _tmux(socket, "capture-pane", "-p").stdout
        wait_for(lambda: room in screen(), 15, 0.2, "the room to be shown")
        text = screen()
        assert "Rooms" in text and "Events" in text and "Alerts" in text, text
        assert "Messages" in text, text
        _tmux(socket, "resize-window", "-x", "60", "-y", "15")
        time.sleep(1.0)
        small = screen()
        assert os.path.exists("/proc/%d" % pid), "the console died at 60x15"
        assert "Rooms" in small or "too small" in small, small
        _tmux(socket, "resize-window", "-x", "20", "-y", "5")
        wait_for(lambda: "too small" in screen(), 5, 0.2, "'terminal too small' at 20x5")
        _tmux(socket, "resize-window", "-x", "120", "-y", "40")
        wait_for(lambda: room in screen(), 10, 0.2, "the room after resizing back")
        assert os.path.exists("/proc/%d" % pid)
        # keys: help, focus, filter, quit
        _tmux(socket, "send-keys", "?")
        wait_for(lambda: "ban the user selected in Users" in screen(), 5, 0.2, "the help")
        _tmux(socket, "send-keys", "x", "3", "/")
        _tmux(socket, "send-keys", "-l", "no-such-room")
        _tmux(socket, "send-keys", "Enter")
        wait_for(lambda: "Rooms (0) filter: no-such-room" in screen(), 5, 0.2,
                 "the filter to hide the room")
        _tmux(socket, "send-keys", "Escape")
        wait_for(lambda: "filter:" not in screen(), 5, 0.2, "Esc to clear the filter")
        with open(os.path.join(mon.tmp, "console-screen.txt"), "w") as handle:
            handle.write(screen())
        _tmux(socket, "send-keys", "q")
        wait_for(lambda: not os.path.exists("/proc/%d" % pid)
                 or open("/proc/%d/stat" % pid).read().split()[2] == "Z", 10, 0.2,
                 "the console to quit on q")
    finally:
        _tmux(socket, "kill-server")
    with open(errors, errors="replace") as handle:
        reports = sanitizer_lines(handle.read())
    assert not reports, reports


@contextlib.contextmanager
def console_in_tmux(stack, name, **extra):
    """The dashboard in a 120x40 tmux; yields (screen, keys): screen() is the
    text on it, keys(*args) is tmux send-keys. Checks for sanitizer reports
    when it is closed."""
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    socket = os.path.join(stack.tmp, "tmux-%s.sock" % name)
    errors = os.path.join(stack.tmp, "console-%s.err" % name)
    env = console_env(stack, TERM="xterm-256color", **extra)
    command = "exec env %s %s 2>%s" % (
        " ".join("%s='%s'" % (k, v) for k, v in env.items()
                 if k.startswith(("PYCHAT_", "ASAN_", "UBSAN_", "LANG"))),
        console_binary(stack), errors)
    started = _tmux(socket, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                    command)
    assert started.returncode == 0, started.stderr

    def screen():
        return _tmux(socket, "capture-pane", "-p").stdout

    def keys(*args):
        _tmux(socket, "send-keys", *args)
    try:
        yield screen, keys
        keys("q")
        time.sleep(0.5)
    finally:
        _tmux(socket, "kill-server")
    with open(errors, errors="replace") as handle:
        reports = sanitizer_lines(handle.read())
    assert not reports, reports


def _select_user(screen, keys, user):
    """Filters the panes down to user and focuses the Users pane."""
    wait_for(lambda: user in screen(), 15, 0.2, "%s in the Users pane" % user)
    keys("/")
    keys("-l", user)
    keys("Enter", "2")
    wait_for(lambda: "filter: %s" % user in screen(), 5, 0.2, "the filter")


def _refused(client, room, what):
    """The client's SENDs turn into 403 within 10 s."""
    deadline = time.monotonic() + 10
    while True:
        reply = client.request("SEND", room, "t-%f" % time.monotonic(), "still here")
        if reply[1] == "ERROR" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "403", (what, reply)


def test_console_ban_answered_n_does_nothing(mon, unique):
    user = unique("cspared")
    room = user + "-room"
    mon.register(user, "pw-s")
    client = mon.logged_in(user, "pw-s")
    client.join(room)
    with console_in_tmux(mon, "spare") as (screen, keys):
        _select_user(screen, keys, user)
        keys("b")
        wait_for(lambda: "Ban %s? (y/n)" % user in screen(), 5, 0.2, "the ban question")
        keys("n")
        wait_for(lambda: "ban of %s cancelled" % user in screen(), 5, 0.2, "the cancel")
        time.sleep(1.0)
        assert "banned %s" % user not in screen()
        assert user in screen(), "the user is still online"
    client.send(room, "not banned")
    assert mon.client().request("LOGIN", user, "pw-s", timeout=10)[1] == "OK"


def test_console_bans_kicks_and_unbans(mon, unique):
    user = unique("cbanned")
    room = user + "-room"
    mon.register(user, "pw-b")
    client = mon.logged_in(user, "pw-b")
    client.join(room)
    client.send(room, "before")
    with console_in_tmux(mon, "ban") as (screen, keys):
        _select_user(screen, keys, user)
        # kick: the room selected in Rooms (the filter leaves only it) is offered
        keys("k")
        wait_for(lambda: "Kick %s from room: %s_" % (user, room) in screen(), 5, 0.2,
                 "the kick prompt")
        keys("Enter")
        wait_for(lambda: "kicked %s from %s" % (user, room) in screen(), 10, 0.2,
                 "the kick's result")
        _refused(client, room, "a kicked session still sends to the room")
        client.join(room)
        client.send(room, "back in")
        # ban: asked first, then the open session ends
        keys("b")
        wait_for(lambda: "Ban %s? (y/n)" % user in screen(), 5, 0.2, "the ban question")
        keys("y")
        wait_for(lambda: "banned %s" % user in screen(), 10, 0.2, "the ban's result")
        _refused(client, room, "10 s after the console's ban, the session still sends")
        reply = mon.client().request("LOGIN", user, "pw-b", timeout=10)
        assert reply[:2] == [SIGNATURE, "ERROR"] and reply[3] == "403", reply
        # unban offers the last banned name (the user is offline now)
        keys("u")
        wait_for(lambda: "Unban user: %s_" % user in screen(), 5, 0.2, "the unban prompt")
        keys("Enter")
        wait_for(lambda: "unbanned %s" % user in screen(), 10, 0.2, "the unban's result")
        # an error comes back as the broker's reason
        keys("u")
        wait_for(lambda: "Unban user: %s_" % user in screen(), 5, 0.2, "the unban prompt")
        keys(*["BSpace"] * (len(user) + 2))
        keys("-l", "zz-nobody")
        keys("Enter")
        wait_for(lambda: "UNBAN" in screen() and "failed: 404" in screen(), 10, 0.2,
                 "the unban of an unknown user to fail")
    assert mon.client().request("LOGIN", user, "pw-b", timeout=10)[1] == "OK"


def test_console_admin_keys_need_the_admin_key(mon, unique):
    user = unique("cnokey")
    mon.register(user, "pw-n")
    client = mon.logged_in(user, "pw-n")
    data = os.path.join(mon.tmp, "nokey-data")
    os.makedirs(os.path.join(data, "keys"), exist_ok=True)
    shutil.copy(os.path.join(mon.env["PYCHAT_DATA"], "keys", "monitor.pub"),
                os.path.join(data, "keys", "monitor.pub"))
    with console_in_tmux(mon, "nokey", PYCHAT_DATA=data) as (screen, keys):
        _select_user(screen, keys, user)
        for key in ("b", "u", "k"):
            keys("x")
            wait_for(lambda: "need the server's admin key" not in screen(), 5, 0.2, "a clear line")
            keys(key)
            wait_for(lambda: "admin actions need the server's admin key (run the console on "
                     "the server host)" in screen(), 5, 0.2, "the no-key notice after %s" % key)
        assert "(y/n)" not in screen()
    client.ok("PING")


def test_console_ban_without_broker_answer_times_out(mon, unique):
    user = unique("cunheard")
    mon.register(user, "pw-u")
    client = mon.logged_in(user, "pw-u")
    # a loopback address nothing listens on (the stack binds 127.0.0.1 only):
    # the connection is refused again and again, the request just waits
    with console_in_tmux(mon, "unheard", PYCHAT_BROKER="127.0.0.2") as (screen, keys):
        _select_user(screen, keys, user)
        keys("b")
        wait_for(lambda: "Ban %s? (y/n)" % user in screen(), 5, 0.2, "the ban question")
        keys("y")
        sent = time.monotonic()
        wait_for(lambda: "waiting for the broker" in screen(), 5, 0.1, "the pending line")
        # the UI is not blocked meanwhile
        keys("Tab")
        wait_for(lambda: "no answer from the broker" in screen(), 10, 0.2, "the timeout")
        assert 2.5 < time.monotonic() - sent < 8
    client.ok("PING")


def test_authsvc_killed_raises_service_alert(fresh_stack):
    stack = fresh_stack
    if not stack.alive("monitor") or not stack.has_binary("pychat-console"):
        pytest.skip("not built yet: pychat-monitor / pychat-console")
    assert not any(a["kind"] == "authsvc_down" for a in snapshot(stack)["alerts"])
    stack.kill_service("authsvc")
    killed = time.monotonic()

    def alerted():
        stats = snapshot(stack)
        return stats if any(a["kind"] == "authsvc_down" for a in stats["alerts"]) else None
    stats = wait_for(alerted, 15, 0.3, "the authsvc_down alert")
    assert time.monotonic() - killed < 15
    assert stats["authsvc"] == "down"
    # /metrics is rendered once a second: it says so within the next render
    wait_for(lambda: scrape(stack)[2]["pychat_authsvc_up"] == 0, 5, 0.2,
             "pychat_authsvc_up 0 in /metrics")
    assert scrape(stack)[2]['pychat_alerts_active{kind="authsvc_down"}'] == 1
    # and it clears when the auth service is back
    stack.start_service("authsvc")
    wait_for(lambda: not any(a["kind"] == "authsvc_down" for a in snapshot(stack)["alerts"]),
             20, 0.3, "the authsvc_down alert to clear")
    assert "alert authsvc_down cleared" in stack.log_text("monitor")


def test_delivery_latency_as_the_broker_sees_it(mon, unique):
    """The broker reports, per heartbeat, how long a SEND took from being
    read to being handed to every member; the monitor shows it in STATS and
    in /metrics. With traffic it is above 0 and below a second."""
    user = unique("lat")
    mon.register(user, "pw-l")
    writer = mon.logged_in(user, "pw-l")
    room = unique("latroom")
    writer.join(room)

    def measured():
        writer.send(room, "tick")
        broker = snapshot(mon).get("broker") or {}
        return broker if broker.get("delivery_max_us", 0) > 0 else None
    broker = wait_for(measured, 15, 0.5, "a delivery latency in STATS")
    assert 0 < broker["delivery_avg_us"] <= broker["delivery_max_us"] < 1000000, broker
    samples = scrape(mon)[2]
    # in base units, the mean as a histogram's sum / count (issue 19)
    assert 0 <= samples["pychat_broker_delivery_max_seconds"] < 1
    assert samples["pychat_broker_delivery_seconds_count"] >= 1
    assert 0 < samples["pychat_broker_delivery_seconds_sum"] < samples["pychat_broker_delivery_seconds_count"]
