"""The type rules of the graph IR: :func:`node_type` checks one node and gives its type.

Composites follow the type rule of their :data:`~compiler.composites.COMPOSITES`
entry, after the checks every composite shares (known kind, number of inputs, no
attributes, one dtype).
"""

from math import prod

from hw.ops import Op, ReduceOp, OP_TABLE
from .composites import COMPOSITES, InputShapes
from .errors import CompileError
from .nodes import (Arg, Imm, Call, Input, Const, Iota, View, Map, Reduce, Fold, Scan,
                    NODE_TYPES, operands)
from .types import (TensorType, check_axis, check_dtype, check_int32, check_shape, is_int,
                    shape_text)

__all__ = ["node_type", "check_expr"]


def check_expr(expr, n_inputs, node, depth=0):
    """Raise :class:`CompileError` naming ``node`` unless ``expr`` is a valid
    expression of a map with ``n_inputs`` inputs."""
    if depth > 200:
        raise CompileError("expression is nested more than 200 deep", node)
    if isinstance(expr, Arg):
        if not is_int(expr.index) or not 0 <= expr.index < n_inputs:
            raise CompileError(f"expression reads ${expr.index} but the map has "
                               f"{n_inputs} input{'s' if n_inputs != 1 else ''}", node)
    elif isinstance(expr, Imm):
        check_int32(expr.value, "immediate", node)
    elif isinstance(expr, Call):
        if not isinstance(expr.op, Op):
            raise CompileError(f"expression op must be an Op, not {expr.op!r}", node)
        info = OP_TABLE[expr.op]
        if not isinstance(expr.args, tuple) or len(expr.args) != info.arity:
            got = len(expr.args) if isinstance(expr.args, tuple) else expr.args
            raise CompileError(f"op {info.name!r} takes {info.arity} operand"
                               f"{'s' if info.arity != 1 else ''}, got {got}", node)
        for a in expr.args:
            check_expr(a, n_inputs, node, depth + 1)
    else:
        raise CompileError(f"not an expression: {expr!r}", node)


def node_type(node, types):
    """Check ``node`` and return its :class:`TensorType`.

    ``types`` maps the name of each operand of ``node`` to its :class:`TensorType`.
    Raises :class:`CompileError` naming the node when the node is invalid.
    """
    if not isinstance(node, NODE_TYPES):
        raise CompileError(f"not a node: {node!r}")
    if isinstance(node, (Input, Iota, Const)):
        return _leaf_type(node)
    ins = [types[n] for n in operands(node)]
    if isinstance(node, View):
        return _view_type(node, ins[0])
    if isinstance(node, Map):
        return _map_type(node, ins)
    if isinstance(node, (Reduce, Fold, Scan)):
        return _axis_type(node, ins[0])
    return _composite_type(node, ins)


def _leaf_type(node):
    name = node.name
    check_shape(node.shape, name)
    check_dtype(node.dtype, name)
    if isinstance(node, Iota):
        check_axis(node.axis, len(node.shape), name)
    if isinstance(node, Const):
        if not isinstance(node.values, tuple) or len(node.values) != prod(node.shape):
            got = len(node.values) if isinstance(node.values, tuple) else node.values
            raise CompileError(f"shape {shape_text(node.shape)} needs "
                               f"{prod(node.shape)} values, got {got}", name)
        for v in node.values:
            check_int32(v, "value", name)
    return TensorType(node.shape, node.dtype)


def _view_type(node, src):
    name = node.name
    check_shape(node.shape, name)
    if not isinstance(node.strides, tuple) or not all(is_int(s) for s in node.strides):
        raise CompileError(f"strides must be a tuple of integers, not "
                           f"{node.strides!r}", name)
    if len(node.strides) != len(node.shape):
        raise CompileError(f"view has {len(node.shape)} dimensions but "
                           f"{len(node.strides)} strides", name)
    if not is_int(node.offset):
        raise CompileError(f"offset must be an integer, not {node.offset!r}", name)
    lo = node.offset + sum(min(0, (n - 1) * s) for n, s in zip(node.shape, node.strides))
    hi = node.offset + sum(max(0, (n - 1) * s) for n, s in zip(node.shape, node.strides))
    if lo < 0 or hi >= src.size:
        raise CompileError(f"view reads elements {lo}..{hi} of {node.input!r}, "
                           f"which has {src.size}", name)
    return TensorType(node.shape, src.dtype)


def _map_type(node, ins):
    name = node.name
    if not isinstance(node.inputs, tuple) or not node.inputs:
        raise CompileError("map needs at least one input", name)
    for n, t in zip(node.inputs[1:], ins[1:]):
        if t.shape != ins[0].shape:
            raise CompileError(f"map inputs must have one shape, got "
                               f"{shape_text(ins[0].shape)} from {node.inputs[0]!r} "
                               f"and {shape_text(t.shape)} from {n!r}", name)
        if t.dtype != ins[0].dtype:
            raise CompileError(f"map inputs must have one dtype, got {ins[0].dtype} "
                               f"and {t.dtype}", name)
    check_expr(node.expr, len(node.inputs), name)
    return ins[0]


def _axis_type(node, src):
    name = node.name
    if not isinstance(node.op, ReduceOp):
        raise CompileError(f"reduction op must be a ReduceOp, not {node.op!r}", name)
    check_axis(node.axis, src.ndim, name)
    if isinstance(node, Fold):
        check_int32(node.init, "init", name)
    if isinstance(node, Scan):
        return src
    return TensorType(src.shape[:node.axis] + src.shape[node.axis + 1:], src.dtype)


def _composite_type(node, ins):
    name = node.name
    op = COMPOSITES.get(node.kind)
    if op is None:
        raise CompileError(f"unknown composite kind {node.kind!r}; known kinds are "
                           f"{', '.join(COMPOSITES)}", name)
    if len(node.inputs) != op.arity:
        raise CompileError(f"{node.kind} takes {op.arity} input"
                           f"{'s' if op.arity != 1 else ''}, got {len(node.inputs)}", name)
    if node.attrs != ():
        raise CompileError(f"{node.kind} takes no attributes, got {node.attrs!r}", name)
    for t in ins[1:]:
        if t.dtype != ins[0].dtype:
            raise CompileError(f"{node.kind} inputs must have one dtype, got "
                               f"{ins[0].dtype} and {t.dtype}", name)
    return TensorType(op.shape(InputShapes(node, [t.shape for t in ins])), ins[0].dtype)
