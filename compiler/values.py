"""The handles the builder returns: :class:`Value` (a node of a graph) and :class:`Sym`
(an operand inside a map function), both with Python operators that build maps."""

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
    """Python operators mapped to fabric ops; ``>>`` is arithmetic (``sra``). Classes
    that mix this in define ``_op(op, *args)``, which builds the operation."""

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

    def shr(self, o):
        """Logical shift right."""
        return self._op("shr", self, o)

    def eq(self, o): return self._op("eq", self, o)
    def ne(self, o): return self._op("ne", self, o)
    def lt(self, o): return self._op("lt", self, o)
    def le(self, o): return self._op("le", self, o)
    def gt(self, o): return self._op("lt", o, self)
    def ge(self, o): return self._op("le", o, self)
    def max(self, o): return self._op("max", self, o)
    def min(self, o): return self._op("min", self, o)

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
    are immediates.
    """

    __slots__ = ("graph", "name")

    def __init__(self, graph, name):
        self.graph = graph
        self.name = name

    def _op(self, op, *args):
        return self.graph._elementwise(op, *args)

    def _cast(self, dtype, rounding):
        return self.graph.cast(self, dtype, rounding)

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
    def node(self):
        return self.graph.nodes[self.name]

    def __repr__(self):
        return f"<Value %{self.name}>"


class Sym(_Operators):
    """A symbolic operand inside a map function; wraps an expression ``expr``."""

    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = expr

    def _op(self, op, *args):
        return Sym(Call(OPS_BY_NAME[op], tuple(as_sym(a).expr for a in args)))

    def _cast(self, dtype, rounding):
        return Sym(CastTo(Op.PASS, (self.expr,), dtype, rounding))

    def __repr__(self):
        return f"<Sym {expr_text(self.expr)}>"

    def __bool__(self):
        raise TypeError("a symbolic value has no truth value; use select() instead of "
                        "if/and/or")


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
