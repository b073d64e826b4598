"""Branch balancing: the latency model, the delay lines it plans and where lowering puts
them (the runs that show they keep a fan-out flowing are tpch_q6's in tests/e2e and the
figures in docs/benchmarks.md)."""

from compiler.compile import compile_graph
from compiler.lower import lower
from compiler.lower.balance import (DELAY_LATENCY, Branch, branch_needs, chain_lags,
                                    choose_delays, plan_delay, pmu_sites)
from compiler.lower.discovery import KernelSpec, find_kernels
from compiler.lower.kernels import build_kernel
from compiler.lower.partition import partition
from compiler.lower.schedule import schedule
from compiler.lower.tensors import Tensors
from compiler.passes import pipeline
from hw.layouts import Access
from hw.params import load_fabric
from terrazzo import kernels

SMALL = load_fabric("small")


def q6_parts(n=4096, p=SMALL):
    g = pipeline(kernels.load("tpch_q6").build(n=n))
    spec = next(s for s in find_kernels(g).steps if isinstance(s, KernelSpec))
    kernel = build_kernel(spec, Tensors(g), p, lambda base, k: f"{base}.c{k}")
    return partition(schedule(kernel.expr), kernel, p).parts


def test_lags_follow_the_chain():
    # part 0 reads discount; part 1 part 0's result and quantity; part 2 part 1's
    # result, price and discount again (test_lower_steps shows the partition)
    s = SMALL.stages
    first = 2                       # a hop and an input FIFO
    second = first + s + 1 + 2      # part 0's pipeline, its output FIFO, a hop, a FIFO
    third = second + s + 1 + 2
    assert chain_lags(q6_parts(), SMALL) == ((0,), (0, second - first),
                                             (0, third - first, third - first))


def test_only_branches_of_fan_outs_within_one_kernel_have_needs():
    nets = {("in0", "vout"): (("a", "vin0"), ("c", "vin2")),       # fans out
            ("in1", "vout"): (("c", "vin1"),),                      # one sink
            ("in2", "vout"): (("a", "vin1"), ("x", "vin0")),        # x: no kernel here
            ("in3", "vout"): (("b", "vin0"), ("d", "vin0"))}        # two kernels
    lags = {("a", "vin0"): 0, ("c", "vin2"): 14, ("c", "vin1"): 14, ("a", "vin1"): 0,
            ("b", "vin0"): 0, ("d", "vin0"): 9}
    vectors = dict.fromkeys(lags, 256)
    nodes = {("a", "vin0"): "k", ("c", "vin2"): "k", ("c", "vin1"): "k",
             ("a", "vin1"): "k", ("b", "vin0"): "k", ("d", "vin0"): "other"}
    assert branch_needs(nets, lags, vectors, nodes) == [
        Branch(("in0", "vout"), ("c", "vin2"), 256, 14, "k")]
    # a sink whose vectors no delay line can replay is no candidate
    vectors[("c", "vin2")] = None
    assert branch_needs(nets, lags, vectors, nodes) == []


def test_a_need_the_fifo_holds_gets_no_delay_line():
    assert plan_delay(256, SMALL.fifo_depth, SMALL) is None


def test_delay_line_slabs_are_half_a_fifo_and_divide_the_stream():
    line = plan_delay(256, 14, SMALL)
    assert line.slab == SMALL.fifo_depth // 2 and line.double and line.count == 1
    assert line.words(SMALL.lanes) == 2 * line.slab * SMALL.lanes
    assert line.agen.mode == Access.VECTOR
    assert line.agen.ends[:2] == (line.slab * SMALL.lanes, 256 // line.slab)
    # 255 vectors: the largest slab dividing them is 1 (255 = 3 * 5 * 17, fifo_depth 4)
    assert plan_delay(255, 14, SMALL).slab == 1
    # a stream of one slab is single-buffered
    one = plan_delay(2, 14, SMALL)
    assert one.slab == 2 and not one.double and one.config()["double"] == 0


def test_long_needs_get_more_pmus_but_never_become_the_slow_branch():
    line = plan_delay(1024, 200, SMALL)
    assert line.count > 1
    assert line.count * (line.slab + DELAY_LATENCY) <= 200


def test_choose_delays_spends_the_budget_on_the_longest_needs_first():
    b = [Branch(("s", "vout"), ("a", "vin0"), 256, 30, "k"),
         Branch(("t", "vout"), ("b", "vin0"), 256, 200, "k"),
         Branch(("u", "vout"), ("c", "vin0"), 256, 3, "k")]     # the FIFO holds it
    want = plan_delay(256, 200, SMALL).count
    got = choose_delays(b, want, SMALL)
    assert [(br.sink, line.count) for br, line in got] == [(("b", "vin0"), want)]
    got = choose_delays(b, want + 5, SMALL)
    assert [br.sink for br, _ in got] == [("a", "vin0"), ("b", "vin0")]
    assert choose_delays(b, 0, SMALL) == []


def test_tpch_q6_gets_a_delay_line_on_discount_to_its_last_part():
    low = lower(pipeline(kernels.load("tpch_q6").build(n=4096)), SMALL)
    assert len(low.delays) == 1
    delay = low.delays[0]
    plan = low.pmus[delay]
    assert plan.node == "reduce0" and plan.config["double"] == 1
    nets = {n.source: n.sinks for n in low.netlist.nets}
    # discount's stream reaches part 0 and the delay line, the delay line part 2
    assert nets[("in:discount", "data")] == (("pcu:reduce0/0", "vin0"), (delay, "vin"))
    assert nets[(delay, "vout")] == (("pcu:reduce0/2", "vin2"),)
    off = lower(pipeline(kernels.load("tpch_q6").build(n=4096)), SMALL, balance=False)
    assert off.delays == () and set(off.pmus) == set(low.pmus) - {delay}
    assert {n.source: n.sinks for n in off.netlist.nets}[("in:discount", "data")] == \
        (("pcu:reduce0/0", "vin0"), ("pcu:reduce0/2", "vin2"))


def test_the_report_counts_delay_lines():
    r = compile_graph(kernels.load("tpch_q6").build(n=100), SMALL)
    assert "  delay lines 1 (PMU holding the short branches of fan-outs)" in \
        r.report_text().splitlines()
    assert r.report["utilization"]["pmu"][0] == 1


def test_delay_lines_only_take_pmus_left_over(monkeypatch):
    import compiler.lower.driver as driver
    g = pipeline(kernels.load("tpch_q6").build(n=4096))
    assert pmu_sites(SMALL) == sum(1 for _, k, _ in SMALL.units if k.name == "PMU") > 1
    # a fabric whose PMUs are all taken (as lowering sees it) gets none
    monkeypatch.setattr(driver, "pmu_sites", lambda p: 0)
    assert lower(g, SMALL).delays == ()
