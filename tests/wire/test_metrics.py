"""The monitor as Prometheus and an operator see it (README, "Monitoring"):
/metrics passes `promtool check metrics` with no warning, the shipped alert
rules pass `promtool check rules`, and the rules and the Grafana dashboard
name only metrics that /metrics exposes; room labels are bounded; a member
stays a member while any of their sessions is in the room; moderation
reaches the monitor's event log; a broker restart raises no false
authsvc_down alert."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from stack import RawClient, wait_for

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
RULES = os.path.join(ROOT, "dist", "prometheus", "pychat-rules.yml")
DASHBOARD = os.path.join(ROOT, "dist", "grafana", "pychat-dashboard.json")
TOP_ROOMS = 3
STACK_ENV = {"PYCHAT_METRICS_TOP_ROOMS": str(TOP_ROOMS)}

#  Names PromQL uses that are not metrics
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "delta", "by", "without",
    "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "histogram_quantile", "le", "topk", "bottomk", "time", "abs", "clamp_min", "clamp_max",
    "vector", "scalar", "label_replace", "changes", "resets", "absent", "sort_desc",
    "max_over_time", "min_over_time", "avg_over_time", "sum_over_time", "inf", "nan",
}


@pytest.fixture(scope="module")
def mon(stack):
    if not stack.alive("monitor"):
        pytest.skip("not built yet: pychat-monitor")
    return stack


def metrics_text(stack):
    url = "http://127.0.0.1:%d/metrics" % (stack.base + 4)
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def samples(text):
    """{(name, labels text): value} of every sample line."""
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        assert match, "not a sample line: %r" % line
        found[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return found


def gauge(stack, name, labels=""):
    return samples(metrics_text(stack)).get((name, labels))


def promtool():
    tool = shutil.which("promtool")
    if not tool:
        pytest.skip("promtool not installed (Debian package prometheus: make deps)")
    return tool


_registered = set()


def traffic(stack):
    if stack not in _registered:
        stack.register("met-ann", "pw-ma")
        stack.register("met-bob", "pw-mb")
        _registered.add(stack)
    ann = stack.logged_in("met-ann", "pw-ma")
    bob = stack.logged_in("met-bob", "pw-mb")
    for index in range(TOP_ROOMS + 3):
        room = "metroom%d" % index
        ann.join(room)
        bob.join(room)
        for count in range(index + 1):
            ann.send(room, "hello %d" % count)
    bad = RawClient(stack)
    bad.error("LOGIN", "met-ann", "not-the-password")
    return ann, bob


def test_live_metrics_pass_promtool_with_no_warning(mon):
    tool = promtool()
    traffic(mon)
    wait_for(lambda: (gauge(mon, "pychat_messages_all_total") or 0) >= 21, 15, 0.3,
             "the monitor to count the messages")
    text = metrics_text(mon)
    checked = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), \
        "promtool check metrics exited %d:\n%s%s" % (checked.returncode, checked.stdout,
                                                   checked.stderr)
    found = samples(text)
    names = {name for name, _ in found}
    for name in ("pychat_build_info", "process_start_time_seconds",
                 "process_resident_memory_bytes", "process_cpu_seconds_total",
                 "process_open_fds", "pychat_broker_delivery_seconds_bucket",
                 "pychat_broker_delivery_seconds_sum", "pychat_broker_delivery_seconds_count"):
        assert name in names, (name, sorted(names))
    version = open(os.path.join(ROOT, "proto", "pc_version.h")).read()
    version = re.search(r'PC_VERSION\s+"([^"]+)"', version).group(1)
    assert found[("pychat_build_info", '{version="%s"}' % version)] == 1
    # every delivered message is one observation of the latency histogram
    assert found[("pychat_broker_delivery_seconds_count", "")] >= 21 or wait_for(
        lambda: (gauge(mon, "pychat_broker_delivery_seconds_count") or 0) >= 21, 10, 0.3,
        "the broker's latency histogram to count the deliveries")


def test_room_labels_are_bounded(mon):
    """Rooms beyond PYCHAT_METRICS_TOP_ROOMS (the busiest) add up in room="_other"."""
    traffic(mon)
    wait_for(lambda: (gauge(mon, "pychat_messages_all_total") or 0) >= 21, 15, 0.3,
             "the monitor to count the messages")
    found = samples(metrics_text(mon))
    rooms = {labels for name, labels in found if name == "pychat_messages_total"}
    assert len(rooms) <= TOP_ROOMS + 1, rooms
    assert '{room="_other"}' in rooms, rooms
    total = sum(value for (name, _), value in found.items() if name == "pychat_messages_total")
    assert total == found[("pychat_messages_all_total", "")], found
    # the busiest rooms keep their own series
    assert '{room="metroom5"}' in rooms, rooms
    members = {labels for name, labels in found if name == "pychat_room_members"}
    assert members == rooms, (members, rooms)


def rule_and_dashboard_exprs():
    exprs = []
    text = open(RULES).read()
    exprs += re.findall(r"^\s*expr:\s*(.+)$", text, re.M)
    dashboard = json.load(open(DASHBOARD))
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels += panel.get("panels", [])
        exprs += [target["expr"] for target in panel.get("targets", [])]
    return exprs


def referenced_metrics(expr):
    expr = re.sub(r'"[^"]*"', '""', expr)            # label values
    expr = re.sub(r"\[[^\]]*\]", "", expr)            # ranges
    expr = re.sub(r"\{[^}]*\}", "", expr)             # matchers
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {word for word in words if word not in PROMQL_WORDS and not re.match(r"^\d", word)}


def test_rules_pass_promtool_and_name_only_live_metrics(mon):
    tool = promtool()
    checked = subprocess.run([tool, "check", "rules", RULES], capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout, checked.stdout
    traffic(mon)
    wait_for(lambda: (gauge(mon, "pychat_broker_delivery_seconds_count") or 0) > 0, 15, 0.3,
             "a delivery in the histogram")
    names = {name for name, _ in samples(metrics_text(mon))}
    exprs = rule_and_dashboard_exprs()
    assert len(exprs) >= 10, exprs
    missing = {}
    for expr in exprs:
        for name in referenced_metrics(expr):
            if name not in names:
                missing.setdefault(name, expr)
    assert not missing, "named by the rules or dashboard, absent from /metrics: %r" % missing


def test_dashboard_covers_the_console(mon):
    """Every figure the console shows has a panel."""
    titles = " | ".join(panel.get("title", "").lower()
                        for panel in json.load(open(DASHBOARD))["panels"])
    for figure in ("messages", "online", "failed logins", "direct messages", "rejected",
                   "malformed", "broker", "auth", "redis", "file", "alerts", "rooms",
                   "members", "memory", "sessions", "journal", "latency"):
        assert figure in titles, (figure, titles)


# -- issue 16: membership per session, moderation in the event log ----------

def test_a_second_session_logging_out_keeps_the_membership(mon):
    """dave listens in a room; a one-shot `pychat rooms` as dave (a login and
    a logout) must not take him out of the room in the monitor."""
    if not mon.has_binary("pychat"):
        pytest.skip("not built yet: pychat")
    mon.register("dave", "pw-dave")
    mon.register("erin", "pw-erin")
    erin = mon.logged_in("erin", "pw-erin")
    erin.join("daveroom")
    for count in range(40):             # the busiest room: a label of its own
        erin.send("daveroom", "busy %d" % count)
    listener = mon.listen("daveroom", user="dave", password="pw-dave")
    wait_for(lambda: gauge(mon, "pychat_room_members", '{room="daveroom"}') == 2, 10, 0.2,
             "two members of daveroom")
    once = mon.pychat("rooms", user="dave", password="pw-dave")
    assert once.returncode == 0, once.stderr
    who = mon.pychat("who", "daveroom", user="erin", password="pw-erin")
    assert "dave" in who.stdout, who.stdout
    # the logout event has gone through; give heartbeats time too
    time.sleep(3)
    assert gauge(mon, "pychat_room_members", '{room="daveroom"}') == 2
    stats = mon.stats()
    assert stats["rooms"]["daveroom"]["members"] == 2, stats["rooms"]
    assert "dave" in stats["online"], stats["online"]
    assert listener.stop() == 130, listener.stderr_text()
    wait_for(lambda: gauge(mon, "pychat_room_members", '{room="daveroom"}') == 1, 10, 0.2,
             "dave to leave with his last session")


def test_a_restarted_monitor_learns_who_is_in_a_room(fresh_stack):
    """The broker names each room's members in turn with its heartbeat: a
    monitor that starts after the joins counts them all the same."""
    stack = fresh_stack
    if not stack.alive("monitor"):
        pytest.skip("not built yet: pychat-monitor")
    stack.register("rita", "pw-rita")
    stack.register("sam", "pw-sam")
    rita = stack.logged_in("rita", "pw-rita")
    sam = stack.logged_in("sam", "pw-sam")
    rita.join("lateroom")
    sam.join("lateroom")
    wait_for(lambda: stack.stats()["rooms"].get("lateroom", {}).get("members") == 2, 10, 0.2,
             "two members of lateroom")
    assert stack.stop_service("monitor") == 0
    stack.start_service("monitor")
    stack.wait_monitor()
    wait_for(lambda: stack.stats()["rooms"].get("lateroom", {}).get("members") == 2, 10, 0.3,
             "the new monitor to count lateroom's two members")
    assert gauge(stack, "pychat_room_members", '{room="lateroom"}') == 2


def events_of(stack, kind):
    return [event["text"] for event in stack.stats()["events"] if event["kind"] == kind]


def test_moderation_reaches_the_monitor_event_log(mon):
    for binary in ("pychat", "pychat-admin"):
        if not mon.has_binary(binary):
            pytest.skip("not built yet: " + binary)
    env = dict(mon.env, PYCHAT_PASSWORD="chief-pw")
    made = subprocess.run([mon.binary("pychat-admin"), "create-admin", "chief"], env=env,
                          capture_output=True, text=True, timeout=30, cwd=mon.tmp)
    assert made.returncode == 0, made.stderr

    def chief(*args):
        result = mon.pychat(*args, user="chief", password="chief-pw")
        assert result.returncode == 0, (args, result.stderr)
    mon.register("kate", "pw-kate")
    mon.register("gone", "pw-gone")
    kate = mon.logged_in("kate", "pw-kate")
    kate.join("modroom")
    chief("admin", "kick", "modroom", "kate")
    chief("admin", "ban", "kate")
    chief("admin", "unban", "kate")
    chief("admin", "delete", "gone")
    wait_for(lambda: events_of(mon, "kick") and events_of(mon, "ban")
             and events_of(mon, "unban") and events_of(mon, "delete"), 10, 0.3,
             "kick, ban, unban and delete in the monitor's event log: %r"
             % [(e["kind"], e["text"]) for e in mon.stats()["events"]][-12:])
    assert any("chief" in text and "kate" in text for text in events_of(mon, "kick"))
    assert any("chief" in text and "kate" in text for text in events_of(mon, "ban"))
    assert any("gone" in text for text in events_of(mon, "delete"))
    counted = samples(metrics_text(mon))
    for action in ("kick", "ban", "unban", "delete"):
        assert counted[("pychat_admin_actions_total", '{action="%s"}' % action)] >= 1, action


def test_a_role_change_reaches_the_monitor_event_log(mon):
    """pychat-admin create-admin talks to the auth service, not the broker:
    promoting an existing user still shows in the monitor, once."""
    if not mon.has_binary("pychat-admin"):
        pytest.skip("not built yet: pychat-admin")
    mon.register("rolly", "pw-rolly")
    env = dict(mon.env, PYCHAT_PASSWORD="pw-rolly")
    made = subprocess.run([mon.binary("pychat-admin"), "create-admin", "rolly"], env=env,
                          capture_output=True, text=True, timeout=30, cwd=mon.tmp)
    assert made.returncode == 0, made.stderr
    wait_for(lambda: any("rolly" in text for text in events_of(mon, "create-admin")), 10, 0.3,
             "create-admin rolly in the monitor's event log: %r"
             % [(e["kind"], e["text"]) for e in mon.stats()["events"]][-12:])
    time.sleep(4.5)                                     # two more heartbeats: told once
    assert sum("rolly" in text for text in events_of(mon, "create-admin")) == 1
    counted = samples(metrics_text(mon))
    assert counted[("pychat_admin_actions_total", '{action="create-admin"}')] >= 1


# -- issue 16 item 8: a broker restart is not an auth service outage --------

def test_broker_restart_raises_no_authsvc_alert(fresh_stack):
    stack = fresh_stack
    if not stack.alive("monitor"):
        pytest.skip("not built yet: pychat-monitor")
    # the monitor has run long enough to judge the auth service
    wait_for(lambda: stack.stats()["uptime_s"] >= 7, 15, 0.3, "the monitor to run 7 s")
    assert stack.stats()["authsvc"] == "up"
    assert stack.stop_service("broker") == 0
    stack.start_service("broker")
    # no login yet (a login would reach the auth service at once): the new
    # broker learns of the auth service from its own heartbeat PING
    stack.wait_broker()
    # watch several heartbeats of the new broker
    deadline = time.monotonic() + 9
    while time.monotonic() < deadline:
        stats = stack.stats()
        kinds = [alert["kind"] for alert in stats["alerts"]]
        assert "authsvc_down" not in kinds, stats["alerts"]
        time.sleep(0.3)
    raised = [e for e in stack.stats()["events"] if e["kind"] == "alert"]
    assert not [e for e in raised if "authsvc_down" in e["text"]], raised
    assert stack.stats()["authsvc"] == "up"
    assert gauge(stack, "pychat_authsvc_up") == 1
