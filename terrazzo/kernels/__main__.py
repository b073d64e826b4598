"""Rewrite the JSON twin of every kernel and refresh the readable copy in ``examples/``:
``python -m terrazzo.kernels``.

The packaged modules here are the one source; ``examples/`` (beside the package in a
checkout) holds byte-equal copies of the builders, the twins and the README for users to
open and edit, and a test keeps the two equal."""

import shutil
from pathlib import Path

from compiler.jsonio import save_graph

from . import KERNELS, load

HERE = Path(__file__).parent
EXAMPLES = HERE.parent.parent / "examples"

for name in KERNELS:
    mod = load(name)
    path = HERE / f"{name}.json"
    save_graph(mod.build(**mod.SIZES["default"]), path)
    print(f"wrote {path}")
if EXAMPLES.is_dir():
    for name in KERNELS:
        for suffix in (".py", ".json"):
            shutil.copyfile(HERE / f"{name}{suffix}", EXAMPLES / f"{name}{suffix}")
    shutil.copyfile(HERE / "README.md", EXAMPLES / "README.md")
    print(f"copied the suite to {EXAMPLES}")
