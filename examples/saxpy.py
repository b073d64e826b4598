"""SAXPY on integers: ``y = 7 * x + y0``."""

from compiler.ir import Graph

SIZES = {"default": {"n": 4096}, "small": {"n": 100}}
ALPHA = 7


def build(n=4096):
    g = Graph("saxpy")
    x = g.input("x", (n,))
    y = g.input("y", (n,))
    g.output("out", x * ALPHA + y)
    return g


def inputs(rng, n=4096):
    return {"x": rng.integers(-2**31, 2**31, n), "y": rng.integers(-2**31, 2**31, n)}
