"""Tests of infer, decompose, fuse and pipeline: golden text IR, errors, and random
graphs whose meaning (by the golden model) the passes must keep."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from hw.ops import Op, OP_TABLE, ReduceOp, FP_OPS

INT_OPS = [op for op in Op if op not in FP_OPS and op not in (Op.ASF32, Op.ASI32)]
from compiler.ir import Arg, Imm, Call, Input, View, Map, Graph, Sym, MAX_EXPR_DEPTH, fold_expr
from compiler.jsonio import graph_to_json, graph_from_json
from compiler.passes import infer, decompose, fuse, pipeline, compose_views
from sim.golden import run_graph
from ir_helpers import check_error, text_body


# -- infer ------------------------------------------------------------------------------

def test_infer_orders_topologically():
    g = Graph("t")
    g.add(Map("m", ("x",), Call(Op.ADD, (Arg(0), Imm(1)))))
    g.add(Input("x", (2,)))
    g.set_output("y", "m")
    out = infer(g)
    assert list(out.nodes) == ["x", "m"] and list(g.nodes) == ["m", "x"]
    assert infer(out) == out


@pytest.mark.parametrize("setup, text", [
    (lambda g: None, "graph 'e' has no outputs"),
    (lambda g: g.set_output("y", "q"),
     "output 'y' refers to 'q', which is not a node of the graph"),
    (lambda g: (g.add(Map("m", ("q",), Arg(0))), g.set_output("y", "m")),
     "node 'm': reads 'q', which is not a node of the graph"),
    (lambda g: (g.add(Map("m", ("n",), Arg(0))), g.add(Map("n", ("m",), Arg(0))),
                g.set_output("y", "x")),
     "node 'm': cycle m -> n -> m"),
    (lambda g: (g.add(Map("m", ("m",), Arg(0))), g.set_output("y", "x")),
     "node 'm': cycle m -> m"),
    (lambda g: (g.add(Input("bad name", (1,))), g.set_output("y", "x")),
     "node name must be a letter or '_' followed by letters, digits, '_', '.' or '-', "
     "not 'bad name'"),
    (lambda g: g.set_output("1y", "x"),
     "output name must be a letter or '_' followed by letters, digits, '_', '.' or '-', "
     "not '1y'"),
    (lambda g: (g.nodes.__setitem__("z", Input("w", (1,))), g.set_output("y", "x")),
     "node 'z': is stored under a different name: Input(name='w', shape=(1,), dtype='i32')"),
    (lambda g: (g.add(Input("f", (2,), "f64")), g.set_output("y", "x")),
     "node 'f': unknown dtype 'f64'; known dtypes are 'i32', 'f32', 'bf16'"),
])
def test_infer_errors(setup, text):
    g = Graph("e")
    g.add(Input("x", (4,)))
    setup(g)
    check_error(lambda: infer(g), text)


def test_infer_rejects_non_graph():
    check_error(lambda: infer("g"), "expected a Graph, not 'g'")


# -- decompose --------------------------------------------------------------------------

def decomposed(build):
    g = Graph("c")
    g.output("y", build(g))
    return text_body(decompose(infer(g)))


def test_decompose_matmul():
    assert decomposed(lambda g: g.matmul(g.input("a", (2, 3)), g.input("b", (3, 4)),
                                         name="mm")) == [
        "%a = input : i32[2,3]",
        "%b = input : i32[3,4]",
        "%mm.a = view[offset=0, strides=(3, 1, 0)](%a) : i32[2,3,4]",
        "%mm.b = view[offset=0, strides=(0, 4, 1)](%b) : i32[2,3,4]",
        "%mm.mul = map[mul($0, $1)](%mm.a, %mm.b) : i32[2,3,4]",
        "%mm = reduce[add, axis=1](%mm.mul) : i32[2,4]",
        "output y = %mm",
    ]


def test_decompose_linear():
    assert decomposed(lambda g: g.linear(g.input("x", (2, 3)), g.input("w", (4, 3)),
                                         g.input("b", (4,)), name="fc")) == [
        "%x = input : i32[2,3]",
        "%w = input : i32[4,3]",
        "%b = input : i32[4]",
        "%fc.wt = view[offset=0, strides=(1, 3)](%w) : i32[3,4]",
        "%fc.a = view[offset=0, strides=(3, 1, 0)](%x) : i32[2,3,4]",
        "%fc.b = view[offset=0, strides=(0, 4, 1)](%fc.wt) : i32[2,3,4]",
        "%fc.mul = map[mul($0, $1)](%fc.a, %fc.b) : i32[2,3,4]",
        "%fc.mm = reduce[add, axis=1](%fc.mul) : i32[2,4]",
        "%fc.bias = view[offset=0, strides=(0, 1)](%b) : i32[2,4]",
        "%fc = map[add($0, $1)](%fc.mm, %fc.bias) : i32[2,4]",
        "output y = %fc",
    ]


def test_decompose_gemv():
    assert decomposed(lambda g: g.gemv(g.input("w", (2, 3)), g.input("x", (3,)))) == [
        "%w = input : i32[2,3]",
        "%x = input : i32[3]",
        "%gemv0.x = view[offset=0, strides=(0, 1)](%x) : i32[2,3]",
        "%gemv0.mul = map[mul($0, $1)](%w, %gemv0.x) : i32[2,3]",
        "%gemv0 = reduce[add, axis=1](%gemv0.mul) : i32[2]",
        "output y = %gemv0",
    ]


def test_decompose_conv1d():
    assert decomposed(lambda g: g.conv1d(g.input("x", (6,)), g.input("w", (3,)))) == [
        "%x = input : i32[6]",
        "%w = input : i32[3]",
        "%conv1d0.x = view[offset=0, strides=(1, 1)](%x) : i32[4,3]",
        "%conv1d0.w = view[offset=0, strides=(0, 1)](%w) : i32[4,3]",
        "%conv1d0.mul = map[mul($0, $1)](%conv1d0.x, %conv1d0.w) : i32[4,3]",
        "%conv1d0 = reduce[add, axis=1](%conv1d0.mul) : i32[4]",
        "output y = %conv1d0",
    ]


def test_decompose_relu():
    assert decomposed(lambda g: g.relu(g.input("x", (5,)))) == [
        "%x = input : i32[5]",
        "%relu0 = map[max($0, 0)](%x) : i32[5]",
        "output y = %relu0",
    ]


def test_decompose_outer():
    assert decomposed(lambda g: g.outer(g.input("a", (2,)), g.input("b", (3,)))) == [
        "%a = input : i32[2]",
        "%b = input : i32[3]",
        "%outer0.a = view[offset=0, strides=(1, 0)](%a) : i32[2,3]",
        "%outer0.b = view[offset=0, strides=(0, 1)](%b) : i32[2,3]",
        "%outer0 = map[mul($0, $1)](%outer0.a, %outer0.b) : i32[2,3]",
        "output y = %outer0",
    ]


def test_decompose_avoids_taken_names():
    g = Graph("c")
    g.input("mm.a", (1,))
    g.output("y", g.matmul(g.input("a", (2, 2)), g.input("b", (2, 2)), name="mm"))
    names = list(decompose(g).nodes)
    assert names == ["mm.a", "a", "b", "mm.a1", "mm.b", "mm.mul", "mm"]


# -- fuse -------------------------------------------------------------------------------

def test_fuse_chain():
    g = Graph("f")
    x = g.input("x", (64,))
    b = g.input("b", (64,))
    g.output("y", (x * 3 + b) >> 1)
    assert text_body(fuse(g)) == [
        "%x = input : i32[64]",
        "%b = input : i32[64]",
        "%map2 = map[sra(add(mul($0, 3), $1), 1)](%x, %b) : i32[64]",
        "output y = %map2",
    ]


def test_fuse_shares_inputs():
    g = Graph("f")
    x = g.input("x", (4,))
    g.output("y", g.map(lambda a, b: a - b, x, x * x))
    assert text_body(fuse(g))[1] == "%map1 = map[sub($0, mul($0, $0))](%x) : i32[4]"


def test_fuse_keeps_shared_and_output_maps():
    g = Graph("f")
    x = g.input("x", (4,))
    t = x + 1                     # two readers
    u = t * 2                     # graph output
    g.output("u", u)
    g.output("v", (t - 3) & (u ^ 5))
    assert text_body(fuse(g)) == [
        "%x = input : i32[4]",
        "%map0 = map[add($0, 1)](%x) : i32[4]",
        "%map1 = map[mul($0, 2)](%map0) : i32[4]",
        "%map4 = map[and(sub($0, 3), xor($1, 5))](%map0, %map1) : i32[4]",
        "output u = %map1",
        "output v = %map4",
    ]


def test_fuse_does_not_cross_reductions():
    g = Graph("f")
    x = g.input("x", (4, 4))
    g.output("y", g.reduce("add", x + 1) * 2)
    assert [line.split(" = ")[1].split("(")[0] for line in text_body(fuse(g))[1:-1]] == [
        "map[add", "reduce[add, axis=1]", "map[mul"]


def test_fuse_composes_views():
    g = Graph("f")
    x = g.input("x", (3, 4))
    t = g.transpose(x)                                   # [4,3] strides (1,4)
    s = g.view(t, (2, 3), 3, (3, 1))                     # rows 1..2 of t
    g.output("y", g.broadcast_to(s, (5, 2, 3)))
    assert text_body(fuse(g)) == [
        "%x = input : i32[3,4]",
        "%view2 = view[offset=1, strides=(0, 1, 4)](%x) : i32[5,2,3]",
        "output y = %view2",
    ]


def test_fuse_keeps_non_affine_views():
    g = Graph("f")
    x = g.input("x", (2, 3))
    t = g.transpose(x)
    g.output("y", g.reshape(t, (6,)))
    assert text_body(fuse(g)) == text_body(g)


def test_fuse_repeats_until_done():
    g = Graph("f")
    x = g.input("x", (4,))
    q = x + 1
    p = q * 2
    g.output("y", g.map(lambda a, b: a - b, p, q))
    assert text_body(fuse(g))[1:] == [
        "%map2 = map[sub(mul(add($0, 1), 2), add($0, 1))](%x) : i32[4]",
        "output y = %map2",
    ]


def test_fuse_keeps_unread_nodes_of_input_graph():
    g = Graph("f")
    x = g.input("x", (4,))
    x + 1
    g.output("y", x * 2)
    assert list(fuse(g).nodes) == ["x", "map0", "map1"]


def expr_depth(expr):
    return fold_expr(expr, lambda e: 0, lambda e, depths: 1 + max(depths))


def test_fuse_stops_a_chain_at_the_deepest_expression_a_map_may_hold():
    g = Graph("f")
    x = g.input("x", (4,))
    for _ in range(2 * MAX_EXPR_DEPTH + 50):
        x = x + 1
    g.output("y", x)
    fused = fuse(g)
    depths = [expr_depth(n.expr) for n in fused.nodes.values() if isinstance(n, Map)]
    assert depths == [MAX_EXPR_DEPTH, MAX_EXPR_DEPTH, 50]
    assert graph_from_json(graph_to_json(fused)) == fused
    v = np.arange(4, dtype=np.int32)
    assert list(run_graph(fused, {"x": v})["y"]) == list(v + 2 * MAX_EXPR_DEPTH + 50)


def test_fuse_stops_before_an_expression_tree_blows_up():
    # each map reads its input twice: inlining doubles the expression as a tree
    g = Graph("f")
    x = g.input("x", (4,))
    for _ in range(40):
        x = x * x ^ 1
    g.output("y", x)
    fused = fuse(g)
    sizes = [fold_expr(n.expr, lambda e: 1, lambda e, s: 1 + sum(s))
             for n in fused.nodes.values() if isinstance(n, Map)]
    assert sizes == [4093] * 4 and len(fused.to_text()) < 100_000   # 10 levels a map
    v = np.arange(4, dtype=np.int32) - 2
    assert (run_graph(fused, {"x": v})["y"] == run_graph(g, {"x": v})["y"]).all()


def view_values(view, src):
    flat = view.offset + sum(np.arange(n).reshape((n,) + (1,) * (len(view.shape) - d - 1)) * s
                             for d, (n, s) in enumerate(zip(view.shape, view.strides)))
    return src.reshape(-1)[np.broadcast_to(flat, view.shape)]


@st.composite
def strided_view(draw, name, src, src_shape):
    size = int(np.prod(src_shape))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    strides = tuple(draw(st.integers(-size, size)) for _ in shape)
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides))
    if hi - lo >= size:
        strides = tuple(0 for _ in shape)
        lo = hi = 0
    offset = draw(st.integers(-lo, size - 1 - hi))
    return View(name, src, shape, offset, strides)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_compose_views_is_exact(data):
    src_shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    inner = data.draw(strided_view("i", "x", src_shape))
    outer = data.draw(strided_view("o", "i", inner.shape))
    src = np.arange(int(np.prod(src_shape))).reshape(src_shape)
    both = compose_views(outer, inner)
    if both is not None:
        assert both.input == "x"
        np.testing.assert_array_equal(view_values(both, src),
                                      view_values(outer, view_values(inner, src)))
    contiguous = View("c", "x", inner.shape, inner.offset, inner.strides)
    if inner.strides == tuple(int(np.prod(inner.shape[d + 1:])) for d in range(len(inner.shape))):
        assert compose_views(outer, contiguous) is not None


# -- pipeline on random graphs ----------------------------------------------------------

INT32 = st.integers(-2 ** 31, 2 ** 31 - 1)
SMALL = st.sampled_from([0, 1, -1, 2, 3, 31, 32, -2 ** 31, 2 ** 31 - 1, 7])


@st.composite
def expressions(draw, n_args, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            return Arg(draw(st.integers(0, n_args - 1)))
        return Imm(draw(st.one_of(SMALL, INT32)))
    op = draw(st.sampled_from(INT_OPS))
    return Call(op, tuple(draw(expressions(n_args, depth - 1))
                          for _ in range(OP_TABLE[op].arity)))


@st.composite
def random_graphs(draw):
    g = Graph("rand")
    base = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    n_in = [0]

    def new_input(shape):
        n_in[0] += 1
        return g.input(f"in{n_in[0]}", shape)

    def broadcastable():
        k = draw(st.integers(1, len(base)))
        return tuple(d if draw(st.booleans()) else 1 for d in base[-k:])

    pool = [new_input(base)] + [new_input(broadcastable()) for _ in range(draw(st.integers(0, 2)))]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["map", "map", "expr", "reduce", "fold", "scan", "relu",
                                     "matmul", "linear", "gemv", "conv1d", "outer", "view"]))
        x = draw(st.sampled_from(pool))
        shape, ndim = x.shape, len(x.shape)
        if kind in ("map", "expr"):
            others = [v for v in pool if v.name != x.name and _broadcasts(v.shape, shape)]
            args = [x] + draw(st.lists(st.sampled_from(others), max_size=2, unique_by=lambda v: v.name)) \
                if others else [x]
            if not _broadcasts(*(a.shape for a in args)):
                args = args[:2]     # each broadcasts with x, but not always with each other
            if kind == "map":
                op = draw(st.sampled_from(INT_OPS))
                operands = [draw(st.sampled_from(args + [draw(SMALL)]))
                            for _ in range(OP_TABLE[op].arity)]
                if all(isinstance(o, int) for o in operands):
                    operands[0] = x
                y = g.map(op, *operands)
            else:
                expr = draw(expressions(len(args)))
                y = g.map(lambda *s: Sym(expr), *args)
        elif kind in ("reduce", "fold", "scan"):
            if ndim == 0:
                continue
            op = draw(st.sampled_from(["add", "min", "max"]))
            axis = draw(st.integers(-ndim, ndim - 1))
            if kind == "fold":
                y = g.fold(op, x, draw(st.one_of(SMALL, INT32)), axis=axis)
            else:
                y = getattr(g, kind)(op, x, axis=axis)
        elif kind == "relu":
            y = g.relu(x)
        elif kind == "view":
            if ndim < 2:
                y = g.broadcast_to(x, (draw(st.integers(1, 3)),) + shape)
            else:
                y = g.transpose(x)
        elif kind in ("matmul", "linear", "gemv"):
            if ndim != 2:
                continue
            n = draw(st.integers(1, 4))
            m, k = shape
            if kind == "matmul":
                y = g.matmul(x, new_input((k, n)))
            elif kind == "linear":
                y = g.linear(x, new_input((n, k)), new_input((n,)))
            else:
                y = g.gemv(x, new_input((k,)))
        else:
            if ndim != 1:
                continue
            if kind == "conv1d":
                y = g.conv1d(x, new_input((draw(st.integers(1, shape[0])),)))
            else:
                y = g.outer(x, new_input((draw(st.integers(1, 4)),)))
        pool.append(y)
    g.output("out", pool[-1])
    for i, v in enumerate(draw(st.lists(st.sampled_from(pool), max_size=2))):
        g.output(f"extra{i}", v)
    return g


def _broadcasts(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


def random_inputs(g, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name, node in g.nodes.items():
        if isinstance(node, Input):
            wide = rng.integers(-2 ** 31, 2 ** 31, size=node.shape, dtype=np.int64)
            small = rng.integers(-4, 5, size=node.shape)
            out[name] = np.where(rng.random(node.shape) < 0.5, small, wide).astype(np.int32)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.integers(0, 2 ** 32 - 1))
def test_pipeline_keeps_meaning(g, seed):
    inputs = random_inputs(g, seed)
    expected = run_graph(g, inputs)
    compiled = pipeline(g)
    for graph in (decompose(infer(g)), compiled):
        assert not any(type(n).__name__ == "Composite" for n in compiled.nodes.values())
        got = run_graph(graph, inputs)
        assert got.keys() == expected.keys()
        for k in expected:
            np.testing.assert_array_equal(got[k], expected[k], err_msg=k)
    assert compiled.to_text()
    assert graph_from_json(graph_to_json(compiled)) == compiled
    assert fuse(compiled) == compiled


def test_pipeline_mlp_text():
    g = Graph("mlp")
    x = g.input("x", (2, 4))
    w = g.input("w", (3, 4))
    b = g.input("b", (3,))
    g.output("y", g.reduce("max", g.relu(g.linear(x, w, b, name="fc") * 3 + 1)))
    assert text_body(pipeline(g)) == [
        "%x = input : i32[2,4]",
        "%w = input : i32[3,4]",
        "%b = input : i32[3]",
        "%fc.a = view[offset=0, strides=(4, 1, 0)](%x) : i32[2,4,3]",
        "%fc.b = view[offset=0, strides=(0, 1, 4)](%w) : i32[2,4,3]",
        "%fc.mul = map[mul($0, $1)](%fc.a, %fc.b) : i32[2,4,3]",
        "%fc.mm = reduce[add, axis=1](%fc.mul) : i32[2,3]",
        "%fc.bias = view[offset=0, strides=(0, 1)](%b) : i32[2,3]",
        "%relu0 = map[max(add(mul(add($0, $1), 3), 1), 0)](%fc.mm, %fc.bias) : i32[2,3]",
        "%reduce0 = reduce[max, axis=1](%relu0) : i32[2]",
        "output y = %reduce0",
    ]


def test_pipeline_reports_node():
    g = Graph("bad")
    g.add(Input("x", (4,)))
    g.add(Map("m", ("x",), Call(Op.ADD, (Arg(0),))))
    g.set_output("y", "m")
    check_error(lambda: pipeline(g), "node 'm': op 'add' takes 2 operands, got 1")


def test_passes_do_not_modify_input():
    g = Graph("g")
    x = g.input("x", (2, 2))
    g.output("y", g.relu(g.matmul(x, x) + 1))
    before = g.copy()
    pipeline(g)
    assert g == before
    assert ReduceOp.ADD in [n.op for n in pipeline(g).nodes.values() if hasattr(n, "op")]
