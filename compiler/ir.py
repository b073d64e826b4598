"""The Terrazzo graph IR: tensors, elementwise expressions and parallel patterns.

A :class:`Graph` is an ordered collection of nodes, each producing one tensor and
naming the nodes it reads. Nodes are frozen dataclasses:

* :class:`Input`, :class:`Const` and :class:`Iota` (the index along one axis: what a
  hardware counter produces) are leaves;
* :class:`View` is an affine re-indexing of another tensor (broadcast, transpose,
  slice, sliding window);
* :class:`Map` applies an expression (:class:`Arg`, :class:`Imm`, :class:`Call`)
  elementwise over inputs of one shape;
* :class:`Reduce`, :class:`Fold` and :class:`Scan` combine along one axis with a
  :class:`~hw.ops.ReduceOp`;
* :class:`Composite` is a named operation (``matmul``, ``linear``, ``gemv``,
  ``conv1d``, ``relu``, ``outer``) that :func:`compiler.passes.decompose` expands into
  the patterns above.

Every value is a wrapping 32-bit integer (dtype ``"i32"``), with the semantics of
:data:`hw.ops.OP_TABLE`. :meth:`Graph.type_of` infers a node's :class:`TensorType`,
raising :class:`~compiler.errors.CompileError` naming the node when it is invalid;
:meth:`Graph.to_text` prints the graph one node per line.

The builder methods of :class:`Graph` (``input``, ``map``, ``reduce``, ``matmul``...)
return :class:`Value` handles that support ``+ - * & | ^ << >>`` and comparison
methods, so graphs read like NumPy code; see ``docs/ir.md``.
"""

import re
import zlib
from dataclasses import dataclass
from math import prod

import numpy as np

from hw.ops import Op, ReduceOp, OP_TABLE, OPS_BY_NAME, REDUCE_TABLE, REDUCE_BY_NAME
from .errors import CompileError

__all__ = [
    "DTYPES", "SUPPORTED_DTYPES", "INT32_MIN", "INT32_MAX", "COMPOSITE_KINDS",
    "TensorType", "Arg", "Imm", "Call", "expr_args", "expr_text",
    "Input", "Const", "Iota", "View", "Map", "Reduce", "Fold", "Scan", "Composite",
    "operands", "node_type", "check_dtype", "check_name", "contiguous_strides",
    "Graph", "Value", "Sym",
]

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

#: Every dtype name the IR knows about.
DTYPES = ("i32", "f32", "bf16")
#: The dtypes the compiler accepts today.
SUPPORTED_DTYPES = ("i32",)

#: Composite kinds and how many tensor inputs each takes.
COMPOSITE_KINDS = {
    "matmul": 2,
    "linear": 3,
    "gemv": 2,
    "conv1d": 2,
    "relu": 1,
    "outer": 2,
}

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


def check_name(name, what="node name"):
    """Raise :class:`CompileError` unless ``name`` is a valid node or output name."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CompileError(f"{what} must be a letter or '_' followed by letters, digits, "
                           f"'_', '.' or '-', not {name!r}")


def check_dtype(dtype, node=None):
    """Raise :class:`CompileError` unless ``dtype`` is a supported dtype name."""
    if dtype in SUPPORTED_DTYPES:
        return
    if dtype in DTYPES:
        raise CompileError(f"dtype {dtype!r} is not supported yet", node)
    raise CompileError(f"unknown dtype {dtype!r}; known dtypes are "
                       f"{', '.join(map(repr, DTYPES))}", node)


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_int32(value, what, node):
    if not _is_int(value):
        raise CompileError(f"{what} must be an integer, not {value!r}", node)
    if not INT32_MIN <= value <= INT32_MAX:
        raise CompileError(f"{what} {value} does not fit in i32", node)


def _check_shape(shape, node, what="shape"):
    if not isinstance(shape, tuple) or not all(_is_int(d) for d in shape):
        raise CompileError(f"{what} must be a tuple of integers, not {shape!r}", node)
    if any(d < 1 for d in shape):
        raise CompileError(f"{what} {_shape_text(shape)} has a dimension smaller than 1",
                           node)


def _shape_text(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def contiguous_strides(shape):
    """Row-major strides (in elements) of a tensor of ``shape``."""
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


@dataclass(frozen=True)
class TensorType:
    """The type of a tensor: ``shape`` (tuple of positive ints) and ``dtype``."""
    shape: tuple
    dtype: str = "i32"

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return prod(self.shape)

    def __str__(self):
        return f"{self.dtype}{_shape_text(self.shape)}"


# -- expressions ------------------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    """The ``index``-th input of the enclosing :class:`Map`."""
    index: int


@dataclass(frozen=True)
class Imm:
    """An i32 constant."""
    value: int


@dataclass(frozen=True)
class Call:
    """``op`` applied to ``args`` (expressions); ``len(args)`` is the op's arity."""
    op: Op
    args: tuple


def expr_args(expr):
    """The set of :class:`Arg` indices an expression reads."""
    if isinstance(expr, Arg):
        return {expr.index}
    if isinstance(expr, Call):
        return set().union(*(expr_args(a) for a in expr.args))
    return set()


def expr_text(expr):
    """Text form of an expression: ``add(mul($0, 3), $1)``."""
    if isinstance(expr, Arg):
        return f"${expr.index}"
    if isinstance(expr, Imm):
        return str(expr.value)
    return f"{OP_TABLE[expr.op].name}({', '.join(expr_text(a) for a in expr.args)})"


def _check_expr(expr, n_inputs, node, depth=0):
    if depth > 200:
        raise CompileError("expression is nested more than 200 deep", node)
    if isinstance(expr, Arg):
        if not _is_int(expr.index) or not 0 <= expr.index < n_inputs:
            raise CompileError(f"expression reads ${expr.index} but the map has "
                               f"{n_inputs} input{'s' if n_inputs != 1 else ''}", node)
    elif isinstance(expr, Imm):
        _check_int32(expr.value, "immediate", node)
    elif isinstance(expr, Call):
        if not isinstance(expr.op, Op):
            raise CompileError(f"expression op must be an Op, not {expr.op!r}", node)
        info = OP_TABLE[expr.op]
        if not isinstance(expr.args, tuple) or len(expr.args) != info.arity:
            got = len(expr.args) if isinstance(expr.args, tuple) else expr.args
            raise CompileError(f"op {info.name!r} takes {info.arity} operand"
                               f"{'s' if info.arity != 1 else ''}, got {got}", node)
        for a in expr.args:
            _check_expr(a, n_inputs, node, depth + 1)
    else:
        raise CompileError(f"not an expression: {expr!r}", node)


# -- nodes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Input:
    """A graph input of ``shape`` and ``dtype``."""
    name: str
    shape: tuple
    dtype: str = "i32"


@dataclass(frozen=True)
class Const:
    """A constant tensor; ``values`` are its elements, flat in row-major order."""
    name: str
    shape: tuple
    dtype: str
    values: tuple


@dataclass(frozen=True)
class Iota:
    """A tensor of ``shape`` whose element ``idx`` is ``idx[axis]``: a loop counter.
    It costs no memory: the PCU reads it from its counter chain."""
    name: str
    shape: tuple
    axis: int
    dtype: str = "i32"


@dataclass(frozen=True)
class View:
    """An affine view of ``input``, counted in elements:
    ``out[idx] = input.flat[offset + sum(idx[d] * strides[d])]``."""
    name: str
    input: str
    shape: tuple
    offset: int
    strides: tuple


@dataclass(frozen=True)
class Map:
    """``expr`` evaluated elementwise over ``inputs``, which all have one shape."""
    name: str
    inputs: tuple
    expr: object


@dataclass(frozen=True)
class Reduce:
    """``op`` over ``axis`` of ``input``; the axis is removed."""
    name: str
    input: str
    op: ReduceOp
    axis: int


@dataclass(frozen=True)
class Fold:
    """Like :class:`Reduce`, combining ``init`` with the elements along ``axis``."""
    name: str
    input: str
    op: ReduceOp
    axis: int
    init: int


@dataclass(frozen=True)
class Scan:
    """Inclusive prefix ``op`` along ``axis`` of ``input``; same shape."""
    name: str
    input: str
    op: ReduceOp
    axis: int


@dataclass(frozen=True)
class Composite:
    """A named operation over ``inputs``; ``attrs`` is a tuple of ``(key, value)``.

    Kinds (see :data:`COMPOSITE_KINDS`): ``matmul(A[M,K], B[K,N])``,
    ``linear(x[M,K], W[N,K], b[N]) = x @ W.T + b``, ``gemv(W[M,K], x[K])``,
    ``conv1d(x[N], w[K])`` (valid correlation ``y[i] = sum_k x[i+k] * w[k]``),
    ``relu(x)``, ``outer(a[M], b[N])``.
    """
    name: str
    kind: str
    inputs: tuple
    attrs: tuple = ()


_NODE_TYPES = (Input, Const, Iota, View, Map, Reduce, Fold, Scan, Composite)


def operands(node):
    """Names of the nodes ``node`` reads, in order."""
    if isinstance(node, (Map, Composite)):
        return tuple(node.inputs)
    if isinstance(node, (View, Reduce, Fold, Scan)):
        return (node.input,)
    return ()


def _check_axis(axis, ndim, node):
    if not _is_int(axis) or not 0 <= axis < ndim:
        raise CompileError(f"axis {axis!r} is out of range for a tensor of rank {ndim}",
                           node)


def _composite_type(node, ts):
    kind, name = node.kind, node.name
    shapes = [t.shape for t in ts]

    def need(i, rank, what):
        if len(shapes[i]) != rank:
            raise CompileError(f"{kind} needs {what} of rank {rank}, got "
                               f"{_shape_text(shapes[i])} from {node.inputs[i]!r}", name)

    def agree(what, a, b):
        if a != b:
            raise CompileError(f"{kind} needs {what} to agree, got {a} and {b}", name)

    if kind == "matmul":
        need(0, 2, "A"), need(1, 2, "B")
        agree("A columns and B rows", shapes[0][1], shapes[1][0])
        return (shapes[0][0], shapes[1][1])
    if kind == "linear":
        need(0, 2, "x"), need(1, 2, "W"), need(2, 1, "b")
        agree("x columns and W columns", shapes[0][1], shapes[1][1])
        agree("W rows and b length", shapes[1][0], shapes[2][0])
        return (shapes[0][0], shapes[1][0])
    if kind == "gemv":
        need(0, 2, "W"), need(1, 1, "x")
        agree("W columns and x length", shapes[0][1], shapes[1][0])
        return (shapes[0][0],)
    if kind == "conv1d":
        need(0, 1, "x"), need(1, 1, "w")
        if shapes[1][0] > shapes[0][0]:
            raise CompileError(f"conv1d needs a kernel no longer than its input, got "
                               f"{shapes[1][0]} > {shapes[0][0]}", name)
        return (shapes[0][0] - shapes[1][0] + 1,)
    if kind == "relu":
        return shapes[0]
    need(0, 1, "a"), need(1, 1, "b")                      # outer
    return (shapes[0][0], shapes[1][0])


def node_type(node, types):
    """Check ``node`` and return its :class:`TensorType`.

    ``types`` maps the name of each operand of ``node`` to its :class:`TensorType`.
    Raises :class:`CompileError` naming the node when the node is invalid.
    """
    if not isinstance(node, _NODE_TYPES):
        raise CompileError(f"not a node: {node!r}")
    name = node.name
    if isinstance(node, Input):
        _check_shape(node.shape, name)
        check_dtype(node.dtype, name)
        return TensorType(node.shape, node.dtype)
    if isinstance(node, Iota):
        _check_shape(node.shape, name)
        check_dtype(node.dtype, name)
        _check_axis(node.axis, len(node.shape), name)
        return TensorType(node.shape, node.dtype)
    if isinstance(node, Const):
        _check_shape(node.shape, name)
        check_dtype(node.dtype, name)
        if not isinstance(node.values, tuple) or len(node.values) != prod(node.shape):
            got = len(node.values) if isinstance(node.values, tuple) else node.values
            raise CompileError(f"shape {_shape_text(node.shape)} needs "
                               f"{prod(node.shape)} values, got {got}", name)
        for v in node.values:
            _check_int32(v, "value", name)
        return TensorType(node.shape, node.dtype)
    ins = [types[n] for n in operands(node)]
    if isinstance(node, View):
        _check_shape(node.shape, name)
        if not isinstance(node.strides, tuple) or not all(_is_int(s) for s in node.strides):
            raise CompileError(f"strides must be a tuple of integers, not "
                               f"{node.strides!r}", name)
        if len(node.strides) != len(node.shape):
            raise CompileError(f"view has {len(node.shape)} dimensions but "
                               f"{len(node.strides)} strides", name)
        if not _is_int(node.offset):
            raise CompileError(f"offset must be an integer, not {node.offset!r}", name)
        lo = node.offset + sum(min(0, (n - 1) * s) for n, s in zip(node.shape, node.strides))
        hi = node.offset + sum(max(0, (n - 1) * s) for n, s in zip(node.shape, node.strides))
        size = ins[0].size
        if lo < 0 or hi >= size:
            raise CompileError(f"view reads elements {lo}..{hi} of {node.input!r}, "
                               f"which has {size}", name)
        return TensorType(node.shape, ins[0].dtype)
    if isinstance(node, Map):
        if not isinstance(node.inputs, tuple) or not node.inputs:
            raise CompileError("map needs at least one input", name)
        for n, t in zip(node.inputs[1:], ins[1:]):
            if t.shape != ins[0].shape:
                raise CompileError(f"map inputs must have one shape, got "
                                   f"{_shape_text(ins[0].shape)} from {node.inputs[0]!r} "
                                   f"and {_shape_text(t.shape)} from {n!r}", name)
            if t.dtype != ins[0].dtype:
                raise CompileError(f"map inputs must have one dtype, got {ins[0].dtype} "
                                   f"and {t.dtype}", name)
        _check_expr(node.expr, len(node.inputs), name)
        return ins[0]
    if isinstance(node, (Reduce, Fold, Scan)):
        if not isinstance(node.op, ReduceOp):
            raise CompileError(f"reduction op must be a ReduceOp, not {node.op!r}", name)
        _check_axis(node.axis, ins[0].ndim, name)
        if isinstance(node, Fold):
            _check_int32(node.init, "init", name)
        if isinstance(node, Scan):
            return ins[0]
        shape = ins[0].shape[:node.axis] + ins[0].shape[node.axis + 1:]
        return TensorType(shape, ins[0].dtype)
    # Composite
    if node.kind not in COMPOSITE_KINDS:
        raise CompileError(f"unknown composite kind {node.kind!r}; known kinds are "
                           f"{', '.join(COMPOSITE_KINDS)}", name)
    want = COMPOSITE_KINDS[node.kind]
    if len(node.inputs) != want:
        raise CompileError(f"{node.kind} takes {want} input{'s' if want != 1 else ''}, "
                           f"got {len(node.inputs)}", name)
    if node.attrs != ():
        raise CompileError(f"{node.kind} takes no attributes, got {node.attrs!r}", name)
    for n, t in zip(node.inputs[1:], ins[1:]):
        if t.dtype != ins[0].dtype:
            raise CompileError(f"{node.kind} inputs must have one dtype, got "
                               f"{ins[0].dtype} and {t.dtype}", name)
    return TensorType(_composite_type(node, ins), ins[0].dtype)


# -- graph ------------------------------------------------------------------------------

def _topo(nodes, roots):
    """Nodes reachable from ``roots`` (dependencies first, in first-visit order).

    Raises :class:`CompileError` for references to missing nodes and for cycles.
    """
    order, state = [], {}               # state: 1 = on stack, 2 = done
    for root in roots:
        if state.get(root) == 2:
            continue
        stack = [(root, iter(operands(nodes[root])))]
        state[root] = 1
        path = [root]
        while stack:
            name, it = stack[-1]
            for dep in it:
                if dep not in nodes:
                    raise CompileError(f"reads {dep!r}, which is not a node of the graph",
                                       name)
                if state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep]
                    raise CompileError(f"cycle {' -> '.join(cycle)}", dep)
                if state.get(dep) is None:
                    state[dep] = 1
                    stack.append((dep, iter(operands(nodes[dep]))))
                    path.append(dep)
                    break
            else:
                stack.pop()
                path.pop()
                state[name] = 2
                order.append(name)
    return order


class Graph:
    """A named dataflow graph.

    Members
    -------
    name : str
    nodes : dict[str, node]
        Nodes in insertion order, keyed by their name.
    outputs : dict[str, str]
        Output name to the name of the node producing it.

    Besides :meth:`add` and :meth:`set_output`, which work on nodes and names, the
    builder methods (:meth:`input`, :meth:`map`, ...) create nodes, check them
    eagerly and return :class:`Value` handles.
    """

    def __init__(self, name, nodes=(), outputs=None):
        self.name = name
        self.nodes = {}
        self.outputs = {}
        self._types = {}
        self._counters = {}
        for node in nodes:
            self.add(node)
        for out, ref in (outputs or {}).items():
            self.set_output(out, ref)

    # -- structure ----------------------------------------------------------------------

    def add(self, node):
        """Add ``node`` (unchecked, see :meth:`type_of`); returns its :class:`Value`.

        Raises :class:`CompileError` if a node of that name exists.
        """
        name = getattr(node, "name", None)
        if not isinstance(name, str):
            raise CompileError(f"not a node: {node!r}")
        if name in self.nodes:
            raise CompileError("a node of this name already exists", name)
        self.nodes[name] = node
        self._types.clear()
        return Value(self, name)

    def set_output(self, name, ref):
        """Make node ``ref`` (a name or :class:`Value`) the graph output ``name``."""
        if isinstance(ref, Value):
            ref = self._ref(ref)
        if name in self.outputs:
            raise CompileError(f"output {name!r} is already defined")
        self.outputs[name] = ref

    def type_of(self, name):
        """The :class:`TensorType` of node ``name``, checking it and what it reads."""
        if name in self._types:
            return self._types[name]
        if name not in self.nodes:
            raise CompileError(f"no node named {name!r} in graph {self.name!r}")
        for n in _topo(self.nodes, [name]):
            if n not in self._types:
                node = self.nodes[n]
                self._types[n] = node_type(node, {d: self._types[d] for d in operands(node)})
        return self._types[name]

    def topological_order(self):
        """All node names, each after the nodes it reads, otherwise in insertion order."""
        return _topo(self.nodes, list(self.nodes))

    def consumers(self):
        """Map each node name to the names of the nodes that read it, in order."""
        users = {n: [] for n in self.nodes}
        for node in self.nodes.values():
            for dep in dict.fromkeys(operands(node)):
                if dep in users:
                    users[dep].append(node.name)
        return users

    def copy(self):
        return Graph(self.name, self.nodes.values(), self.outputs)

    def __eq__(self, other):
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.name == other.name and list(self.nodes.items()) ==
                list(other.nodes.items()) and self.outputs == other.outputs)

    __hash__ = None

    def __repr__(self):
        return f"<Graph {self.name!r}: {len(self.nodes)} nodes, {len(self.outputs)} outputs>"

    # -- text ---------------------------------------------------------------------------

    def to_text(self):
        """The graph as stable text, one node per line, for reading and golden tests."""
        lines = [f"graph {self.name} {{"]
        for node in self.nodes.values():
            lines.append(f"  %{node.name} = {_node_text(node)} : {self.type_of(node.name)}")
        for out, ref in self.outputs.items():
            lines.append(f"  output {out} = %{ref}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- builder ------------------------------------------------------------------------

    def _auto(self, kind):
        i = self._counters.get(kind, 0)
        while f"{kind}{i}" in self.nodes:
            i += 1
        self._counters[kind] = i + 1
        return f"{kind}{i}"

    def _emit(self, node):
        check_name(node.name)
        value = self.add(node)
        try:
            self.type_of(node.name)
        except CompileError:
            del self.nodes[node.name]
            self._types.clear()
            raise
        return value

    def _ref(self, value):
        if isinstance(value, Value):
            if value.graph is not self:
                raise CompileError(f"value {value.name!r} belongs to graph "
                                   f"{value.graph.name!r}, not {self.name!r}")
            return value.name
        if isinstance(value, str) and value in self.nodes:
            return value
        if isinstance(value, Sym):
            raise CompileError("a symbolic value can only be used inside a map function")
        raise CompileError(f"expected a value of graph {self.name!r}, not {value!r}")

    def input(self, name, shape, dtype="i32"):
        """Add an :class:`Input` of ``shape`` and ``dtype``."""
        return self._emit(Input(name, _as_shape(shape), dtype))

    def const(self, name, array, dtype="i32"):
        """Add a :class:`Const` holding ``array`` (anything :func:`numpy.asarray` takes)."""
        arr = np.asarray(array)
        if arr.dtype.kind not in "iub":
            raise CompileError(f"constant must hold integers, not {arr.dtype}", name)
        values = tuple(int(v) for v in arr.reshape(-1))
        return self._emit(Const(name, tuple(int(d) for d in arr.shape), dtype, values))

    def iota(self, shape, axis=-1, *, name=None):
        """Add an :class:`Iota`: element ``idx`` is ``idx[axis]`` (a loop counter)."""
        shape = _as_shape(shape)
        if _is_int(axis) and -len(shape) <= axis < 0:
            axis += len(shape)
        return self._emit(Iota(name or self._auto("iota"), shape, axis))

    def output(self, name, value):
        """Make ``value`` the graph output ``name``; returns ``value``."""
        check_name(name, "output name")
        self.set_output(name, value)
        return value

    def view(self, x, shape, offset=0, strides=None, *, name=None):
        """Add a :class:`View` of ``x``; ``strides`` default to row-major (a reshape)."""
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
            raise CompileError(f"cannot broadcast {_shape_text(src)} to "
                               f"{_shape_text(shape)}", self._ref(x))
        pad = len(shape) - len(src)
        cs = contiguous_strides(src)
        strides = tuple(0 if d < pad or src[d - pad] == 1 else cs[d - pad]
                        for d in range(len(shape)))
        return self.view(x, shape, 0, strides, name=name)

    def transpose(self, x, axes=None, *, name=None):
        """``x`` with its axes permuted (reversed by default), as a :class:`View`."""
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
        values = [x for x in inputs if not _is_int(x)]
        refs = list(dict.fromkeys(self._ref(v) for v in values))
        if not refs:
            raise CompileError("map needs at least one tensor input")
        shapes = [self.type_of(r).shape for r in refs]
        try:
            shape = tuple(int(d) for d in np.broadcast_shapes(*shapes))
        except ValueError:
            raise CompileError(f"cannot broadcast shapes "
                               f"{', '.join(_shape_text(s) for s in shapes)} together",
                               name) from None
        syms = [Sym(Imm(int(x))) if _is_int(x) else Sym(Arg(refs.index(self._ref(x))))
                for x in inputs]
        if isinstance(fn, str) and fn in OPS_BY_NAME:
            fn = OPS_BY_NAME[fn]
        if isinstance(fn, Op):
            arity = OP_TABLE[fn].arity
            if len(syms) != arity:
                raise CompileError(f"op {OP_TABLE[fn].name!r} takes {arity} operand"
                                   f"{'s' if arity != 1 else ''}, got {len(syms)}", name)
            expr = Call(fn, tuple(s.expr for s in syms))
        elif callable(fn) and not isinstance(fn, str):
            result = fn(*syms)
            if _is_int(result):
                result = Sym(Imm(int(result)))
            if not isinstance(result, Sym):
                raise CompileError(f"map function must return an expression, "
                                   f"not {result!r}", name)
            expr = result.expr
        else:
            raise CompileError(f"unknown op {fn!r}; known ops are "
                               f"{', '.join(OPS_BY_NAME)}", name)
        ins = tuple(self._ref(self.broadcast_to(Value(self, r), shape)) for r in refs)
        return self._emit(Map(name or self._auto("map"), ins, expr))

    def _elementwise(self, op, *args):
        if any(isinstance(a, Sym) for a in args):
            return Sym(Call(OPS_BY_NAME[op], tuple(_sym(a).expr for a in args)))
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
        if _is_int(axis) and -ndim <= axis < 0:
            axis += ndim
        kind = cls.__name__.lower()
        return self._emit(cls(name or self._auto(kind), ref, rop, axis, **extra))

    def reduce(self, op, x, axis=-1, *, name=None):
        """Reduce ``x`` along ``axis`` with ``op`` (``"add"``, ``"min"``, ``"max"``)."""
        return self._axis_pattern(Reduce, op, x, axis, name)

    def fold(self, op, x, init, axis=-1, *, name=None):
        """Reduce ``x`` along ``axis`` with ``op``, starting from ``init``."""
        return self._axis_pattern(Fold, op, x, axis, name, init=init)

    def scan(self, op, x, axis=-1, *, name=None):
        """Inclusive prefix ``op`` of ``x`` along ``axis``."""
        return self._axis_pattern(Scan, op, x, axis, name)

    def composite(self, kind, *inputs, name=None):
        """Add a :class:`Composite` of ``kind`` over ``inputs``."""
        refs = tuple(self._ref(x) for x in inputs)
        return self._emit(Composite(name or self._auto(kind), kind, refs, ()))

    def matmul(self, a, b, *, name=None):
        """``a[M,K] @ b[K,N]``."""
        return self.composite("matmul", a, b, name=name)

    def linear(self, x, w, b, *, name=None):
        """``x[M,K] @ w[N,K].T + b[N]``."""
        return self.composite("linear", x, w, b, name=name)

    def gemv(self, w, x, *, name=None):
        """``w[M,K] @ x[K]``."""
        return self.composite("gemv", w, x, name=name)

    def conv1d(self, x, w, *, name=None):
        """Valid correlation: ``y[i] = sum_k x[i+k] * w[k]``."""
        return self.composite("conv1d", x, w, name=name)

    def relu(self, x, *, name=None):
        """``max(x, 0)``."""
        return self.composite("relu", x, name=name)

    def outer(self, a, b, *, name=None):
        """``a[M]`` times ``b[N]`` into ``[M,N]``."""
        return self.composite("outer", a, b, name=name)


def _as_shape(shape):
    if _is_int(shape):
        return (int(shape),)
    try:
        return tuple(int(d) if _is_int(d) else d for d in shape)
    except TypeError:
        raise CompileError(f"shape must be a tuple of integers, not {shape!r}") from None


def _reduce_op(op, node):
    if isinstance(op, ReduceOp):
        return op
    if isinstance(op, str) and op in REDUCE_BY_NAME:
        return REDUCE_BY_NAME[op]
    raise CompileError(f"unknown reduction {op!r}; known reductions are "
                       f"{', '.join(REDUCE_BY_NAME)}", node)


def _tuple_text(t):
    return "(" + ", ".join(str(v) for v in t) + ")"


def _node_text(node):
    if isinstance(node, Input):
        return "input"
    if isinstance(node, Iota):
        return f"iota[axis={node.axis}]"
    if isinstance(node, Const):
        vals = node.values
        if len(vals) <= 16:
            return f"const[{', '.join(map(str, vals))}]"
        crc = zlib.crc32(np.asarray(vals, dtype="<i4").tobytes())
        return f"const[{', '.join(map(str, vals[:8]))}, ... {len(vals)} values, crc32=0x{crc:08x}]"
    args = "(" + ", ".join(f"%{n}" for n in operands(node)) + ")"
    if isinstance(node, View):
        return f"view[offset={node.offset}, strides={_tuple_text(node.strides)}]{args}"
    if isinstance(node, Map):
        return f"map[{expr_text(node.expr)}]{args}"
    if isinstance(node, (Reduce, Fold, Scan)):
        kind = type(node).__name__.lower()
        init = f", init={node.init}" if isinstance(node, Fold) else ""
        return f"{kind}[{REDUCE_TABLE[node.op][0]}, axis={node.axis}{init}]{args}"
    attrs = f"[{', '.join(f'{k}={v}' for k, v in node.attrs)}]" if node.attrs else ""
    return f"{node.kind}{attrs}{args}"


# -- handles ----------------------------------------------------------------------------

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


class Value(_Operators):
    """A handle on the tensor produced by node ``name`` of ``graph``.

    Operators add :class:`Map` nodes (broadcasting NumPy-style); ints are immediates.
    """

    __slots__ = ("graph", "name")

    def __init__(self, graph, name):
        self.graph = graph
        self.name = name

    def _op(self, op, *args):
        return self.graph._elementwise(op, *args)

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
        return Sym(Call(OPS_BY_NAME[op], tuple(_sym(a).expr for a in args)))

    def __repr__(self):
        return f"<Sym {expr_text(self.expr)}>"

    def __bool__(self):
        raise TypeError("a symbolic value has no truth value; use select() instead of "
                        "if/and/or")


def _sym(x):
    if isinstance(x, Sym):
        return x
    if _is_int(x):
        return Sym(Imm(int(x)))
    raise CompileError(f"inside a map function, operands must be the function's "
                       f"arguments or ints, not {x!r}")
