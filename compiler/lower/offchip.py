"""Tensors in DRAM: a graph input that no PMU can hold for a kernel is read by a
DRAM unit's load engine straight from off-chip memory, in the kernel's order; a tensor
that crosses from one section of a program to a later one is stored by a store engine
and streamed back by a load engine (:func:`stream_read`, :func:`stream_write`).

A load engine moves *runs* of contiguous words, one run per iteration of its counter
chain (:mod:`hw.dram`). An operand's pops are a walk (:func:`.delivery.operand_walk`):
for a vector operand the vectorised loop gives the runs -- all its vectors when it is
the innermost live loop (one run of the row, packed into vectors, the last zero-padded),
else one vector per run, which needs rows of whole vectors -- and the other live loops
become counter levels; a scalar operand pops one word per iteration, a run of one word.
An operand whose walk needs more levels than the chain has, or a stride or extent the
layout cannot hold, has no DRAM read.
"""

import math
from dataclasses import dataclass

from hw.dram import DramMode
from .configs import pad

__all__ = ["DramRead", "DramWrite", "plan_dram_read", "stream_read", "stream_write",
           "dram_config"]

_U32 = 1 << 32
_S32 = 1 << 31
_WORDS = 1 << 30        # words a DRAM unit addresses


@dataclass(frozen=True)
class DramRead:
    """The load of one operand: ``mode`` (:class:`hw.dram.DramMode`), ``run`` words per
    run, ``extents`` and ``strides`` (words) of the counter levels, innermost first,
    ``offset`` the first run's word within the tensor, ``words`` the tensor's size."""
    tensor: str
    mode: DramMode
    run: int
    extents: tuple
    strides: tuple
    offset: int
    words: int

    @property
    def runs(self):
        n = 1
        for e in self.extents:
            n *= e
        return n

    def beats(self, beat, base=0):
        """The AXI4 data beats the read moves with ``beat`` words a beat, the tensor at
        word ``base``: a run covers every beat it touches, so a run that starts part-way
        into a beat may take one more. Counted in closed form from how many runs start
        at each word offset within a beat."""
        starts = [0] * beat          # runs starting at each offset within a beat
        starts[(base + self.offset) % beat] = 1
        for extent, stride in zip(self.extents, self.strides):
            step = stride % beat
            period = beat // math.gcd(step, beat) if step else 1
            shifts = [0] * beat      # how many of the extent's steps shift by each offset
            for j in range(period):
                shifts[(j * step) % beat] += extent // period + (j < extent % period)
            starts = [sum(starts[(r - t) % beat] * shifts[t] for t in range(beat))
                      for r in range(beat)]
        return sum(n * -(-(r + self.run) // beat) for r, n in enumerate(starts))

    def to_text(self):
        return (f"dram {self.mode.name.lower()} run={self.run} extents={list(self.extents)} "
                f"strides={list(self.strides)} offset={self.offset}")


def plan_dram_read(o, walk, size, p):
    """The :class:`DramRead` of operand ``o`` (a tensor of ``size`` words) whose pops are
    ``walk`` (a :class:`~.sequences.Walk`) on fabric ``p``, or None when a load engine
    cannot walk it."""
    dims = list(walk.dims)
    if o.kind == "vector":
        v = next((k for k, d in enumerate(dims) if d.lanes is not None), None)
        if v is None or dims[v].step != p.lanes:
            return None
        d = dims[v]
        row = p.lanes * (d.count - 1) + d.lanes[1]
        if v == 0:
            run = row
            del dims[0]
        elif d.count == 1:
            run = d.lanes[1]
            del dims[v]
        elif d.lanes[1] == p.lanes:
            run = p.lanes
        else:
            return None
        mode = DramMode.VECTOR
    elif o.kind == "scalar":
        run, mode = 1, DramMode.SCALAR
    else:
        return None
    levels = [d for d in dims if d.count > 1]
    if size > _WORDS:
        return None         # past what a DRAM unit addresses
    if len(levels) > p.counters or any(d.count >= _U32 or not -_S32 <= d.step < _S32
                                       for d in levels):
        return None
    return DramRead(o.tensor, mode, run, tuple(d.count for d in levels),
                    tuple(d.step for d in levels), walk.base, size)


class DramWrite(DramRead):
    """The store of one stream to a tensor: the fields of :class:`DramRead`, for the
    store engine (``run`` words taken from the stream per run)."""

    def to_text(self):
        return "store " + super().to_text()


def _whole(cls, tensor, shape, order, lanes):
    """The access of a whole tensor of ``shape`` travelling in stream ``order``: ``rows``
    is a run per row of the last dimension, ``lane0`` a run of one word per vector."""
    shape = tuple(shape) or (1,)
    size = math.prod(shape)
    if order == "rows":
        run, rows = shape[-1], size // shape[-1]
    elif order == "lane0":
        run, rows = 1, size
    else:
        return None
    if rows >= _U32:
        return None
    extents, strides = ((rows,), (run,)) if rows > 1 else ((), ())
    return cls(tensor, DramMode.VECTOR, run, extents, strides, 0, size)


def stream_read(tensor, shape, lanes):
    """The :class:`DramRead` that streams a whole tensor in ``rows`` order, as an edge
    input port carries it."""
    return _whole(DramRead, tensor, shape, "rows", lanes)


def stream_write(tensor, shape, order, lanes):
    """The :class:`DramWrite` that stores a whole tensor arriving in stream ``order``
    (``rows`` or ``lane0``) densely, row-major; None for another order."""
    return _whole(DramWrite, tensor, shape, order, lanes)


def _engine(access, p, base):
    if access is None:
        return {"mode": DramMode.OFF, "indexed": 0, "base": 0, "run": 0,
                "extents": [1] * p.counters, "strides": [0] * p.counters}
    return {"mode": access.mode, "indexed": 0, "base": base + access.offset,
            "run": access.run, "extents": pad(access.extents, p.counters, 1),
            "strides": pad(access.strides, p.counters, 0)}


def dram_config(read, p, base=0, write=None, write_base=0):
    """The ``hw.dram.dram_layout(p)`` dict of a DRAM unit doing ``read`` of a tensor at
    word ``base`` and ``write`` of one at word ``write_base`` (either may be None: that
    engine is off)."""
    return {"load": _engine(read, p, base), "store": _engine(write, p, write_base)}
