"""Tests of the JSON graph format: round trips, schema file, error messages and
random corruption."""

import copy
import json
import pathlib
import re

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compiler.errors import CompileError
from compiler.ir import Graph
from compiler.jsonio import SCHEMA, graph_from_json, graph_to_json, load_graph, save_graph

ROOT = pathlib.Path(__file__).resolve().parents[2]


def rich_graph():
    g = Graph("rich")
    x = g.input("x", (2, 4))
    w = g.input("w", (3, 4))
    b = g.input("b", (3,))
    k = g.const("k", np.arange(-3, 3).reshape(2, 3))
    h = g.relu(g.linear(x, w, b, name="fc") + k)
    s = g.map(lambda a: g.select(a.lt(0), -a, a >> 1), h)
    g.output("y", g.reduce("max", s))
    g.output("f", g.fold("add", g.scan("min", x, axis=0), -5, axis=1))
    g.output("m", g.matmul(x, g.transpose(w)))
    v = g.input("v", (6,))
    g.output("c", g.conv1d(v, g.view(v, (2,), 5, (-2,))))
    g.output("o", g.outer(b, g.gemv(w, g.input("z", (4,)))))
    return g


def test_round_trip_text_and_graph(tmp_path):
    g = rich_graph()
    doc = graph_to_json(g)
    text = json.dumps(doc)
    loaded = load_graph(text)
    assert loaded == g
    assert graph_to_json(loaded) == doc
    path = tmp_path / "rich.json"
    save_graph(g, path)
    assert load_graph(path) == g
    assert load_graph(str(path)) == g
    save_graph(load_graph(path), tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == path.read_text()


def test_document_shape():
    doc = graph_to_json(rich_graph())
    assert doc["format"] == "terrazzo-graph" and doc["version"] == 1
    assert doc["nodes"][3] == {"name": "k", "kind": "const", "shape": [2, 3], "dtype": "i32",
                               "values": [-3, -2, -1, 0, 1, 2]}
    assert doc["nodes"][4] == {"name": "fc", "kind": "linear", "inputs": ["x", "w", "b"]}
    sel = next(n for n in doc["nodes"] if n["kind"] == "map" and n["expr"][0] == "select")
    assert sel["expr"] == ["select", ["lt", "$0", 0], ["sub", 0, "$0"], ["sra", "$0", 1]]


def test_schema_file_matches():
    on_disk = json.loads((ROOT / "docs" / "graph.schema.json").read_text())
    assert on_disk == SCHEMA


def test_schema_accepts_documents():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(graph_to_json(rich_graph()), SCHEMA)


def test_documented_example_loads():
    text = (ROOT / "docs" / "ir.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        g = load_graph(block)
        assert g.outputs


def test_save_checks_first(tmp_path):
    g = Graph("bad")
    g.input("x", (2,))
    with pytest.raises(CompileError, match="graph 'bad' has no outputs"):
        save_graph(g, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


BASE = {
    "format": "terrazzo-graph", "version": 1, "name": "g",
    "nodes": [
        {"name": "x", "kind": "input", "shape": [4]},
        {"name": "w", "kind": "input", "shape": [2, 4], "dtype": "i32"},
        {"name": "m", "kind": "map", "inputs": ["x"], "expr": ["add", ["mul", "$0", 3], 1]},
        {"name": "g", "kind": "gemv", "inputs": ["w", "m"]},
        {"name": "r", "kind": "reduce", "input": "g", "op": "add", "axis": 0},
    ],
    "outputs": {"y": "r"},
}


def mutate(pointer, value):
    doc = copy.deepcopy(BASE)
    *path, last = [int(p) if p.isdigit() else p for p in pointer.strip("/").split("/")]
    target = doc
    for p in path:
        target = target[p]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(doc)


DELETE = object()


def test_base_document_loads():
    assert load_graph(json.dumps(BASE)).to_text().count("\n") == 8


@pytest.mark.parametrize("pointer, value, text", [
    ("/format", "other", "/format: expected 'terrazzo-graph', got \"other\""),
    ("/version", 2, "/version: unsupported version 2; this compiler reads version 1"),
    ("/version", True, "/version: unsupported version true; this compiler reads version 1"),
    ("/extra", 1, "/extra: unexpected key"),
    ("/name", DELETE, "/: missing 'name'"),
    ("/name", "a b", "/name: expected a name (a letter or '_' followed by letters, digits, "
                     "'_', '.' or '-'), got \"a b\""),
    ("/nodes", {}, "/nodes: expected an array, got an object"),
    ("/nodes/0", 5, "/nodes/0: expected a node object, got 5"),
    ("/nodes/0/kind", "fft", "/nodes/0/kind: unknown node kind \"fft\"; expected one of "
     "'input', 'iota', 'const', 'view', 'map', 'reduce', 'fold', 'scan', 'matmul', 'linear', 'gemv', "
     "'conv1d', 'relu', 'outer', 'exp', 'reciprocal', 'rsqrt', 'tanh', 'sigmoid', "
     "'softmax', 'layernorm', 'gelu'"),
    ("/nodes/0/shape", DELETE, "/nodes/0: missing 'shape' for a input node"),
    ("/nodes/0/shape", [4, 0], "/nodes/0/shape/1: expected a positive integer, got 0"),
    ("/nodes/0/shape", [4.0], "/nodes/0/shape/0: expected a positive integer, got 4.0"),
    ("/nodes/0/dtype", "f64",
     "/nodes/0/dtype: unknown dtype \"f64\"; expected one of 'i32', 'f32', 'bf16'"),
    ("/nodes/0/dtype", "f64", "/nodes/0/dtype: unknown dtype \"f64\"; expected one of 'i32', "
                              "'f32', 'bf16'"),
    ("/nodes/0/stride", 1, "/nodes/0/stride: unexpected key for a input node"),
    ("/nodes/1/name", "x", "/nodes/1/name: duplicate node name 'x' (first at /nodes/0)"),
    ("/nodes/2/inputs", [], "/nodes/2/inputs: expected an array of at least 1 items, got 0"),
    ("/nodes/2/inputs/0", "q", "/nodes/2/inputs/0: unknown node 'q'"),
    ("/nodes/2/expr", ["add", "$0"], "/nodes/2/expr: op 'add' takes 2 operands, got 1"),
    ("/nodes/2/expr/1/0", "times", "/nodes/2/expr/1/0: unknown op \"times\"; expected one of "
     "'pass', 'add', 'sub', 'mul', 'mac', 'min', 'max', 'and', 'or', 'xor', 'shl', 'shr', "
     "'sra', 'eq', 'ne', 'lt', 'le', 'select', 'abs', 'fadd', 'fsub', 'fmul', 'fmac', 'fmin', "
     "'fmax', 'feq', 'fne', 'flt', 'fle', 'fabs', 'fneg', 'itof', 'ftoi', 'ftobf', "
     "'ftobf_sr', 'asf32', 'asi32'"),
    ("/nodes/2/expr/1/1", "x", "/nodes/2/expr/1/1: expected an input reference like \"$0\", "
                               "got \"x\""),
    ("/nodes/2/expr/2", 2 ** 31, "/nodes/2/expr/2: expected an i32 integer, got 2147483648"),
    ("/nodes/2/expr/2", 1.5, "/nodes/2/expr/2: expected an expression (\"$N\", an integer, "
                             "{\"f32\": number}, [\"cast\", x, dtype] or [op, ...]), got 1.5"),
    ("/nodes/2/expr/2", {"f64": 1}, "/nodes/2/expr/2: expected a float immediate such as "
                                    "{\"f32\": 1.5} (one key, 'f32' or 'bf16'), got an "
                                    "object with keys 'f64'"),
    ("/nodes/2/expr/2", {"f32": True}, "/nodes/2/expr/2/f32: expected a number or a string, "
                                       "got true"),
    ("/nodes/2/expr/2", {"f32": "1.5.2"}, "/nodes/2/expr/2/f32: expected a decimal number, "
                                          "'inf', '-inf', 'nan' or 0x and 8 hex digits, got "
                                          "\"1.5.2\""),
    ("/nodes/2/expr/2", {"bf16": "0x3f800001"}, "/nodes/2/expr/2/bf16: immediate 0x3f800001 is "
                                                "no bf16 (its low 16 bits are not zero)"),
    ("/nodes/2/expr/2", {"f32": 1.5}, "node 'm': op 'add' mixes i32 and f32 operands "
                                      "(f32(1.5) is f32); insert cast(f32(1.5), 'i32') or cast "
                                      "the other operands to f32 (at /nodes/2)"),
    ("/nodes/2/expr", ["cast", "$0"], "/nodes/2/expr: expected [\"cast\", x, dtype] or "
                                      "[\"cast\", x, \"bf16\", rounding], got an array of 2 "
                                      "items"),
    ("/nodes/2/expr", ["cast", "$0", "f64"], "/nodes/2/expr/2: unknown dtype \"f64\"; expected "
                                             "one of 'i32', 'f32', 'bf16'"),
    ("/nodes/2/expr", ["cast", "$0", "bf16", "up"], "/nodes/2/expr/3: unknown rounding \"up\"; "
                                                    "expected one of 'rne', 'sr'"),
    ("/nodes/2/expr", ["cast", "$0", "bf16"], "node 'm': no cast from i32 to bf16; cast "
                                              "through f32 (i32 <-> f32 and f32 <-> bf16 exist) "
                                              "(at /nodes/2)"),
    ("/nodes/2/expr/2", [], "/nodes/2/expr/2: expected [op, operands...], got an empty array"),
    ("/nodes/2/expr", "$1", "node 'm': expression reads $1 but the map has 1 input "
                            "(at /nodes/2)"),
    ("/nodes/3/inputs", ["w"], "/nodes/3/inputs: expected an array of 2 items, got 1"),
    ("/nodes/3/inputs", ["m", "w"], "node 'g': gemv needs W of rank 2, got [4] from 'm' "
                                    "(at /nodes/3)"),
    ("/nodes/3/attrs", {"k": 1}, "/nodes/3/attrs/k: gemv takes no attribute 'k'"),
    ("/nodes/3/attrs", [], "/nodes/3/attrs: expected an object, got an array"),
    ("/nodes/4/op", "mul", "/nodes/4/op: unknown reduction \"mul\"; expected one of 'add', "
                           "'min', 'max', 'fadd', 'fmin', 'fmax', 'kadd', 'argmin', 'argmax', "
                           "'fargmin', 'fargmax'"),
    ("/nodes/4/axis", -1, "/nodes/4/axis: expected a non-negative axis, got -1"),
    ("/nodes/4/axis", 1, "node 'r': axis 1 is out of range for a tensor of rank 1 "
                         "(at /nodes/4)"),
    ("/nodes/4/input", "r", "node 'r': cycle r -> r (at /nodes/4)"),
    ("/outputs", {}, "/outputs: a graph needs at least one output"),
    ("/outputs", [], "/outputs: expected an object, got an array"),
    ("/outputs/y", "nope", "/outputs/y: unknown node 'nope'"),
    ("/outputs/y", 3, "/outputs/y: expected a name (a letter or '_' followed by letters, "
                      "digits, '_', '.' or '-'), got 3"),
])
def test_format_errors(pointer, value, text):
    with pytest.raises(CompileError) as info:
        load_graph(mutate(pointer, value))
    assert str(info.value) == text


def test_syntax_error_has_line_and_column():
    text = json.dumps(BASE, indent=1).replace('"shape": [', '"shape": [,', 1)
    with pytest.raises(CompileError) as info:
        load_graph(text)
    assert re.fullmatch(r"<text>:\d+:\d+: invalid JSON: Expecting value", str(info.value))
    line, col = map(int, str(info.value).split(":")[1:3])
    assert text.splitlines()[line - 1][col - 1] == ","


def test_syntax_error_in_file(tmp_path):
    path = tmp_path / "g.json"
    path.write_text('{\n  "format": "terrazzo-graph"\n  "version": 1}')
    with pytest.raises(CompileError) as info:
        load_graph(path)
    assert str(info.value) == f"{path}:3:3: invalid JSON: Expecting ',' delimiter"


def test_missing_file(tmp_path):
    with pytest.raises(CompileError, match="cannot read graph file .*nothing.json"):
        load_graph(tmp_path / "nothing.json")
    with pytest.raises(CompileError, match="expected a path or JSON text, not int"):
        load_graph(3)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats(allow_nan=False)
    | st.text(max_size=5) | st.sampled_from(["$0", "$1", "x", "m", "add", "i32", "f32"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "kind", "shape", "input", "inputs", "expr", "op", "axis"]),
        inner, max_size=3),
    max_leaves=6)


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, prefix + (i,))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_random_mutations_give_compile_errors(data):
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(paths(doc))))
        if not path:
            doc = data.draw(JSON_VALUES)
            continue
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(JSON_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=4))] = data.draw(JSON_VALUES)
        else:
            parent.insert(path[-1], data.draw(JSON_VALUES))
    try:
        g = load_graph(json.dumps(doc))
    except CompileError:
        return
    assert load_graph(json.dumps(graph_to_json(g))) == g


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_text_edits_give_compile_errors(data):
    text = json.dumps(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 4)))
        text = text[:i] + data.draw(st.text(alphabet='{}[]",:0123456789-.$ aeflnrstux',
                                            max_size=3)) + text[j:]
    try:
        load_graph(text)
    except CompileError:
        pass


def test_float_immediates_and_casts_round_trip():
    doc = copy.deepcopy(BASE)
    doc["nodes"][2]["expr"] = ["cast", ["add", ["mul", ["cast", "$0", "f32"], {"f32": 0.1}],
                                        {"f32": "-inf"}], "i32"]
    doc["nodes"].append({"name": "b", "kind": "map", "inputs": ["x"],
                         "expr": ["cast", ["cast", "$0", "f32"], "bf16", "sr"]})
    doc["outputs"]["b"] = "b"
    g = graph_from_json(doc)
    assert g.type_of("m").dtype == "i32" and g.type_of("b").dtype == "bf16"
    out = graph_to_json(g)
    assert out["nodes"][2]["expr"] == ["cast", ["add", ["mul", ["cast", "$0", "f32"],
                                                        {"f32": "0.1"}], {"f32": "-inf"}], "i32"]
    assert graph_to_json(graph_from_json(out)) == out
    jsonschema.Draft202012Validator(SCHEMA).validate(out)
