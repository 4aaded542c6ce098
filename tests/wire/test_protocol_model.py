"""The protocol model (proto/pychat.json) against what is written and what runs.

gen_proto.py --check must catch a model and a PROTOCOL.md that disagree, and
the running broker must accept exactly the commands and field counts the
model gives it: a command the model does not send to the broker is 405, a
field too few or too many is 400.
"""

import os
import shutil
import subprocess

import pytest

from pc_proto import COMMANDS, ERR
from stack import RawClient

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GEN = os.path.join(ROOT, "proto", "gen_proto.py")


def _tree(tmp_path):
    """A copy of what gen_proto --check reads, to break on purpose."""
    for rel in ("proto", "tests/helpers", "broker", "authsvc"):
        shutil.copytree(os.path.join(ROOT, rel), tmp_path / rel,
                        ignore=shutil.ignore_patterns("*.o", "__pycache__"))
    return tmp_path


def _check(root):
    return subprocess.run(["/usr/bin/python3", GEN, "--check", "--root", str(root)],
                          capture_output=True, text=True, timeout=60)


def test_the_committed_tree_agrees_with_its_model(tmp_path):
    result = _check(_tree(tmp_path))
    assert result.returncode == 0, result.stderr


def test_a_command_missing_from_protocol_md_fails_the_check(tmp_path):
    root = _tree(tmp_path)
    doc = root / "proto" / "PROTOCOL.md"
    text = doc.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `INVITE` |"))
    doc.write_text(text.replace(row + "\n", ""))
    result = _check(root)
    assert result.returncode == 1
    assert "INVITE is in the model but not in the table" in result.stderr


def test_a_field_the_table_does_not_name_fails_the_check(tmp_path):
    root = _tree(tmp_path)
    doc = root / "proto" / "PROTOCOL.md"
    doc.write_text(doc.read_text().replace("| `KICK` | room, user (names) |", "| `KICK` | room (name) |"))
    result = _check(root)
    assert result.returncode == 1
    assert "KICK's fields do not name 'user'" in result.stderr


def test_an_edited_model_makes_the_generated_code_stale(tmp_path):
    root = _tree(tmp_path)
    model = root / "proto" / "pychat.json"
    model.write_text(model.read_text().replace('"name": "mode", "type": "id"', '"name": "mode", "type": "name"'))
    result = _check(root)
    assert result.returncode == 1
    assert "proto/pc_proto.c is stale" in result.stderr


def test_a_limit_that_disagrees_with_pc_limits_fails_the_check(tmp_path):
    root = _tree(tmp_path)
    limits = root / "proto" / "pc_limits.h"
    limits.write_text(limits.read_text().replace("#define PC_TEXT_MAX         4096", "#define PC_TEXT_MAX         4000"))
    result = _check(root)
    assert result.returncode == 1
    assert "PC_TEXT_MAX is 4000, the model says 4096" in result.stderr


BROKER = sorted(name for name, c in COMMANDS.items() if "broker" in c["to"])
NOT_BROKER = sorted(name for name, c in COMMANDS.items()
                    if "broker" not in c["to"] and name not in ("OK", "ERROR"))


def _arity(command):
    fields = COMMANDS[command]["fields"]
    low = sum(1 for f in fields if not f[2] and not f[3])
    high = None if any(f[3] for f in fields) else len(fields)
    return low, high


def _value(kind):
    return {"name": "x", "text": "x", "secret": "x", "id": "x", "int": "1",
            "any": "x", "file": "x", "blob": "x"}[kind]


@pytest.mark.parametrize("command", BROKER)
def test_the_broker_takes_the_field_counts_the_model_gives(stack, command):
    client = RawClient(stack)
    try:
        low, high = _arity(command)
        if high is not None:
            reply = client.request(command, *(["x"] * (high + 1)))
            assert reply[1] == "ERROR" and reply[3] == str(ERR["MALFORMED"]), (command, reply)
        if low > 0:
            reply = client.request(command, *(["x"] * (low - 1)))
            assert reply[1] == "ERROR" and reply[3] == str(ERR["MALFORMED"]), (command, reply)
        fields = [_value(f[1]) for f in COMMANDS[command]["fields"] if not f[2] and not f[3]]
        reply = client.request(command, *fields)
        assert not (reply[1] == "ERROR" and reply[3] in (str(ERR["MALFORMED"]), str(ERR["UNKNOWN"]))), \
            (command, reply)
    finally:
        client.close()


@pytest.mark.parametrize("command", NOT_BROKER)
def test_the_broker_refuses_what_the_model_does_not_send_it(stack, command):
    client = RawClient(stack)
    try:
        fields = [_value(f[1]) for f in COMMANDS[command]["fields"] if not f[2] and not f[3]]
        reply = client.request(command, *fields)
        assert reply[1] == "ERROR" and reply[3] == str(ERR["UNKNOWN"]), (command, reply)
    finally:
        client.close()
