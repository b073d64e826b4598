"""Graphs far beyond any fabric: a chain of 20,000 maps goes through the builder, the
JSON format, the passes, the golden model and the compiler with Python's default
recursion limit, and huge tensors compile or are refused in memory that does not grow
with their size. Every refusal is a one-line CompileError."""

import json
import sys
import tracemalloc

import numpy as np
import pytest

from compiler.compile import compile_graph
from compiler.errors import CompileError
from compiler.ir import Graph, Map, MAX_EXPR_DEPTH
from compiler.jsonio import graph_to_json, graph_from_json, load_graph, save_graph
from compiler.passes import pipeline
from hw.params import load_fabric
from sim.golden import run_graph

CHAIN = 20_000
PLASTICINE = load_fabric("plasticine")
SMALL = load_fabric("small")


@pytest.fixture(autouse=True)
def default_recursion_limit():
    assert sys.getrecursionlimit() <= 1000


def chain_graph(n):
    g = Graph("chain")
    x = g.input("x", (16,))
    for _ in range(n):
        x = x + 1
    g.output("y", x)
    return g


@pytest.fixture(scope="module")
def chain():
    return chain_graph(CHAIN)


def refusal(fn):
    """The text of the CompileError ``fn`` raises, checked to be one line."""
    with pytest.raises(CompileError) as info:
        fn()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_chain_is_built_and_printed(chain):
    assert len(chain.nodes) == CHAIN + 1
    assert chain.to_text().splitlines()[-3] == \
        f"  %map{CHAIN - 1} = map[add($0, 1)](%map{CHAIN - 2}) : i32[16]"


def test_chain_json_round_trip(chain, tmp_path):
    assert graph_from_json(json.loads(json.dumps(graph_to_json(chain)))) == chain
    save_graph(chain, tmp_path / "chain.json")
    assert load_graph(tmp_path / "chain.json") == chain


def test_chain_fuses_into_maps_a_map_may_hold(chain):
    fused = pipeline(chain)
    maps = [n for n in fused.nodes.values() if isinstance(n, Map)]
    assert len(maps) == CHAIN // MAX_EXPR_DEPTH
    assert graph_from_json(graph_to_json(fused)) == fused


def test_chain_golden_model(chain):
    x = np.arange(16, dtype=np.int32)
    assert list(run_graph(chain, {"x": x})["y"]) == list(x + CHAIN)
    assert list(run_graph(pipeline(chain), {"x": x})["y"]) == list(x + CHAIN)


def test_chain_is_refused_for_the_pcus_it_needs(chain):
    # 100 kernels of 200 stages, each on ceil(200 / 6) = 34 PCUs; without DRAM units
    # there are no sections
    no_dram = PLASTICINE.replace(dram_ports=0)
    assert refusal(lambda: compile_graph(chain, no_dram)) == \
        "needs 3400 PCUs; fabric 'plasticine' has 64"


def test_chain_longer_than_one_map_compiles():
    result = compile_graph(chain_graph(300), PLASTICINE)
    assert [len(k.pcus) for k in result.lowered.kernels] == [34, 17]


def add_graph(shape):
    g = Graph("add")
    g.output("y", g.input("a", shape) + g.input("b", shape))
    return g


# Peak memory allowed while compiling a huge tensor: what placing and routing one
# kernel takes (about 8 MB), with room to spare; enumerating its transfers would
# take gigabytes.
PEAK_BYTES = 32 << 20


def compile_bounded(g, p):
    """``compile_graph(g, p)`` (its result, or the text of its CompileError), checking
    that its peak memory stays under ``PEAK_BYTES``."""
    tracemalloc.start()
    try:
        return compile_graph(g, p)
    except CompileError as e:
        assert "\n" not in str(e)
        return str(e)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < PEAK_BYTES


def units(result):
    return result.report["utilization"]["pcu"][0], result.report["utilization"]["pmu"][0]


def test_largest_vector_add_is_refused_at_once():
    assert compile_bounded(add_graph((2 ** 31 - 1,)), PLASTICINE) == (
        "node 'map0': tensor 'a' needs 2147483647 words in a PMU; a PMU holds 65536")


def test_vector_add_streams_directly_when_its_transfers_match():
    # 2**20 vectors of 16: each operand's pops equal its input stream
    assert units(compile_bounded(add_graph((2 ** 24,)), PLASTICINE)) == (1, 0)
    assert compile_bounded(add_graph((2 ** 24,)), SMALL) == (
        "node 'map0': tensor 'a' needs 16777216 words in a PMU; a PMU holds 2048")


def test_large_2d_adds():
    # popped more than 2**20 times: through PMUs, double-buffered row by row
    assert units(compile_bounded(add_graph((2 ** 30, 2 ** 10)), PLASTICINE)) == (1, 2)
    assert compile_bounded(add_graph((2 ** 16, 2 ** 16)), PLASTICINE) == (
        "node 'map0': tensor 'a' is read in slabs of 65536 words; a double-buffered PMU "
        "holds two of 32768")
