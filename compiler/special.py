"""Special functions in fp32 arithmetic: the expressions the composites ``exp``,
``reciprocal``, ``rsqrt``, ``tanh`` and ``sigmoid`` decompose into.

Each function is one elementwise expression over the fabric's ops (``fadd``, ``fmul``,
``fmac``, compares, ``select``, the i32 ops and the bit casts ``asf32``/``asi32``), so a
PCU chain computes it and the golden model evaluates it step by step in NumPy float32:
hardware and golden model agree bit for bit, and the error against the true function is
a property of the algorithm, measured in ulps by the tests (docs/ir.md lists the
figures). Every op is one pipeline stage.

* ``exp(x)``: ``x`` clamped to ``[-104, 88.8]`` (beyond, the result is 0 or infinity
  anyway; NaN passes); ``k = round(x / ln 2)`` by adding and subtracting ``1.5 * 2**23``;
  ``r = x - k*ln2_hi - k*ln2_lo`` (Cody-Waite: ``ln2_hi`` has 9 significant bits, so
  ``k * ln2_hi`` is exact); ``e**r ~ 1 + r + r**2 * p(r)`` with a degree-5 polynomial
  ``p`` (the single-precision coefficients of the Cephes library's ``expf``);
  ``2**k`` applied as two factors ``2**(k >> 1)`` and ``2**(k - (k >> 1))``, each built as
  the bits ``(e + 127) << 23``, so that a result in the subnormal range is rounded once.
* ``reciprocal(x)``: ``|x|`` scaled by ``2**64`` or ``2**-64`` into ``[2**-64, 2**64]``
  (exactly); a first guess from the bits (``0x7ef311c3 - bits``, about 12 % off); three
  Newton steps ``y = y + y * (1 - x*y)``; scaled back (rounding once) and given ``x``'s sign
  bit; ``+-0 -> +-inf``, ``+-inf -> +-0``, NaN -> NaN.
* ``rsqrt(x)``: the same scaling (``2**64`` gives ``2**32`` back); the guess
  ``0x5f3759df - (bits >> 1)``; three steps ``y = y + y * (0.5 - (x/2)*y*y)``; ``+0 -> +inf``,
  ``-0 -> -inf``, ``x < 0 -> NaN``, ``+inf -> +0``.
* ``tanh(x)``: ``x`` itself for ``|x| < 2**-12``; for ``|x| < 0.625``, ``x + x*z*q(z)`` with ``z = x*x`` and the degree-4
  polynomial of the Cephes ``tanhf``; otherwise ``1 - 2 / (exp(2|x|) + 1)`` with the sign
  of ``x`` (``exp`` and ``reciprocal`` as above; large ``|x|`` gives exactly 1).
* ``sigmoid(x) = 1 / (1 + exp(-x))`` (``reciprocal(1 + exp(-x))``).
* ``gelu(x)``, the tanh form ``0.5 x (1 + tanh u)`` with
  ``u = sqrt(2/pi) * x * (1 + 0.044715 x**2)``, computed as ``x * sigmoid(2u)`` (the same
  function, without the cancellation in ``1 + tanh u`` for negative ``x``): with
  ``t = exp(-2|u|)`` (at most 1, so it never overflows), ``sigmoid(2u)`` is
  ``1 / (1 + t)`` for ``u >= 0`` and ``t / (1 + t)`` below; ``-inf -> -0``.
"""

import numpy as np

from hw.ops import Op
from .exprs import Arg, Call, Imm
from .types import CANONICAL_NAN, float_bits

__all__ = ["exp_expr", "reciprocal_expr", "rsqrt_expr", "tanh_expr", "sigmoid_expr",
           "gelu_expr", "REFERENCES"]

INF = 0x7F800000
SIGN = -(2 ** 31)


def _c(op, *args):
    return Call(op, args)


def f(value):
    """An f32 immediate of ``value`` (rounded to nearest even)."""
    return Imm(float_bits(value), "f32")


def i(value):
    """An i32 immediate."""
    return Imm(int(value))


def _bits(bits):
    return Imm(bits, "f32")


def _select(cond, a, b):
    return _c(Op.SELECT, cond, a, b)


def exp_expr(x=Arg(0)):
    x = _c(Op.FMIN, _c(Op.FMAX, x, f(-104.0)), f(88.8))
    t = _c(Op.FMUL, x, f(1.4426950408889634))
    magic = f(12582912.0)                                # 1.5 * 2**23
    k = _c(Op.FSUB, _c(Op.FADD, t, magic), magic)       # round(t), as a float
    r = _c(Op.FSUB, _c(Op.FSUB, x, _c(Op.FMUL, k, f(0.693359375))),
           _c(Op.FMUL, k, f(-2.12194440e-4)))
    p = f(1.9875691500e-4)
    for coef in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                 5.0000001201e-1):
        p = _c(Op.FMAC, p, r, f(coef))
    y = _c(Op.FADD, _c(Op.FMAC, p, _c(Op.FMUL, r, r), r), f(1.0))
    n = _c(Op.FTOI, k)
    n1 = _c(Op.SRA, n, i(1))
    n2 = _c(Op.SUB, n, n1)
    scale1 = _c(Op.ASF32, _c(Op.SHL, _c(Op.ADD, n1, i(127)), i(23)))
    scale2 = _c(Op.ASF32, _c(Op.SHL, _c(Op.ADD, n2, i(127)), i(23)))
    return _c(Op.FMUL, _c(Op.FMUL, y, scale1), scale2)


def _scaled(x, up, down, back_up, back_down):
    """``(|x| scaled into [2**-64, 2**64], the factor that undoes it)``."""
    a = _c(Op.FABS, x)
    tiny = _c(Op.FLT, a, f(2.0 ** -64))
    huge = _c(Op.FLT, f(2.0 ** 64), a)
    scale = _select(tiny, f(up), _select(huge, f(down), f(1.0)))
    back = _select(tiny, f(back_up), _select(huge, f(back_down), f(1.0)))
    return a, _c(Op.FMUL, a, scale), back


def reciprocal_expr(x=Arg(0)):
    a, xs, back = _scaled(x, 2.0 ** 64, 2.0 ** -64, 2.0 ** 64, 2.0 ** -64)
    y = _c(Op.ASF32, _c(Op.SUB, i(0x7EF311C3), _c(Op.ASI32, xs)))
    for _ in range(3):      # y + y * (1 - x*y): the last step lands on 1/x for x = 2**n
        y = _c(Op.FMAC, y, _c(Op.FSUB, f(1.0), _c(Op.FMUL, xs, y)), y)
    y = _c(Op.FMUL, y, back)
    y = _select(_c(Op.FEQ, a, f(0.0)), _bits(INF), _select(_c(Op.FEQ, a, _bits(INF)),
                                                           f(0.0), y))
    sign = _c(Op.AND, _c(Op.ASI32, x), i(SIGN))
    y = _c(Op.ASF32, _c(Op.OR, _c(Op.ASI32, y), sign))
    return _select(_c(Op.FNE, x, x), _bits(CANONICAL_NAN), y)


def rsqrt_expr(x=Arg(0)):
    a, xs, back = _scaled(x, 2.0 ** 64, 2.0 ** -64, 2.0 ** 32, 2.0 ** -32)
    y = _c(Op.ASF32, _c(Op.SUB, i(0x5F3759DF), _c(Op.SRA, _c(Op.ASI32, xs), i(1))))
    half = _c(Op.FMUL, xs, f(0.5))
    for _ in range(3):      # y + y * (0.5 - (x/2)*y*y)
        y = _c(Op.FMAC, y, _c(Op.FSUB, f(0.5), _c(Op.FMUL, _c(Op.FMUL, half, y), y)), y)
    y = _c(Op.FMUL, y, back)
    zero = _c(Op.ASF32, _c(Op.OR, i(INF), _c(Op.AND, _c(Op.ASI32, x), i(SIGN))))
    y = _select(_c(Op.FEQ, x, f(0.0)), zero, _select(_c(Op.FEQ, x, _bits(INF)), f(0.0), y))
    bad = _c(Op.OR, _c(Op.FNE, x, x), _c(Op.FLT, x, f(0.0)))
    return _select(bad, _bits(CANONICAL_NAN), y)


def tanh_expr(x=Arg(0)):
    a = _c(Op.FABS, x)
    z = _c(Op.FMUL, x, x)
    q = f(-5.70498872745e-3)
    for coef in (2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1):
        q = _c(Op.FMAC, q, z, f(coef))
    small = _c(Op.FMAC, _c(Op.FMUL, q, z), x, x)
    e = exp_expr(_c(Op.FADD, a, a))
    large = _c(Op.FSUB, f(1.0), _c(Op.FMUL, f(2.0), reciprocal_expr(_c(Op.FADD, e, f(1.0)))))
    large = _c(Op.ASF32, _c(Op.OR, _c(Op.ASI32, large), _c(Op.AND, _c(Op.ASI32, x), i(SIGN))))
    small = _select(_c(Op.FLT, a, f(2.0 ** -12)), x, small)     # keeps -0 and subnormals
    return _select(_c(Op.FLT, a, f(0.625)), small,
                   _select(_c(Op.FNE, x, x), _bits(CANONICAL_NAN), large))


def sigmoid_expr(x=Arg(0)):
    return reciprocal_expr(_c(Op.FADD, f(1.0), exp_expr(_c(Op.FNEG, x))))


def gelu_expr(x=Arg(0)):
    w = _c(Op.FADD, _c(Op.FMUL, _c(Op.FMUL, x, x), f(0.044715)), f(1.0))
    u = _c(Op.FMUL, _c(Op.FMUL, x, w), f(0.7978845608028654))      # sqrt(2/pi)
    t = exp_expr(_c(Op.FMUL, _c(Op.FABS, u), f(-2.0)))
    num = _select(_c(Op.FLT, u, f(0.0)), t, f(1.0))
    y = _c(Op.FMUL, _c(Op.FMUL, x, num), reciprocal_expr(_c(Op.FADD, t, f(1.0))))
    return _select(_c(Op.FEQ, x, _bits(INF | SIGN)), f(-0.0), y)


def _tanh64(x):
    return np.tanh(x)


def _gelu64(x):
    u = np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-2.0 * u))


#: float64 references of the functions, for the error measurements.
REFERENCES = {
    "exp": np.exp,
    "reciprocal": lambda x: 1.0 / x,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "tanh": _tanh64,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "gelu": _gelu64,
}
