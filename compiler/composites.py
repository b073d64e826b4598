"""The composite operations: one :class:`CompositeOp` entry each in :data:`COMPOSITES`.

An entry is all that the compiler and the golden model know about a composite: the
type checker (:func:`compiler.typecheck.node_type`) applies its type rule, the builder
(:class:`compiler.builder.Builder`) has a method of its name, the JSON format accepts
its kind, :func:`compiler.passes.decompose` expands it and :mod:`sim.golden` evaluates
its NumPy meaning. Adding a composite is adding an entry here (see ``docs/ir.md``).
"""

from dataclasses import dataclass

import numpy as np

from hw.ops import Op, ReduceOp
from .errors import CompileError
from .nodes import Arg, Imm, Call, View, Map, Reduce
from .special import (REFERENCES, exp_expr, f, gelu_expr, reciprocal_expr, rsqrt_expr,
                      sigmoid_expr, tanh_expr)
from .types import shape_text

__all__ = ["CompositeOp", "InputShapes", "Expansion", "COMPOSITES", "COMPOSITE_KINDS",
           "expand"]


@dataclass(frozen=True)
class CompositeOp:
    """One composite operation.

    Members
    -------
    name : str
        Its node kind, builder method name and JSON kind.
    params : tuple of str
        The builder method's parameter names, one per tensor input, in order.
    doc : str
        The builder method's docstring: what it computes.
    shape : callable
        The type rule: ``shape(s)`` with ``s`` an :class:`InputShapes` returns the
        result shape, or raises through ``s``'s checks. Inputs of one dtype, no
        attributes and ``len(params)`` inputs are checked before it is called.
    expand : callable
        The decomposition: ``expand(x)`` with ``x`` an :class:`Expansion` adds the
        pattern nodes computing the result; the last one takes the composite's name.
    meaning : callable
        The NumPy meaning: ``meaning(*arrays)`` over int64 arrays of i32 values
        returns an integer array, wrapped modulo 2**32 by the golden model.
    example : tuple of tuple
        Input shapes of a small valid instance, on which the tests check that the
        decomposition means what ``meaning`` does.
    dtypes : tuple of str or None
        The input dtypes it takes (None: any, one for all inputs).
    ulps : float or None
        For a floating-point function: the largest error of the decomposition against
        ``meaning`` (then a float64 reference) that the tests allow, in units in the
        last place of the f32 result; its golden model is the decomposition itself.
    ulp_floor : float
        Results smaller in magnitude than this have their error counted in ulps of
        ``ulp_floor`` instead: for a function whose small results come from a
        cancellation (layernorm's ``x - mean``), whose error is absolute.
    """
    name: str
    params: tuple
    doc: str
    shape: object
    expand: object
    meaning: object
    example: tuple
    dtypes: tuple = None
    ulps: float = None
    ulp_floor: float = 0.0

    @property
    def arity(self):
        """How many tensor inputs it takes."""
        return len(self.params)


class InputShapes:
    """The input shapes of one composite node, given to its type rule.

    ``s[i]`` is the shape of input ``i``; the check methods raise
    :class:`CompileError` naming the node, with a message that starts with its kind.
    """

    def __init__(self, node, shapes):
        self._node = node
        self._shapes = tuple(shapes)

    def __getitem__(self, i):
        return self._shapes[i]

    def rank(self, i, rank, what):
        """Require input ``i`` (called ``what`` in the message) to have ``rank``."""
        if len(self._shapes[i]) != rank:
            self.fail(f"needs {what} of rank {rank}, got {shape_text(self._shapes[i])} "
                      f"from {self._node.inputs[i]!r}")

    def agree(self, what, a, b):
        """Require the sizes ``a`` and ``b`` (described by ``what``) to be equal."""
        if a != b:
            self.fail(f"needs {what} to agree, got {a} and {b}")

    def fail(self, message):
        """Raise ``CompileError("<kind> <message>")`` naming the node."""
        raise CompileError(f"{self._node.kind} {message}", self._node.name)


class Expansion:
    """The nodes replacing one composite node, given to its decomposition.

    Members
    -------
    name : str
        The composite's name, for the node computing its result.
    inputs : tuple of str
        Its input names.
    shapes : tuple of tuple
        Their shapes.
    dtypes : tuple of str
        Their dtypes.
    nodes : list
        The nodes added so far, in order (readers after what they read).
    """

    def __init__(self, node, shapes, fresh, dtypes=None):
        self.name = node.name
        self.inputs = tuple(node.inputs)
        self.shapes = tuple(shapes)
        self.dtypes = tuple(dtypes) if dtypes is not None else ("i32",) * len(self.shapes)
        self.nodes = []
        self._fresh = fresh

    def fresh(self, role):
        """A new name ``<name>.<role>``, unique in the graph being built."""
        return self._fresh(self.name, role)

    def view(self, role, src, shape, strides):
        """Add a :class:`View` of ``src`` at offset 0 named after ``role``; its name."""
        return self._add(View(self.fresh(role), src, shape, 0, strides))

    def map(self, name, inputs, expr):
        """Add a :class:`Map` called ``name``; returns ``name``."""
        return self._add(Map(name, tuple(inputs), expr))

    def reduce(self, name, src, op, axis):
        """Add a :class:`Reduce` called ``name``; returns ``name``."""
        return self._add(Reduce(name, src, op, axis))

    def _add(self, node):
        self.nodes.append(node)
        return node.name


def expand(node, shapes, fresh, dtypes=None):
    """The pattern nodes replacing composite ``node`` whose inputs have ``shapes`` (and
    ``dtypes``, i32 by default).

    ``fresh(base, role)`` gives new names unique in the graph. The node computing the
    result takes ``node.name``, so readers of the composite are unchanged.
    """
    x = Expansion(node, shapes, fresh, dtypes)
    COMPOSITES[node.kind].expand(x)
    return x.nodes


_MUL = Call(Op.MUL, (Arg(0), Arg(1)))
_ADD = Call(Op.ADD, (Arg(0), Arg(1)))


def _dot(x, result, a, b):
    """``result = sum over axis 1 of a * b``, with ``a`` and ``b`` of one rank-2 shape,
    or rank 3 for a matrix product."""
    x.reduce(result, x.map(x.fresh("mul"), (a, b), _MUL), ReduceOp.ADD, 1)


def _product(x, result, a, b, m, k, n):
    """``result[M,N] = a[M,K] @ b[K,N]``, reducing the ``[M,K,N]`` products over K."""
    _dot(x, result, x.view("a", a, (m, k, n), (k, 1, 0)), x.view("b", b, (m, k, n), (0, n, 1)))


# -- matmul: Reduce(add, Map(mul, View(A,[M,K,N],(K,1,0)), View(B,[M,K,N],(0,N,1))), 1)

def _matmul_shape(s):
    s.rank(0, 2, "A"), s.rank(1, 2, "B")
    s.agree("A columns and B rows", s[0][1], s[1][0])
    return (s[0][0], s[1][1])


def _matmul_expand(x):
    (m, k), (_, n) = x.shapes
    _product(x, x.name, x.inputs[0], x.inputs[1], m, k, n)


# -- linear: Map(add, matmul(x, View(W,[K,N],(1,K))), View(b,[M,N],(0,1)))

def _linear_shape(s):
    s.rank(0, 2, "x"), s.rank(1, 2, "W"), s.rank(2, 1, "b")
    s.agree("x columns and W columns", s[0][1], s[1][1])
    s.agree("W rows and b length", s[1][0], s[2][0])
    return (s[0][0], s[1][0])


def _linear_expand(x):
    (m, k), (n, _), _ = x.shapes
    wt = x.view("wt", x.inputs[1], (k, n), (1, k))
    mm = x.fresh("mm")
    _product(x, mm, x.inputs[0], wt, m, k, n)
    x.map(x.name, (mm, x.view("bias", x.inputs[2], (m, n), (0, 1))), _ADD)


# -- gemv: Reduce(add, Map(mul, W, View(x,[M,K],(0,1))), axis=1)

def _gemv_shape(s):
    s.rank(0, 2, "W"), s.rank(1, 1, "x")
    s.agree("W columns and x length", s[0][1], s[1][0])
    return (s[0][0],)


def _gemv_expand(x):
    m, k = x.shapes[0]
    _dot(x, x.name, x.inputs[0], x.view("x", x.inputs[1], (m, k), (0, 1)))


# -- conv1d: Reduce(add, Map(mul, View(x,[N-K+1,K],(1,1)), View(w,[N-K+1,K],(0,1))), 1)

def _conv1d_shape(s):
    s.rank(0, 1, "x"), s.rank(1, 1, "w")
    if s[1][0] > s[0][0]:
        s.fail(f"needs a kernel no longer than its input, got {s[1][0]} > {s[0][0]}")
    return (s[0][0] - s[1][0] + 1,)


def _conv1d_expand(x):
    (n,), (k,) = x.shapes
    rows = n - k + 1
    _dot(x, x.name, x.view("x", x.inputs[0], (rows, k), (1, 1)),
         x.view("w", x.inputs[1], (rows, k), (0, 1)))


def _conv1d_meaning(x, w):
    return np.lib.stride_tricks.sliding_window_view(x, w.shape[0]) @ w


# -- relu: Map(max($0, 0), x)

def _relu_expand(x):
    # zero of the input's dtype: the bits of +0.0 are those of integer 0
    x.map(x.name, x.inputs, Call(Op.MAX, (Arg(0), Imm(0, x.dtypes[0]))))


# -- outer: Map(mul, View(a,[M,N],(1,0)), View(b,[M,N],(0,1)))

def _outer_shape(s):
    s.rank(0, 1, "a"), s.rank(1, 1, "b")
    return (s[0][0], s[1][0])


def _outer_expand(x):
    (m,), (n,) = x.shapes
    x.map(x.name, (x.view("a", x.inputs[0], (m, n), (1, 0)),
                   x.view("b", x.inputs[1], (m, n), (0, 1))), _MUL)


def _elementwise(expr):
    """The expansion of a one-input elementwise function: one map of ``expr``."""
    return lambda x: x.map(x.name, x.inputs, expr)


def _softmax_expand(x):
    """``softmax`` along the last axis: ``e = exp(x - max(x))``, then
    ``e * reciprocal(sum(e))`` (the maximum subtracted first, so ``exp`` never
    overflows)."""
    shape = x.shapes[0]
    rest = shape[:-1]
    strides = tuple(_contiguous(rest)) + (0,)
    top = x.reduce(x.fresh("max"), x.inputs[0], ReduceOp.MAX, len(shape) - 1)
    e = x.map(x.fresh("exp"), (x.inputs[0], x.view("maxb", top, shape, strides)),
              exp_expr(Call(Op.SUB, (Arg(0), Arg(1)))))
    total = x.reduce(x.fresh("sum"), e, ReduceOp.ADD, len(shape) - 1)
    inv = x.map(x.fresh("inv"), (total,), reciprocal_expr())
    x.map(x.name, (e, x.view("invb", inv, shape, strides)), _MUL)


#: The ``eps`` that layernorm adds to the variance (PyTorch's default).
LAYERNORM_EPS = 1e-5


def _layernorm_shape(s):
    if not s[0]:
        s.fail("needs x of rank 1 or more, got a scalar")
    for i, what in ((1, "weight"), (2, "bias")):
        s.rank(i, 1, what)
        s.agree(f"x's last axis and {what} length", s[0][-1], s[i][0])
    return s[0]


def _layernorm_expand(x):
    """``layernorm`` along the last axis: ``mean = sum(x) * (1/n)``, ``d = x - mean``,
    ``var = sum(d*d) * (1/n)``, then ``d * rsqrt(var + eps) * weight + bias`` (two
    passes over ``x``, as the variance of ``d`` is better conditioned than
    ``E[x**2] - mean**2``)."""
    shape = x.shapes[0]
    n = shape[-1]
    rest, last = shape[:-1], len(shape) - 1
    rows = tuple(_contiguous(rest)) + (0,)
    along = (0,) * last + (1,)
    scale = f(1.0 / n)
    total = x.reduce(x.fresh("sum"), x.inputs[0], ReduceOp.ADD, last)
    mean = x.map(x.fresh("mean"), (total,), Call(Op.FMUL, (Arg(0), scale)))
    d = x.map(x.fresh("centred"), (x.inputs[0], x.view("meanb", mean, shape, rows)),
              Call(Op.FSUB, (Arg(0), Arg(1))))
    squares = x.reduce(x.fresh("sumsq"), x.map(x.fresh("sq"), (d,),
                                               Call(Op.FMUL, (Arg(0), Arg(0)))),
                       ReduceOp.ADD, last)
    var = Call(Op.FADD, (Call(Op.FMUL, (Arg(0), scale)), f(LAYERNORM_EPS)))
    inv = x.map(x.fresh("inv"), (squares,), rsqrt_expr(var))
    x.map(x.name, (d, x.view("invb", inv, shape, rows), x.view("w", x.inputs[1], shape, along),
                   x.view("b", x.inputs[2], shape, along)),
          Call(Op.FADD, (Call(Op.FMUL, (Call(Op.FMUL, (Arg(0), Arg(1))), Arg(2))), Arg(3))))


def _layernorm_meaning(x, w, b):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYERNORM_EPS) * w + b


def _contiguous(shape):
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return reversed(out)


def _softmax_meaning(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _special(name, doc, make, ulps):
    return CompositeOp(name, ("x",), doc, lambda s: s[0], _elementwise(make()),
                       REFERENCES[name], example=((4, 6),), dtypes=("f32",), ulps=ulps)


#: Every composite operation by name, in the order error messages list them.
COMPOSITES = {op.name: op for op in (
    CompositeOp("matmul", ("a", "b"), "``a[M,K] @ b[K,N]``.",
                _matmul_shape, _matmul_expand, lambda a, b: a @ b,
                example=((3, 5), (5, 4))),
    CompositeOp("linear", ("x", "w", "b"), "``x[M,K] @ w[N,K].T + b[N]``.",
                _linear_shape, _linear_expand, lambda x, w, b: x @ w.T + b,
                example=((3, 5), (2, 5), (2,))),
    CompositeOp("gemv", ("w", "x"), "``w[M,K] @ x[K]``.",
                _gemv_shape, _gemv_expand, lambda w, x: w @ x,
                example=((4, 6), (6,))),
    CompositeOp("conv1d", ("x", "w"), "Valid correlation: ``y[i] = sum_k x[i+k] * w[k]``.",
                _conv1d_shape, _conv1d_expand, _conv1d_meaning,
                example=((9,), (4,))),
    CompositeOp("relu", ("x",), "``max(x, 0)``.",
                lambda s: s[0], _relu_expand, lambda x: np.maximum(x, 0),
                example=((3, 4),)),
    CompositeOp("outer", ("a", "b"), "``a[M]`` times ``b[N]`` into ``[M,N]``.",
                _outer_shape, _outer_expand, np.outer,
                example=((3,), (5,))),
    _special("exp", "``e**x`` of an f32 tensor (range reduction and a polynomial, "
             "``compiler/special.py``).", exp_expr, 1.0),
    _special("reciprocal", "``1 / x`` of an f32 tensor (Newton steps from a bit-level "
             "guess, ``compiler/special.py``).", reciprocal_expr, 2.0),
    _special("rsqrt", "``1 / sqrt(x)`` of an f32 tensor (Newton steps from a bit-level "
             "guess, ``compiler/special.py``).", rsqrt_expr, 2.5),
    _special("tanh", "``tanh(x)`` of an f32 tensor (a polynomial near 0, else "
             "``1 - 2 / (exp(2x) + 1)``, ``compiler/special.py``).", tanh_expr, 1.5),
    _special("sigmoid", "``1 / (1 + exp(-x))`` of an f32 tensor "
             "(``compiler/special.py``).", sigmoid_expr, 2.5),
    CompositeOp("softmax", ("x",), "``exp(x) / sum(exp(x))`` along the last axis of an f32 "
                "tensor, the maximum subtracted first.", lambda s: s[0], _softmax_expand,
                _softmax_meaning, example=((4, 6),), dtypes=("f32",), ulps=8.0),
    CompositeOp("layernorm", ("x", "weight", "bias"), "``(x - mean) / sqrt(var + 1e-5) * "
                "weight + bias`` along the last axis of an f32 tensor (biased variance, as "
                "PyTorch's ``layer_norm``).", _layernorm_shape, _layernorm_expand,
                _layernorm_meaning, example=((4, 6), (6,), (6,)), dtypes=("f32",),
                ulps=8.0, ulp_floor=1.0),
    _special("gelu", "``x * sigmoid(2u)`` with ``u = sqrt(2/pi) * (x + 0.044715 x**3)``, "
             "the tanh form of GELU (``0.5 x (1 + tanh u)``, PyTorch's "
             "``gelu(approximate='tanh')``) of an f32 tensor (``compiler/special.py``).",
             gelu_expr, 16.0),
)}

#: Composite names and how many tensor inputs each takes (as registered at import).
COMPOSITE_KINDS = {name: op.arity for name, op in COMPOSITES.items()}
