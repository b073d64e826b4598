"""Matrix-vector product with the weights in a PMU: ``y = W @ x``."""

import numpy as np

from compiler.ir import Graph

SIZES = {"default": {"m": 32, "k": 64}, "small": {"m": 4, "k": 13}}


def weights(m, k):
    rng = np.random.default_rng(1234)
    return rng.integers(-100, 100, (m, k))


def build(m=32, k=64):
    g = Graph("gemv")
    w = g.const("W", weights(m, k))
    x = g.input("x", (k,))
    g.output("y", g.gemv(w, x))
    return g


def inputs(rng, m=32, k=64):
    return {"x": rng.integers(-2**31, 2**31, k)}
