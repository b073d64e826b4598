"""The builder methods of :class:`~compiler.ir.Graph`, so that graphs read like NumPy.

:class:`Builder` is mixed into :class:`~compiler.ir.Graph`. Each method creates one
node (or a few, for broadcasting), checks it at once and returns a
:class:`~compiler.values.Value`; an invalid node raises
:class:`~compiler.errors.CompileError` and is not added. The method of each entry
of :data:`~compiler.composites.COMPOSITES` is made from the entry by
:func:`with_composite_methods`.
"""

import inspect

import numpy as np

from hw.ops import Op, ReduceOp, OP_TABLE, OPS_BY_NAME, REDUCE_BY_NAME
from .composites import COMPOSITES
from .dtypes import cast_op, reduce_dtype, call_dtype
from .errors import CompileError
from .exprs import Cast, fold_expr
from .nodes import Arg, Imm, Call, Input, Const, Iota, View, Map, Reduce, Fold, Scan, Composite
from .types import (DTYPES, FLOAT_DTYPES, check_name, contiguous_strides, float_bits, is_int,
                    shape_text)
from .values import Value, Sym, Lit, CastTo, as_sym, is_literal

__all__ = ["Builder", "with_composite_methods", "resolve_literals"]


def _composite_method(op, owner):
    """The builder method of composite ``op``: ``g.<name>(*inputs, name=None)``, with
    one positional-or-keyword parameter per input, named after ``op.params``."""
    param = inspect.Parameter
    signature = inspect.Signature(
        [param(p, param.POSITIONAL_OR_KEYWORD) for p in ("self", *op.params)]
        + [param("name", param.KEYWORD_ONLY, default=None)])

    def method(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs).arguments
        return self.composite(op.name, *(bound[p] for p in op.params),
                              name=bound.get("name"))

    method.__name__ = op.name
    method.__qualname__ = f"{owner}.{op.name}"
    method.__doc__ = op.doc
    method.__signature__ = signature
    return method


def with_composite_methods(cls):
    """Class decorator: give ``cls`` one builder method per entry of
    :data:`~compiler.composites.COMPOSITES`. Raises :class:`TypeError` when a
    composite's name is already an attribute of ``cls``."""
    for op in COMPOSITES.values():
        if hasattr(cls, op.name):
            raise TypeError(f"composite {op.name!r} would hide "
                            f"{cls.__qualname__}.{op.name}")
        setattr(cls, op.name, _composite_method(op, cls.__qualname__))
    return cls


class Builder:
    """Methods that add nodes to a graph.

    The class mixing this in provides ``type_of(name)``, ``set_output(name, ref)``
    and the node primitives ``_emit(node)`` (add and check ``node``, or raise and
    add nothing; returns its :class:`Value`), ``_auto(kind)`` (a fresh name
    ``<kind><i>``) and ``_ref(value)`` (the node name a :class:`Value` or name
    refers to). Every method takes ``name=`` (or ``name`` first, for leaves).
    :func:`with_composite_methods` adds the composite methods to that class.
    """

    def input(self, name, shape, dtype="i32"):
        """Add an :class:`~compiler.nodes.Input` of ``shape`` and ``dtype``."""
        return self._emit(Input(name, _as_shape(shape), dtype))

    def const(self, name, array, dtype=None):
        """Add a :class:`~compiler.nodes.Const` holding ``array`` (anything
        :func:`numpy.asarray` takes) as ``dtype``: by default i32 for integers and f32
        for floats. For f32 and bf16 the numbers are rounded to nearest even (bf16: to
        f32, then to bf16); an i32 constant must hold integers."""
        arr = np.asarray(array)
        if dtype is None:
            dtype = "f32" if arr.dtype.kind == "f" else "i32"
        if dtype in FLOAT_DTYPES:
            if arr.dtype.kind not in "iuf":
                raise CompileError(f"constant must hold numbers, not {arr.dtype}", name)
            values = tuple(float_bits(v, dtype) for v in arr.reshape(-1).astype(np.float64))
        else:
            if arr.dtype.kind not in "iub":
                raise CompileError(f"an {dtype} constant must hold integers, not "
                                   f"{arr.dtype}", name)
            values = tuple(int(v) for v in arr.reshape(-1))
        return self._emit(Const(name, tuple(int(d) for d in arr.shape), dtype, values))

    def iota(self, shape, axis=-1, *, name=None):
        """Add an :class:`~compiler.nodes.Iota`: element ``idx`` is ``idx[axis]``
        (a loop counter)."""
        shape = _as_shape(shape)
        if is_int(axis) and -len(shape) <= axis < 0:
            axis += len(shape)
        return self._emit(Iota(name or self._auto("iota"), shape, axis))

    def output(self, name, value):
        """Make ``value`` the graph output ``name``; returns ``value``."""
        check_name(name, "output name")
        self.set_output(name, value)
        return value

    def view(self, x, shape, offset=0, strides=None, *, name=None):
        """Add a :class:`~compiler.nodes.View` of ``x``; ``strides`` default to
        row-major (a reshape)."""
        shape = _as_shape(shape)
        strides = contiguous_strides(shape) if strides is None else _as_shape(strides)
        return self._emit(View(name or self._auto("view"), self._ref(x), shape,
                               int(offset), strides))

    def reshape(self, x, shape, *, name=None):
        """``x`` with its elements read in row-major order into ``shape``."""
        return self.view(x, shape, 0, None, name=name)

    def broadcast_to(self, x, shape, *, name=None):
        """``x`` broadcast to ``shape`` with NumPy's rules (``x`` itself if equal)."""
        shape = _as_shape(shape)
        src = self.type_of(self._ref(x)).shape
        if src == shape:
            return x if isinstance(x, Value) else Value(self, x)
        if len(src) > len(shape) or any(s not in (1, d) for s, d in
                                        zip(src[::-1], shape[::-1])):
            raise CompileError(f"cannot broadcast {shape_text(src)} to "
                               f"{shape_text(shape)}", self._ref(x))
        pad = len(shape) - len(src)
        cs = contiguous_strides(src)
        strides = tuple(0 if d < pad or src[d - pad] == 1 else cs[d - pad]
                        for d in range(len(shape)))
        return self.view(x, shape, 0, strides, name=name)

    def transpose(self, x, axes=None, *, name=None):
        """``x`` with its axes permuted (reversed by default), as a view."""
        src = self.type_of(self._ref(x)).shape
        axes = tuple(reversed(range(len(src)))) if axes is None else tuple(axes)
        if sorted(axes) != list(range(len(src))):
            raise CompileError(f"axes {axes!r} are not a permutation of "
                               f"{tuple(range(len(src)))!r}", self._ref(x))
        cs = contiguous_strides(src)
        return self.view(x, tuple(src[a] for a in axes), 0, tuple(cs[a] for a in axes),
                         name=name)

    def map(self, fn, *inputs, name=None):
        """Elementwise ``fn`` over ``inputs``, broadcast NumPy-style.

        ``fn`` is an op name (``"add"``), an :class:`~hw.ops.Op`, or a function taking
        one :class:`Sym` per input and returning an expression built from them with
        operators, ints and the ``select``/``max``/``min``/``abs`` methods.
        Inputs are :class:`Value` handles or ints (immediates).
        """
        values = [x for x in inputs if not is_literal(x)]
        refs = list(dict.fromkeys(self._ref(v) for v in values))
        if not refs:
            raise CompileError("map needs at least one tensor input")
        shapes = [self.type_of(r).shape for r in refs]
        try:
            shape = tuple(int(d) for d in np.broadcast_shapes(*shapes))
        except ValueError:
            raise CompileError(f"cannot broadcast shapes "
                               f"{', '.join(shape_text(s) for s in shapes)} together",
                               name) from None
        syms = [Sym(Lit(x)) if is_literal(x) else Sym(Arg(refs.index(self._ref(x))))
                for x in inputs]
        expr = resolve_literals(_map_expr(fn, syms, name),
                                [self.type_of(r).dtype for r in refs], name)
        ins = tuple(self._ref(self.broadcast_to(Value(self, r), shape)) for r in refs)
        return self._emit(Map(name or self._auto("map"), ins, expr))

    def cast(self, x, dtype, rounding="rne", *, name=None):
        """``x`` converted to ``dtype``: i32 -> f32 (to nearest even), f32 -> i32
        (toward zero, saturating, NaN -> 0), f32 -> bf16 (``rounding`` ``"rne"`` to
        nearest even, ``"sr"`` stochastic), bf16 -> f32 (exact). Inside a map function
        use ``sym.cast(dtype)``."""
        if isinstance(x, Sym):
            return x.cast(dtype, rounding)
        return self.map(lambda s: s.cast(dtype, rounding), x, name=name)

    def _elementwise(self, op, *args):
        if any(isinstance(a, Sym) for a in args):
            return Sym(Call(OPS_BY_NAME[op], tuple(as_sym(a).expr for a in args)))
        return self.map(op, *args)

    def select(self, c, a, b):
        """``a`` where ``c`` is nonzero, else ``b``."""
        return self._elementwise("select", c, a, b)

    def max(self, a, b):
        """Signed elementwise maximum."""
        return self._elementwise("max", a, b)

    def min(self, a, b):
        """Signed elementwise minimum."""
        return self._elementwise("min", a, b)

    def abs(self, a):
        """Elementwise absolute value (``abs(INT32_MIN) == INT32_MIN``)."""
        return self._elementwise("abs", a)

    def _axis_pattern(self, cls, op, x, axis, name, **extra):
        ref = self._ref(x)
        rop = _reduce_op(op, name)
        ndim = self.type_of(ref).ndim
        if is_int(axis) and -ndim <= axis < 0:
            axis += ndim
        kind = cls.__name__.lower()
        return self._emit(cls(name or self._auto(kind), ref, rop, axis, **extra))

    def reduce(self, op, x, axis=-1, *, name=None):
        """Reduce ``x`` along ``axis`` with ``op`` (``"add"``, ``"min"``, ``"max"``,
        ``"argmin"``, ``"argmax"``, ... : ``hw.ops.REDUCE_TABLE``)."""
        return self._axis_pattern(Reduce, op, x, axis, name)

    def argmin(self, x, axis=-1, *, name=None):
        """The index (i32) of the smallest element of ``x`` along ``axis``, the first
        one on ties; of f32 or bf16 elements, the first NaN if there is one."""
        return self.reduce("argmin", x, axis, name=name)

    def argmax(self, x, axis=-1, *, name=None):
        """The index (i32) of the largest element of ``x`` along ``axis``, the first
        one on ties; of f32 or bf16 elements, the first NaN if there is one."""
        return self.reduce("argmax", x, axis, name=name)

    def fold(self, op, x, init, axis=-1, *, name=None):
        """Reduce ``x`` along ``axis`` with ``op``, starting from ``init`` (a number,
        rounded to the fold's dtype when that is f32 or bf16)."""
        ref = self._ref(x)
        dtype = reduce_dtype(_reduce_op(op, name), self.type_of(ref).dtype, name)
        if dtype in FLOAT_DTYPES and is_literal(init):
            init = float_bits(float(init), dtype)
        return self._axis_pattern(Fold, op, x, axis, name, init=init)

    def scan(self, op, x, axis=-1, *, name=None):
        """Inclusive prefix ``op`` of ``x`` along ``axis``."""
        return self._axis_pattern(Scan, op, x, axis, name)

    def composite(self, kind, *inputs, name=None):
        """Add a :class:`~compiler.nodes.Composite` of ``kind`` over ``inputs``."""
        refs = tuple(self._ref(x) for x in inputs)
        return self._emit(Composite(name or self._auto(kind), kind, refs, ()))


def _map_expr(fn, syms, name):
    """The expression of ``map(fn, ...)`` over the operands ``syms``."""
    if isinstance(fn, str) and fn in OPS_BY_NAME:
        fn = OPS_BY_NAME[fn]
    if isinstance(fn, Op):
        arity = OP_TABLE[fn].arity
        if len(syms) != arity:
            raise CompileError(f"op {OP_TABLE[fn].name!r} takes {arity} operand"
                               f"{'s' if arity != 1 else ''}, got {len(syms)}", name)
        return Call(fn, tuple(s.expr for s in syms))
    if callable(fn) and not isinstance(fn, str):
        result = fn(*syms)
        if is_literal(result):
            result = Sym(Lit(result))
        if not isinstance(result, Sym):
            raise CompileError(f"map function must return an expression, "
                               f"not {result!r}", name)
        return result.expr
    raise CompileError(f"unknown op {fn!r}; known ops are "
                       f"{', '.join(OPS_BY_NAME)}", name)


def _as_shape(shape):
    if is_int(shape):
        return (int(shape),)
    try:
        return tuple(int(d) if is_int(d) else d for d in shape)
    except TypeError:
        raise CompileError(f"shape must be a tuple of integers, not {shape!r}") from None


def _reduce_op(op, node):
    if isinstance(op, ReduceOp):
        return op
    if isinstance(op, str) and op in REDUCE_BY_NAME:
        return REDUCE_BY_NAME[op]
    raise CompileError(f"unknown reduction {op!r}; known reductions are "
                       f"{', '.join(REDUCE_BY_NAME)}", node)


def resolve_literals(expr, in_dtypes, node=None):
    """``expr`` with each builder literal (:class:`~compiler.values.Lit`) made an
    :class:`Imm` of the dtype of the other operands of its op (the condition of a
    select is i32), and each :class:`~compiler.values.CastTo` made a :class:`Cast`.

    An int literal among float operands is that number as a float; a float literal
    among i32 operands is an error; float literals among bf16 operands are rounded to
    bf16 (to nearest even). An op whose operands are all literals takes i32 for ints
    and f32 for floats. Raises :class:`CompileError` naming ``node``."""
    def leaf(e):
        if isinstance(e, Lit):
            return e, None
        return e, (in_dtypes[e.index] if isinstance(e, Arg) else e.dtype)

    def imm(lit, dtype):
        v = lit.value
        if dtype in FLOAT_DTYPES:
            return Imm(float_bits(float(v), dtype), dtype)
        if not is_int(v):
            raise CompileError(f"float literal {v!r} in an i32 operation; cast the "
                               f"operation's operands to f32 first", node)
        return Imm(int(v))

    def default(lit):
        return imm(lit, "i32" if is_int(lit.value) else "f32")

    def call(e, parts):
        if isinstance(e, CastTo):
            (arg, dt), = parts
            if dt is None:
                arg, dt = default(arg), default(arg).dtype
            op = cast_op(dt, e.dtype, e.rounding, node)
            if op is None:
                return arg, dt
            out = Cast(op, (arg,))
            return out, e.dtype
        dts = [d for _, d in parts]
        first = 1 if e.op == Op.SELECT else 0
        known = [d for d in dts[first:] if d is not None]
        want = known[0] if known else None
        args = []
        for k, (a, d) in enumerate(parts):
            if d is None:
                a = imm(a, "i32") if k < first else (imm(a, want) if want else default(a))
            args.append(a)
        if not isinstance(e.op, Op) or not isinstance(e.args, tuple) or \
                len(e.args) != OP_TABLE[e.op].arity:
            return e, "i32"             # the type check reports it
        new = Call(e.op, tuple(args)) if any(x is not y for x, y in zip(args, e.args)) \
            else e
        dts = [d if d is not None else a.dtype for a, d in zip(args, dts)]
        return new, call_dtype(new, dts, node)

    out, dt = fold_expr(expr, leaf, call)
    if isinstance(out, Lit):
        out = default(out)
    return out
