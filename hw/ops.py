"""Functional-unit opcodes and their exact semantics.

:class:`Op` is the one opcode enumeration of the fabric. :data:`OP_TABLE` gives each
op's meaning as a NumPy function over int32 arrays; the golden model evaluates graphs
with it and the hardware functional units are tested against it op by op.

All arithmetic wraps modulo 2**32 (two's complement), like the hardware. Comparisons
are signed and yield 1 or 0. Shift amounts use the low five bits of ``b``.

The floating-point ops (``FADD`` .. ``FTOBF_SR``) take and give IEEE 754 binary32 bit
patterns held in the same int32 words. They round to nearest even, keep subnormals (no
flush to zero) and give the canonical quiet NaN ``0x7fc00000`` for every NaN result,
``fabs`` and ``fneg`` of a NaN included. ``fmac`` is unfused: ``a * b`` is rounded, then
``+ c`` is rounded, exactly NumPy float32 operation for operation. ``fmin``/``fmax``
give NaN when either operand is NaN and order ``-0`` below ``+0``. ``ftoi`` truncates
toward zero and saturates (NaN gives 0). A bf16 is an f32 whose low 16 bits are zero;
``ftobf`` rounds the low 16 bits away to nearest even, ``ftobf_sr`` adds the 16-bit
random value ``c`` (the low 16 bits of operand ``c``) below the kept bits and truncates.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
from amaranth.lib import enum

__all__ = ["Op", "ReduceOp", "OpInfo", "OP_TABLE", "OPS_BY_NAME", "REDUCE_TABLE",
           "REDUCE_BY_NAME", "wrap32", "apply_op", "apply_reduce", "reduce_identity", "FP_OPS",
           "FP_REDUCE_OPS", "ARG_REDUCE_OPS", "arg_reduce", "right_wins", "CANONICAL_NAN", "ftobf_rne", "ftobf_sr", "SR_TAPS",
           "sr_seed", "sr_step", "sr_bits"]

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1


class Op(enum.Enum, shape=6):
    """PCU functional-unit operations. Operands are ``a``, ``b``, ``c``."""
    PASS   = 0   # a
    ADD    = 1   # a + b
    SUB    = 2   # a - b
    MUL    = 3   # low 32 bits of a * b
    MAC    = 4   # a * b + c
    MIN    = 5   # signed
    MAX    = 6   # signed
    AND    = 7
    OR     = 8
    XOR    = 9
    SHL    = 10  # a << (b & 31)
    SHR    = 11  # logical a >> (b & 31)
    SRA    = 12  # arithmetic a >> (b & 31)
    EQ     = 13  # a == b
    NE     = 14
    LT     = 15  # signed a < b
    LE     = 16  # signed a <= b
    SELECT = 17  # b if a != 0 else c
    ABS    = 18  # |a| (wraps: abs(INT_MIN) == INT_MIN)
    # floating point (binary32 bit patterns); the "fp" op group
    FADD     = 19  # a + b
    FSUB     = 20  # a - b
    FMUL     = 21  # a * b
    FMAC     = 22  # a * b + c, two roundings
    FMIN     = 23
    FMAX     = 24
    FEQ      = 25  # 1 or 0; false for NaN
    FNE      = 26  # true for NaN
    FLT      = 27
    FLE      = 28
    FABS     = 29
    FNEG     = 30
    ITOF     = 31  # i32 -> f32, to nearest even
    FTOI     = 32  # f32 -> i32, toward zero, saturating, NaN -> 0
    FTOBF    = 33  # f32 -> bf16, to nearest even
    FTOBF_SR = 34  # f32 -> bf16, stochastic: (a + (c & 0xffff)) truncated; c is the random
                   # source, not an operand of the graph (one-operand cast in the IR)
    # bit casts: the word passes unchanged, its dtype changes (wiring, every fabric)
    ASF32    = 35  # i32 bits read as an f32
    ASI32    = 36  # f32 (or bf16) bits read as an i32


class ReduceOp(enum.Enum, shape=4):
    """Operations of the cross-lane reduction tree and the accumulator."""
    ADD = 0
    MIN = 1
    MAX = 2
    FADD = 3
    FMIN = 4
    FMAX = 5
    KADD = 6     # compensated (Kahan) fp32 sum: across lanes as FADD, in the accumulator
                 # with a compensation term per lane
    # (value, index) pairs, the index being counter 0 as each lane sees it (the position
    # along the reduced axis); the result is the index, the lowest one on ties
    ARGMIN = 7   # signed i32
    ARGMAX = 8
    FARGMIN = 9  # binary32, IEEE order (-0 == +0); a NaN beats every number
    FARGMAX = 10

#: The ops of the "fp" op group (a fabric without it leaves them out of its hardware).
FP_OPS = frozenset(op for op in Op if Op.FADD.value <= op.value <= Op.FTOBF_SR.value)
FP_REDUCE_OPS = frozenset({ReduceOp.FADD, ReduceOp.FMIN, ReduceOp.FMAX, ReduceOp.KADD,
                           ReduceOp.FARGMIN, ReduceOp.FARGMAX})
#: The reductions over (value, index) pairs whose result is the index.
ARG_REDUCE_OPS = frozenset({ReduceOp.ARGMIN, ReduceOp.ARGMAX, ReduceOp.FARGMIN,
                            ReduceOp.FARGMAX})

CANONICAL_NAN = 0x7FC00000
POS_INF = 0x7F800000
NEG_INF = -0x00800000        # 0xff800000 as an int32
NEG_ZERO = -(2 ** 31)        # 0x80000000, the identity of a floating-point sum


def wrap32(x):
    """Wrap integers (any integer dtype, scalar or array) to int32, modulo 2**32."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)


_wrap = wrap32


def _i64(x):
    return np.asarray(x, dtype=np.int32).astype(np.int64)


def _shamt(b):
    return _i64(b) & 31


def _logical_shr(a, b):
    return _wrap((_i64(a) & 0xFFFFFFFF) >> _shamt(b))


def _f(x):
    """int32 bit patterns as float32 (a view, no conversion)."""
    return np.asarray(x, dtype=np.int64).astype(np.int32).view(np.float32)


def _bits(f):
    """float32 values as int32 bit patterns, every NaN made the canonical NaN."""
    f = np.asarray(f, dtype=np.float32)
    return np.where(np.isnan(f), np.int32(CANONICAL_NAN), f.view(np.int32)).astype(np.int32)


def _fp(fn):
    """``fn`` over float32 views of int32 operands, NaN results canonical, no warnings."""
    def run(*args):
        with np.errstate(all="ignore"):
            return _bits(fn(*(_f(x) for x in args)))
    return run


def _fmin(a, b):
    fa, fb = _f(a), _f(b)
    nan = np.isnan(fa) | np.isnan(fb)
    a_first = (fa < fb) | ((fa == fb) & np.signbit(fa))
    return np.where(nan, CANONICAL_NAN, np.where(a_first, _i64(a), _i64(b))).astype(np.int32)


def _fmax(a, b):
    fa, fb = _f(a), _f(b)
    nan = np.isnan(fa) | np.isnan(fb)
    a_first = (fa > fb) | ((fa == fb) & ~np.signbit(fa))
    return np.where(nan, CANONICAL_NAN, np.where(a_first, _i64(a), _i64(b))).astype(np.int32)


def _fcompare(fn):
    def run(a, b):
        with np.errstate(invalid="ignore"):
            return fn(_f(a), _f(b)).astype(np.int32)
    return run


def _fsign(fn):
    """A sign-bit op on bit patterns; a NaN operand gives the canonical NaN."""
    def run(a):
        nan = np.isnan(_f(a))
        return np.where(nan, CANONICAL_NAN, _wrap(fn(_i64(a) & 0xFFFFFFFF))).astype(np.int32)
    return run


def _ftoi(a):
    with np.errstate(invalid="ignore"):
        f = _f(a).astype(np.float64)
    t = np.trunc(np.where(np.isnan(f), 0.0, f))
    return np.clip(t, INT32_MIN, INT32_MAX).astype(np.int64).astype(np.int32)


def _ftobf(a, c):
    """f32 -> bf16 adding ``c`` (an int, 0..0xffff per element) below the kept bits and
    truncating; NaN gives the canonical NaN. ``c = 0x7fff + kept lsb`` is round to
    nearest even."""
    u = _i64(a) & 0xFFFFFFFF
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = (u + c) & 0xFFFF0000
    return np.where(nan, CANONICAL_NAN, _wrap(r)).astype(np.int32)


#: Stochastic rounding's random source: one 16-bit Galois LFSR per lane of each stage,
#: taps 0xb400 (x^16 + x^14 + x^13 + x^11 + 1, maximal length). Reset when the PCU
#: starts to ``sr_seed(seed, lane)`` (``seed``: the low 16 bits of the stage immediate);
#: each iteration that passes a stage running ``FTOBF_SR`` uses the state as its random
#: bits, then advances it one step (:func:`sr_step`).
SR_TAPS = 0xB400
SR_LANE_STRIDE = 0x9E37


def sr_seed(seed, lane):
    """The LFSR state of ``lane`` after a start: never zero."""
    return ((seed & 0xFFFF) ^ ((lane * SR_LANE_STRIDE + 1) & 0xFFFF)) | 1


def sr_step(state):
    """One step of the LFSR (ints or integer arrays)."""
    state = np.asarray(state, dtype=np.int64)
    return (state >> 1) ^ np.where(state & 1, SR_TAPS, 0)


def sr_bits(iterations, lanes, seed=0):
    """The random bits every lane uses for ``iterations`` successive iterations:
    an int64 array of shape ``(iterations, lanes)``."""
    out = np.empty((iterations, lanes), dtype=np.int64)
    state = np.array([sr_seed(seed, lane) for lane in range(lanes)], dtype=np.int64)
    for k in range(iterations):
        out[k] = state
        state = sr_step(state)
    return out


def ftobf_rne(a):
    """f32 -> bf16, rounding the low 16 bits to nearest even (the ``FTOBF`` op)."""
    return _ftobf(a, 0x7FFF + ((_i64(a) >> 16) & 1))


def ftobf_sr(a, c):
    """f32 -> bf16 stochastically: ``(a + (c & 0xffff))`` with the low 16 bits cleared
    (the ``FTOBF_SR`` op; ``c`` carries the random bits)."""
    return _ftobf(a, _i64(c) & 0xFFFF)


@dataclass(frozen=True)
class OpInfo:
    """What an op does: its arity and its NumPy semantics ``fn(a, b, c) -> int32``."""
    name: str
    arity: int
    fn: Callable


OP_TABLE = {
    Op.PASS:   OpInfo("pass",   1, lambda a, b, c: _wrap(_i64(a))),
    Op.ADD:    OpInfo("add",    2, lambda a, b, c: _wrap(_i64(a) + _i64(b))),
    Op.SUB:    OpInfo("sub",    2, lambda a, b, c: _wrap(_i64(a) - _i64(b))),
    Op.MUL:    OpInfo("mul",    2, lambda a, b, c: _wrap((_i64(a) * _i64(b)) & 0xFFFFFFFF)),
    Op.MAC:    OpInfo("mac",    3, lambda a, b, c: _wrap(((_i64(a) * _i64(b)) & 0xFFFFFFFF) + _i64(c))),
    Op.MIN:    OpInfo("min",    2, lambda a, b, c: _wrap(np.minimum(_i64(a), _i64(b)))),
    Op.MAX:    OpInfo("max",    2, lambda a, b, c: _wrap(np.maximum(_i64(a), _i64(b)))),
    Op.AND:    OpInfo("and",    2, lambda a, b, c: _wrap(_i64(a) & _i64(b))),
    Op.OR:     OpInfo("or",     2, lambda a, b, c: _wrap(_i64(a) | _i64(b))),
    Op.XOR:    OpInfo("xor",    2, lambda a, b, c: _wrap(_i64(a) ^ _i64(b))),
    Op.SHL:    OpInfo("shl",    2, lambda a, b, c: _wrap((_i64(a) << _shamt(b)) & 0xFFFFFFFF)),
    Op.SHR:    OpInfo("shr",    2, lambda a, b, c: _logical_shr(a, b)),
    Op.SRA:    OpInfo("sra",    2, lambda a, b, c: _wrap(_i64(a) >> _shamt(b))),
    Op.EQ:     OpInfo("eq",     2, lambda a, b, c: _wrap(_i64(a) == _i64(b))),
    Op.NE:     OpInfo("ne",     2, lambda a, b, c: _wrap(_i64(a) != _i64(b))),
    Op.LT:     OpInfo("lt",     2, lambda a, b, c: _wrap(_i64(a) < _i64(b))),
    Op.LE:     OpInfo("le",     2, lambda a, b, c: _wrap(_i64(a) <= _i64(b))),
    Op.SELECT: OpInfo("select", 3, lambda a, b, c: _wrap(np.where(_i64(a) != 0, _i64(b), _i64(c)))),
    Op.ABS:    OpInfo("abs",    1, lambda a, b, c: _wrap(np.abs(_i64(a)))),
    Op.FADD:   OpInfo("fadd",   2, lambda a, b, c: _fp(np.add)(a, b)),
    Op.FSUB:   OpInfo("fsub",   2, lambda a, b, c: _fp(np.subtract)(a, b)),
    Op.FMUL:   OpInfo("fmul",   2, lambda a, b, c: _fp(np.multiply)(a, b)),
    Op.FMAC:   OpInfo("fmac",   3, lambda a, b, c: _fp(np.add)(_fp(np.multiply)(a, b), c)),
    Op.FMIN:   OpInfo("fmin",   2, lambda a, b, c: _fmin(a, b)),
    Op.FMAX:   OpInfo("fmax",   2, lambda a, b, c: _fmax(a, b)),
    Op.FEQ:    OpInfo("feq",    2, lambda a, b, c: _fcompare(np.equal)(a, b)),
    Op.FNE:    OpInfo("fne",    2, lambda a, b, c: _fcompare(np.not_equal)(a, b)),
    Op.FLT:    OpInfo("flt",    2, lambda a, b, c: _fcompare(np.less)(a, b)),
    Op.FLE:    OpInfo("fle",    2, lambda a, b, c: _fcompare(np.less_equal)(a, b)),
    Op.FABS:   OpInfo("fabs",   1, lambda a, b, c: _fsign(lambda u: u & 0x7FFFFFFF)(a)),
    Op.FNEG:   OpInfo("fneg",   1, lambda a, b, c: _fsign(lambda u: u ^ 0x80000000)(a)),
    Op.ITOF:   OpInfo("itof",   1, lambda a, b, c: _bits(np.asarray(a, dtype=np.int64)
                                                         .astype(np.int32).astype(np.float32))),
    Op.FTOI:   OpInfo("ftoi",   1, lambda a, b, c: _ftoi(a)),
    Op.FTOBF:  OpInfo("ftobf",  1, lambda a, b, c: ftobf_rne(a)),
    Op.FTOBF_SR: OpInfo("ftobf_sr", 1, lambda a, b, c: ftobf_sr(a, c)),
    Op.ASF32:  OpInfo("asf32",  1, lambda a, b, c: _wrap(_i64(a))),
    Op.ASI32:  OpInfo("asi32",  1, lambda a, b, c: _wrap(_i64(a))),
}

OPS_BY_NAME = {info.name: op for op, info in OP_TABLE.items()}

REDUCE_TABLE = {
    ReduceOp.ADD: ("add", 0,         lambda x, y: _wrap(_i64(x) + _i64(y))),
    ReduceOp.MIN: ("min", INT32_MAX, lambda x, y: _wrap(np.minimum(_i64(x), _i64(y)))),
    ReduceOp.MAX: ("max", INT32_MIN, lambda x, y: _wrap(np.maximum(_i64(x), _i64(y)))),
    ReduceOp.FADD: ("fadd", NEG_ZERO, lambda x, y: _fp(np.add)(x, y)),
    ReduceOp.FMIN: ("fmin", POS_INF,  lambda x, y: _fmin(x, y)),
    ReduceOp.FMAX: ("fmax", NEG_INF,  lambda x, y: _fmax(x, y)),
    # combining two values (the tree, a fold's init) is a plain sum; the compensation
    # lives in the accumulator (sim/golden.py, docs/hardware.md)
    ReduceOp.KADD: ("kadd", NEG_ZERO, lambda x, y: _fp(np.add)(x, y)),
    # the value that wins of two pairs (left one on ties); arg_reduce gives the index
    ReduceOp.ARGMIN: ("argmin", INT32_MAX, lambda x, y: _pick_right(ReduceOp.ARGMIN, x, y)),
    ReduceOp.ARGMAX: ("argmax", INT32_MIN, lambda x, y: _pick_right(ReduceOp.ARGMAX, x, y)),
    ReduceOp.FARGMIN: ("fargmin", POS_INF, lambda x, y: _pick_right(ReduceOp.FARGMIN, x, y)),
    ReduceOp.FARGMAX: ("fargmax", NEG_INF, lambda x, y: _pick_right(ReduceOp.FARGMAX, x, y)),
}


def _is_nan(x):
    return (_i64(x) & 0x7FFFFFFF) > POS_INF


def right_wins(op, x, y):
    """Whether pair ``y`` (the right one, of higher index) wins pair ``x`` in arg
    reduction ``op``: strictly smaller (argmin) or larger (argmax), ``-0 == +0`` for the
    fp ops, where a NaN also wins any number (and loses to an earlier NaN)."""
    op = ReduceOp(op)
    if op in (ReduceOp.ARGMIN, ReduceOp.ARGMAX):
        lo, hi = (y, x) if op == ReduceOp.ARGMIN else (x, y)
        return _i64(lo) < _i64(hi)
    lo, hi = (y, x) if op == ReduceOp.FARGMIN else (x, y)
    with np.errstate(invalid="ignore"):
        less = _f(lo) < _f(hi)
    return less | (_is_nan(y) & ~_is_nan(x))


def _pick_right(op, x, y):
    return np.where(right_wins(op, x, y), y, x).astype(np.int32)


def arg_reduce(op, x, axis):
    """The index along ``axis`` of the winning element of int32 array ``x`` for arg
    reduction ``op``: the first one of the best (``right_wins`` applied left to right,
    which is what any order of pairwise combining gives)."""
    x = np.moveaxis(np.asarray(x, dtype=np.int32), axis, 0)
    best, index = x[0], np.zeros(x.shape[1:], np.int32)
    for k in range(1, x.shape[0]):
        take = right_wins(op, best, x[k])
        best = np.where(take, x[k], best).astype(np.int32)
        index = np.where(take, k, index).astype(np.int32)
    return index

REDUCE_BY_NAME = {name: op for op, (name, _, _) in REDUCE_TABLE.items()}


def apply_op(op, a, b=0, c=0):
    """Apply ``op`` elementwise (with broadcasting); returns int32."""
    a, b, c = np.broadcast_arrays(np.asarray(a), np.asarray(b), np.asarray(c))
    return OP_TABLE[Op(op)].fn(a, b, c)


def reduce_identity(op):
    """The identity element of a reduction (what masked lanes contribute)."""
    return REDUCE_TABLE[ReduceOp(op)][1]


def apply_reduce(op, x, y):
    """Combine two int32 values (arrays) with a reduction op."""
    return REDUCE_TABLE[ReduceOp(op)][2](x, y)
