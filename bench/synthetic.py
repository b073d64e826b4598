"""Synthetic pattern graphs of a given size for compile-time benchmarks."""

import random

from compiler.ir import Graph

__all__ = ["synthetic_graph"]

_OPS = ["add", "sub", "xor", "max", "min", "and", "or"]


def synthetic_graph(nodes, *, chains=4, length=256, seed=0):
    """About ``nodes`` pattern nodes: ``chains`` input streams, each a pipeline of
    elementwise maps (which fuse) broken by prefix scans (each a kernel of its own), the
    chains meeting pairwise, reduced to one output per chain."""
    rng = random.Random(seed)
    g = Graph(f"synthetic{nodes}")
    values = [g.input(f"x{k}", (length,)) for k in range(chains)]
    count = chains
    while count < nodes - 2 * chains:
        k = rng.randrange(chains)
        roll = rng.random()
        if roll < 0.2:
            values[k] = g.scan("add", values[k])
        elif roll < 0.3:
            other = values[(k + 1) % chains]
            values[k] = g.map(rng.choice(_OPS), values[k], other)
        else:
            values[k] = g.map(rng.choice(_OPS), values[k], rng.randrange(1, 100))
        count += 1
    for k, v in enumerate(values):
        g.output(f"y{k}", g.reduce("add", v))
    return g
