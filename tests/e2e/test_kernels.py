"""The kernel suite end to end: compiled for `small`, loaded into the generated Verilog,
simulated with cocotb under Verilator and Icarus, compared bit-exactly with the golden
model; with and without random idle cycles and backpressure; at two sizes. On Verilator
each case runs in the C++ harness as well, which must give the same outputs and the
same cycle count as the cocotb testbench (both follow docs/simulation.md, "Stimulus")."""

from functools import lru_cache

import numpy as np
import pytest

from compiler.compile import compile_graph
from hw.params import load_fabric
from sim.execute import compare, golden_outputs, run_program
from terrazzo import kernels

pytestmark = [pytest.mark.sim, pytest.mark.slow]

SMALL = load_fabric("small")


@lru_cache(maxsize=None)
def compiled(name, size):
    mod = kernels.load(name)
    return compile_graph(mod.build(**mod.SIZES[size]), SMALL)


CASES = [(sim, size, stall)
         for sim in ("verilator", "icarus")
         for size in ("small", "default")
         for stall in (False, True)]


@pytest.mark.parametrize("sim,size,stall", CASES, ids=[f"{a}-{b}-{'stall' if c else 'free'}"
                                                        for a, b, c in CASES])
@pytest.mark.parametrize("name", kernels.KERNELS)
def test_kernel_matches_golden_model(name, sim, size, stall):
    mod = kernels.load(name)
    result = compiled(name, size)
    seed = sum(map(ord, name + size)) + stall
    tensors = mod.inputs(np.random.default_rng(seed), **mod.SIZES[size])
    run = run_program(result.bitstream, result.manifest, tensors, sim=sim,
                      idle=0.3 if stall else 0.0, backpressure=0.4 if stall else 0.0,
                      seed=seed)
    want = golden_outputs(result.manifest, tensors)
    assert not compare(want, run.outputs), compare(want, run.outputs)[0]
    assert run.cycles >= result.manifest.ideal_cycles
    if sim == "verilator":
        fast = run_program(result.bitstream, result.manifest, tensors, testbench="harness",
                           idle=0.3 if stall else 0.0, backpressure=0.4 if stall else 0.0,
                           seed=seed)
        assert fast.cycles == run.cycles
        for tensor, value in run.outputs.items():
            np.testing.assert_array_equal(fast.outputs[tensor], value, err_msg=tensor)
