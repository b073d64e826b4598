"""The host side of the UART host bridge (:mod:`hw.hostbridge`): frames, and a run of a
program as a sequence of requests that does no I/O itself.

:func:`encode_frame` and :class:`FrameDecoder` turn frames into bytes and back.
:func:`program_steps` is a generator: it yields bytes to send, or :data:`WAIT` when it
needs more bytes from the device, which the caller then passes to
:meth:`HostSession.feed`; it returns a :class:`LinkRun`. The serial port
(:func:`run_serial`) and the cocotb test drive the same generator.
"""

import struct
from dataclasses import dataclass, field

import numpy as np
from amaranth.lib.crc import catalog

from hw.errors import TerrazzoError
from hw.hostbridge import SYNC, FrameError, FrameType, status_words

__all__ = ["crc16", "encode_frame", "Frame", "FrameDecoder", "LinkError", "Status",
           "HostSession", "LinkRun", "WAIT", "program_steps", "run_serial"]

WAIT = object()
MAX_POLLS = 100_000


class LinkError(TerrazzoError):
    """The device refused a request, answered garbage or did not answer."""


_CRC16 = catalog.CRC16_CCITT_FALSE(8)


def crc16(data):
    """CRC-16/CCITT-FALSE (polynomial 0x1021, init 0xFFFF, no reflection) of ``data``,
    the CRC that :func:`hw.hostbridge.crc16_step` computes in the bridge."""
    return _CRC16.compute(data)


def encode_frame(kind, payload=b""):
    """The bytes of one frame of type ``kind``."""
    payload = bytes(payload)
    if len(payload) > 0xFFFF:
        raise ValueError(f"a frame payload is at most 65535 bytes, not {len(payload)}")
    body = struct.pack("<BH", int(kind), len(payload)) + payload
    return bytes([SYNC]) + body + struct.pack("<H", crc16(body))


@dataclass(frozen=True)
class Frame:
    kind: int
    payload: bytes

    def words(self):
        return np.frombuffer(self.payload, dtype="<u4")


class FrameDecoder:
    """Reassembles frames from bytes. Bytes before a SYNC are skipped; a frame whose CRC
    does not match raises :class:`LinkError`."""

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data):
        """Frames completed by ``data``, in order."""
        self._buf += data
        frames = []
        while True:
            start = self._buf.find(SYNC)
            if start < 0:
                self._buf.clear()
                return frames
            del self._buf[:start]
            if len(self._buf) < 4:
                return frames
            kind, length = struct.unpack_from("<BH", self._buf, 1)
            if len(self._buf) < 6 + length:
                return frames
            body = bytes(self._buf[1:4 + length])
            (crc,) = struct.unpack_from("<H", self._buf, 4 + length)
            del self._buf[:6 + length]
            if crc != crc16(body):
                raise LinkError(f"the device sent a frame of type 0x{kind:02x} with a bad "
                                f"CRC (0x{crc:04x}, expected 0x{crc16(body):04x})")
            frames.append(Frame(kind, body[3:]))


@dataclass(frozen=True)
class Status:
    configured: bool
    running: bool
    done: bool
    cfg_error: int
    cycles: int
    buffer_words: int
    lanes: int
    io_in: int
    io_out: int
    fifo_depth: int
    fifo_free: tuple

    @classmethod
    def from_words(cls, w):
        w = [int(x) for x in w]
        if len(w) < 5 or len(w) != status_words((w[3] >> 8) & 0xFF):
            raise LinkError(f"the device sent a status of {len(w)} words")
        return cls(bool(w[0] & 1), bool(w[0] & 2), bool(w[0] & 4), (w[0] >> 8) & 0xF, w[1],
                   w[2], w[3] & 0xFF, (w[3] >> 8) & 0xFF, (w[3] >> 16) & 0xFF, w[4],
                   tuple(x & 0xFFFF for x in w[5:]))


@dataclass
class LinkRun:
    outputs: dict           # output port -> (vectors, lanes) int32 array
    cycles: int
    status: Status


class HostSession:
    """What the host has received: output vectors per port, and answers in order."""

    def __init__(self):
        self.decoder = FrameDecoder()
        self.answers = []
        self.outputs = {}

    def feed(self, data):
        for frame in self.decoder.feed(data):
            if frame.kind == FrameType.OUTPUT:
                w = frame.words()
                self.outputs.setdefault(int(w[0]), []).append(w[1:].astype(np.uint32))
            else:
                self.answers.append(frame)

    def vectors(self, port):
        return len(self.outputs.get(port, ()))


def _describe(frame, request):
    if frame.kind == FrameType.ERROR and len(frame.payload) == 2:
        code = frame.payload[0]
        name = FrameError(code).name if code in FrameError._value2member_map_ else str(code)
        return f"the device refused the {FrameType(request).name} frame: {name}"
    return f"the device answered {FrameType(request).name} with frame type 0x{frame.kind:02x}"


def request(session, kind, payload=b""):
    """Steps of one request: send it, wait for its answer; returns the answer frame."""
    yield encode_frame(kind, payload)
    while not session.answers:
        yield WAIT
    frame = session.answers.pop(0)
    want = FrameType.STATUS_REPLY if kind == FrameType.STATUS else FrameType.ACK
    if frame.kind != want:
        raise LinkError(_describe(frame, kind))
    return frame


def status(session):
    frame = yield from request(session, FrameType.STATUS)
    return Status.from_words(frame.words())


def program_steps(session, bitstream, inputs, expect):
    """Load ``bitstream``, start the fabric, send ``inputs`` (port -> ``(vectors, lanes)``
    int32 array) as the input FIFOs have room, and collect ``expect`` (port -> vector
    count) output vectors; returns a :class:`LinkRun`. Raises :class:`LinkError`."""
    first = yield from status(session)
    if len(bitstream) > 4 * first.buffer_words:
        raise LinkError(f"the bitstream has {len(bitstream) // 4} words; the device's frame "
                        f"buffer holds {first.buffer_words}")
    yield from request(session, FrameType.CONFIG, bitstream)
    for _ in range(MAX_POLLS):
        st = yield from status(session)
        if st.configured or st.cfg_error:
            break
    if not st.configured:
        raise LinkError(f"the fabric refused the bitstream (cfg_error {st.cfg_error})")
    yield from request(session, FrameType.START)
    pending = {port: np.ascontiguousarray(v, dtype=np.int32).view(np.uint32)
               for port, v in inputs.items()}
    chunk = (st.buffer_words - 1) // st.lanes
    for _ in range(MAX_POLLS):
        if not any(len(v) for v in pending.values()):
            break
        sent = False
        for port, v in pending.items():
            n = min(len(v), chunk, st.fifo_free[port])
            if n:
                payload = struct.pack("<I", port) + v[:n].astype("<u4").tobytes()
                yield from request(session, FrameType.DATA, payload)
                pending[port] = v[n:]
                sent = True
        st = yield from status(session)
    for _ in range(MAX_POLLS):
        if st.done and all(session.vectors(p) >= n for p, n in expect.items()):
            break
        st = yield from status(session)
    else:
        raise LinkError(f"the fabric did not finish (running={st.running}, done={st.done}, "
                        f"outputs " + ", ".join(f"out{p} {session.vectors(p)} of {n}"
                                                for p, n in expect.items()) + ")")
    outputs = {p: np.array(session.outputs.get(p, [])[:n], dtype=np.uint32)
               .reshape(-1, st.lanes).view(np.int32) for p, n in expect.items()}
    return LinkRun(outputs, st.cycles, st)


def run_serial(device, bitstream, inputs, expect, *, baud=115200, timeout=5.0):
    """:func:`program_steps` over the serial port ``device`` (pyserial)."""
    try:
        import serial
    except ImportError:
        raise LinkError("--device needs pyserial: pip install -e .[fpga]") from None
    try:
        port = serial.Serial(device, baud, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as e:
        raise LinkError(f"cannot open serial device {device!r}: {e}") from None
    session = HostSession()
    steps = program_steps(session, bytes(bitstream), inputs, expect)
    with port:
        try:
            step = next(steps)
            while True:
                if step is WAIT:
                    data = port.read(max(1, port.in_waiting))
                    if not data:
                        raise LinkError(f"no answer from {device!r} within {timeout} s")
                    session.feed(data)
                else:
                    port.write(step)
                step = steps.send(None)
        except StopIteration as stop:
            return stop.value
        except serial.SerialException as e:
            raise LinkError(f"serial device {device!r}: {e}") from None
