"""The load and store engines of a DRAM unit: each a run generator, a burst splitter
and a beat unpacker or packer (:mod:`hw.dram_parts`) on one direction of the AXI4 port."""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .dram_layouts import (BURST_INCR, DramMode, ceil_log2, axi4_read_ports, axi4_write_ports,
                           beat_layout, burst_layout, engine_layout)
from .dram_parts import BeatPacker, BeatUnpacker, BurstSplitter, RunGenerator
from .links import link_signature

__all__ = ["LoadEngine", "StoreEngine"]


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
            self.arsize.eq(ceil_log2(4 * p.dram_beat)), self.arburst.eq(BURST_INCR),
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
            self.awsize.eq(ceil_log2(4 * p.dram_beat)), self.awburst.eq(BURST_INCR),
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
