"""The text form of the graph IR, one node per line, for reading and golden tests.

It is stable: the same graph always prints the same text.
"""

import zlib

import numpy as np

from hw.ops import OP_TABLE, REDUCE_TABLE
from .exprs import Cast, render_expr
from .types import FLOAT_DTYPES, float_text
from .nodes import Arg, Imm, Input, Const, Iota, View, Map, Reduce, Fold, Scan, operands

__all__ = ["expr_text", "node_text", "graph_text"]


def expr_text(expr):
    """Text form of an expression: ``add(mul($0, 3), $1)``; a float immediate is
    ``f32(1.5)`` or ``bf16(-inf)``, a cast ``cast($0, f32)`` or ``cast($0, bf16, sr)``."""
    return render_expr(expr, _leaf_text, _head, _tail)


def _head(e):
    return "cast(" if isinstance(e, Cast) else f"{OP_TABLE[e.op].name}("


def _tail(e):
    if isinstance(e, Cast):
        rounding = ", sr" if e.op.name == "FTOBF_SR" else ""
        return f", {_CAST_TARGET[e.op.name]}{rounding})"
    return ")"


_CAST_TARGET = {"ITOF": "f32", "FTOI": "i32", "FTOBF": "bf16", "FTOBF_SR": "bf16",
                "PASS": "f32"}


def _leaf_text(e):
    if isinstance(e, Arg):
        return f"${e.index}"
    if isinstance(e, Imm):
        return str(e.value) if e.dtype == "i32" else f"{e.dtype}({float_text(e.value)})"
    if hasattr(e, "value"):             # a builder literal not resolved yet
        return repr(e.value)
    raise TypeError(f"not an expression: {e!r}")


def _tuple_text(t):
    return "(" + ", ".join(str(v) for v in t) + ")"


def node_text(node, dtype="i32"):
    """What a node computes, without its name and type: ``map[mul($0, $1)](%a, %b)``.
    ``dtype`` is the node's (a float fold prints its init as a float)."""
    if isinstance(node, Input):
        return "input"
    if isinstance(node, Iota):
        return f"iota[axis={node.axis}]"
    if isinstance(node, Const):
        vals = node.values
        if node.dtype in FLOAT_DTYPES:
            vals = tuple(float_text(v) for v in vals)
        if len(vals) <= 16:
            return f"const[{', '.join(map(str, vals))}]"
        crc = zlib.crc32(np.asarray(node.values, dtype="<i4").tobytes())
        return f"const[{', '.join(map(str, vals[:8]))}, ... {len(vals)} values, crc32=0x{crc:08x}]"
    args = "(" + ", ".join(f"%{n}" for n in operands(node)) + ")"
    if isinstance(node, View):
        return f"view[offset={node.offset}, strides={_tuple_text(node.strides)}]{args}"
    if isinstance(node, Map):
        return f"map[{expr_text(node.expr)}]{args}"
    if isinstance(node, (Reduce, Fold, Scan)):
        kind = type(node).__name__.lower()
        init = "" if not isinstance(node, Fold) else \
            f", init={float_text(node.init) if dtype in FLOAT_DTYPES else node.init}"
        return f"{kind}[{REDUCE_TABLE[node.op][0]}, axis={node.axis}{init}]{args}"
    attrs = f"[{', '.join(f'{k}={v}' for k, v in node.attrs)}]" if node.attrs else ""
    return f"{node.kind}{attrs}{args}"


def graph_text(graph):
    """``graph`` as text: a ``graph <name> {`` line, one ``%name = ... : type`` line
    per node in order, one ``output <name> = %node`` line per output, and ``}``.
    Types are checked on the way (:class:`~compiler.errors.CompileError`)."""
    lines = [f"graph {graph.name} {{"]
    for node in graph.nodes.values():
        t = graph.type_of(node.name)
        lines.append(f"  %{node.name} = {node_text(node, t.dtype)} : {t}")
    for out, ref in graph.outputs.items():
        lines.append(f"  output {out} = %{ref}")
    lines.append("}")
    return "\n".join(lines) + "\n"
