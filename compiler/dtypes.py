"""Dtypes of elementwise expressions.

A map's expression uses the generic ops (``add``, ``mul``, ``lt``, ``select``...) on
operands of one dtype, the floating-point ops of :data:`hw.ops.OP_TABLE` (``fadd``...)
on f32 or bf16 operands, and :class:`~compiler.exprs.Cast` nodes between dtypes.
:func:`expr_dtype` checks an expression and gives its dtype; :func:`reduce_dtype` does
the same for a reduction. Comparisons give i32; on bf16, ``add``, ``sub``, ``mul`` and
``mac`` give f32 results rounded back to bf16, and a bf16 ``add`` reduction accumulates
in fp32. Rewriting the generic ops into the fp ops a PCU runs is
:func:`compiler.floats.lower_floats`.
"""

from hw.ops import (ARG_REDUCE_OPS, FP_OPS, FP_REDUCE_OPS, Op, ReduceOp, OP_TABLE,
                    REDUCE_TABLE)
from .errors import CompileError
from .exprs import Arg, Cast, fold_expr
from .text import expr_text
from .types import FLOAT_DTYPES, check_float_bits, check_int32

__all__ = ["CAST_OPS", "cast_op", "call_dtype", "expr_dtype", "reduce_dtype"]

#: Cast op -> (source dtype, target dtype). ``PASS`` is the bf16 -> f32 widening.
CAST_OPS = {Op.ITOF: ("i32", "f32"), Op.FTOI: ("f32", "i32"),
            Op.FTOBF: ("f32", "bf16"), Op.FTOBF_SR: ("f32", "bf16"),
            Op.PASS: ("bf16", "f32")}
#: Rounding modes of an f32 -> bf16 cast.
ROUNDINGS = {"rne": Op.FTOBF, "sr": Op.FTOBF_SR}

_INT_ONLY = frozenset({Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR, Op.SRA})
_COMPARE = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.FEQ, Op.FNE, Op.FLT, Op.FLE})
_KEEP_DTYPE = frozenset({Op.FMIN, Op.FMAX, Op.FABS, Op.FNEG})
#: Bit casts: op -> (source dtypes, target dtype); the bits do not change.
BITCASTS = {Op.ASF32: (("i32",), "f32"), Op.ASI32: (("f32", "bf16"), "i32")}


def cast_op(src, dst, rounding="rne", node=None):
    """The op of a cast from ``src`` to ``dst`` dtype (None when they are equal).

    Raises :class:`CompileError` for a cast that is not i32 <-> f32 or f32 <-> bf16, or
    an unknown ``rounding`` (``"rne"`` or ``"sr"``, for f32 -> bf16 only)."""
    if rounding not in ROUNDINGS:
        raise CompileError(f"unknown rounding {rounding!r}; known roundings are "
                           f"'rne', 'sr'", node)
    if rounding != "rne" and (src, dst) != ("f32", "bf16"):
        raise CompileError(f"rounding {rounding!r} applies to an f32 -> bf16 cast only, "
                           f"not {src} -> {dst}", node)
    if src == dst:
        return None
    if (src, dst) == ("f32", "bf16"):
        return ROUNDINGS[rounding]
    for op, pair in CAST_OPS.items():
        if pair == (src, dst) and op not in ROUNDINGS.values():
            return op
    raise CompileError(f"no cast from {src} to {dst}; cast through f32 "
                       f"(i32 <-> f32 and f32 <-> bf16 exist)", node)


def _mixed(op, args, dts, node):
    """The error for ``op`` applied to operands of different dtypes."""
    name = OP_TABLE[op].name
    first = dts[0]
    k = next(i for i, d in enumerate(dts) if d != first)
    other = expr_text(args[k])
    if len(other) > 40:
        other = "x"
    return CompileError(f"op {name!r} mixes {first} and {dts[k]} operands ({other} is "
                        f"{dts[k]}); insert cast({other}, {first!r}) or cast the other "
                        f"operands to {dts[k]}", node)


def call_dtype(e, dts, node=None):
    """The dtype of call ``e`` whose operands have dtypes ``dts``; raises
    :class:`CompileError` naming ``node`` as :func:`expr_dtype` does."""
    op = e.op
    name = OP_TABLE[op].name
    if op in BITCASTS:
        srcs, dst = BITCASTS[op]
        if dts[0] not in srcs:
            raise CompileError(f"bit cast {name!r} reads {' or '.join(srcs)}, not {dts[0]}",
                               node)
        return dst
    if isinstance(e, Cast) or op in CAST_OPS and op != Op.PASS:
        if op not in CAST_OPS:
            raise CompileError(f"op {name!r} is no cast", node)
        src, dst = CAST_OPS[op]
        ok = (src,) if isinstance(e, Cast) else ((src, "bf16") if src == "f32" else (src,))
        if dts[0] not in ok:
            raise CompileError(f"cast {name!r} converts {src} to {dst}, not {dts[0]}",
                               node)
        return dst
    if op in _INT_ONLY and any(d != "i32" for d in dts):
        bad = next(d for d in dts if d != "i32")
        raise CompileError(f"op {name!r} works on i32 only, not {bad} (bitwise ops and "
                           f"shifts have no floating-point meaning; cast to i32 first "
                           f"to work on values)", node)
    if op == Op.SELECT:
        if dts[0] != "i32":
            raise CompileError(f"select needs an i32 condition, not {dts[0]} (compare "
                               f"first, e.g. ne(x, 0.0))", node)
        operand_dts, operand_args = dts[1:], e.args[1:]
    else:
        operand_dts, operand_args = dts, e.args
    if any(d != operand_dts[0] for d in operand_dts):
        raise _mixed(op, operand_args, operand_dts, node)
    dt = operand_dts[0]
    if op in FP_OPS:
        if dt not in FLOAT_DTYPES:
            raise CompileError(f"op {name!r} works on f32 and bf16, not {dt}; insert "
                               f"cast(x, 'f32')", node)
        if op in _COMPARE:
            return "i32"
        return dt if op in _KEEP_DTYPE else "f32"
    return "i32" if op in _COMPARE else dt


def expr_dtype(expr, in_dtypes, node=None):
    """Check the dtypes in ``expr`` over inputs of ``in_dtypes`` and return its dtype.

    Raises :class:`CompileError` naming ``node`` for operands of one op with different
    dtypes (saying where to put the cast), an i32-only op on floats, an fp op on i32,
    a cast from the wrong dtype or a float immediate that is no bf16 in a bf16 map."""
    def leaf(e):
        if isinstance(e, Arg):
            return in_dtypes[e.index]
        if e.dtype == "i32":
            check_int32(e.value, "immediate", node)
        elif e.dtype in FLOAT_DTYPES:
            check_float_bits(e.value, e.dtype, "immediate", node)
        else:
            raise CompileError(f"immediate has unknown dtype {e.dtype!r}", node)
        return e.dtype
    return fold_expr(expr, leaf, lambda e, dts: call_dtype(e, dts, node))


def reduce_dtype(op, dtype, node=None):
    """The result dtype of reduction ``op`` over elements of ``dtype``: ``dtype``, but
    f32 for the explicit ``fadd`` of bf16 (fp32 accumulation) and i32 (an index) for
    the arg ops. Raises :class:`CompileError` for an fp reduction of i32."""
    if op in FP_REDUCE_OPS:
        if dtype not in FLOAT_DTYPES:
            raise CompileError(f"reduction {REDUCE_TABLE[op][0]!r} works on f32 and "
                               f"bf16, not {dtype}", node)
        if op in ARG_REDUCE_OPS:
            return "i32"
        return "f32" if op in (ReduceOp.FADD, ReduceOp.KADD) else dtype
    return "i32" if op in ARG_REDUCE_OPS else dtype
