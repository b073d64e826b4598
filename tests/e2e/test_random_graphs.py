"""Random small map/reduce graphs, compiled and simulated on Verilator, equal the golden
model (a bounded number of examples keeps the suite fast)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from compiler.compile import compile_graph
from compiler.errors import CompileError
from compiler.ir import Graph
from hw.params import load_fabric
from sim.execute import compare, golden_outputs, run_program

pytestmark = [pytest.mark.sim, pytest.mark.slow]

SMALL = load_fabric("small")
_OPS = ["add", "sub", "mul", "and", "or", "xor", "max", "min", "shl", "sra", "lt", "eq"]


@st.composite
def graphs(draw):
    g = Graph("random")
    n = draw(st.integers(1, 40))
    shape = (draw(st.integers(1, 3)), n) if draw(st.booleans()) else (n,)
    xs = [g.input(f"x{k}", shape) for k in range(draw(st.integers(1, 3)))]
    v = xs[0]
    for _ in range(draw(st.integers(1, 4))):
        other = draw(st.one_of(st.sampled_from(xs), st.integers(-9, 9)))
        v = g.map(draw(st.sampled_from(_OPS)), v, other)
    kind = draw(st.sampled_from(["map", "reduce", "scan"]))
    if kind == "reduce":
        v = g.reduce(draw(st.sampled_from(["add", "min", "max"])), v,
                     axis=draw(st.sampled_from([-1, 0])))
    elif kind == "scan":
        v = g.scan("add", v)
    g.output("y", v)
    return g, draw(st.integers(0, 2**16))


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graph_on_verilator_equals_golden(case):
    g, seed = case
    try:
        result = compile_graph(g, SMALL)
    except CompileError:
        return
    rng = np.random.default_rng(seed)
    tensors = {spec.name: rng.integers(-2**31, 2**31, spec.shape)
               for spec in result.manifest.inputs}
    run = run_program(result.bitstream, result.manifest, tensors, sim="verilator")
    bad = compare(golden_outputs(result.manifest, tensors), run.outputs)
    assert not bad, f"{bad[0]}\n{g.to_text()}"
