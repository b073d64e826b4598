"""The floating-point unit of a functional unit, and functions that add one
floating-point unit to a module.

:class:`FloatUnit` computes every op of :data:`hw.ops.FP_OPS` from the units of
:mod:`hw.fparith` (whose docstring gives the algorithms): one adder (``FADD``, ``FSUB``
and the add of ``FMAC``), one multiplier (``FMUL`` and the product of ``FMAC``), one
comparator (``FLT``, ``FLE``, ``FEQ``, ``FNE``, ``FMIN``, ``FMAX``) and the conversions.
The functions (:func:`fadd`, :func:`fmul`, ...) add one such unit to a module as a
submodule and return its result, for units that need floating-point arithmetic outside
a :class:`FloatUnit`. Everything is one combinational level: inside a PCU stage, the
latency is that stage's one cycle.
"""

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fparith import (BINARY32, FAdder, FComparator, FloatToBF16, FloatToInt, FMultiplier,
                      IntToFloat, RoundPack, with_sign)
from .layouts import WORD
from .ops import FP_OPS, Op

__all__ = ["BINARY32", "RoundPack", "FAdder", "FMultiplier", "FComparator", "IntToFloat",
           "FloatToInt", "FloatToBF16", "FloatUnit", "fadd", "fmul", "flt", "feq", "fmin",
           "fmax", "fabs", "fneg", "itof", "ftoi", "ftobf"]


_COMPARE_OPS = (Op.FMIN, Op.FMAX, Op.FEQ, Op.FNE, Op.FLT, Op.FLE)


class FloatUnit(wiring.Component):
    """Combinational ``y = op(a, b, c)`` for the floating-point ops of :data:`hw.ops.FP_OPS`.

    ``y`` is :func:`hw.ops.apply_op` of the op for every op in ``FP_OPS`` and 0 for every
    other opcode. One :class:`FAdder` serves ``FADD``, ``FSUB`` and ``FMAC`` (whose first
    addend is the product), one :class:`FMultiplier` serves ``FMUL`` and ``FMAC`` and one
    :class:`FComparator` serves the compares, ``FMIN`` and ``FMAX``. The operands of a
    unit are 0 while the op does not use it, so nothing toggles in it.

    Ports
    -----
    op : In(Op)
    a, b, c : In(signed(32))
    y : Out(signed(32))
    """

    op: In(Op)
    a: In(signed(WORD))
    b: In(signed(WORD))
    c: In(signed(WORD))
    y: Out(signed(WORD))

    def elaborate(self, platform):
        m = Module()
        op, a, b, c = self.op, self.a, self.b, self.c

        def uses(*ops):
            return op.as_value().matches(*(o.value for o in ops))

        def gated(value, *ops):
            return Mux(uses(*ops), value, 0)

        m.submodules.mul = mul = FMultiplier()
        m.submodules.add = add = FAdder()
        m.submodules.cmp = cmp = FComparator()
        m.submodules.itof = to_float = IntToFloat()
        m.submodules.ftoi = to_int = FloatToInt()
        m.submodules.ftobf = to_bf16 = FloatToBF16()
        fmac = op == Op.FMAC
        m.d.comb += [
            mul.a.eq(gated(a, Op.FMUL, Op.FMAC)),
            mul.b.eq(gated(b, Op.FMUL, Op.FMAC)),
            add.a.eq(Mux(fmac, mul.y, gated(a, Op.FADD, Op.FSUB))),
            add.b.eq(Mux(fmac, c, gated(b, Op.FADD, Op.FSUB))),
            add.subtract.eq(op == Op.FSUB),
            cmp.a.eq(gated(a, *_COMPARE_OPS)),
            cmp.b.eq(gated(b, *_COMPARE_OPS)),
            to_float.a.eq(gated(a, Op.ITOF)),
            to_int.a.eq(gated(a, Op.FTOI)),
            to_bf16.a.eq(gated(a, Op.FTOBF, Op.FTOBF_SR)),
            to_bf16.c.eq(gated(c, Op.FTOBF_SR)),
            to_bf16.stochastic.eq(op == Op.FTOBF_SR),
        ]

        results = {
            Op.FADD: add.y, Op.FSUB: add.y, Op.FMAC: add.y,
            Op.FMUL: mul.y,
            Op.FMIN: cmp.min, Op.FMAX: cmp.max,
            Op.FEQ: cmp.eq, Op.FNE: ~cmp.eq,
            Op.FLT: cmp.lt, Op.FLE: cmp.lt | cmp.eq,
            Op.FABS: fabs(m, a, name="abs"),
            Op.FNEG: fneg(m, a, name="neg"),
            Op.ITOF: to_float.y,
            Op.FTOI: to_int.y,
            Op.FTOBF: to_bf16.y, Op.FTOBF_SR: to_bf16.y,
        }
        assert set(results) == FP_OPS
        with m.Switch(op):
            for fp_op, result in results.items():
                with m.Case(fp_op):
                    m.d.comb += self.y.eq(result)
            with m.Default():
                m.d.comb += self.y.eq(0)
        return m



def _add_unit(m, unit, name):
    if name is None:
        m.submodules += unit
    else:
        m.submodules[name] = unit
    return unit


def fadd(m, a, b, *, subtract=0, name=None):
    """Add an :class:`FAdder` to ``m`` (as submodule ``name``, if given); returns ``a + b``.

    ``subtract`` (an int or a 1-bit value) flips the sign of ``b`` when it is 1. The result
    is a ``Signal(signed(32))``. Raises :exc:`NameError` when ``m`` already has a submodule
    ``name``.
    """
    unit = _add_unit(m, FAdder(), name)
    m.d.comb += [unit.a.eq(a), unit.b.eq(b), unit.subtract.eq(subtract)]
    return unit.y


def fmul(m, a, b, *, name=None):
    """Add an :class:`FMultiplier` to ``m`` (as submodule ``name``, if given); returns
    ``a * b`` as a ``Signal(signed(32))``."""
    unit = _add_unit(m, FMultiplier(), name)
    m.d.comb += [unit.a.eq(a), unit.b.eq(b)]
    return unit.y


def _compare(m, a, b, name):
    unit = _add_unit(m, FComparator(), name)
    m.d.comb += [unit.a.eq(a), unit.b.eq(b)]
    return unit


def flt(m, a, b, *, name=None):
    """Add an :class:`FComparator` to ``m``; returns the 1-bit ``a < b`` (0 for NaN)."""
    return _compare(m, a, b, name).lt


def feq(m, a, b, *, name=None):
    """Add an :class:`FComparator` to ``m``; returns the 1-bit ``a == b`` (0 for NaN)."""
    return _compare(m, a, b, name).eq


def fmin(m, a, b, *, name=None):
    """Add an :class:`FComparator` to ``m``; returns the minimum as a
    ``Signal(signed(32))`` (the canonical NaN if either is NaN; ``-0`` below ``+0``)."""
    return _compare(m, a, b, name).min


def fmax(m, a, b, *, name=None):
    """Add an :class:`FComparator` to ``m``; returns the maximum as a
    ``Signal(signed(32))`` (the canonical NaN if either is NaN; ``-0`` below ``+0``)."""
    return _compare(m, a, b, name).max


def fabs(m, a, *, name=None):
    """Returns ``|a|`` as a ``Signal(signed(32))`` (the canonical NaN for a NaN), named
    ``{name}_y`` if ``name`` is given."""
    y = Signal(signed(WORD), name=f"{name}_y" if name else None)
    m.d.comb += y.eq(with_sign(a, 0))
    return y


def fneg(m, a, *, name=None):
    """Returns ``-a`` as a ``Signal(signed(32))`` (the canonical NaN for a NaN), named
    ``{name}_y`` if ``name`` is given."""
    y = Signal(signed(WORD), name=f"{name}_y" if name else None)
    m.d.comb += y.eq(with_sign(a, ~Value.cast(a)[WORD - 1]))
    return y


def itof(m, a, *, name=None):
    """Add an :class:`IntToFloat` to ``m``; returns the signed integer ``a`` as binary32
    (rounded to nearest even) in a ``Signal(signed(32))``."""
    unit = _add_unit(m, IntToFloat(), name)
    m.d.comb += unit.a.eq(a)
    return unit.y


def ftoi(m, a, *, name=None):
    """Add a :class:`FloatToInt` to ``m``; returns the binary32 ``a`` truncated to a
    saturated signed integer (NaN gives 0) in a ``Signal(signed(32))``."""
    unit = _add_unit(m, FloatToInt(), name)
    m.d.comb += unit.a.eq(a)
    return unit.y


def ftobf(m, a, c=None, *, name=None):
    """Add a :class:`FloatToBF16` to ``m``; returns ``a`` rounded to bfloat16 in a
    ``Signal(signed(32))``: to nearest even when ``c`` is None, else stochastically with
    the low 16 bits of ``c``."""
    unit = _add_unit(m, FloatToBF16(), name)
    m.d.comb += [unit.a.eq(a), unit.stochastic.eq(int(c is not None))]
    if c is not None:
        m.d.comb += unit.c.eq(c)
    return unit.y
