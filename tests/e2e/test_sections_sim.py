"""Programs of several sections in one simulation (``run_sections`` of
:class:`sim.harness.Harness` and :class:`sim.runner.Runner`): the fabric is reset once,
each section's bitstream reconfigures it as the previous section left it, and the one
DRAM memory that every DRAM port serves persists from section to section.

The program is written by hand, as in ``test_dram_fabric``, for a tiny fabric with two
DRAM units: section 0 stores an edge input stream with DRAM unit 0 to strided runs that
start off a beat boundary (one crosses byte 4096), section 1 loads the same words with
DRAM unit 1 to an edge output. Its outputs must be section 0's inputs, and the memory at
the end the initial one with those runs written, under the harness and under cocotb
(Verilator and Icarus), free-running and stalled. Two sections of edge streams only
(no memory timing in them) give the same cycles per section in both testbenches; a
refused bitstream or a timeout ends the run and says which section."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from compiler.netlist import Net, Netlist, VUnit
from hw.dram import DramMode, run_addresses
from hw.format import CfgError
from sim.harness import Harness
from sim.job import JobError, timeout_message
from sim.runner import Runner

from .test_dram_fabric import P as P1, build, engine

pytestmark = [pytest.mark.sim]

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build"
P = P1.replace(name="tiny-dram2", dram_ports=2)
WORDS = 1536
SEED = 5
STALLS = {"free": (0.0, 0.0), "stall": (0.3, 0.3)}

# three runs of two whole vectors, 50 words apart, from word 1019 (the first run crosses
# byte 4096); the load reads exactly what the store wrote
RUNS = engine(DramMode.VECTOR, 1019, 2 * P.lanes, (3,), (50,))
OFF = engine(DramMode.OFF, 0, 0, (), ())
VECTORS = 6


@pytest.fixture(scope="module")
def harness():
    return Harness(P, build_root=BUILD_ROOT)


@pytest.fixture(scope="module")
def program():
    """The bitstreams of the store and the load sections, the input and output port."""
    store, s_place = build(P, Netlist(
        [VUnit("st", "dram", fixed=0), VUnit("i", "in")],
        [Net("s", "vector", ("i", "data"), (("st", "vin"),))]),
        {"st": {"load": OFF, "store": RUNS}})
    load, l_place = build(P, Netlist(
        [VUnit("ld", "dram", fixed=1), VUnit("o", "out")],
        [Net("l", "vector", ("ld", "vout"), (("o", "data"),))]),
        {"ld": {"load": RUNS, "store": OFF}})
    assert (s_place["st"], l_place["ld"]) == (0, 1)     # two DRAM units, one memory
    return store, load, s_place["i"], l_place["o"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    image = rng.integers(0, 2**32, WORDS, dtype=np.uint64).astype(np.uint32)
    vin = rng.integers(-2**31, 2**31, (VECTORS, P.lanes)).astype(np.int32)
    return image, vin


def stored(image, vin):
    """The memory after the store section: the runs of ``RUNS`` hold ``vin``'s words."""
    memory = image.copy()
    flat = vin.reshape(-1).view(np.uint32)
    for k, start in enumerate(run_addresses(RUNS, P)):
        memory[start:start + RUNS["run"]] = flat[k * RUNS["run"]:(k + 1) * RUNS["run"]]
    return memory


def run(sim, program, data, stall="free", **kwargs):
    store, load, port_in, port_out = program
    image, vin = data
    idle, backpressure = STALLS[stall]
    return sim.run_sections([(store, {port_in: vin}, {}),
                             (load, {}, {port_out: VECTORS})],
                            dram=image, idle=idle, backpressure=backpressure, seed=SEED,
                            **kwargs)


def check(result, program, data):
    """Both sections ran; the load gave back the stored stream; the memory holds it."""
    image, vin = data
    port_out = program[3]
    assert result.ok and result.run_dir is None
    assert [s.status for s in result.sections] == ["ok", "ok"]
    assert all(s.cfg_error == 0 and s.configured and s.cycles > 0 for s in result.sections)
    assert result.sections[0].outputs == {}
    np.testing.assert_array_equal(result.sections[1].outputs[port_out], vin)
    assert result.sections[1].dram is None
    want = stored(image, vin)
    assert np.count_nonzero(want != image) == VECTORS * P.lanes     # the store wrote
    assert result.dram.dtype == np.uint32
    np.testing.assert_array_equal(result.dram, want)


@pytest.mark.parametrize("stall", STALLS)
def test_harness_stores_then_loads_through_another_unit(harness, program, data, stall):
    check(run(harness, program, data, stall), program, data)


@pytest.mark.parametrize("sim, stall", [("verilator", "free"), ("verilator", "stall"),
                                        ("icarus", "stall")])
def test_cocotb_stores_then_loads_through_another_unit(program, data, sim, stall):
    check(run(Runner(P, sim, build_root=BUILD_ROOT), program, data, stall), program, data)


def test_harness_equals_cocotb_on_the_dram_sections(harness, program, data):
    """The same outputs and memory as cocotbext-axi's AxiRams over one memory; the
    cycles differ with the two memory models' timing (docs/simulation.md)."""
    mine = run(harness, program, data, "stall")
    theirs = run(Runner(P, "verilator", build_root=BUILD_ROOT), program, data, "stall")
    for a, b in zip(mine.sections, theirs.sections, strict=True):
        assert a.outputs.keys() == b.outputs.keys()
        for port in a.outputs:
            np.testing.assert_array_equal(a.outputs[port], b.outputs[port])
    np.testing.assert_array_equal(mine.dram, theirs.dram)


def test_sections_of_streams_take_the_same_cycles_in_both_testbenches(harness):
    """Edge streams only: in0 -> out1, the same bitstream again, then in1 -> out0, stalled.
    Per section the same outputs, ``cycles`` and ``sim_cycles`` in both testbenches;
    section 0 is the run of its bitstream alone, and the second section, the same
    bitstream and data, draws patterns of its own."""
    a, _ = build(P, Netlist([VUnit("i", "in", fixed=0), VUnit("o", "out", fixed=1)],
                            [Net("x", "vector", ("i", "data"), (("o", "data"),))]), {})
    b, _ = build(P, Netlist([VUnit("i", "in", fixed=1), VUnit("o", "out", fixed=0)],
                            [Net("x", "vector", ("i", "data"), (("o", "data"),))]), {})
    rng = np.random.default_rng(3)
    x, y = (rng.integers(-2**31, 2**31, (24, P.lanes)).astype(np.int32) for _ in "xy")
    sections = [(a, {0: x}, {1: len(x)}), (a, {0: x}, {1: len(x)}), (b, {1: y}, {0: len(y)})]
    knobs = dict(idle=0.4, backpressure=0.4, seed=SEED)
    results = [sim.run_sections(sections, **knobs)
               for sim in (harness, Runner(P, "verilator", build_root=BUILD_ROOT))]
    for result in results:
        assert result.ok and result.dram is None
        np.testing.assert_array_equal(result.sections[0].outputs[1], x)
        np.testing.assert_array_equal(result.sections[1].outputs[1], x)
        np.testing.assert_array_equal(result.sections[2].outputs[0], y)
    cycles = [[(s.cycles, s.sim_cycles) for s in r.sections] for r in results]
    assert cycles[0] == cycles[1]
    alone = harness.run(a, {0: x}, {1: len(x)}, **knobs)
    assert (alone.cycles, alone.sim_cycles) == cycles[0][0]
    assert cycles[0][1] != cycles[0][0]


@pytest.mark.parametrize("testbench", ["harness", "verilator"])
def test_a_refused_bitstream_ends_the_run(harness, program, data, testbench):
    """A corrupted CRC in the second of three sections: the run stops there with its
    cfg_error; the memory holds what the first section stored."""
    store, load, port_in, port_out = program
    image, vin = data
    bad = bytearray(load)
    bad[-4] ^= 0xFF
    sim = harness if testbench == "harness" else Runner(P, "verilator", build_root=BUILD_ROOT)
    result = sim.run_sections([(store, {port_in: vin}, {}),
                               (bytes(bad), {}, {port_out: VECTORS}),
                               (load, {}, {port_out: VECTORS})], dram=image)
    assert result.stopped == 1 and len(result.sections) == 2 and not result.ok
    first, second = result.sections
    assert first.status == "ok" and first.cycles > 0
    assert second.status == "cfg_error" and second.cfg_error == CfgError.CRC.value
    assert not second.configured and second.cycles == -1 and second.outputs == {}
    assert result.run_dir is None                   # a refusal is not a failure
    np.testing.assert_array_equal(result.dram, stored(image, vin))


def test_a_timeout_ends_the_run(harness, program, data):
    """The load section waits for one vector more than it delivers: it times out (at its
    own limit), the report names the section's ports and the run directory is kept."""
    store, load, port_in, port_out = program
    image, vin = data
    result = harness.run_sections([(store, {port_in: vin}, {}),
                                   (load, {}, {port_out: VECTORS + 1}),
                                   (store, {port_in: vin}, {})],
                                  dram=image, timeout_cycles=[None, 300, None])
    assert result.stopped == 1 and len(result.sections) == 2
    late = result.sections[1]
    assert late.status == "timeout"
    lines = late.message.splitlines()
    assert lines[0].startswith(timeout_message(300) + " (running=")
    assert lines[1:] == [f"  out{port_out}: {VECTORS} of {VECTORS + 1} vectors arrived"]
    np.testing.assert_array_equal(late.outputs[port_out], vin)
    assert late.sim_cycles == 300
    assert (result.run_dir / "job.bin").exists() and (result.run_dir / "result.bin").exists()
    shutil.rmtree(result.run_dir)
    np.testing.assert_array_equal(result.dram, stored(image, vin))


# -- no simulation --------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: Harness(P, build_root=BUILD_ROOT),
                                  lambda: Runner(P, "icarus", build_root=BUILD_ROOT)],
                         ids=["harness", "cocotb"])
def test_sections_are_checked_before_anything_runs(make):
    sim, words, vec = make(), b"\0" * 8, np.zeros((1, P.lanes), np.int32)
    with pytest.raises(JobError, match=r"^section 1: input port must be an integer in "
                                       r"\[0, 2\), not 7$"):
        sim.run_sections([(words, {0: vec}, {}), (words, {7: vec}, {})])
    with pytest.raises(JobError, match=r"^section 0: timeout_cycles must be a positive "
                                       r"integer, not 0$"):
        sim.run_sections([(words, {}, {}), (words, {}, {})], timeout_cycles=[0, 5])
    with pytest.raises(JobError, match=r"^timeout_cycles has 1 entries for 2 sections$"):
        sim.run_sections([(words, {}, {}), (words, {}, {})], timeout_cycles=[5])
    with pytest.raises(JobError, match=r"^sections must be a non-empty list of "
                                       r"\(bitstream, inputs, expect\), not \[\]$"):
        sim.run_sections([])
    with pytest.raises(JobError, match=re.escape("section 1: a section is a (bitstream, "
                                                 "inputs, expect) triple, not b'")):
        sim.run_sections([(words, {}, {}), words])
    # one section: the messages of run
    with pytest.raises(JobError, match=r"^input port must be an integer in \[0, 2\), not 7$"):
        sim.run_sections([(words, {7: vec}, {})])
