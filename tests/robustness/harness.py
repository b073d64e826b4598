"""The shared harness: a table :class:`Case` per CLI run, and :func:`check_case`, which
runs it in-process in a scratch folder and checks status, message and changed files.

A run of ``terrazzo run`` never simulates here: :func:`stop_at_simulator` makes it raise
:class:`ReachedSimulator` where it would build its model, and :func:`run_cli` reports
that as the status :data:`SIMULATOR`, the success of a run whose every check passed."""

import fnmatch
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import sim.execute
from terrazzo.cli import main

LONG = "n" * 300        # longer than any file system allows a name to be


@dataclass(frozen=True)
class Case:
    """One CLI run.

    ``message`` is the error after ``terrazzo: error: `` (a ``str`` for the exact text,
    a compiled regex to fullmatch) or None for a success; ``status`` the exit status
    (default 1 with a message, else 0; :data:`SIMULATOR` for a run that reaches it); ``changed`` the fnmatch patterns of the paths
    (relative to the scratch folder) that must change, each matching at least one, and
    no other path may; ``setup`` steps ``step(scratch, monkeypatch)`` prepare the case
    (what they patch is undone after the run); ``expect(result, scratch)`` checks more."""
    id: str
    argv: tuple
    message: object = None
    status: int = None
    changed: tuple = ()
    setup: tuple = ()
    expect: Callable = None
    marks: tuple = field(default=())

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


@dataclass(frozen=True)
class Result:
    status: int
    stdout: bytes
    stderr: str


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _entry(path):
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        content = _digest(path) if os.path.isfile(path) else None
        return ("link", target, content)
    if stat.S_ISREG(st.st_mode):
        return ("file", mode, st.st_ino, _digest(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", mode)
    return ("special", stat.S_IFMT(st.st_mode), mode)


def snapshot(root):
    """``{relative path: description}`` of everything under ``root``: content hash, mode
    and inode of regular files, target (and its content) of symlinks, type of the rest."""
    entries = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            entries[os.path.relpath(path, root)] = _entry(path)
    return entries


class ReachedSimulator(Exception):
    """Raised by :func:`stop_at_simulator` where ``terrazzo run`` builds its model (the
    cocotb runner's or the C++ harness's)."""


SIMULATOR = "reached the simulator"


def stop_at_simulator(scratch, monkeypatch):
    """A step: ``terrazzo run`` raises :class:`ReachedSimulator` instead of building a
    simulator model, after every check of its arguments and files."""
    def runner(*args, **kwargs):
        raise ReachedSimulator
    monkeypatch.setattr(sim.execute, "Runner", runner)
    monkeypatch.setattr(sim.execute, "Harness", runner)


def run_cli(argv, capsysbinary):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as e:       # argparse usage errors
        status = e.code
    except ReachedSimulator:
        status = SIMULATOR
    out, err = capsysbinary.readouterr()
    return Result(status, out, err.decode())


def check_case(case, scratch, capsysbinary):
    """Run ``case`` in ``scratch`` (the current folder) and check it."""
    with pytest.MonkeyPatch.context() as faults:     # what setup injects ends with the run
        for step in case.setup:
            step(scratch, faults)
        before = snapshot(scratch)
        result = run_cli(case.argv, capsysbinary)
    after = snapshot(scratch)
    assert "Traceback" not in result.stderr
    # what files hold never reaches the terminal raw (escape sequences, line breaks)
    assert all(line.isprintable() for line in result.stderr.splitlines()), result.stderr
    if case.message is None:
        assert result.status == (case.status or 0), result.stderr
    else:
        assert result.status == (case.status or 1)
        assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
        line = result.stderr.removeprefix("terrazzo: error: ").rstrip("\n")
        if isinstance(case.message, re.Pattern):
            assert case.message.fullmatch(line), line
        else:
            assert line == case.message, line
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    stray = sorted(p for p in changed if not any(fnmatch.fnmatch(p, c) for c in case.changed))
    assert not stray, f"changed but not an output: {stray}"
    missing = [c for c in case.changed if not any(fnmatch.fnmatch(p, c) for p in changed)]
    assert not missing, f"outputs not written: {missing}"
    for p in changed:
        if p in after and after[p][0] == "file":
            assert after[p][1] == 0o644, f"{p}: mode {after[p][1]:o} with umask 022"
    if case.expect:
        case.expect(result, scratch)


def fail_os(name, err, when=lambda *args: True):
    """A step that makes ``os.<name>`` raise ``OSError(err)`` on calls for which
    ``when(*args)`` holds (an injected file system failure)."""
    def setup(scratch, monkeypatch):
        real = getattr(os, name)

        def faulty(*args, **kwargs):
            if when(*args):
                raise OSError(err, os.strerror(err), str(args[-1]))
            return real(*args, **kwargs)
        monkeypatch.setattr(os, name, faulty)
    return setup


def nth_call(n):
    """A ``when`` that holds for the ``n``-th call only."""
    calls = []

    def when(*args):
        calls.append(args)
        return len(calls) == n
    return when


def creating_in(folder):
    """A ``when`` for ``os.open``: the call creates a file directly in ``folder``
    (relative to the current folder at the time of the call)."""
    def when(path, flags, *rest):
        return bool(flags & os.O_CREAT) and Path(path).resolve().parent == Path(folder).resolve()
    return when



def symlink(name, target):
    return lambda scratch, mp: os.symlink(target, scratch / name)


def hardlink(name, target):
    return lambda scratch, mp: os.link(scratch / target, scratch / name)


def fifo(name):
    return lambda scratch, mp: os.mkfifo(scratch / name)


def folder(name):
    return lambda scratch, mp: (scratch / name).mkdir(parents=True)


def file(name, data):
    """A step writing ``data`` (bytes, or the name of a scratch file to copy) to ``name``."""
    def step(scratch, mp):
        path = scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else (scratch / data).read_bytes())
    return step


def edited(name, source, old, new):
    """A step writing to ``name`` the scratch file ``source`` with its one ``old`` text
    replaced by ``new``."""
    def step(scratch, mp):
        text = (scratch / source).read_text()
        assert text.count(old) == 1, (source, old)
        (scratch / name).write_text(text.replace(old, new))
    return step


def npz(name, **arrays):
    """A step writing the arrays to the ``.npz`` archive ``name`` (``numpy.savez``)."""
    return lambda scratch, mp: np.savez(scratch / name, **arrays)
