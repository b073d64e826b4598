"""The PCU functional unit: one 32-bit lane of one pipeline stage."""

from amaranth.hdl import Module, Signal, Cat, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fpu import FloatUnit
from .layouts import WORD
from .ops import Op

__all__ = ["FunctionalUnit"]


class FunctionalUnit(wiring.Component):
    """Combinational ``y = op(a, b, c)`` with the semantics of :data:`hw.ops.OP_TABLE`.

    Arithmetic wraps modulo ``2**32``; comparisons are signed and give 1 or 0; shifts use
    ``b & 31``. Opcodes that :class:`Op` does not name give 0, and so do the
    floating-point ops unless the unit is built with ``fp``: then a
    :class:`~hw.fpu.FloatUnit` computes them.

    One adder (33 bits, so its sign bit is the signed ``a < b``), one multiplier (low
    word) and one right shifter (left shifts run it on the bit-reversed word) are shared
    by all ops.

    Ports
    -----
    op : In(Op)
    a, b, c : In(signed(32))
    y : Out(signed(32))

    Parameters
    ----------
    fp : bool
        Build the floating-point ops (the ``"fp"`` op group).
    """

    op: In(Op)
    a:  In(signed(WORD))
    b:  In(signed(WORD))
    c:  In(signed(WORD))
    y:  Out(signed(WORD))

    def __init__(self, *, fp=False):
        self._fp = bool(fp)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        op, a, b, c = self.op, self.a, self.b, self.c
        result = Signal(signed(WORD))
        if self._fp:
            m.submodules.fpu = fpu = FloatUnit()
            m.d.comb += [fpu.op.eq(op), fpu.a.eq(a), fpu.b.eq(b), fpu.c.eq(c),
                         self.y.eq(result | fpu.y)]  # each side gives 0 for the other's ops
        else:
            m.d.comb += self.y.eq(result)

        product = Signal(WORD)
        m.d.comb += product.eq(a * b)

        # x + y + carry: a + b, a - b (also for compares), product + c, 0 - a (abs)
        x = Signal(signed(WORD + 1))
        y = Signal(signed(WORD + 1))
        carry = Signal()
        with m.Switch(op):
            with m.Case(Op.SUB, Op.MIN, Op.MAX, Op.LT, Op.LE):
                m.d.comb += [x.eq(a), y.eq(~b), carry.eq(1)]
            with m.Case(Op.MAC):
                m.d.comb += [x.eq(product.as_signed()), y.eq(c)]
            with m.Case(Op.ABS):
                m.d.comb += [y.eq(Mux(a[-1], ~a, a)), carry.eq(a[-1])]
            with m.Default():
                m.d.comb += [x.eq(a), y.eq(b)]
        total = Signal(WORD + 1)
        m.d.comb += total.eq(x + y + carry)
        less = total[WORD]
        equal = a == b

        # one arithmetic right shifter; SHL reverses the word on the way in and out
        left = op == Op.SHL
        shifter_in = Mux(left, a.as_unsigned()[::-1], a.as_unsigned())
        fill = (op == Op.SRA) & a[-1]
        shifted = Signal(WORD)
        m.d.comb += shifted.eq(Cat(shifter_in, fill).as_signed() >> b[:5])
        shift_out = Mux(left, shifted[::-1], shifted)

        with m.Switch(op):
            with m.Case(Op.PASS, Op.ASF32, Op.ASI32):
                m.d.comb += result.eq(a)
            with m.Case(Op.ADD, Op.SUB, Op.MAC, Op.ABS):
                m.d.comb += result.eq(total[:WORD])
            with m.Case(Op.MUL):
                m.d.comb += result.eq(product)
            with m.Case(Op.MIN):
                m.d.comb += result.eq(Mux(less, a, b))
            with m.Case(Op.MAX):
                m.d.comb += result.eq(Mux(less, b, a))
            with m.Case(Op.AND):
                m.d.comb += result.eq(a & b)
            with m.Case(Op.OR):
                m.d.comb += result.eq(a | b)
            with m.Case(Op.XOR):
                m.d.comb += result.eq(a ^ b)
            with m.Case(Op.SHL, Op.SHR, Op.SRA):
                m.d.comb += result.eq(shift_out)
            with m.Case(Op.EQ):
                m.d.comb += result.eq(equal)
            with m.Case(Op.NE):
                m.d.comb += result.eq(~equal)
            with m.Case(Op.LT):
                m.d.comb += result.eq(less)
            with m.Case(Op.LE):
                m.d.comb += result.eq(less | equal)
            with m.Case(Op.SELECT):
                m.d.comb += result.eq(Mux(a != 0, b, c))
        return m
