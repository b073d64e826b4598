"""PMU planning: how a virtual PMU stores a tensor and reads it back in a kernel's order.

The writer stores the producer's stream as it comes (rows, lane 0 or scalars), or the
tensor is a constant loaded as init data. The reader replays it with an affine address
generator, one transfer per iteration of the operand's live loops (those above its pop
level). When the kernel reads the tensor slab by slab in the order it is produced (see
:func:`slab_split`) the PMU is double-buffered and only two slabs need to fit;
otherwise the whole tensor must fit one PMU.
"""

import math
from dataclasses import dataclass

from hw.layouts import Access
from ..errors import CompileError
from .configs import agen_config, pad
from .plans import Stream, agen_text
from .sequences import Dim, Walk

__all__ = ["SlabSplit", "Agen", "Buffer", "plan_buffer", "slab_split"]

# The inner loops of a candidate slab split are enumerated address by address, repeated
# reads included. Past this many the search gives up and the tensor is stored whole.
# The bound keeps the search cheap; it is the word count of the largest preset PMU
# (plasticine: 16 lanes of 4096 words), twice the largest slab any preset can
# double-buffer.
_MAX_SLAB_ADDRESSES = 1 << 16


@dataclass(frozen=True)
class SlabSplit:
    """The ``inner`` innermost live loops of an operand read one slab of ``words``
    words; the outer loops step from slab to slab."""
    inner: int
    words: int


@dataclass(frozen=True)
class Agen:
    """A PMU address-generator pattern: counter ``k`` runs ``0 .. ends[k]-1`` (stride 1)
    and the address is ``base + sum(strides[k] * ctr[k])``; ``vec`` vectorises counter
    0, ``swap`` is the level at which a buffer is done. ``ends`` and ``strides`` have
    one entry per counter of the chain."""
    mode: Access
    ends: tuple
    strides: tuple
    vec: int = 0
    base: int = 0
    swap: int = 0


@dataclass(frozen=True)
class Buffer:
    """A virtual PMU holding ``tensor`` for one operand: ``stream`` is what the writer
    stores (None for a constant, which is ``init`` data instead), ``split`` the slab
    split when double-buffered, ``words`` the words it occupies, ``wr`` and ``rd`` the
    writer's and the reader's patterns."""
    tensor: str
    stream: Stream
    split: SlabSplit
    words: int
    init: tuple
    wr: Agen
    rd: Agen

    @property
    def port(self):
        """The PMU output the operand reads."""
        return "vout" if self.rd.mode == Access.VECTOR else "sout"

    def to_text(self):
        src = "init" if self.stream is None else \
            f"from {self.stream.source[0]}.{self.stream.source[1]} {self.stream.order}"
        dbl = "" if self.split is None else \
            f" double slab={self.split.words} inner={self.split.inner}"
        return (f"pmu {src} words={self.words}{dbl} wr={agen_text(agen_config(self.wr))} "
                f"rd={agen_text(agen_config(self.rd))}")


def plan_buffer(kernel, o, stream, tensors, p):
    """The :class:`Buffer` through which operand ``o`` of ``kernel`` is read, storing
    ``stream`` (None when ``o`` reads a constant) on fabric ``p``.

    Raises :class:`CompileError` when the tensor (or, double-buffered, two slabs) does
    not fit a PMU, or when a read stride does not fit the address generator."""
    shape = tensors.shape(o.tensor) or (1,)
    size = math.prod(shape)
    live = kernel.loops[o.level:]
    split = None if stream is None else slab_split(o, live, p.lanes, shape, stream.order)
    if split is None and size > p.pmu_words:
        raise CompileError(f"tensor {o.tensor!r} needs {size} words in a PMU; a PMU "
                           f"holds {p.pmu_words}", node=kernel.name)
    if split is not None and split.words > p.pmu_words // 2:
        raise CompileError(f"tensor {o.tensor!r} is read in slabs of {split.words} words; "
                           f"a double-buffered PMU holds two of {p.pmu_words // 2}",
                           node=kernel.name)
    if stream is None:
        wr = Agen(Access.OFF, (1,) * p.counters, (0,) * p.counters, swap=p.counters)
        init = tuple(tensors.node(o.tensor).values)
    else:
        wr, init = _writer(stream, shape, size, split, p), ()
    rd = _reader(o, live, split, p, kernel.name)
    words = size if split is None else 2 * split.words
    return Buffer(o.tensor, stream, split, words, init, wr, rd)


def _writer(stream, shape, size, split, p):
    """The writer storing ``stream`` in row-major order, one slab a buffer."""
    slab = size if split is None else split.words
    slabs = size // slab
    # The inner counters walk one slab (rows: the vectors of a row, then the rows;
    # lane 0 and scalars: its words), the outermost the slabs. ``swap`` is the level at
    # which one slab is written: 2 after the two slab counters, 1 after the one.
    if stream.order == "rows":
        width = shape[-1]
        ends, strides, swap, mode, vec = (width, slab // width, slabs), (1, width, 0), 2, \
            Access.VECTOR, 1
    elif stream.order == "lane0":
        ends, strides, swap, mode, vec = (1, slab, slabs), (0, 1, 0), 2, Access.VECTOR, 1
    else:
        ends, strides, swap, mode, vec = (slab, slabs), (1, 0), 1, Access.SCALAR, 0
    if split is None:
        swap = p.counters           # one buffer: done when the whole chain wraps
    # unused counters run once and move nothing
    return Agen(mode, tuple(pad(ends, p.counters, 1)), tuple(pad(strides, p.counters, 0)),
                vec, 0, swap)


def _reader(o, live, split, p, node):
    """The reader replaying operand ``o`` over its ``live`` loops."""
    lanes = p.lanes
    ends, strides = [], []
    for k, lp in enumerate(live):
        s = o.strides[lp.dim]
        if split is not None and k >= split.inner:
            s = 0               # the outer loops move through slabs: buffer swaps
        if lp.vector and k == 0 and o.kind == "vector":
            ends.append(lp.extent)
            strides.append(s)
        elif lp.vector:
            ends.append(-(-lp.extent // lanes))
            strides.append(s * lanes)   # the loop counts vectors
        else:
            ends.append(lp.extent)
            strides.append(s)
    vec = 1 if (live and live[0].vector and o.kind == "vector") else 0
    if not ends:
        ends, strides = [1], [0]
    # strides are signed addr_bits + 1 wide: any offset within the PMU, either way
    lim = 1 << p.addr_bits
    for s in strides:
        if abs(s) >= lim:
            raise CompileError(f"address stride {s} of tensor {o.tensor!r} does not fit "
                               f"the PMU address generator", node=node)
    return Agen(Access.VECTOR if o.kind == "vector" else Access.SCALAR,
                tuple(pad(ends, p.counters, 1)), tuple(pad(strides, p.counters, 0)), vec,
                o.offset, p.counters if split is None else split.inner)


def slab_split(o, live, lanes, shape, order):
    """The :class:`SlabSplit` of operand ``o`` over its ``live`` loops when they read the
    tensor (of ``shape``, produced in stream ``order``) slab by slab in its row-major
    order: the inner loops touch exactly the words of one slab (from the slab's
    start), the outer loops step from slab to slab in order, and a slab is whole rows
    of the producer's stream. None when no such split exists."""
    if o.offset != 0 or len(live) < 2:
        return None
    size = math.prod(shape)
    width = shape[-1] if order == "rows" else 1
    for s in range(len(live) - 1, 0, -1):
        inner, outer = live[:s], live[s:]
        touched = _addresses(o, inner, lanes)
        if touched is None:
            return None
        slab = max(touched) + 1
        # more words than addresses read cannot all be touched (and are not listed)
        if slab > len(touched) or set(touched) != set(range(slab)) or slab % width \
                or size % slab:
            continue
        # the slabs must start at 0, slab, 2 * slab, ... in the order the loops run
        bases = Walk(0, tuple(Dim(-(-lp.extent // lanes), o.strides[lp.dim] * lanes)
                              if lp.vector else Dim(lp.extent, o.strides[lp.dim])
                              for lp in outer))
        slabs = size // slab
        if slabs > 1 and bases.key() == Walk(0, (Dim(slabs, slab),)).key():
            return SlabSplit(s, slab)
    return None


def _addresses(o, loops, lanes):
    """Every word address ``o`` reads over ``loops`` (repeats included), None past
    ``_MAX_SLAB_ADDRESSES``."""
    pts = [0]
    for lp in loops:
        stride = o.strides[lp.dim]
        steps = range(0, lp.extent, lanes) if lp.vector else range(lp.extent)
        # a vector operand reads every lane of its vectors: extent words in all
        per_point = lp.extent if lp.vector and o.kind == "vector" else len(steps)
        if len(pts) * per_point > _MAX_SLAB_ADDRESSES:
            return None             # counted before listing them
        if lp.vector and o.kind == "vector":
            pts = [a + j * stride + i for a in pts for j in steps
                   for i in range(min(lanes, lp.extent - j))]
        else:
            pts = [a + j * stride for a in pts for j in steps]
    return pts
