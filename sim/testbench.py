"""cocotb 2.x testbench of the fabric top (``terrazzo_fabric``).

The fabric's streams are AXI4-Stream ports with flat names (``cfg_t*``, ``in{k}_t*``,
``out{k}_t*``; see ``docs/hardware.md``), so cocotbext-axi's sources and sinks drive
them. Tensors move as whole ``(vectors, lanes)`` int32 arrays: the Python work per
cycle is what cocotbext-axi does, nothing more.

* :class:`VectorDriver` sends vectors on one input port (optional random idle cycles);
* :class:`VectorMonitor` collects vectors from one output port (optional random
  backpressure);
* :class:`FabricTestbench` owns the clock, the reset, the configuration stream and a
  driver and a monitor per port, and runs a configured fabric on a set of tensors.

Only importable inside a cocotb simulation (cocotbext-axi needs a running simulator).
"""

import itertools
import logging
import random

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import (ClockCycles, FallingEdge, RisingEdge, ValueChange, gather,
                             select)
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from hw.layouts import WORD
from sim.job import check_probability, timeout_message

__all__ = ["FabricTestbench", "VectorDriver", "VectorMonitor", "CLOCK_PERIOD_NS", "WORD"]

CLOCK_PERIOD_NS = 10
_AXI_LOG_LEVEL = logging.WARNING   # cocotbext-axi logs every frame at INFO


class _DataBus(AxiStreamBus):
    """An AXI4-Stream bus without ``tlast``.

    The fabric drives ``out{k}_tlast`` low (tensor lengths come from the manifest), so a
    sink that waits for ``tlast`` would never hand over a frame. Without it, every
    transfer is a frame of its own: one vector.
    """
    _optional_signals = ["tvalid", "tready"]


def _held(endpoint):
    """Hold a cocotbext-axi source or sink in reset until :meth:`FabricTestbench.reset`
    releases it: before the fabric's reset its outputs are X (in Icarus), and an
    endpoint left running would sample them."""
    endpoint.log.setLevel(_AXI_LOG_LEVEL)
    endpoint.assert_reset(True)
    return endpoint


def _pauses(rng, probability):
    """An endless per-cycle pause pattern: ``True`` with ``probability``."""
    return (rng.random() < probability for _ in itertools.count())


def _port_count(dut, prefix):
    count = 0
    while True:
        try:
            getattr(dut, f"{prefix}{count}_tdata")
        except AttributeError:
            return count
        count += 1


class VectorDriver:
    """Sends vectors on input port ``in{port}``.

    Each vector is one AXI4-Stream transfer (``lanes`` 32-bit words, lane 0 in the low
    word). The fabric ignores ``tlast`` on data inputs; every transfer carries it, which
    lets :meth:`pending` count what is still queued.

    Parameters
    ----------
    dut : the ``terrazzo_fabric`` handle
    port : int
    rng : random.Random
        Draws the idle pattern.
    idle : float
        Probability that the source inserts an idle cycle (``tvalid`` low) in a cycle.
    """

    def __init__(self, dut, port, rng, idle=0.0):
        self.name = f"in{port}"
        self.source = _held(AxiStreamSource(AxiStreamBus.from_prefix(dut, self.name), dut.clk,
                                            byte_size=WORD))
        if idle > 0:
            self.source.set_pause_generator(_pauses(rng, idle))
        self.sent = 0

    def send(self, vectors):
        """Queue every row of ``vectors`` (``(n, lanes)`` int32); returns at once."""
        words = np.ascontiguousarray(vectors, dtype=np.int32).view(np.uint32)
        for row in words.tolist():
            self.source.send_nowait(AxiStreamFrame(row))
        self.sent += len(words)

    def pending(self):
        """Vectors queued but not yet put on the bus."""
        return self.source.count()

    async def wait(self):
        """Until every queued vector has been accepted."""
        await self.source.wait()


class VectorMonitor:
    """Collects vectors from output port ``out{port}``.

    Parameters
    ----------
    dut : the ``terrazzo_fabric`` handle
    port : int
    lanes : int
    rng : random.Random
        Draws the backpressure pattern.
    backpressure : float
        Probability that the sink holds ``tready`` low in a cycle.
    callback : callable or None
        Called with each received vector (a list of ``lanes`` unsigned words).

    Members
    -------
    vectors : list
        Received vectors, in order, as lists of unsigned 32-bit words.
    """

    def __init__(self, dut, port, lanes, rng, backpressure=0.0, callback=None):
        self.name = f"out{port}"
        self.lanes = lanes
        self.sink = _held(AxiStreamSink(_DataBus.from_prefix(dut, self.name), dut.clk,
                                        byte_size=WORD))
        if backpressure > 0:
            self.sink.set_pause_generator(_pauses(rng, backpressure))
        self.callback = callback
        self.vectors = []

    async def collect(self, count):
        """Until ``count`` vectors have arrived in all (since the last :meth:`take`)."""
        while len(self.vectors) < count:
            frame = await self.sink.recv(compact=False)
            self.vectors.append(frame.tdata)
            if self.callback is not None:
                self.callback(frame.tdata)

    def unexpected(self):
        """Vectors that arrived beyond those collected."""
        return self.sink.count()

    def take(self):
        """The collected vectors as an ``(n, lanes)`` int32 array; empties the list."""
        words = np.array(self.vectors, dtype=np.uint32).reshape(-1, self.lanes)
        self.vectors = []
        return words.view(np.int32)


class FabricTestbench:
    """Drives one ``terrazzo_fabric`` instance.

    Parameters
    ----------
    dut : the ``terrazzo_fabric`` handle
    lanes : int
        Lanes of the fabric; checked against the width of ``in0_tdata``.
    seed : int
        Seeds the idle and backpressure patterns (one generator per port, derived
        from ``seed`` and the port name, so adding a port does not change the others).
    idle : float
        Probability of an idle cycle on each input source, in ``[0, 1)``.
    backpressure : float
        Probability of ``tready`` low on each output sink, in ``[0, 1)``.

    Starts the clock at once; call :meth:`reset` (or let :meth:`load_bitstream` do it)
    before anything else.

    Raises
    ------
    ValueError
        For a probability out of range or a lane count the design does not have.
    """

    def __init__(self, dut, lanes, *, seed=0, idle=0.0, backpressure=0.0):
        idle = check_probability("idle", idle)
        backpressure = check_probability("backpressure", backpressure)
        self.dut = dut
        self.lanes = lanes
        self.n_in = _port_count(dut, "in")
        self.n_out = _port_count(dut, "out")
        width = len(dut.in0_tdata)
        if width != lanes * WORD:
            raise ValueError(f"lanes is {lanes!r} but in0_tdata is {width} bits wide "
                             f"({width // WORD} lanes)")

        # cocotbext-axi loggers are children of this one; they describe every endpoint
        # and frame at INFO.
        logging.getLogger(f"cocotb.{dut._name}").setLevel(_AXI_LOG_LEVEL)
        dut.start.value = 0
        dut.rst.value = 1
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()

        def rng(name):
            return random.Random(f"{seed}:{name}")

        self.cfg = _held(AxiStreamSource(AxiStreamBus.from_prefix(dut, "cfg"), dut.clk,
                                         byte_size=WORD))
        self.drivers = {k: VectorDriver(dut, k, rng(f"in{k}"), idle) for k in range(self.n_in)}
        self.monitors = {k: VectorMonitor(dut, k, lanes, rng(f"out{k}"), backpressure)
                         for k in range(self.n_out)}
        self._reset_done = False

    def _endpoints(self):
        return ([self.cfg] + [d.source for d in self.drivers.values()] +
                [m.sink for m in self.monitors.values()])

    async def reset(self, cycles=4):
        """Hold ``rst`` (and every stream endpoint) in reset for ``cycles`` cycles."""
        for endpoint in self._endpoints():
            endpoint.assert_reset(True)
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        for endpoint in self._endpoints():
            endpoint.assert_reset(False)
        self._reset_done = True

    async def load_bitstream(self, words, timeout_cycles=None):
        """Send a bitstream on ``cfg`` and wait for the loader's verdict.

        Parameters
        ----------
        words : bytes
            Little-endian 32-bit words; ``tlast`` goes with the last one.
        timeout_cycles : int or None
            Cycles to wait for ``configured`` or ``cfg_error`` after the last word was
            accepted (default: the word count plus 1000).

        Returns
        -------
        int
            ``cfg_error`` (0 when the fabric is configured).

        Raises
        ------
        ValueError
            If ``words`` is empty or not a whole number of words.
        AssertionError
            If neither ``configured`` nor ``cfg_error`` shows up in time.
        """
        words = bytes(words)
        if not words or len(words) % 4:
            raise ValueError(f"a bitstream is a non-empty sequence of 32-bit words, "
                             f"not {len(words)} bytes")
        if not self._reset_done:
            await self.reset()
        dut = self.dut
        values = np.frombuffer(words, dtype="<u4").tolist()
        if timeout_cycles is None:
            timeout_cycles = len(values) + 1000
        self.cfg.send_nowait(AxiStreamFrame(values))

        # A loader that rejects the header may stop taking words: an error ends the wait
        # for the stream as well as the wait for the verdict.
        await select(self.cfg.wait(), ValueChange(dut.cfg_error))
        await FallingEdge(dut.clk)
        if not int(dut.cfg_error.value) and not int(dut.configured.value):
            await select(RisingEdge(dut.configured), ValueChange(dut.cfg_error),
                         ClockCycles(dut.clk, timeout_cycles))
            await FallingEdge(dut.clk)
        code = int(dut.cfg_error.value)
        if code:
            self.cfg.clear()
            return code
        assert int(dut.configured.value), (
            f"the fabric was neither configured nor reported a cfg_error within "
            f"{timeout_cycles} cycles after the {len(values)}-word bitstream "
            f"({'all' if self.cfg.idle() else 'not all'} words accepted)")
        return 0

    async def run(self, inputs, expect, timeout_cycles):
        """Start the configured fabric and move whole tensors through it.

        Parameters
        ----------
        inputs : dict
            Input port -> ``(vectors, lanes)`` int32 array; all ports are sent
            concurrently.
        expect : dict
            Output port -> number of vectors to collect.
        timeout_cycles : int
            Cycles from start until every expected vector has arrived and ``done`` is
            high.

        Returns
        -------
        (dict, int)
            Output port -> ``(vectors, lanes)`` int32 array, and the fabric's ``cycles``
            counter (start to done).

        Raises
        ------
        ValueError
            For a port the fabric does not have or a badly shaped input.
        AssertionError
            If the fabric does not start, on timeout (naming each port and how many
            vectors went in and came out) or when a port sends more than expected.
        """
        dut = self.dut
        for port, vectors in inputs.items():
            if port not in self.drivers:
                raise ValueError(f"input port {port!r} does not exist (the fabric has "
                                 f"{self.n_in})")
            shape = np.shape(vectors)
            if len(shape) != 2 or shape[1] != self.lanes:
                raise ValueError(f"input port {port} takes (vectors, {self.lanes}) arrays, "
                                 f"not shape {shape}")
        for port, count in expect.items():
            if port not in self.monitors:
                raise ValueError(f"output port {port!r} does not exist (the fabric has "
                                 f"{self.n_out})")
            if not isinstance(count, int) or count < 0:
                raise ValueError(f"expected vectors on output port {port} must be a "
                                 f"non-negative integer, not {count!r}")

        await FallingEdge(dut.clk)
        assert int(dut.configured.value), "run() needs a configured fabric"
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        await FallingEdge(dut.clk)
        assert int(dut.running.value), (
            f"the fabric did not start (configured={int(dut.configured.value)}, "
            f"done={int(dut.done.value)})")

        for port, vectors in inputs.items():
            self.drivers[port].send(vectors)
        finished = gather(*(self.monitors[port].collect(count) for port, count in expect.items()),
                          self._wait_done())
        which, _ = await select(finished, ClockCycles(dut.clk, timeout_cycles))
        if which != 0:
            raise AssertionError(self._timeout_report(inputs, expect, timeout_cycles))

        # Words still in flight on the switches when the last unit finished would
        # show up within a few hops.
        await ClockCycles(dut.clk, 2 * (self.n_in + self.n_out) + 16)
        extra = {port: m.unexpected() for port, m in self.monitors.items() if m.unexpected()}
        assert not extra, "more vectors than expected: " + ", ".join(
            f"out{port} sent {expect.get(port, 0) + n} (expected {expect.get(port, 0)})"
            for port, n in extra.items())

        outputs = {port: self.monitors[port].take() for port in expect}
        return outputs, int(dut.cycles.value)

    async def _wait_done(self):
        if not int(self.dut.done.value):
            await RisingEdge(self.dut.done)

    def _timeout_report(self, inputs, expect, timeout_cycles):
        lines = [f"{timeout_message(timeout_cycles)} "
                 f"(running={int(self.dut.running.value)}, done={int(self.dut.done.value)}, "
                 f"cycles={int(self.dut.cycles.value)})"]
        for port, vectors in inputs.items():
            pending = self.drivers[port].pending()
            lines.append(f"  in{port}: {len(vectors) - pending} of {len(vectors)} vectors "
                         f"put on the bus")
        for port, count in expect.items():
            got = len(self.monitors[port].vectors) + self.monitors[port].unexpected()
            lines.append(f"  out{port}: {got} of {count} vectors arrived")
        return "\n".join(lines)
