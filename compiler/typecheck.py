"""The type rules of the graph IR: :func:`node_type` checks one node and gives its type.

Map expressions follow the dtype rules of :mod:`compiler.dtypes`. Composites follow
the type rule of their :data:`~compiler.composites.COMPOSITES`
entry, after the checks every composite shares (known kind, number of inputs, no
attributes, one dtype).
"""

from math import prod

from hw.ops import Op, ReduceOp, OP_TABLE
from .composites import COMPOSITES, InputShapes
from hw.ops import ARG_REDUCE_OPS, REDUCE_TABLE

from .dtypes import expr_dtype, reduce_dtype
from .errors import CompileError
from .exprs import MAX_EXPR_DEPTH
from .nodes import (Arg, Imm, Call, Input, Const, Iota, View, Map, Reduce, Fold, Scan,
                    NODE_TYPES, operands)
from .types import (FLOAT_DTYPES, TensorType, check_axis, check_dtype, check_float_bits,
                    check_int32, check_shape, is_int, shape_text)

__all__ = ["node_type", "check_expr"]


def check_expr(expr, n_inputs, node):
    """Raise :class:`CompileError` naming ``node`` unless ``expr`` is a valid
    expression of a map with ``n_inputs`` inputs, at most :data:`MAX_EXPR_DEPTH` deep.

    The walk is iterative, in the order a recursive one would take (each call before
    its operands, left to right), so the first fault found is reported. An object met
    again at the same depth is not checked again."""
    stack, seen = [(expr, 0)], set()
    while stack:
        e, depth = stack.pop()
        if (id(e), depth) in seen:
            continue
        seen.add((id(e), depth))
        if depth > MAX_EXPR_DEPTH:
            raise CompileError(f"expression is nested more than {MAX_EXPR_DEPTH} deep", node)
        if isinstance(e, Arg):
            if not is_int(e.index) or not 0 <= e.index < n_inputs:
                raise CompileError(f"expression reads ${e.index} but the map has "
                                   f"{n_inputs} input{'s' if n_inputs != 1 else ''}", node)
        elif isinstance(e, Imm):
            check_int32(e.value, "immediate", node)
            if e.dtype not in ("i32", *FLOAT_DTYPES):
                raise CompileError(f"immediate has unknown dtype {e.dtype!r}", node)
        elif isinstance(e, Call):
            _check_call(e, node)
            stack.extend((a, depth + 1) for a in reversed(e.args))
        else:
            raise CompileError(f"not an expression: {e!r}", node)


def _check_call(e, node):
    if not isinstance(e.op, Op):
        raise CompileError(f"expression op must be an Op, not {e.op!r}", node)
    info = OP_TABLE[e.op]
    if not isinstance(e.args, tuple) or len(e.args) != info.arity:
        got = len(e.args) if isinstance(e.args, tuple) else e.args
        raise CompileError(f"op {info.name!r} takes {info.arity} operand"
                           f"{'s' if info.arity != 1 else ''}, got {got}", node)


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
            if node.dtype in FLOAT_DTYPES:
                check_float_bits(v, node.dtype, "value", name)
            else:
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
    check_expr(node.expr, len(node.inputs), name)
    return TensorType(ins[0].shape, expr_dtype(node.expr, [t.dtype for t in ins], name))


def _axis_type(node, src):
    name = node.name
    if not isinstance(node.op, ReduceOp):
        raise CompileError(f"reduction op must be a ReduceOp, not {node.op!r}", name)
    check_axis(node.axis, src.ndim, name)
    if node.op in ARG_REDUCE_OPS and not isinstance(node, Reduce):
        what = "scan" if isinstance(node, Scan) else "fold"
        raise CompileError(f"{REDUCE_TABLE[node.op][0]} is a reduction only, not a "
                           f"{what}: use reduce({REDUCE_TABLE[node.op][0]!r}, ...)", name)
    dtype = reduce_dtype(node.op, src.dtype, name)
    if isinstance(node, Fold):
        if dtype in FLOAT_DTYPES:
            check_float_bits(node.init, dtype, "init", name)
        else:
            check_int32(node.init, "init", name)
    if isinstance(node, Scan):
        return TensorType(src.shape, dtype)
    return TensorType(src.shape[:node.axis] + src.shape[node.axis + 1:], dtype)


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
    if op.dtypes is not None and ins and ins[0].dtype not in op.dtypes:
        raise CompileError(f"{node.kind} takes {' or '.join(op.dtypes)}, not "
                           f"{ins[0].dtype}; insert cast(x, {op.dtypes[0]!r})", name)
    return TensorType(op.shape(InputShapes(node, [t.shape for t in ins])), ins[0].dtype)
