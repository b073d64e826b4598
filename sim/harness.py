"""A fast way to simulate the fabric: a C++ program drives the Verilator model, cycle by
cycle, with no Python in the loop.

:class:`Harness` is a :class:`sim.build.FabricBuild` that builds and runs the *harness*:
``harness_main.cpp`` (shipped beside this module) linked with the Verilator model of
the fabric's Verilog (``terrazzo_fabric``) that the cocotb testbench runs.
:meth:`Harness.run` and :meth:`Harness.run_sections` take the same arguments as those
of :class:`sim.runner.Runner` (less ``wave``; plus ``dram_latency``, and for ``run``
``ideal_cycles`` and ``progress``), check them the same way
(:func:`sim.job.check_sections`, :func:`sim.job.check_dram`), return the same
:class:`sim.job.SimResult` / :class:`sim.job.SectionsResult` and fail with the same
messages. It drives the fabric by the same cycle-level stimulus contract as the
cocotb testbench (:mod:`sim.testbench`; docs/simulation.md, "Stimulus"), so for the
same bitstream, inputs, ``idle``, ``backpressure`` and ``seed`` both give the same
outputs and the same ``cycles`` (with DRAM ports: the same outputs and memory, but not
the same cycles, since the harness's memory model answers with other timing than
cocotbext-axi's ``AxiRam``; see "DRAM ports" below). The harness runs about eight
times as many cycles per second (on ``small`` about 27,000 per second of process CPU
time on long runs against cocotb's 3,100; ``bench/run.py speed``), since cocotb spends a
fraction of a millisecond of Python on every cycle; the harness program itself starts in
about 10 ms.

What the harness does
---------------------
1. Reset: every ``tvalid``, ``start`` and every output's ``tready`` low, ``rst`` high
   for four rising edges, released at the following falling edge.
2. Configuration: from that falling edge the bitstream's words go out on ``cfg``, one
   per cycle while ``cfg_tready`` is high, ``tlast`` with the last. The phase ends at the
   first falling edge at which ``cfg_error`` is non-zero, or ``configured`` is high and
   every word has gone. A rejected bitstream (or a ``configure_only`` job) runs for
   ``words + 64`` more cycles, so that a loader which configures anyway shows it in
   ``configured``. No verdict within ``words + 1000`` cycles without progress fails.
3. Start: ``start`` high for one cycle; ``running`` must then be high.
4. Data: each data cycle, one pause draw per endpoint (``in0 .. in{n-1}``, then
   ``out0 .. out{m-1}``, from the splitmix64 streams of :mod:`sim.stimulus`); a source
   with a vector left offers it unless it pauses, a sink's ``tready`` is low when it
   pauses; a beat moves when ``tvalid`` and ``tready`` are both high at the rising edge.
   The run is complete at the first falling edge at which every expected port has its
   vectors and ``done`` is high (``sim_cycles`` counts the data cycles until then, and
   ``wall_seconds`` their wall time); it then goes on for ``2 * (n + m) + 16`` cycles
   watching for vectors beyond those expected. ``cycles`` is the fabric's ``cycles``
   port at the end. Writes happen at falling edges; the model is evaluated after them,
   the handshakes read, then the clock rises (an ``eval()``) and falls. Nothing in the
   fabric is sensitive to the falling edge, so the next cycle's ``eval()`` settles it
   together with that cycle's writes: the same states as an ``eval()`` of its own, in
   two evaluations per cycle instead of three.

DRAM ports
----------
A fabric with ``dram_ports`` > 0 gets, when the job gives a memory, an AXI4 subordinate
per DRAM port, all over that one word array (word 0 at byte address 0, for every port:
byte address ``a`` of port ``k`` is word ``a // 4``, as DRAM behind an interconnect).
Their inputs are 0 during the reset, like every other input, and they run from the first
configuration cycle on, by the same discipline: they write their inputs at the falling
edges with the stimulus, read the handshakes after the ``eval()``, and a transfer
happens when ``valid`` and ``ready`` are both high then. Ports are served in port order
within a cycle (a read offered in a cycle sees the writes of the cycles before it).
``arready``, ``awready`` and ``wready`` are always high, and any number of bursts may
be outstanding. Read bursts are answered in order (``rid`` 0): the first beat is offered
``dram_latency`` (default :data:`DRAM_LATENCY`) cycles after the cycle of the AR
handshake (1 would be the next cycle), then one beat per cycle while ``rready`` is high,
``rlast`` with the last, ``rresp`` 0. W beats are buffered until their AW has arrived
and written byte by byte under ``wstrb``; a burst's beat count comes from ``awlen``
(``wlast`` is not checked), and its B (``bid`` 0, ``bresp`` 0) is offered
``dram_latency`` cycles after the cycle of its last W beat (or of its AW, if that came
last). A burst's beats follow the beat that holds its address. A burst that is not INCR
(``*burst`` 1) of full-width beats (``*size`` = log2 of the bytes per beat), or any of
whose bytes lies outside the memory, is answered with SLVERR (2): every beat of a read,
with data 0, or the B of a write, and changes nothing. Without a memory the ports keep
their inputs at 0, like the cocotb testbench's. The memory at the end of the run goes
into the result; the DRAM model is compiled only for fabrics with DRAM ports.

Sections
--------
:meth:`Harness.run_sections` runs several bitstreams in one harness process: the reset
once, then per section the configuration (2), start (3) and data (4) phases above, on
the model as the previous section left it, the DRAM memory and the DRAM models' state
included. Before each section after the first, every input's ``tvalid`` and every
output's ``tready`` go low at the falling edge at which its bitstream begins. Section
``i`` draws its pauses from the streams of endpoint ``e + i * SECTION_STRIDE``
(:func:`sim.job.section_endpoint`), so section 0 is exactly a run of one bitstream. The
first section that does not end ok (a refused bitstream, a timeout, surplus vectors, a
fabric that does not start) is the last. :meth:`Harness.run` is the case of one section.

With ``progress=True`` the harness prints a line to the standard error about twice a
second, ``\\r  cycle N (P% of ideal), R cycles/s`` (no percentage when ``ideal_cycles``
is 0), and a newline at the end.

The build
---------
The harness runs the very model the cocotb testbench runs: :meth:`Harness.build` first
builds (or finds cached) the fabric's Verilator model as :class:`sim.runner.Runner`
does (``<fabric dir>/verilator/``, with its :class:`sim.verilator.VerilatorConfig`:
only the ports public, per-cycle C++ at ``-O2``), then compiles ``harness_main.cpp``
and links it with that model's objects (the model library ``<prefix>__ALL.a`` and
Verilator's run-time objects ``verilated*.o``, leaving out cocotb's ``main``), in
``<fabric dir>/harness/`` (a suffix such as ``-O0`` for another
:class:`~sim.verilator.VerilatorConfig`). That takes a few seconds once the model
exists. The folder holds a copy of ``harness_main.cpp``, the generated
``harness_ports.h`` (``TZ_LANES``, ``TZ_IO_IN``, ``TZ_IO_OUT``, ``TZ_DRAM_PORTS``, the
X-macros ``TZ_IN_PORTS(X)`` / ``TZ_OUT_PORTS(X)`` / ``TZ_DRAM_LIST(X)`` listing the port
numbers, read from the Verilog's port list, ``TZ_DRAM_BEAT`` (the fabric's
``dram_beat``, 0 without DRAM ports) and ``TzModel``, the model's class, so the C++ is
the same for every fabric), ``build.log`` and the executable ``harness``. The program
is compiled with :data:`CXXFLAGS` and nothing tuned to the build machine (no
``-march=native``), so a cached build can be shared. The build is reused while its
``built.json`` matches: the model's own ``built.json`` (which names the Verilog's
SHA-256 and the model's configuration), the SHA-256 of ``harness_main.cpp`` and the
flags; it holds the lock file ``<fabric dir>/.harness<suffix>.lock`` meanwhile.

Each run gets a directory ``<fabric dir>/runs/harness-XXXX`` with ``job.bin``,
``dram.bin`` (the initial DRAM memory, when the run has one, raw little-endian 32-bit
words), ``result.bin`` and ``harness.log`` (the program's output), removed after a
passing run and kept after a failure (``<build dir>/harness job.bin result.bin`` in it
runs it again).

The job and result files and the generated header ``harness_ports.h`` are
:mod:`sim.harness_files`.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from .build import FabricBuild, SimulationError, log_tail
from .job import (FAILURES, JobError, SectionsResult, SimResult, check_dram,
                  check_probability, check_sections, check_seed, timeout_message)
from .harness_files import (DRAM_LATENCY, STATUS, ports_header, read_result,
                            write_job)
from .verilator import verilator_bin

__all__ = ["Harness", "HARNESS_SOURCE", "CXXFLAGS", "STATUS", "DRAM_LATENCY"]

HARNESS_SOURCE = Path(__file__).resolve().with_name("harness_main.cpp")
EXECUTABLE = "harness"
#: How ``harness_main.cpp`` is compiled (the model is compiled as cocotb's build does).
CXXFLAGS = ["-O2"]


class Harness(FabricBuild):
    """Builds and runs the C++ harness of one fabric.

    Parameters
    ----------
    params : FabricParams or str
        The fabric (a preset name or TOML path is loaded with
        :func:`hw.params.load_fabric`).
    build_root : path
        Where generated Verilog, builds and run directories go.
    verilator_config : VerilatorConfig or None
        How the Verilator model is built (default: :class:`VerilatorConfig()`); the
        harness links with the cocotb testbench's model of that configuration.

    Members
    -------
    dir : Path
        ``<build_root>/<params hash[:12]>``, the fabric's folder (shared with
        :class:`sim.runner.Runner`).
    build_seconds : dict
        Build name (``"verilator"``, ``"harness"``, plus the configuration's suffix) ->
        seconds its build took in this process (absent when an existing build was
        reused).
    """

    def __init__(self, params, build_root="build", verilator_config=None):
        super().__init__(params, sim="verilator", build_root=build_root,
                         verilator_config=verilator_config)

    @property
    def name(self):
        return "harness" + self.verilator_config.suffix

    def build(self):
        """Build the harness unless a finished build for the same model, source and
        flags exists (building the model first, unless it is cached).

        Returns
        -------
        Path
            The build directory (the executable is ``harness`` in it).

        Raises
        ------
        SimulationError
            If Verilator or the compiler fails (with the end of the build log).
        """
        model = super().build()
        source = HARNESS_SOURCE.read_bytes()
        key = {"kind": "harness", "model": json.loads((model / "built.json").read_text()),
               "source": hashlib.sha256(source).hexdigest(), "cxxflags": CXXFLAGS}
        return self._cached(self.name, key,
                            lambda build_dir: self._link(build_dir, model, source))

    def _link(self, build_dir, model, source):
        classes = sorted(model.glob("*_classes.mk"))
        if len(classes) != 1:
            raise SimulationError(f"no Verilated model in {model} (expected one "
                                  f"*_classes.mk, found {len(classes)})")
        prefix = classes[0].name[:-len("_classes.mk")]
        settings = dict(re.findall(r"^(VM_\w+) = (\d+)\s*$", classes[0].read_text(), re.M))
        defines = ["-DVERILATOR=1", "-DVM_SC=0"] + [
            f"-D{name}={settings.get(name, '0')}"
            for name in ("VM_COVERAGE", "VM_TIMING", "VM_TRACE", "VM_TRACE_FST",
                         "VM_TRACE_VCD", "VM_TRACE_SAIF")]
        objects = sorted(model.glob("verilated*.o")) + [model / f"{prefix}__ALL.a"]
        main = build_dir / HARNESS_SOURCE.name
        main.write_bytes(source)
        # Everything the header depends on is in the key already: the Verilog's port
        # list (the model's key), lanes and dram_beat (the fabric's folder).
        verilog = self.verilog().read_text()
        (build_dir / "harness_ports.h").write_text(
            ports_header(verilog, self.lanes, prefix, self.params.dram_beat))
        include = verilator_bin().parent / "include"
        cmd = [os.environ.get("CXX", "c++"), *CXXFLAGS, f"-I{build_dir}", f"-I{model}",
               f"-I{include}", f"-I{include / 'vltstd'}", *defines, str(main),
               *map(str, objects), "-pthread", "-o", str(build_dir / EXECUTABLE)]
        log = build_dir / "build.log"
        with open(log, "w") as f:
            f.write("$ " + " ".join(cmd) + "\n")
            f.flush()
            try:
                code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                                      cwd=build_dir).returncode
            except OSError as e:
                code = f"not run: {e}"
        if code or not (build_dir / EXECUTABLE).exists():
            raise SimulationError(f"harness build of fabric {self.params.name!r} failed "
                                  f"(the compiler exited with code {code}); log "
                                  f"{log}:\n{log_tail(log)}")

    def run(self, bitstream, inputs, expect, *, idle=0.0, backpressure=0.0, seed=0,
            timeout_cycles=None, configure_only=False, dram=None, ideal_cycles=0,
            progress=False, dram_latency=DRAM_LATENCY):
        """Load ``bitstream``, start the fabric, stream ``inputs`` in and collect
        ``expect`` vectors out, in the harness (built on first use): :meth:`run_sections`
        of one section.

        Parameters
        ----------
        bitstream, inputs, expect, idle, backpressure, seed, timeout_cycles, configure_only
            As for :meth:`sim.runner.Runner.run`.
        dram : array or None
            The DRAM memory, as for :meth:`sim.runner.Runner.run`
            (:func:`sim.job.check_dram`): every DRAM port is the harness's DRAM model
            over it (module docstring, "DRAM ports"), and the result's ``dram`` is the
            memory at the end.
        dram_latency : int
            Cycles from an AR handshake to its first beat, and from a burst's last W beat
            to its B, in the DRAM model (1 to 65535; default :data:`DRAM_LATENCY`): a
            slower memory.
        ideal_cycles : int
            The run's ideal cycle count, for the progress lines (0: unknown).
        progress : bool
            Print progress lines to the standard error while the fabric runs.

        Returns
        -------
        SimResult
            If the bitstream is rejected, ``cfg_error`` is its code, ``cycles`` -1 and
            ``outputs`` empty (likewise with ``configure_only``); ``dram`` is the memory,
            whether or not the fabric ran.

        Raises
        ------
        JobError
            For bad arguments (the message quotes them).
        SimulationError
            If the build or the simulation fails (timeout, wrong vector count, the fabric
            not starting), with the same messages as the cocotb testbench, naming the run
            directory, which is kept.
        """
        result = self._run([(bitstream, inputs, expect)], dram=dram, idle=idle,
                           backpressure=backpressure, seed=seed,
                           timeout_cycles=timeout_cycles, dram_latency=dram_latency,
                           configure_only=configure_only, ideal_cycles=ideal_cycles,
                           progress=progress)
        section, = result.sections
        if section.status in FAILURES:
            raise SimulationError(f"harness simulation failed (run directory "
                                  f"{result.run_dir}):\n{section.message}")
        return replace(section, dram=result.dram)

    def run_sections(self, sections, *, dram=None, idle=0.0, backpressure=0.0, seed=0,
                     timeout_cycles=None, dram_latency=DRAM_LATENCY, progress=False):
        """Run several bitstreams one after the other in one harness process, as
        :meth:`sim.runner.Runner.run_sections` does under cocotb (module docstring,
        "Sections"): reset once, then per section load, start, stream; the DRAM memory
        persists.

        Parameters
        ----------
        sections, dram, idle, backpressure, seed, timeout_cycles
            As for :meth:`sim.runner.Runner.run_sections`.
        dram_latency, progress
            As for :meth:`run` (a progress line per section).

        Returns
        -------
        SectionsResult
            A :class:`SimResult` per section that ran, the last being the one that ended
            the run early if one did (status ``"cfg_error"`` or one of
            :data:`sim.job.FAILURES`, with the report as its ``message``); ``dram`` is the
            memory at the end; ``run_dir`` the kept run directory after a failure.

        Raises
        ------
        JobError
            For bad arguments (with several sections the message begins ``section i: ``).
        SimulationError
            If the build fails or the harness cannot run the job.
        """
        return self._run(sections, dram=dram, idle=idle, backpressure=backpressure,
                         seed=seed, timeout_cycles=timeout_cycles,
                         dram_latency=dram_latency, configure_only=False, ideal_cycles=0,
                         progress=progress)

    def _run(self, sections, *, dram, idle, backpressure, seed, timeout_cycles,
             dram_latency, configure_only, ideal_cycles, progress):
        idle = check_probability("idle", idle)
        backpressure = check_probability("backpressure", backpressure)
        seed = check_seed("seed", seed)
        sections = check_sections(self.params, sections, timeout_cycles, idle, backpressure)
        dram = check_dram(self.params, dram)
        if not isinstance(ideal_cycles, (int, np.integer)) or isinstance(ideal_cycles, bool) \
                or not 0 <= ideal_cycles < 2**63:
            raise JobError(f"ideal_cycles must be a non-negative integer, not "
                           f"{ideal_cycles!r}")
        if not isinstance(dram_latency, (int, np.integer)) or isinstance(dram_latency, bool) \
                or not 1 <= dram_latency <= 0xFFFF:
            raise JobError(f"dram_latency must be an integer in [1, 65535], not "
                           f"{dram_latency!r}")
        for name, value in (("configure_only", configure_only), ("progress", progress)):
            if not isinstance(value, (bool, np.bool_)):
                raise JobError(f"{name} must be True or False, not {value!r}")

        build_dir = self.build()
        runs = self.dir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="harness-", dir=runs))
        job, result_file, log = run_dir / "job.bin", run_dir / "result.bin", run_dir / "harness.log"
        write_job(job, lanes=self.lanes, io_in=self.params.io_in, io_out=self.params.io_out,
                  sections=sections, idle=idle, backpressure=backpressure, seed=seed,
                  configure_only=configure_only, ideal_cycles=int(ideal_cycles), dram=dram,
                  dram_latency=int(dram_latency))
        cmd = [str(build_dir / EXECUTABLE), str(job), str(result_file)]
        with open(log, "w") as f:
            code = subprocess.run(cmd + (["--progress"] if progress else []),
                                  stdin=subprocess.DEVNULL, stdout=f,
                                  stderr=None if progress else subprocess.STDOUT).returncode
        where = f"(run directory {run_dir})"
        try:
            r = read_result(result_file) if code == 0 else None
        except (OSError, ValueError) as e:
            raise SimulationError(f"harness simulation wrote no readable result ({e}) "
                                  f"{where}; end of log:\n{log_tail(log)}") from None
        if r is None:
            raise SimulationError(f"harness simulation exited with code {code} {where}; "
                                  f"end of log:\n{log_tail(log)}")
        if not 0 < len(r.sections) <= len(sections) or any(
                STATUS.get(x.status) is None for x in r.sections):
            raise SimulationError(f"harness simulation reported {len(r.sections)} sections "
                                  f"of {len(sections)} or an unknown status {where}")
        results = tuple(self._section(x, s, configure_only)
                        for x, s in zip(r.sections, sections))
        if any(x.status in FAILURES for x in results):
            return SectionsResult(results, r.dram, run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        return SectionsResult(results, r.dram)

    @classmethod
    def _section(cls, r, section, configure_only):
        """The :class:`SimResult` of section result ``r`` of ``section``."""
        status = STATUS[r.status]
        started = status in ("ok", "timeout", "too many vectors") and not configure_only
        return SimResult(outputs={port: r.kept[port] for port in sorted(section.expect)}
                         if started else {},
                         cycles=r.cycles if started else -1, cfg_error=r.cfg_error,
                         configured=bool(r.configured),
                         sim_cycles=r.sim_cycles if started else 0,
                         wall_seconds=r.wall_seconds if started else 0.0,
                         status=status, message=cls._failure(r, section) or "")

    @staticmethod
    def _failure(r, section):
        """The failure message of section result ``r`` in the cocotb testbench's words,
        or None for a section that passed (or whose bitstream was rejected)."""
        status = STATUS.get(r.status)
        inputs, expect = section.inputs, section.expect
        if status in ("ok", "cfg_error"):
            return None
        if status == "config timeout":
            n = len(section.bitstream) // 4
            return (f"the fabric was neither configured nor reported a cfg_error within "
                    f"{n + 1000} cycles after the {n}-word bitstream "
                    f"({'all' if r.words_taken == n else f'{r.words_taken} of {n}'} words "
                    f"accepted)")
        if status == "not configured":
            return "run() needs a configured fabric"
        if status == "did not start":
            return f"the fabric did not start (configured={r.configured}, done={r.done})"
        if status == "timeout":
            lines = [f"{timeout_message(section.timeout_cycles)} (running={r.running}, "
                     f"done={r.done}, cycles={r.cycles})"]
            lines += [f"  in{port}: {r.sent[port]} of {len(inputs[port])} vectors put on "
                      f"the bus" for port in sorted(inputs)]
            lines += [f"  out{port}: {r.arrived[port]} of {expect[port]} vectors arrived"
                      for port in sorted(expect)]
            return "\n".join(lines)
        # too many vectors
        return "more vectors than expected: " + ", ".join(
            f"out{port} sent {n} (expected {expect.get(port, 0)})"
            for port, n in enumerate(r.arrived) if n > expect.get(port, 0))
