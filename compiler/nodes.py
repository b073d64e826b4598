"""The data of the graph IR: nodes, as frozen dataclasses, and the elementwise
expressions of :mod:`compiler.exprs` that maps hold.

Nothing here checks anything: :func:`compiler.typecheck.node_type` gives the rules a
node must follow and its result type.
"""

from dataclasses import dataclass

from hw.ops import ReduceOp
from .exprs import Arg, Imm, Call, expr_args

__all__ = [
    "Arg", "Imm", "Call", "expr_args",
    "Input", "Const", "Iota", "View", "Map", "Reduce", "Fold", "Scan", "Composite",
    "NODE_TYPES", "operands",
]


# -- nodes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Input:
    """A graph input of ``shape`` and ``dtype``."""
    name: str
    shape: tuple
    dtype: str = "i32"


@dataclass(frozen=True)
class Const:
    """A constant tensor; ``values`` are its elements, flat in row-major order."""
    name: str
    shape: tuple
    dtype: str
    values: tuple


@dataclass(frozen=True)
class Iota:
    """A tensor of ``shape`` whose element ``idx`` is ``idx[axis]``: a loop counter.
    It costs no memory: the PCU reads it from its counter chain."""
    name: str
    shape: tuple
    axis: int
    dtype: str = "i32"


@dataclass(frozen=True)
class View:
    """An affine view of ``input``, counted in elements:
    ``out[idx] = input.flat[offset + sum(idx[d] * strides[d])]``."""
    name: str
    input: str
    shape: tuple
    offset: int
    strides: tuple


@dataclass(frozen=True)
class Map:
    """``expr`` evaluated elementwise over ``inputs``, which all have one shape."""
    name: str
    inputs: tuple
    expr: object


@dataclass(frozen=True)
class Reduce:
    """``op`` over ``axis`` of ``input``; the axis is removed."""
    name: str
    input: str
    op: ReduceOp
    axis: int


@dataclass(frozen=True)
class Fold:
    """Like :class:`Reduce`, combining ``init`` with the elements along ``axis``."""
    name: str
    input: str
    op: ReduceOp
    axis: int
    init: int


@dataclass(frozen=True)
class Scan:
    """Inclusive prefix ``op`` along ``axis`` of ``input``; same shape."""
    name: str
    input: str
    op: ReduceOp
    axis: int


@dataclass(frozen=True)
class Composite:
    """A named operation over ``inputs``; ``attrs`` is a tuple of ``(key, value)``.

    ``kind`` names an entry of :data:`compiler.composites.COMPOSITES`, which gives its
    type rule, its decomposition into the patterns above and its meaning.
    """
    name: str
    kind: str
    inputs: tuple
    attrs: tuple = ()


#: Every node class.
NODE_TYPES = (Input, Const, Iota, View, Map, Reduce, Fold, Scan, Composite)


def operands(node):
    """Names of the nodes ``node`` reads, in order."""
    if isinstance(node, (Map, Composite)):
        return tuple(node.inputs)
    if isinstance(node, (View, Reduce, Fold, Scan)):
        return (node.input,)
    return ()
