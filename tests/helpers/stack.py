"""stack.py: a real PyChat stack on free ports, for the black-box tests.

A Stack owns one temporary directory and, in it, a private redis-server and
the four services (pychat-authsvc, pychat-broker, pychat-monitor,
pychat-filesvc) started from $PYCHAT_BIN, on a base port P whose ten ports
P..P+9 were free (proto/pc_limits.h: broker = P, fan-out = P+1, authsvc =
P+2, monitor = P+3, metrics = P+4, files = P+5, Redis = P+9). Everything
speaks CURVE, as in production.

Nothing here is a fake: RawClient, RawSub and RawFiles are plain pyzmq
sockets that speak PROTOCOL.md frame by frame, and pychat()/listen() run
the real client.
"""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import zmq

#  The protocol's vocabulary comes from the model (proto/pychat.json), as
#  generated into pc_proto.py: the tests do not re-declare it.
from pc_proto import SIGNATURE, ERR, LIMITS, PORTS, COMMANDS, EVENTS  # noqa: F401

SERVICES = ("authsvc", "broker", "monitor", "filesvc")
OFF_BROKER, OFF_FANOUT, OFF_AUTHSVC = PORTS["BROKER"], PORTS["FANOUT"], PORTS["AUTHSVC"]
OFF_MONITOR, OFF_METRICS, OFF_REDIS = PORTS["MONITOR"], PORTS["METRICS"], PORTS["REDIS"]
OFF_FILES = PORTS["FILES"]
CHUNK_MAX = LIMITS["CHUNK_MAX"]         # bytes in one FDATA / FCHUNK
CREDIT = LIMITS["CREDIT"]               # file chunks a client keeps in flight
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer")
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}
START_TIMEOUT = 30.0            # ASan binaries on 2 busy cores start slowly
STOP_TIMEOUT = 10.0


class StackError(Exception):
    pass


def wait_for(condition, timeout, interval=0.05, what="condition"):
    """Polls condition() until it returns a true value or timeout seconds
    pass; returns that value or raises TimeoutError naming what. A
    TimeoutError raised by condition (no reply yet) counts as false."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except TimeoutError:            # a request that got no reply: not yet
            if time.monotonic() >= deadline:
                raise
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as the services do (ZeroMQ and Redis set it): TIME_WAIT leftovers
        # are fine, a listener is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low(default=32768):
    """The first port the kernel hands out to outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def free_base_port(span=10, low=20000, high=60000, attempts=500):
    """A base port P with P..P+span-1 all bindable on 127.0.0.1, below the
    kernel's ephemeral range: a port free now but in that range can be
    taken by any outgoing connection (a client's, a service's reconnect)
    before the service that is to listen on it has started."""
    if _ephemeral_low() > low + 100 * span:
        high = min(high, _ephemeral_low())
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(attempts):
        base = rng.randrange(low, high - span)
        if all(_port_free(base + i) for i in range(span)):
            return base
    raise StackError("no %d consecutive free ports found" % span)


def redis_ping(port):
    """True when a Redis on 127.0.0.1:port answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def sanitizer_lines(text):
    return [line for line in text.splitlines()
            if any(mark in line for mark in SANITIZER_MARKS)]


def _encode(field):
    if isinstance(field, bytes):
        return field
    return str(field).encode("utf-8")


def _decode(frames):
    return [frame.decode("utf-8", errors="surrogateescape") for frame in frames]


def _varint(data, offset):
    """An unsigned LEB128 number at offset: (value, next offset)."""
    value = shift = 0
    while True:
        assert offset < len(data) and shift < 28, "malformed packed message"
        byte = data[offset]
        value |= (byte & 0x7F) << shift
        offset += 1
        shift += 7
        if not byte & 0x80:
            return value, offset


def _packed(data, offset, head):
    """The messages packed in data from offset (PROTOCOL.md, "Framing": per
    message a part count, then each part's size and bytes, counts and sizes
    as varints), each as head + its parts."""
    messages = []
    while offset < len(data):
        count, offset = _varint(data, offset)
        parts = list(head)
        for _ in range(count):
            size, offset = _varint(data, offset)
            parts.append(data[offset:offset + size])
            offset += size
        assert offset <= len(data), "malformed packed message"
        messages.append(parts)
    return messages


def _varint_bytes(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def pack(*messages):
    """One frame in packed form holding messages, each a list of parts
    (str or bytes): what pc_msg_send puts on the wire (PROTOCOL.md, "Framing")."""
    out = bytearray()
    for parts in messages:
        out += _varint_bytes(len(parts))
        for part in parts:
            data = _encode(part)
            out += _varint_bytes(len(data)) + data
    return bytes(out)


def unpack(frames, topic=False):
    """The messages of one ZeroMQ message (a list of bytes frames), each as a
    list [topic,] signature, command, request-id, fields... Senders use the
    packed form: one frame, on a SUB starting with the topic and a NUL (or
    [topic][packed] for big batches); several messages may share a frame.
    Plain frames (one per part) pass through unchanged."""
    if topic and len(frames) == 1:
        name, nul, rest = frames[0].partition(b"\0")
        assert nul, "a fan-out frame without its topic"
        return _packed(rest, 0, [name])
    if topic and len(frames) == 2:
        return _packed(frames[1], 0, [frames[0]])
    if not topic and len(frames) == 1:
        return _packed(frames[0], 0, [])
    return [frames]


def new_cid():
    """A client message id never used before (1-64 printable ASCII)."""
    return "c-" + uuid.uuid4().hex


# ---------------------------------------------------------------------------
#  Raw protocol clients

class RawClient:
    """A DEALER that speaks PROTOCOL.md frames to the broker (or, given
    endpoint and server_key, to another ROUTER such as the monitor), with its
    own CURVE key pair."""

    _counter = 0

    def __init__(self, stack, endpoint=None, server_key=None, keypair=None):
        self.stack = stack
        self.public, self.secret = keypair or zmq.curve_keypair()
        self.socket = stack.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.curve_publickey = self.public
        self.socket.curve_secretkey = self.secret
        self.socket.curve_serverkey = (server_key or stack.broker_key()).encode()
        self.endpoint = endpoint or stack.endpoint(OFF_BROKER)
        self.socket.connect(self.endpoint)
        self.pending = []           # replies that arrived for other request ids
        self.user = None
        self.topic = None           # the session topic, after login()
        stack._sockets.append(self.socket)

    @property
    def keypair(self):
        return self.public, self.secret

    def next_reqid(self):
        RawClient._counter += 1
        return "r%d" % RawClient._counter

    def send_raw(self, frames, block=True):
        """Sends frames exactly as given (str frames are UTF-8 encoded).
        block=False: returns False instead of waiting when the socket has
        no peer to queue for (a connection whose handshake was refused)."""
        try:
            self.socket.send_multipart([_encode(frame) for frame in frames],
                                       flags=0 if block else zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def recv(self, timeout=5.0):
        """Next message as a list of str, or None after timeout seconds."""
        if self.pending:
            return self.pending.pop(0)
        if self.socket.poll(int(timeout * 1000), zmq.POLLIN):
            return self._next()
        return None

    def _next(self):
        """The next message off the socket (the rest of a batch waits in pending)."""
        messages = [_decode(m) for m in unpack(self.socket.recv_multipart())]
        self.pending.extend(messages[1:])
        return messages[0]

    def request(self, command, *fields, reqid=None, timeout=5.0):
        """Sends one request and returns its reply frames
        [SIGNATURE, "OK"|"ERROR", reqid, ...]; raises TimeoutError when no
        reply with this request id arrives within timeout seconds."""
        reqid = self.next_reqid() if reqid is None else reqid
        self.send_raw([SIGNATURE, command, reqid] + list(fields))
        deadline = time.monotonic() + timeout
        while True:
            for index, reply in enumerate(self.pending):
                if len(reply) >= 3 and reply[2] == reqid:
                    return self.pending.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.socket.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                raise TimeoutError("no reply to %s %s within %.1f s" % (command, reqid, timeout))
            reply = self._next()
            if len(reply) >= 3 and reply[2] == reqid:
                return reply
            self.pending.append(reply)

    def ok(self, command, *fields, timeout=5.0):
        """request() that must succeed; returns the OK reply's fields."""
        reply = self.request(command, *fields, timeout=timeout)
        assert reply[:2] == [SIGNATURE, "OK"], "%s %r -> %r" % (command, fields, reply)
        return reply[3:]

    def error(self, command, *fields, timeout=5.0):
        """request() that must fail; returns the error code as int."""
        reply = self.request(command, *fields, timeout=timeout)
        assert reply[:2] == [SIGNATURE, "ERROR"], "%s %r -> %r" % (command, fields, reply)
        return int(reply[3])

    def send(self, room, text, cid=None):
        """SEND with a fresh client message id; returns [message id, time]."""
        return self.ok("SEND", room, cid or new_cid(), text)

    def login(self, name, password):
        """LOGIN; remembers the user and the session topic (4th field)."""
        fields = self.ok("LOGIN", name, password, timeout=10)
        self.user = name
        self.topic = fields[3] if len(fields) > 3 else None
        return fields

    def subscriber(self):
        """A RawSub with this client's key pair, subscribed to the session
        topic, returned once SUBS lists it (PROTOCOL.md, "Subscriptions")."""
        assert self.topic, "log in first"
        sub = RawSub(self.stack, keypair=self.keypair)
        sub.subscribe(self.topic)
        self.wait_subscribed(self.topic)
        return sub

    def join(self, room):
        return self.ok("JOIN", room)

    def subs(self):
        return self.ok("SUBS")

    def wait_subscribed(self, topic, timeout=10.0):
        """Polls SUBS until the broker lists topic for this key (PROTOCOL.md:
        that is how a client learns its subscription is in effect)."""
        return wait_for(lambda: topic in self.subs(), timeout, 0.05,
                        "subscription %r to be applied" % topic)

    def close(self):
        self.socket.close(0)


class RawSub:
    """A SUB socket on the broker's fan-out port, with its own CURVE key pair
    or the key pair of a RawClient (so that it shares that session)."""

    # Presence and typing notices come to a session's topic whenever someone
    # in its rooms logs in, joins or types: noise for a test about messages,
    # so recv passes them over unless skip says otherwise (test_presence).
    QUIET = ("PRESENCE", "TYPING")

    def __init__(self, stack, keypair=None, endpoint=None, server_key=None, skip=QUIET):
        self.public, self.secret = keypair or zmq.curve_keypair()
        self.skip = tuple(skip)
        self.pending = []           # the rest of a batch (several messages in a frame)
        self.socket = stack.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.curve_publickey = self.public
        self.socket.curve_secretkey = self.secret
        self.socket.curve_serverkey = (server_key or stack.broker_key()).encode()
        self.socket.connect(endpoint or stack.endpoint(OFF_FANOUT))
        stack._sockets.append(self.socket)

    def subscribe(self, topic):
        self.socket.setsockopt(zmq.SUBSCRIBE, _encode(topic))

    def unsubscribe(self, topic):
        self.socket.setsockopt(zmq.UNSUBSCRIBE, _encode(topic))

    def recv(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(max(0.0, deadline - time.monotonic()))
            if message is None or len(message) < 3 or message[2] not in self.skip:
                return message

    def _next(self, timeout):
        if self.pending:
            return self.pending.pop(0)
        if self.socket.poll(int(timeout * 1000), zmq.POLLIN):
            messages = [_decode(m) for m in unpack(self.socket.recv_multipart(), topic=True)]
            self.pending.extend(messages[1:])
            return messages[0]
        return None

    def drain(self, duration):
        """Every message that arrives within duration seconds."""
        got = []
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return got
            message = self.recv(remaining)
            if message is not None:
                got.append(message)

    def close(self):
        self.socket.close(0)


class RawFiles(RawClient):
    """A DEALER to the file service (PROTOCOL.md, "File sharing") with the
    key pair of a logged-in RawClient, as a real client does: the port and
    the service's key come from the broker's FILES reply unless given."""

    def __init__(self, client, port=None, server_key=None, keypair=None):
        if port is None:
            port, server_key = client.ok("FILES")[:2]
        RawClient.__init__(self, client.stack, endpoint="tcp://127.0.0.1:%s" % port,
                           server_key=server_key, keypair=keypair or client.keypair)
        self.user = client.user

    def recv_bytes(self, timeout=10.0):
        """The next reply as a list of bytes parts; TimeoutError if none."""
        if not self.socket.poll(int(timeout * 1000), zmq.POLLIN):
            raise TimeoutError("no reply from the file service within %.1f s" % timeout)
        messages = unpack(self.socket.recv_multipart())
        assert len(messages) == 1, "the file service sends one reply per frame"
        return messages[0]

    def request_bytes(self, command, *fields, timeout=10.0):
        """One request (no others in flight); the reply as bytes frames."""
        reqid = self.next_reqid()
        self.send_raw([SIGNATURE, command, reqid] + list(fields))
        while True:
            reply = self.recv_bytes(timeout)
            if len(reply) >= 3 and reply[2] == reqid.encode():
                return reply

    def put(self, space, name, size, data, meta=""):
        """FPUT for data (sha computed here); returns [upload id, offset, chunk]."""
        return self.ok("FPUT", space, name, size, hashlib.sha256(data).hexdigest(), meta)

    def send_data(self, upload_id, data, offset=0, chunk=CHUNK_MAX, credit=CREDIT, timeout=20.0):
        """FDATA for data[offset:], at most credit chunks unanswered (the
        protocol's flow control); every reply must be OK."""
        in_flight, position = set(), offset
        while position < len(data) or in_flight:
            while position < len(data) and len(in_flight) < credit:
                reqid = self.next_reqid()
                piece = data[position:position + chunk]
                self.send_raw([SIGNATURE, "FDATA", reqid, upload_id, str(position), piece])
                in_flight.add(reqid.encode())
                position += len(piece)
            reply = self.recv_bytes(timeout)
            assert reply[1] == b"OK" and reply[2] in in_flight, reply[:6]
            in_flight.discard(reply[2])

    def upload(self, space, name, data, meta="", credit=CREDIT):
        """FPUT, FDATA..., FDONE; returns FDONE's fields (name, size, sha)."""
        upload_id, offset, chunk = self.put(space, name, len(data), data, meta)
        self.send_data(upload_id, data, int(offset), int(chunk), credit)
        return self.ok("FDONE", upload_id, timeout=30)

    def download(self, space, name, credit=CREDIT, chunk=CHUNK_MAX):
        """FOPEN, then FREAD with credit chunks in flight; returns (bytes,
        FOPEN's fields). The bytes are checked against the SHA-256 given."""
        fields = self.ok("FOPEN", space, name)
        handle, size = fields[0], int(fields[1])
        data = bytearray(size)
        in_flight, position = {}, 0
        while position < size or in_flight:
            while position < size and len(in_flight) < credit:
                reqid = self.next_reqid()
                self.send_raw([SIGNATURE, "FREAD", reqid, handle, str(position), str(chunk)])
                in_flight[reqid.encode()] = position
                position += chunk
            reply = self.recv_bytes()
            assert reply[1] == b"FCHUNK" and reply[2] in in_flight, reply[:5]
            at = in_flight.pop(reply[2])
            assert int(reply[3]) == at, (reply[3], at)
            data[at:at + len(reply[4])] = reply[4]
        assert hashlib.sha256(data).hexdigest() == fields[2], "download does not match its SHA-256"
        return bytes(data), fields


# ---------------------------------------------------------------------------
#  The stack

class Remote:
    """A running PyChat found by its base port and data directory (for a
    stack this suite did not start itself, such as scripts/pychat-up's)."""

    def __init__(self, base, data):
        self.base = base
        self.data = data
        self.context = zmq.Context()
        self._sockets = []
        self._key = None

    def endpoint(self, offset):
        return "tcp://127.0.0.1:%d" % (self.base + offset)

    def broker_key(self):
        if self._key is None:
            with open(os.path.join(self.data, "broker.pub")) as handle:
                self._key = handle.read().strip()
        return self._key

    def monitor_key(self):
        with open(os.path.join(self.data, "keys", "monitor.pub")) as handle:
            return handle.read().strip()

    def monitor_client(self):
        return RawClient(self, endpoint=self.endpoint(OFF_MONITOR),
                         server_key=self.monitor_key())

    def keypair(self, name):
        """The service key pair NAME (monitor, admin...) from keys/NAME.key."""
        with open(os.path.join(self.data, "keys", name + ".key")) as handle:
            public, secret = [line.strip().encode() for line in handle.readlines()[:2]]
        return public, secret

    def files_key(self):
        with open(os.path.join(self.data, "keys", "filesvc.pub")) as handle:
            return handle.read().strip()

    def close(self):
        for sock in self._sockets:
            sock.close(0)
        self._sockets = []
        self.context.term()


class Stack(Remote):
    def __init__(self, bin_dir=None, name="stack", redis_socket=False):
        self.bin_dir = os.path.abspath(bin_dir or os.environ.get("PYCHAT_BIN")
                                       or os.path.join(os.path.dirname(__file__), "..", "..", "bin"))
        self.tmp = tempfile.mkdtemp(prefix="pychat-wire-%s-" % name)
        self.data = os.path.join(self.tmp, "data")
        self.logs = os.path.join(self.tmp, "logs")
        self.homes = os.path.join(self.tmp, "home")
        for path in (self.data, self.logs, self.homes):
            os.makedirs(path, exist_ok=True)
        Remote.__init__(self, free_base_port(), self.data)
        self.redis_port = self.base + OFF_REDIS
        #  redis_socket: Redis also listens on a Unix socket, and the
        #  services reach it there (PYCHAT_REDIS=PATH, as make up does)
        self.redis_socket = os.path.join(self.tmp, "redis.sock") if redis_socket else None
        self.procs = {}             # name -> Popen of the running instance
        self.bad_exits = []         # "name: status" for every SIGTERM stop that was not 0
        self.client_reports = []    # sanitizer lines seen on pychat's stderr
        self.redis = None
        self._children = []         # pychat listen processes
        self.events = []            # (time, what, name, pid): signals this harness sent
        self._reported = set()      # pids whose bad exit is already in bad_exits
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYCHAT_")}
        self.env.update(SANITIZER_ENV)
        self.env.update({
            "PYCHAT_DATA": self.data,
            "PYCHAT_PORT": str(self.base),
            "PYCHAT_BIND": "127.0.0.1",
            "PYCHAT_HOME": os.path.join(self.homes, "_services"),
            #  No /etc/pychat/pychat.conf of an installed package: a test
            #  stack is configured by this environment alone.
            "PYCHAT_CONFIG": "/dev/null",
        })
        if self.redis_socket:
            self.env["PYCHAT_REDIS"] = self.redis_socket

    # -- paths and endpoints ------------------------------------------------

    def binary(self, name):
        return os.path.join(self.bin_dir, name)

    def has_binary(self, name):
        return os.access(self.binary(name), os.X_OK)

    def log_path(self, name):
        return os.path.join(self.logs, name + ".log")

    def log_text(self, name):
        try:
            with open(self.log_path(name), errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    # -- lifecycle ----------------------------------------------------------

    def start(self, services=SERVICES):
        """Redis, then each service; returns once the broker answers PING."""
        try:
            self.start_redis()
            for name in services:
                self.start_service(name)
            self.wait_broker()
            if "authsvc" in services:
                self.wait_auth()
            if "monitor" in services:
                self.wait_monitor()
            if "filesvc" in services:
                self.wait_files()
        except BaseException:
            self.stop()
            raise
        return self

    def start_redis(self):
        assert self.redis is None or self.redis.poll() is not None, "redis already running"
        log = open(self.log_path("redis"), "ab")
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.tmp]
            + (["--unixsocket", self.redis_socket, "--unixsocketperm", "700"]
               if self.redis_socket else []),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.tmp)
        log.close()
        wait_for(self.redis_ping, 10, 0.05, "redis-server to answer PING")

    def redis_ping(self):
        if self.redis is None or self.redis.poll() is not None:
            raise StackError("redis-server exited: " + self.log_text("redis")[-2000:])
        return redis_ping(self.redis_port)

    def stop_redis(self, keep_data=False):
        """Stops Redis. keep_data: SAVE first, so that start_redis() comes
        back with the same data (as a production Redis with persistence
        would); otherwise Redis comes back empty."""
        if keep_data:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=10) as conn:
                conn.settimeout(30)
                conn.sendall(b"SAVE\r\n")
                assert conn.recv(64).startswith(b"+OK"), "redis SAVE failed"
        elif os.path.exists(os.path.join(self.tmp, "dump.rdb")):
            os.unlink(os.path.join(self.tmp, "dump.rdb"))
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()
        self.redis = None

    def start_service(self, name, env=None, prefix=()):
        """Starts pychat-NAME with the stack's environment updated by env;
        prefix runs it through a program that execs it (e.g. prlimit)."""
        path = self.binary("pychat-" + name)
        if not os.access(path, os.X_OK):
            raise StackError("missing binary " + path)
        proc = self.procs.get(name)
        assert proc is None or proc.poll() is not None, name + " already running"
        log = open(self.log_path(name), "ab")
        log.write(("---- start %s at %.3f\n" % (name, time.time())).encode())
        log.flush()
        self.procs[name] = subprocess.Popen(
            list(prefix) + [path], env=dict(self.env, **(env or {})), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.tmp)
        log.close()
        self._note("start", name, self.procs[name].pid)
        return self.procs[name]

    def alive(self, name):
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop_service(self, name):
        """SIGTERM, then wait; a service must exit 0 (a leak report does not)."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        if proc.poll() is None:
            self._note("SIGTERM", name, proc.pid)
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._note("SIGKILL", name, proc.pid)
                proc.kill()
                proc.wait()
                tail = "\n      ".join(self.log_text(name).splitlines()[-6:])
                self._reported.add(proc.pid)
                self.bad_exits.append("%s (pid %d): did not exit within %.0f s of SIGTERM; "
                                      "its log ends:\n      %s"
                                      % (name, proc.pid, STOP_TIMEOUT, tail))
                return proc.returncode
        if proc.returncode != 0 and proc.pid not in self._reported:
            self._reported.add(proc.pid)
            self.bad_exits.append("%s (pid %d): exit status %s" % (name, proc.pid,
                                                                   proc.returncode))
        return proc.returncode

    def _note(self, what, name, pid):
        self.events.append("%.3f %s %s pid %d" % (time.time(), what, name, pid))

    def kill_service(self, name):
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            self._note("SIGKILL", name, proc.pid)
            proc.kill()
            proc.wait()
        self.procs.pop(name, None)

    def wait_broker(self, timeout=START_TIMEOUT):
        """Waits for broker.pub, then for PING -> OK PONG over CURVE."""
        def broker_pub():
            if not self.alive("broker"):
                raise StackError("broker exited during start:\n" + self.log_text("broker")[-3000:])
            return os.path.exists(os.path.join(self.data, "broker.pub"))
        wait_for(broker_pub, timeout, 0.05, "broker.pub")
        self._key = None
        client = RawClient(self)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    reply = client.request("PING", timeout=1)
                    assert reply[1] == "OK" and reply[3:] == ["PONG"], reply
                    return
                except TimeoutError:
                    if not self.alive("broker"):
                        raise StackError("broker exited:\n" + self.log_text("broker")[-3000:])
                    if time.monotonic() > deadline:
                        raise
        finally:
            client.close()

    def wait_auth(self, timeout=START_TIMEOUT):
        """Waits until the broker reaches the auth service: a LOGIN of an
        account that does not exist gets 401 instead of 503."""
        client = RawClient(self)
        try:
            def answered():
                if not self.alive("authsvc"):
                    raise StackError("authsvc exited:\n" + self.log_text("authsvc")[-3000:])
                reply = client.request("LOGIN", "nobody-probe", "probe", timeout=5)
                return reply[1] == "ERROR" and reply[3] == "401"
            wait_for(answered, timeout, 0.1, "the broker to reach the auth service")
        finally:
            client.close()

    def wait_monitor(self, timeout=START_TIMEOUT):
        """Waits for keys/monitor.pub and a PING -> PONG from the monitor."""
        def ready():
            if not self.alive("monitor"):
                raise StackError("monitor exited:\n" + self.log_text("monitor")[-3000:])
            return os.path.exists(os.path.join(self.data, "keys", "monitor.pub"))
        wait_for(ready, timeout, 0.05, "keys/monitor.pub")
        client = self.monitor_client()
        try:
            wait_for(lambda: client.request("PING", timeout=1)[3:] == ["PONG"], timeout, 0.1,
                     "the monitor to answer PING")
        finally:
            client.close()

    def wait_files(self, timeout=START_TIMEOUT):
        """Waits until the broker answers FILES with OK: the file service
        runs and has reported to the broker (asked with the server's admin
        key, whose session is logged in without an account)."""
        client = RawClient(self, keypair=self.keypair("admin"))
        try:
            def answered():
                if not self.alive("filesvc"):
                    raise StackError("filesvc exited:\n" + self.log_text("filesvc")[-3000:])
                reply = client.request("FILES", timeout=2)
                return reply[1] == "OK"     # the port: base+5, or PYCHAT_PUBLIC_FILES's
            wait_for(answered, timeout, 0.1, "the broker to answer FILES (the file service up)")
        finally:
            client.close()

    def stop(self):
        """SIGTERM every service (broker last but one, Redis last), waits up
        to 10 s each, then KILL. Safe to call twice."""
        for child in self._children:
            if child.poll() is None:
                child.kill()
                child.wait()
        self._children = []
        for sock in self._sockets:
            sock.close(0)
        self._sockets = []
        for name in ("monitor", "filesvc", "broker", "authsvc"):
            if name in self.procs:
                self.stop_service(name)
                self.procs.pop(name)
        self.stop_redis()
        if not self.context.closed:
            self.context.term()

    def sanitizer_reports(self):
        """Sanitizer lines from every service log and every pychat run."""
        lines = list(self.client_reports)
        for name in SERVICES:
            lines += ["%s: %s" % (name, line) for line in sanitizer_lines(self.log_text(name))]
        return lines

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the real client ----------------------------------------------------

    def home(self, user):
        path = os.path.join(self.homes, user or "_anonymous")
        os.makedirs(path, exist_ok=True)
        return path

    def client_env(self, user=None, password=None, home=None):
        env = dict(self.env)
        env["PYCHAT_HOME"] = home or self.home(user)
        if user is not None:
            env["PYCHAT_USER"] = user
        if password is not None:
            env["PYCHAT_PASSWORD"] = password
        return env

    def _note_client_stderr(self, args, stderr):
        for line in sanitizer_lines(stderr or ""):
            self.client_reports.append("pychat %s: %s" % (" ".join(args), line))

    def pychat(self, *args, user=None, password=None, home=None, timeout=30, input=None):
        """Runs pychat ARGS; returns the CompletedProcess (text)."""
        args = [str(arg) for arg in args]
        result = subprocess.run(
            [self.binary("pychat")] + args, env=self.client_env(user, password, home),
            input=input, capture_output=True, text=True, timeout=timeout, cwd=self.tmp,
            errors="replace")
        self._note_client_stderr(args, result.stderr)
        return result

    def pychat_popen(self, *args, user=None, password=None, home=None):
        args = [str(arg) for arg in args]
        proc = subprocess.Popen(
            [self.binary("pychat")] + args, env=self.client_env(user, password, home),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            cwd=self.tmp)
        proc.args_text = args
        self._children.append(proc)
        return proc

    def listen(self, *args, user=None, password=None, home=None, timeout=20):
        """Starts `pychat listen ARGS --json` and returns a Listener once
        "ready" has appeared on its stderr."""
        proc = self.pychat_popen("listen", *args, "--json", user=user, password=password,
                                 home=home)
        listener = Listener(self, proc)
        listener.wait_ready(timeout)
        return listener

    # -- conveniences -------------------------------------------------------

    def client(self):
        return RawClient(self)

    def register(self, name, password):
        """Registers name over the raw protocol; must succeed."""
        client = RawClient(self)
        try:
            client.ok("REGISTER", name, password, timeout=10)
        finally:
            client.close()
            self._sockets.remove(client.socket)

    def logged_in(self, name, password):
        client = RawClient(self)
        client.login(name, password)
        return client

    def stats(self, client=None):
        """STATS from the monitor, parsed."""
        own = client is None
        client = client or self.monitor_client()
        try:
            fields = client.ok("STATS")
            assert len(fields) == 1, fields
            return json.loads(fields[0])
        finally:
            if own:
                client.close()


class Listener:
    """A running `pychat listen ... --json`: stdout is read line by line in a
    background thread, so the pipe never fills up."""

    def __init__(self, stack, proc):
        import threading
        self.stack = stack
        self.proc = proc
        self.lines = []
        self.errors = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump, args=(proc.stdout, self.lines),
                                          daemon=True),
                         threading.Thread(target=self._pump, args=(proc.stderr, self.errors),
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream, into):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                into.append(line)

    def stderr_text(self):
        with self._lock:
            return "\n".join(self.errors)

    def wait_ready(self, timeout):
        def ready():
            if self.proc.poll() is not None:
                self._join()
                raise AssertionError("pychat listen exited %s before ready; stderr:\n%s"
                                     % (self.proc.returncode, self.stderr_text()))
            return "ready" in self.stderr_text()
        wait_for(ready, timeout, 0.05, "pychat listen to print ready")

    def objects(self):
        """Every JSON object printed so far."""
        with self._lock:
            lines = list(self.lines)
        return [json.loads(line) for line in lines if line.strip()]

    def messages(self):
        """The messages printed so far (not the gap reports)."""
        return [o for o in self.objects() if not o.get("gap")]

    def gaps(self):
        """The {"gap": true, ...} objects: ids history did not hold."""
        return [o for o in self.objects() if o.get("gap")]

    def wait_messages(self, count, timeout=20):
        """Waits until at least count messages were printed; returns them."""
        wait_for(lambda: len(self.messages()) >= count or self.proc.poll() is not None,
                 timeout, 0.05, "%d messages" % count)
        return self.messages()

    def _join(self):
        for thread in self._threads:
            thread.join(5)

    def wait(self, timeout=20):
        """Waits for the process to exit by itself; returns its status."""
        try:
            status = self.proc.wait(timeout)
        finally:
            self._join()
            self.stack._note_client_stderr(self.proc.args_text, self.stderr_text())
        return status

    def stop(self):
        """SIGINT (a user's Ctrl-C); returns the exit status (130 when the
        listen was running: the README's code for an interruption)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._join()
        self.stack._note_client_stderr(self.proc.args_text, self.stderr_text())
        return self.proc.returncode


def now_ms():
    return int(time.time() * 1000)


def error_line(stderr):
    """The last non-empty stderr line (what a user reads)."""
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def number_in(text):
    match = re.search(r"(\d+(?:\.\d+)?)", text)
    return float(match.group(1)) if match else None


# ---------------------------------------------------------------------------
#  Shared by the test files: the client's JSON lines, a fresh CLI account,
#  and raw RESP commands to a stack's Redis (to check what it stores).

def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def cli_user(stack, unique, prefix):
    """A fresh account registered with `pychat register` (which also
    publishes its device key); returns (name, password)."""
    name = unique(prefix)
    password = "pw-" + name
    result = stack.pychat("register", user=name, password=password)
    assert result.returncode == 0, result.stderr
    return name, password


def redis_command(port, *args):
    """One command to a Redis over a raw socket (RESP); bulk strings come
    back as bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        payload = b"*%d\r\n" % len(args)
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            payload += b"$%d\r\n%s\r\n" % (len(arg), arg)
        conn.sendall(payload)
        return _resp(conn.makefile("rb"))


def _resp(reader):
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_resp(reader) for _ in range(size)]
    raise ValueError("unexpected RESP %r" % line)
