"""The first compiler passes, each a function ``Graph -> Graph``.

* :func:`infer` checks the whole graph and orders its nodes topologically;
* :func:`decompose` expands composites into :class:`~compiler.ir.View`,
  :class:`~compiler.ir.Map` and :class:`~compiler.ir.Reduce` nodes;
* :func:`fuse` merges chains of maps and composes views of views;
* :func:`pipeline` runs them in order.

Passes never modify their input graph. Each result prints with
:meth:`~compiler.ir.Graph.to_text`.
"""

from .composites import expand
from .errors import CompileError
from .ir import Arg, Call, Input, View, Map, Composite, Graph, check_name, contiguous_strides

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
            out.extend(expand(node, [g.type_of(n).shape for n in node.inputs], fresh))
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


def _substitute(expr, mapping):
    if isinstance(expr, Arg):
        return mapping[expr.index]
    if isinstance(expr, Call):
        return Call(expr.op, tuple(_substitute(a, mapping) for a in expr.args))
    return expr


def fuse(g):
    """Merge elementwise chains and compose views, until nothing changes.

    A :class:`~compiler.ir.Map` that reads another map with no other reader and that
    is not a graph output inlines that map's expression and reads its inputs instead.
    A :class:`~compiler.ir.View` of a view becomes one view of the inner view's input
    when that is affine (see :func:`compose_views`). Nodes left without readers by
    this are removed; nodes that had no readers in ``g`` stay.
    """
    while True:
        fused = _fuse_once(g)
        if fused == g:
            return fused
        g = fused


def _fuse_once(g):
    users = g.consumers()
    outputs = set(g.outputs.values())
    new = {}
    for node in g.nodes.values():
        if isinstance(node, Map):
            inputs, mapping = [], {}

            def slot(name):
                if name not in inputs:
                    inputs.append(name)
                return Arg(inputs.index(name))

            for i, src in enumerate(node.inputs):
                prod = new.get(src)
                if (isinstance(prod, Map) and users[src] == [node.name]
                        and src not in outputs):
                    mapping[i] = _substitute(prod.expr,
                                             {j: slot(n) for j, n in enumerate(prod.inputs)})
                else:
                    mapping[i] = slot(src)
            node = Map(node.name, tuple(inputs), _substitute(node.expr, mapping))
        elif isinstance(node, View) and isinstance(new.get(node.input), View):
            inner = new[node.input]
            node = compose_views(node, inner) or node
        new[node.name] = node
    fused = Graph(g.name, new.values(), g.outputs)
    # Remove what fusion left unread; nodes the input graph left unread stay.
    while True:
        now = fused.consumers()
        dead = [n for n, node in fused.nodes.items()
                if not now[n] and users[n] and n not in outputs
                and not isinstance(node, Input)]
        if not dead:
            return fused
        fused = Graph(g.name, [v for n, v in fused.nodes.items() if n not in dead],
                      g.outputs)


def pipeline(g):
    """``infer -> decompose -> infer -> fuse``."""
    return fuse(infer(decompose(infer(g))))
