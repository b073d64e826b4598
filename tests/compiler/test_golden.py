"""The golden model against straightforward references in Python integers."""

import numpy as np
import pytest

from hw.ops import Op
from compiler.errors import CompileError
from compiler.ir import Graph, Map, Call, Arg, Imm, Input
from compiler.passes import decompose, pipeline
from sim.golden import run_graph, InputError

SEED = 1234


def wrap(x):
    """Python-integer (object array) values wrapped to int32."""
    x = np.asarray(x, dtype=object)
    return np.vectorize(lambda v: (int(v) + 2 ** 31) % 2 ** 32 - 2 ** 31, otypes=[np.int64])(x)


def big(rng, shape):
    """Random int32 values, a quarter of them extreme, so that sums wrap."""
    v = rng.integers(-2 ** 31, 2 ** 31, size=shape, dtype=np.int64)
    ext = rng.choice([-2 ** 31, 2 ** 31 - 1, -1, 0, 1], size=shape)
    return np.where(rng.random(shape) < 0.25, ext, v).astype(np.int32)


def obj(x):
    return np.asarray(x).astype(object)


def check(g, inputs, expected):
    """Run ``g``, and the same graph after the passes, against ``expected``."""
    for graph in (g, decompose(g), pipeline(g)):
        out = run_graph(graph, inputs)
        assert out.keys() == expected.keys()
        for k, want in expected.items():
            assert out[k].dtype == np.int32
            np.testing.assert_array_equal(out[k], want, err_msg=k)


def composite_case(kind, shapes, reference):
    rng = np.random.default_rng(SEED)
    g = Graph(kind)
    ins = [g.input(f"i{n}", s) for n, s in enumerate(shapes)]
    g.output("y", getattr(g, kind)(*ins))
    arrays = {f"i{n}": big(rng, s) for n, s in enumerate(shapes)}
    check(g, arrays, {"y": wrap(reference(*(obj(arrays[f"i{n}"]) for n in range(len(shapes)))))})


def test_matmul():
    composite_case("matmul", [(3, 5), (5, 4)], lambda a, b: a.dot(b))


def test_linear():
    composite_case("linear", [(3, 5), (2, 5), (2,)], lambda x, w, b: x.dot(w.T) + b)


def test_gemv():
    composite_case("gemv", [(4, 6), (6,)], lambda w, x: w.dot(x))


def test_conv1d():
    composite_case("conv1d", [(9,), (4,)],
                   lambda x, w: np.array([sum(x[i + k] * w[k] for k in range(4))
                                          for i in range(6)], dtype=object))


def test_relu():
    composite_case("relu", [(3, 4)], lambda x: np.where(x > 0, x, 0))


def test_outer():
    composite_case("outer", [(3,), (5,)], lambda a, b: np.array(
        [[p * q for q in b] for p in a], dtype=object))


def test_matmul_wraps():
    g = Graph("w")
    g.output("y", g.matmul(g.input("a", (1, 3)), g.input("b", (3, 1))))
    a = np.full((1, 3), 2 ** 31 - 1, dtype=np.int32)
    b = np.full((3, 1), -2 ** 31, dtype=np.int32)
    check(g, {"a": a, "b": b}, {"y": wrap([[3 * (2 ** 31 - 1) * -2 ** 31]])})
    assert run_graph(g, {"a": a, "b": b})["y"][0, 0] == -2 ** 31


def test_map_expression():
    rng = np.random.default_rng(SEED)
    g = Graph("m")
    x, y = g.input("x", (64,)), g.input("y", (64,))
    g.output("z", g.select(x.lt(y), (x * 3 + y) << 2, abs(x - y) >> 1))
    g.output("u", x.shr(y) ^ (x & ~y) | x.ge(y))
    a, b = big(rng, (64,)), big(rng, (64,))
    xa, ya = obj(a), obj(b)
    z = np.where(xa < ya, wrap(wrap(xa * 3 + ya) * 4),
                 wrap([abs(int(v)) for v in wrap(xa - ya)]) >> 1)
    u = ((wrap(xa) % 2 ** 32) >> (wrap(ya) % 32)) ^ (xa & ~ya) | (xa >= ya).astype(int)
    check(g, {"x": a, "y": b}, {"z": wrap(z), "u": wrap(u)})


def test_map_constant_expression_broadcasts():
    g = Graph("c")
    g.add(Input("x", (2, 3)))
    g.add(Map("m", ("x",), Call(Op.ADD, (Imm(2 ** 31 - 1), Imm(1)))))
    g.set_output("y", "m")
    out = run_graph(g, {"x": np.zeros((2, 3), np.int32)})["y"]
    np.testing.assert_array_equal(out, np.full((2, 3), -2 ** 31))


@pytest.mark.parametrize("op, pyop", [("add", sum), ("min", min), ("max", max)])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_reduce_fold_scan(op, pyop, axis):
    rng = np.random.default_rng(SEED + axis)
    shape = (3, 5, 4)
    g = Graph("r")
    x = g.input("x", shape)
    g.output("r", g.reduce(op, x, axis=axis))
    g.output("f", g.fold(op, x, 7, axis=axis))
    g.output("s", g.scan(op, x, axis=axis))
    a = big(rng, shape)
    moved = np.moveaxis(obj(a), axis, -1)
    red = np.array([pyop(list(row)) for row in moved.reshape(-1, shape[axis])], dtype=object)
    fold = np.array([pyop([7] + list(row)) for row in moved.reshape(-1, shape[axis])],
                    dtype=object)
    scan = np.array([[pyop(list(row[:i + 1])) for i in range(len(row))]
                     for row in moved.reshape(-1, shape[axis])], dtype=object)
    rest = moved.shape[:-1]
    check(g, {"x": a}, {
        "r": wrap(red.reshape(rest)),
        "f": wrap(fold.reshape(rest)),
        "s": np.moveaxis(wrap(scan.reshape(moved.shape)), -1, axis),
    })


def test_views():
    g = Graph("v")
    x = g.input("x", (3, 4))
    g.output("t", g.transpose(x))
    g.output("b", g.broadcast_to(g.input("c", (4,)), (2, 4)))
    g.output("w", g.view(x, (2, 3), 11, (-4, -1)))
    g.output("s", g.view(g.reshape(x, (12,)), (10, 3), 0, (1, 1)))
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    c = np.array([5, 6, 7, 8], dtype=np.int32)
    check(g, {"x": a, "c": c}, {
        "t": a.T, "b": np.stack([c, c]), "w": a[::-1, ::-1][:2, :3],
        "s": np.lib.stride_tricks.sliding_window_view(a.reshape(-1), 3),
    })


def test_const():
    g = Graph("k")
    k = g.const("k", np.array([[1, -2], [2 ** 31 - 1, 4]]))
    g.output("y", k + g.input("x", (2,)))
    check(g, {"x": np.array([1, 1], np.int32)},
          {"y": np.array([[2, -1], [-2 ** 31, 5]])})


def test_only_needed_nodes_run():
    g = Graph("n")
    x = g.input("x", (2,))
    g.view(x, (1,), 1, (0,), name="unused")
    g.output("y", x + 1)
    assert run_graph(g, {"x": np.array([1, 2])})["y"].tolist() == [2, 3]


@pytest.mark.parametrize("inputs, text", [
    ({}, "input 'a' is missing (expected i32[2, 3])"),
    ({"a": np.zeros((2, 3), np.int32), "q": 1},
     "graph 'in' has no input 'q'; its inputs are 'a'"),
    ({"a": np.zeros((3, 2), np.int32)}, "input 'a': expected shape (2, 3), got (3, 2)"),
    ({"a": np.zeros((2, 3))}, "input 'a': expected integers (i32), got float64"),
    ({"a": np.full((2, 3), 2 ** 31)}, "input 'a': values must fit in i32, got "
                                      "2147483648..2147483648"),
])
def test_input_errors(inputs, text):
    g = Graph("in")
    g.output("y", g.input("a", (2, 3)))
    with pytest.raises(InputError) as info:
        run_graph(g, inputs)
    assert str(info.value) == text
    assert isinstance(info.value, ValueError)


def test_accepts_other_integer_arrays():
    g = Graph("i")
    g.output("y", g.input("a", (2,)) * 2)
    assert run_graph(g, {"a": [3, -4]})["y"].tolist() == [6, -8]
    assert run_graph(g, {"a": np.array([3, 4], np.uint8)})["y"].tolist() == [6, 8]


def test_invalid_graph_is_a_compile_error():
    g = Graph("bad")
    g.add(Input("x", (2,)))
    g.add(Map("m", ("x",), Arg(1)))
    g.set_output("y", "m")
    with pytest.raises(CompileError, match=r"node 'm': expression reads \$1"):
        run_graph(g, {"x": np.zeros(2, np.int32)})
