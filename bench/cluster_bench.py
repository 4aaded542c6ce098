#!/usr/bin/python3
"""Several brokers (issue 17): what the multi-broker path costs per message,
and how long failovers take. One machine, so no speed-up is expected from
more brokers: the figures are the price of Redis numbering and publishing
every message and of delivering from a subscription.

  cluster_bench.py [--quick]

Three set-ups, each on a private Redis in the same run, with the same
pcbench (A: one publisher, S subscribers, as fast as acknowledged; B: fixed
rates, latency):
  alone      one broker, its own numbering-ahead path (today's default)
  1 broker   the same broker in multi-broker mode (PYCHAT_BROKER_ID set)
  3 brokers  three brokers in multi-broker mode, users spread over them
             (the publisher on the first), so the room spans all three
and for each the CPU seconds the brokers and Redis spent per 1,000
deliveries. Then failover times:
  broker     kill -9 of the broker N `pychat listen` clients are on, to all
             of them ready again on the others (seed lists, resume tokens)
  redis      kill -9 of the Redis primary (a replica, three Sentinels), to the
             first SEND acknowledged again
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from cluster import Node, start_with_sentinels  # noqa: E402
from stack import RawClient, Stack, new_cid, wait_for  # noqa: E402

PCBENCH = os.path.join(HERE, "out", "pcbench")
BIN = os.environ.get("PYCHAT_BIN") or os.path.join(ROOT, "bin")
NO_LIMITS = {"PYCHAT_RATE_SEND": "0", "PYCHAT_RATE_QUERY": "0", "PYCHAT_RATE_SESSION": "0"}


def say(text):
    print("cluster_bench: " + text, file=sys.stderr, flush=True)


def cpu_seconds(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError):
            pass
    return total


def setup(brokers, cluster):
    stack = Stack(BIN, name="cluster-bench")
    stack.env.update(NO_LIMITS)
    if cluster:
        stack.env["PYCHAT_BROKER_ID"] = "b1"
    stack.start(["authsvc", "broker"])
    nodes = [Node(stack, "b%d" % k).start() for k in range(2, brokers + 1)]
    return stack, nodes


def teardown(stack, nodes):
    for node in nodes:
        node.stop()
    stack.stop()
    stack.cleanup()


def run_pcbench(stack, nodes, size):
    ports = [stack.base] + [node.base for node in nodes]
    cmd = [PCBENCH, "pychat", "--ports", ",".join(map(str, ports)), "--data", stack.data,
           "--pid", str(stack.procs["broker"].pid), "--users", str(size["users"]), "--no-c",
           "--subs-a", size["subs_a"], "--subs-b", str(size["subs_b"]),
           "--rates-b", size["rates_b"], "--dur-a", str(size["dur"]), "--dur-b", str(size["dur"])]
    pids = [stack.procs["broker"].pid, stack.redis.pid] + [node.proc.pid for node in nodes]
    before = cpu_seconds(pids)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         timeout=600).stdout
    spent = cpu_seconds(pids) - before
    rows = []
    for line in out.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    deliveries = sum((r.get("deliveries_per_s") or 0) * (r.get("seconds") or 0) for r in rows)
    return rows, spent * 1e6 / deliveries if deliveries else None    # ms per 1,000


def broker_failover(clients):
    """kill -9 of b2 under `clients` listeners seeded b2,b1,b3: seconds
    until every one of them said it reconnected (on another broker)."""
    stack, nodes = setup(3, True)
    try:
        stack.register("watcher", "pw")
        seeds = [nodes[0].endpoint(), stack.endpoint(0), nodes[1].endpoint()]
        stack.env["PYCHAT_SERVER"] = ",".join(seeds)
        listeners = [stack.listen("lobby", user="watcher", password="pw",
                                  home=stack.home("watcher-%d" % i)) for i in range(clients)]
        killed = time.monotonic()
        nodes[0].kill()
        wait_for(lambda: all("reconnected" in l.stderr_text() for l in listeners), 120, 0.05,
                 "every listener to resume on another broker")
        seconds = time.monotonic() - killed
        for listener in listeners:
            listener.stop()
        nodes.pop(0)
        return seconds
    finally:
        stack.env.pop("PYCHAT_SERVER", None)
        teardown(stack, nodes)


def redis_failover():
    """kill -9 of the Redis primary under a sender on b1: seconds until a
    SEND is acknowledged again (Sentinel's down-after is 1 s)."""
    stack = Stack(BIN, name="cluster-bench-redis")
    sentinels = None
    try:
        sentinels = start_with_sentinels(stack)
        time.sleep(2)                   # the Sentinels learn of the replica
        stack.register("sender", "pw")
        client = RawClient(stack)
        client.login("sender", "pw")
        client.join("lobby")
        client.send("lobby", "before")
        killed = time.monotonic()
        stack.redis.kill()
        stack.redis.wait()
        cid = new_cid()
        while time.monotonic() - killed < 60:
            try:
                reply = client.request("SEND", "lobby", cid, "after", timeout=2)
            except TimeoutError:
                continue
            if reply[1] == "OK":
                return time.monotonic() - killed
            time.sleep(0.05)
        return None
    finally:
        stack.stop()
        if sentinels:
            sentinels.stop()
        stack.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--failover-only", action="store_true", help="only the failover times")
    args = parser.parse_args()
    size = {"users": 101, "subs_a": "1,100", "subs_b": 100, "rates_b": "500,2000",
            "dur": 3 if args.quick else 6}
    if not os.access(PCBENCH, os.X_OK):
        subprocess.run(["make", "-s", "-C", HERE], check=True)
    results = {}
    setups = () if args.failover_only else (("alone", 1, False), ("1 broker", 1, True),
                                            ("3 brokers", 3, True))
    for label, brokers, cluster in setups:
        say("%s: A S=1,100 and B 500/s, 2000/s" % label)
        stack, nodes = setup(brokers, cluster)
        try:
            results[label] = run_pcbench(stack, nodes, size)
        finally:
            teardown(stack, nodes)
    clients = 10 if args.quick else 50
    say("failover: kill -9 of a broker under %d listeners" % clients)
    broker_s = broker_failover(clients)
    say("failover: kill -9 of the Redis primary")
    redis_s = redis_failover()

    def figure(rows, workload, subs, rate, key):
        for r in rows:
            if r["workload"] == workload and r["subscribers"] == subs and (r["rate"] or 0) == rate:
                return r.get(key)
        return None
    print("\nSeveral brokers, one machine (%d cores), %s sizes, same run:" %
          (os.cpu_count(), "quick" if args.quick else "full"))
    print("| set-up | A S=1 deliveries/s | A S=100 deliveries/s | B 500/s p99 us | "
          "B 2000/s p99 us | CPU ms per 1k deliveries |")
    print("|---|---|---|---|---|---|")
    for label, (rows, cpu) in results.items():
        cells = [figure(rows, "A", 1, 0, "deliveries_per_s"), figure(rows, "A", 100, 0, "deliveries_per_s"),
                 figure(rows, "B", 100, 500, "p99_us"), figure(rows, "B", 100, 2000, "p99_us"), cpu]
        text = ["-" if c is None else "{:,.0f}".format(c) for c in cells[:4]]
        text.append("-" if cpu is None else "%.2f" % cpu)
        print("| %s | %s |" % (label, " | ".join(text)))
    print("failover: broker kill -9 -> all %d listeners ready on other brokers: %.2f s" % (clients, broker_s))
    print("failover: Redis primary kill -9 -> SENDs acknowledged again: %s"
          % ("%.2f s" % redis_s if redis_s is not None else "not within 60 s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
