"""NumPy golden model of the graph IR.

:func:`run_graph` gives what a graph means, with the wrapping int32 arithmetic of
:data:`hw.ops.OP_TABLE` and :data:`hw.ops.REDUCE_TABLE`. It evaluates composites by
their own definitions (the ``meaning`` of their :data:`~compiler.composites.COMPOSITES`
entry), not by their decomposition, so comparing a graph before and after
:func:`compiler.passes.decompose` checks that pass.

Integer sums are exact modulo 2**32 whatever the order (and int64 intermediate
overflow wraps modulo 2**64, a multiple of 2**32), as are min and max, so the
reduction order used here need not match the hardware's.

Floating-point graphs are evaluated on the words the hardware holds (binary32 bit
patterns, :mod:`hw.ops`), after the compiler's own rewriting of composites and generic
float ops (:func:`compiler.passes.decompose`, :func:`compiler.floats.lower_floats`), and
their reductions follow the hardware's order exactly, so that results are bit-exact:

* along the last axis (the vector axis), in blocks of ``lanes`` elements: each block
  reduced by the balanced tree of adjacent pairs ``((x0+x1)+(x2+x3))+...`` (missing
  lanes of the last block give the identity: ``-0.0`` for a sum, ``+inf`` for a min,
  ``-inf`` for a max), then the blocks combined one after another in order;
* along any other axis, element after element in order (one accumulator per lane);
* `kadd` (compensated) combines the same terms in the same order with a Kahan
  compensation term (`_kahan`); inside a vector and in a scan it is a plain sum;
* a scan, per block of ``lanes``: the Sklansky prefix network, each element combined
  with the running total of the blocks before.

That order depends on the fabric's lanes, which ``run_graph`` then needs.
"""

import numpy as np

from hw.errors import TerrazzoError
from hw.ops import (ARG_REDUCE_OPS, FP_REDUCE_OPS, OP_TABLE, REDUCE_TABLE, Op, ReduceOp, apply_op,
                    apply_reduce, arg_reduce, sr_bits, wrap32)
from compiler.composites import COMPOSITES
from compiler.floats import lower_floats
from compiler.ir import (Input, Const, Iota, View, Map, Reduce, Fold, Scan, Composite, Arg,
                         INT32_MIN, INT32_MAX, fold_expr, operands)
from compiler.passes import decompose, infer
from compiler.types import FLOAT_DTYPES, tensor_dtype_error, tensor_values, tensor_words

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
            raise InputError(f"input {name!r} is missing (expected {node.dtype}"
                             f"{list(node.shape)})")
        arr = np.asarray(inputs[name])
        wrong = tensor_dtype_error(arr.dtype, node.dtype)
        if wrong:
            raise InputError(f"input {name!r}: {wrong}")
        if arr.shape != tuple(node.shape):
            raise InputError(f"input {name!r}: expected shape {tuple(node.shape)}, "
                             f"got {arr.shape}")
        if node.dtype == "i32" and arr.size and (arr.min() < INT32_MIN or
                                                 arr.max() > INT32_MAX):
            raise InputError(f"input {name!r}: values must fit in i32, got "
                             f"{arr.min()}..{arr.max()}")
        arrays[name] = tensor_words(arr, node.dtype)
    return arrays


def eval_expr(expr, args, lanes=None, sr_seed=0):
    """Evaluate an IR expression over the int32 arrays ``args`` (without recursion; a
    subexpression shared in ``expr`` is evaluated once). A stochastic rounding
    (``ftobf_sr``) takes its random bits from the lanes' LFSRs as a map of ``args[0]``'s
    shape sees them, which needs ``lanes``."""
    def leaf(e):
        return args[e.index] if isinstance(e, Arg) else np.int32(e.value)

    def call(e, values):
        if e.op == Op.FTOBF_SR:
            if lanes is None:
                raise InputError("stochastic rounding draws its random bits per lane; "
                                 "pass lanes= to run_graph")
            shape = np.shape(args[0]) if args else np.shape(values[0])
            return apply_op(e.op, values[0], 0, _random_bits(shape, lanes, sr_seed))
        return apply_op(e.op, *values)
    return fold_expr(expr, leaf, call)


def _random_bits(shape, lanes, seed=0):
    """The random bits of stochastic rounding for each element of a map of ``shape``:
    element ``(..., j)`` is lane ``j % lanes`` of the map's iteration ``(row, j //
    lanes)`` in row-major order, the lanes' LFSRs started from ``seed``
    (:func:`hw.ops.sr_bits`)."""
    shape = tuple(shape) or (1,)
    n = shape[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    blocks = -(-n // lanes)
    bits = sr_bits(rows * blocks, lanes, seed).reshape(rows, blocks * lanes)[:, :n]
    return bits.reshape(shape)


def _lane_tree(fn, x):
    """The balanced tree of adjacent pairs over the last axis (a power of two long)."""
    while x.shape[-1] > 1:
        x = fn(x[..., 0::2], x[..., 1::2])
    return x[..., 0]


def _blocks(op, x, lanes):
    """``x`` (reduced axis last) padded with the identity of ``op`` to whole blocks of
    ``lanes``, shaped ``(..., blocks, lanes)``."""
    n = x.shape[-1]
    pad = -n % lanes
    e = REDUCE_TABLE[op][1]
    x = np.concatenate([x, np.full(x.shape[:-1] + (pad,), e, np.int32)], axis=-1)
    return x.reshape(x.shape[:-1] + (x.shape[-1] // lanes, lanes))


def _fp_reduce(op, x, axis, lanes):
    """A floating-point reduction in the hardware's order (see the module)."""
    fn, e = REDUCE_TABLE[op][2], REDUCE_TABLE[op][1]
    if axis == x.ndim - 1:
        trees = _lane_tree(fn, _blocks(op, x, lanes))
        terms = [trees[..., k] for k in range(trees.shape[-1])]
    else:
        x = np.moveaxis(x, axis, 0)
        terms = [x[k] for k in range(x.shape[0])]
    if op == ReduceOp.KADD:
        return _kahan(terms)
    acc = np.full(terms[0].shape, e, np.int32)
    for t in terms:
        acc = fn(acc, t)
    return acc


def _kahan(terms):
    """Compensated sum of ``terms`` in order, as the accumulator computes it: the first
    term starts the sum with no compensation, then ``y = v - c; t = acc + y;
    c = (t - acc) - y; acc = t``."""
    add = REDUCE_TABLE[ReduceOp.FADD][2]
    sub = OP_TABLE[Op.FSUB].fn
    acc = add(np.full(terms[0].shape, REDUCE_TABLE[ReduceOp.FADD][1], np.int32), terms[0])
    c = np.zeros(terms[0].shape, np.int32)
    for v in terms[1:]:
        y = sub(v, c, 0)
        t = add(acc, y)
        c = sub(sub(t, acc, 0), y, 0)
        acc = t
    return acc


def _fp_scan(op, x, axis, lanes):
    """A floating-point scan along the last axis in the hardware's order."""
    fn, e = REDUCE_TABLE[op][2], REDUCE_TABLE[op][1]
    n = x.shape[-1]
    pre = _blocks(op, x, lanes)
    span = 1
    while span < lanes:
        upper = np.array([(i // span) % 2 == 1 for i in range(lanes)])
        src = np.array([(i // span) * span - 1 for i in range(lanes)])[upper]
        new = pre.copy()
        new[..., upper] = fn(pre[..., src], pre[..., upper])
        pre, span = new, span * 2
    out = np.empty_like(pre)
    acc = np.full(pre.shape[:-2] + (1,), e, np.int32)
    for k in range(pre.shape[-2]):
        out[..., k, :] = fn(acc, pre[..., k, :])
        acc = out[..., k, -1:]
    return out.reshape(out.shape[:-2] + (-1,))[..., :n]


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


def _evaluate(node, args, lanes, sr_seed=0):
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
        out = eval_expr(node.expr, args, lanes, sr_seed)
        return np.array(np.broadcast_to(out, args[0].shape), dtype=np.int32)
    if isinstance(node, Reduce) and node.op in ARG_REDUCE_OPS:
        # the winner is unique (the first of the best), whatever the order of combining
        return arg_reduce(node.op, args[0], node.axis)
    if isinstance(node, (Reduce, Fold, Scan)) and node.op in FP_REDUCE_OPS:
        if lanes is None:
            raise InputError(f"node {node.name!r} is a floating-point reduction, whose "
                             f"order (and so its result) depends on the fabric's lanes; "
                             f"pass lanes= to run_graph")
        if isinstance(node, Scan):
            if node.axis != args[0].ndim - 1:
                raise InputError(f"scan {node.name!r}: a floating-point scan runs along "
                                 f"the last axis only")
            return _fp_scan(node.op, args[0], node.axis, lanes)
        total = _fp_reduce(node.op, args[0], node.axis, lanes)
        if isinstance(node, Fold):
            total = apply_reduce(node.op, total, np.int32(node.init))
        return np.asarray(total, dtype=np.int32)
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


def run_graph(graph, inputs, *, lanes=None, sr_seed=0):
    """Evaluate ``graph`` on ``inputs`` (input name to array); returns output name to
    array: int32 for an i32 output, float32 for f32 and bf16.

    An i32 input takes an integer array of values in i32; an f32 or bf16 input a float
    array, rounded to f32 (and then bf16) to nearest even. ``lanes`` (the fabric's) sets
    the order of floating-point reductions and the random bits of stochastic rounding,
    which need it (see the module); ``sr_seed`` is the seed the program was compiled
    with (``compile_graph(..., sr_seed=)``).

    The graph is checked first (:class:`~compiler.errors.CompileError` if invalid).
    Raises :class:`InputError` when an input is missing, unknown, of the wrong dtype or
    shape or out of the i32 range, or ``lanes`` is missing for a float reduction.
    """
    for name in graph.outputs.values():
        graph.type_of(name)
    values = _check_inputs(graph, inputs)
    if any(graph.type_of(n).dtype in FLOAT_DTYPES for n in graph.nodes):
        graph = lower_floats(infer(decompose(infer(graph))))
    order = [n for n in graph.topological_order() if n not in values]
    needed = set(graph.outputs.values())
    for name in reversed(order):
        if name in needed:
            needed.update(operands(graph.nodes[name]))
    for name in order:
        if name in needed:
            node = graph.nodes[name]
            out = _evaluate(node, [values[n] for n in operands(node)], lanes, sr_seed)
            assert out.dtype == np.int32 and out.shape == graph.type_of(name).shape, name
            values[name] = out
    return {out: tensor_values(values[ref], graph.type_of(ref).dtype).copy()
            for out, ref in graph.outputs.items()}

