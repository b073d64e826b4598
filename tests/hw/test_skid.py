"""The switch's output buffer, :class:`hw.switch.SkidBuffer`, cycle by cycle against a
two-entry queue."""

import itertools
import random

import pytest
from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.sim import Simulator

from hw.ops import INT32_MAX, INT32_MIN
from hw.switch import SkidBuffer
from streams import StreamSink, StreamSource, random_pauses

SCALAR = signed(32)
VECTOR = data.ArrayLayout(signed(32), 4)


class SkidModel:
    """What the buffer's contract makes of it: a queue of at most two words whose
    outputs depend only on its contents, so ``o.valid`` (a word is queued), ``o.payload``
    (the oldest word) and ``i.ready`` (the second entry is free) are all registers.

    At a clock edge the head leaves if ``o.ready``, then the input joins if it was
    offered and ``i.ready`` was high: one word per cycle while ``o`` is not blocked.
    """

    def __init__(self):
        self.queue = []

    @property
    def i_ready(self):
        return len(self.queue) < 2

    @property
    def o_valid(self):
        return bool(self.queue)

    def edge(self, i_valid, i_payload, o_ready):
        take = i_valid and self.i_ready
        if self.o_valid and o_ready:
            self.queue.pop(0)
        if take:
            self.queue.append(i_payload)


def random_word(rng):
    """A 32-bit word, one time in five an extreme or small one."""
    if rng.random() < 0.2:
        return rng.choice([INT32_MIN, INT32_MAX, -1, 0, 1])
    return rng.randrange(INT32_MIN, INT32_MAX + 1)


def random_items(shape, n, rng):
    if shape is VECTOR:
        return [[random_word(rng) for _ in range(shape.length)] for _ in range(n)]
    return [random_word(rng) for _ in range(n)]


def check_skid(shape, *, seed, idle=None, stall=None, words=60, max_cycles=2000):
    """Stream ``words`` random words through a buffer, the source idling by ``idle``
    and the sink stalling by ``stall`` (pause patterns; None never pauses).

    Every cycle, before the clock edge, ``i.ready``, ``o.valid`` and ``o.payload`` must
    match :class:`SkidModel` whatever ``i.valid`` and ``o.ready`` are set to (they are
    registers: no combinational path, in particular none from ``o.ready`` to
    ``i.ready``). At the end every word has come out once, in order, and nothing more
    follows. Returns the sink.
    """
    dut = SkidBuffer(shape)
    items = random_items(shape, words, random.Random(seed))
    source = StreamSource(dut.i, items, pauses=idle)
    sink = StreamSink(dut.o, pauses=stall)
    model = SkidModel()

    def plain(value):
        return list(value) if shape is VECTOR else value

    def registers(ctx, cycle):
        """``(i.ready, o.valid, o.payload)``, checked against the model."""
        o_valid = ctx.get(dut.o.valid)
        got = ctx.get(dut.i.ready), o_valid, plain(ctx.get(dut.o.payload)) if o_valid else None
        want = model.i_ready, model.o_valid, model.queue[0] if model.queue else None
        assert got == want, (f"cycle {cycle}, i.valid {ctx.get(dut.i.valid)}, o.ready "
                             f"{ctx.get(dut.o.ready)}: (i.ready, o.valid, o.payload) is "
                             f"{got}, not {want}")
        return got

    async def tb(ctx):
        for cycle in range(max_cycles):
            for i_valid, o_ready in itertools.product((0, 1), repeat=2):
                ctx.set(dut.i.valid, i_valid)
                ctx.set(dut.o.ready, o_ready)
                registers(ctx, cycle)
            source.drive(ctx)
            sink.drive(ctx)
            got = registers(ctx, cycle)
            i_valid, o_ready = ctx.get(dut.i.valid), ctx.get(dut.o.ready)
            model.edge(i_valid, plain(ctx.get(dut.i.payload)), o_ready)
            source.edge(got[0])
            sink.edge(got[1], ctx.get(dut.o.payload))
            await ctx.tick()
            if len(sink.items) == words:
                break
        else:
            pytest.fail(f"{len(sink.items)} of {words} words out after {max_cycles} cycles")
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        for _ in range(4):
            assert not ctx.get(dut.o.valid), "a word came out twice"
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert sink.items == items
    return sink


@pytest.mark.parametrize("shape", [SCALAR, VECTOR], ids=["scalar", "vector"])
@pytest.mark.parametrize("idle,stall,seed", [
    (0.0, 0.0, 1), (0.5, 0.0, 2), (0.0, 0.5, 3), (0.3, 0.6, 4), (0.1, 0.9, 5), (0.7, 0.3, 6),
])
def test_random_idle_and_backpressure(shape, idle, stall, seed):
    check_skid(shape, seed=seed, idle=random_pauses(idle, f"{seed}/i"),
               stall=random_pauses(stall, f"{seed}/o"))


def test_stall_every_other_cycle():
    # the second entry fills and drains again and again
    check_skid(SCALAR, seed=7, stall=itertools.cycle([True, False]))


def test_stall_two_of_three_cycles_while_idle_one_of_two():
    check_skid(VECTOR, seed=8, idle=itertools.cycle([False, True]),
               stall=itertools.cycle([True, True, False]))


def test_full_throughput():
    sink = check_skid(SCALAR, seed=9, words=40)
    # a word offered in cycle t leaves in cycle t + 1, one per cycle
    assert sink.cycles == list(range(1, 41))


def test_long_stall_holds_two_words():
    # the sink stalls for 10 cycles: the buffer takes two words, then refuses more
    stall = itertools.chain([True] * 10, itertools.repeat(False))
    sink = check_skid(SCALAR, seed=10, words=8, stall=stall)
    assert sink.cycles[:3] == [10, 11, 12]
