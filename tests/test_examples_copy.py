"""examples/ is the readable copy of the packaged kernel suite (terrazzo/kernels/)."""

from pathlib import Path

from terrazzo.kernels import KERNELS

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "terrazzo" / "kernels"
EXAMPLES = ROOT / "examples"


def test_examples_hold_exactly_the_suite():
    want = {f"{k}{s}" for k in KERNELS for s in (".py", ".json")} | {"README.md"}
    have = {p.name for p in EXAMPLES.iterdir() if p.is_file()}
    assert have == want, "examples/ differs from the suite: run `python -m terrazzo.kernels`"


def test_examples_equal_the_packaged_files():
    stale = [p.name for p in sorted(EXAMPLES.iterdir()) if p.is_file()
             and p.read_bytes() != (PACKAGED / p.name).read_bytes()]
    assert not stale, f"examples/ is stale ({', '.join(stale)}): run `python -m terrazzo.kernels`"
