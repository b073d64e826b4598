"""The scratch folder every robustness case runs in: copies of real files, the current
folder for the run, umask 022."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def disassembly():
    from compiler.disasm import disassemble
    return disassemble((ROOT / "bitstreams/small/dot.tzb").read_bytes())


@pytest.fixture
def scratch(tmp_path, monkeypatch, disassembly):
    """A folder holding a graph and its JSON twin (``dot.py``, ``dot.json``), a compiled
    pair (``prog.tzb``, ``prog.json``), its disassembly (``prog.txt``), inputs
    (``in.npz``), a fabric file (``fabric.toml``) and an unrelated ``notes.txt``; the
    current folder while the test runs."""
    shutil.copy(ROOT / "examples/dot.py", tmp_path / "dot.py")
    shutil.copy(ROOT / "examples/dot.json", tmp_path / "dot.json")
    shutil.copy(ROOT / "bitstreams/small/dot.tzb", tmp_path / "prog.tzb")
    shutil.copy(ROOT / "bitstreams/small/dot.json", tmp_path / "prog.json")
    shutil.copy(ROOT / "hw/presets/tiny.toml", tmp_path / "fabric.toml")
    (tmp_path / "prog.txt").write_text(disassembly)
    (tmp_path / "notes.txt").write_text("the user's own notes\n")
    np.savez(tmp_path / "in.npz", a=np.arange(4096, dtype=np.int32),
             b=np.ones(4096, dtype=np.int32))
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    yield tmp_path
    os.umask(old)
