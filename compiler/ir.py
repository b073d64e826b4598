"""The Terrazzo graph IR: tensors, elementwise expressions and parallel patterns.

A :class:`Graph` is an ordered collection of nodes, each producing one tensor and
naming the nodes it reads. Nodes are frozen dataclasses (:mod:`compiler.nodes`):

* :class:`Input`, :class:`Const` and :class:`Iota` (the index along one axis: what a
  hardware counter produces) are leaves;
* :class:`View` is an affine re-indexing of another tensor (broadcast, transpose,
  slice, sliding window);
* :class:`Map` applies an expression (:class:`Arg`, :class:`Imm`, :class:`Call`)
  elementwise over inputs of one shape;
* :class:`Reduce`, :class:`Fold` and :class:`Scan` combine along one axis with a
  :class:`~hw.ops.ReduceOp`;
* :class:`Composite` is a named operation (``matmul``, ``linear``, ``gemv``,
  ``conv1d``, ``relu``, ``outer``: the entries of
  :data:`compiler.composites.COMPOSITES`) that :func:`compiler.passes.decompose`
  expands into the patterns above.

Every value is a wrapping 32-bit integer (dtype ``"i32"``), with the semantics of
:data:`hw.ops.OP_TABLE`. :meth:`Graph.type_of` infers a node's :class:`TensorType`
with the rules of :mod:`compiler.typecheck`, raising
:class:`~compiler.errors.CompileError` naming the node when it is invalid;
:meth:`Graph.to_text` prints the graph one node per line (:mod:`compiler.text`).

The builder methods of :class:`Graph` (``input``, ``map``, ``reduce``, ``matmul``...,
from :mod:`compiler.builder`) return :class:`Value` handles that support
``+ - * & | ^ << >>`` and comparison methods, so graphs read like NumPy code; see
``docs/ir.md``. This module is the IR's public face: every name of ``__all__`` is
importable from here.
"""

from .builder import Builder, with_composite_methods
from .composites import COMPOSITE_KINDS
from .errors import CompileError
from .exprs import MAX_EXPR_DEPTH, fold_expr, substitute
from .nodes import (Arg, Imm, Call, expr_args, Input, Const, Iota, View, Map, Reduce, Fold,
                    Scan, Composite, operands)
from .text import expr_text, graph_text
from .typecheck import node_type
from .types import (DTYPES, SUPPORTED_DTYPES, INT32_MIN, INT32_MAX, TensorType, check_dtype,
                    check_name, contiguous_strides)
from .values import Value, Sym

__all__ = [
    "DTYPES", "SUPPORTED_DTYPES", "INT32_MIN", "INT32_MAX", "COMPOSITE_KINDS",
    "TensorType", "Arg", "Imm", "Call", "expr_args", "expr_text", "MAX_EXPR_DEPTH",
    "fold_expr", "substitute",
    "Input", "Const", "Iota", "View", "Map", "Reduce", "Fold", "Scan", "Composite",
    "operands", "node_type", "check_dtype", "check_name", "contiguous_strides",
    "Graph", "Value", "Sym",
]


def _topo(nodes, roots, known=()):
    """Nodes reachable from ``roots`` (dependencies first, in first-visit order),
    without recursion. Nodes in ``known`` are taken as done: neither they nor what
    they read are walked or listed.

    Raises :class:`CompileError` for references to missing nodes and for cycles.
    """
    order, state = [], {}               # state: 1 = on stack, 2 = done
    for root in roots:
        if state.get(root) == 2 or root in known:
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
                if state.get(dep) is None and dep not in known:
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


@with_composite_methods
class Graph(Builder):
    """A named dataflow graph.

    Members
    -------
    name : str
    nodes : dict[str, node]
        Nodes in insertion order, keyed by their name.
    outputs : dict[str, str]
        Output name to the name of the node producing it.

    Besides :meth:`add` and :meth:`set_output`, which work on nodes and names, the
    builder methods (:meth:`input`, :meth:`map`, ..., see
    :class:`~compiler.builder.Builder`) create nodes, check them eagerly and return
    :class:`Value` handles.
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
        # The types known stay valid: each was inferred from nodes that all exist, and
        # a new node changes none of them.
        self.nodes[name] = node
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
        # Only the nodes not typed yet are walked, so that typing each new node of a
        # graph being built costs what it reads, not the whole graph behind it.
        for n in _topo(self.nodes, [name], self._types):
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

    def to_text(self):
        """The graph as stable text, one node per line, for reading and golden tests."""
        return graph_text(self)

    # -- node primitives of the builder -------------------------------------------------

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
            del self.nodes[node.name]      # it was not typed, nor was anything reading it
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
