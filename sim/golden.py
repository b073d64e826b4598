"""NumPy golden model of the graph IR.

:func:`run_graph` gives what a graph means, with the wrapping int32 arithmetic of
:data:`hw.ops.OP_TABLE` and :data:`hw.ops.REDUCE_TABLE`. It evaluates composites by
their own definitions (the ``meaning`` of their :data:`~compiler.composites.COMPOSITES`
entry), not by their decomposition, so comparing a graph before and after
:func:`compiler.passes.decompose` checks that pass.

Integer sums are exact modulo 2**32 whatever the order (and int64 intermediate
overflow wraps modulo 2**64, a multiple of 2**32), as are min and max, so the
reduction order used here need not match the hardware's.
"""

import numpy as np

from hw.errors import TerrazzoError
from hw.ops import REDUCE_TABLE, apply_op, apply_reduce, wrap32
from compiler.composites import COMPOSITES
from compiler.ir import (Input, Const, Iota, View, Map, Reduce, Fold, Scan, Composite, Arg,
                         INT32_MIN, INT32_MAX, fold_expr, operands)

__all__ = ["InputError", "is_integer_dtype", "run_graph", "eval_expr"]


class InputError(TerrazzoError, ValueError):
    """Inputs given to :func:`run_graph` that do not match the graph's inputs."""


def is_integer_dtype(dtype):
    """Whether an array of ``dtype`` may feed an i32 input: a signed or unsigned integer
    of any width and byte order (its values must still fit in i32).

    Not ``bool``, and not ``timedelta64`` or ``datetime64``, which NumPy files under its
    integers (``np.issubdtype(np.timedelta64, np.integer)`` holds); nor floats, complex,
    strings, bytes, structured or object arrays.
    """
    return np.dtype(dtype).kind in "iu"


def _check_inputs(graph, inputs):
    wanted = {n: node for n, node in graph.nodes.items() if isinstance(node, Input)}
    unknown = sorted(set(inputs) - set(wanted))
    if unknown:
        raise InputError(f"graph {graph.name!r} has no input {unknown[0]!r}; its inputs "
                         f"are {', '.join(map(repr, wanted)) or 'none'}")
    arrays = {}
    for name, node in wanted.items():
        if name not in inputs:
            raise InputError(f"input {name!r} is missing (expected i32"
                             f"{list(node.shape)})")
        arr = np.asarray(inputs[name])
        if not is_integer_dtype(arr.dtype):
            raise InputError(f"input {name!r}: expected integers (i32), got {arr.dtype}")
        if arr.shape != tuple(node.shape):
            raise InputError(f"input {name!r}: expected shape {tuple(node.shape)}, "
                             f"got {arr.shape}")
        if arr.size and (arr.min() < INT32_MIN or arr.max() > INT32_MAX):
            raise InputError(f"input {name!r}: values must fit in i32, got "
                             f"{arr.min()}..{arr.max()}")
        arrays[name] = arr.astype(np.int32)
    return arrays


def eval_expr(expr, args):
    """Evaluate an IR expression over the int32 arrays ``args`` (without recursion; a
    subexpression shared in ``expr`` is evaluated once)."""
    def leaf(e):
        return args[e.index] if isinstance(e, Arg) else np.int32(e.value)
    return fold_expr(expr, leaf, lambda e, values: apply_op(e.op, *values))


def _tree_reduce(op, x, axis):
    fn = REDUCE_TABLE[op][2]
    x = np.moveaxis(x, axis, 0)
    while x.shape[0] > 1:
        half = x.shape[0] // 2
        y = fn(x[:half], x[half:2 * half])
        x = np.concatenate([y, x[2 * half:]]) if x.shape[0] % 2 else y
    return x[0]


def _scan(op, x, axis):
    fn = REDUCE_TABLE[op][2]
    x = np.moveaxis(x, axis, 0).copy()
    step = 1
    while step < x.shape[0]:
        x[step:] = fn(x[step:], x[:-step])
        step *= 2
    return np.moveaxis(x, 0, axis)


def _view(node, src):
    flat = np.asarray(node.offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(node.shape, node.strides)):
        idx = np.arange(n, dtype=np.int64).reshape((n,) + (1,) * (len(node.shape) - d - 1))
        flat = flat + idx * s
    return src.reshape(-1)[np.broadcast_to(flat, node.shape)]


def _composite(node, args):
    meaning = COMPOSITES[node.kind].meaning
    return wrap32(meaning(*(x.astype(np.int64) for x in args)))


def _evaluate(node, args):
    if isinstance(node, Input):
        raise AssertionError("inputs are bound before evaluation")
    if isinstance(node, Iota):
        shape = tuple(node.shape)
        idx = np.arange(shape[node.axis], dtype=np.int32)
        return np.broadcast_to(idx.reshape([-1 if d == node.axis else 1
                                            for d in range(len(shape))]), shape).copy()
    if isinstance(node, Const):
        return np.array(node.values, dtype=np.int64).astype(np.int32).reshape(node.shape)
    if isinstance(node, View):
        return _view(node, args[0])
    if isinstance(node, Map):
        out = eval_expr(node.expr, args)
        return np.array(np.broadcast_to(out, args[0].shape), dtype=np.int32)
    if isinstance(node, Reduce):
        return np.asarray(_tree_reduce(node.op, args[0], node.axis), dtype=np.int32)
    if isinstance(node, Fold):
        total = _tree_reduce(node.op, args[0], node.axis)
        return np.asarray(apply_reduce(node.op, np.int32(node.init), total), dtype=np.int32)
    if isinstance(node, Scan):
        return _scan(node.op, args[0], node.axis)
    if isinstance(node, Composite):
        return _composite(node, args)
    raise TypeError(f"not a node: {node!r}")


def run_graph(graph, inputs):
    """Evaluate ``graph`` on ``inputs`` (input name to array); returns output name to
    int32 array.

    The graph is checked first (:class:`~compiler.errors.CompileError` if invalid).
    Raises :class:`InputError` when an input is missing, unknown, not integer, of the
    wrong shape or out of the i32 range.
    """
    for name in graph.outputs.values():
        graph.type_of(name)
    values = _check_inputs(graph, inputs)
    order = [n for n in graph.topological_order() if n not in values]
    needed = set(graph.outputs.values())
    for name in reversed(order):
        if name in needed:
            needed.update(operands(graph.nodes[name]))
    for name in order:
        if name in needed:
            node = graph.nodes[name]
            out = _evaluate(node, [values[n] for n in operands(node)])
            assert out.dtype == np.int32 and out.shape == graph.type_of(name).shape, name
            values[name] = out
    return {out: values[ref].copy() for out, ref in graph.outputs.items()}

