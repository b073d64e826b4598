"""Graph inputs read from DRAM: the load patterns, where lowering uses them, the
manifest's ``dram`` list (simulation: tests/e2e/test_dram_kernels.py)."""

import json
from dataclasses import replace

import pytest

from compiler.compile import compile_graph
from compiler.errors import CompileError
from compiler.ir import Graph
from compiler.lower import lower
from compiler.lower.offchip import DramRead, dram_config, plan_dram_read
from compiler.lower.plans import Operand
from compiler.lower.sequences import Dim, Walk
from compiler.manifest import DramSpec, Manifest, ManifestError
from compiler.passes import pipeline
from hw.dram import DramMode
from hw.params import load_fabric
from terrazzo import kernels

TINY = load_fabric("tiny")
TINY_DRAM = TINY.replace(name="tiny-dram", dram_ports=1)
SMALL_DRAM = load_fabric("small").replace(name="small-dram", dram_ports=2)


def read(kind, *dims, base=0, p=TINY_DRAM, size=10_000):
    o = Operand("t", 0, (), kind)
    return plan_dram_read(o, Walk(base, tuple(dims)), size, p)


def test_a_row_that_is_the_innermost_loop_is_one_run():
    # 3 rows of 10 elements, 13 apart, each re-read twice: 3 vectors of 4 lanes a row
    r = read("vector", Dim(3, 4, (4, 2)), Dim(2, 0), Dim(3, 13), base=5)
    assert r == DramRead("t", DramMode.VECTOR, 10, (2, 3), (0, 13), 5, 10_000)
    # runs start at words 5, 18 and 31: beats of 4 words from offsets 1, 2, 3 take 3, 3
    # and 4 beats
    assert r.runs == 6 and r.beats(4) == 2 * (3 + 3 + 4)


def test_vectors_of_an_outer_row_are_runs_of_one_vector():
    # gemm's B: for each k (stride 32) the vectors of a row of 32, then each row of A
    r = read("vector", Dim(16, 32), Dim(8, 4, (4, 4)), Dim(4, 0))
    assert (r.mode, r.run, r.extents, r.strides) == (DramMode.VECTOR, 4, (16, 8, 4),
                                                     (32, 4, 0))
    # a row of one vector is one run of its valid lanes
    r = read("vector", Dim(16, 32), Dim(1, 4, (3, 3)))
    assert (r.run, r.extents, r.strides) == (3, (16,), (32,))


def test_walks_a_load_engine_cannot_follow_have_no_read():
    # a ragged row whose vectors are not the innermost loop: runs of two lengths
    assert read("vector", Dim(16, 32), Dim(3, 4, (4, 2))) is None
    # more levels than the counter chain has (tiny: 3)
    assert read("scalar", Dim(2, 1), Dim(2, 5), Dim(2, 9), Dim(2, 40)) is None
    # a counter operand reads nothing
    assert read("counter", Dim(4, 1)) is None


def test_scalar_operands_read_a_word_a_run():
    r = read("scalar", Dim(16, 1), Dim(8, 0), Dim(4, 16))
    assert (r.mode, r.run, r.extents, r.strides) == (DramMode.SCALAR, 1, (16, 8, 4),
                                                     (1, 0, 16))
    cfg = dram_config(r, TINY_DRAM, base=100)
    assert cfg["load"]["base"] == 100 and cfg["store"]["mode"] == DramMode.OFF
    assert cfg["load"]["extents"] == [16, 8, 4]


def gemm(**size):
    return pipeline(kernels.load("gemm").build(**size))


def test_a_tensor_no_pmu_holds_is_read_from_dram():
    # B is 16 x 32 = 512 words; a tiny PMU holds 256
    with pytest.raises(CompileError, match=r"tensor 'B' needs 512 words in a PMU; a PMU "
                                           r"holds 256"):
        lower(gemm(m=4, k=16, n=32), TINY)
    low = lower(gemm(m=4, k=16, n=32), TINY_DRAM)
    assert list(low.dram_reads) == ["dram:B"]
    assert low.dram_reads["dram:B"].to_text() == \
        "dram vector run=4 extents=[16, 8, 4] strides=[32, 4, 0] offset=0"
    nets = {n.source: n.sinks for n in low.netlist.nets}
    assert nets[("dram:B", "vout")] == (("pcu:matmul0", "vin0"),)
    # B arrives on no edge port: only DRAM units read it
    assert [name for name, _, _ in low.inputs] == ["A"]
    assert "in:B" not in {v.name for v in low.netlist.vunits}
    # what fits a PMU still goes through one
    assert "A" in {p.name.split(":")[1] for p in low.pmus.values()}


def test_dram_units_run_out():
    # two tensors that fit no PMU, one DRAM unit: the second is refused as before
    g = Graph("two")
    a = g.input("a", (64, 8))
    b = g.input("b", (64, 8))
    x = g.input("x", (4, 64))
    g.output("y", g.matmul(x, a) + g.matmul(x, b))
    with pytest.raises(CompileError, match=r"needs 512 words in a PMU; a PMU holds 256"):
        lower(pipeline(g), TINY_DRAM)
    assert len(lower(pipeline(g), TINY_DRAM.replace(dram_ports=2)).dram_reads) == 2


def test_the_manifest_lists_dram_tensors_and_the_ideal_counts_their_beats():
    r = compile_graph(kernels.load("gemm").build(m=4, k=16, n=32), TINY_DRAM)
    assert r.manifest.dram == (DramSpec("B", 0, (16, 32), "i32", 512),)
    assert [s.name for s in r.manifest.inputs] == ["A"]
    # 512 runs of one 4-word vector, one beat each (dram_beat 4)
    assert r.report["dram_bound"] == 512 and r.manifest.ideal_cycles == 512
    assert r.report["utilization"]["dram"] == [1, 1]
    text = r.report_text()
    assert "  ideal cycles 512 (compute 512, I/O 32, DRAM 512)" in text
    assert "  DRAM: B [16, 32] at word 0" in text
    doc = json.loads(r.manifest.to_json())
    assert doc["dram"] == [{"name": "B", "address": 0, "shape": [16, 32],
                            "dtype": "i32", "words": 512}]
    assert Manifest.from_json(r.manifest.to_json()) == r.manifest
    r.manifest.check_inputs({"A": [[0] * 16] * 4, "B": [[0] * 32] * 16})
    with pytest.raises(ManifestError, match=r"^input tensor 'B' is missing"):
        r.manifest.check_inputs({"A": [[0] * 16] * 4})
    with pytest.raises(ManifestError, match=r"the program has tensors in DRAM, and fabric "
                                            r"'tiny' has no DRAM ports$"):
        replace(r.manifest, fabric_hash=TINY.hash).check_fabric(TINY)
    bad = dict(doc, dram=[dict(doc["dram"][0], words=7)])
    with pytest.raises(ManifestError, match=r"dram\[0\]\.words must be 512"):
        Manifest.from_json(json.dumps(bad))


def test_manifests_without_dram_have_no_dram_field():
    r = compile_graph(kernels.load("gemm").build(m=4, k=8, n=8), TINY_DRAM)
    assert r.manifest.dram == ()
    assert "dram" not in json.loads(r.manifest.to_json())
    assert "dram_bound" not in r.report


def test_gemm_64_cubed_compiles_for_small_with_dram():
    with pytest.raises(CompileError, match=r"tensor 'B' needs 4096 words in a PMU"):
        compile_graph(kernels.load("gemm").build(m=64, k=64, n=64), load_fabric("small"))
    r = compile_graph(kernels.load("gemm").build(m=64, k=64, n=64), SMALL_DRAM)
    assert [s.name for s in r.manifest.dram] == ["B"]
    # runs of one 8-lane vector in beats of 4 words: DRAM bandwidth bounds it
    assert r.report["compute_bound"] == 32768 and r.manifest.ideal_cycles == 65536


def test_dram_records_disassemble_and_assemble_back():
    from compiler.asm import assemble
    from compiler.disasm import disassemble
    r = compile_graph(kernels.load("gemm").build(m=4, k=16, n=32), TINY_DRAM)
    text = disassemble(r.bitstream, TINY_DRAM)
    record = text[text.index(f"record unit {TINY_DRAM.dram_id(0)} # dram\n"):]
    assert record.splitlines()[1:6] == ["  load.mode = VECTOR", "  load.indexed = 0",
                                        "  load.base = 0", "  load.run = 4",
                                        "  load.extents[0] = 16"]
    assert assemble(text, TINY_DRAM) == r.bitstream


def test_beats_count_runs_that_straddle_beats():
    import itertools
    import random
    rng = random.Random(1)
    for _ in range(200):
        beat = rng.choice([1, 2, 4, 8, 16])
        extents = tuple(rng.randint(1, 6) for _ in range(rng.randint(0, 3)))
        strides = tuple(rng.randint(-20, 40) for _ in extents)
        r = DramRead("t", DramMode.VECTOR, rng.randint(1, 20), extents, strides,
                     rng.randint(0, 50), 10**6)
        want = sum((a % beat + r.run + beat - 1) // beat
                   for a in (r.offset + sum(i * s for i, s in zip(idx, strides))
                             for idx in itertools.product(*map(range, extents))))
        assert r.beats(beat) == want
    # conv1d's 5-word windows on 8-word beats: half of them straddle two beats
    assert DramRead("x", DramMode.VECTOR, 5, (8,), (1,), 0, 100).beats(8) == 12


def test_a_constant_no_pmu_holds_is_read_from_dram_with_its_values_from_the_source():
    r = compile_graph(kernels.load("gemv").build(m=4, k=128), TINY_DRAM)   # W: 512 words
    assert r.manifest.dram == (DramSpec("W", 0, (4, 128), "i32", 512, True),)
    assert "  DRAM: W [4, 128] at word 0 (constant)" in r.report_text()
    doc = json.loads(r.manifest.to_json())
    assert doc["dram"][0]["const"] is True
    assert Manifest.from_json(r.manifest.to_json()) == r.manifest
    # a constant is no input: the caller gives only x
    assert r.manifest.tensors_in == {"x": ((128,), "i32")}
    r.manifest.check_inputs({"x": [0] * 128})
    # a graph input's entry has no const field
    g = compile_graph(kernels.load("gemm").build(m=4, k=16, n=32), TINY_DRAM)
    assert "const" not in json.loads(g.manifest.to_json())["dram"][0]
    bad = dict(doc, dram=[dict(doc["dram"][0], name="x", shape=[128], words=128)])
    with pytest.raises(ManifestError, match=r"dram\[0\] is constant 'x' \[128\], which the "
                                            r"source graph does not have"):
        Manifest.from_json(json.dumps(bad))
    with pytest.raises(ManifestError, match=r"dram\[0\]\.const must be true, not False"):
        Manifest.from_json(json.dumps(dict(doc, dram=[dict(doc["dram"][0], const=False)])))
