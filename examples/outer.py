"""Outer product: ``c[i, j] = a[i] * b[j]`` (a read as scalars, b re-read per row)."""

from compiler.ir import Graph

SIZES = {"default": {"m": 32, "n": 64}, "small": {"m": 5, "n": 11}}


def build(m=32, n=64):
    g = Graph("outer")
    a = g.input("a", (m,))
    b = g.input("b", (n,))
    g.output("c", g.outer(a, b))
    return g


def inputs(rng, m=32, n=64):
    return {"a": rng.integers(-2**31, 2**31, m), "b": rng.integers(-2**31, 2**31, n)}
