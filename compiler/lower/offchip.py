"""Operands read from DRAM: a graph input that no PMU can hold for a kernel is read by a
DRAM unit's load engine straight from off-chip memory, in the kernel's order.

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

__all__ = ["DramRead", "plan_dram_read", "dram_config"]

_U32 = 1 << 32
_S32 = 1 << 31


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
    if len(levels) > p.counters or any(d.count >= _U32 or not -_S32 <= d.step < _S32
                                       for d in levels):
        return None
    return DramRead(o.tensor, mode, run, tuple(d.count for d in levels),
                    tuple(d.step for d in levels), walk.base, size)


def dram_config(read, p, base=0):
    """The ``hw.dram.dram_layout(p)`` dict of a DRAM unit doing ``read`` of a tensor at
    word ``base``, its store engine off."""
    off = {"mode": DramMode.OFF, "indexed": 0, "base": 0, "run": 0,
           "extents": [1] * p.counters, "strides": [0] * p.counters}
    load = {"mode": read.mode, "indexed": 0, "base": base + read.offset, "run": read.run,
            "extents": pad(read.extents, p.counters, 1),
            "strides": pad(read.strides, p.counters, 0)}
    return {"load": load, "store": off}
