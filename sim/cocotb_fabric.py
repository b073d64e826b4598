"""The cocotb test module that :class:`sim.runner.Runner` loads into the simulator.

It runs one *job*: the runner writes ``job.npz`` and names it in ``TERRAZZO_JOB`` (the
only way to hand data to a test in another process). This test configures the fabric,
runs it and writes ``result.npz`` beside the job. Job and result keys are listed in
:func:`sim.job.write_job` and :func:`sim.job.read_result`.
"""

import os
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles

from sim.job import JOB_ENV, RESULT_NAME, read_job, write_result
from sim.testbench import FabricTestbench


@cocotb.test()
async def run_job(dut):
    job_path = Path(os.environ[JOB_ENV])
    job = read_job(job_path)
    tb = FabricTestbench(dut, job.lanes, seed=job.seed, idle=job.idle,
                         backpressure=job.backpressure)
    await tb.reset()
    if job.dram:
        # the DRAM ports stall as often as the input ports idle
        tb.attach_dram(job.dram, stall=job.idle, seed=job.seed)

    cfg_error = await tb.load_bitstream(job.bitstream)
    cycles, sim_cycles, wall, outputs = -1, 0, 0.0, {}     # a run that did not start
    if cfg_error == 0 and not job.configure_only:
        outputs, cycles = await tb.run(job.inputs, job.expect, job.timeout_cycles)
        sim_cycles, wall = tb.data_cycles, tb.data_seconds
    else:
        # A rejected bitstream must leave the fabric unconfigured, not just late.
        await ClockCycles(dut.clk, len(job.bitstream) // 4 + 64)
    write_result(job_path.with_name(RESULT_NAME), cfg_error=cfg_error,
                 configured=int(dut.configured.value), cycles=cycles, sim_cycles=sim_cycles,
                 wall_seconds=wall, outputs=outputs, dram=tb.read_dram())
