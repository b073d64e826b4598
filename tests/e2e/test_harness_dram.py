"""The C++ harness's DRAM model (:mod:`sim.harness`, "DRAM ports"): the hand-written
DRAM program of ``test_dram_fabric`` (a strided, unaligned load to an edge output, an
edge input stored to strided runs) gives the Python model's outputs and memory through
the harness, free-running and stalled, and the same outputs and memory as the cocotb
testbench's ``AxiRam`` under Verilator (not the same cycles: the memory models' timing
differs); bursts outside the memory answer SLVERR and change nothing. The job and result
files carry the one DRAM memory of a run."""

from pathlib import Path

import numpy as np
import pytest

from hw.params import load_fabric
from sim.harness import DRAM_LATENCY, Harness, ports_header, read_result, write_job
from sim.job import JobError, Section
from sim.runner import Runner

from .test_dram_fabric import P, WORDS, expected, program

pytestmark = [pytest.mark.sim]

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build"
SEED = 5
STALLS = {"free": (0.0, 0.0), "stall": (0.3, 0.3)}


@pytest.fixture(scope="module")
def harness():
    return Harness(P, build_root=BUILD_ROOT)


@pytest.fixture(scope="module")
def job():
    """The program, its output port, the initial memory and the input stream."""
    bitstream, placement = program()
    rng = np.random.default_rng(7)
    image = rng.integers(0, 2**32, WORDS, dtype=np.uint64).astype(np.uint32)
    vin = rng.integers(-2**31, 2**31, (4, P.lanes)).astype(np.int32)
    return bitstream, placement["o"], image, vin


def run(sim, job, stall, image=None):
    bitstream, port, full, vin = job
    idle, backpressure = STALLS[stall]
    want_out, _ = expected(full, vin)
    return sim.run(bitstream, {0: vin}, {port: len(want_out)},
                   dram=full if image is None else image, idle=idle,
                   backpressure=backpressure, seed=SEED)


@pytest.mark.parametrize("stall", STALLS)
def test_harness_loads_and_stores_like_the_model(harness, job, stall):
    _, port, image, vin = job
    want_out, want_mem = expected(image, vin)
    result = run(harness, job, stall)
    assert result.cfg_error == 0 and result.configured and result.cycles > 0
    np.testing.assert_array_equal(result.outputs[port], want_out)
    assert len(np.flatnonzero(want_mem != image)) == 12        # the store really wrote
    assert result.dram.dtype == np.uint32
    np.testing.assert_array_equal(result.dram, want_mem)


def test_harness_equals_cocotb(harness, job):
    """Same outputs and memory as cocotbext-axi's AxiRam on the same Verilator model;
    the cycle counts may differ (the two memories answer with other latencies)."""
    mine = run(harness, job, "stall")
    theirs = run(Runner(P, "verilator", build_root=BUILD_ROOT), job, "stall")
    assert mine.outputs.keys() == theirs.outputs.keys()
    for port in mine.outputs:
        np.testing.assert_array_equal(mine.outputs[port], theirs.outputs[port])
    assert mine.dram.shape == theirs.dram.shape == (WORDS,)
    np.testing.assert_array_equal(mine.dram, theirs.dram)


def test_bursts_outside_the_memory_answer_slverr(harness, job):
    """A memory of 1030 words: the first load run (words 1021 .. 1027) reads it, the
    bursts of the other two lie beyond it and read as zeros, and the store (from word
    1203) is refused and writes nothing; the fabric still finishes."""
    _, port, image, vin = job
    small = image[:1030].copy()
    padded = np.zeros(WORDS, np.uint32)
    padded[:len(small)] = small
    want_out, _ = expected(padded, vin)
    result = run(harness, job, "free", image=small)
    np.testing.assert_array_equal(result.outputs[port], want_out)
    assert want_out[:2].any() and not want_out[2:].any()
    np.testing.assert_array_equal(result.dram, small)


def test_memory_is_returned_when_the_fabric_does_not_run(harness, job):
    bitstream, port, image, _ = job
    result = harness.run(bitstream, {}, {port: 0}, dram=image, configure_only=True)
    assert result.configured and result.cycles == -1
    np.testing.assert_array_equal(result.dram, image)


def test_without_memory_the_result_has_none(harness, job):
    """No memory: the DRAM ports stay quiet; the bitstream still configures."""
    bitstream, port, _, _ = job
    result = harness.run(bitstream, {}, {port: 0}, configure_only=True)
    assert result.configured and result.dram is None


# -- no simulation --------------------------------------------------------------------------

def test_dram_memory_is_checked_before_anything_runs():
    harness = Harness(P, build_root=BUILD_ROOT)
    words = b"\0\0\0\0"
    with pytest.raises(JobError, match=r"^dram is one array of 32-bit words, the memory "
                                       r"every DRAM port serves, not a dict \(ports \[1\]\)$"):
        harness.run(words, {}, {}, dram={1: np.zeros(4, np.uint32)})
    with pytest.raises(JobError, match=r"^dram has values outside 32 bits"):
        harness.run(words, {}, {}, dram=np.array([-2**31 - 1]))
    with pytest.raises(JobError, match=r"^fabric 'tiny' has no DRAM ports \(dram_ports = 0\)$"):
        Harness(load_fabric("tiny"), build_root=BUILD_ROOT).run(
            words, {}, {}, dram=np.zeros(4, np.uint32))


def test_ports_header_lists_dram_ports():
    verilog = ("module terrazzo_fabric(clk, in0_tdata, out0_tdata, dram0_araddr, "
               "dram1_araddr);\nendmodule\n")
    text = ports_header(verilog, 4, "Vtop", dram_beat=2)
    assert "#define TZ_DRAM_PORTS 2\n#define TZ_DRAM_BEAT 2\n" in text
    assert "#define TZ_DRAM_LIST(X) X(0) X(1)\n" in text
    plain = ports_header(verilog.replace(", dram0_araddr, dram1_araddr", ""), 4, "Vtop",
                         dram_beat=2)
    assert "#define TZ_DRAM_PORTS 0\n#define TZ_DRAM_BEAT 0\n" in plain
    with pytest.raises(ValueError, match=r"the Verilog has 2 DRAM ports, so dram_beat must "
                                         r"be a positive integer, not 0"):
        ports_header(verilog, 4, "Vtop")


def test_job_names_the_memory_file(tmp_path):
    path = tmp_path / "job.bin"
    memory = np.array([1, 2**32 - 1, 3], np.uint32)
    write_job(path, lanes=4, io_in=1, io_out=1,
              sections=[Section(b"\1\0\0\0", {}, {}, 10)], idle=0.0, backpressure=0.0,
              seed=0, configure_only=False, ideal_cycles=0, dram=memory)
    data = path.read_bytes()
    assert data[:8] == b"TZHJOB02"
    assert int.from_bytes(data[56:60], "little") == 1                   # sections
    assert int.from_bytes(data[60:64], "little") == DRAM_LATENCY
    assert data[64:88] == (3).to_bytes(8, "little") + (8).to_bytes(8, "little") + b"dram.bin"
    assert data[88:] == ((10).to_bytes(8, "little") + (1).to_bytes(4, "little") + bytes(12)
                         + b"\1\0\0\0")
    np.testing.assert_array_equal(np.fromfile(tmp_path / "dram.bin", dtype="<u4"), memory)


def test_result_file_carries_the_memory(tmp_path):
    """One section of a fabric with one input and one output port (nothing kept), then
    the memory."""
    path = tmp_path / "result.bin"
    head = b"TZHRES03" + (1).to_bytes(4, "little") + (1).to_bytes(4, "little") * 2 \
        + (4).to_bytes(4, "little")
    section = bytes(24) + (-1).to_bytes(8, "little", signed=True) + bytes(24) + bytes(24)
    memory = (2).to_bytes(8, "little") + np.array([7, 2**32 - 1], "<u4").tobytes()
    path.write_bytes(head + section + memory)
    result = read_result(path)
    assert len(result.sections) == 1 and result.sections[0].cycles == -1
    assert result.dram.dtype == np.uint32 and result.dram.tolist() == [7, 2**32 - 1]
    path.write_bytes(head + section + bytes(8))
    assert read_result(path).dram is None
    path.write_bytes(head + section + memory[:-4])
    with pytest.raises(ValueError, match="result file too short"):
        read_result(path)
