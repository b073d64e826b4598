"""Lowering: golden text of each kernel template, partitioning, operand delivery, errors."""

import numpy as np
import pytest

from compiler.compile import compile_graph
from compiler.errors import CompileError
from compiler.ir import Graph
from compiler.lower import lower
from compiler.passes import pipeline
from hw.layouts import AccMode, Src
from hw.params import load_fabric
from terrazzo import kernels

SMALL = load_fabric("small")
TINY = load_fabric("tiny")


def lowered(g, p=SMALL):
    return lower(pipeline(g), p)


def kernel_lines(low):
    return [line for line in low.to_text().splitlines() if line.startswith(("kernel", "pmu"))]


def test_map_streams_directly():
    g = Graph("axpb")
    x = g.input("x", (100,))
    g.output("y", x * 3 + 1)
    low = lowered(g)
    assert kernel_lines(low) == [
        "kernel map1 [100] loops[d0:100v] body add(mul($0, 3), 1) operands $0=x@0[1]/L0 "
        "-> rows on pcu:map1"]
    cfg = low.pcus["pcu:map1"].config
    assert [s["op"].name for s in cfg["stages"]] == ["MUL", "ADD", "PASS", "PASS"]
    assert cfg["counters"][0] == {"start": 0, "end": 100, "stride": 1} and cfg["vec"] == 1
    assert not low.pmus


def test_dot_is_a_tree_reduction():
    g = Graph("dot")
    a, b = g.input("a", (64,)), g.input("b", (64,))
    g.output("y", g.reduce("add", a * b))
    low = lowered(g)
    assert kernel_lines(low) == [
        "kernel reduce0 [] loops[d0:64v] tree-add body mul($0, $1) operands "
        "$0=a@0[1]/L0, $1=b@0[1]/L0 -> lane0 on pcu:reduce0"]
    cfg = low.pcus["pcu:reduce0"].config
    assert cfg["acc"]["mode"] == AccMode.TREE and cfg["vout"]["level"] == 1


def test_matmul_uses_lane_accumulators_and_pmus():
    g = Graph("mm")
    a, b = g.input("A", (3, 5)), g.input("B", (5, 10))
    g.output("C", g.matmul(a, b))
    assert kernel_lines(lowered(g)) == [
        "kernel matmul0 [3, 10] loops[d1:5 d2:10v d0:3] lane-add body mul($0, $1) operands "
        "$0=A(s)@0[5, 1, 0]/L0, $1=B@0[0, 10, 1]/L0 -> rows on pcu:matmul0",
        # A is read row by row, each row N/lanes times: double-buffered, one row a slab
        "pmu pmu0:A for matmul0: words=10 double wr=vector[0:5:1,0:1:1,0:3:1 vec] base=0 "
        "strides=[1, 5, 0] swap=2 rd=scalar[0:5:1,0:2:1,0:3:1] base=0 strides=[1, 0, 0] "
        "swap=2",
        "pmu pmu1:B for matmul0: words=50 wr=vector[0:10:1,0:5:1,0:1:1 vec] base=0 "
        "strides=[1, 10, 0] swap=3 rd=vector[0:5:1,0:2:1,0:3:1] base=0 strides=[10, 8, 0] "
        "swap=3"]


def test_conv1d_reads_unaligned_windows_and_constant_weights():
    g = Graph("conv")
    x = g.input("x", (20,))
    w = g.const("w", np.array([1, 2, 3]))
    g.output("y", g.conv1d(x, w))
    low = lowered(g)
    lines = kernel_lines(low)
    assert lines[0] == ("kernel conv1d0 [18] loops[d1:3v d0:18] tree-add body mul($0, $1) "
                        "operands $0=x@0[1, 1]/L0, $1=w@0[0, 1]/L0 -> lane0 on pcu:conv1d0")
    pmu_w = next(p for n, p in low.pmus.items() if n.endswith(":w"))
    assert pmu_w.init == (1, 2, 3) and pmu_w.config["init_full"] == 1


def test_outer_reads_a_as_scalars_held_across_the_row():
    g = Graph("outer")
    a, b = g.input("a", (4,)), g.input("b", (9,))
    g.output("c", g.outer(a, b))
    text = kernel_lines(lowered(g))[0]
    assert "$0=a(s)@0[1, 0]/L1" in text and "$1=b@0[0, 1]/L0" in text


def test_scan_emits_every_iteration():
    g = Graph("scan")
    x = g.input("x", (30,))
    g.output("y", g.scan("add", x))
    cfg = lowered(g).pcus["pcu:scan0"].config
    assert cfg["acc"]["mode"] == AccMode.SCAN and cfg["vout"]["level"] == 0


def test_fold_adds_its_init_in_a_second_kernel():
    g = Graph("fold")
    x = g.input("x", (30,))
    g.output("y", g.fold("max", x, 5))
    low = lowered(g)
    assert [k.name for k in low.kernels] == ["fold0.reduce", "fold0"]
    # the reduction's scalar stream feeds the second kernel directly, broadcast
    assert not low.pmus
    assert low.kernels[1].operands[0].kind == "scalar"
    assert low.pcus["pcu:fold0"].config["sin"][0]["enable"] == 1


def test_iota_reads_the_counter():
    g = kernels.load("sum_squares").build(n=50)
    low = lowered(g)
    cfg = next(iter(low.pcus.values())).config
    assert cfg["stages"][0]["src"][0] == {"kind": Src.CTR, "index": 0}
    assert not any(v["enable"] for v in cfg["vin"])


def test_long_expression_is_partitioned_over_pcus():
    g = kernels.load("tpch_q6").build(n=64)
    low = lowered(g)
    names = sorted(low.pcus)
    assert names == ["pcu:reduce0/0", "pcu:reduce0/1", "pcu:reduce0/2"]
    assert sum(p.stages_used for p in low.pcus.values()) == 7
    # only the last part reduces
    assert [low.pcus[n].config["acc"]["mode"] for n in names] == \
        [AccMode.NONE, AccMode.NONE, AccMode.TREE]


def test_streamed_rows_larger_than_a_pmu_are_double_buffered():
    g = kernels.load("gemm").build(m=96, k=32, n=32)     # A: 3072 words > 2048
    low = lowered(g)
    a = next(p for n, p in low.pmus.items() if n.endswith(":A"))
    assert a.config["double"] == 1 and a.words == 64
    assert a.config["wr"]["swap"] == 2 and a.config["rd"]["swap"] == 2


def test_error_slab_capacity():
    g = kernels.load("gemm").build(m=4, k=200, n=8)      # one row of A: 200 > 256/2
    with pytest.raises(CompileError, match=r"^node 'matmul0': tensor 'A' is read in slabs of "
                                           r"200 words; a double-buffered PMU holds two of 128$"):
        lowered(g, TINY)


def test_error_pmu_capacity():
    g = kernels.load("gemv").build(m=32, k=64)
    with pytest.raises(CompileError, match=r"^node 'gemv0': tensor 'W' needs 2048 words in a "
                                           r"PMU; a PMU holds 256$"):
        lowered(g, TINY)


def test_error_too_many_inputs():
    g = kernels.load("fused_relu").build(n=16)
    with pytest.raises(CompileError, match=r"^node 'b': the graph has more inputs than the "
                                           r"fabric's 2 input ports$"):
        lowered(g, TINY)


def test_error_too_many_loops():
    g = Graph("deep")
    x = g.input("x", (2, 2, 2, 2))
    g.output("y", x + 1)
    with pytest.raises(CompileError, match=r"^node 'map0': needs 4 loop levels; a counter "
                                           r"chain has 3$"):
        lowered(g)


def test_error_strided_vector_read():
    g = Graph("t")
    x = g.input("x", (4, 6))
    g.output("y", g.transpose(x) + 1)
    with pytest.raises(CompileError, match=r"^node 'map0': graph input 'x' is read with stride 6 "
                                           r"along the vector axis"):
        lowered(g)


def test_error_no_split_applies():
    g = Graph("wide")
    x = [g.input(f"x{i}", (8,)) for i in range(3)]
    # one op reading three vector inputs: no part holding it fits a PCU with two
    g.output("y", g.select(x[0], x[1], x[2]))
    with pytest.raises(CompileError, match=r"^node 'map0': needs 1 stages, 1 registers, "
                                           r"3 vector and 0 scalar inputs after fusion; a PCU "
                                           r"has 3 stages, 2 registers, 2 vector and 1 scalar "
                                           r"inputs, and no split applies$"):
        lowered(g, load_fabric("tiny").replace(io_in=4, rows=4, cols=4))


def test_error_placement_needs_more_units():
    g = Graph("chain")
    x = g.input("x", (8,))
    # seven dependent ops: three PCUs of three stages on tiny, which has two
    g.output("y", ((((x * 2 + 1) * 3 + 2) * 5 + 3) * 7) ^ 9)
    with pytest.raises(CompileError, match=r"needs 3 PCUs; fabric 'tiny' has 2"):
        compile_graph(g, TINY)


def test_gemv_reads_constant_weights_and_replays_x():
    g = Graph("gemv")
    w = g.const("W", np.arange(12).reshape(3, 4))
    x = g.input("x", (4,))
    g.output("y", g.gemv(w, x))
    assert kernel_lines(lowered(g)) == [
        "kernel gemv0 [3] loops[d1:4v d0:3] tree-add body mul($0, $1) operands "
        "$0=W@0[4, 1]/L0, $1=x@0[0, 1]/L0 -> lane0 on pcu:gemv0",
        "pmu pmu0:W for gemv0: words=12 wr=off rd=vector[0:4:1,0:3:1,0:1:1 vec] base=0 "
        "strides=[1, 4, 0] swap=3 init=12",
        "pmu pmu1:x for gemv0: words=4 wr=vector[0:4:1,0:1:1,0:1:1 vec] base=0 "
        "strides=[1, 4, 0] swap=3 rd=vector[0:4:1,0:3:1,0:1:1 vec] base=0 strides=[1, 0, 0] "
        "swap=3"]


def test_linear_transposes_constant_weights_at_compile_time():
    g = Graph("lin")
    x = g.input("x", (2, 3))
    w = g.const("W", np.arange(12).reshape(4, 3))
    b = g.const("b", np.arange(4))
    g.output("y", g.linear(x, w, b))
    low = lowered(g)
    assert kernel_lines(low)[:2] == [
        "kernel linear0.mm [2, 4] loops[d1:3 d2:4v d0:2] lane-add body mul($0, $1) operands "
        "$0=x(s)@0[3, 1, 0]/L0, $1=W.v9_0@0[0, 4, 1]/L0 -> rows on pcu:linear0_mm",
        "kernel linear0 [2, 4] loops[d1:4v d0:2] body add($0, $1) operands "
        "$0=linear0.mm@0[4, 1]/L0, $1=b@0[0, 1]/L0 -> rows on pcu:linear0"]
    wt = next(p for n, p in low.pmus.items() if "W_v9_0" in n)
    assert wt.init == tuple(np.arange(12).reshape(4, 3).T.reshape(-1))


def test_relu_is_one_max_stage():
    g = Graph("relu")
    x = g.input("x", (5,))
    g.output("y", g.relu(x))
    assert kernel_lines(lowered(g)) == [
        "kernel relu0 [5] loops[d0:5v] body max($0, 0) operands $0=x@0[1]/L0 -> rows on "
        "pcu:relu0"]


def test_lower_does_not_modify_its_input():
    g = Graph("lin")
    x = g.input("x", (2, 3))
    w = g.const("W", np.arange(12).reshape(4, 3))
    g.output("y", g.linear(x, w, g.const("b", np.arange(4))))
    g = pipeline(g)
    before, nodes = g.copy(), dict(g.nodes)
    low = lower(g, SMALL)
    # the transposed weights became a compact constant of lowering's own
    assert any(o.tensor == "W.v9_0" for k in low.kernels for o in k.operands)
    assert g == before and g.nodes == nodes and list(g.nodes) == list(nodes)
    assert lower(g, SMALL).to_text() == low.to_text()


def test_a_tensor_read_beside_its_own_reduction_goes_through_a_pmu():
    """x - max(x) along rows: the map's x would wait at its FIFO for max of the row,
    which needs the whole row to have passed the fork; with rows longer than the FIFO
    a direct read deadlocks, so x is buffered (a slab per row, double) and only the
    reduction reads it directly."""
    g = Graph("centre")
    x = g.input("x", (3, 40))
    top = g.reduce("max", x, axis=1)
    g.output("y", x - g.broadcast_to(g.view(top, (3, 1)), (3, 40)))
    low = lowered(g)
    assert [line.split(":")[1].split(" ")[0] for line in kernel_lines(low)
            if line.startswith("pmu")] == ["x"]
    net_into_map = [line for line in low.to_text().splitlines() if "in:x.data" in line]
    assert len(net_into_map) == 1 and "pcu:reduce0" in net_into_map[0] and \
        "pmu0" in net_into_map[0]
