"""Config loader: checks a bitstream word by word and streams its payloads to the fabric."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .format import CfgError, MAGIC, MIN_WORDS, RECORD_HEADER, RecordKind, VERSION
from .layouts import WORD
from .targets import TargetTable

__all__ = ["ConfigLoader", "TargetTable", "crc32_step", "CRC32_POLY"]

CRC32_POLY = 0xEDB88320     # IEEE 802.3, reflected
CRC32_INIT = 0xFFFFFFFF
TARGET = RECORD_HEADER["target"].shape      # a record target (unit or switch id)


def _crc32_matrix():
    """Output bit ``i`` of one 32-bit CRC step is the XOR of the state bits (0..31) and
    word bits (32..63) set in entry ``i``: the step is linear over GF(2)."""
    state = [(1 << i) | (1 << (WORD + i)) for i in range(WORD)]   # crc ^ word
    for _ in range(WORD):                                          # LSB-first bytes
        low = state[0]
        state = state[1:] + [0]
        state = [s ^ (low if (CRC32_POLY >> i) & 1 else 0) for i, s in enumerate(state)]
    return state


_CRC32_MATRIX = _crc32_matrix()


def crc32_step(crc, word):
    """The CRC-32 register after ``word`` (its bytes little-endian, as ``zlib.crc32``
    reads them), from register ``crc`` (``0xFFFFFFFF`` at the start; the CRC is the
    complement of the final register)."""
    both = Cat(crc, word)
    return Cat(*(Cat(*(both[k] for k in range(2 * WORD) if (row >> k) & 1)).xor()
                 for row in _CRC32_MATRIX))


class _State(enum.Enum, shape=4):
    MAGIC = 0       # first word of a stream
    VERSION = 1
    HASH = 2
    LENGTH = 3
    REC_HDR = 4     # a record header, or the CRC when no record words are left
    REC_COUNT = 5
    PMU_ADDR = 6
    PAYLOAD = 7
    SWALLOW = 8     # after an error: drop words until ``last``


class ConfigLoader(wiring.Component):
    """Reads a bitstream (``hw/format.py``) for fabric ``p`` from the ``cfg`` stream, one
    word per cycle, and writes record payloads to the configuration write bus.

    Header words are checked in order (magic, version, fabric hash, length >= 5) before
    anything is written; each record header and count is checked against the targets
    of ``p``; a ``PMU_INIT`` address range must lie within a PMU. The last word of the
    declared length must be the CRC-32 of the words before it and carry ``last``; then
    ``configured`` rises. At the first fault ``error`` takes its code (held until the
    first word of the next stream), nothing more is written and the rest of the stream
    is dropped up to ``last``. ``last`` before the declared length is ``TRUNCATED``.

    Ports
    -----
    cfg : In(stream.Signature(StructLayout({"data": 32, "last": 1})))
        Always ready.
    bus : Out(ConfigLoader.WriteBus(addr_bits=p.addr_bits))
        One write per payload word, one cycle after the word was taken.
    configured : Out(1)
    error : Out(CfgError)
    busy : Out(1)
        A stream has started and its ``last`` word has not arrived yet.
    """

    class WriteBus(wiring.Signature):
        """The configuration write bus, from the loader to the configuration registers
        and the PMUs' memories. Every member is registered in the loader.

        Parameters
        ----------
        addr_bits : int
            Width of ``addr`` (``FabricParams.addr_bits``).

        Members
        -------
        we : Out(1)
            A payload word is written in this cycle.
        kind : Out(RecordKind)
        target : Out(the record header's target field)
            The record being written.
        index : Out(16)
            Payload word index within a ``UNIT``/``SWITCH`` record (data word index,
            modulo ``2**16``, for ``PMU_INIT``).
        addr : Out(addr_bits)
            PMU word address of a ``PMU_INIT`` data word.
        data : Out(32)

        Raises
        ------
        TypeError
            If ``addr_bits`` is not a positive integer.
        """

        def __init__(self, *, addr_bits):
            if not isinstance(addr_bits, int) or isinstance(addr_bits, bool) or addr_bits < 1:
                raise TypeError(f"addr_bits must be a positive integer, not {addr_bits!r}")
            self._addr_bits = addr_bits
            super().__init__({
                "we":     Out(1),
                "kind":   Out(RecordKind, init=RecordKind.UNIT),
                "target": Out(TARGET),
                "index":  Out(16),
                "addr":   Out(addr_bits),
                "data":   Out(WORD),
            })

        @property
        def addr_bits(self):
            return self._addr_bits

        def __eq__(self, other):
            return type(other) is type(self) and other.addr_bits == self.addr_bits

        def __repr__(self):
            return f"ConfigLoader.WriteBus(addr_bits={self.addr_bits})"

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":        In(stream.Signature(data.StructLayout({"data": WORD, "last": 1}))),
            "bus":        Out(self.WriteBus(addr_bits=p.addr_bits)),
            "configured": Out(1),
            "error":      Out(CfgError),
            "busy":       Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.table = self._table = TargetTable(self._p)
        s = self._s = _Signals()
        word = self.cfg.payload.data
        # the first word of a stream starts a fresh CRC
        crc_in = Mux(s.state == _State.MAGIC, CRC32_INIT, s.crc)
        m.d.comb += [
            self.cfg.ready.eq(1),
            self.busy.eq(s.state != _State.MAGIC),
            s.more.eq(1),
            s.hdr.eq(word),
            self._table.target.eq(s.hdr.target),
        ]
        take = self.cfg.valid
        with m.If(take):
            m.d.sync += s.crc.eq(crc32_step(crc_in, word))
            with m.Switch(s.state):
                self._header(m)
                self._records(m)
                with m.Case(_State.SWALLOW):
                    m.d.comb += [s.more.eq(0), s.next.eq(_State.SWALLOW)]
            self._finish(m)
        # the write bus is registered
        bus = self.bus
        m.d.sync += bus.we.eq(take & s.write)
        with m.If(take & s.write):
            m.d.sync += [bus.kind.eq(s.kind), bus.target.eq(s.target), bus.index.eq(s.index),
                         bus.addr.eq(s.addr), bus.data.eq(self.cfg.payload.data)]
        return m

    def _header(self, m):
        s, word = self._s, self.cfg.payload.data
        with m.Case(_State.MAGIC):
            m.d.sync += [self.configured.eq(0), self.error.eq(CfgError.NONE)]
            m.d.comb += s.next.eq(_State.VERSION)
            with m.If(word != MAGIC):
                m.d.comb += s.fault.eq(CfgError.MAGIC)
        with m.Case(_State.VERSION):
            m.d.comb += s.next.eq(_State.HASH)
            with m.If(word != VERSION):
                m.d.comb += s.fault.eq(CfgError.VERSION)
        with m.Case(_State.HASH):
            m.d.comb += s.next.eq(_State.LENGTH)
            with m.If(word != self._p.hash32):
                m.d.comb += s.fault.eq(CfgError.FABRIC)
        with m.Case(_State.LENGTH):
            m.d.comb += s.next.eq(_State.REC_HDR)
            m.d.sync += s.left.eq(word - MIN_WORDS)
            with m.If(word < MIN_WORDS):
                m.d.comb += s.fault.eq(CfgError.LENGTH)

    def _records(self, m):
        s, t, p = self._s, self._table, self._p
        word, hdr = self.cfg.payload.data, s.hdr
        with m.Case(_State.REC_HDR):
            with m.If(s.left == 0):
                # the CRC word, which must also be the last of the stream
                m.d.comb += s.more.eq(0)
                with m.If(word != (s.crc ^ CRC32_INIT)):
                    m.d.comb += s.fault.eq(CfgError.CRC)
                with m.Elif(~self.cfg.payload.last):
                    m.d.comb += s.fault.eq(CfgError.LENGTH)
                with m.Else():
                    m.d.comb += s.done.eq(1)
            with m.Else():
                fits = (((hdr.kind == RecordKind.UNIT) & t.unit) |
                        ((hdr.kind == RecordKind.SWITCH) & t.switch) |
                        ((hdr.kind == RecordKind.PMU_INIT) & t.pmu))
                m.d.comb += s.next.eq(_State.REC_COUNT)
                m.d.sync += [s.kind.eq(hdr.kind), s.target.eq(hdr.target),
                             s.expect.eq(t.words), s.left.eq(s.left - 1)]
                with m.If((hdr.zero != 0) | ~fits):
                    m.d.comb += s.fault.eq(CfgError.RECORD)
                with m.Elif(s.left < 2):
                    m.d.comb += s.fault.eq(CfgError.SIZE)
        with m.Case(_State.REC_COUNT):
            is_init = s.kind == RecordKind.PMU_INIT
            m.d.sync += [s.count.eq(word), s.index.eq(0), s.left.eq(s.left - 1)]
            with m.If(is_init):
                m.d.comb += s.next.eq(_State.PMU_ADDR)
            with m.Elif(word == 0):
                m.d.comb += s.next.eq(_State.REC_HDR)
            with m.Else():
                m.d.comb += s.next.eq(_State.PAYLOAD)
            with m.If(Mux(is_init, word == 0, word != s.expect) | (word >= s.left)):
                m.d.comb += s.fault.eq(CfgError.SIZE)
        with m.Case(_State.PMU_ADDR):
            m.d.sync += [s.addr.eq(word), s.count.eq(s.count - 1), s.left.eq(s.left - 1)]
            m.d.comb += s.next.eq(Mux(s.count == 1, _State.REC_HDR, _State.PAYLOAD))
            with m.If((word >= p.pmu_words) | (s.count - 1 > p.pmu_words - word)):
                m.d.comb += s.fault.eq(CfgError.SIZE)
        with m.Case(_State.PAYLOAD):
            m.d.comb += [s.write.eq(1),
                         s.next.eq(Mux(s.count == 1, _State.REC_HDR, _State.PAYLOAD))]
            m.d.sync += [s.count.eq(s.count - 1), s.left.eq(s.left - 1),
                         s.index.eq(s.index + 1), s.addr.eq(s.addr + 1)]

    def _finish(self, m):
        """What every taken word does once its state has judged it."""
        s, last = self._s, self.cfg.payload.last
        faulty = s.fault != CfgError.NONE
        with m.If(last):
            m.d.sync += s.state.eq(_State.MAGIC)
        with m.Elif(faulty):
            m.d.sync += s.state.eq(_State.SWALLOW)
        with m.Else():
            m.d.sync += s.state.eq(s.next)
        with m.If(faulty):
            m.d.sync += self.error.eq(s.fault)
        with m.Elif(last & s.more):
            m.d.sync += self.error.eq(CfgError.TRUNCATED)
        with m.Elif(s.done):
            m.d.sync += self.configured.eq(1)


class _Signals:
    """The loader's registers and per-word decisions."""

    def __init__(self):
        self.state = Signal(_State)
        self.crc = Signal(WORD)
        self.left = Signal(WORD)        # record words before the CRC word
        self.count = Signal(WORD)       # payload words left in the record
        self.kind = Signal(RecordKind, init=RecordKind.UNIT)
        self.target = Signal(TARGET)
        self.expect = Signal(16)        # configuration words of the target
        self.index = Signal(16)
        self.addr = Signal(WORD)
        # per word, combinational
        self.hdr = Signal(RECORD_HEADER)
        self.next = Signal(_State)
        self.fault = Signal(CfgError)
        self.more = Signal()            # the stream must go on after this word
        self.done = Signal()            # this word is a good CRC with ``last``
        self.write = Signal()
