"""The cocotb test module that :class:`sim.runner.Runner` loads into the simulator.

It runs one *job*: the runner writes ``job.npz`` and names it in ``TERRAZZO_JOB`` (the
only way to hand data to a test in another process). This test resets the fabric once,
puts the job's DRAM memory behind every DRAM port, runs the job's sections in order
(each: load its bitstream, start, stream; the memory persists) until one does not end
``"ok"``, and writes ``result.npz`` beside the job. Job and result keys are listed in
:func:`sim.job.write_job` and :func:`sim.job.write_result`. A section that fails (a
timeout, surplus vectors, a fabric that does not start) is reported in the result, not
as a failure of this test; the runner turns it into its error.
"""

import os
from pathlib import Path

import cocotb

from sim.job import JOB_ENV, RESULT_NAME, read_job, write_result
from sim.testbench import FabricTestbench


@cocotb.test()
async def run_job(dut):
    job_path = Path(os.environ[JOB_ENV])
    job = read_job(job_path)
    tb = FabricTestbench(dut, job.lanes, seed=job.seed, idle=job.idle,
                         backpressure=job.backpressure)
    await tb.reset()
    if job.dram is not None:
        # the DRAM ports stall as often as the input ports idle
        tb.attach_dram(job.dram, stall=job.idle, seed=job.seed, latency=job.dram_latency)
    results = []
    for index, section in enumerate(job.sections):
        results.append(await tb.run_section(index, section,
                                            configure_only=job.configure_only))
        if results[-1].status != "ok":
            break
    write_result(job_path.with_name(RESULT_NAME), sections=results, dram=tb.read_dram())
