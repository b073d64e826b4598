"""Sum of squares over a counter, the Plasticine worked example:
``y = sum_{i < n} i * i``. ``i`` comes from the PCU's counter chain: the kernel reads
no memory and no stream, it only counts."""

from compiler.ir import Graph

SIZES = {"default": {"n": 4096}, "small": {"n": 100}}


def build(n=4096):
    g = Graph("sum_squares")
    i = g.iota((n,), name="i")
    g.output("y", g.reduce("add", i * i))
    return g


def inputs(rng, n=4096):
    return {}
