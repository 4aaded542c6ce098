"""The two ways to run the stack: docker-compose.yml (checked with
`docker-compose config`, no daemon needed) and scripts/pychat-up (run for
real on free ports, then stopped)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from stack import (OFF_FILES, OFF_REDIS, SANITIZER_ENV, RawClient, RawFiles, Remote,
                   free_base_port, redis_ping, sanitizer_lines, wait_for)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
SERVICES = {"redis", "authsvc", "broker", "monitor", "filesvc"}


def compose(*args):
    return subprocess.run(["docker-compose", "-f", COMPOSE] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def published_ports(service):
    """Host ports a service publishes, from short ("5555:5555/tcp",
    "127.0.0.1:5555:5555") or long ({published, target}) syntax."""
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                ports.add(int(str(entry["published"]).split("-")[0]))
        else:
            parts = str(entry).split("/")[0].split(":")
            if len(parts) >= 2:
                ports.add(int(parts[-2]))
    return ports


def mount(volume):
    """(target, source) of a volume, from short ("src:/target:rw") or long
    ({source, target}) syntax."""
    if isinstance(volume, dict):
        return volume.get("target"), volume.get("source")
    parts = str(volume).split(":")
    return (parts[1], parts[0]) if len(parts) >= 2 else (parts[0], None)


needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                   reason="docker-compose is not installed")


@needs_compose
def test_compose_file_is_valid():
    assert os.path.exists(COMPOSE), "docker-compose.yml is missing at the top level"
    result = compose("config")
    assert result.returncode == 0, result.stderr
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is None:
        names = compose("config", "--services").stdout.split()
        assert set(names) == SERVICES and len(names) == len(SERVICES), names
        return
    config = yaml.safe_load(result.stdout)
    services = config.get("services") or {}
    assert set(services) == SERVICES, sorted(services)
    assert {5555, 5556} <= published_ports(services["broker"]), services["broker"].get("ports")
    # nothing but the broker (and the monitor's console/metrics) faces out:
    # Redis and the auth service are reached only inside the stack
    assert not published_ports(services["redis"]), services["redis"].get("ports")
    assert not published_ports(services["authsvc"]), services["authsvc"].get("ports")
    # the monitor: the console's STATS on base+3 and /metrics on base+4, as make up
    assert published_ports(services["monitor"]) == {5558, 5559}, services["monitor"].get("ports")
    # the file service: base+5, reached by clients on the broker's host
    filesvc = services["filesvc"]
    assert published_ports(filesvc) == {5560}, filesvc.get("ports")
    environment = filesvc.get("environment") or {}
    assert environment.get("PYCHAT_BROKER") == "broker", environment
    files_dir = environment.get("PYCHAT_FILES_DIR", "/data/files")
    mounts = dict(mount(volume) for volume in filesvc.get("volumes") or [])
    assert mounts.get(files_dir) == "pychat-files", \
        "the shared files need a volume of their own: " + repr(filesvc.get("volumes"))


@pytest.fixture
def up_run():
    """scripts/pychat-up on free ports, in its own process group; stopped
    with SIGTERM at the end, which must stop everything it started."""
    script = os.path.join(ROOT, "scripts", "pychat-up")
    if not os.access(script, os.X_OK):
        pytest.fail("scripts/pychat-up is missing or not executable")
    bin_dir = os.path.abspath(os.environ.get("PYCHAT_BIN") or os.path.join(ROOT, "bin"))
    for name in ("authsvc", "broker", "monitor", "filesvc"):
        if not os.access(os.path.join(bin_dir, "pychat-" + name), os.X_OK):
            pytest.skip("not built yet: pychat-" + name)
    tmp = tempfile.mkdtemp(prefix="pychat-wire-up-")
    base = free_base_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCHAT_")}
    env.update(SANITIZER_ENV)
    env.update({"PYCHAT_PORT": str(base), "PYCHAT_DATA": os.path.join(tmp, "data"),
                "PYCHAT_BIN": bin_dir})
    out = open(os.path.join(tmp, "pychat-up.out"), "wb")
    proc = subprocess.Popen([script], env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=tmp, start_new_session=True)
    run = {"proc": proc, "base": base, "tmp": tmp, "data": env["PYCHAT_DATA"], "env": env}
    yield run
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)     # only what this test started
    except ProcessLookupError:
        pass
    out.close()
    shutil.rmtree(tmp, ignore_errors=True)


def test_pychat_up_uses_the_port_offsets(up_run):
    """Redis on base+9, broker on base (CURVE), auth service reachable,
    monitor on base+3, file service on base+5 (FILES points at it, a file
    goes up and comes back); SIGTERM stops it all, exit 0, ports released."""
    base, data, proc = up_run["base"], up_run["data"], up_run["proc"]
    output = os.path.join(up_run["tmp"], "pychat-up.out")

    def up():
        assert proc.poll() is None, "pychat-up exited:\n" + open(output).read()[-3000:]
        return os.path.exists(os.path.join(data, "broker.pub"))
    wait_for(up, 30, 0.1, "pychat-up to write broker.pub")
    wait_for(lambda: redis_ping(base + OFF_REDIS), 20, 0.1, "redis on base+9")
    remote = Remote(base, data)
    try:
        client = RawClient(remote)
        wait_for(lambda: client.request("PING", timeout=1)[3:] == ["PONG"], 30, 0.1,
                 "broker PING on base")
        wait_for(lambda: client.request("REGISTER", "upuser", "pw", timeout=5)[1] == "OK",
                 30, 0.3, "REGISTER through pychat-up's stack")
        assert client.request("LOGIN", "upuser", "pw", timeout=10)[1] == "OK"
        wait_for(lambda: os.path.exists(os.path.join(data, "keys", "monitor.pub")), 20, 0.1,
                 "the monitor's key")
        monitor = remote.monitor_client()
        wait_for(lambda: monitor.request("PING", timeout=1)[3:] == ["PONG"], 20, 0.1,
                 "monitor PING on base+3")
        client.user = "upuser"
        client.ok("JOIN", "uproom")
        wait_for(lambda: client.request("FILES", timeout=2)[1] == "OK", 20, 0.2,
                 "FILES to name the file service")
        assert client.ok("FILES")[0] == str(base + OFF_FILES)
        files = RawFiles(client)
        assert files.upload("uproom", "up.txt", b"through pychat-up")[1] == "17"
        assert files.download("uproom", "up.txt")[0] == b"through pychat-up"
        assert os.listdir(os.path.join(data, "files")), "no bytes in PYCHAT_DATA/files"
    finally:
        remote.close()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, open(output).read()[-3000:]

    def nobody_listens():
        for port in (base, base + 1, base + 2, base + 3, base + OFF_FILES, base + OFF_REDIS):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return False
            except ConnectionRefusedError:
                pass
        return True
    wait_for(nobody_listens, 10, 0.1, "every port to be released")
    reports = []
    logs = os.path.join(data, "logs")
    for name in sorted(os.listdir(logs)):
        with open(os.path.join(logs, name), errors="replace") as handle:
            reports += ["%s: %s" % (name, line) for line in sanitizer_lines(handle.read())]
    assert not reports, "\n".join(reports[:40])


def _wait_up(run, timeout=40):
    output = os.path.join(run["tmp"], "pychat-up.out")

    def up():
        assert run["proc"].poll() is None, "pychat-up exited:\n" + open(output).read()[-3000:]
        return b"PyChat is up." in open(output, "rb").read()
    wait_for(up, timeout, 0.1, "pychat-up to say it is up")


def _second_up(run, **env):
    """Another pychat-up beside run's, with run's environment changed by env;
    returns (exit status, output) once it ends (it must, within 30 s)."""
    merged = dict(run["env"])
    merged.update(env)
    try:
        result = subprocess.run([os.path.join(ROOT, "scripts", "pychat-up")], env=merged,
                                capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                cwd=run["tmp"], timeout=30, start_new_session=True)
    except subprocess.TimeoutExpired:
        pytest.fail("a second pychat-up did not refuse: it kept running")
    return result.returncode, result.stdout + result.stderr


def test_a_second_stack_on_one_data_directory_is_refused(up_run):
    """Two stacks on one PYCHAT_DATA would append to one Redis AOF and lose
    acknowledged messages: the second is refused at once, naming the first."""
    _wait_up(up_run)
    status, output = _second_up(up_run, PYCHAT_PORT=str(free_base_port()))
    assert status == 1, output
    assert "is in use by another PyChat stack (pychat-up pid %d)" % up_run["proc"].pid in output
    assert "PyChat is up" not in output
    assert up_run["proc"].poll() is None, "the first stack stopped"


def test_a_taken_port_stops_the_start_with_one_clear_line(up_run, tmp_path):
    """A second stack (own data) on the first one's ports: refused before it
    starts anything, naming the port and who holds it; never 'PyChat is up'."""
    _wait_up(up_run)
    status, output = _second_up(up_run, PYCHAT_DATA=str(tmp_path / "other"))
    assert status == 1, output
    assert "is already in use by pid" in output and "choose another PYCHAT_PORT" in output
    assert "PyChat is up" not in output
    assert not os.path.exists(tmp_path / "other" / "broker.pub")


def test_a_port_taken_while_running_stops_pychat_up_instead_of_looping(up_run):
    """The broker dies and, before its restart, someone else takes its port:
    pychat-up says so and stops everything (exit 1), no restart loop."""
    _wait_up(up_run)
    base = up_run["base"]
    out = subprocess.run(["ss", "-Hltnp", "sport = :%d" % base], capture_output=True, text=True).stdout
    pid = int(out.split("pid=")[1].split(",")[0])
    squatter = socket.socket()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not subprocess.run(["ss", "-Hltn", "sport = :%d" % base],
                                        capture_output=True, text=True).stdout, 5, 0.01,
             "the broker's port to be released")
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("0.0.0.0", base))
    squatter.listen()
    try:
        assert up_run["proc"].wait(30) == 1
    finally:
        squatter.close()
    output = open(os.path.join(up_run["tmp"], "pychat-up.out")).read()
    assert "a port it needs is taken" in output
    assert output.count("restarting in") <= 1, output[-2000:]
