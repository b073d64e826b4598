import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from compiler.errors import CompileError
from compiler.netlist import Net, Netlist, VUnit, parse_netlist, synthetic_netlist
from compiler.place import net_wirelength, place, terminal
from hw.params import load_fabric

ROOT = Path(__file__).resolve().parents[2]


def check_placement(netlist, placement, p):
    """Every vunit on a distinct site of its kind, fixed ones where they were fixed, and
    the reported wirelength equal to the wirelength recomputed from the interconnect."""
    unit_kind = {uid: kind for uid, kind, _ in p.units}
    assert list(placement) == [v.name for v in netlist.vunits]
    taken = set()
    for v in netlist.vunits:
        site = placement[v.name]
        if v.kind in ("pcu", "pmu"):
            assert unit_kind[site] == v.kind
            key = ("unit", site)
        else:
            assert 0 <= site < (p.io_in if v.kind == "in" else p.io_out)
            key = (v.kind, site)
        assert key not in taken
        taken.add(key)
        if v.fixed is not None:
            assert site == v.fixed
    kinds = {v.name: v.kind for v in netlist.vunits}
    total = 0
    for net in netlist.nets:
        points = [terminal(p, kinds[v], placement[v], port)[0] for v, port in net.endpoints]
        total += net_wirelength(points)
    assert placement.wirelength == total


def test_two_pcus_become_neighbours():
    p = load_fabric("small")
    nl = parse_netlist("""
        vunit a pcu
        vunit b pcu
        net n vector a.vout -> b.vin0
    """)
    pl = place(nl, p)
    check_placement(nl, pl, p)
    # a's vout leaves at its SE corner; b's vin0 enters at its NW corner: with b one
    # unit down and to the right they are the same switch.
    assert pl.wirelength == 0


def test_fixed_vunits_stay():
    p = load_fabric("small")
    nl = parse_netlist("""
        vunit a pcu @0
        vunit m pmu
        vunit b pcu @15
        vunit i in @3
        vunit o out
        net n0 vector i.data -> a.vin0
        net n1 vector a.vout -> m.vin
        net n2 vector m.vout -> b.vin1
        net n3 vector b.vout -> o.data
    """)
    pl = place(nl, p, seed=7)
    check_placement(nl, pl, p)
    assert (pl["a"], pl["b"], pl["i"]) == (0, 15, 3)
    assert pl.wirelength <= pl.initial_wirelength


def test_report_text():
    p = load_fabric("tiny")
    nl = parse_netlist("vunit a pcu @0\nvunit i in @1\nnet n vector i.data -> a.vin0\n")
    pl = place(nl, p)
    assert pl.text().splitlines()[:2] == ["place a pcu -> unit 0", "place i in -> input port 1"]
    assert pl.text().splitlines()[2].startswith("wirelength 1 (initial 1, ")


def test_netlist_text_round_trips():
    p = load_fabric("small")
    nl = synthetic_netlist(p, 6, 6, 2, 2, 12, seed=3)
    assert parse_netlist(nl.text()) == nl
    assert str(nl) == nl.text()


@pytest.mark.parametrize("counts, message", [
    ((9, 0, 0, 0), "needs 9 PCUs; fabric 'small' has 8"),
    ((0, 9, 0, 0), "needs 9 PMUs; fabric 'small' has 8"),
    ((1, 0, 5, 0), "needs 5 input ports; fabric 'small' has 4"),
    ((1, 0, 0, 5), "needs 5 output ports; fabric 'small' has 4"),
])
def test_does_not_fit(counts, message):
    p = load_fabric("small")
    vunits = []
    for kind, count in zip(("pcu", "pmu", "in", "out"), counts):
        vunits += [VUnit(f"{kind}{k}", kind) for k in range(count)]
    with pytest.raises(CompileError) as e:
        place(Netlist(tuple(vunits), ()), p)
    assert str(e.value) == message


@pytest.mark.parametrize("text, message", [
    ("vunit a pcu\nvunit b pcu\nnet n vector a.vout -> b.vin3\n",
     "node 'n': 'b.vin3' is not an input port of a pcu (inputs: sin0, sin1, vin0, vin1, vin2)"),
    ("vunit a pcu\nvunit b pcu\nnet n vector a.vin0 -> b.vin0\n",
     "node 'n': 'a.vin0' is not an output port of a pcu (outputs: sout, vout)"),
    ("vunit a pcu\nvunit b pcu\nnet n vector a.sout -> b.vin0\n",
     "node 'n': 'a.sout' is a scalar port; the net is vector"),
    ("vunit a pcu\nvunit b pmu\nnet n scalar a.sout -> b.sin, b.sin\n",
     "node 'n': sink 'b.sin' listed twice"),
    ("vunit a pcu\nvunit b pmu\nvunit c pcu\n"
     "net n vector a.vout -> b.vin\nnet m vector c.vout -> b.vin\n",
     "node 'm': input 'b.vin' is on nets 'n' and 'm'"),
    ("vunit a pcu\nvunit b pmu\nnet n vector a.vout -> b.vin\nnet m vector a.vout -> a.vin0\n",
     "node 'm': output 'a.vout' is on nets 'n' and 'm'"),
    ("vunit a pcu\nnet n vector x.vout -> a.vin0\n", "node 'n': endpoint 'x.vout' names no vunit"),
    ("vunit i in\nvunit a pcu\nnet n scalar i.data -> a.sin0\n",
     "node 'n': 'i.data' is a vector port; the net is scalar"),
    ("vunit a pcu @1\n", "node 'a': fixed at unit 1, which is a pmu, not a pcu"),
    ("vunit a pcu @16\n", "node 'a': fixed at unit 16; fabric 'small' has units 0..15"),
    ("vunit o out @4\n", "node 'o': fixed at output port 4; fabric 'small' has 4 output ports (0..3)"),
    ("vunit a pcu @2\nvunit b pcu @2\n", "node 'b': fixed at 2, which 'a' is fixed at too"),
    ("vunit a pcu\nvunit a pmu\n", "node 'a': duplicate vunit name"),
])
def test_invalid_netlist(text, message):
    p = load_fabric("small")
    with pytest.raises(CompileError) as e:
        place(parse_netlist(text), p)
    assert str(e.value) == message


@pytest.mark.parametrize("make, message", [
    (lambda: VUnit("a", "alu"), "node 'a': kind must be one of 'pcu', 'pmu', 'in', 'out', 'dram', not 'alu'"),
    (lambda: VUnit("a b", "pcu"), "vunit name must be a non-empty string without spaces, "
                                  "'.', ',' or '@', not 'a b'"),
    (lambda: VUnit("a", "pcu", -1), "node 'a': fixed must be a non-negative integer or None, not -1"),
    (lambda: Net("n", "wide", ("a", "vout"), (("b", "vin"),)),
     "node 'n': network must be 'vector' or 'scalar', not 'wide'"),
    (lambda: Net("n", "vector", ("a", "vout"), ()), "node 'n': net has no sinks"),
    (lambda: parse_netlist("wire a b\n"), "cannot read netlist line 'wire a b'"),
])
def test_invalid_construction(make, message):
    with pytest.raises(CompileError) as e:
        make()
    assert str(e.value) == message


@pytest.mark.parametrize("kwargs, message", [
    ({"effort": 0}, "effort must be a positive number, not 0"),
    ({"effort": float("nan")}, "effort must be a positive number, not nan"),
    ({"seed": "1"}, "seed must be an integer, not '1'"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(CompileError) as e:
        place(Netlist((), ()), load_fabric("tiny"), **kwargs)
    assert str(e.value) == message


def test_annealing_shortens_wires():
    p = load_fabric("small")
    nl = synthetic_netlist(p, 8, 8, 4, 4, 24, seed=1)
    pl = place(nl, p)
    check_placement(nl, pl, p)
    assert pl.wirelength < pl.initial_wirelength


def test_deterministic_in_process_and_across_processes():
    p = load_fabric("small")
    nl = synthetic_netlist(p, 8, 8, 4, 4, 24, seed=2)
    first = place(nl, p, seed=5).text()
    assert place(nl, p, seed=5).text() == first
    script = textwrap.dedent("""
        from compiler.netlist import synthetic_netlist
        from compiler.place import place
        from hw.params import load_fabric
        p = load_fabric("small")
        print(place(synthetic_netlist(p, 8, 8, 4, 4, 24, seed=2), p, seed=5).text(), end="")
    """)
    for hashseed in ("1", "12345"):
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                             text=True, check=True, env={"PYTHONHASHSEED": hashseed,
                                                         "PYTHONPATH": str(ROOT)})
        assert out.stdout == first


def test_full_plasticine_scale():
    p = load_fabric("plasticine")
    nl = synthetic_netlist(p, 64, 64, 8, 8, 200, seed=0)
    t0 = time.monotonic()
    pl = place(nl, p)
    elapsed = time.monotonic() - t0
    check_placement(nl, pl, p)
    print(f"\nplace {len(nl.vunits)} vunits, {len(nl.nets)} nets on plasticine: "
          f"{elapsed:.2f} s, wirelength {pl.initial_wirelength} -> {pl.wirelength}")
    assert pl.wirelength < pl.initial_wirelength / 2


@settings(max_examples=40, deadline=None)
@given(fabric=st.sampled_from(["tiny", "small"]), data=st.data())
def test_random_netlists_place_legally(fabric, data):
    p = load_fabric(fabric)
    n_pcu = n_pmu = p.rows * p.cols // 2
    counts = [data.draw(st.integers(0, n), label=kind)
              for kind, n in [("pcu", n_pcu), ("pmu", n_pmu), ("in", p.io_in), ("out", p.io_out)]]
    nl = synthetic_netlist(p, *counts, nets=data.draw(st.integers(0, 20), label="nets"),
                           seed=data.draw(st.integers(0, 2**32), label="seed"))
    # fix a few vunits where the previous placement put them
    first = place(nl, p, seed=1, effort=0.3)
    fixed = set(data.draw(st.lists(st.sampled_from([v.name for v in nl.vunits]), max_size=3),
                          label="fixed") if nl.vunits else [])
    nl = Netlist(tuple(VUnit(v.name, v.kind, first[v.name] if v.name in fixed else None)
                       for v in nl.vunits), nl.nets)
    pl = place(nl, p, seed=2, effort=0.3)
    check_placement(nl, pl, p)
