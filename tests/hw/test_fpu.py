# amaranth: UnusedElaboratable=no
import random
import struct

import numpy as np
import pytest
from amaranth.hdl import Cat, Fragment, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw import fpu
from hw.fpu import FloatUnit
from hw.ops import CANONICAL_NAN, FP_OPS, INT32_MAX, INT32_MIN, OP_TABLE, Op, apply_op


def f2b(x):
    """The binary32 bit pattern of the float ``x`` as an int32."""
    return struct.unpack("<i", struct.pack("<f", x))[0]


def s32(x):
    """``x`` modulo 2**32 as an int32."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >> 31 else x


def h(x):
    return f"{x & 0xFFFFFFFF:#010x}"


FLOAT_EDGES = [s32(x) for x in [
    0x00000000, 0x80000000,                  # +0, -0
    0x7F800000, 0xFF800000,                  # +inf, -inf
    CANONICAL_NAN, 0x7F800001, 0xFFC00000,   # canonical, signalling-pattern, negative NaN
    0x3F800000, 0xBF800000, 0x3FC00000,      # 1.0, -1.0, 1.5
    0x00000001, 0x80000001,                  # smallest subnormal
    0x007FFFFF, 0x807FFFFF,                  # largest subnormal
    0x00800000, 0x80800000,                  # smallest normal
    0x7F7FFFFF, 0xFF7FFFFF,                  # largest normal
    0x7F000000, 0x1F800000, 0x9F800000,      # 2**127, 2**-64 (products under/overflow)
    0x33800000, 0x34400000,                  # 2**-24, 3 * 2**-24 (1.0 + these is a tie)
    0x3F800001, 0x4B800001,                  # 1.0 + ulp, 2**24 + 2
    0x3F808000, 0x3F818000,                  # low half 0x8000: bit 16 even, odd
    0x3F807FFF, 0x3F808001,                  # just below and above that tie
]]
INT_EDGES = [0, 1, -1, INT32_MIN, INT32_MAX, 2 ** 24 + 1, 2 ** 24 + 3, -(2 ** 24 + 1),
             2 ** 25 + 2, 2 ** 25 + 6, 0x7FFFFFC0, 0x7FFFFF80, INT32_MIN + 1, 12345678]
FTOI_EDGES = [f2b(x) for x in [2.0 ** 31, -2.0 ** 31, 2.5, -2.5, 0.999, -0.999, 1e10, -1e10,
                               2.0 ** 30, -2.0 ** 30, 2.0 ** 31 - 128, -(2.0 ** 31 - 128),
                               0.5, 1.0, -1.0, 8388607.5, 16777216.0, 123.75]]
THIRDS = [s32(x) for x in [0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000,
                           CANONICAL_NAN, 0x00000001, 0x00008000, 0x0000FFFF, 0xFFFF7FFF,
                           0x12345678]]

UNARY = {Op.FABS, Op.FNEG, Op.ITOF, Op.FTOI, Op.FTOBF}
#: ops whose hardware reads operand c: fmac's addend, ftobf_sr's random bits (a
#: one-operand cast in the IR, whose random source is not an operand of the graph)
THREE = {Op.FMAC, Op.FTOBF_SR}


def random_float(rng, exp_lo=0, exp_hi=255):
    """A binary32 pattern with random sign and fraction and an exponent field in range."""
    return s32(rng.getrandbits(1) << 31 | rng.randint(exp_lo, exp_hi) << 23
               | rng.getrandbits(23))


def near(rng, x, spread):
    """A random float whose exponent is within ``spread`` of ``x``'s (clamped)."""
    e = (x >> 23) & 0xFF
    return random_float(rng, max(0, e - spread), min(254, e + spread))


def random_pair(rng, op):
    """Random operands that reach the cases hard to hit with uniform bit patterns."""
    kind = rng.randrange(4)
    a = random_float(rng, 0, 254)
    if op in (Op.FMUL, Op.FMAC) and kind < 2:
        # exponents summing near the subnormal range (and the top of the normal range)
        lo = rng.choice([0, 1, 20, 60, 100])
        a = random_float(rng, lo, lo + 40)
        rest = rng.choice([100, 103, 110, 127, 380]) - ((a >> 23) & 0xFF)
        b_lo = max(0, min(254, rest - 4))
        b = random_float(rng, b_lo, max(b_lo, min(254, rest + 4)))
    elif kind < 3:
        # close exponents: cancellation in a subtraction, ties in an addition
        b = near(rng, a, rng.choice([0, 1, 2, 25]))
        if rng.randrange(4) == 0:
            b = s32((b & ~0x7FFFFFFF) | ((a + rng.randint(-3, 3)) & 0x7FFFFFFF))
    else:
        b = random_float(rng, 0, 2)                       # subnormals and tiny normals
    return a, b


def random_int(rng):
    """An int32 of random bit length, so every rounding position occurs."""
    n = rng.randint(1, 32)
    return s32(rng.getrandbits(n) if n < 32 else rng.getrandbits(32))


def cases_for(op, seed=2024, count=1000):
    """Edge operands (all pairs for two-operand ops, some third operands for three-operand
    ops), then ``2 * count`` random bit patterns and ``count`` drawn for the hard cases."""
    rng = random.Random(seed + op.value)
    edges = {Op.ITOF: INT_EDGES, Op.FTOI: FTOI_EDGES + FLOAT_EDGES}.get(op, FLOAT_EDGES)
    out = []
    for a in edges:
        for b in [0] if op in UNARY or op == Op.FTOBF_SR else FLOAT_EDGES:
            for c in THIRDS if op in THREE else [0]:
                out.append((a, b, c))
    for _ in range(2 * count):
        out.append(tuple(s32(rng.getrandbits(32)) for _ in range(3)))
    for _ in range(count):
        if op == Op.ITOF:
            a, b = random_int(rng), 0
        elif op == Op.FTOI:
            a, b = random_float(rng, 110, 165), 0
        else:
            a, b = random_pair(rng, op)
        c = s32(rng.getrandbits(32))
        if op == Op.FMAC and rng.randrange(2):
            # an addend close to the product: cancellation after the multiplication
            c = s32(int(apply_op(Op.FMUL, [a], [b])[0]) ^ rng.choice([0, 1 << 31]))
            c = near(rng, c, 1) if rng.randrange(2) else c
        out.append((a, b, c))
    return out


def expected(op, cases):
    a, b, c = (np.array(x, dtype=np.int64) for x in zip(*cases))
    with np.errstate(all="ignore"):      # a signalling NaN raises "invalid" in a cast
        return [int(y) for y in apply_op(op, a, b, c)]


def run_unit(op, cases):
    """``y`` of a :class:`FloatUnit` for each ``(a, b, c)`` of ``cases``, in one run."""
    dut = FloatUnit()
    operands = Cat(dut.a, dut.b, dut.c)
    got = []

    async def tb(ctx):
        ctx.set(dut.op, op)
        for a, b, c in cases:
            ctx.set(operands, (a & 0xFFFFFFFF) | (b & 0xFFFFFFFF) << 32
                    | (c & 0xFFFFFFFF) << 64)
            got.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return got


def check(name, cases, got, want):
    bad = [f"{name}({', '.join(h(x) for x in case)}) = {h(y)}, want {h(w)}"
           for case, y, w in zip(cases, got, want) if y != w]
    assert not bad, f"{len(bad)} of {len(cases)} wrong, first: " + "; ".join(bad[:10])
    print(f"{name}: {len(cases)} cases")


@pytest.mark.parametrize("op", sorted(FP_OPS, key=lambda op: op.value), ids=lambda op: op.name)
def test_float_unit(op):
    cases = cases_for(op)
    check(op.name, cases, run_unit(op, cases), expected(op, cases))


def test_case_arity_matches_table():
    assert UNARY | {Op.FTOBF_SR} == {op for op in FP_OPS if OP_TABLE[op].arity == 1}
    assert THREE - {Op.FTOBF_SR} == {op for op in FP_OPS if OP_TABLE[op].arity == 3}


def test_other_opcodes_give_zero():
    # every opcode value the 6-bit op port can carry, named or not
    others = [v for v in range(1 << Op.as_shape().width) if v not in {op.value for op in FP_OPS}]
    dut = FloatUnit()
    got = []

    async def tb(ctx):
        ctx.set(dut.a, 0x3F800000)
        ctx.set(dut.b, 0x3F800000)
        ctx.set(dut.c, -1)
        for v in others:
            ctx.set(dut.op.as_value(), v)
            got.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    assert got == [0] * len(others)


class Standalone(wiring.Component):
    """The standalone functions of :mod:`hw.fpu`, side by side, on shared operands."""

    a: In(signed(32))
    b: In(signed(32))
    c: In(signed(32))
    subtract: In(1)
    add: Out(signed(32))
    mul: Out(signed(32))
    min: Out(signed(32))
    max: Out(signed(32))
    lt: Out(1)
    eq: Out(1)
    itof: Out(signed(32))
    ftoi: Out(signed(32))
    bf16: Out(signed(32))
    bf16_sr: Out(signed(32))
    abs: Out(signed(32))
    neg: Out(signed(32))

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        m.d.comb += [
            self.add.eq(fpu.fadd(m, a, b, subtract=self.subtract, name="adder")),
            self.mul.eq(fpu.fmul(m, a, b, name="multiplier")),
            self.min.eq(fpu.fmin(m, a, b)),
            self.max.eq(fpu.fmax(m, a, b)),
            self.lt.eq(fpu.flt(m, a, b)),
            self.eq.eq(fpu.feq(m, a, b)),
            self.itof.eq(fpu.itof(m, a)),
            self.ftoi.eq(fpu.ftoi(m, a)),
            self.bf16.eq(fpu.ftobf(m, a)),
            self.bf16_sr.eq(fpu.ftobf(m, a, self.c)),
            self.abs.eq(fpu.fabs(m, a)),
            self.neg.eq(fpu.fneg(m, a)),
        ]
        return m


STANDALONE = {"mul": Op.FMUL, "min": Op.FMIN, "max": Op.FMAX, "lt": Op.FLT, "eq": Op.FEQ,
              "itof": Op.ITOF, "ftoi": Op.FTOI, "bf16": Op.FTOBF, "bf16_sr": Op.FTOBF_SR,
              "abs": Op.FABS, "neg": Op.FNEG}


def test_standalone_functions():
    rng = random.Random(7)
    cases = [(a, b, s32(rng.getrandbits(32)), rng.getrandbits(1))
             for a in FLOAT_EDGES for b in FLOAT_EDGES[:12]]
    for _ in range(400):
        a, b = random_pair(rng, Op.FADD)
        cases.append((a, b, s32(rng.getrandbits(32)), rng.getrandbits(1)))
    dut = Standalone()
    ports = ["add", *STANDALONE]
    got = []

    async def tb(ctx):
        operands = Cat(dut.a, dut.b, dut.c, dut.subtract)
        for a, b, c, subtract in cases:
            ctx.set(operands, (a & 0xFFFFFFFF) | (b & 0xFFFFFFFF) << 32
                    | (c & 0xFFFFFFFF) << 64 | subtract << 96)
            got.append({port: ctx.get(getattr(dut, port)) for port in ports})

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    for subtract, op in [(0, Op.FADD), (1, Op.FSUB)]:
        picked = [i for i, case in enumerate(cases) if case[3] == subtract]
        operands = [cases[i][:3] for i in picked]
        check(f"fadd(subtract={subtract})", operands, [got[i]["add"] for i in picked],
              expected(op, operands))
    operands = [case[:3] for case in cases]
    for port, op in STANDALONE.items():
        check(port, operands, [y[port] for y in got], expected(op, operands))


def test_named_units_are_submodules():
    m = Module()
    ys = [fpu.fadd(m, Signal(32), Signal(32), name=f"lane{i}_add") for i in range(2)]
    assert all(isinstance(y, Signal) and y.shape() == signed(32) for y in ys)
    names = [name for _, name, _ in Fragment.get(m, None).subfragments]
    assert names == ["lane0_add", "lane1_add"]


def test_round_pack_width_is_checked():
    with pytest.raises(ValueError, match=r"width must be an integer of at least 26, not 8"):
        fpu.RoundPack(8)
