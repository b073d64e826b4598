"""The cocotb test module that :class:`sim.boardsim.BoardSim` loads into the simulator:
the board top driven through its UART pins by cocotbext-uart, with the host protocol
of :mod:`sim.hostlink` on top (the generator ``terrazzo run --device`` drives over a
serial port). It reads the job that ``TERRAZZO_BOARD_JOB`` names and writes
``result.json`` beside it (see :class:`sim.boardsim.BoardJob` and
:class:`~sim.boardsim.BoardResult`)."""

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.uart import UartSink, UartSource

from sim.hostlink import WAIT, HostSession, LinkError, program_steps, status


class _Link:
    """The host's end of the serial line: bytes out through a UartSource, bytes in
    through a UartSink into a :class:`~sim.hostlink.HostSession`."""

    def __init__(self, dut, baud):
        self.source = UartSource(dut.uart_rx, baud=baud, bits=8, stop_bits=1)
        self.sink = UartSink(dut.uart_tx, baud=baud, bits=8, stop_bits=1)
        for end in (self.source, self.sink):
            end.log.setLevel(logging.WARNING)       # a line per byte otherwise
        self.session = HostSession()

    async def send(self, data):
        await self.source.write(data)
        await self.source.wait()

    async def receive(self):
        await self.sink.wait()
        self.session.feed(bytes(self.sink.read_nowait()))

    async def drive(self, steps):
        """Run a :mod:`sim.hostlink` generator to its end; its return value."""
        try:
            step = next(steps)
            while True:
                if step is WAIT:
                    await self.receive()
                else:
                    await self.send(step)
                step = steps.send(None)
        except StopIteration as stop:
            return stop.value

    async def answer(self, raw):
        """Send ``raw`` bytes and wait for the bridge's answer frame."""
        await self.send(raw)
        while not self.session.answers:
            await self.receive()
        frame = self.session.answers.pop(0)
        return frame.kind, frame.payload


@cocotb.test(timeout_time=2000, timeout_unit="ms")
async def board_job(dut):
    path = Path(os.environ["TERRAZZO_BOARD_JOB"])
    job = json.loads(path.read_text())
    cocotb.start_soon(Clock(dut.clk, job["clock_ns"], unit="ns").start())
    dut.uart_rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 8)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 8)
    link = _Link(dut, job["baud"])
    answers = []
    for k, raw in enumerate(job["bad_frames"]):
        kind, payload = await link.answer(bytes.fromhex(raw))
        st = await link.drive(status(link.session))
        answers.append([kind, payload.hex(), asdict(st)])
        dut._log.info(f"bad frame {k}: answer 0x{kind:02x} {payload.hex()}, configured "
                      f"{st.configured}, cfg_error {st.cfg_error}")
    outputs, cycles, error = {}, -1, None
    if job["bitstream"]:
        bitstream = path.with_name("bitstream.tzb").read_bytes()
        with np.load(path.with_name("inputs.npz")) as f:
            inputs = {int(k[4:]): f[k] for k in f.files}
        expect = {int(p): n for p, n in job["expect"].items()}
        dut._log.info(f"program: {len(bitstream) // 4} words, inputs "
                      f"{ {p: len(v) for p, v in inputs.items()} }")
        try:
            run = await link.drive(program_steps(link.session, bitstream, inputs, expect))
            outputs = {str(p): v.astype(np.int64).tolist() for p, v in run.outputs.items()}
            cycles = run.cycles
        except LinkError as e:
            error = str(e)
    path.with_name("result.json").write_text(json.dumps(
        {"answers": answers, "outputs": outputs, "cycles": cycles, "error": error}))
