"""The handles the builder returns: :class:`Value` (a node of a graph) and :class:`Sym`
(an operand inside a map function), both with Python operators that build maps.

A :class:`Value` also reads like a NumPy array: it indexes and slices into views
(``x[1:]``, ``x[:, 0]``, ``x[::2]``), has ``T``, ``reshape``, ``transpose``, the
reductions ``sum max min argmax argmin`` and ``astype``, and refuses to be
truth-tested, as arrays do (:mod:`compiler.builder` builds the nodes).
"""

from dataclasses import dataclass

from hw.ops import Op, OPS_BY_NAME
from .errors import CompileError
from .nodes import Imm, Call
from .text import expr_text
from .types import is_int

__all__ = ["Value", "Sym", "Lit", "CastTo", "as_sym", "is_literal"]


@dataclass(frozen=True)
class Lit:
    """A Python number written in a map, before it takes the dtype of the operands it
    meets (:func:`compiler.builder.resolve_literals` turns it into an
    :class:`~compiler.exprs.Imm`)."""
    value: object


def is_literal(x):
    """Whether ``x`` is a Python or NumPy int or float usable as an immediate."""
    import numpy as np
    return is_int(x) or (isinstance(x, (float, np.floating)) and not isinstance(x, bool))


class _Operators:
    """Python operators mapped to fabric ops; ``>>`` is arithmetic (``sra``), and the
    comparisons ``== != < <= > >=`` give 1 or 0 (i32; ops ``eq ne lt le``). Classes that
    mix this in define ``_op(op, *args)``, which builds the operation, and ``_what()``,
    which names the handle in messages.

    Handles hash by identity, as they did before ``==`` built comparisons: a dict or set
    of handles never compares two of them with ``==``. Truth-testing a handle (``if``,
    ``and``, ``or``, ``not``, ``bool``) raises :class:`TypeError`: its value is known
    only when the graph runs.
    """

    __hash__ = object.__hash__

    def __add__(self, o): return self._op("add", self, o)
    def __radd__(self, o): return self._op("add", o, self)
    def __sub__(self, o): return self._op("sub", self, o)
    def __rsub__(self, o): return self._op("sub", o, self)
    def __mul__(self, o): return self._op("mul", self, o)
    def __rmul__(self, o): return self._op("mul", o, self)
    def __and__(self, o): return self._op("and", self, o)
    def __rand__(self, o): return self._op("and", o, self)
    def __or__(self, o): return self._op("or", self, o)
    def __ror__(self, o): return self._op("or", o, self)
    def __xor__(self, o): return self._op("xor", self, o)
    def __rxor__(self, o): return self._op("xor", o, self)
    def __lshift__(self, o): return self._op("shl", self, o)
    def __rlshift__(self, o): return self._op("shl", o, self)
    def __rshift__(self, o): return self._op("sra", self, o)
    def __rrshift__(self, o): return self._op("sra", o, self)
    def __neg__(self): return self._op("sub", 0, self)
    def __invert__(self): return self._op("xor", self, -1)
    def __abs__(self): return self._op("abs", self)

    # Python reflects a comparison with a number on the left (3 < x is x > 3), so
    # these six need no reflected forms.
    def __eq__(self, o): return self._compare("eq", self, o)
    def __ne__(self, o): return self._compare("ne", self, o)
    def __lt__(self, o): return self._compare("lt", self, o)
    def __le__(self, o): return self._compare("le", self, o)
    def __gt__(self, o): return self._compare("lt", o, self)
    def __ge__(self, o): return self._compare("le", o, self)

    def _compare(self, op, a, b):
        # Against what is neither a handle nor a number (None, a string...), give
        # NotImplemented: then ``v == None`` is False, as for any object, and
        # ``v < "a"`` is Python's own TypeError.
        other = b if a is self else a
        if not (isinstance(other, _Operators) or is_literal(other)):
            return NotImplemented
        return self._op(op, a, b)

    def __bool__(self):
        raise TypeError(f"{self._what()} has no truth value while the graph is being "
                        f"built: instead of and / or / not on comparisons use & / | / "
                        f"(c == 0) (~ flips all 32 bits), instead of if use select: "
                        f"g.select(c, a, b)")

    def shr(self, o):
        """Logical shift right."""
        return self._op("shr", self, o)

    def eq(self, o): return self._op("eq", self, o)
    def ne(self, o): return self._op("ne", self, o)
    def lt(self, o): return self._op("lt", self, o)
    def le(self, o): return self._op("le", self, o)
    def gt(self, o): return self._op("lt", o, self)
    def ge(self, o): return self._op("le", o, self)

    def select(self, a, b):
        """``a`` where this is nonzero, else ``b``."""
        return self._op("select", self, a, b)

    def cast(self, dtype, rounding="rne"):
        """This converted to ``dtype`` (i32 <-> f32, f32 <-> bf16; ``rounding`` ``"rne"``
        or ``"sr"`` for f32 -> bf16)."""
        return self._cast(dtype, rounding)

    def bitcast(self, dtype):
        """This word's bits read as ``dtype``: ``"f32"`` from an i32, ``"i32"`` from an
        f32 or bf16 (ops ``asf32``, ``asi32``; nothing is converted)."""
        if dtype not in ("f32", "i32"):
            raise CompileError(f"bitcast to {dtype!r}: the bit casts give 'f32' (from i32) "
                               f"or 'i32' (from f32 or bf16)")
        return self._op("asf32" if dtype == "f32" else "asi32", self)


class Value(_Operators):
    """A handle on the tensor produced by node ``name`` of ``graph``.

    Operators add :class:`~compiler.nodes.Map` nodes (broadcasting NumPy-style); ints
    are immediates. Indexing (``x[1:, ::2]``, ``x[0]``, ``x[..., None]``), ``T``,
    :meth:`reshape` and :meth:`transpose` add :class:`~compiler.nodes.View` nodes;
    :meth:`sum`, :meth:`max`, :meth:`min`, :meth:`argmax` and :meth:`argmin` add
    reductions over ``axis`` (an int, a tuple of ints, or None for every axis), as
    the NumPy methods of those names do. For the elementwise maximum or minimum of two
    tensors use ``g.max(a, b)`` / ``g.min(a, b)``.
    """

    __slots__ = ("graph", "name")
    # NumPy defers its operators to ours (np.int32(3) < x builds a comparison)
    __array_ufunc__ = None

    def __init__(self, graph, name):
        self.graph = graph
        self.name = name

    def _op(self, op, *args):
        return self.graph._elementwise(op, *args)

    def _cast(self, dtype, rounding):
        return self.graph.cast(self, dtype, rounding)

    def _what(self):
        return f"value %{self.name}"

    @property
    def type(self):
        return self.graph.type_of(self.name)

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def ndim(self):
        return self.type.ndim

    @property
    def size(self):
        return self.type.size

    @property
    def node(self):
        return self.graph.nodes[self.name]

    def __len__(self):
        if not self.shape:
            raise TypeError(f"len() of {self._what()}, which is 0-d")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, key):
        return self.graph._index(self, key)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self._what()} holds no data while the graph is being built; "
                        f"sim.golden.run_graph(graph, inputs) computes it")

    @property
    def T(self):
        """This with its axes reversed (a view)."""
        return self.graph.transpose(self)

    def transpose(self, *axes, name=None):
        """This with its axes permuted: ``x.transpose()`` reverses them,
        ``x.transpose(1, 0, 2)`` or ``x.transpose((1, 0, 2))`` permutes them (a view)."""
        return self.graph.transpose(self, _varargs(axes), name=name)

    def reshape(self, *shape, name=None):
        """This read in row-major order into ``shape``: ``x.reshape(2, 3)`` or
        ``x.reshape((2, 3))``; one dimension may be -1 (a view)."""
        return self.graph.reshape(self, _varargs(shape), name=name)

    def sum(self, axis=None, *, keepdims=False, name=None):
        """The sum along ``axis`` (every axis by default)."""
        return self.graph._reduce_axes("add", self, axis, keepdims, name)

    def max(self, axis=None, *, keepdims=False, name=None):
        """The largest element along ``axis`` (every axis by default), as in NumPy;
        given another value or a float instead of an axis, the elementwise maximum
        (as ``g.max(a, b)``, what this method was before it reduced)."""
        if isinstance(axis, (Value, float)):
            return self.graph.max(self, axis)
        return self.graph._reduce_axes("max", self, axis, keepdims, name)

    def min(self, axis=None, *, keepdims=False, name=None):
        """The smallest element along ``axis`` (every axis by default), as in NumPy;
        given another value or a float, the elementwise minimum (as ``g.min(a, b)``)."""
        if isinstance(axis, (Value, float)):
            return self.graph.min(self, axis)
        return self.graph._reduce_axes("min", self, axis, keepdims, name)

    def argmax(self, axis=None, *, name=None):
        """The index (i32) of the largest element along ``axis``, the first one on ties;
        with ``axis=None`` the index into the flattened value, as in NumPy."""
        return self.graph._reduce_axes("argmax", self, axis, False, name)

    def argmin(self, axis=None, *, name=None):
        """The index (i32) of the smallest element along ``axis``, the first one on ties;
        with ``axis=None`` the index into the flattened value, as in NumPy."""
        return self.graph._reduce_axes("argmin", self, axis, False, name)

    def astype(self, dtype, rounding="rne", *, name=None):
        """This converted to ``dtype`` (``"i32"``, ``"f32"``, ``"bf16"``, or NumPy's
        ``int32`` / ``float32``) by :meth:`~compiler.builder.Builder.cast`; this
        value itself when it has that dtype already."""
        return self.graph._astype(self, dtype, rounding, name)

    def __repr__(self):
        return f"<Value %{self.name}>"


def _varargs(args):
    """The arguments of ``reshape(2, 3)`` / ``transpose(1, 0)`` as one sequence, which
    may also be given whole (``reshape((2, 3))``); None when there are none."""
    if not args:
        return None
    if len(args) == 1 and not is_int(args[0]):
        return args[0]
    return args


class Sym(_Operators):
    """A symbolic operand inside a map function; wraps an expression ``expr``.
    ``max(o)`` and ``min(o)`` are elementwise (an operand has no axes)."""

    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = expr

    def _op(self, op, *args):
        return Sym(Call(OPS_BY_NAME[op], tuple(as_sym(a).expr for a in args)))

    def _cast(self, dtype, rounding):
        return Sym(CastTo(Op.PASS, (self.expr,), dtype, rounding))

    def _what(self):
        return "a symbolic operand"

    def max(self, o): return self._op("max", self, o)
    def min(self, o): return self._op("min", self, o)

    def __repr__(self):
        return f"<Sym {expr_text(self.expr)}>"


def as_sym(x):
    """``x`` (a :class:`Sym` or an int) as a :class:`Sym`; raises :class:`CompileError`
    for anything else."""
    if isinstance(x, Sym):
        return x
    if is_literal(x):
        return Sym(Lit(x))
    raise CompileError(f"inside a map function, operands must be the function's "
                       f"arguments or numbers, not {x!r}")


@dataclass(frozen=True, eq=False, repr=False)
class CastTo(Call):
    """A cast of its one operand to ``dtype`` written in a map, before that operand's
    dtype is known (:func:`compiler.builder.resolve_literals` turns it into a
    :class:`~compiler.exprs.Cast`); ``op`` is a placeholder."""
    dtype: str = "f32"
    rounding: str = "rne"
