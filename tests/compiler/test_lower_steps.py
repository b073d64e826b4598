"""The steps of lowering one by one: golden text of the kernels found, a built kernel,
its delivery plan, its schedule and its partition."""

import numpy as np
import pytest

from terrazzo import kernels
from compiler.errors import CompileError
from compiler.ir import Graph, Arg, Imm, Call, Const
from compiler.lower.delivery import plan_delivery
from compiler.lower.discovery import InputStep, KernelSpec, find_kernels
from compiler.lower.kernels import build_kernel
from compiler.lower.partition import partition
from compiler.lower.plans import Stream
from compiler.lower.schedule import schedule
from compiler.lower.tensors import Tensors
from compiler.passes import pipeline
from hw.ops import Op
from hw.params import load_fabric

SMALL = load_fabric("small")
TINY = load_fabric("tiny")


def found(g):
    return find_kernels(pipeline(g)).to_text()


def first_kernel(g, p=SMALL):
    """The first kernel of ``g`` after the passes, its tensors, and the streams of the
    graph inputs (as the driver makes them: rows from an edge input port)."""
    g = pipeline(g)
    tensors = Tensors(g)
    steps = find_kernels(g).steps
    spec = next(s for s in steps if isinstance(s, KernelSpec))
    kernel = build_kernel(spec, tensors, p, lambda base, k: f"{base}.c{k}")
    for const in kernel.consts:
        tensors.add_const(const)
    streams = {s.name: [Stream(s.name, s.shape, "rows", (f"in:{s.name}", "data"))]
               for s in steps if isinstance(s, InputStep)}
    return kernel, tensors, streams


def delivery_text(g, p=SMALL):
    kernel, tensors, streams = first_kernel(g, p)
    return plan_delivery(kernel, streams, tensors, p).to_text()


def partition_text(g, p=SMALL):
    kernel, _, _ = first_kernel(g, p)
    return partition(schedule(kernel.expr), kernel, p).to_text()


# -- kernel discovery -----------------------------------------------------------------------

def test_found_fold_is_a_reduction_and_a_map_and_a_constant_output_is_copied():
    g = Graph("fold")
    x = g.input("x", (30,))
    g.output("y", g.fold("max", x, 5))
    g.output("x", x)
    g.output("z", g.const("c", np.arange(4)))
    assert found(g) == (
        "input x [30]\n"
        "kernel fold0.reduce [] = reduce-max[0] $0 over x\n"
        "kernel fold0 [] = map max($0, 5) over fold0.reduce\n"
        "output y = fold0\n"
        "output x = x\n"
        "kernel z.copy [4] = map $0 over c\n"
        "output z = z.copy\n")


def test_found_reduction_takes_in_the_map_it_consumes():
    g = Graph("mm")
    a, b = g.input("A", (3, 5)), g.input("B", (5, 10))
    g.output("C", g.relu(g.matmul(a, b)))
    assert found(g) == (
        "input A [3, 5]\n"
        "input B [5, 10]\n"
        "kernel matmul0 [3, 10] = reduce-add[1] mul($0, $1) over matmul0.a, matmul0.b\n"
        "kernel relu0 [3, 10] = map max($0, 0) over matmul0\n"
        "output C = relu0\n")


def test_found_map_that_is_an_output_stays_a_kernel_of_its_own():
    g = Graph("dot")
    a, b = g.input("a", (64,)), g.input("b", (64,))
    prod = a * b
    g.output("y", g.reduce("add", prod))
    g.output("p", prod)
    assert found(g) == (
        "input a [64]\n"
        "input b [64]\n"
        "kernel map0 [64] = map mul($0, $1) over a, b\n"
        "kernel reduce0 [] = reduce-add[0] $0 over map0\n"
        "output y = reduce0\n"
        "output p = map0\n")


def test_found_refuses_a_composite():
    g = Graph("mm")
    a, b = g.input("A", (3, 5)), g.input("B", (5, 10))
    g.output("C", g.matmul(a, b))
    with pytest.raises(CompileError, match=r"^node 'matmul0': cannot lower a Composite node "
                                           r"\(run the decompose pass first\)$"):
        find_kernels(g)


# -- kernel building ------------------------------------------------------------------------

def test_built_kernel_has_no_pcus_yet():
    kernel, _, _ = first_kernel(kernels.load("sum_squares").build(n=50))
    assert kernel.to_text() == (
        "kernel reduce0 [] loops[d0:50v] tree-add body mul($0, $0) operands "
        "$0=i(ctr)@0[1]/L0 -> lane0")


def test_transposed_constant_becomes_a_compact_constant_of_the_kernel():
    g = Graph("lin")
    x = g.input("x", (2, 3))
    w = g.const("W", np.arange(12).reshape(4, 3))
    g.output("y", g.matmul(x, g.transpose(w)))
    kernel, _, _ = first_kernel(g)
    assert kernel.to_text() == (
        "kernel matmul0 [2, 4] loops[d1:3 d2:4v d0:2] lane-add body mul($0, $1) operands "
        "$0=x(s)@0[3, 1, 0]/L0, $1=W.c0@0[0, 4, 1]/L0 -> rows")
    assert kernel.consts == (Const("W.c0", (3, 4), "i32",
                                   tuple(np.arange(12).reshape(4, 3).T.reshape(-1))),)


# -- delivery -------------------------------------------------------------------------------

def test_delivery_direct_when_the_kernel_pops_the_stream_in_order():
    g = Graph("axpb")
    x = g.input("x", (100,))
    g.output("y", x * 3 + 1)
    assert delivery_text(g) == "delivery map1\n  $0 x: direct from in:x.data rows\n"


def test_delivery_reuse_and_scalars_go_through_pmus():
    g = Graph("t")
    x, u, v = g.input("x", (4, 8)), g.input("u", (4,)), g.input("v", (8,))
    g.output("y", x + g.outer(u, v))
    assert delivery_text(g) == (
        "delivery map0\n"
        "  $0 x: direct from in:x.data rows\n"
        "  $1 u: pmu from in:u.data rows words=4 wr=vector[0:4:1,0:1:1,0:1:1 vec] base=0 "
        "strides=[1, 4, 0] swap=3 rd=scalar[0:4:1,0:1:1,0:1:1] base=0 strides=[1, 0, 0] "
        "swap=3\n"
        "  $2 v: pmu from in:v.data rows words=8 wr=vector[0:8:1,0:1:1,0:1:1 vec] base=0 "
        "strides=[1, 8, 0] swap=3 rd=vector[0:8:1,0:4:1,0:1:1 vec] base=0 strides=[1, 0, 0] "
        "swap=3\n")


def test_delivery_double_buffers_rows_read_slab_by_slab():
    g = Graph("mm")
    a, b = g.input("A", (3, 5)), g.input("B", (5, 10))
    g.output("C", g.matmul(a, b))
    assert delivery_text(g) == (
        "delivery matmul0\n"
        "  $0 A: pmu from in:A.data rows words=10 double slab=5 inner=2 "
        "wr=vector[0:5:1,0:1:1,0:3:1 vec] base=0 strides=[1, 5, 0] swap=2 "
        "rd=scalar[0:5:1,0:2:1,0:3:1] base=0 strides=[1, 0, 0] swap=2\n"
        "  $1 B: pmu from in:B.data rows words=50 wr=vector[0:10:1,0:5:1,0:1:1 vec] base=0 "
        "strides=[1, 10, 0] swap=3 rd=vector[0:5:1,0:2:1,0:3:1] base=0 strides=[10, 8, 0] "
        "swap=3\n")


def test_delivery_constants_are_init_data_and_iotas_counters():
    g = Graph("gemv")
    w = g.const("W", np.arange(12).reshape(3, 4))
    g.output("y", g.gemv(w, g.iota((4,))))
    assert delivery_text(g) == (
        "delivery gemv0\n"
        "  $0 W: pmu init words=12 wr=off rd=vector[0:4:1,0:3:1,0:1:1 vec] base=0 "
        "strides=[1, 4, 0] swap=3\n"
        "  $1 iota0: counter\n")


def test_delivery_refuses_a_tensor_without_a_stream():
    g = Graph("axpb")
    x = g.input("x", (100,))
    g.output("y", x * 3 + 1)
    kernel, tensors, _ = first_kernel(g)
    with pytest.raises(CompileError, match=r"^node 'map1': tensor 'x' is used before it is "
                                           r"computed$"):
        plan_delivery(kernel, {}, tensors, SMALL)


# -- scheduling -----------------------------------------------------------------------------

def test_schedule_shares_common_subexpressions():
    square = Call(Op.MUL, (Arg(0), Arg(0)))
    assert schedule(Call(Op.ADD, (square, square))).to_text() == (
        "%0 = mul $0, $0\n"
        "%1 = add %0, %0\n")


def test_schedule_loads_a_second_immediate_in_a_pass_step():
    assert schedule(Call(Op.SELECT, (Arg(0), Imm(3), Imm(4)))).to_text() == (
        "%0 = pass 4\n"
        "%1 = select $0, 3, %0\n")


def test_schedule_of_a_bare_operand_is_one_pass():
    assert schedule(Arg(1)).to_text() == "%0 = pass $1\n"


# -- partitioning and register allocation ---------------------------------------------------

def test_partition_cuts_a_chain_where_one_value_is_live():
    g = Graph("chain")
    x = g.input("x", (8,))
    g.output("y", ((((x * 2 + 1) * 3 + 2) * 5 + 3) * 7) ^ 9)
    assert partition_text(g, TINY) == (
        "part 0: vin[$0] sin[] -> r0\n"
        "  r0 = mul vin0, 2\n"
        "  r0 = add r0, 1\n"
        "  r0 = mul r0, 3\n"
        "part 1: vin[part0] sin[] -> r0\n"
        "  r0 = add vin0, 2\n"
        "  r0 = mul r0, 5\n"
        "  r0 = add r0, 3\n"
        "part 2: vin[part1] sin[] -> r0\n"
        "  r0 = mul vin0, 7\n"
        "  r0 = xor r0, 9\n")


def test_partition_feeds_later_parts_the_operands_they_need():
    assert partition_text(kernels.load("tpch_q6").build(n=64)) == (
        "part 0: vin[$0] sin[] -> r0\n"
        "  r0 = le 5, vin0\n"
        "  r1 = le vin0, 7\n"
        "  r0 = and r0, r1\n"
        "part 1: vin[part0, $1] sin[] -> r0\n"
        "  r0 = lt vin1, 24\n"
        "  r0 = and vin0, r0\n"
        "part 2: vin[part1, $2, $0] sin[] -> r0\n"
        "  r0 = mul vin1, vin2\n"
        "  r0 = select vin0, r0, 0\n")


def test_partition_fans_a_result_out_to_every_later_part_that_reads_it():
    # every sum needs a product of two inputs besides the sum so far: three vector
    # inputs, where tiny has two; so each product is a part of its own, and the first
    # two products are read two parts after they are computed
    g = Graph("wide")
    x = [g.input(f"x{i}", (8,)) for i in range(4)]
    g.output("y", x[0] * x[1] + x[2] * x[3] + x[0] * x[2] + x[1] * x[3])
    assert partition_text(g, TINY.replace(io_in=4, rows=4, cols=4)) == (
        "part 0: vin[$0, $1] sin[] -> r0\n"
        "  r0 = mul vin0, vin1\n"
        "part 1: vin[$2, $3] sin[] -> r0\n"
        "  r0 = mul vin0, vin1\n"
        "part 2: vin[part1, part0] sin[] -> r0\n"
        "  r0 = add vin1, vin0\n"
        "part 3: vin[$0, $2] sin[] -> r0\n"
        "  r0 = mul vin0, vin1\n"
        "part 4: vin[part3, part2] sin[] -> r0\n"
        "  r0 = add vin1, vin0\n"
        "part 5: vin[$1, $3] sin[] -> r0\n"
        "  r0 = mul vin0, vin1\n"
        "part 6: vin[part5, part4] sin[] -> r0\n"
        "  r0 = add vin1, vin0\n")


def test_partition_of_exp_reads_the_exponent_and_the_argument_across_cuts():
    # exp's k (part 1) is read again by the scaling five parts later, its argument r
    # (part 2) by both parts of the polynomial: results of their own parts, fanned out
    g = Graph("e")
    g.output("y", g.exp(g.input("x", (64,), "f32")))
    text = partition_text(g, load_fabric("small-fp"))
    heads = [line for line in text.splitlines() if line.startswith("part ")]
    assert len(heads) == 11
    assert heads[3].startswith("part 3: vin[part2]")
    assert heads[4].startswith("part 4: vin[part3, part2]")
    assert heads[6].startswith("part 6: vin[part1]")


def test_partition_reads_scalars_and_counters():
    g = Graph("t")
    x, s = g.input("x", (4, 8)), g.input("s", (4,))
    g.output("y", g.outer(s, g.iota((8,))) + x)
    assert partition_text(g) == (
        "part 0: vin[$2] sin[$0] -> r0\n"
        "  r0 = mul sin0, ctr0\n"
        "  r0 = add r0, vin0\n")
