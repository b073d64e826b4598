"""Kernels whose inputs no PMU holds, read from DRAM: compiled, run through
``sim.execute.run_program`` (the manifest's DRAM tensors written into cocotbext-axi's
``AxiRam``), equal to the golden model, with and without stalls, under Icarus, and on
the C++ harness's memory model."""

from pathlib import Path

import numpy as np
import pytest

from compiler.compile import compile_graph
from compiler.errors import CompileError
from sim.execute import compare, golden_outputs, run_program
from terrazzo import kernels

from .test_dram_fabric import P       # one tiny fabric with a DRAM port: one build

pytestmark = [pytest.mark.sim]

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build"
SIZE = dict(m=3, k=16, n=20)          # B: 320 words, a tiny PMU holds 256


def compiled():
    mod = kernels.load("gemm")
    return compile_graph(mod.build(**SIZE), P), mod.inputs(np.random.default_rng(4), **SIZE)


@pytest.mark.parametrize("stall", [False, True], ids=["free", "stall"])
def test_gemm_with_b_in_dram_equals_golden(stall):
    result, tensors = compiled()
    assert [s.name for s in result.manifest.dram] == ["B"]
    run = run_program(result.bitstream, result.manifest, tensors, fabric=P, sim="icarus",
                      build_root=BUILD_ROOT, idle=0.3 if stall else 0.0,
                      backpressure=0.3 if stall else 0.0, seed=11)
    bad = compare(golden_outputs(result.manifest, tensors), run.outputs)
    assert not bad, bad[0]
    assert run.cycles >= result.manifest.ideal_cycles


def test_gemv_with_a_constant_matrix_in_dram_equals_golden():
    mod = kernels.load("gemv")
    size = dict(m=4, k=128)             # W, a constant of 512 words: in DRAM
    result = compile_graph(mod.build(**size), P)
    assert [(s.name, s.const) for s in result.manifest.dram] == [("W", True)]
    tensors = mod.inputs(np.random.default_rng(5), **size)
    run = run_program(result.bitstream, result.manifest, tensors, fabric=P, sim="icarus",
                      build_root=BUILD_ROOT, idle=0.2, seed=2)
    bad = compare(golden_outputs(result.manifest, tensors), run.outputs)
    assert not bad, bad[0]


def test_without_dram_ports_the_kernel_is_refused():
    mod = kernels.load("gemm")
    with pytest.raises(CompileError, match=r"tensor 'B' needs 320 words in a PMU"):
        compile_graph(mod.build(**SIZE), P.replace(dram_ports=0))


def test_the_harness_runs_dram_programs_too():
    result, tensors = compiled()
    run = run_program(result.bitstream, result.manifest, tensors, fabric=P,
                      testbench="harness", build_root=BUILD_ROOT, idle=0.2, seed=3)
    bad = compare(golden_outputs(result.manifest, tensors), run.outputs)
    assert not bad, bad[0]


def test_the_cli_compiles_and_runs_a_dram_program(tmp_path):
    """``terrazzo compile`` and ``terrazzo run --check`` (the harness, its default on
    Verilator) with a fabric file that has a DRAM port, as the README shows."""
    import os
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "fabric.toml").write_text(P.to_toml())
    (tmp_path / "g.py").write_text("from terrazzo import kernels\ngraph = kernels.load("
                                   f"'gemm').build(**{SIZE!r})\n")
    np.savez(tmp_path / "in.npz", **compiled()[1])
    env = {**os.environ, "PYTHONPATH": str(root)}

    def terrazzo(*args):
        return subprocess.run([sys.executable, "-m", "terrazzo", *map(str, args)],
                              cwd=tmp_path, capture_output=True, text=True, env=env)
    r = terrazzo("compile", "g.py", "--fabric", "fabric.toml", "-o", "g.tzb")
    assert r.returncode == 0, r.stderr
    assert "  DRAM: B [16, 20] at word 0" in r.stdout
    r = terrazzo("run", "g.tzb", "--inputs", "in.npz", "--fabric", "fabric.toml", "--check",
                 "--build-dir", BUILD_ROOT)
    assert r.returncode == 0, r.stderr
    assert "on verilator (harness)" in r.stderr
    assert "check: all 1 output equal the golden model" in r.stdout


def test_a_slower_memory_takes_more_cycles_for_the_same_result():
    result, tensors = compiled()
    want = golden_outputs(result.manifest, tensors)
    cycles = {}
    for latency in (4, 40):
        run = run_program(result.bitstream, result.manifest, tensors, fabric=P,
                          testbench="harness", build_root=BUILD_ROOT, dram_latency=latency)
        assert not compare(want, run.outputs)
        cycles[latency] = run.cycles
    # two reads of one two-beat run each in flight: about (40 + 2) / 2 cycles a run
    assert cycles[40] > 5 * cycles[4]


def test_the_cocotb_memory_can_be_slower_too():
    # AxiRam waits 30 cycles before each burst of one two-beat run, one burst at a time
    result, tensors = compiled()
    want = golden_outputs(result.manifest, tensors)
    cycles = {}
    for latency in (None, 30):
        run = run_program(result.bitstream, result.manifest, tensors, fabric=P,
                          sim="icarus", build_root=BUILD_ROOT, dram_latency=latency)
        assert not compare(want, run.outputs)
        cycles[latency] = run.cycles
    runs = result.lowered.dram_reads["dram:B"].runs
    assert cycles[30] >= 30 * runs > 10 * cycles[None]


@pytest.mark.parametrize("kwargs, message", [
    (dict(testbench="harness", dram_latency=0), r"^dram_latency must be an integer in "
                                                r"\[1, 65535\], not 0$"),
    (dict(testbench="cocotb", sim="icarus", dram_latency=True),
     r"^dram_latency must be an integer in \[1, 65535\], not True$"),
])
def test_dram_latency_is_checked_before_anything_runs(kwargs, message, tmp_path):
    from sim.execute import RunError
    result, tensors = compiled()
    with pytest.raises(RunError, match=message):
        run_program(result.bitstream, result.manifest, tensors, fabric=P,
                    build_root=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
