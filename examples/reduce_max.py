"""Row maxima of a matrix: ``y[i] = max_j x[i, j]``."""

from compiler.ir import Graph

SIZES = {"default": {"m": 16, "n": 256}, "small": {"m": 3, "n": 21}}


def build(m=16, n=256):
    g = Graph("reduce_max")
    x = g.input("x", (m, n))
    g.output("y", g.reduce("max", x, axis=1))
    return g


def inputs(rng, m=16, n=256):
    return {"x": rng.integers(-2**31, 2**31, (m, n))}
