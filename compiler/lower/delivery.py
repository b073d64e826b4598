"""Operand delivery: for each operand of a kernel, its producer's stream or a PMU.

An operand is fed directly when the sequence of (address, valid lanes) transfers the
kernel pops equals the sequence the stream carries; both are loop nests, compared in
closed form (:mod:`.sequences`).
Otherwise (and always for constants) it goes through a PMU, planned by
:mod:`.buffering`; so does a tensor that the kernel reads beside a reduction of it
(``x - max(x)``), which a direct read would deadlock. A tensor that fills a PMU of a kernel is not also fed directly to
that kernel: the PMU waits for its buffer to fill while the direct branch would stall
the stream's fork.
"""

import math
from dataclasses import dataclass

from ..errors import CompileError
from ..ir import Const, Input, Iota
from .buffering import Buffer, plan_buffer
from .offchip import DramRead, plan_dram_read
from .plans import Stream
from .sequences import Dim, Walk

__all__ = ["Feed", "Delivery", "plan_delivery", "pick_stream", "stream_walk", "operand_walk"]

# An operand popped more often than this is not fed directly: it goes through a PMU,
# which takes it when it is read slab by slab and refuses it otherwise. The bound was
# set when sequences were compared by enumerating them (a million transfers took about
# a second); they are compared in closed form now, at no cost, and the bound stays
# so that a graph keeps getting the same units (a [16384, 2048] add on plasticine
# gets two double-buffered PMUs).
_MAX_DIRECT_POPS = 1 << 20


@dataclass(frozen=True)
class Feed:
    """How one operand of a kernel reaches it: ``how`` is ``direct`` (from ``stream``),
    ``pmu`` (through ``buffer``), ``dram`` (a DRAM unit's ``dram`` read of a graph input)
    or ``counter`` (an iota: a loop counter, no input)."""
    tensor: str
    how: str
    stream: Stream = None
    buffer: Buffer = None
    dram: DramRead = None

    def to_text(self):
        if self.how == "direct":
            src = self.stream.source
            return f"{self.tensor}: direct from {src[0]}.{src[1]} {self.stream.order}"
        if self.how == "pmu":
            return f"{self.tensor}: {self.buffer.to_text()}"
        if self.how == "dram":
            return f"{self.tensor}: {self.dram.to_text()}"
        return f"{self.tensor}: counter"


@dataclass(frozen=True)
class Delivery:
    """The delivery plan of kernel ``kernel``: one :class:`Feed` per operand, in order."""
    kernel: str
    feeds: tuple

    def to_text(self):
        lines = [f"delivery {self.kernel}"]
        lines += [f"  ${i} {f.to_text()}" for i, f in enumerate(self.feeds)]
        return "\n".join(lines) + "\n"


def plan_delivery(kernel, streams, tensors, p, dram_free=0):
    """The :class:`Delivery` of ``kernel`` on fabric ``p``, given the ``streams``
    (``{tensor: [Stream]}``) of the tensors lowered so far and ``tensors`` (a
    :class:`~.tensors.Tensors`). Only reads its arguments.

    An operand that no PMU can hold or address reads its tensor from DRAM instead when
    it is a graph input or a constant of the graph, a load engine can walk it
    (:func:`.offchip.plan_dram_read`) and one of the ``dram_free`` DRAM units left
    takes it.

    Raises :class:`CompileError` when an operand reads a tensor that has no stream yet
    or that no PMU can hold or address (see :func:`~.buffering.plan_buffer`) and DRAM
    cannot take."""
    lanes = p.lanes
    direct = {}
    for i, o in enumerate(kernel.operands):
        if isinstance(tensors.node(o.tensor), (Const, Iota)):
            continue
        available = streams.get(o.tensor)
        if available is None:
            raise CompileError(f"tensor {o.tensor!r} is used before it is computed",
                               node=kernel.name)
        want = "scalar" if o.kind == "scalar" else "rows"
        pops = operand_walk(o, kernel.loops, lanes)
        if pops.length > _MAX_DIRECT_POPS:
            continue
        for s in available:
            if s.order == want and pops.key() == stream_walk(s, lanes).key():
                direct[i] = s
                break
    # A tensor read directly beside a reduction of itself (x - max(x)) would stall its
    # fork: the reduction's result needs the whole slice, which the reader holds back
    # until that result arrives. Such a tensor goes through a PMU, which takes slices
    # while the reader waits.
    for i in list(direct):
        t = kernel.operands[i].tensor
        if any(o.tensor != t and tensors.reduces(o.tensor, t) for o in kernel.operands):
            del direct[i]
    buffered = {o.tensor for i, o in enumerate(kernel.operands)
                if i not in direct and o.kind != "counter"}
    for i in list(direct):
        if kernel.operands[i].tensor in buffered:
            del direct[i]
    feeds = []
    for i, o in enumerate(kernel.operands):
        if o.kind == "counter":
            feeds.append(Feed(o.tensor, "counter"))
        elif i in direct:
            feeds.append(Feed(o.tensor, "direct", stream=direct[i]))
        else:
            node = tensors.node(o.tensor)
            stream = None if isinstance(node, Const) else pick_stream(streams[o.tensor])
            try:
                feeds.append(Feed(o.tensor, "pmu", buffer=plan_buffer(kernel, o, stream,
                                                                     tensors, p)))
            except CompileError:
                read = None
                if dram_free > 0 and (isinstance(node, Input) or (
                        isinstance(node, Const) and tensors.in_graph(o.tensor))):
                    read = plan_dram_read(o, operand_walk(o, kernel.loops, lanes),
                                          math.prod(tensors.shape(o.tensor) or (1,)), p)
                if read is None:
                    raise
                feeds.append(Feed(o.tensor, "dram", dram=read))
                dram_free -= 1
    return Delivery(kernel.name, tuple(feeds))


def pick_stream(streams):
    """The stream a PMU stores, of the ones a tensor travels on: rows, else lane 0, else
    scalars."""
    for order in ("rows", "lane0", "scalar"):
        for s in streams:
            if s.order == order:
                return s
    raise AssertionError(streams)


def stream_walk(stream, lanes):
    """The transfers a stream carries: rows padded to whole vectors, or one element a
    transfer (lane 0 and scalar)."""
    shape = stream.shape or (1,)
    size = math.prod(shape)
    if stream.order == "rows":
        width = shape[-1]
        vectors = -(-width // lanes)
        return Walk(0, (Dim(vectors, lanes, (lanes, width - lanes * (vectors - 1))),
                        Dim(size // width, width)))
    return Walk(0, (Dim(size, 1),))


def operand_walk(o, loops, lanes):
    """The transfers the kernel pops for operand ``o``: one per iteration of the loops
    above its pop level (the vectorised loop counts vectors)."""
    dims = []
    for lp in loops[o.level:]:
        stride = o.strides[lp.dim]
        if lp.vector:
            count = -(-lp.extent // lanes)
            valid = (lanes, lp.extent - lanes * (count - 1)) if o.kind == "vector" else (1, 1)
            dims.append(Dim(count, stride * lanes, valid))
        else:
            dims.append(Dim(lp.extent, stride))
    return Walk(o.offset, tuple(dims))
