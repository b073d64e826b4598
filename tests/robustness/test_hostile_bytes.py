"""Property: whatever bytes stand where a command reads one of its files (random bytes,
or a valid file with bits flipped, cut short or with bytes inserted), the command exits
0, 1 or 2 (a run may reach the simulator, which never runs here), prints no traceback,
says an error in one line, prints nothing unprintable and touches no file but its own
outputs.

Each target draws a fixed set of examples (the derandomized profile of
``tests/conftest.py``; Hypothesis also draws constants from the project modules loaded,
so a run of the whole suite tries a slightly different set than a run of this file);
``pytest -s`` prints what they came to.
"""

import io
import traceback
from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from .conftest import ROOT
from .harness import SIMULATOR, run_cli, snapshot, stop_at_simulator

EXAMPLES = 150          # per target: the eight take 7 to 15 s together
COMPILED = ("out.tzb", "out.json")


@dataclass(frozen=True)
class Target:
    """A command reading hostile bytes from the scratch file ``name``, mutated from the
    valid file ``valid`` (a key of :func:`valid_files`); it may write ``outputs``."""
    id: str
    name: str
    valid: str
    argv: tuple
    outputs: tuple = ()


TARGETS = [
    Target("graph-json", "g.json", "dot.json", ("compile", "g.json", "-o", "out.tzb"),
           COMPILED),
    Target("graph-py", "g.py", "dot.py", ("compile", "g.py", "-o", "out.tzb"), COMPILED),
    Target("fabric-toml", "f.toml", "fabric.toml",
           ("compile", "dot.json", "--fabric", "f.toml", "-o", "out.tzb"), COMPILED),
    Target("inputs-npz", "i.npz", "in.npz",
           ("run", "prog.tzb", "--inputs", "i.npz", "--build-dir", "b")),
    Target("bitstream-disasm", "x.tzb", "prog.tzb", ("disasm", "x.tzb", "-o", "out.txt"),
           ("out.txt",)),
    Target("bitstream-run", "x.tzb", "prog.tzb",
           ("run", "x.tzb", "--manifest", "prog.json", "--inputs", "in.npz", "--build-dir",
            "b")),
    Target("text-asm", "x.txt", "prog.txt", ("asm", "x.txt", "-o", "out.tzb"), ("out.tzb",)),
    Target("manifest-run", "m.json", "prog.json",
           ("run", "prog.tzb", "--manifest", "m.json", "--inputs", "in.npz", "--build-dir",
            "b")),
]


@cache
def valid_files():
    """Name to bytes of the valid files the targets mutate (those of the scratch folder)."""
    from compiler.disasm import disassemble
    inputs = io.BytesIO()
    np.savez(inputs, a=np.arange(4096, dtype=np.int32), b=np.ones(4096, dtype=np.int32))
    tzb = (ROOT / "bitstreams/small/dot.tzb").read_bytes()
    return {
        "dot.json": (ROOT / "examples/dot.json").read_bytes(),
        "dot.py": (ROOT / "examples/dot.py").read_bytes(),
        "fabric.toml": (ROOT / "hw/presets/tiny.toml").read_bytes(),
        "in.npz": inputs.getvalue(),
        "prog.tzb": tzb,
        "prog.json": (ROOT / "bitstreams/small/dot.json").read_bytes(),
        "prog.txt": disassemble(tzb).encode(),
    }


def _apply(data, edits):
    """``data`` with each edit applied in turn; positions wrap to the current length."""
    for kind, at, extra in edits:
        if kind == "flip" and data:
            i = at % (8 * len(data))
            data = data[:i // 8] + bytes([data[i // 8] ^ 1 << i % 8]) + data[i // 8 + 1:]
        elif kind == "cut":
            data = data[:at % (len(data) + 1)]
        elif kind == "insert":
            i = at % (len(data) + 1)
            data = data[:i] + extra + data[i:]
    return data


EDIT = st.tuples(st.sampled_from(["flip", "flip", "cut", "insert"]),
                 st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8))


def hostile(valid):
    """Random bytes, or ``valid`` with one to four edits."""
    return st.one_of(st.binary(max_size=256),
                     st.lists(EDIT, min_size=1, max_size=4).map(lambda e: _apply(valid, e)))


def check_outcome(target, scratch, data, capsysbinary, counts):
    """Run ``target`` on ``data`` and check the property, counting in ``counts`` its
    outcome (``error``, ``success``, ``simulator`` or ``usage``), a traceback and the
    files it destroyed."""
    (scratch / target.name).write_bytes(data)
    before = snapshot(scratch)
    try:
        result = run_cli(target.argv, capsysbinary)
    except Exception:
        capsysbinary.readouterr()
        counts["tracebacks"] += 1
        pytest.fail(f"traceback for {data!r}:\n{traceback.format_exc()}")
    after = snapshot(scratch)
    touched = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    destroyed = sorted(touched - set(target.outputs))
    counts["files destroyed"] += len(destroyed)
    assert not destroyed, f"files destroyed: {destroyed}"
    assert "Traceback" not in result.stderr
    assert all(line.isprintable() for line in result.stderr.splitlines()), result.stderr
    assert result.status in (0, 1, 2, SIMULATOR), result
    if result.status == 1:
        assert result.stderr.startswith("terrazzo: error: ") \
            and result.stderr.count("\n") == 1, result.stderr
    counts[{0: "success", 1: "error", 2: "usage", SIMULATOR: "simulator"}[result.status]] += 1


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_hostile_bytes(target, scratch, capsysbinary, monkeypatch, pytestconfig):
    stop_at_simulator(scratch, monkeypatch)
    counts = Counter()

    @settings(max_examples=EXAMPLES, database=None)
    @given(hostile(valid_files()[target.valid]))
    def property_holds(data):
        check_outcome(target, scratch, data, capsysbinary, counts)

    try:
        property_holds()
    finally:
        if pytestconfig.getoption("capture") == "no":       # pytest -s
            with capsysbinary.disabled():
                report(target, counts)


def report(target, counts):
    print(f"\n{target.id}: {EXAMPLES} examples: {counts['error']} clear errors, "
          f"{counts['success']} successes, {counts['simulator']} reached the simulator, "
          f"{counts['usage']} usage errors; tracebacks {counts['tracebacks']}, files "
          f"destroyed {counts['files destroyed']}")
