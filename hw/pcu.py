"""Pattern compute unit: a counter-driven SIMD pipeline with an accumulator stage."""

from amaranth.hdl import Module, Signal, Shape, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .counters import CounterChain
from .layouts import OutSrc, pcu_layout
from .links import link_shape, link_signature, vector_layout
from .reduce import Accumulator
from .stage import Stage, context_layout, pick, registers_layout, stage_layout

__all__ = ["PCU", "Stage", "context_layout", "registers_layout", "stage_layout"]

# Output FIFO entries beyond one per pipeline stage. A credit is taken at issue and comes
# back only after the iteration has crossed the `stages` registered stages, been written
# into the FIFO, left it through the FIFO's registered read port, and the credit counter
# has registered the return: three cycles more than the stages. With fewer entries an
# output drained every cycle would run out of credits and the pipeline would issue in
# bursts instead of every cycle.
CREDIT_SLACK = 3


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


class PCU(wiring.Component):
    """Pattern compute unit (``docs/hardware.md``, section PCU).

    Parameters
    ----------
    p : FabricParams

    Ports
    -----
    vin0 .. vin{pcu_vec_in-1} : In(link_signature(p, "vector"))
    sin0 .. sin{pcu_scalar_in-1} : In(link_signature(p, "scalar"))
    vout : Out(link_signature(p, "vector"))
    sout : Out(link_signature(p, "scalar"))
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
            ports[f"vin{k}"] = In(link_signature(p, "vector"))
        for k in range(p.pcu_scalar_in):
            ports[f"sin{k}"] = In(link_signature(p, "scalar"))
        ports.update({
            "vout":  Out(link_signature(p, "vector")),
            "sout":  Out(link_signature(p, "scalar")),
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
        vector = vector_layout(p.lanes)
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
                wiring.connect(m, stages[-1].o, stage.i)
            stages.append(stage)
        head, last = stages[0].i.ctx, stages[-1].o

        m.submodules.acc = acc = Accumulator(p.lanes, fp=p.fp)
        m.d.comb += [
            acc.mode.eq(cfg.acc.mode), acc.op.eq(cfg.acc.op), acc.clear.eq(self.start),
            acc.valid.eq(last.valid), acc.fresh.eq(last.ctx.fresh), acc.mask.eq(last.ctx.mask),
            acc.r.eq(pick(m, list(last.regs), cfg.acc.src, vector, "acc_src")),
            acc.idx.eq(last.ctx.lane0),
        ]

        ready = self._inputs(m, head, level)
        push_v = cfg.vout.enable & level(cfg.vout.level, "push_v")
        push_s = cfg.sout.enable & level(cfg.sout.level, "push_s")
        results = [Mux(cfg.vout.src == OutSrc.ACC, acc.result,
                       pick(m, list(last.regs), cfg.vout.reg, vector, "vout_reg"))]
        results.append(Mux(cfg.sout.src == OutSrc.ACC, acc.result[0],
                           pick(m, list(last.regs), cfg.sout.reg, vector, "sout_reg")[0]))
        writes = [last.valid & last.ctx.push_v & ~self.start,
                  last.valid & last.ctx.push_s & ~self.start]
        out_v, credit_v = self._output(m, "vout", "vector", push_v, writes[0], results[0])
        out_s, credit_s = self._output(m, "sout", "scalar", push_s, writes[1], results[1])

        m.d.comb += [
            head.lane0.eq(chain.lane0), head.ctr.eq(chain.value), head.acc.eq(acc.acc),
            head.mask.eq(chain.mask), head.push_v.eq(push_v), head.push_s.eq(push_s),
            head.fresh.eq(_level(m, chain.first, p.counters, cfg.acc.reset, "fresh")),
            stages[0].i.valid.eq(self.issue),
            self.issue.eq(self.run & cfg.enable & ~chain.done & ~self.start &
                          Cat(*ready, credit_v, credit_s).all()),
        ]
        busy = Cat(*(stage.o.valid for stage in stages)).any()
        m.d.comb += self.done.eq(~cfg.enable | (chain.done & ~busy & (out_v.level == 0) &
                                                (out_s.level == 0)))
        return m

    def _inputs(self, m, head, level):
        """Input FIFOs; returns, per input, "disabled or has a head"."""
        p, cfg = self._p, self.cfg
        ports = [(f"vin{k}", "vector", cfg.vin[k], head.vin[k]) for k in range(p.pcu_vec_in)]
        ports += [(f"sin{k}", "scalar", cfg.sin[k], head.sin[k])
                  for k in range(p.pcu_scalar_in)]
        ready = []
        for name, net, port_cfg, slot in ports:
            port = getattr(self, name)
            fifo = m.submodules[f"{name}_fifo"] = SyncFIFO(
                width=Shape.cast(link_shape(p, net)).width, depth=p.fifo_depth)
            w, r = fifo.w_stream, fifo.r_stream
            enable = Signal(name=f"{name}_enable")
            pop = level(port_cfg.level, f"{name}_pop")
            # a disabled input takes nothing: the link into it stalls
            m.d.comb += [
                enable.eq(cfg.enable & port_cfg.enable),
                w.payload.eq(port.payload),
                w.valid.eq(port.valid & enable),
                port.ready.eq(w.ready & enable),
                slot.eq(r.payload),
                r.ready.eq(self.issue & enable & pop),
            ]
            ready.append(r.valid | ~enable)
        return ready

    def _output(self, m, name, net, push, write, value):
        """Output FIFO of port ``name`` with issue credits; returns the FIFO and "does
        not push now or has a credit"."""
        depth = self._p.stages + CREDIT_SLACK
        fifo = m.submodules[f"{name}_fifo"] = SyncFIFO(
            width=Shape.cast(link_shape(self._p, net)).width, depth=depth)
        w, r = fifo.w_stream, fifo.r_stream
        # a credit is taken at issue, so the FIFO always has room for a write
        m.d.comb += [w.payload.eq(value), w.valid.eq(write)]
        wiring.connect(m, r, wiring.flipped(getattr(self, name)))
        credits = Signal(range(depth + 1), init=depth, name=f"{name}_credits")
        give = r.valid & r.ready
        with m.If(self.start):
            # the dropped iterations' credits come back
            m.d.sync += credits.eq(depth - fifo.level + give)
        with m.Else():
            m.d.sync += credits.eq(credits - (self.issue & push) + give)
        return fifo, (credits != 0) | ~push
