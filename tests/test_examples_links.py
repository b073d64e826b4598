"""examples/ links to the packaged kernel suite (terrazzo/kernels/): one source."""

from pathlib import Path

from terrazzo.kernels import KERNELS

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "terrazzo" / "kernels"
EXAMPLES = ROOT / "examples"


#: folders of examples/ that are not the kernel suite: demonstrations, fabric files
DEMOS = {"bf16", "fabrics"}


def test_examples_link_to_exactly_the_suite():
    want = {f"{k}{s}" for k in KERNELS for s in (".py", ".json")} | {"README.md"}
    entries = [p for p in EXAMPLES.iterdir() if p.name != "__pycache__" and p.name not in DEMOS]
    assert {p.name for p in entries} == want
    wrong = [p.name for p in entries
             if not p.is_symlink() or p.resolve() != (PACKAGED / p.name).resolve()]
    assert not wrong, f"examples/ entries that are not links into terrazzo/kernels/: {wrong}"
