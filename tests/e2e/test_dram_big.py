"""The large runs of off-chip memory on examples/fabrics/small-dram.toml (``small`` with
two DRAM ports of one vector a beat), on the C++ harness, each equal to the golden
model: gemm 128x128x128 and 256x64x256 (B in DRAM, re-read for every row of A), conv1d
with n = 65536 (x in DRAM) and an inner product of 2^20 elements (streamed through the
edge ports). Marked ``big`` (a Verilator build of the fabric and about a million
simulated cycles): ``make test-big`` runs them, and ``make bench`` (section ``dram``)
prints their cycles."""

from pathlib import Path

import numpy as np
import pytest

from compiler.compile import compile_graph
from hw.params import load_fabric
from sim.execute import compare, golden_outputs, run_program
from terrazzo import kernels

pytestmark = [pytest.mark.sim, pytest.mark.big]

ROOT = Path(__file__).resolve().parents[2]
FABRIC = load_fabric(ROOT / "examples" / "fabrics" / "small-dram.toml")


@pytest.mark.parametrize("name, size, in_dram", [
    ("gemm", dict(m=128, k=128, n=128), ["B"]),
    ("gemm", dict(m=256, k=64, n=256), ["B"]),
    ("conv1d", dict(n=65536, taps=5), ["x"]),
    ("dot", dict(n=1 << 20), []),
], ids=["gemm-128", "gemm-256x64x256", "conv1d-65536", "dot-2^20"])
def test_large_kernel_equals_golden(name, size, in_dram):
    mod = kernels.load(name)
    result = compile_graph(mod.build(**size), FABRIC)
    assert [s.name for s in result.manifest.dram] == in_dram
    tensors = mod.inputs(np.random.default_rng(9), **size)
    run = run_program(result.bitstream, result.manifest, tensors, fabric=FABRIC,
                      testbench="harness", build_root=ROOT / "build", max_cycles=10**7)
    bad = compare(golden_outputs(result.manifest, tensors), run.outputs)
    assert not bad, bad[0]
    # the input streams keep the PCU fed: within 5 % of the ideal
    assert run.cycles <= 1.05 * result.manifest.ideal_cycles
