"""The two ways to run the stack: docker-compose.yml (checked with
`docker-compose config`, no daemon needed) and scripts/pychat-up (run for
real on free ports, then stopped)."""

import os
import re
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
    # the services reach the private Redis by its Unix socket
    socket_path = os.path.join(data, "redis", "redis.sock")
    wait_for(lambda: "history in redis %s " % socket_path in _log(data, "broker"), 20, 0.1,
             "the broker to use redis's socket")
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


def _log(data, name):
    try:
        with open(os.path.join(data, "logs", name + ".log"), errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def test_a_data_directory_without_a_socket_falls_back_to_the_port(tmp_path):
    """Redis cannot open its Unix socket in PYCHAT_DATA (here: a directory
    is in the way): pychat-up says so, starts it on its port alone, and
    the services use that."""
    bin_dir = os.path.abspath(os.environ.get("PYCHAT_BIN") or os.path.join(ROOT, "bin"))
    for name in ("authsvc", "broker"):
        if not os.access(os.path.join(bin_dir, "pychat-" + name), os.X_OK):
            pytest.skip("not built yet: pychat-" + name)
    data = str(tmp_path / "data")
    os.makedirs(os.path.join(data, "redis", "redis.sock"))
    base = free_base_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCHAT_")}
    env.update(SANITIZER_ENV)
    env.update({"PYCHAT_PORT": str(base), "PYCHAT_DATA": data, "PYCHAT_BIN": bin_dir})
    output = str(tmp_path / "pychat-up.out")
    with open(output, "wb") as out:
        proc = subprocess.Popen([os.path.join(ROOT, "scripts", "pychat-up")], env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(tmp_path), start_new_session=True)
    try:
        _wait_up({"proc": proc, "tmp": str(tmp_path)})
        text = open(output).read()
        assert ("redis-server cannot open its socket %s/redis/redis.sock: the services use "
                "127.0.0.1:%d" % (data, base + OFF_REDIS)) in text, text[-3000:]
        assert "history in redis 127.0.0.1:%d " % (base + OFF_REDIS) in _log(data, "broker")
        remote = Remote(base, data)
        try:
            client = RawClient(remote)
            wait_for(lambda: client.request("REGISTER", "fallback", "pw", timeout=5)[1] == "OK",
                     30, 0.3, "REGISTER through the fallen-back stack")
        finally:
            remote.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, open(output).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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


# ---------------------------------------------------------------------------
#  The compose stack as an operator runs it (issue 19): healthchecks, .env,
#  the file service's advertised endpoint, and the image, checked statically
#  (Docker cannot run here and hadolint is not packaged in Debian 12: the
#  Dockerfile's structure is tested instead).

ENV_EXAMPLE = os.path.join(ROOT, ".env.example")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")


def _yaml():
    return pytest.importorskip("yaml", reason="python3-yaml (docker-compose's) is not installed")


def _config(env_file=None):
    args = (["--env-file", env_file] if env_file else []) + ["config"]
    result = compose(*args)
    assert result.returncode == 0, result.stderr
    return _yaml().safe_load(result.stdout)


def test_compose_file_has_no_obsolete_version_key():
    raw = _yaml().safe_load(open(COMPOSE))
    assert "version" not in raw, "the top-level version: key is obsolete (Compose Specification)"


@needs_compose
def test_every_service_has_a_healthcheck_and_waits_for_health():
    services = _config()["services"]
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test"), name + " has no healthcheck"
        assert not check.get("disable"), name
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            pytest.fail("%s: depends_on only orders start-up; wait for service_healthy" % name)
        for other, how in depends.items():
            assert how.get("condition") == "service_healthy", (name, other, how)
    for name in ("broker", "monitor"):
        command = services[name]["healthcheck"]["test"]
        assert command[0] == "CMD" and command[1].startswith("pychat"), \
            "%s's healthcheck should be a real round trip: %r" % (name, command)


def _compose_variables():
    return set(re.findall(r"\$\{(\w+)", open(COMPOSE).read()))


def _env_example():
    values = {}
    for line in open(ENV_EXAMPLE):
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_env_example_has_every_variable_and_nothing_else():
    assert os.path.exists(ENV_EXAMPLE), ".env.example is missing"
    used, documented = _compose_variables(), set(_env_example())
    assert used, "docker-compose.yml uses no variables"
    assert used == documented, ("in docker-compose.yml only: %s; in .env.example only: %s"
                                % (sorted(used - documented), sorted(documented - used)))
    text = open(ENV_EXAMPLE).read()
    for key in documented:      # each is explained by a comment above it
        before = text.split("\n" + key + "=")[0].rstrip().splitlines()
        assert any(line.startswith("#") for line in before[-6:]), key + " is not explained"


@needs_compose
def test_env_example_defaults_are_the_compose_defaults(tmp_path):
    """docker-compose with .env.example gives the same stack as without it."""
    assert _config(ENV_EXAMPLE) == _config()


@needs_compose
def test_the_advertised_file_endpoint_and_host_ports_are_configurable(tmp_path):
    env = tmp_path / "moved.env"
    env.write_text("PYCHAT_HOST_PORT=7000\nPYCHAT_HOST_FANOUT_PORT=7001\n"
                   "PYCHAT_HOST_FILES_PORT=7005\nPYCHAT_PUBLIC_FILES=chat.example.org:7005\n")
    services = _config(str(env))["services"]
    assert published_ports(services["broker"]) == {7000, 7001}
    assert published_ports(services["filesvc"]) == {7005}
    assert services["broker"]["environment"]["PYCHAT_PUBLIC_FILES"] == "chat.example.org:7005"
    assert published_ports(services["monitor"]) == {5558, 5559}


def test_compose_documents_the_first_admin_and_the_console():
    """Both run inside the stack, where the keys are (the pychat-data volume)."""
    for path in (COMPOSE, os.path.join(ROOT, "README.md")):
        text = open(path).read()
        assert re.search(r"docker-compose run --rm \w+ pychat-admin create-admin", text), path
        assert re.search(r"docker-compose run --rm \w+ pychat-console", text), path


def _dockerfile_stages():
    stages, current = [], None
    for line in open(DOCKERFILE).read().replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            current = {"from": rest, "lines": []}
            stages.append(current)
        else:
            assert current is not None, "an instruction before FROM: " + line
            current["lines"].append((instruction.upper(), rest.strip()))
    return stages


def test_dockerfile_is_multi_stage_small_and_non_root():
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "the image should be built in one stage and run from another"
    build, runtime = stages[0], stages[-1]
    assert re.search(r"\bAS\s+build\b", build["from"], re.I), build["from"]
    assert ":" in runtime["from"] and not runtime["from"].endswith(":latest"), \
        "pin the runtime base image: " + runtime["from"]
    build_runs = " ".join(rest for op, rest in build["lines"] if op == "RUN")
    assert "python3" in build_runs, "the Makefile runs proto/gen_proto.py: the build needs python3"
    runs = [rest for op, rest in runtime["lines"] if op == "RUN"]
    for run in runs:
        assert not re.search(r"build-essential|\S+-dev\b|gcc|\bmake\b", run), \
            "compilers or headers in the runtime image: " + run
    for stage in stages:
        for op, rest in stage["lines"]:
            if op == "RUN" and "apt-get install" in rest:
                assert "--no-install-recommends" in rest and "rm -rf /var/lib/apt/lists" in rest, rest
    users = [rest for op, rest in runtime["lines"] if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the runtime runs as root"
    copies = " ".join(rest for op, rest in runtime["lines"] if op == "COPY")
    assert "--from=build" in copies and "/src " not in copies + " ", \
        "copy the binaries from the build stage, not the source tree"
    command = [rest for op, rest in runtime["lines"] if op == "CMD"]
    assert command and command[-1].startswith("["), "CMD in exec form"


def test_the_image_has_every_program_the_compose_file_runs():
    raw = _yaml().safe_load(open(COMPOSE))
    copied = " ".join(rest for op, rest in _dockerfile_stages()[-1]["lines"] if op == "COPY")
    programs = set()
    for name, service in raw["services"].items():
        if service.get("image", "").startswith("pychat"):
            programs.add(service["command"][0])
            test = service["healthcheck"]["test"]
            if test[1].startswith("pychat"):
                programs.add(test[1])
    programs |= {"pychat-admin", "pychat-console"}     # the documented runs
    for program in programs:
        assert "/" + program + " " in copied + " ", program + " is not in the image"
    ignored = open(os.path.join(ROOT, ".dockerignore")).read().split()
    for path in (".git", "build", "bin"):
        assert path in ignored, path + " would be sent to the Docker daemon"


@needs_compose
def test_the_three_broker_override_is_valid_and_complete():
    """docker-compose.cluster.yml (make up BROKERS=3's topology): three
    brokers with distinct ids and ports, each with a file service; a Redis
    replica and three Sentinels; every PyChat service follows the
    Sentinels; everything waits for health."""
    result = subprocess.run(["docker-compose", "-f", COMPOSE, "-f",
                             os.path.join(ROOT, "docker-compose.cluster.yml"), "config"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    services = _yaml().safe_load(result.stdout)["services"]
    brokers = {name: s for name, s in services.items() if s.get("command") == ["pychat-broker"]}
    assert set(brokers) == {"broker", "broker2", "broker3"}, sorted(brokers)
    ids = {s["environment"]["PYCHAT_BROKER_ID"] for s in brokers.values()}
    ports = {s["environment"]["PYCHAT_PORT"] for s in brokers.values()}
    assert ids == {"b1", "b2", "b3"} and len(ports) == 3
    assert {"redis-replica", "sentinel1", "sentinel2", "sentinel3"} <= set(services)
    files = [name for name, s in services.items() if s.get("command") == ["pychat-filesvc"]]
    assert len(files) == 3
    for name in list(brokers) + files + ["authsvc"]:
        env = services[name]["environment"]
        assert env["PYCHAT_REDIS_SENTINELS"].count(":26379") == 3, name
        assert env["PYCHAT_REDIS_REPLICAS"] == "1", name
    for name, service in services.items():
        assert (service.get("healthcheck") or {}).get("test"), name + " has no healthcheck"
        for other, how in (service.get("depends_on") or {}).items():
            assert how.get("condition") == "service_healthy", (name, other)
