"""The file service (PROTOCOL.md, "File sharing"): pychat-filesvc on base+5
asks the broker who a key is and which spaces it may use, keeps the bytes
in PYCHAT_FILES_DIR and the listing in Redis. Black-box: a real
redis-server, the real (sanitizer) binaries, CURVE everywhere, raw frames
(RawFiles reuses a logged-in RawClient's key pair, as a client must)."""

import hashlib
import os
import shutil
import subprocess
import threading
import time

import pytest

from stack import (CHUNK_MAX, OFF_FILES, SIGNATURE, RawClient, RawFiles, RawSub, now_ms,
                   wait_for)

MAX = 2 << 20                   # PYCHAT_FILES_MAX below
QUOTA = 3 << 20                 # PYCHAT_FILES_QUOTA below
STACK_ENV = {"PYCHAT_FILES_MAX": "2M", "PYCHAT_FILES_QUOTA": "3M"}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def files_dir(stack):
    return os.path.join(stack.data, "files")


def parts(stack):
    """The pending uploads' files (PYCHAT_FILES_DIR/tmp)."""
    return set(os.listdir(os.path.join(files_dir(stack), "tmp")))


def holds(stack, data):
    """Does PYCHAT_FILES_DIR hold a listed file with exactly these bytes?"""
    root = files_dir(stack)
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.isfile(path) and os.path.getsize(path) == len(data):
            with open(path, "rb") as handle:
                if handle.read() == data:
                    return True
    return False


def rows(listing):
    """FLIST's fields, 5 per file: name, size, from, time, sha."""
    return [listing[i:i + 5] for i in range(0, len(listing), 5)]


def names(listing):
    return [row[0] for row in rows(listing)]


def member(stack, name, *rooms):
    """name logged in with a fresh key, in rooms: (RawClient, RawFiles)."""
    client = stack.logged_in(name, "pw-" + name)
    for room in rooms:
        client.join(room)
    return client, RawFiles(client)


def error_of(reply):
    """(code, reason, detail) of an ERROR reply."""
    assert reply[1] == "ERROR", reply[:6]
    return reply[3], reply[4], (reply[5] if len(reply) > 5 else None)


def restart_filesvc(stack, env=None, prefix=()):
    assert stack.stop_service("filesvc") == 0, stack.log_text("filesvc")[-2000:]
    stack.start_service("filesvc", env=env, prefix=prefix)


def wait_serving(files, space):
    """Until FLIST of space is answered OK: the file service is up and has
    reached the broker."""
    wait_for(lambda: files.request("FLIST", space, timeout=2)[1] == "OK", 30, 0.1,
             "the file service to serve %s again" % space)


@pytest.fixture(scope="module")
def fs(stack):
    if not stack.alive("filesvc"):
        pytest.skip("not built yet: pychat-filesvc")
    for name in ("alice", "bob", "carol"):
        stack.register(name, "pw-" + name)
    return stack


# ---------------------------------------------------------------------------
#  Sharing in a room

def test_upload_list_download_round_trip(fs):
    alice, afiles = member(fs, "alice", "roundtrip")
    bob, bfiles = member(fs, "bob", "roundtrip")
    report = os.urandom(2 * CHUNK_MAX + 12345)          # three chunks, the last short
    notes = "héllo, 世界\n".encode() * 100
    before = now_ms()
    assert afiles.upload("roundtrip", "report.pdf", report) == [
        "report.pdf", str(len(report)), sha(report)]
    afiles.upload("roundtrip", "Notes 2024 (draft).txt", notes)

    listing = rows(bfiles.ok("FLIST", "roundtrip"))
    assert [row[0] for row in listing] == ["Notes 2024 (draft).txt", "report.pdf"], listing
    assert listing[1][1:3] == [str(len(report)), "alice"] and listing[1][4] == sha(report)
    assert before - 1000 <= int(listing[1][3]) <= now_ms() + 1000, listing[1]

    got, opened = bfiles.download("roundtrip", "report.pdf")
    assert got == report
    assert opened[1:4] == [str(len(report)), sha(report), "alice"] and opened[5] == ""
    assert bfiles.download("roundtrip", "Notes 2024 (draft).txt")[0] == notes
    # on disk under random ids, never under the names people gave
    stored = os.listdir(files_dir(fs))
    assert not any("report" in name or "Notes" in name for name in stored), stored
    assert holds(fs, report)


def test_shared_message_reaches_members_and_history(fs):
    alice, afiles = member(fs, "alice", "announce")
    bob = fs.logged_in("bob", "pw-bob")
    bob.join("announce")
    sub = bob.subscriber()
    afiles.upload("announce", "slides.key", b"s" * 1536)

    seen = []

    def shared():
        seen.extend(m for m in sub.drain(0.2) if m[2] == "MSG")
        return [m for m in seen if m[8].startswith("shared slides.key")]
    got = wait_for(shared, 10, 0, "bob to see the file arrive")
    msg_id, room, sender, _, text = got[0][4:9]
    assert (room, sender, text) == ("announce", "alice", "shared slides.key (1.5 KiB)"), got[0]
    # stored and sequenced like any message, and posted once
    seen.extend(m for m in sub.drain(2.5) if m[2] == "MSG")
    assert len([m for m in seen if m[8].startswith("shared slides.key")]) == 1, seen
    history = bob.ok("HISTORY", "announce", "0", "50")
    entries = [history[i:i + 4] for i in range(0, len(history), 4)]
    assert [msg_id, "alice"] in [entry[:2] for entry in entries], entries
    assert [entry[3] for entry in entries].count("shared slides.key (1.5 KiB)") == 1, entries


def test_logged_in_outsider_gets_403(fs):
    alice, afiles = member(fs, "alice", "club")
    afiles.upload("club", "members-only.txt", b"secret plans")
    carol, cfiles = member(fs, "carol")             # logged in, never joined
    code, reason, _ = error_of(cfiles.request("FLIST", "club"))
    assert code == "403" and "join" in reason, reason
    assert cfiles.error("FPUT", "club", "mine.txt", "3", sha(b"abc"), "") == 403
    assert cfiles.error("FOPEN", "club", "members-only.txt") == 403
    assert cfiles.error("FRM", "club", "members-only.txt") == 403
    # positive control: once in the room she may; once out, not any more
    carol.join("club")
    assert names(cfiles.ok("FLIST", "club")) == ["members-only.txt"]
    assert cfiles.download("club", "members-only.txt")[0] == b"secret plans"
    carol.ok("LEAVE", "club")
    assert cfiles.error("FLIST", "club") == 403
    assert names(afiles.ok("FLIST", "club")) == ["members-only.txt"]


def test_key_never_logged_in_gets_403(fs):
    alice, afiles = member(fs, "alice", "club2")
    afiles.upload("club2", "a.txt", b"a")
    port, key, host = alice.ok("FILES")
    assert int(port) == fs.base + OFF_FILES and key == fs.files_key() and host == ""
    stranger = RawClient(fs)                        # a fresh key, never logged in
    assert stranger.error("FILES") == 403
    sfiles = RawFiles(stranger, port=port, server_key=key)
    assert sfiles.request("PING")[3] == "PONG"      # connected: refused, not deaf
    for request in (("FLIST", "club2"), ("FOPEN", "club2", "a.txt"),
                    ("FPUT", "club2", "b.txt", "1", sha(b"b"), ""), ("FRM", "club2", "a.txt"),
                    ("FLIST", "@alice")):
        code, reason, _ = error_of(sfiles.request(*request))
        assert code == "403" and "log in" in reason, (request, reason)
    assert names(afiles.ok("FLIST", "club2")) == ["a.txt"]


def test_pair_space_is_for_the_two_only(fs):
    alice, afiles = member(fs, "alice")
    bob, bfiles = member(fs, "bob")
    carol, cfiles = member(fs, "carol")
    secret = os.urandom(5000)
    afiles.upload("@bob", "for-bob.bin", secret, meta="c2VhbGVkIGtleQ==")
    # one space for the pair, whoever names it
    assert names(afiles.ok("FLIST", "@bob")) == ["for-bob.bin"]
    assert names(bfiles.ok("FLIST", "@alice")) == ["for-bob.bin"]
    got, opened = bfiles.download("@alice", "for-bob.bin")
    assert got == secret and opened[3] == "alice" and opened[5] == "c2VhbGVkIGtleQ=="
    # a third user cannot reach it: her @alice and @bob are her own pairs,
    # and the pair's space id is not a name a client may use
    assert names(cfiles.ok("FLIST", "@alice")) == []
    assert names(cfiles.ok("FLIST", "@bob")) == []
    assert cfiles.error("FOPEN", "@alice", "for-bob.bin") == 404
    assert cfiles.error("FOPEN", "@bob", "for-bob.bin") == 404
    assert cfiles.error("FRM", "@bob", "for-bob.bin") == 404
    assert cfiles.error("FLIST", "dm/alice+bob") == 422
    assert afiles.error("FLIST", "@alice") == 422           # not a pair with yourself
    assert afiles.error("FLIST", "@" + "x" * 33) == 422
    assert names(bfiles.ok("FLIST", "@alice")) == ["for-bob.bin"]


def test_bad_file_names_are_refused(fs):
    alice, afiles = member(fs, "alice", "names")
    for bad in ("../../etc/passwd", ".hidden", "a/b", "x" * 256, "back\\slash", "tab\there",
                "..", "."):
        code, reason, _ = error_of(afiles.request("FPUT", "names", bad, "1", sha(b"1"), ""))
        assert code == "422", (bad, code, reason)
        assert afiles.error("FOPEN", "names", bad) == 422
    # positive control: what a person would call a file is fine, up to 255 bytes
    assert afiles.upload("names", "Résumé, v2 (final).pdf", b"1")[0] == "Résumé, v2 (final).pdf"
    assert afiles.upload("names", "y" * 255, b"2")[0] == "y" * 255
    assert sorted(names(afiles.ok("FLIST", "names"))) == ["Résumé, v2 (final).pdf", "y" * 255]
    assert not os.path.exists(os.path.join(fs.data, "etc"))
    assert not any(name.startswith(".") for name in os.listdir(files_dir(fs)))


def test_larger_than_files_max_is_refused(fs):
    fs.register("maxine", "pw-maxine")
    maxine, mfiles = member(fs, "maxine", "big")
    code, reason, _ = error_of(mfiles.request("FPUT", "big", "huge.iso", str(MAX + 1),
                                              sha(b""), ""))
    assert code == "413" and str(MAX) in reason, reason
    # exactly the limit is allowed
    assert mfiles.ok("FPUT", "big", "just-fits.iso", str(MAX), sha(b""), "")[1] == "0"


def test_quota_then_space_back_after_frm(fs):
    fs.register("quinn", "pw-quinn")
    quinn, qfiles = member(fs, "quinn", "quota")
    two = os.urandom(2 << 20)
    qfiles.upload("quota", "two-mib.bin", two)
    more = os.urandom(1536 * 1024)
    code, reason, _ = error_of(qfiles.request("FPUT", "quota", "more.bin", str(len(more)),
                                              sha(more), ""))
    assert code == "507" and "quota" in reason, reason
    assert qfiles.ok("FRM", "quota", "two-mib.bin") == []
    assert not holds(fs, two), "FRM left the bytes in PYCHAT_FILES_DIR"
    assert qfiles.upload("quota", "more.bin", more)[0] == "more.bin"
    assert names(qfiles.ok("FLIST", "quota")) == ["more.bin"]


def test_fdata_at_the_wrong_offset_gets_409_with_the_offset(fs):
    alice, afiles = member(fs, "alice", "offsets")
    data = b"0123456789"
    upload_id, offset, chunk = afiles.put("offsets", "digits.txt", len(data), data)
    assert (offset, chunk) == ("0", str(CHUNK_MAX))
    code, _, detail = error_of(afiles.request("FDATA", upload_id, "5", data[5:]))
    assert (code, detail) == ("409", "0")
    assert afiles.ok("FDATA", upload_id, "0", data[:5]) == ["5"]
    code, _, detail = error_of(afiles.request("FDATA", upload_id, "0", data[:5]))
    assert (code, detail) == ("409", "5")
    code, _, detail = error_of(afiles.request("FDONE", upload_id))
    assert (code, detail) == ("409", "5")                   # incomplete
    assert afiles.error("FDATA", upload_id, "5", data[5:] + b"!") == 413
    assert afiles.ok("FDATA", upload_id, "5", data[5:]) == ["10"]
    assert afiles.ok("FDONE", upload_id) == ["digits.txt", "10", sha(data)]
    assert afiles.download("offsets", "digits.txt")[0] == data


def test_upload_ids_and_handles_answer_only_their_key(fs):
    alice, afiles = member(fs, "alice", "mine")
    bob, bfiles = member(fs, "bob", "mine")
    alice2, afiles2 = member(fs, "alice", "mine")           # the same user, another key
    data = os.urandom(1000)
    upload_id = afiles.put("mine", "mine.bin", len(data), data)[0]
    for other in (bfiles, afiles2):
        assert other.error("FDATA", upload_id, "0", data) == 404
        assert other.error("FDONE", upload_id) == 404
    afiles.send_data(upload_id, data)
    assert afiles.ok("FDONE", upload_id)[0] == "mine.bin"
    handle = afiles.ok("FOPEN", "mine", "mine.bin")[0]
    for other in (bfiles, afiles2):
        assert other.error("FREAD", handle, "0", "100") == 404
    chunk = afiles.request_bytes("FREAD", handle, "0", "100")
    assert chunk[1] == b"FCHUNK" and chunk[3] == b"0" and chunk[4] == data[:100]
    assert afiles.error("FREAD", handle, str(len(data)), "100") == 400     # past the end


def test_downloads_under_way_are_limited_per_key(fs):
    alice, afiles = member(fs, "alice", "many")
    bob, bfiles = member(fs, "bob", "many")
    for i in range(3):
        afiles.upload("many", "f%d.txt" % i, b"%d" % i * 10)
    # finished downloads do not count: twenty in a row
    for i in range(20):
        assert afiles.download("many", "f%d.txt" % (i % 3))[0] == b"%d" % (i % 3) * 10
    # sixteen opened and not read are the most one key may have under way
    handles = [afiles.ok("FOPEN", "many", "f0.txt")[0] for _ in range(16)]
    code, reason, detail = error_of(afiles.request("FOPEN", "many", "f1.txt"))
    assert (code, detail) == ("429", "1"), reason
    assert bfiles.ok("FOPEN", "many", "f1.txt")[1] == "10"          # another key may
    chunk = afiles.request_bytes("FREAD", handles[0], "0", "10")      # one finishes
    assert chunk[1] == b"FCHUNK" and chunk[4] == b"0" * 10
    assert afiles.ok("FOPEN", "many", "f1.txt")[1] == "10"
    # a finished download may still be read again
    chunk = afiles.request_bytes("FREAD", handles[0], "5", "10")
    assert chunk[1] == b"FCHUNK" and chunk[3] == b"5" and chunk[4] == b"0" * 5


def test_wrong_sha256_is_refused_and_not_listed(fs):
    alice, afiles = member(fs, "alice", "checks")
    data = os.urandom(300000)
    before = parts(fs)
    upload_id = afiles.ok("FPUT", "checks", "tampered.bin", len(data), sha(data + b"!"), "")[0]
    afiles.send_data(upload_id, data)
    code, reason, _ = error_of(afiles.request("FDONE", upload_id, timeout=20))
    assert code == "409" and "checksum" in reason, reason
    assert "tampered.bin" not in names(afiles.ok("FLIST", "checks"))
    assert afiles.error("FDONE", upload_id) == 404          # discarded
    assert afiles.error("FOPEN", "checks", "tampered.bin") == 404
    assert parts(fs) == before, "the refused upload left its bytes behind"
    assert not holds(fs, data)
    # the name is free for the real thing
    assert afiles.upload("checks", "tampered.bin", data)[2] == sha(data)


def test_resume_from_a_new_key_of_the_same_user(fs):
    first, ffiles = member(fs, "alice", "resume")
    data = os.urandom(3 * CHUNK_MAX + 1000)
    upload_id, offset, _ = ffiles.put("resume", "big.bin", len(data), data)
    assert offset == "0"
    ffiles.send_data(upload_id, data[:2 * CHUNK_MAX + 5000])   # then the process dies
    # another user's identical FPUT is an upload of its own
    bob, bfiles = member(fs, "bob", "resume")
    bob_upload = bfiles.put("resume", "big.bin", len(data), data)
    assert bob_upload[0] != upload_id and bob_upload[1] == "0"

    again, afiles = member(fs, "alice", "resume")           # a new process, a new key
    resumed = afiles.put("resume", "big.bin", len(data), data)
    assert resumed[0] == upload_id
    assert resumed[1] == str(2 * CHUNK_MAX), "resume at the last whole chunk held"
    assert ffiles.error("FDATA", upload_id, str(2 * CHUNK_MAX), b"x") == 404   # moved on
    afiles.send_data(upload_id, data, offset=int(resumed[1]))
    assert afiles.ok("FDONE", upload_id) == ["big.bin", str(len(data)), sha(data)]
    assert bfiles.download("resume", "big.bin")[0] == data
    # bob's pending upload of the same name now finds the name taken
    bfiles.send_data(bob_upload[0], data)
    assert bfiles.error("FDONE", bob_upload[0], timeout=20) == 409


def test_private_upload_sealed_again_replaces_the_old_one(fs):
    """A private upload whose key was lost is sealed again under a fresh
    key: same name, another SHA-256. The newest FPUT of a name wins: the
    old upload goes, and the log names its id, never the private name."""
    alice, afiles = member(fs, "alice")
    bob, bfiles = member(fs, "bob")
    before = parts(fs)
    sealed = os.urandom(70000)
    first_id = afiles.put("@bob", "plans-for-bob.bin", len(sealed), sealed,
                          meta="Zmlyc3Qga2V5")[0]
    assert afiles.ok("FDATA", first_id, "0", sealed[:30000]) == ["30000"]
    assert parts(fs) - before == {first_id + ".part"}
    resealed = os.urandom(len(sealed))              # a fresh key: the same size, another sha
    second_id, offset, _ = afiles.put("@bob", "plans-for-bob.bin", len(resealed), resealed,
                                      meta="c2Vjb25kIGtleQ==")
    assert second_id != first_id and offset == "0"
    assert afiles.error("FDATA", first_id, "30000", sealed[30000:]) == 404
    assert afiles.error("FDONE", first_id) == 404
    assert parts(fs) - before == {second_id + ".part"}, "the old upload left its bytes behind"
    afiles.send_data(second_id, resealed)
    assert afiles.ok("FDONE", second_id) == ["plans-for-bob.bin", str(len(resealed)),
                                             sha(resealed)]
    got, opened = bfiles.download("@alice", "plans-for-bob.bin")
    assert got == resealed and opened[5] == "c2Vjb25kIGtleQ=="
    log = fs.log_text("filesvc")
    discarded = [line for line in log.splitlines() if first_id in line and "discarded" in line]
    assert len(discarded) == 1, discarded
    assert "plans-for-bob" not in log, "a private file's name reached the log"


def test_ten_clients_upload_and_download_at_once(fs):
    count = 10
    crowd = []
    for i in range(count):
        fs.register("crowd%d" % i, "pw-crowd%d" % i)
        crowd.append(member(fs, "crowd%d" % i, "crowd")[1])
    blobs = [os.urandom(150000 + 61000 * i) for i in range(count)]
    barrier = threading.Barrier(count)
    failures = []

    def run(i):
        try:
            files = crowd[i]
            files.upload("crowd", "file-%d.bin" % i, blobs[i], credit=4)
            barrier.wait(60)
            other = (i + 3) % count
            got, _ = files.download("crowd", "file-%d.bin" % other, credit=4)
            if got != blobs[other]:
                failures.append("client %d: file-%d.bin differs" % (i, other))
        except BaseException as exc:        # noqa: B902 - reported below
            failures.append("client %d: %r" % (i, exc))
            barrier.abort()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    listing = rows(crowd[0].ok("FLIST", "crowd"))
    assert [row[0] for row in listing] == sorted("file-%d.bin" % i for i in range(count))
    for row in listing:
        i = int(row[0].split("-")[1].split(".")[0])
        assert row[1:3] == [str(len(blobs[i])), "crowd%d" % i] and row[4] == sha(blobs[i])


def admin(stack, *args, password=None):
    env = dict(stack.env)
    if password is not None:
        env["PYCHAT_PASSWORD"] = password
    result = subprocess.run([stack.binary("pychat-admin")] + list(args), env=env,
                            capture_output=True, text=True, timeout=30, cwd=stack.tmp)
    stack._note_client_stderr(["pychat-admin"] + list(args), result.stderr)
    return result


def test_remove_by_stranger_uploader_and_admin(fs):
    if not fs.has_binary("pychat-admin"):
        pytest.skip("not built yet: pychat-admin")
    alice, afiles = member(fs, "alice", "cleanup")
    bob, bfiles = member(fs, "bob", "cleanup")
    mine, other = os.urandom(70001), os.urandom(70002)
    afiles.upload("cleanup", "mine.bin", mine)
    afiles.upload("cleanup", "other.bin", other)
    code, reason, _ = error_of(bfiles.request("FRM", "cleanup", "mine.bin"))
    assert code == "403" and "uploader" in reason, reason
    assert holds(fs, mine) and "mine.bin" in names(bfiles.ok("FLIST", "cleanup"))

    assert afiles.ok("FRM", "cleanup", "mine.bin") == []
    assert names(bfiles.ok("FLIST", "cleanup")) == ["other.bin"]
    assert bfiles.error("FOPEN", "cleanup", "mine.bin") == 404
    assert not holds(fs, mine), "FRM left the bytes in PYCHAT_FILES_DIR"
    assert afiles.error("FRM", "cleanup", "mine.bin") == 404

    result = admin(fs, "create-admin", "root", password="pw-root")
    assert result.returncode == 0, result.stderr
    root, rfiles = member(fs, "root", "cleanup")
    assert rfiles.ok("FRM", "cleanup", "other.bin") == []
    assert not holds(fs, other)
    assert names(afiles.ok("FLIST", "cleanup")) == []


def test_malformed_frames_get_errors_and_the_service_goes_on(fs):
    alice, afiles = member(fs, "alice", "robust")
    cases = [
        (["GET / HTTP/1.0", "x", "y"], "400"),
        ([SIGNATURE, "FLY", "m1"], "405"),
        ([SIGNATURE, "SEND", "m2", "robust", "c1", "hi"], "405"),
        ([SIGNATURE, "FCHUNK", "m3", "0", "x"], "405"),
        ([SIGNATURE, "FLIST", "m4"], "400"),
        ([SIGNATURE, "FDATA", "m5", "u", "0", b""], "400"),
        ([SIGNATURE, "FDATA", "m6", "u", "0", b"x" * (CHUNK_MAX + 1)], "413"),
        ([SIGNATURE, "FREAD", "m7", "h", "zero", "10"], "400"),
        ([SIGNATURE, "FPUT", "m8", "robust", "a.txt", "-5", sha(b""), ""], "400"),
        ([SIGNATURE, "FPUT", "m9", "robust", "a.txt", "5", "ABCDEF", ""], "400"),
        ([SIGNATURE, "FPUT", "m10", "robust", "a.txt", "5"], "400"),
        ([SIGNATURE, "PING"], "400"),
        (["PYCHAT9", "PING", "m11"], "426"),
        ([b"\xff\xfe\x00", b"\x00", b""], "400"),
    ]
    for frames, code in cases:
        afiles.send_raw(frames)
        reply = afiles.recv(5)
        assert reply is not None, "no answer to %r" % (frames[:3],)
        assert reply[1] == "ERROR" and reply[3] == code, (frames[:3], reply[:5])
    assert fs.alive("filesvc")
    assert afiles.request("PING")[3] == "PONG"
    assert afiles.upload("robust", "after.txt", b"still here")[0] == "after.txt"


def test_events_for_the_monitor(fs):
    sub = RawSub(fs, keypair=fs.keypair("monitor"))
    sub.subscribe("$ev/")
    alice, afiles = member(fs, "alice", "watched")
    bob, bfiles = member(fs, "bob")
    events = []

    def seen(kind, match=lambda m: True):
        events.extend(m for m in sub.drain(0.2) if m[2] == "EVENT")
        return [m for m in events if m[4] == kind and match(m)]
    counters = wait_for(lambda: seen("files"), 10, 0, "a files event every 2 s")[-1][5:]
    assert len(counters) == 6 and all(value.isdigit() for value in counters), counters

    data = os.urandom(3000)
    afiles.upload("watched", "watched.bin", data)
    up = wait_for(lambda: seen("file-up", lambda m: m[7] == "watched.bin"), 10, 0, "file-up")
    assert up[0][5:9] == ["alice", "room/watched", "watched.bin", "3000"], up[0]
    afiles.upload("@bob", "private.bin", data)
    up = wait_for(lambda: seen("file-up", lambda m: m[6] == "dm/alice+bob"), 10, 0, "file-up")
    assert up[0][5:9] == ["alice", "dm/alice+bob", "-", "3000"], up[0]  # no private names
    bfiles.download("@alice", "private.bin")
    down = wait_for(lambda: seen("file-down", lambda m: m[6] == "dm/alice+bob"), 10, 0,
                    "file-down")
    assert down[0][5:9] == ["bob", "dm/alice+bob", "-", "3000"], down[0]
    afiles.ok("FRM", "watched", "watched.bin")
    gone = wait_for(lambda: seen("file-rm", lambda m: m[6] == "room/watched"), 10, 0, "file-rm")
    assert gone[0][5:8] == ["alice", "room/watched", "watched.bin"], gone[0]
    mark = len(events)
    later = wait_for(lambda: seen("files") and [m for m in events[mark:] if m[4] == "files"],
                     10, 0, "a files event after the transfers")[-1]
    assert int(later[7]) >= 2 and int(later[8]) >= 1, later          # uploads, downloads
    assert int(later[9]) >= 6000 and int(later[10]) >= 3000, later   # bytes in, out


# ---------------------------------------------------------------------------
#  Running out of room (the module's file service, restarted)

def test_min_free_refuses_uploads(fs):
    alice, afiles = member(fs, "alice", "fullroom")
    try:
        restart_filesvc(fs, env={"PYCHAT_FILES_MIN_FREE": "1000T"})
        wait_serving(afiles, "fullroom")
        code, reason, _ = error_of(afiles.request("FPUT", "fullroom", "tiny.txt", "1",
                                                  sha(b"x"), ""))
        assert code == "507" and "disk" in reason, reason
        assert afiles.ok("FLIST", "fullroom") == []
    finally:
        restart_filesvc(fs)
        wait_serving(afiles, "fullroom")
    assert afiles.upload("fullroom", "tiny.txt", b"x")[0] == "tiny.txt"     # control


def test_write_failure_discards_the_upload(fs):
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit is not installed")
    limit = 600 * 1024              # RLIMIT_FSIZE: no file may grow past this
    assert os.path.getsize(fs.log_path("filesvc")) < limit // 2, "its log would hit the limit"
    alice, afiles = member(fs, "alice", "efbig")
    try:
        restart_filesvc(fs, prefix=["prlimit", "--fsize=%d" % limit])
        wait_serving(afiles, "efbig")
        data = os.urandom(1 << 20)
        before = parts(fs)
        upload_id = afiles.put("efbig", "too-big-for-the-disk.bin", len(data), data)[0]
        failed_at = None
        for position in range(0, len(data), CHUNK_MAX):
            reply = afiles.request("FDATA", upload_id, str(position),
                                   data[position:position + CHUNK_MAX])
            if reply[1] == "ERROR":
                code, reason, _ = error_of(reply)
                failed_at = position
                break
        assert failed_at == 2 * CHUNK_MAX, "the write crossing the limit must fail"
        assert code == "507" and "discarded" in reason, reason
        assert afiles.error("FDATA", upload_id, str(failed_at), b"x") == 404
        assert afiles.error("FDONE", upload_id) == 404
        assert afiles.ok("FLIST", "efbig") == []
        assert parts(fs) == before, "a .part was left behind"
        assert fs.alive("filesvc")
    finally:
        restart_filesvc(fs)
        wait_serving(afiles, "efbig")
    assert afiles.upload("efbig", "small.bin", b"fits")[0] == "small.bin"   # control


# ---------------------------------------------------------------------------
#  Outages (a stack each)

@pytest.fixture
def outage(fresh_stack):
    if not fresh_stack.alive("filesvc"):
        pytest.skip("not built yet: pychat-filesvc")
    fresh_stack.register("alice", "pw-alice")
    return fresh_stack


def test_redis_down_then_back(outage):
    alice, afiles = member(outage, "alice", "outage")
    data = os.urandom(10000)
    afiles.upload("outage", "kept.bin", data)
    outage.stop_redis(keep_data=True)
    for request in (("FLIST", "outage"), ("FOPEN", "outage", "kept.bin"),
                    ("FPUT", "outage", "new.bin", "3", sha(b"new"), ""),
                    ("FRM", "outage", "kept.bin")):
        started = time.monotonic()
        code, reason, _ = error_of(afiles.request(*request, timeout=10))
        assert code == "503" and "try again" in reason, (request, reason)
        assert time.monotonic() - started < 5, "%s took too long to fail" % request[0]
    assert outage.alive("filesvc")
    outage.start_redis()
    wait_for(lambda: afiles.request("FLIST", "outage", timeout=5)[1] == "OK", 20, 0.3,
             "FLIST to work again")
    assert names(afiles.ok("FLIST", "outage")) == ["kept.bin"]
    assert afiles.download("outage", "kept.bin")[0] == data
    assert afiles.upload("outage", "after.bin", b"after the outage")[0] == "after.bin"


def test_broker_killed_then_back(outage):
    alice, afiles = member(outage, "alice", "outage")
    data = os.urandom(10000)
    afiles.upload("outage", "kept.bin", data)
    late = os.urandom(4000)
    late_id = afiles.put("outage", "late.bin", len(late), late)[0]

    outage.kill_service("broker")
    started = time.monotonic()
    code, reason, _ = error_of(afiles.request("FLIST", "outage", timeout=10))
    assert code == "503" and "broker" in reason, reason
    assert time.monotonic() - started < 5
    assert afiles.request("PING")[3] == "PONG"          # the file service itself is fine
    # an upload under way needs no broker to finish
    afiles.send_data(late_id, late)
    assert afiles.ok("FDONE", late_id)[0] == "late.bin"

    outage.start_service("broker")
    outage.wait_broker()
    alice.login("alice", "pw-alice")                    # sessions went with the old broker
    alice.join("outage")
    wait_for(lambda: afiles.request("FLIST", "outage", timeout=5)[1] == "OK", 20, 0.3,
             "FLIST to work again")
    assert names(afiles.ok("FLIST", "outage")) == ["kept.bin", "late.bin"]
    assert afiles.download("outage", "late.bin")[0] == late

    # the file-up the broker missed is sent again: the room hears of it once
    def announced():
        history = alice.ok("HISTORY", "outage", "0", "50")
        return [history[i + 3] for i in range(0, len(history), 4)
                if history[i + 3].startswith("shared late.bin")]
    assert wait_for(announced, 15, 0.3, "the late file-up to be posted") == [
        "shared late.bin (3.9 KiB)"]
    assert len([text for text in announced()]) == 1

    # FILES: OK while the file service reports, 503 once it is silent for 6 s
    wait_for(lambda: alice.request("FILES", timeout=2)[1] == "OK", 10, 0.2, "FILES OK")
    assert outage.stop_service("filesvc") == 0
    code, reason, _ = error_of(wait_for(
        lambda: (lambda r: r if r[1] == "ERROR" else None)(alice.request("FILES", timeout=2)),
        12, 0.5, "FILES to say the file service is gone"))
    assert code == "503" and "file service" in reason, reason
    outage.start_service("filesvc")
    outage.wait_files()
    assert alice.ok("FILES")[0] == str(outage.base + OFF_FILES)


def test_monitor_counts_transfers_and_alerts_when_the_file_service_goes(outage):
    """STATS, /metrics and the alert list show the file service's work and
    absence: counts and bytes only, never a private file's name."""
    import urllib.request
    alice, afiles = member(outage, "alice", "watched")
    outage.register("bob", "pw-bob")
    bob, bfiles = member(outage, "bob", "watched")
    data = os.urandom(70000)
    afiles.upload("watched", "public.bin", data)
    afiles.upload("@bob", "secret-plan.bin", data)
    assert bfiles.download("watched", "public.bin")[0] == data
    assert bfiles.download("@alice", "secret-plan.bin")[0] == data

    def counted():
        files = outage.stats()["files"]
        return files if (files["shared"] == 2 and files["fetched"] == 2
                         and files["bytes_in_total"] >= 2 * len(data)
                         and files["bytes_out_total"] >= 2 * len(data)) else None
    files = wait_for(counted, 15, 0.3, "STATS to count two uploads and two downloads")
    assert files["filesvc"] == "up" and files["uploads_total"] == 2, files
    assert files["downloads_total"] == 2 and files["removed"] == 0, files
    stats = outage.stats()
    texts = [event["text"] for event in stats["events"] if event["kind"].startswith("file-")]
    assert any("public.bin" in text for text in texts), texts
    assert not any("secret-plan" in text for text in texts), texts

    url = "http://127.0.0.1:%d/metrics" % (outage.base + 4)

    def scraped():
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        return text if 'pychat_file_transfers_total{direction="up"} 2\n' in text else None
    text = wait_for(scraped, 10, 0.3, "/metrics to count the uploads")
    assert "pychat_filesvc_up 1\n" in text
    assert "secret-plan" not in text

    assert outage.stop_service("filesvc") == 0
    wait_for(lambda: "filesvc_down" in [a["kind"] for a in outage.stats()["alerts"]], 15, 0.5,
             "the filesvc_down alert")
    assert outage.stats()["files"]["filesvc"] == "down"
    outage.start_service("filesvc")
    wait_for(lambda: "filesvc_down" not in [a["kind"] for a in outage.stats()["alerts"]], 15,
             0.5, "the filesvc_down alert to clear")


# ---------------------------------------------------------------------------
#  The newest FPUT of a name wins (a stack of its own: quotas start at 0)

@pytest.fixture
def alone(fresh_stack):
    if not fresh_stack.alive("filesvc"):
        pytest.skip("not built yet: pychat-filesvc")
    for name in ("alice", "bob"):
        fresh_stack.register(name, "pw-" + name)
    return fresh_stack


def test_put_again_with_other_content_replaces_the_pending_upload(alone):
    """The file changed after a crash: FPUT of the same name with another
    size or SHA-256 starts afresh, and the unfinished upload goes, bytes,
    record and place on the quota. Nobody else's upload of the name, and
    none of the user's of other names or spaces, is touched."""
    alice, afiles = member(alone, "alice", "again", "elsewhere")
    bob, bfiles = member(alone, "bob", "again")
    theirs = os.urandom(CHUNK_MAX + 1000)               # bob's of the same name, here
    bob_id = bfiles.put("again", "big.bin", len(theirs), theirs)[0]
    bfiles.send_data(bob_id, theirs[:CHUNK_MAX])
    aside = os.urandom(1000)                            # alice's of the same name, elsewhere
    aside_id = afiles.put("elsewhere", "big.bin", len(aside), aside)[0]
    other = os.urandom(500)                             # alice's of another name, here
    other_id = afiles.put("again", "other.bin", len(other), other)[0]

    first = os.urandom(2 << 20)
    first_id, offset, _ = afiles.put("again", "big.bin", len(first), first)
    assert offset == "0"
    afiles.send_data(first_id, first[:3 * CHUNK_MAX])
    assert parts(alone) == {i + ".part" for i in (bob_id, aside_id, other_id, first_id)}

    # had the first kept its place, 2 MiB more would be over the 3 MiB quota
    second = os.urandom(2 << 20)
    assert len(aside) + len(other) + len(first) + len(second) > QUOTA
    second_id, offset, _ = afiles.put("again", "big.bin", len(second), second)
    assert second_id != first_id and offset == "0"
    assert afiles.error("FDATA", first_id, str(3 * CHUNK_MAX),
                        first[3 * CHUNK_MAX:4 * CHUNK_MAX]) == 404
    assert afiles.error("FDONE", first_id) == 404
    assert parts(alone) == {i + ".part" for i in (bob_id, aside_id, other_id, second_id)}
    bfiles.send_data(bob_id, theirs, offset=CHUNK_MAX)  # bob's goes on where it stood
    afiles.send_data(second_id, second)
    assert afiles.ok("FDONE", second_id, timeout=30) == ["big.bin", str(len(second)), sha(second)]
    assert names(bfiles.ok("FLIST", "again")) == ["big.bin"]
    assert bfiles.download("again", "big.bin")[0] == second

    # the quota holds the new file and the two pending uploads, nothing of the first
    used = len(second) + len(aside) + len(other)
    code, reason, _ = error_of(afiles.request("FPUT", "again", "more.bin",
                                              str(QUOTA - used + 1), sha(b""), ""))
    assert code == "507" and "%d of %d bytes used" % (used, QUOTA) in reason, reason
    assert afiles.ok("FPUT", "again", "more.bin", str(QUOTA - used), sha(b""), "")[1] == "0"

    # untouched: alice's other uploads resume; bob's is still there to
    # finish, and finds the name alice's now
    assert afiles.put("elsewhere", "big.bin", len(aside), aside)[:2] == [aside_id, "0"]
    assert afiles.put("again", "other.bin", len(other), other)[:2] == [other_id, "0"]
    code, reason, _ = error_of(bfiles.request("FDONE", bob_id, timeout=20))
    assert code == "409" and "name" in reason, reason
    afiles.send_data(aside_id, aside)
    assert afiles.ok("FDONE", aside_id) == ["big.bin", str(len(aside)), sha(aside)]
