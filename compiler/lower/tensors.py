"""What lowering knows of each tensor: the graph's nodes and shapes, plus the tensors
lowering itself creates. The graph is only read."""

from ..ir import Fold, Reduce, View, contiguous_strides, operands
from ..passes import compose_views
from .plans import Operand

__all__ = ["Tensors"]


class Tensors:
    """The nodes and shapes of graph ``g`` together with those lowering adds: the
    partial result of a fold (a kernel output that is no graph node) and the compact
    constants that replace constants read with a stride along the vector axis.

    Creating it computes the type of every node of ``g`` (raising
    :class:`~compiler.errors.CompileError` for a node that does not check).
    """

    def __init__(self, g):
        self._graph = g
        self._shapes = {n: tuple(g.type_of(n).shape) for n in g.nodes}
        self._consts = {}

    @property
    def graph_size(self):
        """The number of nodes of the graph."""
        return len(self._graph.nodes)

    @property
    def consts(self):
        """The constants added so far, in the order they were added."""
        return tuple(self._consts.values())

    def node(self, name):
        """The node ``name`` (a graph node or an added constant), None for a tensor that
        only lowering produces."""
        if name in self._consts:
            return self._consts[name]
        return self._graph.nodes.get(name)

    def shape(self, name):
        return self._shapes[name]

    def in_graph(self, name):
        """Whether ``name`` is a node of the graph (not a tensor lowering made)."""
        return name in self._graph.nodes

    def add_shape(self, name, shape):
        """Record the shape of a tensor a kernel produces."""
        self._shapes[name] = tuple(shape)

    def add_const(self, const):
        """Record a :class:`~compiler.ir.Const` that lowering created."""
        self._consts[const.name] = const
        self._shapes[const.name] = tuple(const.shape)

    def reduces(self, name, source):
        """Whether tensor ``name`` is computed from tensor ``source`` through a
        reduction or fold: then it exists only after whole slices of ``source`` have
        streamed past."""
        stack, seen = [(name, False)], set()
        while stack:
            tensor, reduced = stack.pop()
            if tensor == source and reduced:
                return True
            if (tensor, reduced) in seen:
                continue
            seen.add((tensor, reduced))
            node = self.node(tensor)
            if node is None and tensor.endswith(".reduce"):     # a fold's partial result
                node = self._graph.nodes.get(tensor[:-len(".reduce")])
            if node is None:
                continue
            through = reduced or isinstance(node, (Reduce, Fold))
            stack += [(n, through) for n in operands(node)]
        return False

    def resolve(self, name):
        """Follow views down to a tensor that is no view: the :class:`Operand` that reads
        element ``idx`` of ``name`` as ``tensor.flat[offset + sum(idx * strides)]``, or
        None when stacked views do not compose into one affine map."""
        node = self.node(name)
        if not isinstance(node, View):
            shape = self._shapes[name]
            return Operand(name, 0, contiguous_strides(shape) if shape else ())
        while isinstance(self.node(node.input), View):
            node = compose_views(node, self.node(node.input))
            if node is None:
                return None
        return Operand(node.input, node.offset, tuple(node.strides))
