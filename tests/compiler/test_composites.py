"""Tests of the composite registry: every entry reaches the builder, the type checker,
the JSON format, decompose and the golden model, and a new entry needs nothing else."""

import inspect
import json

import numpy as np
import pytest

from hw.ops import Op
from compiler.builder import Builder, with_composite_methods
from compiler.composites import COMPOSITES, COMPOSITE_KINDS, CompositeOp
from compiler.ir import Arg, Call, Composite, Graph, Input, Map
from compiler.jsonio import SCHEMA, graph_from_json, graph_to_json, load_graph
from compiler.passes import decompose, infer, pipeline
from sim.golden import run_graph
from ir_helpers import check_error, text_body

SEED = 99


def random_inputs(g, seed):
    """Random i32 inputs for ``g``, half of them extreme so that sums and products wrap."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, node in g.nodes.items():
        if isinstance(node, Input):
            wide = rng.integers(-2 ** 31, 2 ** 31, size=node.shape, dtype=np.int64)
            small = rng.integers(-4, 5, size=node.shape)
            out[name] = np.where(rng.random(node.shape) < 0.5, small, wide).astype(np.int32)
    return out


def example_graph(op):
    """A graph computing composite ``op`` on its example shapes, by its builder method."""
    g = Graph(op.name)
    dtype = op.dtypes[0] if op.dtypes else "i32"
    ins = [g.input(f"in{i}", shape, dtype) for i, shape in enumerate(op.example)]
    g.output("y", getattr(g, op.name)(*ins))
    return g


def assert_same_outputs(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype == np.int32
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


ENTRIES = pytest.mark.parametrize("op", list(COMPOSITES.values()), ids=list(COMPOSITES))


@ENTRIES
def test_builder_method_comes_from_the_entry(op):
    method = getattr(Graph, op.name)
    assert method.__doc__ == op.doc
    assert list(inspect.signature(method).parameters) == ["self", *op.params, "name"]
    g = example_graph(op)
    node = g.nodes[g.outputs["y"]]
    assert node == Composite(f"{op.name}0", op.name, tuple(f"in{i}" for i in range(op.arity)))
    assert COMPOSITE_KINDS[op.name] == op.arity


@ENTRIES
def test_builder_method_takes_keywords(op):
    g = Graph(op.name)
    dtype = op.dtypes[0] if op.dtypes else "i32"
    ins = {p: g.input(f"in{i}", s, dtype)
           for i, (p, s) in enumerate(zip(op.params, op.example))}
    y = getattr(g, op.name)(**ins, name="k")
    assert y.node == Composite("k", op.name, tuple(v.name for v in ins.values()))
    with pytest.raises(TypeError, match="missing a required argument"):
        getattr(g, op.name)(name="short")


@ENTRIES
def test_entry_is_in_the_json_format(op):
    g = example_graph(op)
    kinds = [n["properties"]["kind"]["const"] for n in SCHEMA["$defs"]["node"]["oneOf"]]
    assert op.name in kinds
    doc = graph_to_json(g)
    assert doc["nodes"][-1]["kind"] == op.name
    assert graph_from_json(json.loads(json.dumps(doc))) == g


@ENTRIES
def test_golden_of_entry_equals_golden_of_its_decomposition(op):
    g = example_graph(op)
    expanded = decompose(infer(g))
    assert not any(isinstance(n, Composite) for n in expanded.nodes.values())
    result = g.outputs["y"]
    assert expanded.type_of(result) == g.type_of(result)
    if op.ulps is not None:
        # a floating-point function: its golden model is its decomposition, which
        # must be within op.ulps of the float64 meaning (tests/compiler/test_special.py
        # measures it over whole ranges)
        rng = np.random.default_rng(SEED)
        x = {f"in{i}": rng.uniform(0.01 if op.name == "rsqrt" else -3, 3,
                                    shape).astype(np.float32)
             for i, shape in enumerate(op.example)}
        got = run_graph(pipeline(g), x, lanes=8)["y"]
        assert np.array_equal(got, run_graph(g, x, lanes=8)["y"])
        want = op.meaning(*(v.astype(np.float64) for v in x.values()))
        size = np.maximum(np.abs(want), op.ulp_floor).astype(np.float32)
        step = np.spacing(size).astype(np.float64)
        with np.errstate(invalid="ignore"):
            err = np.abs(got - want) / step
        assert np.nanmax(err) <= op.ulps and not np.isnan(err[~np.isnan(want)]).any()
        return
    for seed in range(SEED, SEED + 5):
        inputs = random_inputs(g, seed)
        want = run_graph(g, inputs)
        assert_same_outputs(run_graph(expanded, inputs), want)
        assert_same_outputs(run_graph(pipeline(g), inputs), want)


def _twice_expand(x):
    x.map(x.name, x.inputs, Call(Op.ADD, (Arg(0), Arg(0))))


TWICE = CompositeOp("twice", ("x",), "``x + x``.", lambda s: s[0], _twice_expand,
                    lambda x: x + x, example=((3, 2),))


@pytest.fixture
def twice(monkeypatch):
    """The composite ``twice`` registered for one test."""
    monkeypatch.setitem(COMPOSITES, "twice", TWICE)
    return TWICE


def test_new_entry_needs_nothing_else(twice):
    g = Graph("t")
    x = g.input("x", (3, 2))
    y = g.composite("twice", x)
    g.output("y", y)
    assert text_body(g)[1] == "%twice0 = twice(%x) : i32[3,2]"
    assert text_body(decompose(g))[1] == "%twice0 = map[add($0, $0)](%x) : i32[3,2]"
    assert decompose(g).nodes["twice0"] == Map("twice0", ("x",), Call(Op.ADD, (Arg(0), Arg(0))))
    assert load_graph(json.dumps(graph_to_json(g))) == g
    inputs = {"x": np.array([[1, -2], [2 ** 30, 7], [-2 ** 31, 0]], dtype=np.int32)}
    assert run_graph(g, inputs)["y"].tolist() == [[2, -4], [-2 ** 31, 14], [0, 0]]
    assert_same_outputs(run_graph(pipeline(g), inputs), run_graph(g, inputs))
    check_error(lambda: g.composite("twice", x, x),
                "node 'twice1': twice takes 1 input, got 2")
    check_error(lambda: g.composite("thrice", x),
                "node 'thrice0': unknown composite kind 'thrice'; known kinds are matmul, "
                "linear, gemv, conv1d, relu, outer, exp, reciprocal, rsqrt, tanh, sigmoid, "
                "softmax, layernorm, gelu, twice")
    builder = with_composite_methods(type("B", (Builder,), {}))
    assert builder.twice.__doc__ == "``x + x``."
    assert list(inspect.signature(builder.twice).parameters) == ["self", "x", "name"]


def test_type_rule_errors_name_the_node():
    g = Graph("e")
    g.input("a", (2, 3))
    check_error(lambda: g.gemv("a", "a"), "node 'gemv0': gemv needs x of rank 1, got [2,3] "
                                          "from 'a'")


def test_composite_may_not_hide_a_method():
    with pytest.raises(TypeError, match=r"composite 'relu' would hide G.relu"):
        with_composite_methods(type("G", (), {"relu": None}))
