"""Fixtures for the black-box tests: real stacks on free ports.

PYCHAT_BIN names the directory holding the binaries (the Makefile passes
build/asan/bin). A stack's teardown fails the test when any service log or
any pychat run printed a sanitizer report, or when a service did not exit 0
on SIGTERM (a LeakSanitizer report makes the status non-zero).
"""

import itertools
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))

from stack import Stack  # noqa: E402

REQUIRED = ("pychat-authsvc", "pychat-broker")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "soak: long (a 200 MiB transfer...): run by make soak, not by make test")


def _bin_dir():
    return os.environ.get("PYCHAT_BIN") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "bin")


def _start(name, env=None, redis_socket=False):
    stack = Stack(_bin_dir(), name=name, redis_socket=redis_socket)
    stack.env.update(env or {})
    missing = [b for b in REQUIRED if not stack.has_binary(b)]
    if missing:
        stack.cleanup()
        pytest.skip("not built yet in %s: %s" % (stack.bin_dir, ", ".join(missing)))
    services = ["authsvc", "broker"] + [name for name in ("monitor", "filesvc")
                                        if stack.has_binary("pychat-" + name)]
    stack.start(services)
    return stack


def _finish(stack):
    stack.stop()
    problems = stack.sanitizer_reports() + stack.bad_exits
    if problems:
        pytest.fail("stack %s (logs kept in %s):\n  %s\n  signals sent by the harness:\n    %s"
                    % (stack.base, stack.logs, "\n  ".join(problems[:40]),
                       "\n    ".join(stack.events)), pytrace=False)
    stack.cleanup()


@pytest.fixture(scope="module")
def stack(request):
    """One stack for a whole test file (most tests do not break it); a
    module's STACK_ENV (a dict) adds to the services' environment."""
    stack = _start(request.module.__name__.split(".")[-1],
                   getattr(request.module, "STACK_ENV", None))
    yield stack
    _finish(stack)


@pytest.fixture
def fresh_stack(request):
    """A stack of its own, for a test that stops Redis or a service."""
    stack = _start(request.node.name[:40], getattr(request.module, "STACK_ENV", None))
    yield stack
    _finish(stack)


def need(stack, binary):
    if not stack.has_binary(binary):
        pytest.skip("not built yet: %s/%s" % (stack.bin_dir, binary))


@pytest.fixture
def cli(stack):
    """The module stack, when the pychat client exists."""
    need(stack, "pychat")
    return stack


_names = itertools.count(1)


@pytest.fixture
def unique():
    """unique("alice") -> "alice-7": names that never collide in one stack."""
    return lambda prefix: "%s-%d" % (prefix, next(_names))
