"""Inclusive prefix sum: ``y[i] = x[0] + ... + x[i]``."""

from compiler.ir import Graph

SIZES = {"default": {"n": 4096}, "small": {"n": 100}}


def build(n=4096):
    g = Graph("prefix_sum")
    x = g.input("x", (n,))
    g.output("y", g.scan("add", x))
    return g


def inputs(rng, n=4096):
    return {"x": rng.integers(-2**31, 2**31, n)}
