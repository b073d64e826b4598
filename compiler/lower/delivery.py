"""Operand delivery: for each operand of a kernel, its producer's stream or a PMU.

An operand is fed directly when the sequence of (address, valid lanes) transfers the
kernel pops equals the sequence the stream carries; both are enumerated and compared.
Otherwise (and always for constants) it goes through a PMU, planned by
:mod:`.buffering`. A tensor that fills a PMU of a kernel is not also fed directly to
that kernel: the PMU waits for its buffer to fill while the direct branch would stall
the stream's fork.
"""

import math
from dataclasses import dataclass

from ..errors import CompileError
from ..ir import Const, Iota
from .buffering import Buffer, plan_buffer
from .plans import Stream

__all__ = ["Feed", "Delivery", "plan_delivery", "pick_stream"]

# Comparing sequences enumerates every transfer of both. An operand popped more often
# than this is not compared and goes through a PMU: enumerating a million transfers of
# each sequence already takes about a second, and the streams of kernels that fit the
# preset fabrics are far shorter.
_MAX_COMPARED_POPS = 1 << 20


@dataclass(frozen=True)
class Feed:
    """How one operand of a kernel reaches it: ``how`` is ``direct`` (from ``stream``),
    ``pmu`` (through ``buffer``) or ``counter`` (an iota: a loop counter, no input)."""
    tensor: str
    how: str
    stream: Stream = None
    buffer: Buffer = None

    def to_text(self):
        if self.how == "direct":
            src = self.stream.source
            return f"{self.tensor}: direct from {src[0]}.{src[1]} {self.stream.order}"
        if self.how == "pmu":
            return f"{self.tensor}: {self.buffer.to_text()}"
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


def plan_delivery(kernel, streams, tensors, p):
    """The :class:`Delivery` of ``kernel`` on fabric ``p``, given the ``streams``
    (``{tensor: [Stream]}``) of the tensors lowered so far and ``tensors`` (a
    :class:`~.tensors.Tensors`). Only reads its arguments.

    Raises :class:`CompileError` when an operand reads a tensor that has no stream yet
    or that no PMU can hold or address (see :func:`~.buffering.plan_buffer`)."""
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
        for s in available:
            if s.order != want:
                continue
            seq = _operand_seq(o, kernel.loops, lanes)
            if seq is not None and seq == _stream_seq(s, lanes):
                direct[i] = s
                break
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
            feeds.append(Feed(o.tensor, "pmu", buffer=plan_buffer(kernel, o, stream,
                                                                 tensors, p)))
    return Delivery(kernel.name, tuple(feeds))


def pick_stream(streams):
    """The stream a PMU stores, of the ones a tensor travels on: rows, else lane 0, else
    scalars."""
    for order in ("rows", "lane0", "scalar"):
        for s in streams:
            if s.order == order:
                return s
    raise AssertionError(streams)


def _stream_seq(stream, lanes):
    """The sequence a stream carries: (address, valid lanes) per transfer."""
    shape = stream.shape or (1,)
    size = math.prod(shape)
    if stream.order == "rows":
        width = shape[-1]
        rows = size // width
        return [(r * width + c, min(lanes, width - c))
                for r in range(rows) for c in range(0, width, lanes)]
    return [(i, 1) for i in range(size)]     # lane0 and scalar: one element a transfer


def _operand_seq(o, loops, lanes):
    """The sequence of (address, valid lanes) the kernel pops for operand ``o``, None
    when it is longer than ``_MAX_COMPARED_POPS``."""
    ranges = []
    for lp in loops[o.level:]:
        stride = o.strides[lp.dim]
        if lp.vector:
            ranges.append([(j * stride, min(lanes, lp.extent - j) if o.kind == "vector" else 1)
                           for j in range(0, lp.extent, lanes)])
        else:
            ranges.append([(i * stride, None) for i in range(lp.extent)])
    if not ranges:
        return [(o.offset, 1)]
    total = 1
    for r in ranges:
        total *= len(r)
    if total > _MAX_COMPARED_POPS:
        return None
    out = []

    def rec(k, addr, valid):        # ranges[-1] is the outermost loop
        if k < 0:
            out.append((o.offset + addr, valid if valid is not None else 1))
            return
        for step, v in ranges[k]:
            rec(k - 1, addr + step, v if v is not None else valid)
    rec(len(ranges) - 1, 0, None)
    return out
