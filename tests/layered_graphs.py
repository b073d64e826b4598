"""Graphs larger than a fabric, for sections. Large random graphs of layers: each node reads tensors of the last few layers, as the
stages of a real program do, so that a graph of thousands of nodes cuts into sections
that each pass a few tensors to the next."""

import random

from compiler.ir import Graph

__all__ = ["layered_graph", "chain"]

_MAP_OPS = ("add", "sub", "xor", "max", "min")


def layered_graph(nodes, *, seed=0, rows=4, width=16, window=3, inputs=2, name="layered"):
    """A graph of ``nodes`` pattern nodes (maps over ``(rows, width)`` tensors and
    row reductions broadcast back) reading only the last ``window`` results, from
    ``inputs`` graph inputs; its last result is the output ``y``. Deterministic in
    ``seed``."""
    rng = random.Random(seed)
    g = Graph(name)
    recent = [g.input(f"x{k}", (rows, width)) for k in range(inputs)]
    made, unread = 0, list(recent)
    while made < nodes:
        # the oldest result no node reads yet goes first, so that none is dead
        window_now = recent[-window:]
        a = next((v for v in unread if any(v is w for w in window_now)),
                 rng.choice(window_now))
        b = rng.choice(window_now)
        unread = [v for v in unread if v is not a and v is not b]
        if rng.random() < 0.3:
            r = g.reduce(rng.choice(("add", "max", "min")), a, axis=-1)
            v = g.map(rng.choice(_MAP_OPS), b, g.broadcast_to(g.reshape(r, (rows, 1)),
                                                               (rows, width)))
            made += 4           # the reduction, the reshape, the broadcast and the map
        else:
            v = g.map(rng.choice(_MAP_OPS), a, b)
            made += 1
        recent.append(v)
        unread.append(v)
    g.output("y", recent[-1])
    return g


def chain(n=12, rows=4, width=16):
    """``n`` rounds of ``x = m - max(m)`` with ``m = x * k + 1``: two kernels a round."""
    g = Graph("chain")
    x = g.input("x", (rows, width))
    for i in range(n):
        m = g.map(lambda a, i=i: a * (i + 2) + 1, x)
        r = g.reduce("max", m, axis=-1)
        x = g.map(lambda a, b: a - b, m, g.broadcast_to(g.reshape(r, (rows, 1)),
                                                       (rows, width)))
    g.output("y", x)
    return g
