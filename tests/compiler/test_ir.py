"""Tests of the IR nodes, type inference, text form and the builder."""

import numpy as np
import pytest

from hw.ops import Op, ReduceOp
from compiler.errors import CompileError
from compiler.ir import (Arg, Imm, Call, Const, View, Map, Reduce, Fold, Scan,
                         Composite, Graph, TensorType, Sym, expr_text)
from ir_helpers import check_error, text_body


def test_dot_product_text():
    g = Graph("dot")
    a = g.input("a", (4096,))
    b = g.input("b", (4096,))
    g.output("y", g.reduce("add", g.map("mul", a, b)))
    assert g.to_text() == (
        "graph dot {\n"
        "  %a = input : i32[4096]\n"
        "  %b = input : i32[4096]\n"
        "  %map0 = map[mul($0, $1)](%a, %b) : i32[4096]\n"
        "  %reduce0 = reduce[add, axis=0](%map0) : i32[]\n"
        "  output y = %reduce0\n"
        "}\n")
    assert g.type_of("reduce0") == TensorType((), "i32")
    assert g.nodes["reduce0"] == Reduce("reduce0", "map0", ReduceOp.ADD, 0)


def test_operators_and_broadcast():
    g = Graph("layer")
    x = g.input("x", (2, 3))
    w = g.input("w", (2, 3))
    b = g.input("b", (3,))
    y = g.relu(x * w + b)
    g.output("y", y)
    assert text_body(g) == [
        "%x = input : i32[2,3]",
        "%w = input : i32[2,3]",
        "%b = input : i32[3]",
        "%map0 = map[mul($0, $1)](%x, %w) : i32[2,3]",
        "%view0 = view[offset=0, strides=(0, 1)](%b) : i32[2,3]",
        "%map1 = map[add($0, $1)](%map0, %view0) : i32[2,3]",
        "%relu0 = relu(%map1) : i32[2,3]",
        "output y = %relu0",
    ]
    assert y.shape == (2, 3) and y.dtype == "i32"


def test_operator_table():
    g = Graph("ops")
    x = g.input("x", (4,))
    exprs = [x + 1, 1 + x, x - 2, 2 - x, x * 3, 3 * x, x & 4, 4 & x, x | 5, 5 | x,
             x ^ 6, 6 ^ x, x << 7, 7 << x, x >> 8, 8 >> x, -x, ~x, abs(x), x.shr(9),
             x.eq(1), x.ne(1), x.lt(1), x.le(1), x.gt(1), x.ge(1), g.max(x, 2), g.min(x, 2),
             x.select(1, 2), g.max(x, 3), g.min(3, x), g.abs(x), g.select(x, 1, x)]
    texts = [expr_text(e.node.expr) for e in exprs]
    assert texts == [
        "add($0, 1)", "add(1, $0)", "sub($0, 2)", "sub(2, $0)", "mul($0, 3)",
        "mul(3, $0)", "and($0, 4)", "and(4, $0)", "or($0, 5)", "or(5, $0)",
        "xor($0, 6)", "xor(6, $0)", "shl($0, 7)", "shl(7, $0)", "sra($0, 8)",
        "sra(8, $0)", "sub(0, $0)", "xor($0, -1)", "abs($0)", "shr($0, 9)",
        "eq($0, 1)", "ne($0, 1)", "lt($0, 1)", "le($0, 1)", "lt(1, $0)", "le(1, $0)",
        "max($0, 2)", "min($0, 2)", "select($0, 1, 2)", "max($0, 3)", "min(3, $0)",
        "abs($0)", "select($0, 1, $0)",
    ]


def test_map_with_function():
    g = Graph("f")
    x = g.input("x", (8,))
    y = g.input("y", (8,))
    m = g.map(lambda a, b: g.select(a.lt(b), g.max(a * 3, -1), abs(b) >> 2), x, y)
    assert m.node == Map("map0", ("x", "y"), Call(Op.SELECT, (
        Call(Op.LT, (Arg(0), Arg(1))),
        Call(Op.MAX, (Call(Op.MUL, (Arg(0), Imm(3))), Imm(-1))),
        Call(Op.SRA, (Call(Op.ABS, (Arg(1),)), Imm(2))))))
    same = g.map(lambda a, b: a + b, x, x)
    assert same.node.inputs == ("x",) and expr_text(same.node.expr) == "add($0, $0)"
    const = g.map(lambda a: 7, x)
    assert expr_text(const.node.expr) == "7"
    by_op = g.map(Op.SUB, x, 1, name="d")
    assert by_op.node == Map("d", ("x",), Call(Op.SUB, (Arg(0), Imm(1))))


def test_auto_names_skip_taken_names():
    g = Graph("names")
    x = g.input("map0", (2,))
    m = x + 1
    assert m.name == "map1"
    assert (m + 1).name == "map2"
    assert g.reduce("max", m, name="r").name == "r"


def test_patterns_and_composites():
    g = Graph("p")
    x = g.input("x", (3, 4))
    assert g.reduce("min", x, axis=0).node == Reduce("reduce0", "x", ReduceOp.MIN, 0)
    assert g.fold("add", x, 5).node == Fold("fold0", "x", ReduceOp.ADD, 1, 5)
    assert g.scan("max", x, axis=-2).node == Scan("scan0", "x", ReduceOp.MAX, 0)
    assert g.scan(ReduceOp.ADD, x).type == TensorType((3, 4))
    w = g.input("w", (5, 4))
    v = g.input("v", (4,))
    assert g.linear(x, w, g.input("b", (5,))).shape == (3, 5)
    assert g.matmul(x, g.input("B", (4, 2))).shape == (3, 2)
    assert g.gemv(w, v).shape == (5,)
    assert g.conv1d(g.input("s", (10,)), v).shape == (7,)
    assert g.outer(v, g.input("u", (6,))).shape == (4, 6)
    r = g.relu(x)
    assert r.node == Composite("relu0", "relu", ("x",), ())


def test_views():
    g = Graph("v")
    x = g.input("x", (2, 3))
    t = g.transpose(x)
    assert t.node == View("view0", "x", (3, 2), 0, (1, 3))
    assert g.reshape(x, (6,)).node == View("view1", "x", (6,), 0, (1,))
    assert g.broadcast_to(x, (2, 3)) is x
    assert g.broadcast_to(g.input("c", (2, 1)), (4, 2, 3)).node.strides == (0, 1, 0)
    w = g.view(x, (2, 2), 5, (-1, -3))
    assert w.type == TensorType((2, 2))
    assert "%view3 = view[offset=5, strides=(-1, -3)](%x) : i32[2,2]" in text_body(g)


def test_const():
    g = Graph("c")
    c = g.const("c", np.arange(6).reshape(2, 3))
    assert c.node == Const("c", (2, 3), "i32", (0, 1, 2, 3, 4, 5))
    assert text_body(g)[0] == "%c = const[0, 1, 2, 3, 4, 5] : i32[2,3]"
    big = g.const("big", np.arange(20))
    assert text_body(g)[1].startswith("%big = const[0, 1, 2, 3, 4, 5, 6, 7, ... 20 values, crc32=0x")
    assert big.shape == (20,)
    check_error(lambda: g.const("f", np.ones(3), "i32"),
                "node 'f': an i32 constant must hold integers, not float64")
    check_error(lambda: g.const("h", [2 ** 31]), "node 'h': value 2147483648 does not fit in i32")
    assert "h" not in g.nodes


def test_compile_error_names_node():
    e = CompileError("needs 9 vector inputs", "fc2")
    assert str(e) == "node 'fc2': needs 9 vector inputs" and e.node == "fc2"
    assert str(CompileError("plain")) == "plain"


@pytest.mark.parametrize("build, text", [
    (lambda g: g.input("x", (4,), "f64"),
     "node 'x': unknown dtype 'f64'; known dtypes are 'i32', 'f32', 'bf16'"),
    (lambda g: g.input("x", (4,), "u8"),
     "node 'x': unknown dtype 'u8'; known dtypes are 'i32', 'f32', 'bf16'"),
    (lambda g: g.input("x", (4, 0)), "node 'x': shape [4,0] has a dimension smaller than 1"),
    (lambda g: g.input("x", "ab"), "node 'x': shape must be a tuple of integers, not ('a', 'b')"),
    (lambda g: g.input("a", (1,)), "node 'a': a node of this name already exists"),
    (lambda g: g.input("2x", (1,)),
     "node name must be a letter or '_' followed by letters, digits, '_', '.' or '-', not '2x'"),
    (lambda g: g.map("add", g.nodes and "a", "b"),
     "cannot broadcast shapes [4], [3] together"),
    (lambda g: g.map("add", "a"), "op 'add' takes 2 operands, got 1"),
    (lambda g: g.map("frob", "a"),
     "unknown op 'frob'; known ops are pass, add, sub, mul, mac, min, max, and, or, xor, "
     "shl, shr, sra, eq, ne, lt, le, select, abs, fadd, fsub, fmul, fmac, fmin, fmax, feq, "
     "fne, flt, fle, fabs, fneg, itof, ftoi, ftobf, ftobf_sr, asf32, asi32"),
    (lambda g: g.map("add", 1, 2), "map needs at least one tensor input"),
    (lambda g: g.map(lambda a: "x", "a"), "map function must return an expression, not 'x'"),
    (lambda g: g.map(lambda a: a + 2 ** 31, "a"),
     "node 'map0': immediate 2147483648 does not fit in i32"),
    (lambda g: g.map(lambda a: a + 1.5, "a"),
     "float literal 1.5 in an i32 operation; cast the operation's operands to f32 first"),
    (lambda g: g.reduce("mul", "a"),
     "unknown reduction 'mul'; known reductions are add, min, max, fadd, fmin, fmax, kadd, argmin, argmax, fargmin, fargmax"),
    (lambda g: g.reduce("add", "a", axis=1),
     "node 'reduce0': axis 1 is out of range for a tensor of rank 1"),
    (lambda g: g.scan("add", "a", axis=-2),
     "node 'scan0': axis -2 is out of range for a tensor of rank 1"),
    (lambda g: g.fold("add", "a", 2 ** 40), "node 'fold0': init 1099511627776 does not fit in i32"),
    (lambda g: g.view("a", (2, 2), 1, (2, 1)),
     "node 'view0': view reads elements 1..4 of 'a', which has 4"),
    (lambda g: g.view("a", (2,), -1, (1,)),
     "node 'view0': view reads elements -1..0 of 'a', which has 4"),
    (lambda g: g.view("a", (2, 2), 0, (1,)), "node 'view0': view has 2 dimensions but 1 strides"),
    (lambda g: g.broadcast_to("a", (4, 2)), "node 'a': cannot broadcast [4] to [4,2]"),
    (lambda g: g.transpose("m", (0, 0)), "node 'm': axes (0, 0) are not a permutation of (0, 1)"),
    (lambda g: g.matmul("m", "a"), "node 'matmul0': matmul needs B of rank 2, got [4] from 'a'"),
    (lambda g: g.matmul("m", "m"), "node 'matmul0': matmul needs A columns and B rows to agree, "
                                   "got 3 and 2"),
    (lambda g: g.linear("m", "m", "a"),
     "node 'linear0': linear needs W rows and b length to agree, got 2 and 4"),
    (lambda g: g.gemv("m", "a"), "node 'gemv0': gemv needs W columns and x length to agree, "
                                 "got 3 and 4"),
    (lambda g: g.conv1d("b", "a"), "node 'conv1d0': conv1d needs a kernel no longer than its "
                                   "input, got 4 > 3"),
    (lambda g: g.outer("m", "a"), "node 'outer0': outer needs a of rank 1, got [2,3] from 'm'"),
    (lambda g: g.composite("conv9", "a"),
     "node 'conv90': unknown composite kind 'conv9'; known kinds are matmul, linear, gemv, "
     "conv1d, relu, outer, exp, reciprocal, rsqrt, tanh, sigmoid, softmax, layernorm, gelu"),
    (lambda g: g.composite("relu", "a", "b"), "node 'relu0': relu takes 1 input, got 2"),
    (lambda g: g.reduce("add", "nope"), "expected a value of graph 'e', not 'nope'"),
    (lambda g: g.relu(Graph("other").input("q", (1,))),
     "value 'q' belongs to graph 'other', not 'e'"),
    (lambda g: g.relu(Sym(Arg(0))), "a symbolic value can only be used inside a map function"),
    (lambda g: g.output("y", "a") and g.output("y", "b"), "output 'y' is already defined"),
    (lambda g: g.type_of("zz"), "no node named 'zz' in graph 'e'"),
])
def test_builder_errors(build, text):
    g = Graph("e")
    g.input("a", (4,))
    g.input("b", (3,))
    g.input("m", (2, 3))
    before = set(g.nodes)
    check_error(lambda: build(g), text)
    assert set(g.nodes) == before


@pytest.mark.parametrize("node, text", [
    (Map("m", ("a", "b"), Call(Op.ADD, (Arg(0), Arg(1)))),
     "node 'm': map inputs must have one shape, got [4] from 'a' and [3] from 'b'"),
    (Map("m", ("a",), Call(Op.ADD, (Arg(0), Arg(1)))),
     "node 'm': expression reads $1 but the map has 1 input"),
    (Map("m", ("a",), Call(Op.SELECT, (Arg(0), Arg(0)))),
     "node 'm': op 'select' takes 3 operands, got 2"),
    (Map("m", ("a",), Call("add", (Arg(0), Arg(0)))),
     "node 'm': expression op must be an Op, not 'add'"),
    (Map("m", ("a",), "$0"), "node 'm': not an expression: '$0'"),
    (Map("m", (), Imm(1)), "node 'm': map needs at least one input"),
    (Reduce("r", "a", "add", 0), "node 'r': reduction op must be a ReduceOp, not 'add'"),
    (Const("c", (2,), "i32", (1, 2, 3)), "node 'c': shape [2] needs 2 values, got 3"),
    (Const("c", (1,), "i32", ("1",)), "node 'c': value must be an integer, not '1'"),
    (View("v", "a", (2,), 0.5, (1,)), "node 'v': offset must be an integer, not 0.5"),
    (View("v", "a", (2,), 0, (1.0,)), "node 'v': strides must be a tuple of integers, not (1.0,)"),
    (Composite("c", "relu", ("a",), (("k", 1),)),
     "node 'c': relu takes no attributes, got (('k', 1),)"),
    (Map("m", ("zz",), Arg(0)), "node 'm': reads 'zz', which is not a node of the graph"),
])
def test_node_errors(node, text):
    g = Graph("e")
    g.input("a", (4,))
    g.input("b", (3,))
    g.add(node)
    check_error(lambda: g.type_of(node.name), text)


def test_sym_has_no_truth_value():
    g = Graph("s")
    x = g.input("x", (2,))
    with pytest.raises(TypeError, match="use select"):
        g.map(lambda a: a if a else 0, x)


def test_graph_equality_and_copy():
    g = Graph("g")
    g.output("y", g.input("x", (2,)) + 1)
    h = g.copy()
    assert h == g and h is not g and h.nodes is not g.nodes
    h.output("z", "x")
    assert h != g
