import itertools

import pytest
from amaranth.sim import Simulator

from hw.counters import CounterChain
from hw.params import load_fabric


def reference(chain, vec, lanes):
    """Iterations of a counter chain as tuples of counter values, innermost first."""
    ranges = []
    for k, (start, end, stride) in enumerate(chain):
        step = stride * lanes if (k == 0 and vec) else stride
        ranges.append(list(range(start, end, step)))
    return [tuple(reversed(t)) for t in itertools.product(*reversed(ranges))]


def run_chain(chain, vec, p):
    dut = CounterChain(p)
    seen = []

    async def tb(ctx):
        for k, (start, end, stride) in enumerate(chain):
            ctx.set(dut.counters[k], {"start": start, "end": end, "stride": stride})
        ctx.set(dut.vec, vec)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        for _ in range(1000):
            if ctx.get(dut.done):
                break
            seen.append((tuple(ctx.get(dut.value[k]) for k in range(p.counters)),
                         ctx.get(dut.mask), ctx.get(dut.last), ctx.get(dut.first)))
            ctx.set(dut.advance, 1)
            await ctx.tick()
        ctx.set(dut.advance, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return seen


@pytest.mark.parametrize("chain,vec", [
    ([(0, 3, 1), (0, 2, 1), (0, 1, 1)], 0),
    ([(0, 20, 1), (5, 11, 3), (0, 2, 1)], 1),
    ([(2, 9, 2), (0, 1, 1), (-3, 0, 1)], 0),
    ([(0, 16, 1), (0, 1, 1), (0, 1, 1)], 1),
])
def test_chain_matches_reference(chain, vec):
    p = load_fabric("small")
    got = run_chain(chain, vec, p)
    want = reference(chain, vec, p.lanes)
    assert [g[0] for g in got] == want
    # mask on counter 0 when vectorised; last/first bits per counter
    for (values, mask, last, first) in got:
        start0, end0, stride0 = chain[0]
        if vec:
            want_mask = sum(1 << i for i in range(p.lanes) if values[0] + i * stride0 < end0)
            assert mask == want_mask
        step0 = stride0 * (p.lanes if vec else 1)
        assert bool(last & 1) == (values[0] + step0 >= end0)
        assert bool(first & 1) == (values[0] == start0)


def test_empty_chain_is_done_at_once():
    p = load_fabric("small")
    assert run_chain([(4, 4, 1), (0, 2, 1), (0, 1, 1)], 0, p) == []
