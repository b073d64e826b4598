"""IEEE 754 binary32 arithmetic units (:class:`FloatUnit <hw.fpu.FloatUnit>` in
:mod:`hw.fpu` puts them together behind the opcodes).

Every unit here is one level of combinational logic: a result is ready in the cycle its
operands are, so inside a PCU stage the latency is that stage's one cycle. The semantics
are those of the floating-point ops of :data:`hw.ops.OP_TABLE`: round to nearest even,
subnormals kept (no flush to zero), infinities, and the canonical quiet NaN
``0x7fc00000`` for every NaN result.

Algorithm
---------
An operand unpacks (:data:`BINARY32`) into sign ``s``, exponent ``e`` and fraction
``f``; its significand is ``m = Cat(f, e != 0)`` (24 bits) and its effective exponent
``E = max(e, 1)``, so a subnormal is exponent 1 with hidden bit 0 and
``|x| = m * 2**(E - 150)``.

:class:`RoundPack` is shared by every rounding unit. It takes a sign, a signed exponent
``exp`` and a ``W``-bit significand ``sig`` standing for ``sig * 2**(exp - 127 - (W - 1))``.
It shifts ``sig`` left by ``min(leading zeros, exp - 1)`` (exponent down by as much), or,
when ``exp < 1`` (only after a multiplication), right by ``1 - exp`` with the bits shifted
out kept as sticky. The top 24 bits are kept (hidden bit at bit 23), the next bit is the
guard bit and all bits below are sticky. ``((exp - 1) << 23) + kept`` is then the packed
result, a normal number when the hidden bit is set and a subnormal when it is clear
(exponent 1 packs as exponent field 0); adding the round-up bit
``guard & (sticky | kept[0])`` lets carries run into the exponent field, which handles a
significand overflowing, the largest subnormal rounding to the smallest normal and the
largest normal rounding to infinity. A magnitude at or above ``0x7f800000`` is infinity;
``sig == 0`` is a zero of the given zero sign.

- :class:`FAdder`: operands ordered by magnitude (the low 31 bits compared unsigned),
  the smaller significand aligned to the larger exponent with three extra bits (guard,
  round, sticky; bits shifted out are OR-ed into the last), added or subtracted, then
  rounded. An exact zero sum is ``-0`` only when both operands are ``-0`` (after the sign
  flip of a subtraction).
- :class:`FMultiplier`: the 48-bit product of the significands with exponent
  ``Ea + Eb - 126``, rounded (including gradual underflow to a subnormal or zero).
- :class:`IntToFloat`: the magnitude of the integer as a 32-bit significand with exponent
  158, rounded.
- :class:`FloatToInt`: ``m`` shifted by ``E - 150`` (truncating), negated for a negative
  sign, saturated for ``E >= 158``.
- :class:`FComparator`: sign-magnitude comparison; ``+0 == -0``, no ordering with NaN.
- :class:`FloatToBF16`: an integer add on the bit pattern below the kept 16 bits.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .layouts import WORD
from .ops import CANONICAL_NAN, INT32_MAX, INT32_MIN, POS_INF

__all__ = ["BINARY32", "RoundPack", "FAdder", "FMultiplier", "FComparator", "IntToFloat",
           "FloatToInt", "FloatToBF16"]

#: The fields of an IEEE 754 binary32 bit pattern.
BINARY32 = data.StructLayout({"frac": 23, "exp": 8, "sign": 1})

_FRAC = 23                       # fraction bits
_SIG = _FRAC + 1                 # significand bits, the hidden bit included
_BIAS = 127
_EXP_MAX = 255                   # the exponent field of infinities and NaNs
_EXP_SHAPE = signed(12)          # holds every exponent a unit computes before rounding
_ALIGN = _SIG + 3                # adder significand: guard, round and sticky bits below
_NAN = Const(CANONICAL_NAN, WORD)


class _Unpacked:
    """The fields of a binary32 value ``x`` and what the units need of them."""

    def __init__(self, x):
        v = BINARY32(Value.cast(x)[:WORD])
        self.bits = v.as_value()
        self.sign = v.sign
        self.mag = self.bits[:WORD - 1]
        special = v.exp == _EXP_MAX
        self.nan = special & (v.frac != 0)
        self.inf = special & (v.frac == 0)
        self.zero = self.mag == 0
        normal = v.exp != 0
        self.sig = Cat(v.frac, normal)                   # _SIG bits
        self.exp = Mux(normal, v.exp, 1)                 # effective exponent, 8 bits


def _infinity(sign):
    return Cat(Const(POS_INF, WORD - 1), sign)


def with_sign(x, sign):
    """``x`` with its sign bit replaced; the canonical NaN for a NaN."""
    return Mux(_Unpacked(x).nan, _NAN, Cat(Value.cast(x)[:WORD - 1], sign))


def _clz(v):
    """Leading zeros of ``v`` (``len(v)`` a power of two) as a ``Mux`` tree."""
    n = len(v)
    if n == 1:
        return ~v
    half = n // 2
    hi, lo = v[half:], v[:half]
    return Mux(hi.any(), _clz(hi), half + _clz(lo))


def _leading_zeros(v):
    """Leading zeros of ``v`` (``len(v)`` when ``v == 0``)."""
    width = 1 << (len(v) - 1).bit_length()
    if width == len(v):
        return _clz(v)
    # a one just below ``v`` stops the count at len(v) when v is zero
    pad = width - len(v)
    return _clz(Cat(Const(1 << (pad - 1), pad), v))


class RoundPack(wiring.Component):
    """Normalizes, rounds to nearest even and packs ``sig * 2**(exp - 127 - (width - 1))``.

    Parameters
    ----------
    width : int
        Bits of ``sig``; at least 26 (24 kept bits, a guard bit and a sticky bit).
    underflow : bool
        Whether ``exp`` may be below 1, as after a multiplication whose exact product lies
        below the normal range: ``sig`` is then shifted right into the subnormal range.
        Without it an ``exp`` below 1 gives an undefined result.

    Ports
    -----
    sign : In(1)
        The sign of a nonzero result.
    zero_sign : In(1)
        The sign of the result when ``sig`` is 0.
    exp : In(signed(12))
    sig : In(width)
    y : Out(signed(32))
        The binary32 bit pattern; infinity on overflow.
    """

    def __init__(self, width, *, underflow=False):
        if not isinstance(width, int) or width < _SIG + 2:
            raise ValueError(f"width must be an integer of at least {_SIG + 2}, not {width!r}")
        self._width = width
        self._underflow = bool(underflow)
        super().__init__({
            "sign": In(1),
            "zero_sign": In(1),
            "exp": In(_EXP_SHAPE),
            "sig": In(width),
            "y": Out(signed(WORD)),
        })

    @property
    def width(self):
        return self._width

    @property
    def underflow(self):
        return self._underflow

    def elaborate(self, platform):
        m = Module()
        w, exp, sig = self._width, self.exp, self.sig

        lz = Signal(range(w + 1))
        m.d.comb += lz.eq(_leading_zeros(sig))
        # shift left to normalize, but no further than to exponent 1 (a subnormal)
        room = exp - 1
        lshift = Signal(range(w + 1))
        m.d.comb += lshift.eq(Mux(lz < room, lz, room))
        norm = Signal(w)
        shifted_out = Const(0)
        e_out = Signal(_EXP_SHAPE)
        if self._underflow:
            tiny = exp < 1
            rshift = Signal(range(w + 1))
            m.d.comb += rshift.eq(Mux(tiny, Mux(1 - exp > w, w, 1 - exp), 0))
            window = Signal(2 * w)
            m.d.comb += window.eq(Cat(Const(0, w), sig) >> rshift)
            shifted_out = window[:w].any()
            m.d.comb += [
                norm.eq(Mux(tiny, window[w:], sig << lshift)),
                e_out.eq(Mux(tiny, 1, exp - lshift)),
            ]
        else:
            m.d.comb += [norm.eq(sig << lshift), e_out.eq(exp - lshift)]

        kept = norm[w - _SIG:]
        guard = norm[w - _SIG - 1]
        sticky = norm[:w - _SIG - 1].any() | shifted_out
        rounded = Signal(unsigned(WORD + 2))
        m.d.comb += rounded.eq(((e_out - 1) << _FRAC).as_unsigned() + kept
                               + (guard & (sticky | kept[0])))
        mag = Mux(rounded >= POS_INF, POS_INF, rounded[:WORD - 1])
        m.d.comb += self.y.eq(Mux(sig == 0, Cat(Const(0, WORD - 1), self.zero_sign),
                                  Cat(mag, self.sign)))
        return m


class FAdder(wiring.Component):
    """``y = a + b``, or ``a - b`` when ``subtract`` is 1, on binary32 bit patterns.

    Ports
    -----
    a, b : In(signed(32))
    subtract : In(1)
    y : Out(signed(32))
    """

    a: In(signed(WORD))
    b: In(signed(WORD))
    subtract: In(1)
    y: Out(signed(WORD))

    def elaborate(self, platform):
        m = Module()
        b_signed = Cat(self.b[:WORD - 1], self.b[WORD - 1] ^ self.subtract)
        swap = self.a[:WORD - 1] < self.b[:WORD - 1]
        big_bits = Signal(WORD)           # the operand of larger magnitude
        small_bits = Signal(WORD)
        m.d.comb += [
            big_bits.eq(Mux(swap, b_signed, self.a)),
            small_bits.eq(Mux(swap, self.a, b_signed)),
        ]
        big, small = _Unpacked(big_bits), _Unpacked(small_bits)

        distance = Signal(range(_ALIGN + 1))
        diff = big.exp - small.exp
        m.d.comb += distance.eq(Mux(diff > _ALIGN, _ALIGN, diff))
        window = Signal(2 * _ALIGN)
        m.d.comb += window.eq(Cat(Const(0, _ALIGN + 3), small.sig) >> distance)
        aligned = window[_ALIGN:] | window[:_ALIGN].any()
        subtracting = big.sign ^ small.sign
        big_sig = Cat(Const(0, 3), big.sig)
        total = Signal(_ALIGN + 1)
        m.d.comb += total.eq(Mux(subtracting, big_sig - aligned, big_sig + aligned))

        m.submodules.round = rnd = RoundPack(_ALIGN + 1)
        m.d.comb += [
            rnd.sign.eq(big.sign),
            rnd.zero_sign.eq(big.sign & small.sign),
            rnd.exp.eq(big.exp + 1),
            rnd.sig.eq(total),
        ]
        # a NaN operand is the larger one; inf - inf is the only other NaN
        nan = big.nan | (big.inf & small.inf & subtracting)
        m.d.comb += self.y.eq(Mux(nan, _NAN, Mux(big.inf, big_bits, rnd.y)))
        return m


class FMultiplier(wiring.Component):
    """``y = a * b`` on binary32 bit patterns.

    Ports
    -----
    a, b : In(signed(32))
    y : Out(signed(32))
    """

    a: In(signed(WORD))
    b: In(signed(WORD))
    y: Out(signed(WORD))

    def elaborate(self, platform):
        m = Module()
        a, b = _Unpacked(self.a), _Unpacked(self.b)
        sign = a.sign ^ b.sign
        product = Signal(2 * _SIG)
        m.d.comb += product.eq(a.sig * b.sig)

        m.submodules.round = rnd = RoundPack(2 * _SIG, underflow=True)
        m.d.comb += [
            rnd.sign.eq(sign),
            rnd.zero_sign.eq(sign),
            rnd.exp.eq(a.exp + b.exp - (_BIAS - 1)),
            rnd.sig.eq(product),
        ]
        nan = a.nan | b.nan | (a.inf & b.zero) | (a.zero & b.inf)
        inf = a.inf | b.inf
        m.d.comb += self.y.eq(Mux(nan, _NAN, Mux(inf, _infinity(sign), rnd.y)))
        return m


class FComparator(wiring.Component):
    """IEEE comparison of two binary32 bit patterns, and their minimum and maximum.

    Ports
    -----
    a, b : In(signed(32))
    lt : Out(1)
        ``a < b``; 0 when either is NaN.
    eq : Out(1)
        ``a == b``; 0 when either is NaN, 1 for ``+0 == -0``.
    unordered : Out(1)
        Either operand is NaN.
    min, max : Out(signed(32))
        The canonical NaN when either operand is NaN; ``-0`` is below ``+0``.
    """

    a: In(signed(WORD))
    b: In(signed(WORD))
    lt: Out(1)
    eq: Out(1)
    unordered: Out(1)
    min: Out(signed(WORD))
    max: Out(signed(WORD))

    def elaborate(self, platform):
        m = Module()
        a, b = _Unpacked(self.a), _Unpacked(self.b)
        both_zero = a.zero & b.zero
        magnitude_lt = Mux(a.sign, b.mag < a.mag, a.mag < b.mag)
        m.d.comb += [
            self.unordered.eq(a.nan | b.nan),
            self.lt.eq(~self.unordered & Mux(a.sign != b.sign, a.sign & ~both_zero,
                                             magnitude_lt)),
            self.eq.eq(~self.unordered & ((a.bits == b.bits) | both_zero)),
        ]
        # for ordered operands, exactly one of a and b is the minimum (-0 below +0)
        a_is_min = self.lt | (self.eq & a.sign)
        m.d.comb += [
            self.min.eq(Mux(self.unordered, _NAN, Mux(a_is_min, self.a, self.b))),
            self.max.eq(Mux(self.unordered, _NAN, Mux(a_is_min, self.b, self.a))),
        ]
        return m


class IntToFloat(wiring.Component):
    """``y`` = the signed integer ``a`` as binary32, rounded to nearest even.

    Ports
    -----
    a : In(signed(32))
    y : Out(signed(32))
    """

    a: In(signed(WORD))
    y: Out(signed(WORD))

    def elaborate(self, platform):
        m = Module()
        sign = self.a[WORD - 1]
        m.submodules.round = rnd = RoundPack(WORD)
        m.d.comb += [
            rnd.sign.eq(sign),
            rnd.zero_sign.eq(0),
            rnd.exp.eq(_BIAS + WORD - 1),
            rnd.sig.eq(Mux(sign, -self.a, self.a)[:WORD]),
            self.y.eq(rnd.y),
        ]
        return m


class FloatToInt(wiring.Component):
    """``y`` = the binary32 ``a`` as a signed integer, truncated toward zero.

    Out-of-range values and infinities saturate to ``INT32_MIN`` or ``INT32_MAX``; NaN
    gives 0.

    Ports
    -----
    a : In(signed(32))
    y : Out(signed(32))
    """

    a: In(signed(WORD))
    y: Out(signed(WORD))

    def elaborate(self, platform):
        m = Module()
        a = _Unpacked(self.a)
        top = _BIAS + WORD - 2           # exponent of 2**30, the largest in range
        # |a| = sig * 2**(exp - 150): shift sig << 7 right by top - exp (0 .. 30)
        magnitude = Signal(WORD - 1)
        m.d.comb += magnitude.eq(Cat(Const(0, top - _BIAS - _FRAC), a.sig)
                                 >> (top - a.exp)[:5])
        in_range = Mux(a.sign, -magnitude, magnitude)
        saturated = Mux(a.sign, INT32_MIN, INT32_MAX)
        with m.If(a.nan | (a.exp < _BIAS)):
            m.d.comb += self.y.eq(0)
        with m.Elif(a.exp > top):
            m.d.comb += self.y.eq(saturated)
        with m.Else():
            m.d.comb += self.y.eq(in_range)
        return m


class FloatToBF16(wiring.Component):
    """``y`` = ``a`` rounded to bfloat16 (an f32 with the low 16 bits zero).

    With ``stochastic`` 0 it rounds to nearest even; with ``stochastic`` 1 it adds the low
    16 bits of ``c`` to ``a``'s bit pattern and truncates. NaN gives the canonical NaN.

    Ports
    -----
    a, c : In(signed(32))
    stochastic : In(1)
    y : Out(signed(32))
    """

    a: In(signed(WORD))
    c: In(signed(WORD))
    stochastic: In(1)
    y: Out(signed(WORD))

    def elaborate(self, platform):
        m = Module()
        half = WORD // 2
        nearest_even = (1 << (half - 1)) - 1 + self.a[half]
        increment = Mux(self.stochastic, self.c[:half], nearest_even)
        total = Signal(WORD)
        m.d.comb += total.eq(self.a.as_unsigned() + increment)
        m.d.comb += self.y.eq(Mux(_Unpacked(self.a).nan, _NAN,
                                  Cat(Const(0, half), total[half:])))
        return m
