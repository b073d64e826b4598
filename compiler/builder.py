"""The builder methods of :class:`~compiler.ir.Graph`, so that graphs read like NumPy.

:class:`Builder` is mixed into :class:`~compiler.ir.Graph`. Each method creates one
node (or a few, for broadcasting), checks it at once and returns a
:class:`~compiler.values.Value`; an invalid node raises
:class:`~compiler.errors.CompileError` and is not added. The method of each entry
of :data:`~compiler.composites.COMPOSITES` is made from the entry by
:func:`with_composite_methods`.
"""

import inspect
from math import prod

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
        """``x`` with its elements read in row-major order into ``shape``, which holds
        as many elements; one dimension may be -1 (as many as the others leave).
        Raises :class:`CompileError` when the numbers of elements differ."""
        ref = self._ref(x)
        src = self.type_of(ref)
        shape = _as_shape(shape)
        if all(is_int(d) for d in shape):
            shape = _fill_unknown(shape, src, ref)
            if all(d >= 1 for d in shape) and prod(shape) != src.size:
                raise CompileError(f"cannot reshape {src} ({src.size} element"
                                   f"{'s' if src.size != 1 else ''}) into "
                                   f"{shape_text(shape)} ({prod(shape)})", ref)
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
        """``x`` with its axes permuted (reversed by default), as a view; negative axes
        count from the end."""
        ref = self._ref(x)
        src = self.type_of(ref).shape
        n = len(src)
        given = tuple(reversed(range(n))) if axes is None else \
            (axes,) if is_int(axes) else tuple(axes)
        axes = tuple(a + n if is_int(a) and -n <= a < 0 else a for a in given)
        if not all(is_int(a) for a in axes) or sorted(axes) != list(range(n)):
            raise CompileError(f"axes {given!r} are not a permutation of "
                               f"{tuple(range(n))!r}", ref)
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

    def _reduce_axes(self, op, x, axis, keepdims, name):
        """``x.sum(axis)`` and the other reductions of :class:`Value`: ``op`` along
        ``axis`` (an int, a tuple of ints, or None for every axis), NumPy-style.

        Several axes are reduced one after another, the highest first. ``axis=None``
        reduces a tensor that is no view as one flat axis (one kernel) and a view
        axis by axis; for argmin/argmax it gives the index into the flattened
        tensor. ``keepdims`` keeps the reduced axes with size 1 (a view). ``name``
        goes to the node returned."""
        ref = self._ref(x)
        shape = self.type_of(ref).shape
        n = len(shape)
        arg = op in ("argmin", "argmax")
        method = "sum" if op == "add" else op
        if axis is None:
            if n == 0:
                raise CompileError(f"{method}() of a 0-d value: it has no axis to reduce",
                                   ref)
            axes = tuple(range(n))
            if n > 1 and (arg or not isinstance(self.nodes[ref], View)):
                x, axes = self.reshape(x, (prod(shape),)), (0,)
        elif is_int(axis) or isinstance(axis, (tuple, list)):
            axes = _as_axes(axis, n, arg, method, ref)
        else:
            hint = f"; the elementwise {op}imum of two tensors is g.{op}(a, b)" \
                if op in ("max", "min") else ""
            raise CompileError(f"{method}(axis): axis must be an integer, a tuple of them or "
                               f"None, not {axis!r}{hint}", ref)
        if not axes:
            return x if isinstance(x, Value) else Value(self, ref)
        for k, a in enumerate(sorted(axes, reverse=True)):
            last = k == len(axes) - 1 and not keepdims
            x = self.reduce(op, x, a, name=name if last else None)
        if keepdims:
            kept = tuple(1 if d in axes or axis is None else shape[d] for d in range(n))
            x = self.reshape(x, kept, name=name)
        return x

    def _astype(self, x, dtype, rounding, name):
        """``x.astype(dtype)``: :meth:`cast` to ``dtype`` (a dtype name, or NumPy's
        int32 / float32); ``x`` itself when it has that dtype."""
        ref = self._ref(x)
        dtype = _dtype_name(dtype, ref)
        if self.type_of(ref).dtype == dtype:
            return x if isinstance(x, Value) else Value(self, ref)
        return self.cast(x, dtype, rounding, name=name)

    def _index(self, x, key):
        """``x[key]`` as NumPy reads it, as one :class:`~compiler.nodes.View` of ``x``
        (``x`` itself when the view would be all of it): integers pick an element and
        drop their axis (negative ones count from the end), slices keep the axis with
        the elements ``start:stop:step`` (negative steps included), ``...`` stands for
        the axes not indexed, None adds an axis of size 1.

        Raises :class:`CompileError` naming ``x`` for an index out of range, too many
        indices, a step of 0, a slice with no elements (a tensor has no empty
        dimension) and any other kind of index (arrays, tensors, booleans)."""
        ref = self._ref(x)
        shape = self.type_of(ref).shape
        keys = key if isinstance(key, tuple) else (key,)
        for k in keys:
            if not (k is None or k is Ellipsis or isinstance(k, slice) or is_int(k)):
                raise CompileError(f"index {_index_text(k)} is not supported; a view takes "
                                   f"integers, slices, '...' and None", ref)
        ellipses = [i for i, k in enumerate(keys) if k is Ellipsis]
        if len(ellipses) > 1:
            raise CompileError("an index may hold only one ellipsis ('...')", ref)
        used = sum(1 for k in keys if k is not None and k is not Ellipsis)
        if used > len(shape):
            raise CompileError(f"too many indices: {used} for a value of rank "
                               f"{len(shape)} ({shape_text(shape)})", ref)
        at = ellipses[0] if ellipses else len(keys)
        keys = keys[:at] + (slice(None),) * (len(shape) - used) + keys[at + 1:]
        cs = contiguous_strides(shape)
        offset, out_shape, out_strides, d = 0, [], [], 0
        for k in keys:
            if k is None:
                out_shape.append(1)
                out_strides.append(0)
                continue
            size = shape[d]
            if isinstance(k, slice):
                start, stop, step = _slice_bounds(k, size, d, ref)
                count = len(range(start, stop, step))
                if count == 0:
                    raise CompileError(f"slice {_slice_text(k)} of axis {d} (size {size}) "
                                       f"is empty; a tensor has no dimension of size 0", ref)
                offset += start * cs[d]
                out_shape.append(count)
                out_strides.append(step * cs[d])
            else:
                if not -size <= k < size:
                    raise CompileError(f"index {k} is out of range for axis {d} of size "
                                       f"{size}", ref)
                offset += (int(k) % size) * cs[d]
            d += 1
        if (tuple(out_shape), offset, tuple(out_strides)) == (shape, 0, cs):
            return x if isinstance(x, Value) else Value(self, ref)
        return self.view(x, tuple(out_shape), offset, tuple(out_strides))

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
    if isinstance(shape, (Value, Sym)):
        raise CompileError(f"shape must be a tuple of integers, not {shape!r}")
    try:
        return tuple(int(d) if is_int(d) else d for d in shape)
    except TypeError:
        raise CompileError(f"shape must be a tuple of integers, not {shape!r}") from None


def _fill_unknown(shape, src, node):
    """``shape`` (integers) with its one -1 replaced by what the other dimensions
    leave of ``src``'s elements."""
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if not unknown:
        return shape
    rest = prod(d for d in shape if d != -1)
    if len(unknown) > 1 or rest < 1 or src.size % rest:
        why = "only one dimension may be -1" if len(unknown) > 1 else \
            f"{src.size} elements do not fill it"
        raise CompileError(f"cannot reshape {src} into {shape_text(shape)}: {why}", node)
    return shape[:unknown[0]] + (src.size // rest,) + shape[unknown[0] + 1:]


def _as_axes(axis, ndim, single, op, node):
    """``axis`` (an int or a tuple of ints; one int when ``single``) as non-negative
    axes of a tensor of rank ``ndim``, each once."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if single and len(axes) != 1:
        raise CompileError(f"{op} takes one axis or None, not {axis!r}", node)
    out = []
    for a in axes:
        if not is_int(a) or not -ndim <= a < ndim:
            raise CompileError(f"axis {a!r} is out of range for a value of rank {ndim}",
                               node)
        a = int(a) % ndim
        if a in out:
            raise CompileError(f"axis {a} is given twice in {axis!r}", node)
        out.append(a)
    return tuple(out)


_NUMPY_DTYPES = {np.dtype(np.int32): "i32", np.dtype(np.float32): "f32"}


def _dtype_name(dtype, node):
    """The IR dtype named by ``dtype``: an IR name, or NumPy's int32 / float32."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    try:
        found = _NUMPY_DTYPES.get(np.dtype(dtype))
    except TypeError:
        found = None
    if found is None:
        raise CompileError(f"unknown dtype {dtype!r}; known dtypes are "
                           f"{', '.join(map(repr, DTYPES))} (NumPy's int32 and float32 "
                           f"name the first two)", node)
    return found


def _slice_bounds(k, size, axis, node):
    """``(start, stop, step)`` of slice ``k`` over an axis of ``size``, as NumPy
    clips them."""
    if not all(v is None or is_int(v) for v in (k.start, k.stop, k.step)):
        raise CompileError(f"slice {_slice_text(k)} of axis {axis}: start, stop and step "
                           f"must be integers or None", node)
    if k.step == 0:
        raise CompileError(f"slice {_slice_text(k)} of axis {axis}: the step may not be 0",
                           node)
    return slice(*(None if v is None else int(v)
                   for v in (k.start, k.stop, k.step))).indices(size)


def _slice_text(k):
    part = ["" if v is None else str(v) for v in (k.start, k.stop)]
    return ":".join(part + ([str(k.step)] if k.step is not None else []))


def _index_text(k):
    if isinstance(k, Value):
        return f"%{k.name} (a tensor)"
    if isinstance(k, (bool, np.bool_)):
        return f"{k!r} (a boolean)"
    if isinstance(k, (list, tuple, np.ndarray)):
        return f"of type {type(k).__name__} (array indexing)"
    return repr(k)


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
