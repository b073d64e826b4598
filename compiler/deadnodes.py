"""Dead-node elimination: the pass that drops the nodes no graph output reads.

A node is dead when no output reads it, directly or through other nodes: a builder
value made and never used, a branch left behind while editing a graph. Lowered, a dead
map or reduction would still take a PCU (its result going nowhere), so
:func:`drop_dead_nodes` removes it, with a :class:`DeadNodeWarning` that names it: a
dead node is more often a mistake than an intent.

Graph inputs stay even when nothing reads them: they are the graph's signature, which
the golden model, the manifest and ``terrazzo run`` check the given tensors against,
so a caller passes the same tensors whatever the graph's body does with them.
"""

import warnings

from .ir import Graph, Input, operands

__all__ = ["DeadNodeWarning", "drop_dead_nodes"]

# Names a warning quotes; the rest are counted (all are in DeadNodeWarning.nodes).
_SHOWN = 8


class DeadNodeWarning(UserWarning):
    """Nodes of graph ``graph`` that no output reads were dropped.

    Members
    -------
    graph : str
        The name of the graph.
    nodes : tuple of str
        The names of the nodes dropped, in the graph's order.
    """

    def __init__(self, graph, nodes):
        # the members are the arguments, so that copies (pickled, or rebuilt by a test
        # runner from its args) are whole
        super().__init__(graph, tuple(nodes))
        self.graph = graph
        self.nodes = tuple(nodes)

    def __str__(self):
        count, more = len(self.nodes), len(self.nodes) - _SHOWN
        shown = ", ".join(repr(n) for n in self.nodes[:_SHOWN])
        return (f"graph {self.graph!r}: dropped {count} node{'s' if count != 1 else ''} "
                f"that no output reads: {shown}" + (f" and {more} more" if more > 0 else ""))


def drop_dead_nodes(g):
    """``g`` without the nodes that no output reads, directly or through other nodes;
    its :class:`~compiler.nodes.Input` nodes all stay. Warns with a
    :class:`DeadNodeWarning` naming the nodes dropped; returns ``g`` itself (and warns
    nothing) when there are none.

    ``g`` must be checked already (:func:`compiler.passes.infer`): every node it names
    exists. The walk uses a stack, not recursion, so deep graphs are fine."""
    live = set(g.outputs.values())
    stack = list(live)
    while stack:
        for dep in operands(g.nodes[stack.pop()]):
            if dep not in live:
                live.add(dep)
                stack.append(dep)
    dead = [n for n, node in g.nodes.items() if n not in live and not isinstance(node, Input)]
    if not dead:
        return g
    warnings.warn(DeadNodeWarning(g.name, dead), stacklevel=2)
    gone = set(dead)
    return Graph(g.name, [node for n, node in g.nodes.items() if n not in gone], g.outputs)
