"""Rewrite the JSON twin of every kernel: ``python -m terrazzo.kernels``.

``examples/`` in a checkout links to these files (symlinks), so it never needs
refreshing."""

from pathlib import Path

from compiler.jsonio import save_graph

from . import KERNELS, load

for name in KERNELS:
    mod = load(name)
    path = Path(__file__).parent / f"{name}.json"
    save_graph(mod.build(**mod.SIZES["default"]), path)
    print(f"wrote {path}")
