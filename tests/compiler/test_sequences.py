"""Transfer sequences in closed form: a walk's key is equal for two walks exactly when
their enumerated transfers are, and the walks of operands and streams enumerate to
the transfers the kernel pops and the stream carries (reference models here)."""

import itertools
import random

import pytest

from compiler.lower.delivery import operand_walk, stream_walk
from compiler.lower.plans import Loop, Operand, Stream
from compiler.lower.sequences import Dim, Walk


def transfers(walk):
    """Reference: every (address, valid lanes) of ``walk``, enumerated."""
    out = []
    for idx in itertools.product(*(range(d.count) for d in reversed(walk.dims))):
        idx = idx[::-1]             # innermost first, like dims
        addr, valid = walk.base, 1
        for d, i in zip(walk.dims, idx):
            addr += i * d.step
            if d.lanes is not None:
                valid = d.lanes[1] if i == d.count - 1 else d.lanes[0]
        out.append((addr, valid))
    return out


def random_walk(rng):
    """A small walk, drawn so that different walks often give the same sequence."""
    n = rng.randrange(4)
    vector = rng.randrange(n) if n and rng.random() < 0.6 else None
    dims = []
    for k in range(n):
        count, step = rng.choice([1, 2, 2, 3, 4]), rng.choice([-2, -1, 0, 0, 1, 1, 2, 3, 4, 6, 8])
        lanes = None
        if k == vector:
            full = rng.choice([1, 2, 4])
            lanes = (full, rng.randrange(1, full + 1))
        dims.append(Dim(count, step, lanes))
    return Walk(rng.choice([0, 0, 1]), tuple(dims))


def test_keys_are_equal_exactly_when_sequences_are():
    rng = random.Random(7)
    keys_of, seqs_of, walks_of = {}, {}, {}
    for _ in range(6000):
        walk = random_walk(rng)
        seq, key = tuple(transfers(walk)), walk.key()
        keys_of.setdefault(seq, set()).add(key)
        seqs_of.setdefault(key, set()).add(seq)
        walks_of.setdefault(seq, set()).add(walk)
        assert walk.length == len(seq)
    assert all(len(keys) == 1 for keys in keys_of.values())
    assert all(len(seqs) == 1 for seqs in seqs_of.values())
    # the sample holds many sequences that several different walks give
    assert sum(len(walks) > 1 for walks in walks_of.values()) > 300


@pytest.mark.parametrize("a, b, same", [
    (Walk(0, (Dim(2, 1), Dim(3, 2))), Walk(0, (Dim(6, 1),)), True),
    (Walk(0, (Dim(2, 0), Dim(3, 0))), Walk(0, (Dim(1, 5), Dim(6, 0))), True),
    (Walk(0, (Dim(2, 1), Dim(3, 3))), Walk(0, (Dim(6, 1),)), False),
    (Walk(0, (Dim(2, 4, (4, 4)), Dim(3, 8))), Walk(0, (Dim(6, 4, (4, 4)),)), True),
    (Walk(0, (Dim(2, 4, (4, 3)), Dim(3, 8))), Walk(0, (Dim(6, 4, (4, 3)),)), False),
    (Walk(5, (Dim(1, 4, (4, 3)),)), Walk(5, ()), False),
    (Walk(5, (Dim(1, 4, (4, 1)),)), Walk(5, ()), True),
])
def test_keys_of_examples(a, b, same):
    assert (a.key() == b.key()) == same == (transfers(a) == transfers(b))


def pops(o, loops, lanes):
    """Reference: what a kernel pops for operand ``o``, loop by loop."""
    live = loops[o.level:]
    counts = [-(-lp.extent // lanes) if lp.vector else lp.extent for lp in live]
    out = []
    for idx in itertools.product(*(range(c) for c in reversed(counts))):
        addr, valid = o.offset, 1
        for lp, i in zip(live, idx[::-1]):
            step = i * lanes if lp.vector else i
            addr += step * o.strides[lp.dim]
            if lp.vector and o.kind == "vector":
                valid = min(lanes, lp.extent - step)
        out.append((addr, valid))
    return out


def carried(stream, lanes):
    """Reference: what a stream carries, rows padded to whole vectors."""
    shape = stream.shape or (1,)
    size = 1
    for d in shape:
        size *= d
    if stream.order != "rows":
        return [(i, 1) for i in range(size)]
    width = shape[-1]
    return [(r * width + c, min(lanes, width - c))
            for r in range(size // width) for c in range(0, width, lanes)]


def test_operand_walks_enumerate_to_the_pops():
    rng = random.Random(3)
    for _ in range(400):
        lanes = rng.choice([1, 4, 8])
        n = rng.randrange(1, 4)
        vdim = n - 1
        loops = [Loop(d, rng.randrange(1, 12), d == vdim) for d in reversed(range(n))]
        rng.shuffle(loops)
        o = Operand("t", rng.randrange(3), tuple(rng.choice([0, 1, 2, 5, -1]) for _ in range(n)),
                    rng.choice(["vector", "scalar"]), rng.randrange(n + 1))
        assert transfers(operand_walk(o, tuple(loops), lanes)) == pops(o, loops, lanes)


def test_walk_text():
    s = Stream("t", (3, 13), "rows", ("u", "vout"))
    assert stream_walk(s, 8).to_text() == "walk @0 2x8v8/5 3x13"
    o = Operand("t", 4, (0, 1), "scalar", 1)
    assert operand_walk(o, (Loop(1, 13, True), Loop(0, 3)), 8).to_text() == "walk @4 3x0"


@pytest.mark.parametrize("shape", [(), (1,), (5,), (8,), (3, 13), (2, 3, 16)])
@pytest.mark.parametrize("order", ["rows", "lane0", "scalar"])
def test_stream_walks_enumerate_to_the_stream(shape, order):
    s = Stream("t", shape, order, ("u", "vout"))
    assert transfers(stream_walk(s, 8)) == carried(s, 8)
