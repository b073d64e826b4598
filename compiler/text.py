"""The text form of the graph IR, one node per line, for reading and golden tests.

It is stable: the same graph always prints the same text.
"""

import zlib

import numpy as np

from hw.ops import OP_TABLE, REDUCE_TABLE
from .exprs import render_expr
from .nodes import Arg, Imm, Input, Const, Iota, View, Map, Reduce, Fold, Scan, operands

__all__ = ["expr_text", "node_text", "graph_text"]


def expr_text(expr):
    """Text form of an expression: ``add(mul($0, 3), $1)``."""
    return render_expr(expr, _leaf_text, lambda e: f"{OP_TABLE[e.op].name}(", lambda e: ")")


def _leaf_text(e):
    if isinstance(e, Arg):
        return f"${e.index}"
    if isinstance(e, Imm):
        return str(e.value)
    raise TypeError(f"not an expression: {e!r}")


def _tuple_text(t):
    return "(" + ", ".join(str(v) for v in t) + ")"


def node_text(node):
    """What a node computes, without its name and type: ``map[mul($0, $1)](%a, %b)``."""
    if isinstance(node, Input):
        return "input"
    if isinstance(node, Iota):
        return f"iota[axis={node.axis}]"
    if isinstance(node, Const):
        vals = node.values
        if len(vals) <= 16:
            return f"const[{', '.join(map(str, vals))}]"
        crc = zlib.crc32(np.asarray(vals, dtype="<i4").tobytes())
        return f"const[{', '.join(map(str, vals[:8]))}, ... {len(vals)} values, crc32=0x{crc:08x}]"
    args = "(" + ", ".join(f"%{n}" for n in operands(node)) + ")"
    if isinstance(node, View):
        return f"view[offset={node.offset}, strides={_tuple_text(node.strides)}]{args}"
    if isinstance(node, Map):
        return f"map[{expr_text(node.expr)}]{args}"
    if isinstance(node, (Reduce, Fold, Scan)):
        kind = type(node).__name__.lower()
        init = f", init={node.init}" if isinstance(node, Fold) else ""
        return f"{kind}[{REDUCE_TABLE[node.op][0]}, axis={node.axis}{init}]{args}"
    attrs = f"[{', '.join(f'{k}={v}' for k, v in node.attrs)}]" if node.attrs else ""
    return f"{node.kind}{attrs}{args}"


def graph_text(graph):
    """``graph`` as text: a ``graph <name> {`` line, one ``%name = ... : type`` line
    per node in order, one ``output <name> = %node`` line per output, and ``}``.
    Types are checked on the way (:class:`~compiler.errors.CompileError`)."""
    lines = [f"graph {graph.name} {{"]
    for node in graph.nodes.values():
        lines.append(f"  %{node.name} = {node_text(node)} : {graph.type_of(node.name)}")
    for out, ref in graph.outputs.items():
        lines.append(f"  output {out} = %{ref}")
    lines.append("}")
    return "\n".join(lines) + "\n"
