"""The UART host bridge in the Amaranth simulator, driven by the host protocol code:
the testbench plays the serial line and the fabric's ports."""

import struct

import numpy as np
import pytest
from amaranth.lib.crc import catalog
from amaranth.sim import Simulator

from hw.hostbridge import FrameError, FrameType, HostBridge
from hw.params import load_fabric
from sim.hostlink import HostSession, LinkError, Status, crc16, encode_frame, program_steps

DIV = 4
P = load_fabric("tiny")


def test_crc16_is_ccitt_false():
    # the catalogue's check value; that the bridge's crc16_step agrees is what the frame
    # tests below show (a good frame is forwarded, a damaged one refused)
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def run_bridge(script, *, configured_after_last=True, done_after=None, buffer_words=64, timeout_bytes=4):
    """Run ``script(io)`` (an async function) against a bridge whose fabric side is a
    model: it takes config words, raises ``configured`` after a ``tlast`` word, takes
    input vectors when running."""
    dut = HostBridge(P, divisor=DIV, buffer_words=buffer_words, fifo_depth=4,
                     timeout_bytes=timeout_bytes)
    seen = {"cfg": [], "in0": [], "start": 0}
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def fabric(ctx):
        ctx.set(dut.cfg_tready, 1)
        ctx.set(dut.in0_tready, 1)
        async for clk_edge, rst, cfg_valid, word, last, start, in_valid, vec in ctx.tick().sample(
                dut.cfg_tvalid, dut.cfg_tdata, dut.cfg_tlast, dut.start, dut.in0_tvalid,
                dut.in0_tdata):
            if cfg_valid:
                seen["cfg"].append(word)
                if last and configured_after_last:
                    ctx.set(dut.configured, 1)
            if start:
                seen["start"] += 1
                ctx.set(dut.running, 1)
            if in_valid:
                seen["in0"].append(vec)
                if len(seen["in0"]) == done_after:
                    ctx.set(dut.running, 0)
                    ctx.set(dut.done, 1)

    class IO:
        def __init__(self, ctx):
            self.ctx = ctx
            self.session = HostSession()
            self.rx_bits = []

        async def send(self, data, gap_bytes=0):
            for byte in data:
                for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                    self.ctx.set(dut.uart_rx, bit)
                    await self.tick(DIV)
            await self.tick(gap_bytes * 10 * DIV)

        async def tick(self, n):
            for _ in range(n):
                await self.ctx.tick()
                self.rx_bits.append(self.ctx.get(dut.uart_tx))

        async def receive(self, cycles=3000):
            """Decode what the bridge sent on ``uart_tx`` so far plus ``cycles`` more."""
            await self.tick(cycles)
            bits, out, i = self.rx_bits, bytearray(), 0
            while i < len(bits):
                if bits[i] == 0:
                    if i + 10 * DIV > len(bits):
                        break           # a byte still on the line
                    mid = i + DIV // 2
                    out.append(sum(bits[mid + DIV * (k + 1)] << k for k in range(8)))
                    i += 10 * DIV - DIV // 2
                else:
                    i += 1
            self.rx_bits = bits[i:]
            self.session.feed(bytes(out))

    async def tb(ctx):
        ctx.set(dut.uart_rx, 1)
        io = IO(ctx)
        await io.tick(10)
        await script(io)

    sim.add_process(fabric)
    sim.add_testbench(tb)
    sim.run()
    return seen


def answers(io):
    a = io.session.answers
    io.session.answers = []
    return a


BITSTREAM = struct.pack("<6I", 0x315A5A54, 1, 2, 3, 4, 5)


def test_config_frame_is_forwarded_after_its_crc():
    async def script(io):
        await io.send(encode_frame(FrameType.CONFIG, BITSTREAM))
        await io.receive()
        (ack,) = answers(io)
        assert (ack.kind, ack.payload) == (FrameType.ACK, bytes([FrameType.CONFIG]))
    seen = run_bridge(script)
    assert seen["cfg"] == list(struct.unpack("<6I", BITSTREAM))


@pytest.mark.parametrize("damage", ["crc", "payload", "type"])
def test_bad_frames_are_refused_and_nothing_is_applied(damage):
    frame = bytearray(encode_frame(FrameType.CONFIG, BITSTREAM))
    code = FrameError.CRC
    if damage == "crc":
        frame[-1] ^= 1
    elif damage == "payload":
        frame[8] ^= 0x40
    else:
        frame = bytearray(encode_frame(0x33, BITSTREAM))
        code = FrameError.TYPE

    async def script(io):
        await io.send(frame)
        await io.receive()
        (err,) = answers(io)
        assert (err.kind, err.payload[0]) == (FrameType.ERROR, code)
        # the bridge takes the next good request
        await io.send(encode_frame(FrameType.STATUS))
        await io.receive()
        (reply,) = answers(io)
        st = Status.from_words(reply.words())
        assert not st.configured and st.lanes == P.lanes and st.io_in == P.io_in
    seen = run_bridge(script)
    assert seen["cfg"] == []


def test_truncated_frame_times_out_and_nothing_is_applied():
    frame = encode_frame(FrameType.CONFIG, BITSTREAM)

    async def script(io):
        await io.send(frame[:-5], gap_bytes=6)
        await io.receive()
        (err,) = answers(io)
        assert (err.kind, err.payload[0]) == (FrameType.ERROR, FrameError.TIMEOUT)
    assert run_bridge(script)["cfg"] == []


def test_too_long_and_misshapen_frames_are_refused():
    async def script(io):
        await io.send(encode_frame(FrameType.CONFIG, bytes(4 * 65)), gap_bytes=6)
        await io.receive()
        await io.send(encode_frame(FrameType.CONFIG, bytes(6)))
        await io.receive()
        await io.send(encode_frame(FrameType.START))
        await io.receive()
        got = [(f.kind, f.payload[0]) for f in answers(io)]
        assert got == [(FrameType.ERROR, FrameError.LENGTH), (FrameType.ERROR, FrameError.LENGTH),
                       (FrameType.ERROR, FrameError.NOT_CONFIGURED)]
    assert run_bridge(script)["cfg"] == []


def test_program_steps_load_start_and_stream():
    vectors = np.arange(9 * P.lanes, dtype=np.int32).reshape(9, P.lanes) - 5
    result = {}

    async def script(io):
        steps = program_steps(io.session, BITSTREAM, {0: vectors}, {})
        step = next(steps)
        try:
            while True:
                if isinstance(step, bytes):
                    await io.send(step)
                else:
                    await io.receive(100)
                step = steps.send(None)
        except StopIteration as stop:
            result["run"] = stop.value
    # 9 vectors through a 4-deep FIFO: the host sends as the FIFO has room
    seen = run_bridge(script, done_after=9)
    assert result["run"].status.done and result["run"].status.configured
    assert seen["start"] == 1
    assert seen["cfg"] == list(struct.unpack("<6I", BITSTREAM))
    got = np.array([[(v >> (32 * k)) & 0xFFFFFFFF for k in range(P.lanes)] for v in seen["in0"]],
                   dtype=np.uint32).view(np.int32)
    assert np.array_equal(got, vectors)
