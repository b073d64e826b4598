"""Matrix product ``C = A @ B``: A read as scalars, B rows as vectors, one per-lane
accumulator per output vector."""

from compiler.ir import Graph

SIZES = {"default": {"m": 16, "k": 32, "n": 32}, "small": {"m": 3, "k": 5, "n": 10}}


def build(m=16, k=32, n=32):
    g = Graph("gemm")
    a = g.input("A", (m, k))
    b = g.input("B", (k, n))
    g.output("C", g.matmul(a, b))
    return g


def inputs(rng, m=16, k=32, n=32):
    return {"A": rng.integers(-2**31, 2**31, (m, k)), "B": rng.integers(-2**31, 2**31, (k, n))}
