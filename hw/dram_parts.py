"""The parts of a DRAM unit's engines: the run generator (the counter chain or the
index stream), the burst splitter (runs into AXI4 bursts within 4 KiB), and the beat
unpacker and packer between AXI4 beats and the fabric's vector or scalar streams."""

from amaranth.hdl import Module, Signal, Const, Cat, Mux, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .dram_layouts import (PAGE_BYTES, WORD_ADDR_BITS, ceil_log2, beat_layout, burst_layout,
                           engine_layout)
from .layouts import WORD, bits_for
from .links import link_signature, vector_layout

__all__ = ["RunGenerator", "BurstSplitter", "BeatUnpacker", "BeatPacker"]


# -- word shifters ---------------------------------------------------------------------

def _shift_down(value, amount, elem_bits):
    """``value`` moved ``amount`` elements of ``elem_bits`` towards bit 0, zeros in."""
    value = Cat(value)
    width = len(value)
    for k in range(len(amount)):
        value = Mux(amount[k], (value >> (elem_bits << k))[:width], value)
    return value


def _shift_up(value, amount, elem_bits, width):
    """``value`` moved ``amount`` elements of ``elem_bits`` away from bit 0, zeros in,
    cut to ``width`` bits."""
    value = Cat(value, Const(0, width - len(Cat(value))))
    for k in range(len(amount)):
        value = Mux(amount[k], (value << (elem_bits << k))[:width], value)
    return value


def _first(count, n, elem_bits):
    """A mask of ``n`` elements of ``elem_bits`` whose elements below ``count`` are set."""
    return Cat(*((count > j).replicate(elem_bits) for j in range(n)))


# -- parts -----------------------------------------------------------------------------

class RunGenerator(wiring.Component):
    """The start word address of each run of an engine, in order.

    Counter ``k`` counts ``0 .. extents[k] - 1``, counter 0 fastest. A run starts at
    ``base + sum(i_k * strides[k])`` words, or when ``indexed`` at ``base + idx`` with
    ``idx`` the next word of the index stream (one per iteration); both modulo 2**30.
    The sum is kept as one partial sum per level, so no multiplier is built.

    Ports
    -----
    cfg : In(engine_layout(p))
        Held stable while running.
    restart : In(1)
        Go back to the first run; ``done`` stays high if an extent is 0.
    idx : In(link_signature(p, "scalar"))
        Run offsets in words (indexed mode only).
    runs : Out(stream.Signature(unsigned(30)))
    done : Out(1)
        Every run has been handed on.
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":     In(engine_layout(p)),
            "restart": In(1),
            "idx":     In(link_signature(p, "scalar")),
            "runs":    Out(stream.Signature(unsigned(WORD_ADDR_BITS))),
            "done":    Out(1, init=1),
        })

    def elaborate(self, platform):
        p, cfg = self._p, self.cfg
        m = Module()
        count = [Signal(WORD, name=f"count{k}") for k in range(p.counters)]
        # partial[k]: sum over j >= k of i_j * strides[j], where level k's runs start
        partial = [Signal(WORD_ADDR_BITS, name=f"partial{k}") for k in range(p.counters)]
        last = [Signal(name=f"last{k}") for k in range(p.counters)]
        for k in range(p.counters):
            m.d.comb += last[k].eq(count[k] + 1 >= cfg.extents[k])
        offset = Mux(cfg.indexed, self.idx.payload, partial[0])
        m.d.comb += [
            self.runs.valid.eq(~self.done & (~cfg.indexed | self.idx.valid)),
            self.runs.payload.eq(cfg.base + offset),
            self.idx.ready.eq(~self.done & cfg.indexed & self.runs.ready),
        ]
        with m.If(self.restart):
            m.d.sync += [c.eq(0) for c in count] + [s.eq(0) for s in partial]
            m.d.sync += self.done.eq(Cat(*(cfg.extents[k] == 0
                                           for k in range(p.counters))).any())
        with m.Elif(self.runs.valid & self.runs.ready):
            carry = Const(1)
            for k in range(p.counters):
                step = Signal(WORD_ADDR_BITS, name=f"step{k}")
                m.d.comb += step.eq(partial[k] + cfg.strides[k])
                with m.If(carry & ~last[k]):
                    m.d.sync += count[k].eq(count[k] + 1)
                    m.d.sync += [count[j].eq(0) for j in range(k)]
                    m.d.sync += [partial[j].eq(step) for j in range(k + 1)]
                carry = carry & last[k]
            with m.If(carry):
                m.d.sync += self.done.eq(1)
        return m


class BurstSplitter(wiring.Component):
    """Cuts runs into AXI4 bursts, one burst per cycle (:func:`bursts` is its reference).

    Ports
    -----
    run : In(unsigned(30))
        Words per run (held stable while running); a run of 0 words gives no burst.
    runs : In(stream.Signature(unsigned(30)))
        Start word address of each run.
    bursts : Out(stream.Signature(burst_layout(p)))
    idle : Out(1)
        No run is being cut.
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "run":    In(unsigned(WORD_ADDR_BITS)),
            "runs":   In(stream.Signature(unsigned(WORD_ADDR_BITS))),
            "bursts": Out(stream.Signature(burst_layout(p))),
            "idle":   Out(1),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        beat, lb = p.dram_beat, ceil_log2(p.dram_beat)
        page = PAGE_BYTES // (4 * beat)
        word = Signal(WORD_ADDR_BITS)    # first word of the run not yet in a burst
        left = Signal(WORD_ADDR_BITS)    # words of the run not yet in a burst
        active = Signal()
        lo = word[:lb] if lb else Const(0, 1)
        room = Signal(range(page + 1))   # beats to the next 4 KiB boundary
        cap = Signal(range(max(page, p.dram_burst) + 1))
        span = Signal(WORD_ADDR_BITS + 1)
        fits = Signal()                  # the rest of the run fits in this burst
        beats = Signal(range(p.dram_burst + 1))
        m.d.comb += [
            room.eq(page - word[lb:ceil_log2(page) + lb]),
            cap.eq(Mux(room < p.dram_burst, room, p.dram_burst)),
            span.eq(lo + left),
            fits.eq(span <= (cap << lb)),
            beats.eq(Mux(fits, (span + beat - 1) >> lb, cap)),
        ]
        out = self.bursts.payload
        m.d.comb += [
            out.addr.eq(Cat(Const(0, 2 + lb), word[lb:])),
            out.len.eq(beats - 1),
            out.lo.eq(lo),
            out.hi.eq(Mux(fits, (span - 1)[:lb] if lb else 0, beat - 1)),
            out.last.eq(fits),
            self.bursts.valid.eq(active),
            self.idle.eq(~active),
        ]
        take = self.bursts.valid & self.bursts.ready
        m.d.comb += self.runs.ready.eq(~active | (take & fits))
        with m.If(self.runs.valid & self.runs.ready):
            m.d.sync += [word.eq(self.runs.payload), left.eq(self.run),
                         active.eq(self.run != 0)]
        with m.Elif(take):
            with m.If(fits):
                m.d.sync += active.eq(0)
            with m.Else():
                m.d.sync += [left.eq(span - (cap << lb)),
                             word.eq(Cat(Const(0, lb), word[lb:] + cap))]
        return m


class BeatUnpacker(wiring.Component):
    """Read beats to vectors (or words): the words ``lo .. hi`` of each beat, packed in
    order into vectors of ``lanes``; a run's last vector is zero-padded.

    One beat in and one vector (or word) out per cycle. The buffer holds
    ``lanes + dram_beat`` words, zero past the ones it holds.

    Ports
    -----
    scalar : In(1)
        Hand on one word at a time (in lane 0), not vectors.
    beats : In(stream.Signature(beat_layout(p)))
    out : Out(stream.Signature(vector_layout(p.lanes)))
    empty : Out(1)
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "scalar": In(1),
            "beats":  In(stream.Signature(beat_layout(p))),
            "out":    Out(stream.Signature(vector_layout(p.lanes))),
            "empty":  Out(1),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        lanes, beat = p.lanes, p.dram_beat
        size = lanes + beat
        buf = Signal(size * WORD)
        fill = Signal(range(size + 1))
        end = Signal()                   # the last word held ends a run
        take = Mux(self.scalar, 1, lanes)
        m.d.comb += [
            self.out.valid.eq((fill >= take) | (end & (fill != 0))),
            self.out.payload.eq(buf[:lanes * WORD]),
            self.empty.eq(fill == 0),
        ]
        # after this cycle's output
        pop = self.out.valid & self.out.ready
        fill1 = Signal.like(fill)
        buf1 = Signal.like(buf)
        end1 = Signal()
        m.d.comb += [
            fill1.eq(Mux(pop, Mux(fill > take, fill - take, 0), fill)),
            buf1.eq(Mux(pop, Mux(self.scalar, buf >> WORD, buf >> (lanes * WORD)), buf)),
            end1.eq(end & (fill1 != 0)),
            # a beat never mixes with the words of the run before it
            self.beats.ready.eq(~end1 & (fill1 <= lanes)),
        ]
        head = self.beats.payload
        count = Signal(range(beat + 1))
        m.d.comb += count.eq(head.hi + 1 - head.lo)
        words = _shift_down(head.data, head.lo, WORD) & _first(count, beat, WORD)
        with m.If(self.beats.valid & self.beats.ready):
            m.d.sync += [buf.eq(buf1 | _shift_up(words, fill1, WORD, size * WORD)),
                         fill.eq(fill1 + count), end.eq(head.end)]
        with m.Else():
            m.d.sync += [buf.eq(buf1), fill.eq(fill1), end.eq(end1)]
        return m


class BeatPacker(wiring.Component):
    """Vectors (or words) to write beats with word strobes: the words of a run in order,
    its first word at word ``lo`` of its first beat; padding lanes past the run's end
    are dropped, and the beat positions outside the run are not strobed.

    A run begins when the packer is idle and ``head_valid`` (the W side's queue holds
    the run's first burst); it takes ``run`` words. One beat out per cycle.

    Ports
    -----
    scalar : In(1)
        Take one word (lane 0) per transfer, not a vector.
    run : In(unsigned(30))
        Words per run.
    head_valid, head_lo : In
        The next run may begin; its first word's place in the first beat.
    inp : In(stream.Signature(vector_layout(p.lanes)))
    out : Out(stream.Signature(StructLayout({"data": ..., "strb": dram_beat})))
        ``strb`` bit ``j``: word ``j`` of the beat is written.
    idle : Out(1)
        No run in progress.
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "scalar":     In(1),
            "run":        In(unsigned(WORD_ADDR_BITS)),
            "head_valid": In(1),
            "head_lo":    In(bits_for(p.dram_beat - 1)),
            "inp":        In(stream.Signature(vector_layout(p.lanes))),
            "out":        Out(stream.Signature(data.StructLayout({
                "data": unsigned(WORD * p.dram_beat), "strb": unsigned(p.dram_beat)}))),
            "idle":       Out(1),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        lanes, beat = p.lanes, p.dram_beat
        size = lanes + beat
        buf = Signal(size * WORD)
        held = Signal(size)              # per word: part of the run (strobed)
        fill = Signal(range(size + 1))   # beat positions used, strobed or not
        left = Signal(WORD_ADDR_BITS)    # words of the run still to take
        in_run = Signal()
        flush = in_run & (left == 0)
        m.d.comb += [
            self.out.valid.eq((fill >= beat) | (flush & (fill != 0))),
            self.out.payload.data.eq(buf[:beat * WORD]),
            self.out.payload.strb.eq(held[:beat]),
            self.idle.eq(~in_run),
        ]
        pop = self.out.valid & self.out.ready
        begin = ~in_run & self.head_valid
        # after this cycle's output, with a beginning run set up
        fill0 = Signal.like(fill)
        left0 = Signal.like(left)
        buf0, held0 = Signal.like(buf), Signal.like(held)
        m.d.comb += [
            fill0.eq(Mux(begin, self.head_lo, Mux(pop, Mux(fill > beat, fill - beat, 0), fill))),
            left0.eq(Mux(begin, self.run, left)),
            buf0.eq(Mux(pop, buf >> (beat * WORD), buf)),
            held0.eq(Mux(pop, held >> beat, held)),
            self.inp.ready.eq((in_run | begin) & (left0 != 0) & (fill0 <= beat)),
        ]
        count = Signal(range(lanes + 1))
        m.d.comb += count.eq(Mux(self.scalar, 1, Mux(left0 < lanes, left0, lanes)))
        words = Cat(self.inp.payload) & _first(count, lanes, WORD)
        with m.If(self.inp.valid & self.inp.ready):
            m.d.sync += [
                buf.eq(buf0 | _shift_up(words, fill0, WORD, size * WORD)),
                held.eq(held0 | _shift_up(_first(count, lanes, 1), fill0, 1, size)),
                fill.eq(fill0 + count), left.eq(left0 - count),
            ]
        with m.Else():
            m.d.sync += [buf.eq(buf0), held.eq(held0), fill.eq(fill0), left.eq(left0)]
        with m.If(begin):
            m.d.sync += in_run.eq(1)
        with m.Elif(flush & pop & (fill <= beat)):
            m.d.sync += in_run.eq(0)
        return m
