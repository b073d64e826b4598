"""cocotb 2.x testbench of the fabric top (``terrazzo_fabric``).

The fabric's streams are AXI4-Stream ports with flat names (``cfg_t*``, ``in{k}_t*``,
``out{k}_t*``; see ``docs/hardware.md``). This testbench drives them itself, cycle by
cycle, by the stimulus contract of docs/simulation.md ("Stimulus"), which the C++
harness (:mod:`sim.harness`) follows too, so both give the same outputs and the same
``cycles`` for the same run:

* the testbench writes only at falling clock edges, then waits for the design to settle
  (``ReadOnly``) and reads what the next rising edge will sample: a beat moves when
  ``tvalid`` and ``tready`` both read high then;
* one coroutine moves every port: per data cycle it draws one pause decision per
  endpoint (:class:`sim.stimulus.PauseStream`), offers each input port's next vector
  unless it pauses, holds each output port's ``tready`` low when it pauses, and
  reads the handshakes. The Python work per cycle is a few signal accesses per port.

* :class:`VectorDriver` holds the vectors of one input port;
* :class:`VectorMonitor` collects the vectors of one output port;
* :class:`FabricTestbench` owns the clock, the reset, the configuration stream and a
  driver and a monitor per port, and runs a configured fabric on a set of tensors, or
  the sections of a job one after the other (:meth:`FabricTestbench.run_section`).

A run that cannot go on raises :class:`SectionFailure`, an ``AssertionError`` that
names its :data:`sim.job.STATUSES` status.

Only importable inside a cocotb simulation.
"""

import time

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from hw.layouts import WORD
from sim.job import SimResult, check_probability, section_endpoint, timeout_message
from sim.stimulus import PauseStream, endpoint_id

__all__ = ["FabricTestbench", "VectorDriver", "VectorMonitor", "SectionFailure",
           "CLOCK_PERIOD_NS", "WORD", "tail_cycles"]

CLOCK_PERIOD_NS = 10


def tail_cycles(n_in, n_out):
    """Cycles a run goes on after it is complete, watching for vectors beyond those
    expected (words still in flight on the switches would show up within a few hops)."""
    return 2 * (n_in + n_out) + 16


def _pauses(probability, key):
    """An endless seeded stream of pause decisions (True: pause) of ``probability``."""
    import random
    rng = random.Random(key)
    while True:
        yield rng.random() < probability


class SectionFailure(AssertionError):
    """A run (or section) that cannot go on; ``status`` is its :data:`sim.job.STATUSES`
    entry and the message the report."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _port_count(dut, prefix, signal="_tdata"):
    count = 0
    while True:
        try:
            getattr(dut, f"{prefix}{count}{signal}")
        except AttributeError:
            return count
        count += 1


class VectorDriver:
    """The vectors one input port ``in{port}`` is to send, and how many it has sent.

    Parameters
    ----------
    dut : the ``terrazzo_fabric`` handle
    port : int
    pauses : PauseStream
        Its idle pattern.
    """

    def __init__(self, dut, port, pauses):
        self.name = f"in{port}"
        self.tdata = getattr(dut, f"{self.name}_tdata")
        self.tvalid = getattr(dut, f"{self.name}_tvalid")
        self.tready = getattr(dut, f"{self.name}_tready")
        self.tlast = getattr(dut, f"{self.name}_tlast")
        self.pauses = pauses
        self.words = []          # each vector as one integer, lane 0 in the low word
        self.sent = 0
        self.valid = 0           # what tvalid was last written as

    def begin(self, pauses):
        """Forget the vectors of an earlier run; draw the idle pattern from ``pauses``."""
        self.pauses = pauses
        self.words, self.sent = [], 0

    def send(self, vectors):
        """Queue every row of ``vectors`` (``(n, lanes)`` int32)."""
        rows = np.ascontiguousarray(vectors, dtype="<i4").view("<u4")
        self.words.extend(int.from_bytes(row.tobytes(), "little") for row in rows)

    def pending(self):
        """Vectors queued but not yet accepted by the fabric."""
        return len(self.words) - self.sent


class VectorMonitor:
    """The vectors output port ``out{port}`` has sent.

    Parameters
    ----------
    dut : the ``terrazzo_fabric`` handle
    port : int
    lanes : int
    pauses : PauseStream
        Its backpressure pattern.

    Members
    -------
    vectors : list
        Received vectors, in order, each as one integer (lane 0 in the low word).
    """

    def __init__(self, dut, port, lanes, pauses):
        self.name = f"out{port}"
        self.lanes = lanes
        self.tdata = getattr(dut, f"{self.name}_tdata")
        self.tvalid = getattr(dut, f"{self.name}_tvalid")
        self.tready = getattr(dut, f"{self.name}_tready")
        self.pauses = pauses
        self.vectors = []
        self.ready = 0           # what tready was last written as

    def begin(self, pauses):
        """Forget the vectors of an earlier run; draw the backpressure pattern from
        ``pauses``."""
        self.pauses = pauses
        self.vectors = []

    def take(self, count):
        """The first ``count`` collected vectors as an ``(n, lanes)`` int32 array."""
        data = b"".join(v.to_bytes(self.lanes * 4, "little") for v in self.vectors[:count])
        return np.frombuffer(data, dtype="<i4").reshape(-1, self.lanes).astype(np.int32)


class FabricTestbench:
    """Drives one ``terrazzo_fabric`` instance.

    Parameters
    ----------
    dut : the ``terrazzo_fabric`` handle
    lanes : int
        Lanes of the fabric; checked against the width of ``in0_tdata``.
    seed : int
        Seeds the idle and backpressure patterns (one stream per port and section,
        derived from ``seed``, the port and the section, so adding a port does not change
        the others; :func:`sim.job.section_endpoint`).
    idle : float
        Probability of an idle cycle on each input port, in ``[0, 1)``.
    backpressure : float
        Probability of ``tready`` low on each output port, in ``[0, 1)``.

    Members
    -------
    data_cycles : int
        Data cycles of the last :meth:`run`, from the first after the start pulse until
        the run was complete.
    data_seconds : float
        Wall-clock time of those cycles.

    Starts the clock at once; call :meth:`reset` (or let :meth:`load_bitstream` do it)
    before anything else.

    Raises
    ------
    ValueError
        For a probability out of range or a lane count the design does not have.
    """

    def __init__(self, dut, lanes, *, seed=0, idle=0.0, backpressure=0.0):
        self.idle = check_probability("idle", idle)
        self.backpressure = check_probability("backpressure", backpressure)
        self.seed = seed
        self.dut = dut
        self.lanes = lanes
        self.n_in = _port_count(dut, "in")
        self.n_out = _port_count(dut, "out")
        self.n_dram = _port_count(dut, "dram", "_araddr")
        width = len(dut.in0_tdata)
        if width != lanes * WORD:
            raise ValueError(f"lanes is {lanes!r} but in0_tdata is {width} bits wide "
                             f"({width // WORD} lanes)")
        self.drivers = {k: VectorDriver(dut, k, self._pauses("in", k, 0))
                        for k in range(self.n_in)}
        self.monitors = {k: VectorMonitor(dut, k, lanes, self._pauses("out", k, 0))
                         for k in range(self.n_out)}
        self.data_cycles, self.data_seconds = 0, 0.0
        self.memory = None
        self._reset_done = False
        self._quiet()
        dut.rst.value = 1
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()

    def _pauses(self, kind, port, section):
        """The pause stream of endpoint ``kind``/``port`` in section ``section``."""
        p = self.idle if kind == "in" else self.backpressure
        return PauseStream(self.seed, section_endpoint(endpoint_id(kind, port), section), p)

    def _quiet(self):
        dut = self.dut
        dut.start.value = 0
        dut.cfg_tvalid.value = 0
        dut.cfg_tlast.value = 0
        dut.cfg_tdata.value = 0
        for d in self.drivers.values():
            d.tlast.value = 1       # the fabric ignores tlast on data inputs
            d.tdata.value = 0
        self.quiet_streams()
        # the AXI4 inputs of DRAM ports stay quiet until attach_dram (without memory,
        # for good: the units are off)
        for k in range(self.n_dram):
            for name in ("arready", "rdata", "rresp", "rlast", "rvalid", "rid", "awready",
                         "wready", "bresp", "bvalid", "bid"):
                getattr(dut, f"dram{k}_{name}").value = 0

    def quiet_streams(self):
        """``tvalid`` of every input port and ``tready`` of every output port low (at a
        falling edge: between sections)."""
        for d in self.drivers.values():
            d.tvalid.value = d.valid = 0
        for m in self.monitors.values():
            m.tready.value = m.ready = 0

    def attach_dram(self, memory, *, stall=0.0, seed=0, latency=0):
        """Serve every DRAM port ``dram{k}_*`` with a cocotbext-axi ``AxiRam``, all over
        one memory: ``memory`` (uint32 words from byte address 0), so byte address ``a``
        of any port is word ``a // 4``. The RAMs answer from then on; :meth:`read_dram`
        gives the memory. With ``stall``, each of a RAM's five channels pauses in a cycle
        with that probability (a pattern seeded by ``seed``, the port and the channel,
        running on through every section). With ``latency``, a RAM waits that many
        cycles after taking a read burst's address before it serves the burst (one
        burst at a time, so a slower memory)."""
        from cocotbext.axi import AxiBus, AxiRam
        from cocotbext.axi.sparse_memory import SparseMemory
        words = np.asarray(memory, dtype="<u4")
        self.memory = SparseMemory(4 * len(words))
        self.memory.write(0, words.tobytes())
        self.rams = {}
        for port in range(self.n_dram):
            ram = AxiRam(AxiBus.from_prefix(self.dut, f"dram{port}"), self.dut.clk,
                         self.dut.rst, size=len(self.memory), mem=self.memory)
            if stall:
                channels = {"ar": ram.read_if.ar_channel, "r": ram.read_if.r_channel,
                            "aw": ram.write_if.aw_channel, "w": ram.write_if.w_channel,
                            "b": ram.write_if.b_channel}
                for name, channel in channels.items():
                    channel.set_pause_generator(_pauses(stall, f"{seed}/dram{port}/{name}"))
            if latency:
                _delay_reads(ram.read_if, self.dut.clk, latency)
            self.rams[port] = ram

    def read_dram(self):
        """The DRAM memory now (uint32 words), or None without :meth:`attach_dram`."""
        if self.memory is None:
            return None
        return np.frombuffer(self.memory.read(0, len(self.memory)),
                             dtype="<u4").astype(np.uint32)

    async def reset(self, cycles=4):
        """Hold ``rst`` for ``cycles`` rising edges with every stream quiet; returns at
        the falling edge at which ``rst`` is released."""
        self._quiet()
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self._reset_done = True

    async def load_bitstream(self, words, timeout_cycles=None):
        """Send a bitstream on ``cfg`` (``tvalid`` high every cycle until the last word,
        which carries ``tlast``, is taken) and wait for the loader's verdict. Returns at
        a falling edge. A configured fabric that has finished a run takes a new
        bitstream the same way (reconfiguration, no reset).

        Parameters
        ----------
        words : bytes
            Little-endian 32-bit words.
        timeout_cycles : int or None
            Cycles to wait without progress (no word taken, no verdict) before giving up
            (default: the word count plus 1000).

        Returns
        -------
        int
            ``cfg_error`` (0 when the fabric is configured).

        Raises
        ------
        ValueError
            If ``words`` is empty or not a whole number of words.
        SectionFailure
            ``"config timeout"``: if neither ``configured`` nor ``cfg_error`` shows up in
            time.
        """
        words = bytes(words)
        if not words or len(words) % 4:
            raise ValueError(f"a bitstream is a non-empty sequence of 32-bit words, "
                             f"not {len(words)} bytes")
        if not self._reset_done:
            await self.reset()
        dut = self.dut
        values = np.frombuffer(words, dtype="<u4").tolist()
        n = len(values)
        if timeout_cycles is None:
            timeout_cycles = n + 1000
        taken = idle = 0
        while True:
            code = int(dut.cfg_error.value)
            if code or (taken == n and int(dut.configured.value)):
                dut.cfg_tvalid.value = 0
                dut.cfg_tlast.value = 0
                return code
            if idle > timeout_cycles:
                raise SectionFailure(
                    "config timeout",
                    f"the fabric was neither configured nor reported a cfg_error within "
                    f"{timeout_cycles} cycles after the {n}-word bitstream "
                    f"({'all' if taken == n else f'{taken} of {n}'} words accepted)")
            if taken < n:
                dut.cfg_tvalid.value = 1
                dut.cfg_tdata.value = values[taken]
                dut.cfg_tlast.value = int(taken == n - 1)
                await ReadOnly()
                if int(dut.cfg_tready.value):
                    taken += 1
                    idle = 0
                else:
                    idle += 1
            else:
                dut.cfg_tvalid.value = 0
                dut.cfg_tlast.value = 0
                idle += 1
            await FallingEdge(dut.clk)

    async def _step(self):
        """One data cycle from its falling edge: draw the pauses, drive, read the
        handshakes; returns at the next falling edge."""
        drivers, monitors = self.drivers.values(), self.monitors.values()
        for d in drivers:
            paused = d.pauses.next()
            valid = int(d.sent < len(d.words) and not paused)
            if valid:
                d.tdata.value = d.words[d.sent]
            if valid != d.valid:
                d.tvalid.value = d.valid = valid
        for m in monitors:
            ready = int(not m.pauses.next())
            if ready != m.ready:
                m.tready.value = m.ready = ready
        await ReadOnly()
        for d in drivers:
            if d.valid and int(d.tready.value):
                d.sent += 1
        for m in monitors:
            if m.ready and int(m.tvalid.value):
                m.vectors.append(int(m.tdata.value))
        await FallingEdge(self.dut.clk)

    async def run(self, inputs, expect, timeout_cycles, *, section=0):
        """Start the configured fabric and move whole tensors through it; call at the
        falling edge :meth:`load_bitstream` returned at.

        Parameters
        ----------
        inputs : dict
            Input port -> ``(vectors, lanes)`` int32 array; all ports are sent
            concurrently.
        expect : dict
            Output port -> number of vectors to collect.
        timeout_cycles : int
            Data cycles from start until every expected vector has arrived and ``done``
            is high.
        section : int
            The index of the section this run is (its idle and backpressure patterns).

        Returns
        -------
        (dict, int)
            Output port -> ``(vectors, lanes)`` int32 array, and the fabric's ``cycles``
            counter (start to done).

        Raises
        ------
        ValueError
            For a port the fabric does not have or a badly shaped input.
        SectionFailure
            If the fabric is not configured or does not start, on timeout (naming each
            port and how many vectors went in and came out) or when a port sends more
            than expected.
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

        if not int(dut.configured.value):
            raise SectionFailure("not configured", "run() needs a configured fabric")
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        if not int(dut.running.value):
            raise SectionFailure("did not start",
                                 f"the fabric did not start (configured="
                                 f"{int(dut.configured.value)}, done={int(dut.done.value)})")

        for port, d in self.drivers.items():
            d.begin(self._pauses("in", port, section))
        for port, m in self.monitors.items():
            m.begin(self._pauses("out", port, section))
        for port, vectors in inputs.items():
            self.drivers[port].send(vectors)
        wanted = [(self.monitors[port], count) for port, count in expect.items()]
        cycle, wall0 = 0, time.perf_counter()
        while not (all(len(m.vectors) >= count for m, count in wanted)
                   and int(dut.done.value)):
            if cycle == timeout_cycles:
                self.data_cycles, self.data_seconds = cycle, time.perf_counter() - wall0
                raise SectionFailure("timeout",
                                     self._timeout_report(inputs, expect, timeout_cycles))
            await self._step()
            cycle += 1
        self.data_cycles, self.data_seconds = cycle, time.perf_counter() - wall0
        for _ in range(tail_cycles(self.n_in, self.n_out)):
            await self._step()

        extra = {port: len(m.vectors) - expect.get(port, 0)
                 for port, m in self.monitors.items() if len(m.vectors) > expect.get(port, 0)}
        if extra:
            raise SectionFailure("too many vectors", "more vectors than expected: " + ", ".join(
                f"out{port} sent {expect.get(port, 0) + n} (expected {expect.get(port, 0)})"
                for port, n in extra.items()))
        return self.collected(expect), int(dut.cycles.value)

    def collected(self, expect):
        """Output port -> the vectors collected from it in the last :meth:`run`, at most
        ``expect[port]``."""
        return {port: self.monitors[port].take(count) for port, count in expect.items()}

    async def run_section(self, index, section, *, configure_only=False):
        """Run section ``index`` of a job (a :class:`sim.job.Section`): after the first,
        quiet the streams; load its bitstream; unless refused (or ``configure_only``),
        start the fabric and run its streams. Call at a falling edge (after
        :meth:`reset` or the previous section).

        Returns
        -------
        SimResult
            With its ``status`` (:data:`sim.job.STATUSES`) and, for a failure, the
            report as ``message``. A refused bitstream (or ``configure_only``) is watched
            for as many cycles as it has words and 64 more, so that ``configured`` shows
            a loader that configures anyway.
        """
        dut = self.dut
        if index:
            self.quiet_streams()
        try:
            cfg_error = await self.load_bitstream(section.bitstream)
        except SectionFailure as e:
            return SimResult(outputs={}, cycles=-1, cfg_error=int(dut.cfg_error.value),
                             configured=bool(int(dut.configured.value)), status=e.status,
                             message=str(e))
        if cfg_error or configure_only:
            await ClockCycles(dut.clk, len(section.bitstream) // 4 + 64)
            return SimResult(outputs={}, cycles=-1, cfg_error=cfg_error,
                             configured=bool(int(dut.configured.value)),
                             status="cfg_error" if cfg_error else "ok")
        try:
            outputs, cycles = await self.run(section.inputs, section.expect,
                                             section.timeout_cycles, section=index)
        except SectionFailure as e:
            started = e.status not in ("not configured", "did not start")
            return SimResult(outputs=self.collected(section.expect) if started else {},
                             cycles=int(dut.cycles.value) if started else -1,
                             cfg_error=0, configured=bool(int(dut.configured.value)),
                             sim_cycles=self.data_cycles if started else 0,
                             wall_seconds=self.data_seconds if started else 0.0,
                             status=e.status, message=str(e))
        return SimResult(outputs=outputs, cycles=cycles, cfg_error=0,
                         configured=bool(int(dut.configured.value)),
                         sim_cycles=self.data_cycles, wall_seconds=self.data_seconds)

    def _timeout_report(self, inputs, expect, timeout_cycles):
        lines = [f"{timeout_message(timeout_cycles)} "
                 f"(running={int(self.dut.running.value)}, done={int(self.dut.done.value)}, "
                 f"cycles={int(self.dut.cycles.value)})"]
        for port, vectors in inputs.items():
            pending = self.drivers[port].pending()
            lines.append(f"  in{port}: {len(vectors) - pending} of {len(vectors)} vectors "
                         f"put on the bus")
        for port, count in expect.items():
            lines.append(f"  out{port}: {len(self.monitors[port].vectors)} of {count} "
                         f"vectors arrived")
        return "\n".join(lines)


def _delay_reads(read_if, clk, latency):
    """Make cocotbext-axi read interface ``read_if`` wait ``latency`` rising edges of
    ``clk`` after each read address it takes, before the burst's first beat: its
    process takes an address, then sends the burst's beats, so the wait sits between
    the two."""
    channel = read_if.ar_channel
    take = channel.recv

    async def recv_late():
        ar = await take()
        await ClockCycles(clk, latency)
        return ar
    channel.recv = recv_late
