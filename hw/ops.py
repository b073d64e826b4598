"""Functional-unit opcodes and their exact semantics.

:class:`Op` is the one opcode enumeration of the fabric. :data:`OP_TABLE` gives each
op's meaning as a NumPy function over int32 arrays; the golden model evaluates graphs
with it and the hardware functional units are tested against it op by op.

All arithmetic wraps modulo 2**32 (two's complement), like the hardware. Comparisons
are signed and yield 1 or 0. Shift amounts use the low five bits of ``b``.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
from amaranth.lib import enum

__all__ = ["Op", "ReduceOp", "OpInfo", "OP_TABLE", "OPS_BY_NAME", "REDUCE_TABLE",
           "REDUCE_BY_NAME", "wrap32", "apply_op", "apply_reduce", "reduce_identity"]

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1


class Op(enum.Enum, shape=5):
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


class ReduceOp(enum.Enum, shape=2):
    """Operations of the cross-lane reduction tree and the accumulator."""
    ADD = 0
    MIN = 1
    MAX = 2


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
}

OPS_BY_NAME = {info.name: op for op, info in OP_TABLE.items()}

REDUCE_TABLE = {
    ReduceOp.ADD: ("add", 0,         lambda x, y: _wrap(_i64(x) + _i64(y))),
    ReduceOp.MIN: ("min", INT32_MAX, lambda x, y: _wrap(np.minimum(_i64(x), _i64(y)))),
    ReduceOp.MAX: ("max", INT32_MIN, lambda x, y: _wrap(np.maximum(_i64(x), _i64(y)))),
}

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
