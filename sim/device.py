"""Run a compiled program on a fabric on a board, through the UART host bridge: the same
checks, manifest packing and outputs as :func:`sim.execute.run_program`."""

from .execute import ProgramRun, RunError, check_program, output_tensors, port_streams
from .hostlink import LinkError, run_serial

__all__ = ["run_on_device"]


def run_on_device(bitstream, manifest, tensors, device, *, fabric=None, baud=115200,
                  timeout=5.0, bitstream_name="bitstream", progress=None):
    """Load ``bitstream`` into the board on serial ``device``, stream ``tensors`` and
    return a :class:`~sim.execute.ProgramRun` (``sim_cycles_per_second`` is 0).

    Raises :class:`~sim.execute.RunError` for a program that cannot run as given and
    :class:`~sim.hostlink.LinkError` when the device cannot be opened, refuses a
    request or does not answer."""
    p = check_program(bitstream, manifest, tensors, fabric=fabric,
                      bitstream_name=bitstream_name)
    if manifest.dram:
        raise RunError("the program reads tensors from DRAM, which a board does not have "
                       "yet; run it in simulation (terrazzo run --testbench cocotb)")
    inputs, expect = port_streams(manifest, tensors, p.lanes)
    if progress is not None:
        progress(f"loading {len(bitstream) // 4} words into the fabric on {device} and "
                 f"streaming {sum(len(v) for v in inputs.values())} input vectors...")
    run = run_serial(device, bitstream, inputs, expect, baud=baud, timeout=timeout)
    if run.status.lanes != p.lanes:
        raise LinkError(f"the device's fabric has {run.status.lanes} lanes; the program is "
                        f"for {p.lanes}")
    return ProgramRun(output_tensors(manifest, run.outputs, p.lanes), run.cycles,
                      manifest.ideal_cycles, 0.0, run)
