import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hw.interconnect import NETWORKS, interconnect, switch_layout
from hw.params import load_fabric
from hw.switch import Switch
from streams import StreamSink, StreamSource, random_pauses


# -- configurations -------------------------------------------------------------------

def random_config(rng, spec, *, p_enable=0.7, fan_in=None):
    """``{net: {out: (en, sel)}}``; ``sel`` may run past the source list when the field
    has room, and with ``fan_in`` most enabled outputs pick one of a few inputs, so
    one input often feeds several outputs."""
    cfg = {}
    for net in NETWORKS:
        favourites = rng.sample(spec.inputs[net], min(fan_in or 1, len(spec.inputs[net])))
        cfg[net] = {}
        for out in spec.outputs[net]:
            en = rng.random() < p_enable
            width = max(1, (len(out.sources) - 1).bit_length())
            candidates = [s for s in favourites if s in out.sources]
            if fan_in and candidates and rng.random() < 0.8:
                sel = out.select(rng.choice(candidates))
            elif rng.random() < 0.1:
                sel = rng.randrange(1 << width)      # possibly past the end
            else:
                sel = rng.randrange(len(out.sources))
            cfg[net][out.name] = (int(en), sel)
    return cfg


def config_const(p, pos, cfg):
    layout = switch_layout(p, pos)
    return layout.const({net: {name: {"en": en, "sel": sel} for name, (en, sel) in outs.items()}
                         for net, outs in cfg.items()}).as_bits()


def routed_source(spec, cfg, net, out_name):
    """The input an output forwards under ``cfg`` (reference model), or None."""
    en, sel = cfg[net][out_name]
    sources = spec.output(net, out_name).sources
    return sources[sel] if en and sel < len(sources) else None


# -- a shared traffic checker ----------------------------------------------------------

class Port:
    """One stream at the edge of the design under test."""

    def __init__(self, key, net, stream, lanes):
        self.key, self.net, self.stream, self.lanes = key, net, stream, lanes

    def word(self, tag):
        return [tag * self.lanes + k for k in range(self.lanes)] if self.net == "vector" else tag

    def tag(self, value):
        if self.net == "scalar":
            return value
        lanes = [value[k] for k in range(self.lanes)]
        assert lanes == self.word(lanes[0] // self.lanes), f"{self.key}: torn vector {lanes}"
        return lanes[0] // self.lanes


def run_traffic(dut, configs, inputs, outputs, expect, *, words, seed, gap=0.0,
                backpressure=0.0, max_cycles=3000):
    """Drive ``words`` words into every input with valid gaps, pull from every output
    with random backpressure, and check each output against ``expect``.

    Each input idles before each word with chance ``gap`` per cycle, each output is not
    ready with chance ``backpressure`` per cycle, every port with its own pause pattern
    seeded from ``seed``. The ports are stepped in lockstep, so that every cycle can
    also check that no input's ready follows an output's ready combinationally, that
    only an input some enabled output selects is ever ready and that a disabled output
    is never valid.

    ``configs`` is ``[(cfg_port, bits)]``; ``inputs``/``outputs`` are lists of
    :class:`Port`; ``expect[out_key]`` is the input key the output forwards, or None.
    Returns ``{out_key: [cycle of each word]}``.
    """
    sent = {i.key: [1000 * n + k for k in range(words)] for n, i in enumerate(inputs)}
    fed = {i.key: any(expect[o.key] == i.key for o in outputs) for i in inputs}
    sources = {i.key: StreamSource(i.stream, [i.word(tag) for tag in sent[i.key]],
                                   pauses=random_pauses(gap, f"{seed}/{i.key}"))
               for i in inputs}
    sinks = {o.key: StreamSink(o.stream, pauses=random_pauses(backpressure, f"{seed}/{o.key}"))
             for o in outputs}

    async def tb(ctx):
        for port, bits in configs:
            ctx.set(port.as_value(), bits)
        for cycle in range(max_cycles):
            for source in sources.values():
                source.drive(ctx)
            # no combinational path from a downstream ready to an upstream ready
            for o in outputs:
                ctx.set(o.stream.ready, 0)
            before = [ctx.get(i.stream.ready) for i in inputs]
            for sink in sinks.values():
                sink.drive(ctx)
            assert [ctx.get(i.stream.ready) for i in inputs] == before, f"cycle {cycle}"
            for i in inputs:
                ready = ctx.get(i.stream.ready)
                if ready:
                    assert fed[i.key], f"{i.key} is selected by no enabled output but ready"
                sources[i.key].edge(ready)
            for o in outputs:
                valid = ctx.get(o.stream.valid)
                if valid:
                    assert expect[o.key] is not None, f"disabled output {o.key} is valid"
                sinks[o.key].edge(valid, ctx.get(o.stream.payload))
            await ctx.tick()
            done = all(len(sinks[o.key].items) == words
                       for o in outputs if expect[o.key] is not None)
            if done and all(sources[i.key].done for i in inputs if fed[i.key]):
                break
        else:
            pytest.fail(f"traffic did not drain in {max_cycles} cycles")
        for _ in range(8):      # nothing more appears
            for o in outputs:
                ctx.set(o.stream.ready, 1)
                assert not ctx.get(o.stream.valid), f"{o.key} has an extra word"
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    for o in outputs:
        want = sent[expect[o.key]] if expect[o.key] is not None else []
        assert [o.tag(v) for v in sinks[o.key].items] == want, f"output {o.key}"
    return {o.key: sinks[o.key].cycles for o in outputs}


def single_switch_ports(p, sw):
    spec = sw.spec
    inputs = [Port((net, n), net, getattr(sw, f"i_{net}_{n}"), p.lanes)
              for net in NETWORKS for n in spec.inputs[net]]
    outputs = [Port((net, o.name), net, getattr(sw, f"o_{net}_{o.name}"), p.lanes)
               for net in NETWORKS for o in spec.outputs[net]]
    return inputs, outputs


def check_switch(p, pos, cfg, **kwargs):
    sw = Switch(p, pos)
    inputs, outputs = single_switch_ports(p, sw)
    expect = {}
    for o in outputs:
        src = routed_source(sw.spec, cfg, *o.key)
        expect[o.key] = (o.net, src) if src is not None else None
    return run_traffic(sw, [(sw.cfg, config_const(p, pos, cfg))], inputs, outputs, expect,
                       **kwargs), expect


# -- tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("fabric,pos,seed", [
    ("tiny", (0, 0), 1), ("tiny", (1, 1), 2), ("small", (2, 2), 3),
    ("small", (0, 4), 4), ("small", (4, 1), 5), ("small", (1, 3), 6),
])
def test_random_routing(fabric, pos, seed):
    p = load_fabric(fabric)
    cfg = random_config(random.Random(seed), interconnect(p).switches[pos])
    check_switch(p, pos, cfg, words=24, seed=seed, gap=0.3, backpressure=0.4)


@pytest.mark.parametrize("fabric,pos,seed", [
    ("tiny", (1, 1), 11), ("small", (2, 2), 12), ("small", (3, 1), 13), ("small", (2, 4), 14),
])
def test_fan_out(fabric, pos, seed):
    p = load_fabric(fabric)
    spec = interconnect(p).switches[pos]
    cfg = random_config(random.Random(seed), spec, p_enable=0.9, fan_in=2)
    # at least one input feeds several outputs
    counts = {}
    for net in NETWORKS:
        for o in spec.outputs[net]:
            src = routed_source(spec, cfg, net, o.name)
            counts[(net, src)] = counts.get((net, src), 0) + (src is not None)
    assert max(counts.values()) >= 3
    check_switch(p, pos, cfg, words=24, seed=seed, gap=0.2, backpressure=0.5)


def test_disabled_outputs_take_nothing():
    p = load_fabric("small")
    spec = interconnect(p).switches[(2, 2)]
    cfg = {net: {o.name: (0, 0) for o in spec.outputs[net]} for net in NETWORKS}
    # one enabled output keeps some traffic flowing beside the disabled ones
    cfg["vector"]["E1"] = (1, spec.output("vector", "E1").select("W1"))
    _, expect = check_switch(p, (2, 2), cfg, words=10, seed=21)
    assert sum(v is not None for v in expect.values()) == 1


@pytest.mark.parametrize("fabric,pos", [("tiny", (1, 1)), ("small", (2, 2))])
def test_full_throughput(fabric, pos):
    p = load_fabric(fabric)
    spec = interconnect(p).switches[pos]
    cfg = random_config(random.Random(31), spec, p_enable=1.0, fan_in=2)
    words = 32
    when, expect = check_switch(p, pos, cfg, words=words, seed=31)
    for key, cycles in when.items():
        if expect[key] is not None:
            # one word per cycle per output once the first word is through
            assert cycles[-1] - cycles[0] == words - 1, key
            assert cycles[0] <= 1, key


@pytest.mark.parametrize("fabric,seed,gap,backpressure", [
    ("small", 41, 0.3, 0.4), ("small", 42, 0.0, 0.0), ("tiny", 43, 0.5, 0.6),
])
def test_chain_of_two_switches(fabric, seed, gap, backpressure):
    """Switch (1, 1) output E0 drives switch (1, 2) input W0 on both networks."""
    p = load_fabric(fabric)
    rng = random.Random(seed)
    ic = interconnect(p)
    a, b = (1, 1), (1, 2)
    sa, sb = ic.switches[a], ic.switches[b]
    assert ic.links[(a, "vector", "E0")] == (b, "W0")
    cfg_a = random_config(rng, sa, fan_in=2)
    cfg_b = random_config(rng, sb, fan_in=1)
    for net in NETWORKS:
        # the link is enabled and read by at least one enabled output of b
        if routed_source(sa, cfg_a, net, "E0") is None:
            cfg_a[net]["E0"] = (1, 0)
        readers = [o for o in sb.outputs[net] if "W0" in o.sources]
        if not any(routed_source(sb, cfg_b, net, o.name) == "W0" for o in readers):
            o = rng.choice(readers)
            cfg_b[net][o.name] = (1, o.select("W0"))

    m = Module()
    m.submodules.a = swa = Switch(p, a)
    m.submodules.b = swb = Switch(p, b)
    for net in NETWORKS:
        wiring.connect(m, getattr(swa, f"o_{net}_E0"), getattr(swb, f"i_{net}_W0"))
    in_a, out_a = single_switch_ports(p, swa)
    in_b, out_b = single_switch_ports(p, swb)
    for port in in_a + out_a:
        port.key = ("a",) + port.key
    for port in in_b + out_b:
        port.key = ("b",) + port.key
    inputs = in_a + [i for i in in_b if i.key[2] != "W0"]
    outputs = [o for o in out_a if o.key[2] != "E0"] + out_b
    expect = {}
    for o in out_a:
        src = routed_source(sa, cfg_a, *o.key[1:])
        expect[o.key] = ("a", o.net, src) if src is not None else None
    for o in out_b:
        src = routed_source(sb, cfg_b, *o.key[1:])
        if src == "W0":
            src_a = routed_source(sa, cfg_a, o.net, "E0")
            expect[o.key] = ("a", o.net, src_a)
        else:
            expect[o.key] = ("b", o.net, src) if src is not None else None
    configs = [(swa.cfg, config_const(p, a, cfg_a)), (swb.cfg, config_const(p, b, cfg_b))]
    run_traffic(m, configs, inputs, outputs, expect, words=20, seed=seed, gap=gap,
                backpressure=backpressure)


def test_bad_position():
    p = load_fabric("tiny")
    with pytest.raises(ValueError, match=r"not \(3, 0\)"):
        Switch(p, (3, 0))
