"""The first compiler passes, each a function ``Graph -> Graph``.

* :func:`infer` checks the whole graph and orders its nodes topologically;
* :func:`decompose` expands composites into :class:`~compiler.ir.View`,
  :class:`~compiler.ir.Map` and :class:`~compiler.ir.Reduce` nodes;
* :func:`~compiler.floats.lower_floats` makes the generic ops of float maps and
  reductions floating-point ops;
* :func:`fuse` merges chains of maps and composes views of views;
* :func:`pipeline` runs them in order.

Passes never modify their input graph. Each result prints with
:meth:`~compiler.ir.Graph.to_text`.
"""

from .composites import expand
from .deadnodes import drop_dead_nodes
from .errors import CompileError
from .floats import lower_floats
from .ir import (Arg, Input, View, Map, Composite, Graph, MAX_EXPR_DEPTH, check_name,
                 contiguous_strides, fold_expr, operands, substitute)

__all__ = ["infer", "decompose", "fuse", "pipeline", "compose_views"]


def infer(g):
    """Check every node of ``g`` and return it with its nodes in topological order.

    Checks node and output names, references to missing nodes, cycles, dtypes, shapes,
    op arities and axes. Raises :class:`CompileError` naming the node at fault.
    """
    if not isinstance(g, Graph):
        raise CompileError(f"expected a Graph, not {g!r}")
    check_name(g.name, "graph name")
    for key, node in g.nodes.items():
        check_name(key)
        if getattr(node, "name", None) != key:
            raise CompileError(f"is stored under a different name: {node!r}", key)
    if not g.outputs:
        raise CompileError(f"graph {g.name!r} has no outputs")
    for out, ref in g.outputs.items():
        check_name(out, "output name")
        if not isinstance(ref, str) or ref not in g.nodes:
            raise CompileError(f"output {out!r} refers to {ref!r}, which is not a node "
                               f"of the graph")
    order = g.topological_order()
    for name in order:
        g.type_of(name)
    return Graph(g.name, [g.nodes[n] for n in order], g.outputs)


class _Namer:
    """Fresh names ``base.suffix`` that are unique in the graph being built."""

    def __init__(self, taken):
        self.taken = set(taken)

    def __call__(self, base, suffix):
        name, i = f"{base}.{suffix}", 1
        while name in self.taken:
            name, i = f"{base}.{suffix}{i}", i + 1
        self.taken.add(name)
        return name


def decompose(g):
    """Expand every :class:`~compiler.ir.Composite` into views, maps and reductions.

    Each composite expands as its :data:`~compiler.composites.COMPOSITES` entry says.
    The composite's own name goes to the node computing its result, so outputs and
    readers are unchanged; new nodes are named ``<composite>.<role>``. For example
    ``matmul(A[M,K], B[K,N])`` becomes ``Reduce(add, Map(mul, View(A,[M,K,N],(K,1,0)),
    View(B,[M,K,N],(0,N,1))), axis=1)`` with nodes ``.a``, ``.b`` and ``.mul``.
    """
    fresh = _Namer(g.nodes)
    out = []
    for node in g.nodes.values():
        if isinstance(node, Composite):
            types = [g.type_of(n) for n in node.inputs]
            out.extend(expand(node, [t.shape for t in types], fresh,
                              [t.dtype for t in types]))
        else:
            out.append(node)
    return Graph(g.name, out, g.outputs)


def _unravel(flat, shape):
    """Row-major coordinates of ``flat``; the first one is not wrapped, so that
    raveling them always gives ``flat`` back, even out of range."""
    if not shape:
        return ()
    idx = []
    for d in reversed(shape[1:]):
        idx.append(flat % d)
        flat //= d
    return (flat,) + tuple(reversed(idx))


def compose_views(outer, inner):
    """``outer`` (a view of ``inner``) as one view of ``inner``'s input, or ``None``.

    Returns ``None`` when the composition is not affine, that is when ``outer``'s walk
    over ``inner``'s row-major elements does not map to a strided walk of ``inner``'s
    input (reading a transposed tensor as flat, for example).
    """
    shape1, rm1 = inner.shape, contiguous_strides(inner.shape)
    base = _unravel(outer.offset, shape1)
    steps = []
    for n, s in zip(outer.shape, outer.strides):
        if n == 1 or s == 0:
            steps.append((0,) * len(shape1))
            continue
        step = tuple(a - b for a, b in zip(_unravel(outer.offset + s, shape1), base))
        if sum(u * c for u, c in zip(step, rm1)) != s:
            return None
        steps.append(step)
    # The walk base + sum(idx[d] * step[d]) must stay inside inner's index box for
    # every idx; then its row-major address is offset + sum(idx[d] * stride[d]).
    for j, m in enumerate(shape1):
        lo = base[j] + sum(min(0, (n - 1) * st[j]) for n, st in zip(outer.shape, steps))
        hi = base[j] + sum(max(0, (n - 1) * st[j]) for n, st in zip(outer.shape, steps))
        if lo < 0 or hi > m - 1:
            return None
    offset = inner.offset + sum(b * s for b, s in zip(base, inner.strides))
    strides = tuple(sum(u * s for u, s in zip(st, inner.strides)) for st in steps)
    return View(outer.name, inner.input, outer.shape, offset, strides)


# The most nodes (calls, arguments and immediates, counted as a tree) a fused expression
# may have. The text and JSON forms spell an expression out as a tree, and a map that
# reads its input twice doubles that tree at every fusion (x * x, then that squared...),
# so without a bound a short chain could print as millions of nodes. The bound is
# ten times the stages of the largest preset fabric (plasticine: 64 PCUs of 6
# stages); kernels that fit a fabric come nowhere near it.
_MAX_FUSED_NODES = 4096


def fuse(g):
    """Merge elementwise chains and compose views, until nothing changes.

    A :class:`~compiler.ir.Map` that reads another map with no other reader and that
    is not a graph output inlines that map's expression and reads its inputs instead,
    unless the result would be nested more than :data:`~compiler.ir.MAX_EXPR_DEPTH`
    deep or have more than ``_MAX_FUSED_NODES`` nodes: then the producer stays a map
    of its own (a kernel of its own, later), and the chain continues after it.
    A :class:`~compiler.ir.View` of a view becomes one view of the inner view's input
    when that is affine (see :func:`compose_views`). Nodes left without readers by
    this are removed; nodes that had no readers in ``g`` stay.
    """
    while True:
        fused, changed = _fuse_once(g)
        if not changed:
            return fused
        g = fused


def _measure(expr, inlined):
    """``(depth, nodes)`` of ``expr`` as a tree once each argument ``i`` in ``inlined`` is
    replaced by an expression of ``inlined[i]`` (its own depth and nodes)."""
    def leaf(e):
        return inlined.get(e.index, (0, 1)) if isinstance(e, Arg) else (0, 1)

    def call(e, sizes):
        return (1 + max((d for d, _ in sizes), default=0), 1 + sum(n for _, n in sizes))
    return fold_expr(expr, leaf, call)


def _fits(size):
    depth, nodes = size
    return depth <= MAX_EXPR_DEPTH and nodes <= _MAX_FUSED_NODES


class _Fusion:
    """One pass of :func:`fuse` over ``g``: ``new`` holds the nodes rewritten so far."""

    def __init__(self, g):
        self.users = g.consumers()
        self.outputs = set(g.outputs.values())
        self.new = {}
        self.sizes = {}             # fused map -> (depth, nodes) of its expression
        self.changed = False

    def fusible(self, src, reader):
        prod = self.new.get(src)
        return (isinstance(prod, Map) and self.users[src] == [reader]
                and src not in self.outputs)

    def map(self, node):
        """``node`` with the producers it may inline inlined."""
        chosen = {}
        size = _measure(node.expr, chosen)
        for i, src in enumerate(node.inputs):
            if self.fusible(src, node.name):
                trial = _measure(node.expr, {**chosen, i: self.sizes[src]})
                if _fits(trial):
                    chosen[i], size = self.sizes[src], trial
        inputs, mapping = [], {}

        def slot(name):
            if name not in inputs:
                inputs.append(name)
            return Arg(inputs.index(name))

        for i, src in enumerate(node.inputs):
            if i in chosen:
                prod = self.new[src]
                mapping[i] = _renumber(prod.expr, [slot(n) for n in prod.inputs])
            else:
                mapping[i] = slot(src)
        self.sizes[node.name] = size
        if not chosen and tuple(inputs) == node.inputs:
            return node
        self.changed = True
        return Map(node.name, tuple(inputs), _renumber(node.expr, list(mapping.values())))

    def view(self, node):
        composed = compose_views(node, self.new[node.input])
        if composed is None:
            return node
        self.changed = True
        return composed


def _renumber(expr, args):
    """``expr`` with ``Arg(i)`` replaced by ``args[i]``; ``expr`` itself when that
    changes nothing."""
    if all(a == Arg(i) for i, a in enumerate(args)):
        return expr
    return substitute(expr, dict(enumerate(args)))


def _fuse_once(g):
    """One pass of fusion: the new graph and whether it differs from ``g``."""
    f = _Fusion(g)
    for node in g.nodes.values():
        if isinstance(node, Map):
            node = f.map(node)
        elif isinstance(node, View) and isinstance(f.new.get(node.input), View):
            node = f.view(node)
        f.new[node.name] = node
    # Remove what fusion left unread, and what that leaves unread in turn; nodes the
    # input graph left unread stay.
    readers = {n: len(r) for n, r in Graph(g.name, f.new.values()).consumers().items()}

    def removable(n):
        return (readers[n] == 0 and f.users[n] and n not in f.outputs
                and not isinstance(f.new[n], Input))

    dead, work = set(), [n for n in f.new if removable(n)]
    while work:
        n = work.pop()
        dead.add(n)
        for dep in dict.fromkeys(operands(f.new[n])):
            if dep not in readers:
                continue
            readers[dep] -= 1
            if removable(dep):
                work.append(dep)
    nodes = [node for n, node in f.new.items() if n not in dead]
    return Graph(g.name, nodes, g.outputs), f.changed or bool(dead)


def pipeline(g):
    """``infer -> drop_dead_nodes -> decompose -> infer -> lower_floats -> fuse``."""
    return fuse(lower_floats(infer(decompose(drop_dead_nodes(infer(g))))))
