"""Run bitstreams on the fabric's Verilog in Verilator or Icarus.

:class:`Runner` is a :class:`sim.build.FabricBuild` (the cached Verilog and simulator
models under ``build/<hash[:12]>/``) that also runs: each :meth:`Runner.run` is one
simulator process, started through cocotb's Python runner, running the cocotb test
:mod:`sim.cocotb_fabric` on a job file (:mod:`sim.job`) in a fresh directory under
``build/<hash[:12]>/runs/`` (removed after a passing run, kept after a failure).
:meth:`Runner.run_sections` runs several bitstreams one after the other in one
simulation, over one DRAM memory; :meth:`Runner.run` is its case of one section.

The names of :mod:`sim.build` and :mod:`sim.job` that callers use are importable from
here as well.
"""

import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

from cocotb_tools.check_results import get_results

from .build import (PROJECT_ROOT, SIMULATORS, TIMESCALE, TOPLEVEL, WAVE_FORMATS,
                    FabricBuild, SimulationError, log_tail, verilator_bin)
from .job import (DEFAULT_MAX_CYCLES, FAILURES, JOB_ENV, RESULT_NAME, JobError,
                  SectionsResult, SimResult, check_dram, check_probability, check_sections,
                  check_seed, read_result, write_job)
# The build settings, importable from here as before they moved to sim.build.
from .build import (ICARUS_ARGS, ICARUS_DUMP, ICARUS_DUMP_TOP, VERILATOR_ARGS,
                    VERILATOR_MAKE_ARGS)

__all__ = ["Runner", "SimResult", "SectionsResult", "SimulationError", "SIMULATORS",
           "TOPLEVEL", "DEFAULT_MAX_CYCLES", "verilator_bin", "write_job", "read_result"]

TEST_MODULE = "sim.cocotb_fabric"



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


class Runner(FabricBuild):
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

    :meth:`verilog` and :meth:`build` are those of :class:`sim.build.FabricBuild`;
    :meth:`run` builds on first use.

    Raises
    ------
    JobError
        For an unknown simulator.
    """

    def run(self, bitstream, inputs, expect, *, idle=0.0, backpressure=0.0, seed=0,
            wave=None, timeout_cycles=None, configure_only=False, dram=None,
            dram_latency=0):
        """Load ``bitstream``, start the fabric, stream ``inputs`` in and collect
        ``expect`` vectors out: :meth:`run_sections` of one section.

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
            data size, idle and backpressure, at most :data:`DEFAULT_MAX_CYCLES`).
        configure_only : bool
            Only load the bitstream (for checking ``cfg_error``).
        dram : array or None
            The DRAM memory, 32-bit words from byte address 0 (:func:`sim.job.check_dram`),
            which every DRAM port serves (a cocotbext-axi ``AxiRam`` per port, all over
            this one memory); the result's ``dram`` is the memory at the end.
        dram_latency : int
            Cycles each ``AxiRam`` adds between taking a read burst's address and its
            first data beat, to model a slower memory (0: none). The RAM serves one
            burst at a time, so the cycles add up burst after burst (the harness's model
            overlaps them, up to the unit's reads in flight).

        Returns
        -------
        SimResult
            If the bitstream is rejected, ``cfg_error`` is its code and nothing runs.

        Raises
        ------
        JobError
            For bad arguments (the message quotes them).
        SimulationError
            If the build or the simulation fails (timeout, wrong vector count, crash),
            with the testbench's report or cocotb's failure message; the run directory,
            named in the message, is kept.
        """
        result = self._run([(bitstream, inputs, expect)], idle=idle, backpressure=backpressure,
                           seed=seed, wave=wave, timeout_cycles=timeout_cycles,
                           configure_only=configure_only, dram=dram,
                           dram_latency=dram_latency)
        section, = result.sections
        if section.status in FAILURES:
            raise SimulationError(f"{self.sim} simulation failed (run directory "
                                  f"{result.run_dir}):\n{section.message}")
        return replace(section, dram=result.dram)

    def run_sections(self, sections, *, dram=None, idle=0.0, backpressure=0.0, seed=0,
                     timeout_cycles=None, wave=None, dram_latency=0):
        """Run several bitstreams one after the other in one simulation: the fabric is
        reset once; then each section's bitstream is loaded into the fabric as the
        previous section left it, the fabric started, the section's inputs streamed in
        and its expected outputs collected. The DRAM memory persists from section to
        section.

        Parameters
        ----------
        sections : list
            ``(bitstream, inputs, expect)`` per section, each as :meth:`run` takes them.
        dram : array or None
            The DRAM memory at the start, as for :meth:`run`.
        idle, backpressure, seed
            As for :meth:`run`; section ``i`` has patterns of its own, fixed by ``seed``
            and ``i`` (:func:`sim.job.section_endpoint`), those of section 0 being the
            patterns of :meth:`run`.
        timeout_cycles : None, int or list
            As for :meth:`run`, for every section, or a list of one per section.
        wave : path or None
            As for :meth:`run`: one wave file of the whole run.
        dram_latency : int
            As for :meth:`run`.

        Returns
        -------
        SectionsResult
            A :class:`SimResult` per section that ran; a section whose bitstream is
            refused (status ``"cfg_error"``) or that fails (a timeout, surplus vectors,
            a fabric that does not start: :data:`sim.job.FAILURES`, with the report as
            its ``message``) ends the run and is the last. ``dram`` is the memory at the
            end; ``run_dir`` the kept run directory after a failure.

        Raises
        ------
        JobError
            For bad arguments (the message quotes them; with several sections it begins
            ``section i: ``).
        SimulationError
            If the build fails or the simulator crashes.
        """
        return self._run(sections, dram=dram, idle=idle, backpressure=backpressure, seed=seed,
                         timeout_cycles=timeout_cycles, wave=wave, configure_only=False,
                         dram_latency=dram_latency)

    def _run(self, sections, *, dram, idle, backpressure, seed, timeout_cycles, wave,
             configure_only, dram_latency=0):
        if (not isinstance(dram_latency, int) or isinstance(dram_latency, bool)
                or not 0 <= dram_latency <= 0xFFFF):
            raise JobError(f"dram_latency must be an integer in [0, 65535], not "
                           f"{dram_latency!r}")
        idle = check_probability("idle", idle)
        backpressure = check_probability("backpressure", backpressure)
        seed = check_seed("seed", seed)
        sections = check_sections(self.params, sections, timeout_cycles, idle, backpressure)
        dram = check_dram(self.params, dram)
        wave_format = None
        if wave is not None:
            wave = Path(wave).resolve()
            wave_format = wave.suffix[1:]
            if wave_format not in WAVE_FORMATS:
                raise JobError(f"wave file must end in .fst or .vcd, not {str(wave)!r}")
            wave.parent.mkdir(parents=True, exist_ok=True)

        build_dir = self.build(waves=wave_format)
        self._make_importable()
        runs = self.dir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=f"{self.sim}-", dir=runs))
        job = run_dir / "job.npz"
        write_job(job, lanes=self.lanes, sections=sections, idle=idle,
                  backpressure=backpressure, seed=seed, configure_only=configure_only,
                  dram=dram, dram_latency=dram_latency)

        self._simulate(build_dir, job, wave, wave_format)
        result = self._collect(run_dir)
        if any(s.status in FAILURES for s in result.sections):
            return replace(result, run_dir=run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        return result

    def _simulate(self, build_dir, job, wave, wave_format):
        """One simulator process running the test on ``job``; it writes ``results.xml``
        and ``sim.log`` (and the test ``result.npz``) beside the job."""
        run_dir = job.parent
        test_args, plusargs = [], []
        if wave is not None:
            if self.sim == "verilator":
                test_args = ["--trace-file", str(wave)]
            else:
                plusargs = [f"+terrazzo_wave={wave}"]
        try:
            self.cocotb_runner(wave_format).test(
                test_module=TEST_MODULE, hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=run_dir,
                results_xml=str(run_dir / "results.xml"), extra_env={JOB_ENV: str(job)},
                waves=wave is not None, timescale=TIMESCALE, log_file=run_dir / "sim.log",
                test_args=test_args, plusargs=plusargs)
        except SystemExit:
            # cocotb's runner exits when the simulator fails or, under pytest, when a
            # test fails; the results file says which.
            pass

    def _collect(self, run_dir):
        """The :class:`SectionsResult` of the run in ``run_dir``, or :class:`SimulationError`
        with cocotb's failure messages or the end of the simulator's log."""
        results = run_dir / "results.xml"
        log = run_dir / "sim.log"
        where = f"(run directory {run_dir})"
        try:
            tests, failed = get_results(results)
        except RuntimeError:
            raise SimulationError(f"{self.sim} simulation ended without results {where}; "
                                  f"end of log:\n{log_tail(log)}") from None
        if failed or tests == 0:
            messages = (_failure_messages(results)
                        or [f"no test ran; end of log:\n{log_tail(log)}"])
            raise SimulationError(f"{self.sim} simulation failed {where}:\n" +
                                  "\n".join(messages))
        result_file = run_dir / RESULT_NAME
        if not result_file.exists():
            raise SimulationError(f"{self.sim} simulation passed but wrote no result "
                                  f"{where}; end of log:\n{log_tail(log)}")
        return read_result(result_file)

    @staticmethod
    def _make_importable():
        # The simulator's Python gets this process's sys.path; an entry '' would name
        # the run directory there, so the project root is added by its absolute path.
        root = str(PROJECT_ROOT)
        if root not in sys.path:
            sys.path.append(root)
