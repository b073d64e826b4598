"""softmax, layernorm and a pure-bf16 training step end to end: each is one graph of a
few kernels whose special functions (exp, reciprocal, rsqrt, sigmoid) take 9-19 PCUs
apiece, too many for small-fp; they run on a fabric with enough PCUs
(examples/fabrics/fp-functions.toml, 28 PCUs of six stages and two lanes), under Icarus
and Verilator, and equal the golden model bit for bit.

Building the Verilator model of that fabric takes about a quarter of an hour of CPU,
so the Verilator cases are marked ``big`` and run by ``make test-big``, not by
``make test``; the Icarus ones run in the suite."""

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from compiler.compile import compile_graph
from compiler.ir import Graph
from hw.params import load_fabric
from sim.execute import compare, golden_outputs, run_program

pytestmark = [pytest.mark.sim]

FABRIC = load_fabric(Path(__file__).resolve().parents[2] / "examples" / "fabrics" /
                     "fp-functions.toml")


def softmax(rng):
    g = Graph("fsoftmax")
    x = g.input("x", (3, 9), "f32")
    g.output("p", g.softmax(x))
    g.output("top", g.argmax(x, 1))
    x = (rng.standard_normal((3, 9)) * 4).astype(np.float32)
    x[1, 3] = x[1, 6] = x[1].max() + 1          # a tie for the maximum: index 3
    return g, {"x": x}


def layernorm(rng):
    g = Graph("flayernorm")
    x = g.input("x", (4, 7), "f32")
    g.output("y", g.layernorm(x, g.input("w", (7,), "f32"), g.input("b", (7,), "f32")))
    return g, {"x": (3 + rng.standard_normal((4, 7)) * 2).astype(np.float32),
               "w": rng.uniform(0.5, 2, 7).astype(np.float32),
               "b": rng.uniform(-1, 1, 7).astype(np.float32)}


CASES = {f.__name__: f for f in (softmax, layernorm)}


@lru_cache(maxsize=None)
def compiled(name):
    graph, tensors = CASES[name](np.random.default_rng(sum(map(ord, name))))
    return compile_graph(graph, FABRIC), tensors


def check(name, sim, stall):
    result, tensors = compiled(name)
    seed = sum(map(ord, name)) + stall
    run = run_program(result.bitstream, result.manifest, tensors, fabric=FABRIC, sim=sim,
                      idle=0.3 if stall else 0.0, backpressure=0.4 if stall else 0.0,
                      seed=seed)
    want = golden_outputs(result.manifest, tensors)
    bad = compare(want, run.outputs)
    assert not bad, bad[0]
    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_on_icarus(name):
    check(name, "icarus", stall=name == "softmax")


@pytest.mark.big
@pytest.mark.parametrize("name", list(CASES))
def test_on_verilator(name):
    """cocotb free-running and stalled; the C++ harness gives the same cycles."""
    for stall in (False, True):
        run = check(name, "verilator", stall)
        result, tensors = compiled(name)
        fast = run_program(result.bitstream, result.manifest, tensors, fabric=FABRIC,
                           testbench="harness", idle=0.3 if stall else 0.0,
                           backpressure=0.4 if stall else 0.0,
                           seed=sum(map(ord, name)) + stall)
        assert fast.cycles == run.cycles


def _logreg():
    import importlib.util
    path = Path(__file__).resolve().parents[2] / "examples" / "bf16" / "logreg.py"
    spec = importlib.util.spec_from_file_location("logreg", path)
    logreg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(logreg)
    return logreg


@pytest.mark.slow
def test_logreg_step_on_icarus():
    """A whole pure-bf16 gradient step of examples/bf16/logreg.py (gemv, sigmoid, the
    gradient reduction, the stochastically rounded update: 25 PCUs) equals the golden
    model."""
    assert _logreg().fabric_steps(sim="icarus", testbench="cocotb", steps=1)


@pytest.mark.big
def test_logreg_steps_on_verilator():
    """Three steps, each one's weights fed to the next, in the C++ harness."""
    assert _logreg().fabric_steps(steps=3)


def test_too_long_for_small_fp():
    """The reason for the fabric above: small-fp's eight PCUs of four stages."""
    from compiler.errors import CompileError
    graph, _ = softmax(np.random.default_rng(0))
    with pytest.raises(CompileError, match=r"^needs \d+ PCUs; fabric 'small-fp' has 8$"):
        compile_graph(graph, load_fabric("small-fp"))
