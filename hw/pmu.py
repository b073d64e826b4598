"""Pattern memory unit: banked scratchpad with a write and a read address generator.

See ``docs/hardware.md``, section "PMU", for the contract.
"""

from amaranth.hdl import Module, Signal, Const, Cat, Mux, Shape, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .counters import CounterChain
from .layouts import Access, agen_layout, pmu_layout, WORD
from .links import link_shape, link_signature, vector_layout

__all__ = ["PMU", "AddressGenerator", "BankArray"]


def _log2(n):
    return (n - 1).bit_length()


def _rotate(value, amount, elem_bits):
    """``value`` as a list of ``elem_bits``-wide elements, rotated so that element
    ``amount`` lands at position 0 (element ``i`` of the result is ``(i + amount) % n``).

    A logarithmic barrel rotator: one 2:1 mux per element and bit of ``amount``.
    """
    value = Cat(value)
    for k in range(len(amount)):
        value = Mux(amount[k], value.rotate_right(elem_bits << k), value)
    return value


class AddressGenerator(wiring.Component):
    """A PMU address generator: a counter chain and the bank rows it addresses.

    The word address of an iteration is ``base + sum(strides[k] * value[k])`` taken
    modulo the buffer size (``lanes * pmu_depth`` words, half that when ``double``),
    placed in buffer ``buffer``. An access at buffer word ``x`` covers words
    ``x .. x + lanes - 1`` (wrapping inside the buffer); word ``x + i`` lives in bank
    ``(x + i) % lanes``, so bank ``j`` reads row ``x // lanes`` when ``j >= x % lanes``
    and the next row otherwise. Only the low ``addr_bits`` of counter values and strides
    matter, so the products are that wide.

    Ports
    -----
    cfg : In(agen_layout)
        Configuration (held stable while running).
    double, buffer : In(1)
        Two half-size buffers; the buffer the next access goes to.
    restart, advance : In(1)
        Passed to the counter chain.
    rows : Out(Array of unsigned(log2(pmu_depth)), lanes)
        Row of each bank for the current iteration.
    rotate : Out(range(lanes))
        ``x % lanes``: the bank that holds lane 0.
    mask : Out(lanes)
        Lanes inside the vectorised counter's range.
    swap : Out(1)
        Level ``cfg.swap`` of the current iteration (counters ``0..swap-1`` all last).
    done : Out(1)
        The chain is done.
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":     In(agen_layout(p)),
            "double":  In(1),
            "buffer":  In(1),
            "restart": In(1),
            "advance": In(1),
            "rows":    Out(data.ArrayLayout(unsigned(_log2(p.pmu_depth)), p.lanes)),
            "rotate":  Out(range(p.lanes)),
            "mask":    Out(p.lanes),
            "swap":    Out(1),
            "done":    Out(1, init=1),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        m.submodules.chain = chain = CounterChain(p)
        m.d.comb += [
            chain.counters.eq(self.cfg.counters),
            chain.vec.eq(self.cfg.vec),
            chain.restart.eq(self.restart),
            chain.advance.eq(self.advance),
            self.mask.eq(chain.mask),
            self.done.eq(chain.done),
        ]

        abits = p.addr_bits
        total = self.cfg.base
        for k in range(p.counters):
            total = total + (chain.value[k][:abits] * self.cfg.strides[k][:abits])[:abits]
        addr = Signal(abits)
        m.d.comb += addr.eq(total)

        level = Const(1)
        for k in range(p.counters):
            level = level & (chain.last[k] | (self.cfg.swap <= k))
        m.d.comb += self.swap.eq(level)

        lane_bits, row_bits = _log2(p.lanes), _log2(p.pmu_depth)
        col, row = addr[:lane_bits], addr[lane_bits:]
        m.d.comb += self.rotate.eq(col)
        for j in range(p.lanes):
            bank_row = Signal(row_bits, name=f"row{j}")
            m.d.comb += bank_row.eq(row + (col > j))
            with m.If(self.double):
                m.d.comb += self.rows[j].eq(Cat(bank_row[:row_bits - 1], self.buffer))
            with m.Else():
                m.d.comb += self.rows[j].eq(bank_row)
        return m


class BankArray(wiring.Component):
    """``lanes`` memory banks of ``pmu_depth`` words, with lane rotation on both ports.

    Ports
    -----
    w_en : In(1)
        Write this cycle.
    w_rows : In(Array of row, lanes)
        Row written in each bank.
    w_rotate : In(range(lanes))
        Lane ``i`` goes to bank ``(i + w_rotate) % lanes``.
    w_data : In(Array of signed(32), lanes)
        Words in lane order.
    w_mask : In(lanes)
        Lanes written (in lane order).
    r_en, r_rows, r_rotate : In
        Read request: bank rows and the bank of lane 0.
    r_data : Out(Array of signed(32), lanes)
        Words of the request made in the previous cycle, in lane order (held while
        ``r_en`` is low).
    """

    def __init__(self, p):
        self._p = p
        rows = data.ArrayLayout(unsigned(_log2(p.pmu_depth)), p.lanes)
        words = vector_layout(p.lanes)
        super().__init__({
            "w_en":     In(1),
            "w_rows":   In(rows),
            "w_rotate": In(range(p.lanes)),
            "w_data":   In(words),
            "w_mask":   In(p.lanes),
            "r_en":     In(1),
            "r_rows":   In(rows),
            "r_rotate": In(range(p.lanes)),
            "r_data":   Out(words),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        # bank j takes lane (j - rotate) % lanes: rotate the other way
        w_back = Signal(range(p.lanes))
        m.d.comb += w_back.eq(-self.w_rotate)
        # signals, so that the per-bank slices below share one rotator
        w_words = Signal(WORD * p.lanes)
        w_mask = Signal(p.lanes)
        m.d.comb += [w_words.eq(_rotate(self.w_data, w_back, WORD)),
                     w_mask.eq(_rotate(self.w_mask, w_back, 1))]

        r_rotate = Signal(range(p.lanes))
        with m.If(self.r_en):
            m.d.sync += r_rotate.eq(self.r_rotate)
        r_words = []
        for j in range(p.lanes):
            bank = Memory(shape=signed(WORD), depth=p.pmu_depth, init=[])
            m.submodules[f"bank{j}"] = bank
            wp = bank.write_port()
            rp = bank.read_port()
            m.d.comb += [
                wp.addr.eq(self.w_rows[j]),
                wp.data.eq(w_words[j * WORD:(j + 1) * WORD]),
                wp.en.eq(self.w_en & w_mask[j]),
                rp.addr.eq(self.r_rows[j]),
                rp.en.eq(self.r_en),
            ]
            r_words.append(rp.data)
        m.d.comb += self.r_data.eq(_rotate(r_words, r_rotate, WORD))
        return m


class PMU(wiring.Component):
    """Pattern memory unit (``docs/hardware.md``, "PMU").

    Parameters
    ----------
    p : FabricParams

    Ports
    -----
    vin, sin : In(link_signature(p, "vector")), In(link_signature(p, "scalar"))
        Write data, each through a ``fifo_depth`` FIFO.
    vout, sout : Out(link_signature(p, "vector")), Out(link_signature(p, "scalar"))
        Read data, both from one ``OUT_DEPTH`` output FIFO.
    cfg : In(pmu_layout)
        Configuration (held stable while running).
    start : In(1)
        One-cycle pulse: restart both chains; buffer 0 full iff ``init_full``, buffer 1
        empty, both address generators on buffer 0.
    run : In(1)
        Level; nothing issues while it is low.
    done : Out(1)
        Disabled, or every enabled chain is done and no read data is in flight or queued.
    init_we, init_addr, init_data : In
        Loader write of one word at word address ``init_addr`` (only while ``run`` is
        low).

    Members
    -------
    OUT_DEPTH : int
        Entries of the output FIFO. A read takes a credit at issue and returns it when
        its data leaves the FIFO, so the read pipeline never stalls; four credits cover
        the issue-to-pop round trip at one read per cycle.
    """

    OUT_DEPTH = 4

    def __init__(self, p):
        self._p = p
        super().__init__({
            "vin":       In(link_signature(p, "vector")),
            "sin":       In(link_signature(p, "scalar")),
            "vout":      Out(link_signature(p, "vector")),
            "sout":      Out(link_signature(p, "scalar")),
            "cfg":       In(pmu_layout(p)),
            "start":     In(1),
            "run":       In(1),
            "done":      Out(1),
            "init_we":   In(1),
            "init_addr": In(p.addr_bits),
            "init_data": In(signed(WORD)),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        cfg = self.cfg
        lane_bits = _log2(p.lanes)
        m.submodules.wr = wr = AddressGenerator(p)
        m.submodules.rd = rd = AddressGenerator(p)
        m.submodules.banks = banks = BankArray(p)
        vector_bits = Shape.cast(link_shape(p, "vector")).width
        scalar_bits = Shape.cast(link_shape(p, "scalar")).width
        m.submodules.vin_fifo = vin_fifo = SyncFIFO(width=vector_bits, depth=p.fifo_depth)
        m.submodules.sin_fifo = sin_fifo = SyncFIFO(width=scalar_bits, depth=p.fifo_depth)
        m.submodules.out_fifo = out_fifo = SyncFIFO(width=vector_bits, depth=self.OUT_DEPTH)
        wiring.connect(m, wiring.flipped(self.vin), vin_fifo.w_stream)
        wiring.connect(m, wiring.flipped(self.sin), sin_fifo.w_stream)
        vin, sin, out = vin_fifo.r_stream, sin_fifo.r_stream, out_fifo.r_stream

        full = Signal(2)           # per buffer: written, not yet freed by the reader
        wr_buf = Signal()
        rd_buf = Signal()
        used = Signal(range(self.OUT_DEPTH + 1))   # read credits taken
        go = cfg.enable & self.run & ~self.start
        wr_vec, wr_scalar = cfg.wr.mode == Access.VECTOR, cfg.wr.mode == Access.SCALAR
        rd_vec, rd_scalar = cfg.rd.mode == Access.VECTOR, cfg.rd.mode == Access.SCALAR
        wr_on, rd_on = wr_vec | wr_scalar, rd_vec | rd_scalar

        # writer
        has_input = (wr_vec & vin.valid) | (wr_scalar & sin.valid)
        wr_issue = go & wr_on & ~wr.done & ~full.bit_select(wr_buf, 1) & has_input
        m.d.comb += [
            wr.cfg.eq(cfg.wr), wr.double.eq(cfg.double), wr.buffer.eq(wr_buf),
            wr.restart.eq(self.start), wr.advance.eq(wr_issue),
            vin.ready.eq(wr_issue & wr_vec),
            sin.ready.eq(wr_issue & wr_scalar),
        ]
        with m.If(self.run):
            m.d.comb += [banks.w_en.eq(wr_issue), banks.w_rows.eq(wr.rows),
                         banks.w_rotate.eq(wr.rotate)]
            with m.If(wr_vec):
                m.d.comb += [banks.w_data.eq(vin.payload), banks.w_mask.eq(wr.mask)]
            with m.Else():
                m.d.comb += [banks.w_data[0].eq(sin.payload), banks.w_mask.eq(1)]
        with m.Else():
            # only the bank holding the word is enabled, so one row serves every bank
            m.d.comb += [banks.w_en.eq(self.init_we),
                         banks.w_rotate.eq(self.init_addr[:lane_bits]),
                         banks.w_data[0].eq(self.init_data), banks.w_mask.eq(1)]
            for j in range(p.lanes):
                m.d.comb += banks.w_rows[j].eq(self.init_addr[lane_bits:])

        # reader: one cycle of memory latency, then the output FIFO
        rd_issue = go & rd_on & ~rd.done & full.bit_select(rd_buf, 1) & (used != self.OUT_DEPTH)
        in_flight = Signal()
        m.d.sync += in_flight.eq(rd_issue)
        m.d.comb += [
            rd.cfg.eq(cfg.rd), rd.double.eq(cfg.double), rd.buffer.eq(rd_buf),
            rd.restart.eq(self.start), rd.advance.eq(rd_issue),
            banks.r_en.eq(rd_issue), banks.r_rows.eq(rd.rows), banks.r_rotate.eq(rd.rotate),
            # a read credit is taken at issue, so the FIFO always has room for the data
            out_fifo.w_stream.valid.eq(in_flight), out_fifo.w_stream.payload.eq(banks.r_data),
            self.vout.payload.eq(out.payload), self.vout.valid.eq(out.valid & rd_vec),
            self.sout.payload.eq(out.payload[:WORD]), self.sout.valid.eq(out.valid & rd_scalar),
            out.ready.eq((rd_vec & self.vout.ready) | (rd_scalar & self.sout.ready)),
        ]
        pop = out.ready & out.valid
        m.d.sync += used.eq(used + rd_issue - pop)

        # buffer hand-over: the writer fills, the reader frees (only when there is a writer)
        wr_fill = wr_issue & wr.swap
        rd_swap = rd_issue & rd.swap
        with m.If(self.start):
            m.d.sync += [full.eq(Cat(cfg.init_full, 0)), wr_buf.eq(0), rd_buf.eq(0)]
        with m.Else():
            for b in range(2):
                filled = wr_fill & (wr_buf == b)
                freed = rd_swap & wr_on & (rd_buf == b)
                m.d.sync += full[b].eq((full[b] & ~freed) | filled)
            with m.If(wr_fill & cfg.double):
                m.d.sync += wr_buf.eq(~wr_buf)
            with m.If(rd_swap & cfg.double):
                m.d.sync += rd_buf.eq(~rd_buf)

        m.d.comb += self.done.eq(~cfg.enable | ((~wr_on | wr.done) & (~rd_on | rd.done) &
                                                (used == 0)))
        return m
