"""The soak tests share the black-box suite's helpers: tests/helpers, and
the stack start and finish of tests/wire/conftest.py, re-exported here
(a session collects one conftest module by that name)."""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "helpers"))
sys.path.insert(0, os.path.join(HERE, "..", "wire"))

_spec = importlib.util.spec_from_file_location("wire_conftest",
                                               os.path.join(HERE, "..", "wire", "conftest.py"))
_wire = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_wire)
_bin_dir, _finish, _start, need = _wire._bin_dir, _wire._finish, _wire._start, _wire.need
