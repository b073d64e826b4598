"""Counter chain: the iteration engine of PCUs and PMU address generators."""

from amaranth.hdl import Module, Signal, Const, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .layouts import counter_layout, WORD
from .links import vector_layout

__all__ = ["CounterChain"]


class CounterChain(wiring.Component):
    """A chain of ``p.counters`` counters, innermost (0) first.

    Counter ``k`` takes the values ``start, start + step, ...`` while ``< end``, where
    ``step = stride`` (``stride * lanes`` for counter 0 when ``vec`` is set); strides
    must be positive. When counter ``k`` is at its last value and advances, it returns
    to ``start`` and counter ``k + 1`` advances. A counter with ``start >= end`` makes
    the chain empty (zero iterations).

    Ports
    -----
    counters, vec : In
        Configuration (held stable while running).
    restart : In(1)
        Synchronously return every counter to ``start`` and clear ``done``.
    advance : In(1)
        Move to the next iteration (ignored when ``done``).
    value : Out(Array of signed(32))
        Current value of each counter.
    lane0 : Out(Array of signed(32), lanes)
        Counter 0 as seen by each lane: ``value[0] + i * stride[0]`` when ``vec``.
    mask : Out(lanes)
        Lanes whose counter-0 value is below ``end`` (all lanes when not ``vec``).
    last : Out(counters)
        Bit ``k``: counter ``k`` is at its last value.
    first : Out(counters)
        Bit ``k``: counter ``k`` is at its first value.
    done : Out(1)
        Every iteration has been advanced past.
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "counters": In(data.ArrayLayout(counter_layout(), p.counters)),
            "vec":      In(1),
            "restart":  In(1),
            "advance":  In(1),
            "value":    Out(data.ArrayLayout(signed(WORD), p.counters)),
            "lane0":    Out(vector_layout(p.lanes)),
            "mask":     Out(p.lanes),
            "last":     Out(p.counters),
            "first":    Out(p.counters),
            "done":     Out(1, init=1),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        lane_shift = (p.lanes - 1).bit_length()
        empty = Signal()
        steps = []
        for k in range(p.counters):
            cfg = self.counters[k]
            step = Signal(signed(WORD + lane_shift + 1), name=f"step{k}")
            if k == 0:
                m.d.comb += step.eq(cfg.stride)
                with m.If(self.vec):
                    m.d.comb += step.eq(cfg.stride << lane_shift)
            else:
                m.d.comb += step.eq(cfg.stride)
            steps.append(step)
            nxt = Signal(signed(WORD + lane_shift + 2), name=f"next{k}")
            m.d.comb += [
                nxt.eq(self.value[k] + step),
                self.last[k].eq(nxt >= cfg.end),
                self.first[k].eq(self.value[k] == cfg.start),
            ]
            with m.If(cfg.start >= cfg.end):
                m.d.comb += empty.eq(1)

        for i in range(p.lanes):
            lane = Signal(signed(WORD + lane_shift + 2), name=f"lane{i}")
            m.d.comb += lane.eq(self.value[0] + (self.counters[0].stride * i))
            with m.If(self.vec):
                m.d.comb += [self.lane0[i].eq(lane), self.mask[i].eq(lane < self.counters[0].end)]
            with m.Else():
                m.d.comb += [self.lane0[i].eq(self.value[0]), self.mask[i].eq(1)]

        with m.If(self.restart):
            for k in range(p.counters):
                m.d.sync += self.value[k].eq(self.counters[k].start)
            m.d.sync += self.done.eq(empty)
        with m.Elif(self.advance & ~self.done):
            # counter k steps when 0..k-1 are all last; it wraps when it is last too
            carry = Const(1)
            for k in range(p.counters):
                with m.If(carry):
                    with m.If(self.last[k]):
                        m.d.sync += self.value[k].eq(self.counters[k].start)
                    with m.Else():
                        m.d.sync += self.value[k].eq(self.value[k] + steps[k])
                carry = carry & self.last[k]
            with m.If(carry):
                m.d.sync += self.done.eq(1)
        return m
