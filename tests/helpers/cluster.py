"""Several brokers on one Redis, for the black-box and soak tests: further
brokers of a Stack (the same data directory, so the same keys, Redis and
auth service), and a Redis replica with three Sentinels."""

import os
import subprocess
import time

from stack import OFF_AUTHSVC, OFF_BROKER, RawClient, free_base_port, redis_ping, wait_for


class Node:
    """A further broker of stack: its own base port, id name."""

    def __init__(self, stack, name, env=None):
        self.stack = stack
        self.name = name
        self.base = free_base_port()
        self.env = env or {}
        self.proc = None

    def endpoint(self, offset=OFF_BROKER):
        return "tcp://127.0.0.1:%d" % (self.base + offset)

    def log_text(self):
        return self.stack.log_text("broker-" + self.name)

    def start(self, wait=True):
        log = open(self.stack.log_path("broker-" + self.name), "ab")
        env = dict(self.stack.env, PYCHAT_PORT=str(self.base), PYCHAT_BROKER_ID=self.name,
                   PYCHAT_REDIS="127.0.0.1:%d" % self.stack.redis_port,
                   PYCHAT_AUTHSVC=self.stack.endpoint(OFF_AUTHSVC), **self.env)
        self.proc = subprocess.Popen([self.stack.binary("pychat-broker")], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.stack.tmp)
        log.close()
        self.stack._note("start", "broker-" + self.name, self.proc.pid)
        if wait:
            self.wait()
        return self

    def wait(self, timeout=30):
        def answers():
            assert self.proc.poll() is None, self.log_text()[-2000:]
            client = RawClient(self.stack, endpoint=self.endpoint())
            try:
                reply = client.request("LOGIN", "nobody-probe", "probe", timeout=2)
                return reply[1] == "ERROR" and reply[3] == "401"
            except TimeoutError:
                return False
            finally:
                client.close()
                self.stack._sockets.remove(client.socket)
        wait_for(answers, timeout, 0.1, "broker %s to reach the auth service" % self.name)

    def signal(self, signum):
        self.stack._note("signal %d" % signum, "broker-" + self.name, self.proc.pid)
        self.proc.send_signal(signum)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.stack._note("SIGKILL", "broker-" + self.name, self.proc.pid)
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM; the broker must exit 0 (a sanitizer report does not)."""
        if self.proc and self.proc.poll() is None:
            self.stack._note("SIGTERM", "broker-" + self.name, self.proc.pid)
            self.proc.terminate()
            try:
                status = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                status = self.proc.wait()
            assert status == 0, "broker %s exited %s:\n%s" % (self.name, status,
                                                              self.log_text()[-3000:])

    def sanitizer_reports(self):
        return [line for line in self.log_text().splitlines()
                if "ERROR: AddressSanitizer" in line or "runtime error:" in line
                or "ERROR: LeakSanitizer" in line]


class Sentinels:
    """A replica of stack's Redis and three Sentinels watching the primary
    as "pychat" (down after 1 s, two of three agree)."""

    def __init__(self, stack):
        self.stack = stack
        #  Four ports in a row, clear of the stack's own (not bound yet)
        base = free_base_port(span=4)
        while abs(base - stack.base) < 12:
            base = free_base_port(span=4)
        self.replica_port = base
        self.ports = [base + 1, base + 2, base + 3]
        self.procs = []

    def _spawn(self, name, argv):
        log = open(self.stack.log_path(name), "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=self.stack.tmp)
        log.close()
        self.procs.append(proc)
        return proc

    def start(self):
        self._spawn("replica", ["redis-server", "--port", str(self.replica_port), "--bind",
                                "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                self.stack.tmp, "--dbfilename", "replica.rdb",
                                "--replicaof", "127.0.0.1", str(self.stack.redis_port)])
        wait_for(lambda: redis_ping(self.replica_port), 10, 0.05, "the replica")
        for index, port in enumerate(self.ports):
            conf = os.path.join(self.stack.tmp, "sentinel%d.conf" % index)
            with open(conf, "w") as handle:
                handle.write("port %d\nbind 127.0.0.1\ndir %s\n"
                             "sentinel monitor pychat 127.0.0.1 %d 2\n"
                             "sentinel down-after-milliseconds pychat 1000\n"
                             "sentinel failover-timeout pychat 5000\n"
                             % (port, self.stack.tmp, self.stack.redis_port))
            self._spawn("sentinel%d" % index, ["redis-server", conf, "--sentinel"])
        for port in self.ports:
            wait_for(lambda port=port: redis_ping(port), 10, 0.05, "a sentinel")
        return self

    def env(self):
        return {"PYCHAT_REDIS_SENTINELS": ",".join("127.0.0.1:%d" % p for p in self.ports),
                "PYCHAT_REDIS_MASTER": "pychat", "PYCHAT_REDIS_REPLICAS": "1"}

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def start_with_sentinels(stack):
    """Starts stack's Redis, a replica and three Sentinels (returned), then
    its auth service and broker b1 following the Sentinels."""
    stack.start_redis()
    sentinels = Sentinels(stack).start()
    stack.env.update(sentinels.env())
    stack.env["PYCHAT_BROKER_ID"] = "b1"
    stack.start_service("authsvc")
    stack.start_service("broker")
    stack.wait_broker()
    stack.wait_auth()
    return sentinels
