#!/usr/bin/python3
"""Search at scale (issue 18, item 8): a room of 1,000,000 stored messages,
indexed, then searched through the real broker.

  search_bench.py [--quick] [--count N] [--queries N]

1. A private stack (Redis, auth service, broker from bin/) with
   PYCHAT_HISTORY above N, so nothing is trimmed.
2. N messages are written straight into Redis in the stored format (XADD
   room:big SEQ-0 from ts text, the room's seq and count), by
   `redis-cli --pipe`: the loader is not the thing measured. The texts are
   chat-like: 3-15 words drawn from a Zipf-like vocabulary of 20,000 words
   (the most common word is in some 57% of the messages).
3. The index is built by the broker's own code path: SEARCHes, each of
   which first indexes what its room has not indexed yet (at most 10,000
   entries a time, PROTOCOL.md "Search"), until the room's cursor
   reaches N. Timed, with Redis's used_memory before and after (the index's
   memory) and the stream's own.
4. Latency of SEARCH (limit 20), request to reply over CURVE, p50/p99 for
   common words, rare words, two common words, a common and a rare word,
   two words that seldom meet (the worst case: the budget of 5,000 ids
   looked at, then `next` says where to go on), and a prefix.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))

from stack import RawClient, Stack, redis_command  # noqa: E402

BIN = os.environ.get("PYCHAT_BIN") or os.path.join(ROOT, "bin")
ROOM = "big"
COMMON = ["the", "to", "and", "you", "it", "is", "that", "for", "we", "on", "this", "in",
          "of", "have", "be", "with", "can", "are", "just", "at", "so", "but", "do", "not",
          "what", "was", "my", "if", "will", "me", "all", "get", "about", "up", "out",
          "deploy", "build", "test", "merge", "review", "lunch", "meeting", "today",
          "tomorrow", "friday", "server", "broker", "redis", "release", "bug", "fix"]
VOCABULARY = 20000


def vocabulary():
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "re", "tu", "sa", "ne", "vo", "pi", "da", "gu", "fe",
                 "zo", "ri", "ba", "ny", "qu", "xe", "wa", "hi"]
    words, seen = list(COMMON), set(COMMON)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def load(port, count, words):
    """Writes count messages into room:big by redis-cli --pipe."""
    rng = random.Random(11)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    now = int(time.time() * 1000) - count
    proc = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    chunk = []
    for seq in range(1, count + 1):
        text = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(3, 15)))
        chunk.append(resp("XADD", "room:" + ROOM, "%d-0" % seq, "from", "user%d" % (seq % 97),
                          "ts", now + seq, "text", text))
        if len(chunk) == 10000:
            proc.stdin.write(b"".join(chunk))
            chunk = []
    chunk.append(resp("SET", "room:%s:seq" % ROOM, count))
    chunk.append(resp("SET", "room:%s:count" % ROOM, count))
    proc.stdin.write(b"".join(chunk))
    proc.stdin.close()
    out = proc.stdout.read().decode(errors="replace")
    proc.wait()
    if "errors: 0" not in out:
        sys.exit("search_bench: redis-cli --pipe: " + out)


def used_memory(port):
    info = redis_command(port, "INFO", "memory").decode()
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def timed(client, query, runs):
    times, hits, partial = [], 0, 0
    for i in range(runs):
        words = query() if callable(query) else query
        start = time.perf_counter()
        fields = client.ok("SEARCH", ROOM, words, "20", timeout=30)
        times.append((time.perf_counter() - start) * 1000)
        found = (len(fields) - 1) // 6
        hits += found
        partial += found < 20 and fields[0] != "0"     # stopped at the budget
    return times, hits / runs, partial / runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 messages")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--queries", type=int, default=None, help="SEARCHes per kind")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    count = args.count or (100000 if args.quick else 1000000)
    runs = args.queries or (50 if args.quick else 200)
    words = vocabulary()
    stack = Stack(BIN, name="search-bench")
    stack.env.update({"PYCHAT_HISTORY": str(count + 1000), "PYCHAT_RATE_QUERY": "0",
                      "PYCHAT_RATE_SESSION": "0", "PYCHAT_RATE_SEND": "0"})
    try:
        stack.start(["authsvc", "broker"])
        port = stack.redis_port
        base = used_memory(port)
        started = time.monotonic()
        load(port, count, words)
        loaded = time.monotonic() - started
        stream_bytes = used_memory(port) - base
        print("search bench: %d messages loaded into room:%s in %.1f s (redis-cli --pipe); "
              "the stream takes %.0f MiB" % (count, ROOM, loaded, stream_bytes / 2**20), flush=True)
        stack.register("finder", "pw-finder")
        client = RawClient(stack)
        client.login("finder", "pw-finder")
        client.join(ROOM)
        before = used_memory(port)
        started = time.monotonic()
        while int(redis_command(port, "GET", "room:%s:sxc" % ROOM) or 0) < count:
            client.ok("SEARCH", ROOM, "the", "1", timeout=60)
        indexing = time.monotonic() - started
        index_bytes = used_memory(port) - before
        keys = redis_command(port, "DBSIZE")
        print("search bench: indexed by the broker in %.1f s (%.0f messages/s); the index takes "
              "%.0f MiB (%.0f bytes a message), %d keys in Redis" % (
                  indexing, count / indexing, index_bytes / 2**20, index_bytes / count, keys),
              flush=True)
        rng = random.Random(3)
        rare = words[10000:19000]
        mid = words[100:1000]
        kinds = [
            ("common word", lambda: rng.choice(COMMON[:10])),
            ("rare word", lambda: rng.choice(rare)),
            ("two common words", lambda: "%s %s" % tuple(rng.sample(COMMON[:20], 2))),
            ("common + rare", lambda: "%s %s" % (rng.choice(COMMON[:10]), rng.choice(rare))),
            ("two mid words", lambda: "%s %s" % tuple(rng.sample(mid, 2))),
            ("three words", lambda: "%s %s %s" % tuple(rng.sample(COMMON[:30], 3))),
            ("prefix", lambda: rng.choice(mid)[:3] + "*"),
        ]
        results = {"messages": count, "load_s": round(loaded, 1), "index_s": round(indexing, 1),
                   "index_mib": round(index_bytes / 2**20), "stream_mib": round(stream_bytes / 2**20),
                   "queries": {}}
        print("%-18s %9s %9s %9s %6s %8s" % ("query", "p50 ms", "p99 ms", "max ms", "hits",
                                              "partial"))
        for name, query in kinds:
            times, hits, partial = timed(client, query, runs)
            results["queries"][name] = {"p50_ms": round(percentile(times, 0.5), 2),
                                        "p99_ms": round(percentile(times, 0.99), 2),
                                        "hits": round(hits, 1), "partial": round(partial, 2)}
            print("%-18s %9.2f %9.2f %9.2f %6.1f %7.0f%%" % (
                name, percentile(times, 0.5), percentile(times, 0.99), max(times), hits,
                partial * 100), flush=True)
        client.close()
        if args.json:
            with open(args.json, "w") as out:
                json.dump(results, out, indent=1)
    finally:
        stack.stop()
        stack.cleanup()


if __name__ == "__main__":
    main()
