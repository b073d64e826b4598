import random

import pytest
from amaranth.sim import Simulator

import numpy as np

from hw.fu import FunctionalUnit
from hw.ops import Op, OP_TABLE, FP_OPS, apply_op, INT32_MIN, INT32_MAX

INT_OPS = [op for op in Op if op not in FP_OPS]     # the bit casts included
#: binary32 bit patterns: 1.5, -2.25, +0, -0, +inf, NaN, a subnormal, 3
FLOATS = [0x3FC00000, -0x3FF00000, 0, -(2 ** 31), 0x7F800000, 0x7FC00000, 1, 3]

EDGES = [0, 1, -1, 2, -2, INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1,
         0x12345678, -0x789ABCDF, 31, 32, 33, 0x10000, -0x10000]
THIRDS = [0, 1, -1, INT32_MIN, INT32_MAX]


def triples(op, seed=2024, count=50):
    """Edge pairs (with a few third operands for three-operand ops), then random triples."""
    arity = OP_TABLE[op].arity
    out = []
    for a in EDGES:
        for b in EDGES if arity > 1 else [0]:
            for c in THIRDS if arity > 2 else [0]:
                out.append((a, b, c))
    rng = random.Random(seed + op.value)
    for _ in range(count):
        out.append(tuple(rng.randint(INT32_MIN, INT32_MAX) for _ in range(3)))
        # small values exercise shifts, compares and SELECT's zero test
        out.append(tuple(rng.randint(-40, 40) for _ in range(3)))
    return out


def run_fu(op, cases, fp=False):
    dut = FunctionalUnit(fp=fp)
    got = []

    async def tb(ctx):
        ctx.set(dut.op, op)
        for a, b, c in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.c, c)
            got.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return got


@pytest.mark.parametrize("op", INT_OPS, ids=lambda op: op.name)
def test_op_matches_table(op):
    cases = triples(op)
    for fp in (False, True):
        got = run_fu(op, cases, fp=fp)
        for (a, b, c), y in zip(cases, got):
            want = int(apply_op(op, a, b, c))
            assert y == want, f"{op.name}({a}, {b}, {c}) = {y}, want {want} (fp={fp})"


@pytest.mark.parametrize("op", sorted(FP_OPS, key=lambda op: op.value), ids=lambda op: op.name)
def test_fp_ops_in_the_functional_unit(op):
    """A unit built with fp computes the fp ops (tests/hw/test_fpu.py checks them in
    depth); one without gives 0 for them."""
    cases = [(a, b, c) for a in FLOATS for b in FLOATS for c in FLOATS[:3]]
    with np.errstate(all="ignore"):
        want = [int(apply_op(op, a, b, c)) for a, b, c in cases]
    assert run_fu(op, cases, fp=True) == want
    assert run_fu(op, cases) == [0] * len(cases)


def test_every_op_is_tested():
    assert set(OP_TABLE) == set(Op)
