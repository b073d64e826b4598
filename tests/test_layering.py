"""Imports go one way, hw <- compiler <- sim <- terrazzo, even inside functions."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("hw", "compiler", "sim", "terrazzo")


def imported_packages(path):
    """The top-level names of every absolute import in the file at ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_from_a_layer_above(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    upward = sorted(f"{path.relative_to(ROOT)} imports {name}"
                    for path in (ROOT / layer).rglob("*.py")
                    for name in imported_packages(path) if name in above)
    assert not upward, "; ".join(upward)
