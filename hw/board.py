"""The board top: a fabric behind the UART host bridge, with status LEDs.

:class:`BoardCore` joins a :class:`~hw.hostbridge.HostBridge` to the fabric top
(``terrazzo_fabric``, an instance of the Verilog of :func:`hw.generate.generate_verilog`,
so each distinct unit is one module). :func:`board_verilog` writes both as one Verilog
file for simulation; :class:`BoardTop` puts the core on an amaranth-boards platform.
"""

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, Elaboratable
from amaranth.back import verilog
from amaranth.build import ResourceError
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fabric import top_ports
from .format import MIN_WORDS
from .hostbridge import HostBridge
from .targets import config_targets

__all__ = ["BoardCore", "BoardTop", "board_verilog", "max_bitstream_words", "BOARD_TOPLEVEL"]

BOARD_TOPLEVEL = "terrazzo_board"


def max_bitstream_words(p):
    """Words of the longest bitstream of fabric ``p``: every unit and switch configured
    and every PMU initialized in full (one record each)."""
    words = MIN_WORDS
    for t in config_targets(p).values():
        words += 2 + t.words
        if t.takes_init:
            words += 3 + p.pmu_words
    return words


def _pow2_at_least(n):
    return 1 << max(0, n - 1).bit_length()


class BoardCore(wiring.Component):
    """Bridge and fabric. ``buffer_words`` defaults to the longest bitstream of ``p``
    rounded up to a power of two (one block RAM shape).

    Ports
    -----
    uart_rx : In(1), uart_tx : Out(1), led_configured, led_error, led_running : Out(1)
    """

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    led_configured: Out(1)
    led_error: Out(1)
    led_running: Out(1)

    def __init__(self, p, *, divisor, buffer_words=None, fifo_depth=64, timeout_bytes=16):
        self.params = p
        buffer_words = buffer_words or _pow2_at_least(max_bitstream_words(p))
        self.bridge = HostBridge(p, divisor=divisor, buffer_words=buffer_words,
                                 fifo_depth=fifo_depth, timeout_bytes=timeout_bytes)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self.bridge
        m.d.comb += [bridge.uart_rx.eq(self.uart_rx), self.uart_tx.eq(bridge.uart_tx),
                     self.led_configured.eq(bridge.led_configured),
                     self.led_error.eq(bridge.led_error),
                     self.led_running.eq(bridge.led_running)]
        # a board's default domain may be reset-less (amaranth-boards' ECP5 platforms):
        # the fabric's registers then start from their initial values
        ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal(allow_reset_less=True)}
        for name, member in top_ports(self.params).items():
            ports[("i_" if member.flow == In else "o_") + name] = getattr(bridge, name)
        m.submodules.fabric = Instance("terrazzo_fabric", **ports)
        return m


def board_verilog(p, *, divisor, **kwargs):
    """The Verilog of a :class:`BoardCore` (top module ``terrazzo_board``, ports
    ``clk``, ``rst``, ``uart_rx``, ``uart_tx``, ``led_*``) with the fabric's modules."""
    from .generate import generate_verilog
    core = BoardCore(p, divisor=divisor, **kwargs)
    top = verilog.convert(core, name=BOARD_TOPLEVEL, emit_src=False)
    fabric, _ = generate_verilog(p)
    return top + fabric


class BoardTop(Elaboratable):
    """A :class:`BoardCore` on an amaranth-boards platform: its default clock, its first
    ``uart`` resource and its first three ``led`` resources (configured, error,
    running; a board with fewer LEDs shows the first ones). The fabric's Verilog is added to the platform's files."""

    def __init__(self, p, *, baud=115200, **kwargs):
        self.params = p
        self.baud = baud
        self.kwargs = kwargs

    def elaborate(self, platform):
        from .generate import generate_verilog
        m = Module()
        divisor = int(platform.default_clk_frequency // self.baud)
        m.submodules.core = core = BoardCore(self.params, divisor=divisor, **self.kwargs)
        uart = platform.request("uart", 0)
        m.d.comb += [core.uart_rx.eq(uart.rx.i), uart.tx.o.eq(core.uart_tx)]
        for k, status in enumerate((core.led_configured, core.led_error, core.led_running)):
            try:
                led = platform.request("led", k)
            except ResourceError:
                break           # a board with fewer LEDs shows the first ones only
            m.d.comb += led.o.eq(status)
        text, _ = generate_verilog(self.params)
        platform.add_file("terrazzo_fabric.v", text)
        return m
