"""DRAM unit: an AXI4 manager that loads patterns of off-chip memory into the fabric's
streams and stores streams back.

See ``docs/hardware.md``, section "DRAM units", for the contract. A unit has a load
engine and a store engine; each walks a pattern of *runs* (contiguous word ranges) with
a counter chain or an index stream (gather/scatter), cuts every run into AXI4 INCR
bursts that never cross a 4 KiB boundary, and moves the words between the bus and a
vector or scalar stream. :func:`run_addresses` and :func:`bursts` are the reference of
what the hardware issues.
"""

import itertools
from functools import lru_cache

from amaranth.hdl import Module, Signal, Const, Cat, Mux, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .layouts import WORD, bits_for
from .links import link_signature, vector_layout

__all__ = ["DramMode", "DramUnit", "LoadEngine", "StoreEngine", "RunGenerator",
           "BurstSplitter", "BeatUnpacker", "BeatPacker", "engine_layout", "dram_layout",
           "burst_layout", "beat_layout", "axi4_read_ports", "axi4_write_ports",
           "axi4_id_ports", "axi4_ports",
           "run_count", "run_addresses", "bursts", "WORD_ADDR_BITS", "PAGE_BYTES"]

#: Bits of a word address: byte addresses are 32 bits, words 4 bytes.
WORD_ADDR_BITS = 30
#: No AXI4 burst may cross a boundary of this many bytes.
PAGE_BYTES = 4096
#: ``arburst`` / ``awburst`` value of an incrementing burst.
BURST_INCR = 0b01


def _log2(n):
    return (n - 1).bit_length()


class DramMode(enum.Enum, shape=2):
    """What an engine of a DRAM unit moves."""
    OFF = 0
    VECTOR = 1  # vectors of ``lanes`` consecutive words of a run, the last one zero-padded
    SCALAR = 2  # one word at a time


@lru_cache(maxsize=None)
def engine_layout(p):
    """Configuration of one engine (load or store) of a DRAM unit.

    ``mode`` (:class:`DramMode`); ``indexed``: run starts come from the index stream
    instead of the counter chain; ``base``: word address; ``run``: words per run (a run
    of 0 words moves nothing); ``extents``: counter ``k`` counts ``0 .. extents[k]-1``
    (counter 0 fastest; 1 leaves a level unused, 0 makes the pattern empty);
    ``strides``: words per step of each counter.
    """
    return data.StructLayout({
        "mode":    DramMode,
        "indexed": 1,
        "base":    unsigned(WORD_ADDR_BITS),
        "run":     unsigned(WORD_ADDR_BITS),
        "extents": data.ArrayLayout(unsigned(WORD), p.counters),
        "strides": data.ArrayLayout(signed(WORD), p.counters),
    })


@lru_cache(maxsize=None)
def dram_layout(p):
    """Configuration of one DRAM unit: a load and a store engine."""
    return data.StructLayout({"load": engine_layout(p), "store": engine_layout(p)})


@lru_cache(maxsize=None)
def burst_layout(p):
    """One burst: byte address and ``len`` (beats - 1) as AXI4 has them; ``lo`` the
    first word of the run in the first beat, ``hi`` its last word in the last beat;
    ``last`` the burst ends its run."""
    index = bits_for(p.dram_beat - 1)
    return data.StructLayout({"addr": unsigned(32), "len": unsigned(8), "lo": index,
                              "hi": index, "last": 1})


@lru_cache(maxsize=None)
def beat_layout(p):
    """One read beat on its way from R to the unpacker: words ``lo .. hi`` are the
    run's; ``end`` the beat ends its run."""
    index = bits_for(p.dram_beat - 1)
    return data.StructLayout({"data": unsigned(WORD * p.dram_beat), "lo": index,
                              "hi": index, "end": 1})


def axi4_read_ports(p):
    """The AXI4 read channels of a DRAM unit, ``{name: member}`` (manager side)."""
    return {
        "araddr": Out(32), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2),
        "arvalid": Out(1), "arready": In(1),
        "rdata": In(WORD * p.dram_beat), "rresp": In(2), "rlast": In(1), "rvalid": In(1),
        "rready": Out(1),
    }


def axi4_id_ports():
    """The ID signals of a DRAM unit's AXI4 port: one-bit ``arid`` / ``awid`` that are
    always 0 (the unit uses a single ID, so reads return in order) and ``rid`` / ``bid``,
    which it ignores; they are there so that verification IP that expects them attaches
    by prefix."""
    return {"arid": Out(1), "awid": Out(1), "rid": In(1), "bid": In(1)}


def axi4_ports(p):
    """Every signal of a DRAM unit's AXI4 manager port, ``{name: member}``."""
    return {**axi4_read_ports(p), **axi4_write_ports(p), **axi4_id_ports()}


def axi4_write_ports(p):
    """The AXI4 write channels of a DRAM unit, ``{name: member}`` (manager side)."""
    return {
        "awaddr": Out(32), "awlen": Out(8), "awsize": Out(3), "awburst": Out(2),
        "awvalid": Out(1), "awready": In(1),
        "wdata": Out(WORD * p.dram_beat), "wstrb": Out(4 * p.dram_beat), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
    }


# -- reference -------------------------------------------------------------------------

def run_count(cfg):
    """Runs of an engine configuration (a dict as ``engine_layout(p).const`` takes it):
    the product of its extents."""
    n = 1
    for extent in cfg["extents"]:
        n *= extent
    return n


def run_addresses(cfg, p, indices=None):
    """Word address of each run's start, in the order the engine moves them.

    Parameters
    ----------
    cfg : dict
        An engine configuration as ``engine_layout(p).const`` takes it.
    p : FabricParams
    indices : sequence of int, optional
        In indexed mode, the words of the index stream, one per run.

    Raises
    ------
    ValueError
        If ``cfg`` has not ``p.counters`` extents and strides, or in indexed mode
        ``indices`` is not one index per run.
    """
    extents, strides = list(cfg["extents"]), list(cfg["strides"])
    if len(extents) != p.counters or len(strides) != p.counters:
        raise ValueError(f"an engine has {p.counters} extents and strides, not "
                         f"{len(extents)} and {len(strides)}")
    mask = (1 << WORD_ADDR_BITS) - 1
    if cfg.get("indexed"):
        if indices is None or len(indices) != run_count(cfg):
            raise ValueError(f"indexed mode takes one index per run ({run_count(cfg)}), "
                             f"not {indices!r}")
        return [(cfg["base"] + i) & mask for i in indices]
    result = []
    for outer_first in itertools.product(*(range(e) for e in reversed(extents))):
        values = outer_first[::-1]
        result.append((cfg["base"] + sum(v * s for v, s in zip(values, strides))) & mask)
    return result


def bursts(start_word, run_words, p):
    """``[(byte address, beats)]`` of the bursts the unit issues for one run.

    The first burst starts at the beat holding ``start_word``; each burst is as long as
    it can be without passing ``dram_burst`` beats, a 4 KiB boundary or the run's end.
    """
    beat = p.dram_beat
    page = PAGE_BYTES // (4 * beat)
    word, left = start_word % (1 << WORD_ADDR_BITS), run_words
    result = []
    while left > 0:
        lo = word % beat
        cap = min(p.dram_burst, page - (word // beat) % page)
        span = lo + left
        beats = -(-span // beat) if span <= cap * beat else cap
        left = span - beats * beat if span > cap * beat else 0
        result.append((((word - lo) * 4) % (1 << 32), beats))
        word = (word - lo + beats * beat) % (1 << WORD_ADDR_BITS)
    return result


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
        beat, lb = p.dram_beat, _log2(p.dram_beat)
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
            room.eq(page - word[lb:_log2(page) + lb]),
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


# -- engines ---------------------------------------------------------------------------

def _control(m, engine, cfg, finished):
    """The engine's ``busy``: set by ``start`` (unless OFF), cleared once ``finished``."""
    go = engine.start & (cfg.mode != DramMode.OFF)
    with m.If(go):
        m.d.sync += engine.busy.eq(1)
    with m.Elif(finished):
        m.d.sync += engine.busy.eq(0)
    return go


class LoadEngine(wiring.Component):
    """The load engine of a DRAM unit (``docs/hardware.md``, "DRAM units").

    Up to ``dram_outstanding`` bursts are in flight. Read data lands in a FIFO of
    ``dram_outstanding * dram_burst`` beats in which each burst reserves its beats
    before its AR is issued, so ``rready`` stays high while bursts are in flight and
    only a stalled consumer holds the reads back (by holding back new ARs). The unit
    counts beats itself: ``rlast`` is not used.

    Ports
    -----
    cfg : In(engine_layout(p))
        Held stable while busy.
    start : In(1)
        Begin (ignored while busy and when ``mode`` is OFF).
    busy : Out(1)
    fault : Out(1)
        A read beat with ``rresp != 0`` is taken in this cycle.
    sidx : In(link_signature(p, "scalar"))
    vout, sout : Out(link_signature(p, "vector")), Out(link_signature(p, "scalar"))
    araddr .. rready : the AXI4 read channels (:func:`axi4_read_ports`).
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":   In(engine_layout(p)),
            "start": In(1),
            "busy":  Out(1),
            "fault": Out(1),
            "sidx":  In(link_signature(p, "scalar")),
            "vout":  Out(link_signature(p, "vector")),
            "sout":  Out(link_signature(p, "scalar")),
            **axi4_read_ports(p),
        })

    def elaborate(self, platform):
        p, cfg = self._p, self.cfg
        m = Module()
        credit_max = p.dram_outstanding * p.dram_burst
        m.submodules.gen = gen = RunGenerator(p)
        m.submodules.split = split = BurstSplitter(p)
        m.submodules.flight = flight = SyncFIFO(width=burst_layout(p).size,
                                                depth=p.dram_outstanding)
        # one entry more than the credits: a buffered FIFO of two entries refuses a
        # write in the cycle after its first, while that entry moves to the output
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=beat_layout(p).size,
                                                    depth=credit_max + 1)
        m.submodules.unpack = unpack = BeatUnpacker(p)
        wiring.connect(m, wiring.flipped(self.sidx), gen.idx)
        wiring.connect(m, gen.runs, split.runs)

        # AR: a burst goes out once it has a flight slot and its beats' credits
        burst = split.bursts.payload
        credits = Signal(range(credit_max + 1), init=credit_max)
        room = flight.w_stream.ready & (credits >= burst.len + 1)
        issue = split.bursts.valid & self.arready & room
        m.d.comb += [
            self.araddr.eq(burst.addr), self.arlen.eq(burst.len),
            self.arsize.eq(_log2(4 * p.dram_beat)), self.arburst.eq(BURST_INCR),
            self.arvalid.eq(split.bursts.valid & room),
            split.bursts.ready.eq(self.arready & room),
            flight.w_stream.valid.eq(issue), flight.w_stream.payload.eq(burst),
        ]

        # R: tag each beat with the run's words in it, from the burst in flight
        head = Signal(burst_layout(p))
        entry = Signal(beat_layout(p))
        beat_no = Signal(8)
        final = beat_no == head.len
        got = self.rvalid & self.rready
        m.d.comb += [
            head.eq(flight.r_stream.payload),
            self.rready.eq(flight.r_stream.valid),
            entry.data.eq(self.rdata),
            entry.lo.eq(Mux(beat_no == 0, head.lo, 0)),
            entry.hi.eq(Mux(final, head.hi, p.dram_beat - 1)),
            entry.end.eq(final & head.last),
            fifo.w_stream.valid.eq(got), fifo.w_stream.payload.eq(entry),
            flight.r_stream.ready.eq(got & final),
            self.fault.eq(got & (self.rresp != 0)),
        ]
        with m.If(got):
            m.d.sync += beat_no.eq(Mux(final, 0, beat_no + 1))

        m.d.comb += [unpack.beats.valid.eq(fifo.r_stream.valid),
                     unpack.beats.payload.eq(fifo.r_stream.payload),
                     fifo.r_stream.ready.eq(unpack.beats.ready)]
        popped = fifo.r_stream.valid & fifo.r_stream.ready
        m.d.sync += credits.eq(credits + popped - Mux(issue, burst.len + 1, 0))

        vec, scalar = cfg.mode == DramMode.VECTOR, cfg.mode == DramMode.SCALAR
        m.d.comb += [
            unpack.scalar.eq(scalar),
            self.vout.payload.eq(unpack.out.payload), self.vout.valid.eq(vec & unpack.out.valid),
            self.sout.payload.eq(unpack.out.payload[0]),
            self.sout.valid.eq(scalar & unpack.out.valid),
            unpack.out.ready.eq((vec & self.vout.ready) | (scalar & self.sout.ready)),
        ]
        finished = (gen.done & split.idle & ~flight.r_stream.valid & (fifo.level == 0) &
                    unpack.empty)
        go = _control(m, self, cfg, finished)
        m.d.comb += [gen.cfg.eq(cfg), gen.restart.eq(go), split.run.eq(cfg.run)]
        return m


class StoreEngine(wiring.Component):
    """The store engine of a DRAM unit (``docs/hardware.md``, "DRAM units").

    Up to ``dram_outstanding`` bursts await their B response. A burst taken from the
    splitter goes into two queues, one for AW and one for W, so that neither channel
    waits for the other's ready (AXI4 lets a subordinate hold ``awready`` until it sees
    ``wvalid``); ``wstrb`` covers exactly the run's words.

    Ports
    -----
    cfg : In(engine_layout(p))
        Held stable while busy.
    start : In(1)
        Begin (ignored while busy and when ``mode`` is OFF).
    busy : Out(1)
    fault : Out(1)
        A B response with ``bresp != 0`` is taken in this cycle.
    widx : In(link_signature(p, "scalar"))
    vin, sin : In(link_signature(p, "vector")), In(link_signature(p, "scalar"))
    awaddr .. bready : the AXI4 write channels (:func:`axi4_write_ports`).
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":   In(engine_layout(p)),
            "start": In(1),
            "busy":  Out(1),
            "fault": Out(1),
            "widx":  In(link_signature(p, "scalar")),
            "vin":   In(link_signature(p, "vector")),
            "sin":   In(link_signature(p, "scalar")),
            **axi4_write_ports(p),
        })

    def elaborate(self, platform):
        p, cfg = self._p, self.cfg
        m = Module()
        m.submodules.gen = gen = RunGenerator(p)
        m.submodules.split = split = BurstSplitter(p)
        # each queue holds at most the bursts awaiting a response: never full
        m.submodules.requests = requests = SyncFIFO(width=burst_layout(p).size,
                                                    depth=p.dram_outstanding)
        m.submodules.pending = pending = SyncFIFO(width=burst_layout(p).size,
                                                  depth=p.dram_outstanding)
        m.submodules.pack = pack = BeatPacker(p)
        wiring.connect(m, wiring.flipped(self.widx), gen.idx)
        wiring.connect(m, gen.runs, split.runs)

        # a burst is taken while fewer than dram_outstanding await their response
        outstanding = Signal(range(p.dram_outstanding + 1))
        take = split.bursts.valid & (outstanding != p.dram_outstanding)
        m.d.comb += [
            split.bursts.ready.eq(outstanding != p.dram_outstanding),
            requests.w_stream.valid.eq(take), requests.w_stream.payload.eq(split.bursts.payload),
            pending.w_stream.valid.eq(take), pending.w_stream.payload.eq(split.bursts.payload),
        ]

        request = Signal(burst_layout(p))
        m.d.comb += [
            request.eq(requests.r_stream.payload),
            self.awaddr.eq(request.addr), self.awlen.eq(request.len),
            self.awsize.eq(_log2(4 * p.dram_beat)), self.awburst.eq(BURST_INCR),
            self.awvalid.eq(requests.r_stream.valid),
            requests.r_stream.ready.eq(self.awready),
        ]

        vec, scalar = cfg.mode == DramMode.VECTOR, cfg.mode == DramMode.SCALAR
        m.d.comb += [
            pack.scalar.eq(scalar), pack.run.eq(cfg.run),
            pack.inp.valid.eq((vec & self.vin.valid) | (scalar & self.sin.valid)),
            self.vin.ready.eq(vec & pack.inp.ready),
            self.sin.ready.eq(scalar & pack.inp.ready),
        ]
        with m.If(scalar):
            m.d.comb += pack.inp.payload[0].eq(self.sin.payload)
        with m.Else():
            m.d.comb += pack.inp.payload.eq(self.vin.payload)

        # W: the beats of the oldest burst whose data is not all sent
        head = Signal(burst_layout(p))
        beat_no = Signal(8)
        final = beat_no == head.len
        sent = self.wvalid & self.wready
        strb = pack.out.payload.strb
        m.d.comb += [
            head.eq(pending.r_stream.payload),
            pack.head_valid.eq(pending.r_stream.valid), pack.head_lo.eq(head.lo),
            self.wdata.eq(pack.out.payload.data),
            self.wstrb.eq(Cat(*(strb[j].replicate(4) for j in range(p.dram_beat)))),
            self.wlast.eq(final),
            self.wvalid.eq(pack.out.valid & pending.r_stream.valid),
            pack.out.ready.eq(self.wready & pending.r_stream.valid),
            pending.r_stream.ready.eq(sent & final),
        ]
        with m.If(sent):
            m.d.sync += beat_no.eq(Mux(final, 0, beat_no + 1))

        answered = self.bvalid & self.bready
        m.d.comb += [self.bready.eq(outstanding != 0),
                     self.fault.eq(answered & (self.bresp != 0))]
        m.d.sync += outstanding.eq(outstanding + take - answered)

        finished = gen.done & split.idle & (outstanding == 0) & pack.idle
        go = _control(m, self, cfg, finished)
        m.d.comb += [gen.cfg.eq(cfg), gen.restart.eq(go), split.run.eq(cfg.run)]
        return m


class DramUnit(wiring.Component):
    """A DRAM unit (``docs/hardware.md``, "DRAM units"): a load and a store engine
    sharing one AXI4 manager port.

    Parameters
    ----------
    p : FabricParams
        The unit uses ``lanes``, ``counters``, ``dram_beat``, ``dram_burst`` and
        ``dram_outstanding`` (not ``dram_ports``).

    Ports
    -----
    cfg : In(dram_layout(p))
        Held stable while busy.
    start : In(1)
        One-cycle pulse: clear ``error`` and begin both engines (those not OFF). Ignored
        while busy.
    busy : Out(1)
        An engine is busy.
    done : Out(1)
        Not busy: every run of the load engine has been delivered and every burst of
        the store engine has its B response (high before the first start, too).
    error : Out(1)
        Some ``rresp`` or ``bresp`` was not OKAY since the last start (sticky).
    sidx, vout, sout : the load engine's index input and outputs.
    widx, vin, sin : the store engine's index and data inputs.
    araddr .. bready : AXI4 manager port, flat standard names (:func:`axi4_read_ports`,
        :func:`axi4_write_ports`): 32-bit byte addresses, ``32 * dram_beat``-bit data,
        INCR bursts, one ID (``arid`` / ``awid`` always 0, ``rid`` / ``bid`` ignored;
        :func:`axi4_id_ports`).
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":   In(dram_layout(p)),
            "start": In(1),
            "busy":  Out(1),
            "done":  Out(1),
            "error": Out(1),
            "sidx":  In(link_signature(p, "scalar")),
            "vout":  Out(link_signature(p, "vector")),
            "sout":  Out(link_signature(p, "scalar")),
            "widx":  In(link_signature(p, "scalar")),
            "vin":   In(link_signature(p, "vector")),
            "sin":   In(link_signature(p, "scalar")),
            **axi4_ports(p),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        m.submodules.load = load = LoadEngine(p)
        m.submodules.store = store = StoreEngine(p)
        go = self.start & ~self.busy
        m.d.comb += [load.cfg.eq(self.cfg.load), store.cfg.eq(self.cfg.store),
                     load.start.eq(go), store.start.eq(go),
                     self.busy.eq(load.busy | store.busy), self.done.eq(~self.busy)]
        for engine, ports in ((load, axi4_read_ports(p)), (store, axi4_write_ports(p))):
            for name, member in ports.items():
                outer, inner = getattr(self, name), getattr(engine, name)
                m.d.comb += outer.eq(inner) if member.flow == wiring.Out else inner.eq(outer)
        wiring.connect(m, wiring.flipped(self.sidx), load.sidx)
        wiring.connect(m, load.vout, wiring.flipped(self.vout))
        wiring.connect(m, load.sout, wiring.flipped(self.sout))
        wiring.connect(m, wiring.flipped(self.widx), store.widx)
        wiring.connect(m, wiring.flipped(self.vin), store.vin)
        wiring.connect(m, wiring.flipped(self.sin), store.sin)
        with m.If(go):
            m.d.sync += self.error.eq(0)
        with m.Elif(load.fault | store.fault):
            m.d.sync += self.error.eq(1)
        return m
