"""File sharing from the client's side (PROTOCOL.md, "File sharing"): the
real `pychat put/files/get/rm` and the full-screen client's /upload,
/files, /download against a real stack with pychat-filesvc.

Two stacks: one with room for a 200 MiB file (most tests), one with small
limits (a size limit, a quota) that ends with its file service stopped.
"""

import hashlib
import os
import random
import re
import shutil
import signal
import threading
import time

import pytest

from conftest import _finish, _start
from stack import RawFiles, cli_user, json_lines, redis_command, wait_for

MiB = 1024 * 1024
BIG = 200 * MiB


# ---------------------------------------------------------------------------
#  Stacks with a file service

def files_stack(name, env):
    stack = _start(name, env)
    missing = [b for b in ("pychat", "pychat-filesvc") if not stack.has_binary(b)]
    if missing:
        _finish(stack)
        pytest.skip("not built yet in %s: %s" % (stack.bin_dir, ", ".join(missing)))
    return stack


@pytest.fixture(scope="module")
def fs():
    """The main stack, with the default limits (100 MiB per file, 1 GiB per user)."""
    stack = files_stack("files", {})
    yield stack
    _finish(stack)


@pytest.fixture
def big():
    """A stack for the 200 MiB file, whose processes' memory is measured.
    AddressSanitizer keeps freed memory in quarantine (256 MiB by default)
    to catch use after free; every chunk a transfer frees lands there, so
    RSS would measure the quarantine, not the program: 16 MiB here (release
    build, same test: broker +0.2, file service +1.6, client +2.9 MiB)."""
    asan = os.environ.get("ASAN_OPTIONS_BIG", "detect_leaks=1:quarantine_size_mb=16")
    stack = files_stack("files-big", {"PYCHAT_FILES_MAX": "300M", "ASAN_OPTIONS": asan})
    yield stack
    _finish(stack)


@pytest.fixture(scope="module")
def small():
    """Small limits: 2 MiB per file, 3 MiB per user."""
    stack = files_stack("files-small", {"PYCHAT_FILES_MAX": "2M", "PYCHAT_FILES_QUOTA": "3M"})
    yield stack
    _finish(stack)


# ---------------------------------------------------------------------------
#  Helpers

def make_file(path, size, seed):
    """size bytes of seeded pseudo-random data (never the same for two seeds)."""
    rng = random.Random(seed)
    with open(path, "wb") as handle:
        left = size
        while left:
            piece = min(left, MiB)
            handle.write(rng.getrandbits(piece * 8).to_bytes(piece, "little") if piece else b"")
            left -= piece
    return path


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def files_dir(stack):
    return stack.env.get("PYCHAT_FILES_DIR") or os.path.join(stack.data, "files")


def stored_files(stack):
    """Path -> size of every stored file (not the uploads in tmp/)."""
    root = files_dir(stack)
    found = {}
    for top, dirs, names in os.walk(root):
        if os.path.relpath(top, root).split(os.sep)[0] == "tmp":
            continue
        for name in names:
            path = os.path.join(top, name)
            found[path] = os.path.getsize(path)
    return found


def partial_uploads(stack):
    root = os.path.join(files_dir(stack), "tmp")
    if not os.path.isdir(root):
        return {}
    return {os.path.join(root, n): os.path.getsize(os.path.join(root, n)) for n in os.listdir(root)}


def one_line_error(result):
    """What a failed pychat said: exactly one line on stderr, "pychat: ..."."""
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("pychat: "), result.stderr
    return lines[0]


def rss_kib(pid, field="VmRSS"):
    """VmRSS (or VmHWM, the peak since exec) of pid in KiB; None once gone."""
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class Sampler(threading.Thread):
    """Samples VmRSS of named pids every 0.2 s; pids may be swapped while it runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.pids = {}
        self.samples = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def watch(self, name, pid):
        with self.lock:
            self.pids[name] = pid

    def run(self):
        while not self.stopping.is_set():
            with self.lock:
                pids = dict(self.pids)
            for name, pid in pids.items():
                value = rss_kib(pid)
                if value is not None:
                    with self.lock:
                        self.samples.setdefault(name, []).append(value)
            self.stopping.wait(0.2)

    def stop(self):
        self.stopping.set()
        self.join(5)
        return {name: list(values) for name, values in self.samples.items()}


def run_measured(stack, sampler, args, user, password, timeout=600):
    """Runs pychat ARGS with its RSS sampled (as "pychat"); returns (rc, out,
    err, peak RSS in KiB). The peak is the kernel's VmHWM, read every 5 ms
    until the process ends, so a run shorter than a sampling period counts
    too (wait4's ru_maxrss would include the Python process it forked from)."""
    proc = stack.pychat_popen(*args, user=user, password=password)
    sampler.watch("pychat", proc.pid)
    output = {}

    def pump(name, stream):
        output[name] = stream.read().decode(errors="replace")
    pumps = [threading.Thread(target=pump, args=(name, stream), daemon=True)
             for name, stream in (("out", proc.stdout), ("err", proc.stderr))]
    for thread in pumps:
        thread.start()
    deadline = time.monotonic() + timeout
    peak = 0
    while True:
        peak = max(peak, rss_kib(proc.pid, "VmHWM") or 0)
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            break
        assert time.monotonic() < deadline, "pychat %s took over %d s" % (args, timeout)
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for thread in pumps:
        thread.join(10)
    stack._note_client_stderr(proc.args_text, output.get("err", ""))
    assert peak, "pychat %s ended before its memory could be read" % (args,)
    return proc.returncode, output.get("out", ""), output.get("err", ""), peak


# ---------------------------------------------------------------------------
#  Many at once

def test_ten_users_put_and_get_at_once(fs, unique, tmp_path):
    room = unique("crowd")
    users = [cli_user(fs, unique, "u%d" % i) for i in range(10)]
    sources = []
    for i in range(10):
        size = 512 * 1024 + i * 300_001              # 0.5 to 3.1 MiB, all different
        sources.append(make_file(str(tmp_path / ("src-%d.bin" % i)), size, seed=i))
    procs = [fs.pychat_popen("put", room, sources[i], "--as", "f%d.bin" % i,
                             user=users[i][0], password=users[i][1]) for i in range(10)]
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, "put %d: %s" % (i, err.decode())
    # each user fetches the file of the next one, all at once
    dests = [str(tmp_path / ("got-%d.bin" % i)) for i in range(10)]
    procs = [fs.pychat_popen("get", room, "f%d.bin" % ((i + 1) % 10), dests[i],
                             user=users[i][0], password=users[i][1]) for i in range(10)]
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, "get %d: %s" % (i, err.decode())
    for i in range(10):
        assert sha256(dests[i]) == sha256(sources[(i + 1) % 10]), "download %d differs" % i
        assert not os.path.exists(dests[i] + ".part")
    # the listing: every file, its size, who, and the SHA-256 of its bytes
    result = fs.pychat("files", room, "--json", user=users[0][0], password=users[0][1])
    assert result.returncode == 0, result.stderr
    listed = {entry["name"]: entry for entry in json_lines(result.stdout)}
    assert sorted(listed) == sorted("f%d.bin" % i for i in range(10))
    for i in range(10):
        entry = listed["f%d.bin" % i]
        assert entry["size"] == os.path.getsize(sources[i])
        assert entry["from"] == users[i][0]
        assert entry["sha256"] == sha256(sources[i])
        assert abs(entry["time"] - time.time() * 1000) < 600_000
    table = fs.pychat("files", room, user=users[0][0], password=users[0][1])
    assert table.returncode == 0, table.stderr
    assert re.search(r"^f3\.bin\s+\S+ \S+\s+%s\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+%s$"
                     % (users[3][0], sha256(sources[3])), table.stdout, re.M), table.stdout


# ---------------------------------------------------------------------------
#  200 MiB: memory stays flat, chat stays fast

class Chat(threading.Thread):
    """Two users chat while transfers run: one SENDs every 0.15 s (at least
    count messages, until finish()), the other's SUB notes when each
    arrives."""

    def __init__(self, stack, room, sender, receiver, count=20):
        super().__init__(daemon=True)
        self.stack, self.room, self.count = stack, room, count
        self.sender = stack.logged_in(*sender)
        self.sender.join(room)
        self.receiver = stack.logged_in(*receiver)
        self.receiver.join(room)
        self.sub = self.receiver.subscriber()
        self.sent = {}
        self.got = {}
        self.errors = []
        self.finishing = threading.Event()
        self.sending_done = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        pump = threading.Thread(target=self._receive, daemon=True)
        pump.start()
        try:
            n = 0
            while n < self.count or not self.finishing.is_set():
                text = "latency probe %d" % n
                with self.lock:
                    self.sent[text] = time.monotonic()
                self.sender.send(self.room, text)
                n += 1
                time.sleep(0.15)
        except Exception as error:              # reported by the test
            self.errors.append(repr(error))
        self.sending_done.set()
        pump.join(10)

    def _receive(self):
        quiet_since = None
        while True:
            message = self.sub.recv(timeout=0.2)
            now = time.monotonic()
            if message and message[2] == "MSG":
                with self.lock:
                    if message[-1] in self.sent:
                        self.got.setdefault(message[-1], now)
            if self.sending_done.is_set():
                with self.lock:
                    if len(self.got) >= len(self.sent):
                        return
                quiet_since = quiet_since or now
                if now - quiet_since > 5:
                    return                      # the rest is lost: the test says so

    def finish(self):
        self.finishing.set()
        self.join(60)

    def latencies_ms(self):
        return [(self.got[t] - self.sent[t]) * 1000 if t in self.got else None for t in self.sent]


@pytest.mark.soak
def test_200_mib_memory_stays_flat_and_chat_stays_fast(big, unique, tmp_path):
    fs = big
    alice = cli_user(fs, unique, "alice")
    dan, eve = cli_user(fs, unique, "dan"), cli_user(fs, unique, "eve")
    room, chat_room = unique("big"), unique("chat")
    source = make_file(os.path.join(fs.tmp, "big-source.bin"), BIG, seed=200)
    tiny = make_file(str(tmp_path / "tiny.bin"), 1024, seed=1)
    dest = os.path.join(fs.tmp, "big-copy.bin")

    sampler = Sampler()
    sampler.watch("broker", fs.procs["broker"].pid)
    sampler.watch("filesvc", fs.procs["filesvc"].pid)
    sampler.start()
    # The client's baseline: the same commands on a 1 KiB file
    rc, out, err, tiny_put = run_measured(fs, sampler, ("put", room, tiny), *alice)
    assert rc == 0, err
    rc, out, err, tiny_get = run_measured(
        fs, sampler, ("get", room, "tiny.bin", str(tmp_path / "tiny-copy.bin")), *alice)
    assert rc == 0, err
    time.sleep(0.5)
    with sampler.lock:
        baseline = {name: max(sampler.samples.get(name, [0])[-3:]) for name in ("broker", "filesvc")}

    chat = Chat(fs, chat_room, dan, eve)
    started = first = time.monotonic()
    chat.start()
    rc, out, err, big_put = run_measured(fs, sampler, ("put", room, source), *alice)
    put_s = time.monotonic() - started
    assert rc == 0, err
    started = time.monotonic()
    rc, out, err, big_get = run_measured(fs, sampler, ("get", room, "big-source.bin", dest), *alice)
    get_s = time.monotonic() - started
    last = time.monotonic()
    assert rc == 0, err
    chat.finish()
    samples = sampler.stop()
    assert sha256(dest) == sha256(source)

    growth = {name: (max(samples[name]) - baseline[name]) / 1024 for name in ("broker", "filesvc")}
    growth["pychat put"] = (big_put - tiny_put) / 1024
    growth["pychat get"] = (big_get - tiny_get) / 1024
    latencies = chat.latencies_ms()
    during = sum(1 for sent in chat.sent.values() if first <= sent <= last)
    print("\n200 MiB: put %.1f s, get %.1f s; RSS growth (MiB): %s; peak RSS (MiB): broker %.1f, "
          "filesvc %.1f, pychat put %.1f / get %.1f (1 KiB file: %.1f / %.1f); chat latency ms "
          "(%d of %d sent during the transfers): %s"
          % (put_s, get_s, {k: round(v, 1) for k, v in growth.items()},
             max(samples["broker"]) / 1024, max(samples["filesvc"]) / 1024,
             big_put / 1024, big_get / 1024, tiny_put / 1024, tiny_get / 1024,
             during, len(latencies), [None if l is None else round(l, 1) for l in latencies]))
    assert not chat.errors, chat.errors
    for name, mib in growth.items():
        assert mib < 40, "%s grew by %.1f MiB moving a 200 MiB file" % (name, mib)
    assert during >= 10, "the transfers were over before the chat could be measured"
    assert all(l is not None for l in latencies), "chat messages lost: %s" % latencies
    assert max(latencies) < 100, "chat latency during the transfer: %s ms" % latencies
    os.unlink(dest)


# ---------------------------------------------------------------------------
#  Crashes, corruption, names

def kill_when(proc, ready, what):
    """SIGKILL proc as soon as ready() (polled every 5 ms), like a crash."""
    def check():
        if proc.poll() is not None:
            raise AssertionError("%s ended before it could be killed: %s"
                                 % (what, proc.stderr.read().decode()))
        return ready()
    wait_for(check, 120, 0.005, what + " to be under way")
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def settled(measure):
    """measure() once it has not changed for 0.5 s (bytes still in flight
    when a client died keep landing for a moment)."""
    value, since = measure(), time.monotonic()
    while time.monotonic() - since < 0.5:
        time.sleep(0.1)
        if measure() != value:
            value, since = measure(), time.monotonic()
    return value


@pytest.mark.parametrize("private", [False, pytest.param(True, marks=pytest.mark.soak)],
                         ids=["room", "private"])  # the same resume path: make soak runs both
def test_killed_upload_resumes(fs, unique, tmp_path, private):
    alice = cli_user(fs, unique, "alice")
    bob = cli_user(fs, unique, "bob")
    room = unique("resume")
    where = ("--to", bob[0]) if private else (room,)
    source = make_file(str(tmp_path / "resume.bin"), 96 * MiB + 12345, seed=7 + private)
    before = set(partial_uploads(fs))

    def held_now():
        return max([size for path, size in partial_uploads(fs).items() if path not in before]
                   or [0])
    proc = fs.pychat_popen("put", *where, source, user=alice[0], password=alice[1])
    kill_when(proc, lambda: held_now() >= 512 * 1024, "put")
    held = settled(held_now)
    if private:                     # the key and header wait for the next run
        pending = os.path.join(fs.home(alice[0]), "uploads", alice[0])
        assert len(os.listdir(pending)) == 1
        assert os.stat(os.path.join(pending, os.listdir(pending)[0])).st_mode & 0o077 == 0
    size = os.path.getsize(source)
    stored_size = size + (17 * -(-size // 65536) if private else 0)   # sealed: 17 B a record
    assert held < stored_size, "the upload was complete before the kill"

    again = fs.pychat("put", *where, source, user=alice[0], password=alice[1], timeout=300)
    assert again.returncode == 0, again.stderr
    match = re.search(r"resuming at (\d+) bytes", again.stderr)
    assert match, again.stderr
    assert 0 < int(match.group(1)) <= held
    if private:
        assert os.listdir(pending) == [], "the upload's key outlived its upload"
        dest = str(tmp_path / "resumed-copy.bin")
        got = fs.pychat("get", "--with", alice[0], "resume.bin", dest, user=bob[0],
                        password=bob[1], timeout=300)
        assert got.returncode == 0, got.stderr
        assert sha256(dest) == sha256(source)
    else:
        # what the service stored is the file, byte for byte
        stored = [path for path, length in stored_files(fs).items() if length == stored_size]
        assert len(stored) == 1, stored
        assert sha256(stored[0]) == sha256(source)


def test_killed_download_resumes(fs, unique, tmp_path):
    alice = cli_user(fs, unique, "alice")
    room = unique("resume-get")
    source = make_file(str(tmp_path / "long.bin"), 96 * MiB + 777, seed=8)
    assert fs.pychat("put", room, source, user=alice[0], password=alice[1],
                     timeout=300).returncode == 0
    dest = str(tmp_path / "long-copy.bin")
    part = dest + ".part"

    def have():
        return os.path.getsize(part) if os.path.exists(part) else 0
    proc = fs.pychat_popen("get", room, "long.bin", dest, user=alice[0], password=alice[1])
    kill_when(proc, lambda: have() >= 1024 * 1024, "get")
    kept = have()
    assert 0 < kept < os.path.getsize(source) and not os.path.exists(dest)
    again = fs.pychat("get", room, "long.bin", dest, user=alice[0], password=alice[1], timeout=300)
    assert again.returncode == 0, again.stderr
    match = re.search(r"resuming at (\d+) bytes", again.stderr)
    assert match, again.stderr
    offset = int(match.group(1))
    assert 0 < offset <= kept and offset % (256 * 1024) == 0     # a whole chunk
    assert sha256(dest) == sha256(source) and not os.path.exists(part)


def test_corrupted_stored_file_is_refused(fs, unique, tmp_path):
    alice = cli_user(fs, unique, "alice")
    room = unique("corrupt")
    size = 777_777
    source = make_file(str(tmp_path / "fragile.bin"), size, seed=77)
    result = fs.pychat("put", room, source, user=alice[0], password=alice[1])
    assert result.returncode == 0, result.stderr
    stored = [path for path, length in stored_files(fs).items() if length == size]
    assert len(stored) == 1, stored
    with open(stored[0], "r+b") as handle:
        handle.seek(size // 2)
        byte = handle.read(1)
        handle.seek(size // 2)
        handle.write(bytes([byte[0] ^ 0x01]))
    dest = str(tmp_path / "fragile-copy.bin")
    result = fs.pychat("get", room, "fragile.bin", dest, user=alice[0], password=alice[1])
    assert result.returncode == 3, result.stderr
    assert one_line_error(result) == "pychat: fragile.bin: checksum mismatch, download refused"
    assert not os.path.exists(dest) and not os.path.exists(dest + ".part")


def test_bad_names_are_refused(fs, unique, tmp_path):
    alice = cli_user(fs, unique, "alice")
    room = unique("names")
    source = make_file(str(tmp_path / "ok.bin"), 100, seed=3)
    for name in ("../../etc/passwd", ".hidden", "a/b", "tab\there"):
        result = fs.pychat("put", room, source, "--as", name, user=alice[0], password=alice[1])
        assert result.returncode == 4, (name, result.stderr)
        line = one_line_error(result)
        assert "bad file name" in line, line
    # the file service refuses them too, whoever asks (the codec's file type)
    client = fs.logged_in(*alice)
    client.join(room)
    files = RawFiles(client)
    for name in ("../../etc/passwd", ".hidden"):
        reply = files.request("FPUT", room, name, "100", "0" * 64, "", timeout=10)
        assert reply[1:2] == ["ERROR"] and reply[3] == "422", reply
    assert not os.path.exists(os.path.join(fs.tmp, "etc"))


def test_outsider_of_an_invite_only_room_is_refused(fs, unique, tmp_path):
    alice = cli_user(fs, unique, "alice")
    carol = cli_user(fs, unique, "carol")
    room = unique("private-room")
    assert fs.pychat("create-room", room, "--invite-only", user=alice[0],
                     password=alice[1]).returncode == 0
    source = make_file(str(tmp_path / "plans.bin"), 4096, seed=5)
    result = fs.pychat("put", room, source, user=alice[0], password=alice[1])
    assert result.returncode == 0, result.stderr
    listing = fs.pychat("files", room, user=carol[0], password=carol[1])
    assert listing.returncode == 2, listing.stderr
    one_line_error(listing)
    assert "plans.bin" not in listing.stdout
    dest = str(tmp_path / "stolen.bin")
    got = fs.pychat("get", room, "plans.bin", dest, user=carol[0], password=carol[1])
    assert got.returncode == 2, got.stderr
    one_line_error(got)
    assert not os.path.exists(dest) and not os.path.exists(dest + ".part")


def test_remove_by_the_uploader(fs, unique, tmp_path):
    alice = cli_user(fs, unique, "alice")
    bob = cli_user(fs, unique, "bob")
    room = unique("rm")
    source = make_file(str(tmp_path / "old.bin"), 10_000, seed=9)
    assert fs.pychat("put", room, source, user=alice[0], password=alice[1]).returncode == 0
    other = fs.pychat("rm", room, "old.bin", user=bob[0], password=bob[1])
    assert other.returncode == 2, other.stderr
    one_line_error(other)
    result = fs.pychat("rm", room, "old.bin", user=alice[0], password=alice[1])
    assert result.returncode == 0, result.stderr
    listing = fs.pychat("files", room, "--json", user=alice[0], password=alice[1])
    assert listing.returncode == 0 and json_lines(listing.stdout) == [], listing.stdout
    gone = fs.pychat("get", room, "old.bin", str(tmp_path / "x"), user=bob[0], password=bob[1])
    assert gone.returncode == 2, gone.stderr
    one_line_error(gone)


# ---------------------------------------------------------------------------
#  Private files

def _flatten(value):
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif isinstance(value, bytes):
        yield value
    elif value is not None:
        yield str(value).encode()


def redis_values(port, key):
    """Every value stored under key, whatever its type, as bytes (DUMP
    would compress long strings and could hide a marker)."""
    kind = redis_command(port, "TYPE", key)
    reads = {b"string": ("GET",), b"hash": ("HGETALL",), b"list": ("LRANGE", 0, -1),
             b"set": ("SMEMBERS",), b"zset": ("ZRANGE", 0, -1), b"stream": ("XRANGE",)}
    command = reads.get(kind)
    assert command, "unexpected Redis type %r of %r" % (kind, key)
    args = (command[0], key) + command[1:] + (("-", "+") if kind == b"stream" else ())
    return list(_flatten(redis_command(port, *args)))


def _everything_under(root):
    for top, dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(top, name)
            if os.path.isfile(path) and not os.path.islink(path):
                yield path


def test_private_file_only_the_two_can_read(fs, unique, tmp_path):
    alice = cli_user(fs, unique, "alice")
    bob = cli_user(fs, unique, "bob")
    carol = cli_user(fs, unique, "carol")
    marker = ("PRIVATE-MARKER-%s-" % os.urandom(8).hex()).encode()
    plain = tmp_path / "diary.txt"
    plain.write_bytes(marker * (300_000 // len(marker)))      # several 64 KiB records
    result = fs.pychat("put", "--to", bob[0], str(plain), user=alice[0], password=alice[1])
    assert result.returncode == 0, result.stderr
    assert "encrypted" in result.stdout

    # bob: told by DM, sees it listed, gets it back byte for byte
    told = fs.pychat("listen", "--count", "1", "--timeout", "10", "--json", user=bob[0],
                     password=bob[1])
    dms = [m for m in json_lines(told.stdout) if m.get("dm")]
    assert dms and dms[0]["from"] == alice[0], told.stdout + told.stderr
    assert "pychat get --with %s diary.txt" % alice[0] in dms[0]["text"]
    listing = fs.pychat("files", "--from", alice[0], "--json", user=bob[0], password=bob[1])
    assert listing.returncode == 0, listing.stderr
    [entry] = json_lines(listing.stdout)
    assert entry["name"] == "diary.txt" and entry["size"] == plain.stat().st_size
    assert entry["encrypted"] is True and entry["from"] == alice[0]
    dest = str(tmp_path / "diary-bob.txt")
    got = fs.pychat("get", "--with", alice[0], "diary.txt", dest, user=bob[0], password=bob[1])
    assert got.returncode == 0, got.stderr
    assert open(dest, "rb").read() == plain.read_bytes()
    assert os.stat(dest).st_mode & 0o077 == 0, "a private file is saved for its owner only"
    # alice can read back what she sent
    mine = str(tmp_path / "diary-alice.txt")
    assert fs.pychat("get", "--to", bob[0], "diary.txt", mine, user=alice[0],
                     password=alice[1]).returncode == 0
    assert open(mine, "rb").read() == plain.read_bytes()

    # carol: nothing to see, nothing to get
    other = fs.pychat("get", "--with", alice[0], "diary.txt", str(tmp_path / "carol.txt"),
                      user=carol[0], password=carol[1])
    assert other.returncode == 2, other.stderr
    one_line_error(other)
    assert not os.path.exists(str(tmp_path / "carol.txt"))
    # and she cannot read it from the service with her own key either
    files = RawFiles(fs.logged_in(*carol))
    reply = files.request("FOPEN", "@" + alice[0], "diary.txt", timeout=10)
    assert reply[1] == "ERROR" and reply[3] in ("403", "404"), reply

    # the marker is nowhere on the server's side: files, Redis, logs, homes
    for path in _everything_under(fs.tmp):
        with open(path, "rb") as handle:
            assert marker not in handle.read(), "the plaintext is in " + path
    cursor = b"0"
    while True:
        cursor, keys = redis_command(fs.redis_port, "SCAN", cursor, "COUNT", "1000")
        for key in keys:
            assert marker not in key, key
            for value in redis_values(fs.redis_port, key):
                assert marker not in value, "the plaintext is in Redis under %r" % key
        if cursor == b"0":
            break


# ---------------------------------------------------------------------------
#  Limits, quota, the service gone (the small stack)

def test_over_the_size_limit_is_refused_before_any_byte(small, unique, tmp_path):
    alice = cli_user(small, unique, "alice")
    room = unique("limit")
    source = make_file(str(tmp_path / "huge.bin"), 3 * MiB, seed=11)
    before = dict(partial_uploads(small))
    result = small.pychat("put", room, source, user=alice[0], password=alice[1])
    assert result.returncode == 4, result.stderr
    one_line_error(result)
    assert partial_uploads(small) == before, "bytes were sent for a file over the limit"
    assert not [p for p, n in stored_files(small).items() if n == 3 * MiB]


def test_over_the_quota_is_refused(small, unique, tmp_path):
    alice = cli_user(small, unique, "alice")
    room = unique("quota")
    for i in range(2):
        source = make_file(str(tmp_path / ("part%d.bin" % i)), 1200 * 1024, seed=20 + i)
        result = small.pychat("put", room, source, user=alice[0], password=alice[1])
        assert result.returncode == 0, result.stderr
    source = make_file(str(tmp_path / "part2.bin"), 1200 * 1024, seed=22)
    result = small.pychat("put", room, source, user=alice[0], password=alice[1])
    assert result.returncode == 2, result.stderr
    one_line_error(result)
    # removing one makes room again
    assert small.pychat("rm", room, "part0.bin", user=alice[0], password=alice[1]).returncode == 0
    result = small.pychat("put", room, source, user=alice[0], password=alice[1])
    assert result.returncode == 0, result.stderr


def test_file_service_stopped(small, unique, tmp_path):
    alice = cli_user(small, unique, "alice")
    room = unique("down")
    source = make_file(str(tmp_path / "late.bin"), 1000, seed=30)
    assert small.stop_service("filesvc") == 0, small.log_text("filesvc")[-2000:]
    started = time.monotonic()
    result = small.pychat("--timeout", "3", "put", room, source, user=alice[0], password=alice[1])
    assert result.returncode == 3, result.stderr
    line = one_line_error(result)
    assert "file service" in line or "file sharing" in line, line
    assert time.monotonic() - started < 20
    # the broker stops offering it once it has not heard it for 6 s
    time.sleep(6.5)
    result = small.pychat("--timeout", "3", "files", room, user=alice[0], password=alice[1])
    assert result.returncode == 3, result.stderr
    one_line_error(result)


# ---------------------------------------------------------------------------
#  The full-screen client

def test_tui_upload_files_download(fs, unique, tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    from test_tui import Tui
    alice = cli_user(fs, unique, "alice")
    bob = cli_user(fs, unique, "bob")
    room = unique("tui-files")
    source = make_file(str(tmp_path / "photo.jpg"), 3 * MiB + 5, seed=42)
    dest = str(tmp_path / "photo-bob.jpg")
    left = Tui(fs, "files-alice", fs.client_env(*alice))
    right = Tui(fs, "files-bob", fs.client_env(*bob))
    try:
        for client in (left, right):
            client.wait("[connected]")
            client.type("/join " + room)
            client.wait(lambda s: "#%s>" % room in s)
        left.type("/upload " + source)
        left.wait("uploaded photo.jpg", timeout=60)
        right.wait("shared photo.jpg", timeout=30)       # the broker's line in the room
        left.type("/files")
        screen = left.wait("photo.jpg  3.0 MiB  %s" % alice[0], timeout=30)
        assert "1 file in #%s" % room in screen
        right.type("/download photo.jpg " + dest)
        right.wait("saved photo.jpg", timeout=60)
        assert sha256(dest) == sha256(source)
        assert "[connected]" in right.status()
    finally:
        left.close()
        right.close()
