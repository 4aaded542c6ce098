"""The Debian package (issue 19): built from the tree with
dpkg-buildpackage, checked with lintian (no errors), installed with
dpkg -i, its installed binaries run (no systemd here: a private
redis-server and the four services on free ports, as the other tests do)
while two users chat, then purged.

Slow (about 2 minutes: the release build inside dpkg-buildpackage and
lintian) and it changes the machine (root, dpkg): it runs only with
PYCHAT_PACKAGE_TEST=1, which `make test-package` sets after installing
debhelper, lintian and fakeroot."""

import glob
import os
import pwd
import shutil
import subprocess
import time

import pytest

from stack import Stack, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEB_DIR = os.path.join(ROOT, "build", "deb")
BINARIES = ("pychat", "pychat-broker", "pychat-authsvc", "pychat-monitor",
            "pychat-filesvc", "pychat-admin", "pychat-console")

pytestmark = [
    pytest.mark.skipif(os.environ.get("PYCHAT_PACKAGE_TEST") != "1",
                       reason="slow and installs a package: run with `make test-package`"),
    pytest.mark.skipif(os.geteuid() != 0, reason="dpkg -i needs root"),
]


def run(*args, timeout=900, **kwargs):
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    print("%s: %.1f s" % (" ".join(args[:3]), time.monotonic() - started))
    return result


def installed_version():
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "pychat"],
                            capture_output=True, text=True)
    return result.returncode == 0 and "ok installed" in result.stdout


@pytest.fixture(scope="module")
def package():
    for tool in ("dpkg-buildpackage", "dh", "lintian", "fakeroot"):
        if shutil.which(tool) is None:
            pytest.skip(tool + " is not installed (make package-deps)")
    if installed_version():
        pytest.skip("a pychat package is already installed here: not touching it")
    result = run("make", "--no-print-directory", "deb")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    debs = glob.glob(os.path.join(DEB_DIR, "pychat_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def test_lintian_finds_no_error(package):
    changes = glob.glob(os.path.join(DEB_DIR, "pychat_*.changes"))
    assert changes, "no .changes file"
    result = run("lintian", "--fail-on", "error", "--no-tag-display-limit", changes[0])
    errors = [line for line in result.stdout.splitlines() if line.startswith("E:")]
    assert result.returncode == 0 and not errors, result.stdout + result.stderr


def test_the_package_holds_what_make_install_installs(package):
    listing = run("dpkg-deb", "-c", package).stdout
    for name in BINARIES:
        assert "./usr/bin/%s\n" % name in listing, name
    for path in ("./etc/pychat/pychat.conf", "./lib/systemd/system/pychat.target",
                 "./lib/systemd/system/pychat-broker.service",
                 "./usr/share/man/man1/pychat.1.gz", "./usr/share/man/man5/pychat.conf.5.gz",
                 "./usr/share/bash-completion/completions/pychat",
                 "./usr/share/pychat/prometheus/pychat-rules.yml",
                 "./usr/share/pychat/grafana/pychat-dashboard.json"):
        assert path + "\n" in listing, path
    with open(os.path.join(ROOT, "proto", "pc_version.h")) as handle:
        version = handle.read().split('PC_VERSION  "')[1].split('"')[0]
    control = run("dpkg-deb", "-f", package, "Version").stdout.strip()
    assert control.split("-")[0] == version, (control, version)


@pytest.fixture(scope="module")
def installed(package):
    result = run("dpkg", "-i", package)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        yield package
    finally:
        purge = run("dpkg", "--purge", "pychat")
        assert purge.returncode == 0, purge.stdout + purge.stderr
        assert not installed_version()
        for name in BINARIES:
            assert not os.path.exists("/usr/bin/" + name), name
        assert not os.path.exists("/etc/pychat/pychat.conf")
        assert not os.path.exists("/var/lib/pychat")


def test_the_installed_package_runs_and_two_users_chat(installed):
    """The installed /usr/bin binaries with the installed
    /etc/pychat/pychat.conf (which names Redis on 6379): the stack's
    environment (its own PYCHAT_DATA, PYCHAT_PORT and a PYCHAT_REDIS on a
    free port) wins over it. alice and bob chat, a DM goes through."""
    for name in BINARIES:
        assert os.access("/usr/bin/" + name, os.X_OK), name
    assert pwd.getpwnam("pychat").pw_dir == "/var/lib/pychat"
    assert os.path.isdir("/var/lib/pychat")
    assert "PYCHAT_REDIS=127.0.0.1:6379" in open("/etc/pychat/pychat.conf").read()
    assert run("man", "-w", "pychat").stdout.strip().endswith("pychat.1.gz")

    stack = Stack("/usr/bin", name="package")
    stack.env["PYCHAT_REDIS"] = "127.0.0.1:%d" % stack.redis_port
    try:
        stack.start()
        assert stack.pychat("--timeout", "5", "ping").returncode == 0
        stack.register("alice", "wonderland")
        stack.register("bob", "builder")
        listener = stack.listen("lobby", "--count", "2", user="bob", password="builder")
        sent = stack.pychat("send", "lobby", "hello from the package", user="alice",
                            password="wonderland")
        assert sent.returncode == 0, sent.stderr
        dm = stack.pychat("dm", "bob", "a sealed hello", user="alice", password="wonderland")
        assert dm.returncode == 0, dm.stderr
        messages = listener.wait_messages(2)
        texts = {(m.get("from"), m.get("text")) for m in messages}
        assert ("alice", "hello from the package") in texts, messages
        assert ("alice", "a sealed hello") in texts, messages
        assert listener.wait() == 0
        wait_for(lambda: os.path.exists(os.path.join(stack.data, "keys", "monitor.pub")), 20,
                 0.1, "the monitor's key")
        rooms = stack.pychat("rooms", user="bob", password="builder")
        assert rooms.returncode == 0 and "lobby" in rooms.stdout, rooms.stdout + rooms.stderr
    finally:
        stack.stop()
    problems = stack.sanitizer_reports() + stack.bad_exits
    assert not problems, problems
    stack.cleanup()
