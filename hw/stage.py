"""One PCU pipeline stage, and what an iteration carries from stage to stage."""

from functools import lru_cache

from amaranth.hdl import Module, Signal, Cat, Mux, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .fu import FunctionalUnit
from .layouts import Src, WORD, pcu_layout
from .links import vector_layout
from .ops import Op, SR_LANE_STRIDE, SR_TAPS

__all__ = ["Stage", "context_layout", "registers_layout", "stage_layout", "pick"]


def stage_layout(p):
    """Configuration of one pipeline stage (an element of ``pcu_layout(p).stages``)."""
    return pcu_layout(p).members["stages"].elem_shape


@lru_cache(maxsize=None)
def registers_layout(p):
    """The pipeline registers between two stages: ``regs`` vectors."""
    return data.ArrayLayout(vector_layout(p.lanes), p.regs)


@lru_cache(maxsize=None)
def context_layout(p):
    """What an iteration carries down the pipeline besides its registers.

    The input heads, counter values (``lane0`` is counter 0 as each lane sees it), the
    accumulator as of issue, the lane mask, whether the accumulator is fresh and whether
    ``vout`` / ``sout`` push.
    """
    vector = vector_layout(p.lanes)
    return data.StructLayout({
        "vin":    data.ArrayLayout(vector, p.pcu_vec_in),
        "sin":    data.ArrayLayout(signed(WORD), p.pcu_scalar_in),
        "lane0":  vector,
        "ctr":    data.ArrayLayout(signed(WORD), p.counters),
        "acc":    vector,
        "mask":   p.lanes,
        "fresh":  1,
        "push_v": 1,
        "push_s": 1,
    })


def pick(m, items, index, shape, name):
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


class Stage(wiring.Component):
    """One pipeline stage: ``lanes`` functional units and the registers after them.

    Each lane computes ``op(a, b, c)`` on operands chosen by ``cfg.src`` from ``i.regs``,
    ``i.ctx`` and ``cfg.imm``; the result replaces register ``cfg.dest`` and the other
    registers pass on. Register and context move one stage per cycle, unconditionally
    (the pipeline never stalls); ``flush`` clears the valid bit. Out-of-range operand
    indices read zero.

    Ports
    -----
    cfg : In(stage_layout(p))
    flush : In(1)
    i : In(Stage.Signature(params=p))
        The iteration entering this stage.
    o : Out(Stage.Signature(params=p))
        The same iteration one cycle later, with the stage's result.
    """

    class Signature(wiring.Signature):
        """An iteration passing from one stage to the next (the earlier stage's side).

        Parameters
        ----------
        params : FabricParams

        Members
        -------
        valid : Out(1)
        ctx : Out(context_layout(params))
        regs : Out(registers_layout(params))
        """

        def __init__(self, *, params):
            self._params = params
            super().__init__({
                "valid": Out(1),
                "ctx":   Out(context_layout(params)),
                "regs":  Out(registers_layout(params)),
            })

        @property
        def params(self):
            return self._params

        def __eq__(self, other):
            return type(other) is type(self) and other.params == self.params

        def __repr__(self):
            return f"Stage.Signature(params={self.params!r})"

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":   In(stage_layout(p)),
            "flush": In(1),
            "i":     In(self.Signature(params=p)),
            "o":     Out(self.Signature(params=p)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._p
        # Lane words are sliced straight from the flat ports: slicing through the nested
        # layouts for every lane and operand makes elaboration needlessly slow.
        regs = _words(self.i.regs.as_value(), p.regs * p.lanes)
        ctx, layout = self.i.ctx.as_value(), context_layout(p)
        vins = _words(ctx, p.pcu_vec_in * p.lanes, layout["vin"].offset)
        lane0 = _words(ctx, p.lanes, layout["lane0"].offset)
        acc = _words(ctx, p.lanes, layout["acc"].offset)
        words = [[regs[r * p.lanes + i] for r in range(p.regs)] +
                 [vins[k * p.lanes + i] for k in range(p.pcu_vec_in)] + [lane0[i], acc[i]]
                 for i in range(p.lanes)]
        a, b, c = (self._operand(m, j, words) for j in range(3))
        if p.fp:
            c = self._random_bits(m, c)
        result = Signal(vector_layout(p.lanes))
        for i in range(p.lanes):
            fu = m.submodules[f"fu{i}"] = FunctionalUnit(fp=p.fp)
            m.d.comb += [fu.op.eq(self.cfg.op), fu.a.eq(a[i]), fu.b.eq(b[i]), fu.c.eq(c[i]),
                         result[i].eq(fu.y)]
        for r in range(p.regs):
            keep = Cat(regs[r * p.lanes:(r + 1) * p.lanes])
            m.d.sync += self.o.regs[r].eq(Mux(self.cfg.dest == r, result, keep))
        m.d.sync += [self.o.ctx.eq(self.i.ctx), self.o.valid.eq(self.i.valid & ~self.flush)]
        return m

    def _random_bits(self, m, c):
        """Operand ``c`` per lane, replaced by the lane's LFSR state while the stage runs
        ``FTOBF_SR`` (stochastic rounding, :data:`hw.ops.SR_TAPS`). The LFSRs restart
        at ``flush`` from the stage immediate and the lane index, and step once per
        valid iteration of an ``FTOBF_SR`` stage."""
        p = self._p
        sr = self.cfg.op == Op.FTOBF_SR
        out = []
        for i in range(p.lanes):
            state = Signal(16, name=f"lfsr{i}")
            seed = (self.cfg.imm[:16] ^ ((i * SR_LANE_STRIDE + 1) & 0xFFFF)) | 1
            step = (state >> 1) ^ Mux(state[0], SR_TAPS, 0)
            with m.If(self.flush):
                m.d.sync += state.eq(seed)
            with m.Elif(self.i.valid & sr):
                m.d.sync += state.eq(step)
            out.append(Mux(sr, state, c[i]))
        return out

    def _operand(self, m, j, words):
        """Per-lane values of operand ``j``; ``words[i]`` lists lane ``i``'s registers,
        vector input heads, counter-0 value and accumulator. Sources that are the same
        in every lane are chosen once (``bcast``), so each lane only chooses among its
        own words and ``bcast``."""
        p = self._p
        src, ctx = self.cfg.src[j], self.i.ctx
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
                m.d.comb += bcast.eq(pick(m, list(ctx.sin), src.index, signed(WORD), f"sin{j}"))
            with m.Case(Src.CTR):
                with m.If(src.index == 0):
                    m.d.comb += sel.eq(LANE0)
                with m.Else():
                    m.d.comb += bcast.eq(pick(m, list(ctx.ctr), src.index, signed(WORD),
                                              f"ctr{j}"))
            with m.Case(Src.IMM):
                m.d.comb += bcast.eq(self.cfg.imm)
            with m.Case(Src.ACC):
                m.d.comb += sel.eq(ACC)
        return [pick(m, words[i] + [bcast], sel, signed(WORD), f"operand{j}_{i}")
                for i in range(p.lanes)]
