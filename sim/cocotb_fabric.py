"""The cocotb test module that :class:`sim.runner.Runner` loads into the simulator.

It runs one *job*: the runner writes ``job.npz`` and names it in ``TERRAZZO_JOB`` (the
only way to hand data to a test in another process). This test configures the fabric,
runs it and writes ``result.npz`` beside the job. Job and result keys are listed in
:func:`sim.runner.write_job` and :func:`sim.runner.read_result`.
"""

import os
import time
from pathlib import Path

import numpy as np
import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles

from sim.testbench import CLOCK_PERIOD_NS, FabricTestbench

JOB_ENV = "TERRAZZO_JOB"


def _ports(job, prefix):
    return sorted(int(key[len(prefix):]) for key in job if key.startswith(prefix))


@cocotb.test()
async def run_job(dut):
    job_path = Path(os.environ[JOB_ENV])
    with np.load(job_path) as job:
        job = {key: job[key] for key in job.files}
    lanes = int(job["lanes"])
    tb = FabricTestbench(dut, lanes, seed=int(job["seed"]), idle=float(job["idle"]),
                         backpressure=float(job["backpressure"]))
    await tb.reset()

    cfg_error = await tb.load_bitstream(job["bitstream"].tobytes())
    result = {"cfg_error": np.int64(cfg_error), "cycles": np.int64(-1),
              "sim_cycles": np.int64(0), "wall_seconds": np.float64(0.0)}
    if cfg_error == 0 and int(job["configure_only"]) == 0:
        inputs = {port: job[f"in{port}"] for port in _ports(job, "in")}
        expect = {port: int(job[f"expect{port}"]) for port in _ports(job, "expect")}
        t0, wall0 = get_sim_time("ns"), time.perf_counter()
        outputs, cycles = await tb.run(inputs, expect, int(job["timeout_cycles"]))
        wall = time.perf_counter() - wall0
        result.update({
            "cycles": np.int64(cycles),
            "sim_cycles": np.int64(round((get_sim_time("ns") - t0) / CLOCK_PERIOD_NS)),
            "wall_seconds": np.float64(wall),
        })
        result.update({f"out{port}": vectors for port, vectors in outputs.items()})
    else:
        # A rejected bitstream must leave the fabric unconfigured, not just late.
        await ClockCycles(dut.clk, len(job["bitstream"]) // 4 + 64)
    result["configured"] = np.int64(int(dut.configured.value))

    out = job_path.with_name("result.npz")
    tmp = out.with_name("result.tmp.npz")
    np.savez(tmp, **result)
    os.replace(tmp, out)
