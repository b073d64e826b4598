"""The board top (host bridge and fabric) in cocotb under Verilator, cocotbext-uart playing
the host's serial port and the host protocol code of ``terrazzo run --device`` on top:
damaged and truncated frames are refused and leave the fabric unconfigured, then a
kernel is loaded, computed and read back equal to the golden model."""

import numpy as np
import pytest

from compiler.compile import compile_graph
from hw.hostbridge import FrameError, FrameType
from sim.boardsim import BoardJob, BoardSim
from sim.execute import compare, golden_outputs, output_tensors, port_streams
from sim.hostlink import encode_frame
from terrazzo import kernels

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def test_board_top_refuses_bad_frames_then_runs_a_kernel(tmp_path):
    board = BoardSim("tiny")
    mod = kernels.load("dot")
    result = compile_graph(mod.build(**mod.SIZES["small"]), board.params)
    tensors = mod.inputs(np.random.default_rng(3), **mod.SIZES["small"])
    inputs, expect = port_streams(result.manifest, tensors, board.params.lanes)

    config = bytearray(encode_frame(FrameType.CONFIG, result.bitstream))
    bad_crc = bytes(config[:-1] + bytes([config[-1] ^ 0x5A]))
    truncated = bytes(config[:len(config) // 2])        # the line goes quiet mid-frame
    unknown = encode_frame(0x33, b"\x00\x00\x00\x00")
    # a well-formed frame carrying a bitstream for another fabric: the bridge accepts
    # the frame, the fabric's loader refuses its contents
    other = bytearray(result.bitstream)
    other[8] ^= 0xFF                                    # the header's fabric hash
    wrong_fabric = encode_frame(FrameType.CONFIG, bytes(other))
    job = BoardJob(bad_frames=[bad_crc, truncated, unknown, wrong_fabric],
                   bitstream=result.bitstream, inputs=inputs, expect=expect)
    run = board.run(job, tmp_path)

    refusals = [(kind, payload[:1]) for kind, payload, _ in run.answers]
    assert refusals[:3] == [(FrameType.ERROR, bytes([FrameError.CRC])),
                            (FrameType.ERROR, bytes([FrameError.TIMEOUT])),
                            (FrameType.ERROR, bytes([FrameError.TYPE]))]
    assert refusals[3] == (FrameType.ACK, bytes([FrameType.CONFIG]))
    for _, _, status in run.answers[:3]:
        assert not status["configured"] and status["cfg_error"] == 0
        # every input FIFO empty, each reported in its own word
        assert status["fifo_free"] == [status["fifo_depth"]] * board.params.io_in
    assert not run.answers[3][2]["configured"] and run.answers[3][2]["cfg_error"] == 3

    assert run.error is None, run.error
    outputs = output_tensors(result.manifest, run.outputs, board.params.lanes)
    want = golden_outputs(result.manifest, tensors)
    assert not compare(want, outputs), compare(want, outputs)[0]
    assert run.cycles >= result.manifest.ideal_cycles
