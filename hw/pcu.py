"""Pattern compute unit: a counter-driven SIMD pipeline with an accumulator stage."""

from functools import lru_cache

from amaranth.hdl import Module, Signal, Shape, Cat, Mux, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .counters import CounterChain
from .fu import FunctionalUnit
from .layouts import OutSrc, Src, WORD, pcu_layout
from .reduce import Accumulator

__all__ = ["PCU", "Stage", "context_layout", "registers_layout", "stage_layout"]


def _vector(p):
    return data.ArrayLayout(signed(WORD), p.lanes)


def stage_layout(p):
    """Configuration of one pipeline stage (an element of ``pcu_layout(p).stages``)."""
    return pcu_layout(p).members["stages"].elem_shape


@lru_cache(maxsize=None)
def registers_layout(p):
    """The pipeline registers between two stages: ``regs`` vectors."""
    return data.ArrayLayout(_vector(p), p.regs)


@lru_cache(maxsize=None)
def context_layout(p):
    """What an iteration carries down the pipeline besides its registers.

    The input heads, counter values (``lane0`` is counter 0 as each lane sees it), the
    accumulator as of issue, the lane mask, whether the accumulator is fresh and whether
    ``vout`` / ``sout`` push.
    """
    return data.StructLayout({
        "vin":    data.ArrayLayout(_vector(p), p.pcu_vec_in),
        "sin":    data.ArrayLayout(signed(WORD), p.pcu_scalar_in),
        "lane0":  _vector(p),
        "ctr":    data.ArrayLayout(signed(WORD), p.counters),
        "acc":    _vector(p),
        "mask":   p.lanes,
        "fresh":  1,
        "push_v": 1,
        "push_s": 1,
    })


def _pick(m, items, index, shape, name):
    """``items[index]`` as a new signal; zero when ``index`` is out of range."""
    picked = Signal(shape, name=name)
    with m.Switch(index):
        for k, item in enumerate(items):
            with m.Case(k):
                m.d.comb += picked.eq(item)
    return picked


def _words(flat, count, offset=0):
    """``count`` signed 32-bit words of the flat value ``flat`` from bit ``offset``."""
    return [flat[offset + n * WORD:offset + (n + 1) * WORD].as_signed() for n in range(count)]


def _level(m, bits, count, field, name):
    """A signal that is high when ``bits[0 .. field-1]`` are all set (``field`` > ``count``
    is taken as ``count``)."""
    hit = Signal(name=name)
    with m.Switch(field):
        for k in range(count + 1):
            with m.Case(k):
                m.d.comb += hit.eq(bits[:k].all() if k else 1)
        with m.Default():
            m.d.comb += hit.eq(bits[:count].all())
    return hit


class Stage(wiring.Component):
    """One pipeline stage: ``lanes`` functional units and the registers after them.

    Each lane computes ``op(a, b, c)`` on operands chosen by ``cfg.src`` from ``i_regs``,
    ``i_ctx`` and ``cfg.imm``; the result replaces register ``cfg.dest`` and the other
    registers pass on. Register and context move one stage per cycle, unconditionally
    (the pipeline never stalls); ``flush`` clears the valid bit. Out-of-range operand
    indices read zero.

    Ports
    -----
    cfg : In(stage_layout(p))
    flush : In(1)
    i_valid, i_ctx, i_regs : In
        The iteration entering this stage.
    o_valid, o_ctx, o_regs : Out
        The same iteration one cycle later, with the stage's result.
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":     In(stage_layout(p)),
            "flush":   In(1),
            "i_valid": In(1),
            "i_ctx":   In(context_layout(p)),
            "i_regs":  In(registers_layout(p)),
            "o_valid": Out(1),
            "o_ctx":   Out(context_layout(p)),
            "o_regs":  Out(registers_layout(p)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._p
        # Lane words are sliced straight from the flat ports: slicing through the nested
        # layouts for every lane and operand makes elaboration needlessly slow.
        regs = _words(self.i_regs.as_value(), p.regs * p.lanes)
        ctx, layout = self.i_ctx.as_value(), context_layout(p)
        vins = _words(ctx, p.pcu_vec_in * p.lanes, layout["vin"].offset)
        lane0 = _words(ctx, p.lanes, layout["lane0"].offset)
        acc = _words(ctx, p.lanes, layout["acc"].offset)
        words = [[regs[r * p.lanes + i] for r in range(p.regs)] +
                 [vins[k * p.lanes + i] for k in range(p.pcu_vec_in)] + [lane0[i], acc[i]]
                 for i in range(p.lanes)]
        a, b, c = (self._operand(m, j, words) for j in range(3))
        result = Signal(_vector(p))
        for i in range(p.lanes):
            fu = m.submodules[f"fu{i}"] = FunctionalUnit()
            m.d.comb += [fu.op.eq(self.cfg.op), fu.a.eq(a[i]), fu.b.eq(b[i]), fu.c.eq(c[i]),
                         result[i].eq(fu.y)]
        for r in range(p.regs):
            keep = Cat(regs[r * p.lanes:(r + 1) * p.lanes])
            m.d.sync += self.o_regs[r].eq(Mux(self.cfg.dest == r, result, keep))
        m.d.sync += [self.o_ctx.eq(self.i_ctx), self.o_valid.eq(self.i_valid & ~self.flush)]
        return m

    def _operand(self, m, j, words):
        """Per-lane values of operand ``j``; ``words[i]`` lists lane ``i``'s registers,
        vector input heads, counter-0 value and accumulator. Sources that are the same
        in every lane are chosen once (``bcast``), so each lane only chooses among its
        own words and ``bcast``."""
        p = self._p
        src, ctx = self.cfg.src[j], self.i_ctx
        VIN = p.regs
        LANE0 = VIN + p.pcu_vec_in
        ACC = LANE0 + 1
        BCAST = ACC + 1
        sel = Signal(range(BCAST + 1), init=BCAST, name=f"sel{j}")
        bcast = Signal(signed(WORD), name=f"bcast{j}")
        with m.Switch(src.kind):
            with m.Case(Src.REG):
                with m.If(src.index < p.regs):
                    m.d.comb += sel.eq(src.index)
            with m.Case(Src.VIN):
                with m.If(src.index < p.pcu_vec_in):
                    m.d.comb += sel.eq(VIN + src.index)
            with m.Case(Src.SIN):
                m.d.comb += bcast.eq(_pick(m, list(ctx.sin), src.index, signed(WORD),
                                           f"sin{j}"))
            with m.Case(Src.CTR):
                with m.If(src.index == 0):
                    m.d.comb += sel.eq(LANE0)
                with m.Else():
                    m.d.comb += bcast.eq(_pick(m, list(ctx.ctr), src.index, signed(WORD),
                                               f"ctr{j}"))
            with m.Case(Src.IMM):
                m.d.comb += bcast.eq(self.cfg.imm)
            with m.Case(Src.ACC):
                m.d.comb += sel.eq(ACC)
        return [_pick(m, words[i] + [bcast], sel, signed(WORD), f"operand{j}_{i}")
                for i in range(p.lanes)]


class PCU(wiring.Component):
    """Pattern compute unit (``docs/hardware.md``, section PCU).

    Parameters
    ----------
    p : FabricParams

    Ports
    -----
    vin0 .. vin{pcu_vec_in-1} : In(stream.Signature(ArrayLayout(signed(32), lanes)))
    sin0 .. sin{pcu_scalar_in-1} : In(stream.Signature(signed(32)))
    vout : Out(stream.Signature(ArrayLayout(signed(32), lanes)))
    sout : Out(stream.Signature(signed(32)))
    cfg : In(pcu_layout(p))
        Held stable while running.
    start : In(1)
        One-cycle pulse: restart the counter chain, zero the accumulator, drop the
        iterations in the pipeline (their output credits return). Input and output FIFO
        contents are kept. Nothing issues in this cycle.
    run : In(1)
        Nothing issues while low; the pipeline still drains.
    done : Out(1)
        The chain is done, the pipeline is empty and both output FIFOs are empty; or the
        unit is disabled.

    Attributes
    ----------
    issue : Signal
        High in the cycles in which an iteration issues.
    """

    def __init__(self, p):
        self._p = p
        ports = {}
        for k in range(p.pcu_vec_in):
            ports[f"vin{k}"] = In(stream.Signature(_vector(p)))
        for k in range(p.pcu_scalar_in):
            ports[f"sin{k}"] = In(stream.Signature(signed(WORD)))
        ports.update({
            "vout":  Out(stream.Signature(_vector(p))),
            "sout":  Out(stream.Signature(signed(WORD))),
            "cfg":   In(pcu_layout(p)),
            "start": In(1),
            "run":   In(1),
            "done":  Out(1),
        })
        super().__init__(ports)
        self.issue = Signal()

    def elaborate(self, platform):
        m = Module()
        p, cfg = self._p, self.cfg
        m.submodules.chain = chain = CounterChain(p)
        m.d.comb += [chain.counters.eq(cfg.counters), chain.vec.eq(cfg.vec),
                     chain.restart.eq(self.start), chain.advance.eq(self.issue)]

        def level(field, name):
            return _level(m, chain.last, p.counters, field, name)

        stages = []
        for s in range(p.stages):
            stage = m.submodules[f"stage{s}"] = Stage(p)
            m.d.comb += [stage.cfg.eq(cfg.stages[s]), stage.flush.eq(self.start)]
            if stages:
                prev = stages[-1]
                m.d.comb += [stage.i_valid.eq(prev.o_valid), stage.i_ctx.eq(prev.o_ctx),
                             stage.i_regs.eq(prev.o_regs)]
            stages.append(stage)
        head, last = stages[0].i_ctx, stages[-1]

        m.submodules.acc = acc = Accumulator(p.lanes)
        m.d.comb += [
            acc.mode.eq(cfg.acc.mode), acc.op.eq(cfg.acc.op), acc.clear.eq(self.start),
            acc.valid.eq(last.o_valid), acc.fresh.eq(last.o_ctx.fresh),
            acc.mask.eq(last.o_ctx.mask),
            acc.r.eq(_pick(m, list(last.o_regs), cfg.acc.src, _vector(p), "acc_src")),
        ]

        ready = self._inputs(m, head, level)
        push_v = cfg.vout.enable & level(cfg.vout.level, "push_v")
        push_s = cfg.sout.enable & level(cfg.sout.level, "push_s")
        results = [Mux(cfg.vout.src == OutSrc.ACC, acc.result,
                       _pick(m, list(last.o_regs), cfg.vout.reg, _vector(p), "vout_reg"))]
        results.append(Mux(cfg.sout.src == OutSrc.ACC, acc.result[0],
                           _pick(m, list(last.o_regs), cfg.sout.reg, _vector(p), "sout_reg")[0]))
        writes = [last.o_valid & last.o_ctx.push_v & ~self.start,
                  last.o_valid & last.o_ctx.push_s & ~self.start]
        out_v, credit_v = self._output(m, "vout", push_v, writes[0], results[0])
        out_s, credit_s = self._output(m, "sout", push_s, writes[1], results[1])

        m.d.comb += [
            head.lane0.eq(chain.lane0), head.ctr.eq(chain.value), head.acc.eq(acc.acc),
            head.mask.eq(chain.mask), head.push_v.eq(push_v), head.push_s.eq(push_s),
            head.fresh.eq(_level(m, chain.first, p.counters, cfg.acc.reset, "fresh")),
            stages[0].i_valid.eq(self.issue),
            self.issue.eq(self.run & cfg.enable & ~chain.done & ~self.start &
                          Cat(*ready, credit_v, credit_s).all()),
        ]
        busy = Cat(*(stage.o_valid for stage in stages)).any()
        m.d.comb += self.done.eq(~cfg.enable | (chain.done & ~busy & (out_v.level == 0) &
                                                (out_s.level == 0)))
        return m

    def _inputs(self, m, head, level):
        """Input FIFOs; returns, per input, "disabled or has a head"."""
        p, cfg = self._p, self.cfg
        ports = [(f"vin{k}", cfg.vin[k], head.vin[k], _vector(p).size)
                 for k in range(p.pcu_vec_in)]
        ports += [(f"sin{k}", cfg.sin[k], head.sin[k], WORD) for k in range(p.pcu_scalar_in)]
        ready = []
        for name, port_cfg, slot, width in ports:
            port = getattr(self, name)
            fifo = m.submodules[f"{name}_fifo"] = SyncFIFO(width=width, depth=p.fifo_depth)
            enable = Signal(name=f"{name}_enable")
            pop = level(port_cfg.level, f"{name}_pop")
            m.d.comb += [
                enable.eq(cfg.enable & port_cfg.enable),
                fifo.w_data.eq(port.payload),
                fifo.w_en.eq(port.valid & enable),
                port.ready.eq(fifo.w_rdy & enable),
                slot.eq(fifo.r_data),
                fifo.r_en.eq(self.issue & enable & pop),
            ]
            ready.append(fifo.r_rdy | ~enable)
        return ready

    def _output(self, m, name, push, write, value):
        """Output FIFO with issue credits; returns the FIFO and "does not push now or has
        a credit"."""
        depth = self._p.stages + 3
        port = getattr(self, name)
        fifo = m.submodules[f"{name}_fifo"] = SyncFIFO(
            width=Shape.cast(port.payload.shape()).width, depth=depth)
        credits = Signal(range(depth + 1), init=depth, name=f"{name}_credits")
        give = fifo.r_rdy & fifo.r_en
        m.d.comb += [
            fifo.w_data.eq(value),
            fifo.w_en.eq(write),
            port.valid.eq(fifo.r_rdy),
            port.payload.eq(fifo.r_data),
            fifo.r_en.eq(port.ready),
        ]
        with m.If(self.start):
            # the dropped iterations' credits come back
            m.d.sync += credits.eq(depth - fifo.level + give)
        with m.Else():
            m.d.sync += credits.eq(credits - (self.issue & push) + give)
        return fifo, (credits != 0) | ~push
