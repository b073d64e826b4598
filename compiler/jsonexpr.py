"""The JSON form of elementwise expressions (in graph files' ``map`` nodes), and the
checks of JSON values that the graph reader shares.

An expression is ``"$N"`` (input ``N``), an integer (an i32 immediate), a float
immediate ``{"f32": 2.5}``, a cast ``["cast", x, "f32"]`` (``["cast", x, "bf16", "sr"]``)
or ``[op, operand, ...]``; ``docs/ir.md`` ("JSON format") describes it. Errors are
:class:`~compiler.errors.CompileError` naming the JSON pointer.
"""

import json
import re

from hw.ops import OP_TABLE, OPS_BY_NAME, Op
from .dtypes import CAST_OPS
from .errors import CompileError
from .exprs import MAX_EXPR_DEPTH, Arg, Call, Cast, Imm, fold_expr
from .types import (CANONICAL_NAN, DTYPES, FLOAT_DTYPES, INT32_MAX, INT32_MIN,
                    check_float_bits, float_bits, float_text)
from .values import CastTo

__all__ = ["expr_to_json", "expr_from_json"]

_ARG_RE = re.compile(r"\$(0|[1-9][0-9]{0,5})\Z")


def expr_to_json(expr):
    """An expression as JSON: ``"$0"``, an int (an i32 immediate), ``{"f32": "1.5"}``
    (a float immediate, the text of :func:`~compiler.types.float_text`), ``["cast", x,
    "f32"]`` (``["cast", x, "bf16", "sr"]`` for stochastic rounding) or ``["op", arg,
    ...]`` (a subexpression shared in ``expr`` is one list, shared in the result)."""
    def leaf(e):
        if isinstance(e, Arg):
            return f"${e.index}"
        return {e.dtype: float_text(e.value)} if e.dtype in FLOAT_DTYPES else e.value

    def call(e, args):
        if isinstance(e, Cast):
            return ["cast", *args, CAST_OPS[e.op][1]] + (["sr"] if e.op == Op.FTOBF_SR else [])
        return [OP_TABLE[e.op].name, *args]
    return fold_expr(expr, leaf, call)


def _fail(ptr, msg):
    raise CompileError(f"{ptr or '/'}: {msg}")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _describe(x):
    if isinstance(x, bool) or x is None:
        return json.dumps(x)
    if isinstance(x, (int, float, str)):
        text = json.dumps(x)
        return text if len(text) <= 40 else text[:37] + "..."
    return {list: "an array", dict: "an object"}.get(type(x), type(x).__name__)


def _int(value, ptr, lo=None, hi=None, what="an integer"):
    if not _is_int(value):
        _fail(ptr, f"expected {what}, got {_describe(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(ptr, f"expected {what}, got {value}")
    return value


def _int32(value, ptr):
    return _int(value, ptr, INT32_MIN, INT32_MAX, "an i32 integer")


def _choice(value, ptr, names, what):
    if not isinstance(value, str) or value not in names:
        _fail(ptr, f"unknown {what} {_describe(value)}; expected one of "
                   f"{', '.join(map(repr, names))}")
    return value


def expr_from_json(value, ptr=""):
    """Parse a JSON expression; ``ptr`` is its JSON pointer for error messages.

    The walk is iterative: the operands of each array are checked in order, each
    completely before the next, and the expression is built once all are checked."""
    order = []                      # in pre-order: Arg, Imm, or (op, arity) for a call
    stack = [(value, ptr, 0)]
    while stack:
        v, p, depth = stack.pop()
        if depth > MAX_EXPR_DEPTH:
            _fail(p, f"expression is nested more than {MAX_EXPR_DEPTH} deep")
        if isinstance(v, str):
            m = _ARG_RE.match(v)
            if not m:
                _fail(p, f"expected an input reference like \"$0\", got {_describe(v)}")
            order.append(Arg(int(m.group(1))))
        elif _is_int(v):
            order.append(Imm(_int32(v, p)))
        elif isinstance(v, dict):
            order.append(_float_imm(v, p))
        elif isinstance(v, list) and v[:1] == ["cast"]:
            order.append(_cast_head(v, p))
            stack.append((v[1], f"{p}/1", depth + 1))
        elif isinstance(v, list):
            order.append(_call_head(v, p))
            stack.extend((a, f"{p}/{i}", depth + 1)
                         for i, a in reversed(list(enumerate(v[1:], 1))))
        else:
            _fail(p, f"expected an expression (\"$N\", an integer, {{\"f32\": number}}, "
                     f"[\"cast\", x, dtype] or [op, ...]), got {_describe(v)}")
    # In reverse pre-order every call comes after its operands, the last one on top.
    built = []
    for item in reversed(order):
        if isinstance(item, CastTo):
            item = CastTo(item.op, (built.pop(),), item.dtype, item.rounding)
        elif isinstance(item, tuple):
            op, arity = item
            item = Call(op, tuple(built.pop() for _ in range(arity)))
        built.append(item)
    return built[0]


_SPECIAL_FLOATS = {"nan": CANONICAL_NAN, "inf": 0x7F800000, "-inf": -0x00800000}


def _float_imm(value, ptr):
    """The :class:`Imm` of a JSON float immediate ``{"f32": 1.5}`` or ``{"bf16": "-inf"}``:
    a number, or a string holding a decimal, ``inf``, ``-inf``, ``nan`` or the bits as
    ``0x`` and 8 hex digits. A decimal is rounded to the dtype to nearest even."""
    if len(value) != 1 or next(iter(value)) not in FLOAT_DTYPES:
        _fail(ptr, f"expected a float immediate such as {{\"f32\": 1.5}} (one key, "
                   f"'f32' or 'bf16'), got an object with keys "
                   f"{', '.join(map(repr, value)) or 'none'}")
    (dtype, v), = value.items()
    p = f"{ptr}/{dtype}"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Imm(float_bits(v, dtype), dtype)
    if not isinstance(v, str):
        _fail(p, f"expected a number or a string, got {_describe(v)}")
    if v in _SPECIAL_FLOATS:
        return Imm(_SPECIAL_FLOATS[v], dtype)
    if re.fullmatch(r"0x[0-9a-fA-F]{8}", v):
        bits = int(v, 16)
        bits = bits - (1 << 32) if bits >> 31 else bits
        try:
            check_float_bits(bits, dtype, "immediate", None)
        except CompileError as e:
            _fail(p, e.message)
        return Imm(bits, dtype)
    try:
        number = float(v)
    except ValueError:
        number = None
    if number is None or v.strip().lower() in ("nan", "+nan", "-nan", "infinity", "+inf",
                                               "-infinity", "+infinity"):
        _fail(p, f"expected a decimal number, 'inf', '-inf', 'nan' or 0x and 8 hex digits, "
                 f"got {_describe(v)}")
    return Imm(float_bits(number, dtype), dtype)


def _cast_head(value, ptr):
    """A :class:`CastTo` placeholder for the JSON cast ``["cast", x, dtype(, rounding)]``
    (its operand is filled in later; the op follows from the operand's dtype once the
    graph's types are known)."""
    if len(value) not in (3, 4):
        _fail(ptr, f"expected [\"cast\", x, dtype] or [\"cast\", x, \"bf16\", rounding], "
                   f"got an array of {len(value)} items")
    dtype = _choice(value[2], f"{ptr}/2", list(DTYPES), "dtype")
    rounding = _choice(value[3], f"{ptr}/3", ["rne", "sr"], "rounding") \
        if len(value) == 4 else "rne"
    return CastTo(Op.PASS, (), dtype, rounding)


def _has_cast_to(expr):
    return fold_expr(expr, lambda e: False,
                     lambda e, subs: isinstance(e, CastTo) or any(subs))


def _call_head(value, ptr):
    """The ``(op, arity)`` of the JSON call ``value``, checking its operand count."""
    if not value:
        _fail(ptr, "expected [op, operands...], got an empty array")
    op = OPS_BY_NAME[_choice(value[0], f"{ptr}/0", list(OPS_BY_NAME), "op")]
    arity = OP_TABLE[op].arity
    if len(value) - 1 != arity:
        _fail(ptr, f"op {value[0]!r} takes {arity} operand{'s' if arity != 1 else ''}, "
                   f"got {len(value) - 1}")
    return op, arity
