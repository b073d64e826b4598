"""The builder read as NumPy: truth tests refused, comparison operators, indexing and
slicing, the array methods (T, reshape, transpose, sum, max, min, argmax, argmin,
astype), scalar results as outputs, and the pass that drops dead nodes.

Views and reductions are checked against NumPy on random arrays through the golden
model; the lowering of a reshaped output is checked on the `small` fabric, and once in
simulation."""

import warnings

import numpy as np
import pytest

from compiler.compile import compile_graph
from compiler.deadnodes import DeadNodeWarning, drop_dead_nodes
from compiler.ir import Graph, Input, Map, Reduce, Value, View, expr_text
from compiler.lower.discovery import find_kernels
from compiler.passes import pipeline
from hw.ops import ReduceOp
from hw.params import load_fabric
from sim.golden import run_graph

from ir_helpers import check_error

SEED = 2024
SMALL = load_fabric("small")


def golden_matches(g, inputs, expected):
    """The golden model of ``g`` and of ``pipeline(g)`` gives ``expected`` (NumPy)."""
    for graph in (g, pipeline(g)):
        got = run_graph(graph, inputs)
        assert set(got) == set(expected)
        for name, want in expected.items():
            assert got[name].shape == np.shape(want), name
            np.testing.assert_array_equal(got[name], want, err_msg=name)


def small_ints(rng, shape):
    """Random i32 values small enough that NumPy's sums do not wrap."""
    return rng.integers(-1000, 1000, size=shape).astype(np.int32)


# -- truth values ------------------------------------------------------------------------

TRUTH_TESTS = {
    "bool": lambda a, b: bool(a),
    "if": lambda a, b: 1 if a else 0,
    "and": lambda a, b: a and b,
    "or": lambda a, b: a or b,
    "not": lambda a, b: not a,
    "chained comparison": lambda a, b: 0 < a < b,
}


@pytest.mark.parametrize("use", TRUTH_TESTS.values(), ids=TRUTH_TESTS.keys())
def test_a_value_has_no_truth_value(use):
    g = Graph("t")
    a, b = g.input("a", (4,)), g.input("b", (4,))
    before = len(g.nodes)
    with pytest.raises(TypeError) as info:
        use(a, b)
    text = str(info.value)
    # (a chained comparison truth-tests its first comparison, %map0)
    assert text.startswith(("value %a has no truth value while the graph is being built",
                            "value %map0 has no truth value while the graph is being built"))
    assert "use & / | / (c == 0)" in text and "g.select(c, a, b)" in text
    assert "\n" not in text
    # the chained comparison builds its first comparison before failing, nothing else
    assert len(g.nodes) - before == (1 if use is TRUTH_TESTS["chained comparison"] else 0)


def test_a_symbolic_operand_has_no_truth_value():
    g = Graph("t")
    x = g.input("x", (4,))
    with pytest.raises(TypeError, match=r"^a symbolic operand has no truth value .* use "
                                        r"select: g\.select\(c, a, b\)$"):
        g.map(lambda v: v and 1, x)


def test_and_or_are_spelled_with_operators():
    g = Graph("t")
    x = g.input("x", (8,))
    keep = (x >= 2) & (x < 6) | (x == 0)
    g.output("y", g.select(keep, x, 0))
    g.output("n", (x > 3) == 0)
    a = np.arange(8, dtype=np.int32)
    golden_matches(g, {"x": a}, {"y": np.where(((a >= 2) & (a < 6)) | (a == 0), a, 0),
                                 "n": (~(a > 3)).astype(np.int32)})


# -- comparisons -----------------------------------------------------------------------

COMPARISONS = {
    "x == y": (lambda x, y: x == y, "eq($0, $1)", np.equal),
    "x != y": (lambda x, y: x != y, "ne($0, $1)", np.not_equal),
    "x < y": (lambda x, y: x < y, "lt($0, $1)", np.less),
    "x <= y": (lambda x, y: x <= y, "le($0, $1)", np.less_equal),
    "x > y": (lambda x, y: x > y, "lt($0, $1) of y, x", np.greater),
    "x >= y": (lambda x, y: x >= y, "le($0, $1) of y, x", np.greater_equal),
    "x == 3": (lambda x, y: x == 3, "eq($0, 3)", lambda a, b: a == 3),
    "x != 3": (lambda x, y: x != 3, "ne($0, 3)", lambda a, b: a != 3),
    "x < 3": (lambda x, y: x < 3, "lt($0, 3)", lambda a, b: a < 3),
    "x <= 3": (lambda x, y: x <= 3, "le($0, 3)", lambda a, b: a <= 3),
    "x > 3": (lambda x, y: x > 3, "lt(3, $0)", lambda a, b: a > 3),
    "x >= 3": (lambda x, y: x >= 3, "le(3, $0)", lambda a, b: a >= 3),
    "3 == x": (lambda x, y: 3 == x, "eq($0, 3)", lambda a, b: 3 == a),
    "3 < x": (lambda x, y: 3 < x, "lt(3, $0)", lambda a, b: 3 < a),
    "3 >= x": (lambda x, y: 3 >= x, "le($0, 3)", lambda a, b: 3 >= a),
    "np.int32(3) < x": (lambda x, y: np.int32(3) < x, "lt(3, $0)", lambda a, b: 3 < a),
}


@pytest.mark.parametrize("build, text, meaning", COMPARISONS.values(), ids=COMPARISONS.keys())
def test_comparison_operators_build_comparisons(build, text, meaning):
    g = Graph("c")
    x, y = g.input("x", (3, 5)), g.input("y", (3, 5))
    z = build(x, y)
    assert isinstance(z.node, Map) and z.shape == (3, 5) and z.dtype == "i32"
    text, _, inputs = text.partition(" of ")
    assert expr_text(z.node.expr) == text
    assert z.node.inputs == (tuple(inputs.split(", ")) if inputs else z.node.inputs)
    g.output("z", z)
    rng = np.random.default_rng(SEED)
    a, b = rng.integers(0, 6, (3, 5)), rng.integers(0, 6, (3, 5))
    golden_matches(g, {"x": a, "y": b}, {"z": meaning(a, b).astype(np.int32)})


def test_comparisons_broadcast_and_work_on_floats():
    g = Graph("f")
    x, t = g.input("x", (2, 4), "f32"), g.input("t", (4,), "f32")
    g.output("lt", x < t)
    g.output("ge", x >= 0.5)
    g.output("ne", x != x)                      # true for NaN only, as in NumPy
    a = np.array([[0.25, 0.5, np.nan, -1.0], [2.0, -0.0, 0.75, np.inf]], np.float32)
    c = np.array([0.5, 0.0, 1.0, np.inf], np.float32)
    golden_matches(g, {"x": a, "t": c}, {"lt": (a < c).astype(np.int32),
                                         "ge": (a >= 0.5).astype(np.int32),
                                         "ne": (a != a).astype(np.int32)})


def test_comparisons_inside_map_functions():
    g = Graph("m")
    x = g.input("x", (4,))
    m = g.map(lambda a: g.select(a < 2, a, -a), x)
    assert expr_text(m.node.expr) == "select(lt($0, 2), $0, sub(0, $0))"


def test_comparing_with_what_is_no_value_or_number():
    g = Graph("n")
    x = g.input("x", (4,))
    before = len(g.nodes)
    assert (x == None) is False and (x != None) is True         # noqa: E711
    assert (x == "x") is False
    with pytest.raises(TypeError, match="'<' not supported between instances of 'Value' "
                                        "and 'str'"):
        x < "a"
    assert len(g.nodes) == before


def test_values_hash_by_identity():
    g = Graph("h")
    x, y = g.input("x", (4,)), g.input("y", (4,))
    before = len(g.nodes)
    table = {x: "x", y: "y"}
    assert table[x] == "x" and table[y] == "y"
    assert x in {x, y} and len({x, y, x}) == 2
    assert Value(g, "x") not in table       # another handle of node x is another key
    assert len(g.nodes) == before           # and no lookup built a comparison


# -- indexing and slicing ----------------------------------------------------------------

INDICES = {
    "x[1:]": np.s_[1:],
    "x[:, 0:3]": np.s_[:, 0:3],
    "x[::2]": np.s_[::2],
    "x[3]": np.s_[3],
    "x[-1]": np.s_[-1],
    "x[1, -2, 4]": np.s_[1, -2, 4],
    "x[::-1]": np.s_[::-1],
    "x[:, ::-2]": np.s_[:, ::-2],
    "x[-3:-1, 1::3]": np.s_[-3:-1, 1::3],
    "x[..., 2]": np.s_[..., 2],
    "x[1, ...]": np.s_[1, ...],
    "x[None, 2]": np.s_[None, 2],
    "x[:, None, :, None]": np.s_[:, None, :, None],
    "x[2:100]": np.s_[2:100],
    "x[-100:2, 5::-2]": np.s_[-100:2, 5::-2],
    "x[np.int64(2)]": np.s_[np.int64(2)],
}


@pytest.mark.parametrize("key", INDICES.values(), ids=INDICES.keys())
def test_indexing_is_numpy_indexing(key):
    g = Graph("i")
    x = g.input("x", (4, 6, 5))
    y = x[key]
    assert isinstance(y.node, View) and y.node.input == "x"
    g.output("y", y)
    a = np.random.default_rng(SEED).integers(-50, 50, (4, 6, 5)).astype(np.int32)
    assert y.shape == a[key].shape
    golden_matches(g, {"x": a}, {"y": a[key]})


def test_a_slice_is_one_strided_view():
    g = Graph("s")
    x = g.input("x", (4, 8))
    assert x[1:, ::2].node == View("view0", "x", (3, 4), 8, (8, 2))
    assert x[3].node == View("view1", "x", (8,), 24, (1,))         # the axis is dropped
    assert x[-1, ::-1].node == View("view2", "x", (8,), 31, (-1,))
    assert x[2, 5].node == View("view3", "x", (), 21, ())
    assert x[:] is x and x[...] is x and x[:, :] is x                # all of x: no node
    assert list(g.nodes) == ["x", "view0", "view1", "view2", "view3"]


def test_views_of_views_and_computed_values():
    g = Graph("vv")
    x = g.input("x", (6, 8))
    g.output("a", x[1:][::2, 3:])
    g.output("b", x.T[2])
    g.output("c", (x * 2)[::-1, 4])
    g.output("d", x.reshape(-1)[5:40:7])
    a = np.random.default_rng(SEED).integers(-50, 50, (6, 8)).astype(np.int32)
    golden_matches(g, {"x": a}, {"a": a[1:][::2, 3:], "b": a.T[2], "c": (a * 2)[::-1, 4],
                                 "d": a.reshape(-1)[5:40:7]})


def test_len_and_iteration_go_along_the_first_axis():
    g = Graph("it")
    x = g.input("x", (3, 2))
    assert len(x) == 3
    rows = list(x)
    assert [r.node for r in rows] == [View(f"view{i}", "x", (2,), 2 * i, (1,))
                                      for i in range(3)]
    with pytest.raises(TypeError, match=r"^len\(\) of value %reduce0, which is 0-d$"):
        len(x.sum())


INDEX_ERRORS = {
    "out of range": (np.s_[4], "node 'x': index 4 is out of range for axis 0 of size 4"),
    "negative out of range": (np.s_[:, -9],
                              "node 'x': index -9 is out of range for axis 1 of size 8"),
    "too many": (np.s_[1, 2, 3],
                 "node 'x': too many indices: 3 for a value of rank 2 ([4,8])"),
    "step 0": (np.s_[::0], "node 'x': slice ::0 of axis 0: the step may not be 0"),
    "empty": (np.s_[:, 5:2],
              "node 'x': slice 5:2 of axis 1 (size 8) is empty; a tensor has no dimension "
              "of size 0"),
    "empty beyond the end": (np.s_[9:],
                             "node 'x': slice 9: of axis 0 (size 4) is empty; a tensor has "
                             "no dimension of size 0"),
    "float in a slice": (np.s_[1.0:2],
                         "node 'x': slice 1.0:2 of axis 0: start, stop and step must be "
                         "integers or None"),
    "float": (np.s_[1.5], "node 'x': index 1.5 is not supported; a view takes integers, "
                          "slices, '...' and None"),
    "boolean": (np.s_[True], "node 'x': index True (a boolean) is not supported; a view "
                             "takes integers, slices, '...' and None"),
    "list": (np.s_[[0, 2]], "node 'x': index of type list (array indexing) is not "
                            "supported; a view takes integers, slices, '...' and None"),
    "array": (np.s_[np.array([0, 2])], "node 'x': index of type ndarray (array indexing) is "
                                       "not supported; a view takes integers, slices, '...' "
                                       "and None"),
    "two ellipses": (np.s_[..., 1, ...],
                     "node 'x': an index may hold only one ellipsis ('...')"),
}


@pytest.mark.parametrize("key, text", INDEX_ERRORS.values(), ids=INDEX_ERRORS.keys())
def test_bad_indices_are_one_line_compile_errors(key, text):
    g = Graph("e")
    x = g.input("x", (4, 8))
    check_error(lambda: x[key], text)
    assert list(g.nodes) == ["x"]


def test_a_value_is_no_index():
    g = Graph("e")
    x, i = g.input("x", (4, 8)), g.input("i", ())
    check_error(lambda: x[i], "node 'x': index %i (a tensor) is not supported; a view "
                              "takes integers, slices, '...' and None")


# -- T, reshape, transpose ---------------------------------------------------------------

def test_reshape_and_transpose_methods():
    g = Graph("rt")
    x = g.input("x", (2, 3, 4))
    assert x.T.node == View("view0", "x", (4, 3, 2), 0, (1, 4, 12))
    assert x.transpose(1, 0, 2).node.strides == (4, 12, 1)
    assert x.transpose((2, 0, 1)).shape == (4, 2, 3)
    assert x.transpose(-1, 0, 1).shape == (4, 2, 3)
    assert x.transpose().shape == (4, 3, 2)
    assert x.reshape(6, 4).node == View("view5", "x", (6, 4), 0, (4, 1))
    assert x.reshape((4, 6)).shape == (4, 6)
    assert x.reshape(-1).shape == (24,)
    assert x.reshape(3, -1, 2).shape == (3, 4, 2)
    assert x.reshape(24, name="flat").name == "flat"
    assert x.ndim == 3 and x.size == 24
    check_error(lambda: x.reshape(5, 5), "node 'x': cannot reshape i32[2,3,4] (24 elements) "
                                         "into [5,5] (25)")
    check_error(lambda: x.reshape(-1, -1), "node 'x': cannot reshape i32[2,3,4] into "
                                           "[-1,-1]: only one dimension may be -1")
    check_error(lambda: x.reshape(5, -1), "node 'x': cannot reshape i32[2,3,4] into "
                                          "[5,-1]: 24 elements do not fill it")
    check_error(lambda: x.transpose(0, 0, 1), "node 'x': axes (0, 0, 1) are not a "
                                              "permutation of (0, 1, 2)")


def test_reshape_and_transpose_mean_what_numpy_says():
    g = Graph("rt")
    x = g.input("x", (2, 3, 4))
    g.output("t", x.T)
    g.output("p", x.transpose(2, 0, 1))
    g.output("r", x.reshape(4, -1))
    g.output("tr", x.T.reshape(-1))               # a copy in NumPy; the golden model reads it
    a = np.random.default_rng(SEED).integers(-50, 50, (2, 3, 4)).astype(np.int32)
    golden_matches(g, {"x": a}, {"t": a.T, "p": a.transpose(2, 0, 1), "r": a.reshape(4, -1),
                                 "tr": a.T.reshape(-1)})


# -- reductions and astype -----------------------------------------------------------------

REDUCTIONS = {
    "sum()": (lambda x: x.sum(), lambda a: a.sum()),
    "sum(0)": (lambda x: x.sum(0), lambda a: a.sum(0)),
    "sum(-1)": (lambda x: x.sum(-1), lambda a: a.sum(-1)),
    "sum((0, 2))": (lambda x: x.sum((0, 2)), lambda a: a.sum((0, 2))),
    "sum(1, keepdims)": (lambda x: x.sum(1, keepdims=True), lambda a: a.sum(1, keepdims=True)),
    "sum(keepdims)": (lambda x: x.sum(keepdims=True), lambda a: a.sum(keepdims=True)),
    "max()": (lambda x: x.max(), lambda a: a.max()),
    "max(1)": (lambda x: x.max(1), lambda a: a.max(1)),
    "min((2, 1))": (lambda x: x.min((2, 1)), lambda a: a.min((2, 1))),
    "min(-2, keepdims)": (lambda x: x.min(-2, keepdims=True),
                          lambda a: a.min(-2, keepdims=True)),
    "argmax()": (lambda x: x.argmax(), lambda a: a.argmax()),
    "argmax(1)": (lambda x: x.argmax(1), lambda a: a.argmax(1)),
    "argmin()": (lambda x: x.argmin(), lambda a: a.argmin()),
    "argmin(-1)": (lambda x: x.argmin(-1), lambda a: a.argmin(-1)),
    "T.sum()": (lambda x: x.T.sum(), lambda a: a.T.sum()),
    "[1:].max()": (lambda x: x[1:].max(), lambda a: a[1:].max()),
    "T.argmax()": (lambda x: x.T.argmax(), lambda a: a.T.argmax()),
    "(x * x).sum(2)": (lambda x: (x * x).sum(2), lambda a: (a * a).sum(2)),
}


@pytest.mark.parametrize("build, meaning", REDUCTIONS.values(), ids=REDUCTIONS.keys())
def test_reduction_methods_mean_what_numpy_says(build, meaning):
    g = Graph("r")
    x = g.input("x", (3, 4, 5))
    y = build(x)
    # few distinct values, so that argmin and argmax meet ties
    a = np.random.default_rng(SEED).integers(-4, 4, (3, 4, 5)).astype(np.int32)
    want = np.asarray(meaning(a)).astype(np.int32)
    assert y.shape == want.shape and y.dtype == "i32"
    g.output("y", y)
    golden_matches(g, {"x": a}, {"y": want})


def test_reductions_build_reduce_nodes():
    g = Graph("r")
    x = g.input("x", (3, 4))
    assert x.sum(1).node == Reduce("reduce0", "x", ReduceOp.ADD, 1)
    assert x.max(0, name="m").node == Reduce("m", "x", ReduceOp.MAX, 0)
    # every axis of a tensor that is no view: one reduction over it read flat
    s = x.sum(name="s")
    assert s.node == Reduce("s", "view0", ReduceOp.ADD, 0) and s.shape == ()
    assert g.nodes["view0"] == View("view0", "x", (12,), 0, (1,))
    # of a view: axis after axis, the last one first
    t = x.T.min()
    assert t.node == Reduce("reduce2", "reduce1", ReduceOp.MIN, 0)
    assert g.nodes["reduce1"] == Reduce("reduce1", "view1", ReduceOp.MIN, 1)
    assert x.argmin(-1).node == Reduce("reduce3", "x", ReduceOp.ARGMIN, 1)
    assert x.sum(()) is x


def test_reduction_errors():
    g = Graph("r")
    x, y = g.input("x", (3, 4)), g.input("y", (3, 4))
    # another value (or a float) is no axis: the elementwise maximum, as before
    assert x.max(y).node.expr == g.max(x, y).node.expr
    f = g.input("f", (3, 4), "f32")
    assert f.min(0.5).node.expr == g.min(f, 0.5).node.expr
    check_error(lambda: x.max("a"), "node 'x': max(axis): axis must be an integer, a "
                                    "tuple of them or None, not 'a'; the elementwise "
                                    "maximum of two tensors is g.max(a, b)")
    check_error(lambda: x.sum(2), "node 'x': axis 2 is out of range for a value of rank 2")
    check_error(lambda: x.sum((1, -1)), "node 'x': axis 1 is given twice in (1, -1)")
    check_error(lambda: x.argmax((0, 1)), "node 'x': argmax takes one axis or None, "
                                          "not (0, 1)")
    s = x.sum()
    check_error(lambda: s.sum(), f"node '{s.name}': sum() of a 0-d value: it has no axis "
                                 f"to reduce")
    assert g.max(x, y).node.expr == g.map("max", x, y).node.expr     # elementwise stays


def test_astype():
    g = Graph("a")
    x = g.input("x", (4,))
    f = x.astype("f32")
    assert f.dtype == "f32" and expr_text(f.node.expr) == "cast($0, f32)"
    assert x.astype(np.int32) is x and f.astype("float32") is f
    assert Graph("b").input("x", (4,), "f32").astype("bf16", "sr").dtype == "bf16"
    check_error(lambda: x.astype(np.float64), "node 'x': unknown dtype <class "
                                              "'numpy.float64'>; known dtypes are 'i32', "
                                              "'f32', 'bf16' (NumPy's int32 and float32 name "
                                              "the first two)")
    check_error(lambda: x.astype("bf16"), "no cast from i32 to bf16; cast through f32 "
                                          "(i32 <-> f32 and f32 <-> bf16 exist)")
    g.output("y", (f * 0.5).astype("i32"))
    golden_matches(g, {"x": np.array([3, -3, 7, 100], np.int32)},
                   {"y": np.array([1, -1, 3, 50], np.int32)})


def test_a_value_is_no_array():
    g = Graph("a")
    x = g.input("x", (4,))
    with pytest.raises(TypeError, match=r"^value %x holds no data while the graph is being "
                                        r"built; sim\.golden\.run_graph\(graph, inputs\) "
                                        r"computes it$"):
        np.asarray(x)


# -- scalar results as outputs -------------------------------------------------------------

def compiled_units(g):
    r = compile_graph(g, SMALL)
    return r.report["utilization"]["pcu"][0], r.report["utilization"]["pmu"][0], r


def test_a_full_reduction_is_an_output_and_its_reshape_is_free():
    for shape in [None, (1,), (1, 1)]:
        g = Graph("s")
        total = g.input("x", (64,)).sum()
        assert total.shape == ()
        g.output("y", total if shape is None else total.reshape(shape))
        pcus, pmus, r = compiled_units(g)
        assert (pcus, pmus) == (1, 0), shape
        out, = r.manifest.outputs
        assert out.shape == (shape or ()) and out.order == "lane0" and out.vectors == 1


def test_reshapes_keeping_the_last_axis_take_the_producers_stream():
    g = Graph("s")
    m = g.input("m", (4, 8))
    g.output("r", (m * 2).reshape(2, 2, 8))
    g.output("i", m.reshape(2, 2, 8))
    text = find_kernels(pipeline(g)).to_text()
    assert "output r = map0 as view0\noutput i = m as view1\n" in text
    pcus, pmus, _ = compiled_units(g)
    assert (pcus, pmus) == (1, 0)


def test_other_reshaped_outputs_still_get_a_copy_kernel():
    g = Graph("s")
    rows = g.input("m", (4, 8)).sum(1)                    # [4], one element per vector
    g.output("y", rows.reshape(2, 2))                     # the last axis changes
    assert "kernel y.copy [2, 2] = map $0 over view0" in find_kernels(pipeline(g)).to_text()
    assert compiled_units(g)[:2] == (2, 1)


@pytest.mark.sim
@pytest.mark.slow
def test_reshaped_outputs_run_on_the_fabric():
    from sim.execute import compare, golden_outputs, run_program
    g = Graph("aliases")
    x, m = g.input("x", (64,)), g.input("m", (4, 8))
    g.output("s", x.sum().reshape(1))
    g.output("r", (m * 2).reshape(2, 2, 8))
    g.output("i", m.reshape(2, 2, 8))
    r = compile_graph(g, SMALL)
    rng = np.random.default_rng(SEED)
    tensors = {"x": small_ints(rng, 64), "m": small_ints(rng, (4, 8))}
    run = run_program(r.bitstream, r.manifest, tensors, sim="icarus")
    assert not compare(golden_outputs(r.manifest, tensors), run.outputs)
    assert run.outputs["s"].tolist() == [tensors["x"].sum()]


# -- dead nodes ----------------------------------------------------------------------------

def test_dead_nodes_are_dropped_with_a_warning():
    g = Graph("d")
    x, unused = g.input("x", (16,)), g.input("unused", (16,))
    (x * 3)[2:].sum()                                     # built and never used
    g.output("y", x + 1)
    with pytest.warns(DeadNodeWarning) as record:
        out = pipeline(g)
    assert len(record) == 1
    assert str(record[0].message) == ("graph 'd': dropped 3 nodes that no output reads: "
                                      "'map0', 'view0', 'reduce0'")
    assert record[0].message.graph == "d"
    assert record[0].message.nodes == ("map0", "view0", "reduce0")
    assert list(out.nodes) == ["x", "unused", "map1"]
    assert isinstance(out.nodes["unused"], Input)          # the signature stays
    with pytest.warns(DeadNodeWarning):
        r = compile_graph(g, SMALL)
    assert r.report["utilization"]["pcu"][0] == 1
    assert [s.name for s in r.manifest.inputs] == ["x", "unused"]


def test_many_dead_nodes_are_counted():
    g = Graph("many")
    x = g.input("x", (4,))
    for k in range(11):
        x + k
    g.output("y", x)
    with pytest.warns(DeadNodeWarning, match=r"^graph 'many': dropped 11 nodes that no "
                                             r"output reads: 'map0', .*, 'map7' and 3 "
                                             r"more$"):
        drop_dead_nodes(g)


def test_a_graph_without_dead_nodes_passes_unchanged_and_silent():
    g = Graph("live")
    x = g.input("x", (4, 8))
    g.output("y", x[1:].sum(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert drop_dead_nodes(g) is g
        pipeline(g)
