"""A fused elementwise chain: ``y = relu(x * w + b)`` in one PCU."""

from compiler.ir import Graph

SIZES = {"default": {"n": 4096}, "small": {"n": 100}}


def build(n=4096):
    g = Graph("fused_relu")
    x = g.input("x", (n,))
    w = g.input("w", (n,))
    b = g.input("b", (n,))
    g.output("y", g.relu(x * w + b))
    return g


def inputs(rng, n=4096):
    return {k: rng.integers(-2**16, 2**16, n) for k in ("x", "w", "b")}
