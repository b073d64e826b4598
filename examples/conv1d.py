"""1-D convolution (valid correlation) through unaligned PMU reads:
``y[i] = sum_k x[i + k] * w[k]``."""

import numpy as np

from compiler.ir import Graph

SIZES = {"default": {"n": 256, "taps": 5}, "small": {"n": 30, "taps": 3}}


def build(n=256, taps=5):
    g = Graph("conv1d")
    x = g.input("x", (n,))
    w = g.const("w", np.arange(1, taps + 1) * np.array([1, -1] * taps)[:taps])
    g.output("y", g.conv1d(x, w))
    return g


def inputs(rng, n=256, taps=5):
    return {"x": rng.integers(-2**31, 2**31, n)}
