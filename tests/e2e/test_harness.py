"""The C++ harness (:mod:`sim.harness`): kernels of the suite compiled for the ``tiny``
fabric give the golden model's outputs; rejected bitstreams give their ``cfg_error``;
timeouts, surplus vectors and bad arguments fail with the messages the cocotb testbench
and :class:`sim.runner.Runner` use."""

import re
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from compiler.compile import compile_graph
from hw.format import CfgError
from hw.params import load_fabric
from sim.execute import compare, golden_outputs, output_tensors, port_streams
from sim.harness import Harness, ports_header, read_result, write_job
from sim.verilator import VerilatorConfig
from sim.job import JobError, Section, timeout_message
from sim.runner import SimulationError
from terrazzo import kernels

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build"
TINY = load_fabric("tiny")


@pytest.fixture(scope="module")
def harness():
    return Harness(TINY, build_root=BUILD_ROOT)


@lru_cache(maxsize=None)
def compiled(name):
    mod = kernels.load(name)
    return compile_graph(mod.build(**mod.SIZES["small"]), TINY)


def kernel_run(name, seed=0):
    """The compiled kernel ``name`` (small size), its input tensors and port streams."""
    mod = kernels.load(name)
    result = compiled(name)
    tensors = mod.inputs(np.random.default_rng(seed), **mod.SIZES["small"])
    inputs, expect = port_streams(result.manifest, tensors, TINY.lanes)
    return result, tensors, inputs, expect


def failure(harness, *args, **knobs):
    """The message of a run that must fail; checks that its run directory was kept and
    named, then removes it."""
    with pytest.raises(SimulationError) as e:
        harness.run(*args, **knobs)
    text = str(e.value)
    run_dir = Path(re.search(r"\(run directory (\S+)\)", text.splitlines()[0]).group(1))
    assert (run_dir / "job.bin").exists() and (run_dir / "result.bin").exists()
    shutil.rmtree(run_dir)
    return text


# -- simulations ----------------------------------------------------------------------------

@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("name", ["vector_add", "dot", "gemv"])
@pytest.mark.parametrize("idle, backpressure", [(0.0, 0.0), (0.3, 0.4)])
def test_kernel_matches_golden_model(harness, name, idle, backpressure):
    result, tensors, inputs, expect = kernel_run(name, seed=len(name))
    run = harness.run(result.bitstream, inputs, expect, idle=idle, backpressure=backpressure,
                      seed=len(name), ideal_cycles=result.manifest.ideal_cycles)
    got = output_tensors(result.manifest, run.outputs, TINY.lanes)
    want = golden_outputs(result.manifest, tensors)
    assert not compare(want, got), compare(want, got)[0]
    assert run.cfg_error == 0 and run.configured
    assert run.cycles >= result.manifest.ideal_cycles
    assert 0 < run.sim_cycles and run.wall_seconds > 0


@pytest.mark.sim
@pytest.mark.slow
def test_same_seed_same_run(harness):
    result, _, inputs, expect = kernel_run("vector_add")
    runs = [harness.run(result.bitstream, inputs, expect, idle=0.5, backpressure=0.5, seed=s)
            for s in (3, 3, 4)]
    key = [(r.cycles, r.sim_cycles) for r in runs]
    assert key[0] == key[1] and key[0] != key[2]
    for run in runs[1:]:
        assert all(np.array_equal(run.outputs[p], runs[0].outputs[p]) for p in expect)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("where, code", [(0, CfgError.MAGIC), (-4, CfgError.CRC)])
def test_rejected_bitstream(harness, where, code):
    result, _, inputs, expect = kernel_run("vector_add")
    bits = bytearray(result.bitstream)
    bits[where] ^= 0xFF
    run = harness.run(bytes(bits), inputs, expect)
    assert run.cfg_error == code.value
    assert not run.configured
    assert run.outputs == {} and run.cycles == -1


@pytest.mark.sim
@pytest.mark.slow
def test_configure_only(harness):
    result, _, inputs, expect = kernel_run("vector_add")
    run = harness.run(result.bitstream, inputs, expect, configure_only=True)
    assert (run.cfg_error, run.configured, run.cycles, run.outputs) == (0, True, -1, {})


@pytest.mark.sim
@pytest.mark.slow
def test_timeout_names_ports(harness):
    """Half the inputs of one port: the adder waits for the rest, and the output
    cannot complete."""
    result, _, inputs, expect = kernel_run("vector_add")
    (port, count), = expect.items()
    first = min(inputs)
    short = {p: (v[:len(v) // 2] if p == first else v) for p, v in inputs.items()}
    text = failure(harness, result.bitstream, short, expect, timeout_cycles=400)
    lines = text.splitlines()
    assert lines[1].startswith(timeout_message(400) + " (running=1, done=0, cycles=")
    assert f"  in{first}: {len(short[first])} of {len(short[first])} vectors put on the bus" \
        in lines
    assert re.search(rf"^  out{port}: \d+ of {count} vectors arrived$", text, re.M)


@pytest.mark.sim
@pytest.mark.slow
def test_more_vectors_than_expected(harness):
    result, _, inputs, expect = kernel_run("vector_add")
    (port, count), = expect.items()
    text = failure(harness, result.bitstream, inputs, {port: count - 1})
    assert text.splitlines()[1] == (f"more vectors than expected: out{port} sent {count} "
                                    f"(expected {count - 1})")


@pytest.mark.sim
@pytest.mark.slow
def test_progress_and_run_directory(harness, capfd, monkeypatch):
    """Progress lines on stderr; a passing run leaves no run directory (its own: other
    test processes may have runs of the same fabric going)."""
    import sim.harness
    result, _, inputs, expect = kernel_run("vector_add")
    made = []
    real_mkdtemp = sim.harness.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    monkeypatch.setattr(sim.harness.tempfile, "mkdtemp", mkdtemp)
    ideal = result.manifest.ideal_cycles
    run = harness.run(result.bitstream, inputs, expect, ideal_cycles=ideal, progress=True)
    err = capfd.readouterr().err
    percent = round(100 * run.sim_cycles / ideal)
    assert re.fullmatch(rf"(\r  cycle \d+ \(\d+% of ideal\), \d+ cycles/s)*"
                        rf"\r  cycle {run.sim_cycles} \({percent}% of ideal\), \d+ cycles/s\n",
                        err), repr(err)
    assert len(made) == 1 and made[0].parent == harness.dir / "runs"
    assert not made[0].exists()


# -- no simulation --------------------------------------------------------------------------

def test_run_arguments():
    h = Harness(TINY, build_root=BUILD_ROOT)
    lanes = TINY.lanes
    with pytest.raises(JobError, match=r"input port must be an integer in \[0, 2\), not 7"):
        h.run(b"\0" * 8, {7: np.zeros((1, lanes), int)}, {})
    with pytest.raises(JobError, match=r"takes a \(vectors, 4\) array, not shape \(3,\)"):
        h.run(b"\0" * 8, {0: np.zeros(3, int)}, {})
    with pytest.raises(JobError, match=r"bitstream must be non-empty bytes of whole 32-bit "
                                       r"words, not bytes of length 6"):
        h.run(b"\0" * 6, {}, {})
    with pytest.raises(JobError, match=r"idle must be a probability in \[0, 1\), not 1.0"):
        h.run(b"\0" * 8, {}, {}, idle=1.0)
    with pytest.raises(JobError, match=r"seed must be an integer"):
        h.run(b"\0" * 8, {}, {}, seed=2**63)
    with pytest.raises(JobError, match=r"expected vector count of output port 0 must be a "
                                       r"non-negative integer, not -1"):
        h.run(b"\0" * 8, {}, {0: -1})
    with pytest.raises(JobError, match=r"timeout_cycles must be a positive integer, not 0"):
        h.run(b"\0" * 8, {}, {}, timeout_cycles=0)
    with pytest.raises(JobError, match=r"ideal_cycles must be a non-negative integer, not -5"):
        h.run(b"\0" * 8, {}, {}, ideal_cycles=-5)
    with pytest.raises(JobError, match=r"progress must be True or False, not 'yes'"):
        h.run(b"\0" * 8, {}, {}, progress="yes")


def test_configuration_names_the_build():
    assert Harness(TINY, build_root=BUILD_ROOT).name == "harness"
    h = Harness(TINY, build_root=BUILD_ROOT, verilator_config=VerilatorConfig(opt_fast="-O1"))
    assert h.name == "harness-O1"


def test_ports_header():
    verilog = ("module terrazzo_fabric(clk, rst, in0_tdata, in1_tdata, in2_tdata, "
               "out0_tdata);\nendmodule\n")
    text = ports_header(verilog, 16, "Vmodel")
    assert '#include "Vmodel.h"\ntypedef Vmodel TzModel;\n' in text
    assert "#define TZ_LANES 16\n" in text
    assert "#define TZ_IO_IN 3\n" in text and "#define TZ_IO_OUT 1\n" in text
    assert "#define TZ_IN_PORTS(X) X(0) X(1) X(2)\n" in text
    assert "#define TZ_OUT_PORTS(X) X(0)\n" in text


def test_job_file_layout(tmp_path):
    path = tmp_path / "job.bin"
    write_job(path, lanes=4, io_in=2, io_out=2,
              sections=[Section(b"\1\0\0\0\2\0\0\0", {1: np.arange(8).reshape(2, 4)},
                                {0: 3}, 100)],
              idle=0.5, backpressure=0.0, seed=-1, configure_only=False, ideal_cycles=7)
    data = path.read_bytes()
    assert data[:8] == b"TZHJOB02"
    assert int.from_bytes(data[24:32], "little") == 2**52          # idle threshold
    assert int.from_bytes(data[40:48], "little") == 2**64 - 1      # seed modulo 2**64
    assert int.from_bytes(data[80:88], "little") == 100            # timeout_cycles
    assert len(data) == 80 + 24 + 8 + (16 + 32) + 16


def test_result_file_rejects_other_files(tmp_path):
    path = tmp_path / "result.bin"
    path.write_bytes(b"TZHJOB01" + bytes(100))
    with pytest.raises(ValueError, match="not a harness result file"):
        read_result(path)
