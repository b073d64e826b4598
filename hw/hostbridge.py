"""The UART host bridge: framed requests from a host load a bitstream, stream input
tensors, start the fabric and read its status; output vectors go back as frames.

Frame (both directions)::

    0xA5 | type (1 byte) | length (2 bytes, little-endian, payload bytes) | payload |
    CRC-16/CCITT-FALSE of type, length and payload (2 bytes, little-endian)

Nothing of a request is applied before its CRC checked and its contents were
validated: the payload is received into a frame buffer (block RAM) and only then
forwarded. A bad CRC, an unknown type, a bad length or port, or a frame cut short (no
byte for ``timeout_bytes`` byte times) is answered with an ``ERROR`` frame and leaves
the fabric as it was. The bridge answers every request before it takes the next; bytes
that arrive meanwhile are dropped. Output vectors leave as ``OUTPUT`` frames as soon as
the fabric produces them, whatever request is in progress.

The fabric-side ports have the fabric top's names with the opposite direction
(:func:`hw.fabric.top_ports`), so the board top joins them by name.
"""

import enum as py_enum

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .fabric import top_ports
from .format import CfgError
from .layouts import WORD
from .uart import UartRx, UartTx

__all__ = ["SYNC", "FrameType", "FrameError", "HostBridge", "crc16_step", "status_words"]

SYNC = 0xA5
CRC16_POLY = 0x1021
CRC16_INIT = 0xFFFF


class FrameType(py_enum.IntEnum):
    CONFIG = 0x01       # host: payload = bitstream words
    DATA = 0x02         # host: payload = input port (word), then whole vectors
    START = 0x03        # host: empty
    STATUS = 0x04       # host: empty
    ACK = 0x81          # bridge: payload = the request's type
    ERROR = 0x82        # bridge: payload = FrameError code, the request's type
    STATUS_REPLY = 0x84 # bridge: payload = status_words(io_in) words
    OUTPUT = 0x85       # bridge: payload = output port (word), one vector


class FrameError(py_enum.IntEnum):
    CRC = 1             # CRC mismatch
    TYPE = 2            # unknown request type
    LENGTH = 3          # payload too long for the buffer, or wrong for its type
    TIMEOUT = 4         # frame cut short
    PORT = 5            # DATA for an input port the fabric does not have
    FULL = 6            # DATA of more vectors than the port's FIFO has room for
    NOT_CONFIGURED = 7  # START or DATA before the fabric is configured


def status_words(io_in):
    """Words of a STATUS_REPLY: flags (bit 0 configured, 1 running, 2 done, bits 8..11
    cfg_error), cycles, frame buffer words, lanes | io_in << 8 | io_out << 16, input FIFO
    depth, then the free vectors of each input FIFO."""
    return 5 + io_in


def crc16_step(crc, byte):
    """The CRC-16/CCITT-FALSE register after ``byte`` (Amaranth values)."""
    for i in range(8):
        fb = crc[15] ^ byte[7 - i]
        crc = Cat(Const(0, 1), crc[:15]) ^ Mux(fb, CRC16_POLY, 0)
    return crc


class HostBridge(wiring.Component):
    """The bridge between a UART and the fabric of params ``p``.

    Parameters
    ----------
    p : FabricParams
    divisor : int
        Clock cycles per bit on the serial line.
    buffer_words : int
        Depth of the frame buffer (32-bit words): the longest payload of a request.
    fifo_depth : int
        Vectors each input port's FIFO holds.
    timeout_bytes : int
        Byte times of silence that end a frame as cut short.

    Ports
    -----
    uart_rx : In(1), uart_tx : Out(1)
    led_configured, led_error, led_running : Out(1)
    and every port of the fabric top with the opposite direction.
    """

    def __init__(self, p, *, divisor, buffer_words=1024, fifo_depth=64, timeout_bytes=16):
        for name, value in (("buffer_words", buffer_words), ("fifo_depth", fifo_depth),
                            ("timeout_bytes", timeout_bytes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if buffer_words * 4 > 0xFFFF:
            raise ValueError(f"buffer_words must be at most {0xFFFF // 4}, not {buffer_words!r}")
        if buffer_words < p.lanes + 1:
            raise ValueError(f"buffer_words must hold a port word and a vector "
                             f"({p.lanes + 1}), not {buffer_words!r}")
        self.params = p
        self.divisor = divisor
        self.buffer_words = buffer_words
        self.fifo_depth = fifo_depth
        self.timeout_cycles = timeout_bytes * 10 * divisor
        ports = {"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                 "led_configured": Out(1), "led_error": Out(1), "led_running": Out(1)}
        for name, member in top_ports(p).items():
            ports[name] = member.flip()
        super().__init__(ports)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.urx = urx = UartRx(self.divisor)
        m.submodules.utx = utx = UartTx(self.divisor)
        m.d.comb += [urx.rx.eq(self.uart_rx), self.uart_tx.eq(utx.tx), urx.data.ready.eq(1)]
        m.submodules.buf = buf = Memory(shape=WORD, depth=self.buffer_words, init=[])
        wr, rd = buf.write_port(), buf.read_port(transparent_for=())
        fifos = []
        for k in range(p.io_in):
            f = m.submodules[f"in{k}_fifo"] = SyncFIFOBuffered(width=p.lanes * WORD,
                                                               depth=self.fifo_depth)
            m.d.comb += [getattr(self, f"in{k}_tdata").eq(f.r_data),
                         getattr(self, f"in{k}_tvalid").eq(f.r_rdy),
                         f.r_en.eq(getattr(self, f"in{k}_tready"))]
            fifos.append(f)

        # response slot: the receiver fills it, the transmitter empties it
        max_bytes = max(4 * status_words(p.io_in), 4 + 4 * p.lanes, 2)
        resp = Signal()
        resp_type, resp_len, resp_buf = Signal(8), Signal(16), Signal(8 * max_bytes)
        frame_error = Signal()
        m.d.comb += [self.led_configured.eq(self.configured), self.led_running.eq(self.running),
                     self.led_error.eq((self.cfg_error != CfgError.NONE) | frame_error)]
        self._transmitter(m, utx, resp, resp_type, resp_len, resp_buf, max_bytes)
        self._receiver(m, urx, wr, rd, fifos, resp, resp_type, resp_len, resp_buf,
                       frame_error)
        return m

    def _transmitter(self, m, utx, resp, resp_type, resp_len, resp_buf, max_bytes):
        p = self.params
        t_type, t_len, t_buf = Signal(8), Signal(16), Signal(8 * max_bytes)
        idx, crc = Signal(16), Signal(16)
        out_valid = [getattr(self, f"out{k}_tvalid") for k in range(p.io_out)]
        byte = Signal(8)
        sel_bits = max(1, (max_bytes - 1).bit_length())
        m.d.comb += [utx.data.payload.eq(byte)]
        with m.FSM(name="tx"):
            with m.State("IDLE"):
                with m.If(resp):
                    m.d.sync += [resp.eq(0), t_type.eq(resp_type), t_len.eq(resp_len),
                                 t_buf.eq(resp_buf)]
                    m.next = "SYNC"
                with m.Elif(Cat(*out_valid).any()):
                    with m.Switch(Cat(*out_valid)):
                        for k in range(p.io_out):
                            with m.Case("-" * (p.io_out - 1 - k) + "1" + "0" * k):
                                m.d.comb += getattr(self, f"out{k}_tready").eq(1)
                                m.d.sync += t_buf.eq(Cat(Const(k, WORD),
                                                         getattr(self, f"out{k}_tdata")))
                    m.d.sync += [t_type.eq(FrameType.OUTPUT), t_len.eq(4 + 4 * p.lanes)]
                    m.next = "SYNC"
            steps = [("SYNC", SYNC, "TYPE"), ("TYPE", t_type, "LEN0"),
                     ("LEN0", t_len[:8], "LEN1"), ("LEN1", t_len[8:], "PAY")]
            for state, value, nxt in steps:
                with m.State(state):
                    m.d.comb += [byte.eq(value), utx.data.valid.eq(1)]
                    with m.If(utx.data.ready):
                        if state == "SYNC":
                            m.d.sync += [crc.eq(CRC16_INIT), idx.eq(0)]
                        else:
                            m.d.sync += crc.eq(crc16_step(crc, byte))
                        m.next = nxt
            with m.State("PAY"):
                with m.If(idx == t_len):
                    m.next = "CRC0"
                with m.Else():
                    m.d.comb += [byte.eq(t_buf.word_select(idx[:sel_bits], 8)),
                                 utx.data.valid.eq(1)]
                    with m.If(utx.data.ready):
                        m.d.sync += [crc.eq(crc16_step(crc, byte)), idx.eq(idx + 1)]
            for state, value, nxt in (("CRC0", crc[:8], "CRC1"), ("CRC1", crc[8:], "IDLE")):
                with m.State(state):
                    m.d.comb += [byte.eq(value), utx.data.valid.eq(1)]
                    with m.If(utx.data.ready):
                        m.next = nxt

    def _receiver(self, m, urx, wr, rd, fifos, resp, resp_type, resp_len, resp_buf,
                  frame_error):
        p = self.params
        got = urx.data.valid
        b = urx.data.payload
        r_type, r_len, cnt, crc, r_crc = (Signal(8), Signal(16), Signal(16), Signal(16),
                                          Signal(16))
        word, first = Signal(WORD), Signal(WORD)
        idle = Signal(range(self.timeout_cycles + 1))
        err, discard = Signal(range(8)), Signal()
        idx = Signal(16)
        vec = Signal(p.lanes * WORD)
        lane = Signal(range(p.lanes))
        m.d.sync += idle.eq(Mux(got, 0, Mux(idle == self.timeout_cycles, idle, idle + 1)))
        timed_out = idle == self.timeout_cycles
        n_words = (r_len + 3) >> 2
        port = first[:8]
        vectors = (n_words - 1) >> (p.lanes.bit_length() - 1)
        free = Signal(range(self.fifo_depth + 1))
        for k, f in enumerate(fifos):
            with m.If(port == k):
                m.d.comb += free.eq(self.fifo_depth - f.w_level)

        def answer(kind, length, payload):
            m.d.sync += [resp.eq(1), resp_type.eq(kind), resp_len.eq(length),
                         resp_buf.eq(payload)]

        def fail(code, then_discard=False):
            m.d.sync += [err.eq(code), discard.eq(then_discard)]
            m.next = "FAIL"

        status = Cat(self.configured, self.running, self.done, Const(0, 5),
                     self.cfg_error.as_value(), Const(0, 20), self.cycles,
                     Const(self.buffer_words, WORD),
                     Const(p.lanes | p.io_in << 8 | p.io_out << 16, WORD),
                     Const(self.fifo_depth, WORD),
                     # 16 bits each, whatever width the difference has (an int minus
                     # a level is a few bits wide, and would shift the next FIFO's)
                     *(Cat((Const(self.fifo_depth, 16) - f.w_level)[:16], Const(0, 16))
                       for f in fifos))
        assert len(status) == WORD * status_words(p.io_in), len(status)

        with m.FSM(name="rx"):
            with m.State("HUNT"):
                with m.If(got & (b == SYNC)):
                    m.d.sync += crc.eq(CRC16_INIT)
                    m.next = "TYPE"
            for state, target, nxt in (("TYPE", r_type, "LEN0"), ("LEN0", r_len[:8], "LEN1")):
                with m.State(state):
                    with m.If(timed_out):
                        fail(FrameError.TIMEOUT)
                    with m.Elif(got):
                        m.d.sync += [target.eq(b), crc.eq(crc16_step(crc, b))]
                        m.next = nxt
            with m.State("LEN1"):
                length = Cat(r_len[:8], b)
                with m.If(timed_out):
                    fail(FrameError.TIMEOUT)
                with m.Elif(got):
                    m.d.sync += [r_len.eq(length), crc.eq(crc16_step(crc, b)), cnt.eq(0)]
                    with m.If(length > 4 * self.buffer_words):
                        fail(FrameError.LENGTH, then_discard=True)
                    with m.Elif(length == 0):
                        m.next = "CRC0"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                shift = Cat(Const(0, 3), cnt[:2])
                merged = Mux(cnt[:2] == 0, b, word | (b << shift))
                with m.If(timed_out):
                    fail(FrameError.TIMEOUT)
                with m.Elif(got):
                    m.d.comb += [wr.en.eq(1), wr.addr.eq(cnt[2:]), wr.data.eq(merged)]
                    m.d.sync += [word.eq(merged), crc.eq(crc16_step(crc, b)), cnt.eq(cnt + 1)]
                    with m.If(cnt[2:] == 0):
                        m.d.sync += first.eq(merged)
                    with m.If(cnt + 1 == r_len):
                        m.next = "CRC0"
            with m.State("CRC0"):
                with m.If(timed_out):
                    fail(FrameError.TIMEOUT)
                with m.Elif(got):
                    m.d.sync += r_crc[:8].eq(b)
                    m.next = "CRC1"
            with m.State("CRC1"):
                with m.If(timed_out):
                    fail(FrameError.TIMEOUT)
                with m.Elif(got):
                    with m.If(Cat(r_crc[:8], b) != crc):
                        fail(FrameError.CRC)
                    with m.Else():
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(resp):
                    pass                                    # the last answer is still out
                with m.Elif(r_type == FrameType.CONFIG):
                    with m.If((r_len == 0) | (r_len[:2] != 0)):
                        fail(FrameError.LENGTH)
                    with m.Else():
                        m.d.sync += [idx.eq(0), frame_error.eq(0)]
                        m.next = "CFG_FETCH"
                with m.Elif(r_type == FrameType.DATA):
                    with m.If((r_len[:2] != 0) | (n_words < 1 + p.lanes) |
                              (((n_words - 1) & (p.lanes - 1)) != 0)):
                        fail(FrameError.LENGTH)
                    with m.Elif(first >= p.io_in):
                        fail(FrameError.PORT)
                    with m.Elif(~self.configured):
                        fail(FrameError.NOT_CONFIGURED)
                    with m.Elif(vectors > free):
                        fail(FrameError.FULL)
                    with m.Else():
                        m.d.sync += [idx.eq(1), lane.eq(0), frame_error.eq(0)]
                        m.next = "DATA_FETCH"
                with m.Elif((r_type == FrameType.START) | (r_type == FrameType.STATUS)):
                    with m.If(r_len != 0):
                        fail(FrameError.LENGTH)
                    with m.Elif(r_type == FrameType.STATUS):
                        answer(FrameType.STATUS_REPLY, 4 * status_words(p.io_in), status)
                        m.next = "HUNT"
                    with m.Elif(~self.configured):
                        fail(FrameError.NOT_CONFIGURED)
                    with m.Else():
                        m.d.comb += self.start.eq(1)
                        m.d.sync += frame_error.eq(0)
                        answer(FrameType.ACK, 1, r_type)
                        m.next = "HUNT"
                with m.Else():
                    fail(FrameError.TYPE)
            # CONFIG: the checked payload goes to the loader, one word at a time
            with m.State("CFG_FETCH"):
                m.d.comb += [rd.addr.eq(idx), rd.en.eq(1)]
                m.next = "CFG_SEND"
            with m.State("CFG_SEND"):
                m.d.comb += [self.cfg_tdata.eq(rd.data), self.cfg_tvalid.eq(1),
                             self.cfg_tlast.eq(idx + 1 == n_words)]
                with m.If(self.cfg_tready):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx + 1 == n_words):
                        answer(FrameType.ACK, 1, r_type)
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "CFG_FETCH"
            # DATA: words gather into vectors that enter the port's FIFO (room checked)
            with m.State("DATA_FETCH"):
                m.d.comb += [rd.addr.eq(idx), rd.en.eq(1)]
                m.next = "DATA_GOT"
            with m.State("DATA_GOT"):
                full = Cat(vec[WORD:], rd.data)
                m.d.sync += [vec.eq(full), idx.eq(idx + 1), lane.eq(lane + 1)]
                with m.If(lane == p.lanes - 1):
                    for k, f in enumerate(fifos):
                        with m.If(port == k):
                            m.d.comb += [f.w_en.eq(1), f.w_data.eq(full)]
                    with m.If(idx + 1 == n_words):
                        answer(FrameType.ACK, 1, r_type)
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "DATA_FETCH"
                with m.Else():
                    m.next = "DATA_FETCH"
            with m.State("FAIL"):
                with m.If(~resp):
                    answer(FrameType.ERROR, 2, Cat(err, Const(0, 8 - len(err)), r_type))
                    m.d.sync += frame_error.eq(1)
                    with m.If(discard):
                        m.next = "DISCARD"
                    with m.Else():
                        m.next = "HUNT"
            with m.State("DISCARD"):
                with m.If(timed_out):
                    m.next = "HUNT"
