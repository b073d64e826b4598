"""Programs in sections run through ``sim.execute.run_program``: every section in one
simulation, the tensors between them left in DRAM by one section and read by the next,
equal to the golden model, on the C++ harness and the cocotb testbench."""

import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.compile import compile_graph
from hw.params import load_fabric
from sim.execute import compare, dram_images, golden_outputs, port_streams, run_program
from sim.golden import run_graph

from .test_dram_fabric import P       # one tiny fabric with a DRAM port: one build

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from layered_graphs import chain, layered_graph   # noqa: E402

pytestmark = [pytest.mark.sim]

BUILD_ROOT = ROOT / "build"
SMALL_DRAM = load_fabric(ROOT / "examples" / "fabrics" / "small-dram.toml")


def random_inputs(manifest, seed):
    rng = np.random.default_rng(seed)
    return {name: rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
            for name, (shape, _) in manifest.tensors_in.items()}


def temps_of(result, tensors):
    """The golden value of every tensor between sections: the golden model of each
    section's graph, fed what the earlier ones stored."""
    memory, out = dict(tensors), {}
    for sec in result.sections:
        inputs = {n: memory[n] for n in sec.graph.nodes if n in memory}
        for name, value in run_graph(sec.graph, inputs).items():
            if name.endswith(".dram"):
                memory[name[:-5]] = out[name[:-5]] = value
    return out


def check_memory(result, run, tensors):
    """The final DRAM memory holds each tensor between sections as the golden model
    computes it."""
    memory = run.result.dram
    want = temps_of(result, tensors)
    for spec in result.manifest.dram:
        if spec.temp:
            got = memory[spec.address:spec.address + spec.words].view(np.int32)
            assert np.array_equal(got, np.asarray(want[spec.name]).reshape(-1)), spec.name


@pytest.fixture(scope="module")
def chained():
    result = compile_graph(chain(4, 2, 8), P)
    assert len(result.sections) == 5
    return result, random_inputs(result.manifest, 1)


@pytest.mark.parametrize("stimulus", [{}, dict(idle=0.3, backpressure=0.3, seed=5)],
                         ids=["free", "stalls"])
def test_a_program_of_sections_on_the_harness_equals_golden(chained, stimulus):
    result, tensors = chained
    run = run_program(result.bitstream, result.manifest, tensors, fabric=P,
                      testbench="harness", build_root=BUILD_ROOT, **stimulus)
    assert not compare(golden_outputs(result.manifest, tensors), run.outputs)
    assert len(run.sections) == 5
    assert run.cycles == sum(s.cycles for s in run.sections)
    assert all(s.cycles >= s.ideal_cycles for s in run.sections)
    check_memory(result, run, tensors)


def test_the_cocotb_testbench_gives_the_harness_outputs(chained):
    # their DRAM models differ in timing (AxiRam against the harness's fixed latency),
    # so the cycles of sections that move DRAM data do too
    result, tensors = chained
    runs = [run_program(result.bitstream, result.manifest, tensors, fabric=P, sim="icarus",
                        testbench="cocotb", build_root=BUILD_ROOT, idle=0.2, seed=2),
            run_program(result.bitstream, result.manifest, tensors, fabric=P,
                        testbench="harness", build_root=BUILD_ROOT, idle=0.2, seed=2)]
    assert not compare(golden_outputs(result.manifest, tensors), runs[0].outputs)
    assert not compare(runs[1].outputs, runs[0].outputs)
    assert len(runs[0].sections) == len(runs[1].sections) == 5
    check_memory(result, runs[0], tensors)


def test_a_bad_section_is_refused_before_anything_runs(chained):
    result, tensors = chained
    from sim.execute import RunError
    broken = bytearray(result.bitstream)
    broken[-1] ^= 1
    from dataclasses import replace
    manifest = replace(result.manifest,
                       bitstream_sha256=__import__("hashlib").sha256(broken).hexdigest())
    with pytest.raises(RunError, match=r"CRC-32 is 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}: "
                                       r"the file is corrupted$"):
        run_program(bytes(broken), manifest, tensors, fabric=P, testbench="harness",
                    build_root=BUILD_ROOT)


def test_a_map_split_into_a_chain_of_sections_equals_golden():
    from compiler.ir import Graph
    g = Graph("long")
    x, z = g.input("x", (8,)), g.input("z", (8,))
    v = x
    for i in range(30):
        v = (v * 3 + z) ^ i if i % 2 else v + x
    g.output("y", v)
    result = compile_graph(g, P)
    assert len(result.sections) > 2
    tensors = random_inputs(result.manifest, 4)
    run = run_program(result.bitstream, result.manifest, tensors, fabric=P,
                      testbench="harness", build_root=BUILD_ROOT, backpressure=0.2, seed=1)
    assert not compare(golden_outputs(result.manifest, tensors), run.outputs)
    check_memory(result, run, tensors)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11, 20])
def test_random_graphs_larger_than_small_run_in_sections(seed):
    g = layered_graph(200, seed=seed)
    result = compile_graph(g, SMALL_DRAM)
    assert len(result.sections) > 2
    tensors = random_inputs(result.manifest, seed)
    run = run_program(result.bitstream, result.manifest, tensors, fabric=SMALL_DRAM,
                      testbench="harness", build_root=BUILD_ROOT, idle=0.1, seed=seed)
    assert not compare(golden_outputs(result.manifest, tensors), run.outputs)
    check_memory(result, run, tensors)


@pytest.mark.big
def test_the_first_sections_of_a_2000_node_graph_run_on_plasticine():
    from compiler.container import unpack_sections
    from sim.harness import Harness
    p = load_fabric("plasticine")
    result = compile_graph(layered_graph(2000, seed=0), p)
    tensors = random_inputs(result.manifest, 0)
    first = 3
    sections = []
    for spec, words in list(zip(result.manifest.sections,
                                unpack_sections(result.bitstream)))[:first]:
        inputs, expect = port_streams(result.manifest, tensors, p.lanes, spec)
        sections.append((words, inputs, expect))
    run = Harness(p, BUILD_ROOT).run_sections(sections,
                                              dram=dram_images(result.manifest, tensors))
    want = temps_of(result, tensors)
    stored = {n[:-5] for sec in result.sections[:first] for n in sec.dram_out}
    for spec in result.manifest.dram:
        if spec.name in stored:
            got = run.dram[spec.address:spec.address + spec.words].view(np.int32)
            assert np.array_equal(got, np.asarray(want[spec.name]).reshape(-1)), spec.name


def test_the_cli_compiles_runs_and_disassembles_a_program_of_sections(tmp_path):
    """``terrazzo compile`` prints each section, ``terrazzo run --check`` each section's
    cycles, ``terrazzo disasm`` each section's records."""
    import os
    import subprocess
    (tmp_path / "fabric.toml").write_text(P.to_toml())
    (tmp_path / "g.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from layered_graphs import chain\ngraph = chain(4, 2, 8)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def terrazzo(*args):
        return subprocess.run([sys.executable, "-m", "terrazzo", *map(str, args)],
                              cwd=tmp_path, capture_output=True, text=True, env=env)
    r = terrazzo("compile", "g.py", "--fabric", "fabric.toml", "-o", "g.tzb")
    assert r.returncode == 0, r.stderr
    assert "  5 sections, run one after another" in r.stdout
    assert "section 5 of 5: 2 compute nodes, 2 PCUs, 1 PMU\n" in r.stderr
    np.savez(tmp_path / "in.npz", x=np.arange(16, dtype=np.int32).reshape(2, 8))
    r = terrazzo("run", "g.tzb", "--inputs", "in.npz", "--fabric", "fabric.toml", "--check",
                 "--build-dir", BUILD_ROOT)
    assert r.returncode == 0, r.stderr
    assert "check: all 1 output equal the golden model" in r.stdout
    assert [line.split(":")[0] for line in r.stdout.splitlines()
            if line.startswith("  section")] == [f"  section {k}" for k in range(5)]
    # compiling again over the container is allowed: it is a bitstream file
    r = terrazzo("compile", "g.py", "--fabric", "fabric.toml", "-o", "g.tzb")
    assert r.returncode == 0, r.stderr
    r = terrazzo("disasm", "g.tzb", "--fabric", "fabric.toml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("# section ") == 5
