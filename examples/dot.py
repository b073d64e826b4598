"""Dot product: ``y = sum(a * b)``."""

from compiler.ir import Graph

SIZES = {"default": {"n": 4096}, "small": {"n": 100}}


def build(n=4096):
    g = Graph("dot")
    a = g.input("a", (n,))
    b = g.input("b", (n,))
    g.output("y", g.reduce("add", a * b))
    return g


def inputs(rng, n=4096):
    return {"a": rng.integers(-2**31, 2**31, n), "b": rng.integers(-2**31, 2**31, n)}
