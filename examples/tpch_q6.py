"""A TPC-H Q6-style filtered sum: ``sum(price * discount)`` over the rows where
``5 <= discount <= 7`` and ``quantity < 24``."""

from compiler.ir import Graph

SIZES = {"default": {"n": 4096}, "small": {"n": 100}}


def build(n=4096):
    g = Graph("tpch_q6")
    price = g.input("price", (n,))
    disc = g.input("discount", (n,))
    qty = g.input("quantity", (n,))
    keep = g.map(lambda d, q: d.ge(5) & d.le(7) & q.lt(24), disc, qty)
    g.output("revenue", g.reduce("add", g.select(keep, price * disc, 0)))
    return g


def inputs(rng, n=4096):
    return {"price": rng.integers(1, 100000, n), "discount": rng.integers(0, 11, n),
            "quantity": rng.integers(1, 51, n)}
