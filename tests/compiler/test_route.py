import dataclasses
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from compiler.errors import CompileError
from compiler.netlist import parse_netlist, synthetic_netlist
from compiler.place import place
from compiler.route import Hop, Routing, check_routing, route
from hw.interconnect import interconnect
from hw.params import load_fabric

ROOT = Path(__file__).resolve().parents[2]

# Tiny with every unit and port fixed: units 0 (PCU) 1 (PMU) / 2 (PMU) 3 (PCU).
TINY_FIXED = """
    vunit c0 pcu @0
    vunit m1 pmu @1
    vunit m2 pmu @2
    vunit c3 pcu @3
    vunit i0 in @0
    vunit i1 in @1
    vunit o0 out @0
    vunit o1 out @1
"""


def fixed_placement(nl):
    return {v.name: v.fixed for v in nl.vunits}


def check_configs(routing):
    """Switch configs agree with the hops and with the interconnect's source lists."""
    ic = interconnect(routing.fabric)
    seen = {}
    for r in routing.routes.values():
        for hop in r.hops:
            sel = ic.switches[hop.pos].output(hop.network, hop.output).sources.index(hop.input)
            seen.setdefault(hop.pos, {"vector": {}, "scalar": {}})[hop.network][hop.output] = sel
    for pos in ic.switches:
        assert routing.switch_config(pos) == seen.get(pos, {"vector": {}, "scalar": {}})


def compile_text(text, fabric, **kwargs):
    """Place (unless everything is fixed) and route, then check the result."""
    p = load_fabric(fabric)
    nl = parse_netlist(text)
    if all(v.fixed is not None for v in nl.vunits):
        pl = fixed_placement(nl)
    else:
        pl = place(nl, p)
    routing = route(nl, pl, p, **kwargs)
    routing.check(nl, pl)
    check_configs(routing)
    return nl, pl, routing


def test_pcu_to_pcu_neighbours():
    _, pl, routing = compile_text("""
        vunit a pcu @0
        vunit b pcu @5
        net n vector a.vout -> b.vin0
    """, "small")
    # unit 0's vout and unit 5's vin0 meet at switch (1, 1): one hop, no link
    assert routing.routes["n"].hops == (Hop((1, 1), "vector", "u5_vin0", "u0_vout"),)
    assert routing.routes["n"].wirelength == 0
    assert routing.iterations == 1
    sel = interconnect(load_fabric("small")).switches[(1, 1)].output("vector", "u5_vin0") \
        .sources.index("u0_vout")
    assert routing.switch_config((1, 1)) == {"vector": {"u5_vin0": sel}, "scalar": {}}


def test_scalar_neighbours_one_link():
    _, _, routing = compile_text("""
        vunit a pcu @0
        vunit m pmu @1
        net n scalar a.sout -> m.sin
    """, "small")
    # unit 0's sout is at (0, 0), unit 1's sin at its NE corner (0, 2): two links east
    r = routing.routes["n"]
    assert r.wirelength == 2
    assert r.hops[0] == Hop((0, 0), "scalar", r.hops[0].output, "u0_sout")
    assert r.hops[-1].pos == (0, 2) and r.hops[-1].output == "u1_sin"


def test_edge_in_pcu_edge_out():
    p = load_fabric("small")
    nl, pl, routing = compile_text("""
        vunit i in
        vunit a pcu
        vunit o out
        net x vector i.data -> a.vin0
        net y vector a.vout -> o.data
    """, "small")
    k = pl["i"]
    first = routing.routes["x"].hops[0]
    assert (first.pos, first.input) == (p.in_port_switch(k), f"in{k}")
    last = routing.routes["y"].hops[-1]
    assert (last.pos, last.output) == (p.out_port_switch(pl["o"]), f"out{pl['o']}")
    assert "routed 2 nets in 1 iterations" in routing.text()


def test_fan_out_to_three_sinks():
    nl, pl, routing = compile_text("""
        vunit a pcu
        vunit b pcu
        vunit c pcu
        vunit m pmu
        net f vector a.vout -> b.vin0, c.vin1, m.vin
    """, "small")
    r = routing.routes["f"]
    outputs = [h.output for h in r.hops]
    assert f"u{pl['b']}_vin0" in outputs and f"u{pl['c']}_vin1" in outputs \
        and f"u{pl['m']}_vin" in outputs
    # a tree: each output once
    assert len(set((h.pos, h.output) for h in r.hops)) == len(r.hops)


def test_fan_out_shares_an_input():
    # in0 enters (0, 0); c0's vin0 is at (0, 0) too, so one input feeds two outputs there
    _, _, routing = compile_text(TINY_FIXED + """
        net f vector i0.data -> c0.vin0, o0.data
    """, "tiny")
    at_origin = [h for h in routing.routes["f"].hops if h.pos == (0, 0)]
    assert {h.input for h in at_origin} == {"in0"} and len(at_origin) == 2


# Three nets must cross from switch column 1 to column 2 of tiny, which has exactly
# three eastward vector links (one track): the first greedy routes collide.
CHANNEL = TINY_FIXED + """
    net a vector i0.data -> o1.data
    net b vector i1.data -> o0.data
    net c vector c0.vout -> c3.vin1
"""


def test_narrow_channel_needs_negotiation():
    _, _, routing = compile_text(CHANNEL, "tiny")
    assert routing.iterations > 1
    crossing = [h for r in routing.routes.values() for h in r.hops
                if h.output == "E0" and h.pos[1] == 1]
    assert len(crossing) == 3
    with pytest.raises(CompileError, match=r"^routing failed after 1 iterations: "
                                           r"congested switches \(\d,\d\) vector "):
        compile_text(CHANNEL, "tiny", max_iterations=1)


def test_unroutable():
    # a 1x4 strip with one track: three nets need the two eastward links of one cut
    p = load_fabric("tiny").replace(name="strip", rows=1, cols=4)
    nl = parse_netlist("""
        vunit c0 pcu @0
        vunit m3 pmu @3
        vunit i0 in @0
        vunit i1 in @1
        vunit o0 out @0
        vunit o1 out @1
        net a vector i0.data -> o0.data
        net b vector i1.data -> o1.data
        net c vector c0.vout -> m3.vin
    """)
    with pytest.raises(CompileError) as e:
        route(nl, fixed_placement(nl), p, max_iterations=10)
    assert str(e.value).startswith("routing failed after 10 iterations: congested switches (")
    assert " vector E0 (2 nets)" in str(e.value)


def test_bad_placement_and_options():
    p = load_fabric("small")
    nl = parse_netlist("vunit a pcu\nvunit b pcu\nnet n vector a.vout -> b.vin0\n")
    with pytest.raises(CompileError, match=r"^node 'b': vunit is not placed$"):
        route(nl, {"a": 0}, p)
    with pytest.raises(CompileError, match=r"^node 'b': placed at 1, which is not a pcu site "
                                           r"of fabric 'small'$"):
        route(nl, {"a": 0, "b": 1}, p)
    with pytest.raises(CompileError, match=r"^max_iterations must be a positive integer, not 0$"):
        route(nl, {"a": 0, "b": 2}, p, max_iterations=0)


def test_check_catches_broken_routes():
    nl, pl, routing = compile_text("""
        vunit a pcu @0
        vunit b pcu @10
        vunit c pcu @2
        vunit d pcu @8
        net n vector a.vout -> b.vin0
        net m vector c.vout -> d.vin0
    """, "small")
    p = routing.fabric
    n, m = routing.routes["n"], routing.routes["m"]

    def broken(**routes):
        return Routing(p, {**routing.routes, **routes}, routing.iterations)

    with pytest.raises(CompileError, match="sink 'b.vin0' is not reached"):
        broken(n=dataclasses.replace(n, hops=n.hops[:-1])).check(nl, pl)
    with pytest.raises(CompileError, match="is not reached from the source"):
        broken(n=dataclasses.replace(n, hops=n.hops[1:])).check(nl, pl)
    with pytest.raises(CompileError, match="is used by nets 'n' and 'm'"):
        broken(m=dataclasses.replace(m, hops=m.hops + n.hops[-1:])).check(nl, pl)
    hop = n.hops[0]
    other = next(s for s in interconnect(p).switches[hop.pos].output("vector", hop.output).sources
                 if s != hop.input)
    with pytest.raises(CompileError, match="selects both"):
        broken(n=dataclasses.replace(n, hops=n.hops + (Hop(hop.pos, "vector", hop.output, other),))
               ).check(nl, pl)
    with pytest.raises(CompileError, match="is not a source of"):
        broken(n=dataclasses.replace(n, hops=(Hop(hop.pos, "vector", hop.output, "Q9"),) +
                                     n.hops[1:])).check(nl, pl)
    check_routing(routing, nl, pl)


def _script(fabric, pcus, pmus, ins, outs, nets, seed):
    return textwrap.dedent(f"""
        from compiler.netlist import synthetic_netlist
        from compiler.place import place
        from compiler.route import route
        from hw.interconnect import interconnect
        from hw.params import load_fabric
        p = load_fabric({fabric!r})
        nl = synthetic_netlist(p, {pcus}, {pmus}, {ins}, {outs}, {nets}, seed={seed})
        pl = place(nl, p)
        r = route(nl, pl, p)
        print(pl.text() + r.text(), end="")
        for pos in sorted(interconnect(p).switches):
            print(pos, r.switch_config(pos))
    """)


def test_deterministic_across_processes():
    args = ("small", 7, 7, 3, 3, 20, 4)
    script = _script(*args)
    outputs = set()
    for hashseed in ("0", "1", "4242"):
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                             text=True, check=True, env={"PYTHONHASHSEED": hashseed,
                                                         "PYTHONPATH": str(ROOT)})
        outputs.add(out.stdout)
    assert len(outputs) == 1
    p = load_fabric("small")
    nl = synthetic_netlist(p, *args[1:6], seed=args[6])
    pl = place(nl, p)
    r = route(nl, pl, p)
    assert outputs.pop().startswith(pl.text() + r.text())


def test_plasticine_scale():
    p = load_fabric("plasticine")
    nl = synthetic_netlist(p, 50, 50, 4, 4, 150, seed=0)
    t0 = time.monotonic()
    pl = place(nl, p)
    t1 = time.monotonic()
    routing = route(nl, pl, p)
    t2 = time.monotonic()
    routing.check(nl, pl)
    check_configs(routing)
    print(f"\nplasticine: {len(nl.vunits)} vunits, {len(nl.nets)} nets: place {t1 - t0:.2f} s "
          f"(wirelength {pl.wirelength}), route {t2 - t1:.2f} s "
          f"({routing.iterations} iterations, {routing.wirelength} links)")


@settings(max_examples=40, deadline=None)
@given(fabric=st.sampled_from(["tiny", "small"]), data=st.data())
def test_random_netlists_route_or_fail_cleanly(fabric, data):
    p = load_fabric(fabric)
    half = p.rows * p.cols // 2
    counts = [data.draw(st.integers(0, n), label=kind)
              for kind, n in [("pcu", half), ("pmu", half), ("in", p.io_in), ("out", p.io_out)]]
    nl = synthetic_netlist(p, *counts, nets=data.draw(st.integers(0, 30), label="nets"),
                           seed=data.draw(st.integers(0, 2**32), label="seed"),
                           window=data.draw(st.integers(1, 16), label="window"))
    try:
        pl = place(nl, p, seed=data.draw(st.integers(0, 9), label="place seed"), effort=0.3)
        routing = route(nl, pl, p, max_iterations=15)
    except CompileError as e:
        assert str(e).startswith("routing failed after 15 iterations: congested switches (")
        return
    routing.check(nl, pl)
    check_configs(routing)
    assert set(routing.routes) == {net.name for net in nl.nets}
