"""A UART receiver and transmitter (8 data bits, no parity, one stop bit).

The bit time is ``divisor`` clock cycles: the board top computes it from its clock and
baud rate, simulations use a small one so a frame takes few cycles.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx"]


def _check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 4:
        raise ValueError(f"divisor must be an integer of at least 4, not {divisor!r}")
    return divisor


class UartRx(wiring.Component):
    """Receives bytes from the serial line ``rx`` (idle high).

    Each bit is sampled in its middle. A byte whose stop bit is low is dropped. The
    consumer must take a byte (``data.ready``) before the next one completes, or that
    next byte is lost (a UART cannot hold the line).

    Ports
    -----
    rx : In(1, init=1)
    data : Out(stream.Signature(8))
    """

    rx: In(1, init=1)
    data: Out(stream.Signature(8))

    def __init__(self, divisor):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        sync_rx = Signal(2, init=0b11)          # two flops against metastability
        m.d.sync += sync_rx.eq(Cat(self.rx, sync_rx[0]))
        line = sync_rx[1]
        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bit = Signal(range(9))
        shreg = Signal(8)
        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # first data bit is sampled one and a half bit times after the edge
                    m.d.sync += [timer.eq(self.divisor * 3 // 2 - 1), bit.eq(0)]
                    m.next = "BITS"
            with m.State("BITS"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += timer.eq(self.divisor - 1)
                    with m.If(bit == 8):
                        with m.If(line):
                            m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        m.next = "STOP"
                    with m.Else():
                        m.d.sync += [shreg.eq(Cat(shreg[1:], line)), bit.eq(bit + 1)]
            with m.State("STOP"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """Sends bytes on the serial line ``tx``: a start bit, 8 data bits LSB first, a stop
    bit.

    Ports
    -----
    data : In(stream.Signature(8))
    tx : Out(1, init=1)
    """

    data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)
        m.d.comb += [self.tx.eq(shreg[0]), self.data.ready.eq(bits == 0)]
        with m.If(bits == 0):
            with m.If(self.data.valid):
                m.d.sync += [shreg.eq(Cat(0, self.data.payload, 1)), bits.eq(10),
                             timer.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(self.divisor - 1), bits.eq(bits - 1),
                             shreg.eq(Cat(shreg[1:], 1))]
        return m
