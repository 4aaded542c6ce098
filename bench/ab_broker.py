#!/usr/bin/python3
"""Two broker binaries side by side (issue 18: does search cost the SEND
path anything?): rounds of pcbench's A (one publisher, S=1, as fast as
acknowledged) and B (S=20 at 500 and 2,000 msg/s), alternating the two
brokers on fresh private stacks, with the CPU the broker and Redis spent
per 1,000 deliveries (a figure the machine's other load moves less than
the throughput).

  ab_broker.py OTHER-BROKER [--rounds N] [--dur S]

bin/pychat-broker is "this"; OTHER-BROKER (e.g. main's, built in another
worktree) is "other". Medians over the rounds, with min-max.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from stack import Stack  # noqa: E402

sys.path.insert(0, HERE)
from cluster_bench import NO_LIMITS, PCBENCH, cpu_seconds  # noqa: E402


def one_run(bin_dir, dur):
    stack = Stack(bin_dir, name="ab-broker", redis_socket=True)    # as make up runs it
    stack.env.update(NO_LIMITS)
    try:
        stack.start(["authsvc", "broker"])
        cmd = [PCBENCH, "pychat", "--ports", str(stack.base), "--data", stack.data,
               "--pid", str(stack.procs["broker"].pid), "--users", "21", "--no-c",
               "--subs-a", "1", "--subs-b", "20", "--rates-b", "500,2000",
               "--dur-a", str(dur), "--dur-b", str(dur)]
        pids = [stack.procs["broker"].pid, stack.redis.pid]
        before = cpu_seconds(pids)
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=600).stdout
        spent = cpu_seconds(pids) - before
    finally:
        stack.stop()
        stack.cleanup()
    rows = []
    for line in out.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    result = {}
    deliveries = 0
    for r in rows:
        deliveries += (r.get("deliveries_per_s") or 0) * (r.get("seconds") or 0)
        if r.get("workload") == "A":
            result["A"] = r.get("deliveries_per_s")
        elif r.get("workload") == "B":
            result["B%d" % int(r.get("rate") or 0)] = r.get("p99_us")
    result["cpu"] = spent * 1e6 / deliveries if deliveries else None
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dur", type=int, default=4)
    args = parser.parse_args()
    if not os.access(PCBENCH, os.X_OK):
        subprocess.run(["make", "-s", "-C", HERE], check=True)
    dirs = {}
    for label, broker in (("this", os.path.join(ROOT, "bin", "pychat-broker")),
                          ("other", os.path.abspath(args.other))):
        #  The same other binaries, only the broker differs
        path = tempfile.mkdtemp(prefix="ab-broker-%s-" % label)
        for name in os.listdir(os.path.join(ROOT, "bin")):
            os.symlink(os.path.join(ROOT, "bin", name), os.path.join(path, name))
        os.unlink(os.path.join(path, "pychat-broker"))
        shutil.copy(broker, os.path.join(path, "pychat-broker"))
        dirs[label] = path
    results = {"this": [], "other": []}
    try:
        for round_ in range(args.rounds):
            for label in ("other", "this"):
                row = one_run(dirs[label], args.dur)
                results[label].append(row)
                print("round %d %-5s %s" % (round_ + 1, label, json.dumps(row)), flush=True)
    finally:
        for path in dirs.values():
            shutil.rmtree(path, ignore_errors=True)
    print("%-6s %-26s %-22s %-22s %s" % ("broker", "A S=1 deliveries/s", "B 500/s p99 us",
                                          "B 2000/s p99 us", "broker+redis CPU ms/1000"))
    for label, rows in results.items():
        def fig(key, fmt="%.0f"):
            values = [r[key] for r in rows if r.get(key) is not None]
            if not values:
                return "-"
            return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values),
                                                         max(values))
        print("%-6s %-26s %-22s %-22s %s" % (label, fig("A"), fig("B500"), fig("B2000"),
                                              fig("cpu", "%.2f")))


if __name__ == "__main__":
    main()
