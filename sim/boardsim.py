"""The board top in simulation: the host bridge and the fabric (:class:`hw.board.BoardCore`)
under cocotb and Verilator, with cocotbext-uart playing the host's serial port and the
host's own protocol code (:mod:`sim.hostlink`) on top of it.

:class:`BoardSim` builds and caches the model under ``<build_root>/<params
hash[:12]>-board<divisor>/`` (locked and stamped as :mod:`sim.build` does for the fabric
alone) and runs one :class:`BoardJob`: first each of its ``bad_frames`` (raw bytes, a
frame that must be refused) followed by a STATUS request, then, if it has a bitstream,
the whole program through :func:`sim.hostlink.program_steps`, exactly as
``terrazzo run --device`` drives a board. The cocotb side is :mod:`sim.cocotb_board`;
the job and its result travel as JSON files named by ``TERRAZZO_BOARD_JOB``.
"""

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.params import FabricParams, load_fabric
from .build import SimulationError, TIMESCALE, locked, write_atomic, log_tail
from .verilator import VERILATOR_ARGS, CocotbVerilator, VerilatorConfig, top_ports

__all__ = ["BoardSim", "BoardJob", "BoardResult", "BOARD_JOB_ENV", "CLOCK_NS", "DIVISOR"]

BOARD_JOB_ENV = "TERRAZZO_BOARD_JOB"
TEST_MODULE = "sim.cocotb_board"
#: The simulated board's clock period, and the bridge's bit time in clock cycles: a
#: fast link (12.5 Mbaud) keeps a bitstream's transfer to a few hundred thousand cycles.
CLOCK_NS = 10
DIVISOR = 8
#: Frame buffer words of the simulated bridge: enough for the bitstreams of small
#: programs (``program_steps`` refuses a longer one before sending it).
BUFFER_WORDS = 2048


@dataclass
class BoardJob:
    """What one simulation of the board does.

    ``bad_frames`` are sent first, one at a time, each answered and followed by a
    STATUS request; then ``bitstream`` (bytes, or None for none) is run with ``inputs``
    (input port -> ``(vectors, lanes)`` int32 array) and ``expect`` (output port ->
    vector count), as :func:`sim.hostlink.program_steps` does.
    """
    bad_frames: list = field(default_factory=list)
    bitstream: bytes = None
    inputs: dict = field(default_factory=dict)
    expect: dict = field(default_factory=dict)


@dataclass
class BoardResult:
    """``answers``: per bad frame, the ``(type, payload)`` of the bridge's answer and
    the status after it (:class:`sim.hostlink.Status` as a dict); ``outputs`` (output
    port -> int32 vectors) and ``cycles`` of the program, if one ran; ``error`` the
    :class:`sim.hostlink.LinkError` text if the program failed."""
    answers: list
    outputs: dict
    cycles: int
    error: str


class BoardSim:
    """The simulated board top of fabric ``params`` (a preset name, TOML path or
    :class:`~hw.params.FabricParams`)."""

    def __init__(self, params, build_root="build", divisor=DIVISOR,
                 buffer_words=BUFFER_WORDS):
        self.params = params if isinstance(params, FabricParams) else load_fabric(params)
        self.divisor = divisor
        self.buffer_words = buffer_words
        self.build_root = Path(build_root).resolve()
        self.dir = self.build_root / f"{self.params.hash[:12]}-board{divisor}"
        self.config = VerilatorConfig()
        self.build_seconds = None

    @property
    def baud(self):
        return 1e9 / (CLOCK_NS * self.divisor)

    def verilog(self):
        """The board top's Verilog text (top module ``terrazzo_board``)."""
        from hw.board import board_verilog
        return board_verilog(self.params, divisor=self.divisor,
                             buffer_words=self.buffer_words)

    def build(self):
        """The build directory of the Verilator model, built unless a finished build
        of the same Verilog exists. Raises :class:`~sim.build.SimulationError` if the
        build fails."""
        from hw.board import BOARD_TOPLEVEL
        text = self.verilog()
        key = {"verilog": hashlib.sha256(text.encode()).hexdigest(),
               "verilator": self.config.key()}
        build_dir = self.dir / "verilator"
        stamp = build_dir / "built.json"
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self.dir / ".verilator.lock"):
            if stamp.exists() and json.loads(stamp.read_text()) == key:
                return build_dir
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            source = build_dir / f"{BOARD_TOPLEVEL}.v"
            source.write_text(text)
            runner = CocotbVerilator()
            runner.config = self.config
            runner.ports = top_ports(text, BOARD_TOPLEVEL)
            log = build_dir / "build.log"
            start = time.perf_counter()
            try:
                runner.build(sources=[source], hdl_toplevel=BOARD_TOPLEVEL,
                             build_dir=build_dir, build_args=VERILATOR_ARGS,
                             timescale=TIMESCALE, always=True, log_file=log)
            except (RuntimeError, SystemExit) as e:
                raise SimulationError(f"verilator build of the board top of "
                                      f"{self.params.name!r} failed ({e}); log {log}:\n"
                                      f"{log_tail(log)}") from None
            self.build_seconds = time.perf_counter() - start
            write_atomic(stamp, json.dumps(key))
        return build_dir

    def run(self, job, run_dir):
        """Run ``job`` (a :class:`BoardJob`) in ``run_dir``; a :class:`BoardResult`.
        Raises :class:`~sim.build.SimulationError` when the simulation fails."""
        from hw.board import BOARD_TOPLEVEL
        build_dir = self.build()
        run_dir = Path(run_dir).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        if job.bitstream is not None:
            (run_dir / "bitstream.tzb").write_bytes(bytes(job.bitstream))
        np.savez(run_dir / "inputs.npz", **{f"port{p}": np.asarray(v, dtype=np.int32)
                                            for p, v in job.inputs.items()})
        spec = {"baud": self.baud, "clock_ns": CLOCK_NS,
                "bad_frames": [bytes(f).hex() for f in job.bad_frames],
                "bitstream": job.bitstream is not None,
                "expect": {str(p): int(n) for p, n in job.expect.items()}}
        path = run_dir / "job.json"
        path.write_text(json.dumps(spec))
        result = run_dir / "result.json"
        result.unlink(missing_ok=True)
        log = run_dir / "sim.log"
        try:
            CocotbVerilator().test(
                test_module=TEST_MODULE, hdl_toplevel=BOARD_TOPLEVEL,
                hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=run_dir,
                results_xml=str(run_dir / "results.xml"),
                extra_env={BOARD_JOB_ENV: str(path)}, timescale=TIMESCALE, log_file=log)
        except SystemExit:
            pass
        if not result.exists():
            raise SimulationError(f"the board simulation wrote no result (run directory "
                                  f"{run_dir}); log {log}:\n{log_tail(log)}")
        r = json.loads(result.read_text())
        outputs = {int(p): np.array(v, dtype=np.int64).astype(np.int32)
                   for p, v in r["outputs"].items()}
        return BoardResult([(kind, bytes.fromhex(payload), status)
                            for kind, payload, status in r["answers"]],
                           outputs, r["cycles"], r["error"])
