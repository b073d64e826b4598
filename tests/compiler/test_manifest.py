"""The manifest: every field checked with a one-line message before anything runs, the
bitstream's SHA-256, and the cap on simulated cycles (nothing here simulates)."""

import copy
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from compiler.compile import compile_graph
from compiler.frontend import load_graph_file
from compiler.ir import Graph
from compiler.manifest import MANIFEST_VERSION, Manifest, ManifestError
from hw.params import load_fabric
from sim import execute
from sim.execute import DEFAULT_MAX_CYCLES, RunError, run_program, run_timeout
from sim.job import timeout_message
from sim.runner import SimulationError

SMALL = load_fabric("small")
DOT = compile_graph(load_graph_file(Path(__file__).parents[2] / "examples" / "dot.py"), SMALL)
DOC = json.loads(DOT.manifest.to_json())
TEXT = DOT.manifest.to_json()


def _editing(path, edit):
    """A mutation of the manifest's text: ``edit(parent, key)`` on the field at ``path``
    (keys and list indices) of its document."""
    def mutate(text):
        doc = copy.deepcopy(DOC)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        edit(parent, path[-1])
        return json.dumps(doc)
    return mutate


def setting(path, value):
    return _editing(path, lambda parent, key: parent.__setitem__(key, value))


def removing(*path):
    return _editing(path, lambda parent, key: parent.__delitem__(key))


def replacing(old, new):
    assert old in TEXT
    return lambda text: text.replace(old, new, 1)


MALFORMED = [
    # one per rule of compiler.manifest_check.FIELDS
    ("not an object", lambda text: "[]", "the manifest must be an object, not []"),
    ("format", setting(["format"], "x"), "format must be 'terrazzo-manifest', not 'x'"),
    ("version 1", setting(["version"], 1),
     "version must be 2, not 1 (this terrazzo reads version 2; a version 1 manifest has no "
     "bitstream hash: compile the program again)"),
    ("version bool", setting(["version"], True),
     "version must be 2, not True (this terrazzo reads version 2; a version 1 manifest has "
     "no bitstream hash: compile the program again)"),
    ("graph name", setting(["graph"], "1dot"),
     "graph must be a name (a letter or '_', then letters, digits, '_', '.' or '-'), not "
     "'1dot'"),
    ("fabric", setting(["fabric"], "small"), "fabric must be an object, not 'small'"),
    ("fabric name", setting(["fabric", "name"], "sm\nall"),
     "fabric.name must be 1 to 256 characters, none a control character, not 'sm\\nall'"),
    ("fabric hash", setting(["fabric", "hash"], "XYZ"),
     "fabric.hash must be 64 lowercase hex digits, not 'XYZ'"),
    ("hash32 negative", setting(["fabric", "hash32"], -1),
     "fabric.hash32 must be an integer in [0, 4294967295], not -1"),
    ("lanes", setting(["fabric", "lanes"], 6), "fabric.lanes must be a power of two, not 6"),
    ("lanes string", setting(["fabric", "lanes"], "8"),
     "fabric.lanes must be a power of two, not '8'"),
    ("sha256", setting(["bitstream_sha256"], "AB" * 32),
     "bitstream_sha256 must be 64 lowercase hex digits, not "
     "'ABABABABABABABABABABABABABABABABABABABABABABABABABABABAB..."),
    ("compiler version", setting(["compiler_version"], ""),
     "compiler_version must be a version such as '0.1.0', not ''"),
    ("inputs", setting(["inputs"], {}), "inputs must be a list of 0 to 64 items, not {}"),
    ("no outputs", setting(["outputs"], []), "outputs must be a list of 1 to 64 items, not []"),
    ("port entry", setting(["inputs", 0], 3), "inputs[0] must be an object, not 3"),
    ("tensor name", setting(["outputs", 0, "name"], "y z"),
     "outputs[0].name must be a name (a letter or '_', then letters, digits, '_', '.' or "
     "'-'), not 'y z'"),
    ("port string", setting(["inputs", 0, "port"], "2"),
     "inputs[0].port must be an integer in [0, 63], not '2'"),
    ("port bool", setting(["inputs", 0, "port"], True),
     "inputs[0].port must be an integer in [0, 63], not True"),
    ("port negative", setting(["outputs", 0, "port"], -1),
     "outputs[0].port must be an integer in [0, 63], not -1"),
    ("port huge", setting(["inputs", 1, "port"], 2 ** 40),
     "inputs[1].port must be an integer in [0, 63], not 1099511627776"),
    ("shape", setting(["inputs", 0, "shape"], 4096),
     "inputs[0].shape must be a list of 0 to 64 items, not 4096"),
    ("shape float", setting(["inputs", 0, "shape"], [4096.0]),
     "inputs[0].shape[0] must be an integer in [1, 2147483647], not 4096.0"),
    ("shape zero", setting(["inputs", 0, "shape"], [0]),
     "inputs[0].shape[0] must be an integer in [1, 2147483647], not 0"),
    ("dtype", setting(["inputs", 0, "dtype"], "f64"),
     "inputs[0].dtype must be one of 'i32', 'f32', 'bf16', not 'f64'"),
    ("order", setting(["outputs", 0, "order"], "cols"),
     "outputs[0].order must be one of 'rows', 'lane0', not 'cols'"),
    ("words negative", setting(["inputs", 0, "words"], -4096),
     "inputs[0].words must be an integer in [1, 2147483647], not -4096"),
    ("vectors float", setting(["inputs", 0, "vectors"], 512.5),
     "inputs[0].vectors must be an integer in [1, 2147483647], not 512.5"),
    ("ideal cycles huge", setting(["ideal_cycles"], 10 ** 12),
     "ideal_cycles must be an integer in [0, 2147483647], not 1000000000000"),
    ("ideal cycles string", setting(["ideal_cycles"], "512"),
     "ideal_cycles must be an integer in [0, 2147483647], not '512'"),
    ("report", setting(["report"], []), "report must be an object, not []"),
    ("source", setting(["source"], None), "source must be an object, not None"),
    ("unknown field", setting(["extra"], 1),
     "unknown field 'extra' (known: format, version, graph, fabric, bitstream_sha256, "
     "compiler_version, inputs, outputs, dram, sections, ideal_cycles, report, source)"),
    ("unknown port field", setting(["inputs", 0, "prot"], 2),
     "unknown field 'inputs[0].prot' (known: name, port, shape, dtype, order, words, "
     "vectors)"),
    ("missing field", removing("bitstream_sha256"), "field 'bitstream_sha256' is missing"),
    ("missing fabric field", removing("fabric", "lanes"), "field 'fabric.lanes' is missing"),
    # one per rule of compiler.manifest_check.AGREEMENTS
    ("hash32", setting(["fabric", "hash32"], SMALL.hash32 + 1),
     f"fabric.hash32 must be {SMALL.hash32} (the first 32 bits of fabric.hash), not "
     f"{SMALL.hash32 + 1}"),
    ("too many elements", setting(["inputs", 0, "shape"], [2 ** 31 - 1] * 2),
     "inputs[0].shape must have at most 2147483647 elements, not 4611686014132420609"),
    ("words", setting(["inputs", 0, "words"], 4095),
     "inputs[0].words must be 4096 (the elements of shape [4096]), not 4095"),
    ("vectors", setting(["inputs", 1, "vectors"], 511),
     "inputs[1].vectors must be 512 (shape [4096] in order 'rows' on 8 lanes), not 511"),
    ("duplicate name", setting(["inputs", 1, "name"], "a"),
     "inputs[1].name 'a' repeats inputs[0].name"),
    ("duplicate port", setting(["inputs", 1, "port"], 2),
     "inputs[1].port 2 repeats inputs[0].port"),
    ("broken source", setting(["source", "nodes"], "x"),
     "source is not a valid graph: /nodes: expected an array, got \"x\""),
    ("source name", setting(["source", "name"], "dot2"), "source is graph 'dot2', not 'dot'"),
    ("source inputs", setting(["inputs", 0, "name"], "c"),
     "inputs (c[4096], b[4096]) are not those of the source graph (a[4096], b[4096])"),
    # the text itself
    ("duplicate key", replacing('"graph": "dot",', '"graph": "dot", "graph": "dot",'),
     "invalid JSON: duplicate key 'graph'"),
    ("NaN", replacing('"ideal_cycles": 512', '"ideal_cycles": NaN'),
     "invalid JSON: NaN is not a JSON number"),
    ("Infinity", replacing('"ideal_cycles": 512', '"ideal_cycles": -Infinity'),
     "invalid JSON: -Infinity is not a JSON number"),
    ("float overflow", replacing('"ideal_cycles": 512', '"ideal_cycles": 1e400'),
     "invalid JSON: 1e400 is too large for a JSON number"),
    ("digits", replacing('"ideal_cycles": 512', '"ideal_cycles": ' + "9" * 5000),
     "invalid JSON: an integer of 5000 digits is too long"),
    ("nesting", replacing('"report": {', '"report": {"x": ' + "[" * 100_000 + "]" * 100_000
                          + ","),
     "invalid JSON: nested too deeply"),
    ("syntax", lambda text: text[:-3], "invalid JSON at line 135 column 4: Expecting ',' "
     "delimiter"),
    ("not UTF-8", lambda text: b"\xff" + text.encode(), "not UTF-8 text (bad byte at offset 0)"),
]


@pytest.mark.parametrize("mutate,message", [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_manifest_is_one_line_naming_the_field(mutate, message):
    with pytest.raises(ManifestError) as e:
        Manifest.from_json(mutate(TEXT), source="dot.json")
    assert str(e.value) == f"dot.json: {message}"


def test_round_trip_keeps_every_field():
    manifest = Manifest.from_json(TEXT, source="dot.json")
    assert manifest == DOT.manifest and manifest.origin == "dot.json"
    assert DOC["version"] == MANIFEST_VERSION == 2
    assert manifest.bitstream_sha256 == hashlib.sha256(DOT.bitstream).hexdigest()
    assert manifest.to_json() == TEXT


def test_a_manifest_built_in_python_is_checked_too():
    bad = dataclasses.replace(DOT.manifest, ideal_cycles=10 ** 12)
    with pytest.raises(ManifestError, match=r"^manifest: ideal_cycles must be an integer in "
                                            r"\[0, 2147483647\], not 1000000000000$"):
        bad.validate()
    with pytest.raises(ManifestError, match=r"^manifest: not representable as JSON: Object "
                                            r"of type int64 is not JSON serializable$"):
        dataclasses.replace(DOT.manifest, ideal_cycles=np.int64(512)).validate()


@pytest.mark.parametrize("change,message", [
    (dict(fabric_hash="0" * 64), "dot.json: fabric.hash is 0000000000000000..., fabric "
                                 "'small' has 79f6d6b3e365b15c..."),
    (dict(lanes=16), "dot.json: fabric.lanes is 16, fabric 'small' has 8"),
])
def test_manifest_must_fit_the_fabric(change, message):
    manifest = dataclasses.replace(DOT.manifest, origin="dot.json", **change)
    with pytest.raises(ManifestError) as e:
        manifest.check_fabric(SMALL)
    assert str(e.value) == message


def test_ports_must_exist_on_the_fabric():
    doc = copy.deepcopy(DOC)
    doc["outputs"][0]["port"] = 9
    manifest = Manifest.from_json(json.dumps(doc), source="dot.json")
    with pytest.raises(ManifestError) as e:
        manifest.check_fabric(SMALL)
    assert str(e.value) == ("dot.json: outputs[0].port must be below 4 (fabric 'small' has 4 "
                            "output ports), not 9")


def two_programs():
    """``a - b`` and ``3a + b``: the same ports, tensors and fabric; other bitstreams."""
    def program(name, f):
        g = Graph(name)
        a, b = g.input("a", (16,)), g.input("b", (16,))
        g.output("y", f(a, b))
        return compile_graph(g, SMALL)
    return program("sub", lambda a, b: a - b), program("axpb", lambda a, b: 3 * a + b)


def test_bitstream_must_be_the_manifests(tmp_path):
    sub, axpb = two_programs()
    assert sub.manifest.inputs == axpb.manifest.inputs
    assert sub.manifest.outputs == axpb.manifest.outputs
    manifest = dataclasses.replace(axpb.manifest, origin="axpb.json")
    got = hashlib.sha256(sub.bitstream).hexdigest()
    message = (f"sub.tzb does not belong to the manifest axpb.json: its SHA-256 is "
               f"{got[:16]}..., the manifest's is {axpb.manifest.bitstream_sha256[:16]}... "
               f"(they come from different compiles)")
    with pytest.raises(ManifestError) as e:
        manifest.check_bitstream(sub.bitstream, "sub.tzb")
    assert str(e.value) == message
    tensors = {"a": np.arange(16), "b": np.ones(16, np.int64)}
    with pytest.raises(RunError) as e:
        run_program(sub.bitstream, manifest, tensors, bitstream_name="sub.tzb",
                    build_root=tmp_path / "build")
    assert str(e.value) == message
    assert not (tmp_path / "build").exists()      # refused before any build
    manifest.check_bitstream(axpb.bitstream)


def test_broken_source_is_refused_before_any_build(tmp_path):
    bad = dataclasses.replace(DOT.manifest, source={**DOT.manifest.source, "outputs": {}})
    tensors = {"a": np.zeros(4096, np.int64), "b": np.zeros(4096, np.int64)}
    with pytest.raises(RunError, match=r"^manifest: source is not a valid graph: /outputs: "
                                       r"a graph needs at least one output$"):
        run_program(DOT.bitstream, bad, tensors, build_root=tmp_path / "build")
    assert not (tmp_path / "build").exists()


def test_timeout_follows_the_program_up_to_the_cap():
    assert run_timeout(512) == 10 * 512 + 20_000
    assert run_timeout(512, idle=0.5, backpressure=0.5) == 4 * (10 * 512 + 20_000)
    assert run_timeout(10 ** 12) == DEFAULT_MAX_CYCLES
    assert run_timeout(10 ** 12, max_cycles=5 * 10 ** 6) == 5 * 10 ** 6
    assert run_timeout(512, max_cycles=1000) == 1000


@pytest.mark.parametrize("value", [0, -5, True, 2.5, "100"])
def test_max_cycles_must_be_a_positive_integer(tmp_path, value):
    with pytest.raises(RunError) as e:
        run_program(DOT.bitstream, DOT.manifest, {}, max_cycles=value,
                    build_root=tmp_path / "build")
    assert str(e.value) == f"max_cycles must be a positive integer, not {value!r}"


class _StuckRunner:
    """A runner whose every run times out, as the testbench reports it."""
    def __init__(self, params, sim, build_root):
        pass

    def build(self, waves=None):
        pass

    def run(self, bitstream, inputs, expect, *, timeout_cycles, **knobs):
        raise SimulationError(f"verilator simulation failed (run directory x):\n"
                              f"{timeout_message(timeout_cycles)} (running=1, done=0, "
                              f"cycles={timeout_cycles})\n  out3: 0 of 1 vectors arrived")


def test_a_run_that_reaches_the_cap_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(execute, "Runner", _StuckRunner)
    tensors = {"a": np.zeros(4096, np.int64), "b": np.zeros(4096, np.int64)}
    with pytest.raises(RunError) as e:
        run_program(DOT.bitstream, DOT.manifest, tensors, max_cycles=300)
    assert str(e.value) == ("the simulation reached its limit of 300 cycles before the fabric "
                            "was done; allow more with --max-cycles (max_cycles= of "
                            "run_program)")
    # below the cap, a timeout keeps the testbench's report of every port
    with pytest.raises(SimulationError, match="out3: 0 of 1 vectors arrived"):
        run_program(DOT.bitstream, DOT.manifest, tensors, timeout_cycles=200, max_cycles=300)
