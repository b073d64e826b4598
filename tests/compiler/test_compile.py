"""The whole compiler: every example on small and plasticine, determinism, round trips,
and random graphs / random bitstreams that must fail cleanly if they fail."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from compiler.bitstream import decode, encode
from compiler.compile import compile_graph
from compiler.disasm import assemble, disassemble
from compiler.errors import CompileError
from compiler.ir import Graph
from compiler.manifest import Manifest
from hw.params import load_fabric
from terrazzo import kernels

SMALL = load_fabric("small")
PLASTICINE = load_fabric("plasticine")


@pytest.mark.parametrize("fabric", ["small", "plasticine"])
@pytest.mark.parametrize("name", kernels.KERNELS)
def test_example_compiles_and_round_trips(name, fabric):
    p = load_fabric(fabric)
    mod = kernels.load(name)
    result = compile_graph(mod.build(**mod.SIZES["default"]), p)
    blob = result.bitstream
    assert encode(decode(blob, p)) == blob
    assert assemble(disassemble(blob)) == blob
    manifest = Manifest.from_json(result.manifest.to_json())
    assert manifest == result.manifest
    assert manifest.fabric_hash32 == p.hash32


def test_json_twin_compiles_to_the_same_bitstream():
    from compiler.jsonio import load_graph
    from pathlib import Path
    for name in kernels.KERNELS:
        mod = kernels.load(name)
        twin = load_graph(Path(kernels.__file__).parent / f"{name}.json")
        built = mod.build(**mod.SIZES["default"])
        assert twin == built, name
        assert compile_graph(twin, SMALL).bitstream == compile_graph(built, SMALL).bitstream


def test_deterministic_across_processes():
    code = ("import hashlib; from compiler.compile import compile_graph; "
            "from hw.params import load_fabric; from terrazzo import kernels; "
            "print(hashlib.sha256(b''.join(compile_graph(kernels.load(n).build(), "
            "load_fabric('small')).bitstream for n in kernels.KERNELS)).hexdigest())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout
            for seed in (1, 2)}
    assert len(outs) == 1


_ops = st.sampled_from(["add", "sub", "mul", "and", "or", "xor", "max", "min"])


@st.composite
def random_graphs(draw):
    g = Graph("rand")
    n = draw(st.integers(1, 40))
    rows = draw(st.integers(1, 3))
    shape = (rows, n) if rows > 1 else (n,)
    values = [g.input(f"x{k}", shape) for k in range(draw(st.integers(1, 3)))]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["map", "imm", "reduce", "scan"]))
        a = draw(st.sampled_from(values))
        if kind == "map":
            b = draw(st.sampled_from(values))
            if a.shape != b.shape:
                continue
            values.append(g.map(draw(_ops), a, b))
        elif kind == "imm":
            values.append(g.map(draw(_ops), a, draw(st.integers(-5, 5))))
        elif kind == "reduce" and a.shape:
            values.append(g.reduce(draw(st.sampled_from(["add", "min", "max"])), a))
        elif kind == "scan" and a.shape:
            values.append(g.scan("add", a))
    g.output("y", values[-1])
    return g


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.sampled_from(["tiny", "small"]))
def test_random_graphs_compile_or_raise_compile_error(g, fabric):
    p = load_fabric(fabric)
    try:
        result = compile_graph(g, p)
    except CompileError:
        return
    assert assemble(disassemble(result.bitstream)) == result.bitstream


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_disasm_of_random_bytes_is_a_clean_error(blob):
    try:
        disassemble(blob)
    except CompileError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_disasm_of_mutated_bitstreams_is_a_clean_error_or_text(data):
    blob = bytearray(compile_graph(kernels.load("dot").build(n=64), SMALL).bitstream)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(0, len(blob)))
    try:
        disassemble(bytes(blob[:cut]))
    except CompileError:
        pass


def test_floating_point_arithmetic_needs_a_fabric_with_fp_units():
    g = Graph("scale_f32")
    g.output("y", g.input("x", (16,), "f32") * 2.0)
    with pytest.raises(CompileError) as e:
        compile_graph(g, load_fabric("tiny"))
    assert str(e.value) == ("node 'map0': computes in floating point (f32[16]), and fabric "
                            "'tiny' has no floating-point units (its op_groups are ['int']); "
                            "compile for a fabric with op_groups ['int', 'fp'], such as "
                            "'small-fp'")


def test_floats_that_are_only_moved_need_no_fp_units():
    g = Graph("copy_f32")
    g.output("y", g.map(lambda v: v, g.input("x", (16,), "f32")))
    result = compile_graph(g, load_fabric("tiny"))
    assert [s.dtype for s in result.manifest.inputs + result.manifest.outputs] == ["f32"] * 2
