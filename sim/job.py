"""The files that carry one simulation between :class:`sim.runner.Runner` and the cocotb
test :mod:`sim.cocotb_fabric`, which runs in the simulator's own process.

The runner writes ``job.npz`` (:func:`write_job`) in a fresh run directory and names it
in the environment variable :data:`JOB_ENV`; the test reads it (:func:`read_job`), runs
the fabric and writes ``result.npz`` beside it (:func:`write_result`), which the runner
reads back (:func:`read_result`). Both are NumPy ``.npz`` archives of named arrays,
tagged with their format (:data:`JOB_FORMAT`, :data:`RESULT_FORMAT`).

A job is a list of *sections* (:class:`Section`): bitstreams run one after the other on
one fabric, reset once, with one DRAM memory (:func:`check_dram`) that every DRAM port
serves and that persists from section to section. A run of one bitstream is a job of
one section. Each section that ran gives a :class:`SimResult`; the whole run a
:class:`SectionsResult`.

:func:`check_probability` validates the two stimulus knobs a job carries, ``idle`` and
``backpressure``, and :func:`check_seed` its seed, wherever they enter;
:func:`check_run_args`, :func:`check_timeout` and :func:`check_sections` check the rest
of a run's arguments for every way of simulating (:class:`sim.runner.Runner`,
:class:`sim.harness.Harness`). A run that reaches its ``timeout_cycles`` reports
:func:`timeout_message` as the first line of its report, by which callers of the runner
recognise a timeout. :func:`section_endpoint` is how the sections of a run get idle and
backpressure patterns of their own.
"""

import os
from dataclasses import dataclass

import numpy as np

from hw.errors import TerrazzoError

__all__ = ["JOB_ENV", "RESULT_NAME", "JOB_FORMAT", "RESULT_FORMAT", "DEFAULT_MAX_CYCLES",
           "MAX_DRAM_WORDS", "STATUSES", "FAILURES", "SECTION_STRIDE", "Section", "Job",
           "JobError", "SimResult", "SectionsResult", "check_probability", "check_seed",
           "check_run_args", "check_dram", "check_timeout", "check_sections",
           "section_endpoint", "timeout_message", "write_job", "read_job", "write_result",
           "read_result"]

JOB_ENV = "TERRAZZO_JOB"
RESULT_NAME = "result.npz"
#: The ``format`` entry of a job and of a result file; another value is refused.
JOB_FORMAT = "terrazzo-sim-job 2"
RESULT_FORMAT = "terrazzo-sim-result 2"

#: The most cycles a run waits for the fabric unless its caller asks for more, however
#: large the data or the manifest's ``ideal_cycles``: under cocotb the simulators run a
#: few hundred to a few thousand cycles per second, so a million cycles is minutes to an
#: hour, while every kernel of the suite finishes in a few thousand. It bounds how long
#: a mistaken or hostile manifest can keep a simulator busy.
DEFAULT_MAX_CYCLES = 1_000_000

#: The most 32-bit words the simulated DRAM memory holds (64 MiB).
MAX_DRAM_WORDS = 1 << 24

#: How a section ended. ``"ok"``: it ran (or, with ``configure_only``, configured);
#: ``"cfg_error"``: the loader refused its bitstream; the others are failures
#: (:data:`FAILURES`) whose :attr:`SimResult.message` is the testbench's report.
STATUSES = ("ok", "cfg_error", "config timeout", "not configured", "did not start",
            "timeout", "too many vectors")
FAILURES = frozenset(STATUSES[2:])

#: Section ``i`` of a run draws its pauses from the streams of endpoint ids
#: ``endpoint + i * SECTION_STRIDE`` (:func:`section_endpoint`); every endpoint id of
#: :func:`sim.stimulus.endpoint_id` is below it.
SECTION_STRIDE = 0x20000


def timeout_message(cycles):
    """The first line of the failure of a run that reached its ``timeout_cycles``: the
    test writes it, callers of the runner recognise a timeout by it."""
    return f"timeout after {cycles} cycles"


def section_endpoint(endpoint, section):
    """The pause-stream id (:class:`sim.stimulus.PauseStream`) of the endpoint with id
    ``endpoint`` (:func:`sim.stimulus.endpoint_id`) in section ``section`` of a run:
    ``endpoint + section * SECTION_STRIDE``, so section 0 draws what a run of one
    bitstream draws and every section has patterns of its own, fixed by the run's seed
    and the section's index."""
    return endpoint + section * SECTION_STRIDE


class JobError(TerrazzoError, ValueError):
    """A simulation job that cannot run as asked: a bad bitstream, input or expected
    output array, stimulus probability, simulator name or wave file. The message quotes
    the bad value."""


def check_probability(name, value):
    """Check that ``value`` is a probability in ``[0, 1)`` and return it as a float.

    Raises
    ------
    JobError
        If ``value`` is not an int or float (a bool is not) or is outside ``[0, 1)``;
        the message names it ``name`` and quotes it.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) \
            or not 0.0 <= value < 1.0:
        raise JobError(f"{name} must be a probability in [0, 1), not {value!r}")
    return float(value)


def check_seed(name, value):
    """Check that ``value`` is a seed a job can carry, an integer in the signed 64-bit
    range of its ``seed`` field, and return it as an int.

    Raises
    ------
    JobError
        If ``value`` is not a Python or NumPy integer (a bool is not) or is out of that
        range; the message names it ``name`` and quotes it.
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) \
            or not -2 ** 63 <= value < 2 ** 63:
        raise JobError(f"{name} must be an integer in [-2**63, 2**63), not {value!r}")
    return int(value)


def check_run_args(params, bitstream, inputs, expect):
    """Check the data of a run on the fabric ``params`` (a :class:`hw.params.FabricParams`),
    as every way of simulating it takes them.

    Parameters
    ----------
    bitstream : bytes
        Non-empty, a whole number of 32-bit words.
    inputs : dict
        Input port (an int below ``params.io_in``) -> ``(vectors, params.lanes)`` integer
        array with values in int32.
    expect : dict
        Output port (an int below ``params.io_out``) -> non-negative vector count.

    Returns
    -------
    (dict, dict)
        ``inputs`` with int32 arrays and ``expect`` with Python ints.

    Raises
    ------
    JobError
        Quoting the first bad value.
    """
    p = params
    if not isinstance(bitstream, (bytes, bytearray)) or not bitstream or len(bitstream) % 4:
        raise JobError(f"bitstream must be non-empty bytes of whole 32-bit words, not "
                       f"{type(bitstream).__name__} of length {len(bitstream)}"
                       if isinstance(bitstream, (bytes, bytearray))
                       else f"bitstream must be bytes, not {bitstream!r}")
    checked = {}
    for port, vectors in inputs.items():
        if not isinstance(port, int) or not 0 <= port < p.io_in:
            raise JobError(f"input port must be an integer in [0, {p.io_in}), "
                           f"not {port!r}")
        a = np.asarray(vectors)
        if a.ndim != 2 or a.shape[1] != p.lanes:
            raise JobError(f"input port {port} takes a (vectors, {p.lanes}) array, "
                           f"not shape {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise JobError(f"input port {port} takes integers, not {a.dtype}")
        if a.size and (a.min() < -2**31 or a.max() > 2**31 - 1):
            raise JobError(f"input port {port} has values outside int32 "
                           f"({int(a.min())} .. {int(a.max())})")
        checked[port] = a.astype(np.int32)
    for port, count in expect.items():
        if not isinstance(port, int) or not 0 <= port < p.io_out:
            raise JobError(f"output port must be an integer in [0, {p.io_out}), "
                           f"not {port!r}")
        if not isinstance(count, (int, np.integer)) or count < 0:
            raise JobError(f"expected vector count of output port {port} must be a "
                           f"non-negative integer, not {count!r}")
    return checked, {port: int(n) for port, n in expect.items()}


def check_dram(params, dram):
    """Check the initial DRAM memory of a run on fabric ``params``: None (no memory: the
    DRAM ports stay quiet and their units must stay off) or a non-empty 1-D integer
    array of at most :data:`MAX_DRAM_WORDS` 32-bit words (values in int32 or uint32),
    word 0 at byte address 0. Every DRAM port of the fabric serves this one memory:
    byte address ``a`` of any port is word ``a // 4``. Returns it as a uint32 array (or
    None).

    Raises
    ------
    JobError
        Quoting the first bad value.
    """
    p = params
    if dram is None:
        return None
    if not p.dram_ports:
        raise JobError(f"fabric {p.name!r} has no DRAM ports (dram_ports = 0)")
    if isinstance(dram, dict):
        raise JobError(f"dram is one array of 32-bit words, the memory every DRAM port "
                       f"serves, not a dict (ports {sorted(dram)!r})")
    a = np.asarray(dram)
    if a.ndim != 1 or not 0 < a.size <= MAX_DRAM_WORDS:
        raise JobError(f"dram takes a 1-D array of 1 to {MAX_DRAM_WORDS} words, not shape "
                       f"{a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise JobError(f"dram takes integers, not {a.dtype}")
    if a.min() < -2**31 or a.max() > 2**32 - 1:
        raise JobError(f"dram has values outside 32 bits ({int(a.min())} .. {int(a.max())})")
    return a.astype(np.int64).astype(np.uint32)


def check_timeout(timeout_cycles, inputs, expect, idle, backpressure):
    """The ``timeout_cycles`` of a run of the checked ``inputs`` and ``expect``: as given,
    or when it is None, generous for the data size, ``idle`` and ``backpressure``
    (``(20000 + 100 * vectors in and out) / ((1 - idle) * (1 - backpressure))``) and at
    most :data:`DEFAULT_MAX_CYCLES`.

    Raises
    ------
    JobError
        If ``timeout_cycles`` is neither None nor an integer in ``[1, 2**63)``.
    """
    if timeout_cycles is None:
        vectors = sum(len(v) for v in inputs.values()) + sum(expect.values())
        return min(DEFAULT_MAX_CYCLES, int((20_000 + 100 * vectors) /
                                           ((1 - idle) * (1 - backpressure))))
    if not isinstance(timeout_cycles, int) or isinstance(timeout_cycles, bool) \
            or not 0 < timeout_cycles < 2**63:
        raise JobError(f"timeout_cycles must be a positive integer, not {timeout_cycles!r}")
    return timeout_cycles


@dataclass(frozen=True)
class Section:
    """One section of a job, checked (:func:`check_sections`).

    Members
    -------
    bitstream : bytes
    inputs : dict
        Input port -> ``(vectors, lanes)`` int32 array.
    expect : dict
        Output port -> vectors to collect.
    timeout_cycles : int
        Data cycles from its start until it must be complete.
    """
    bitstream: bytes
    inputs: dict
    expect: dict
    timeout_cycles: int


def check_sections(params, sections, timeout_cycles, idle, backpressure):
    """Check the sections of a run on fabric ``params`` and return them as
    :class:`Section` objects.

    Parameters
    ----------
    sections : list
        Non-empty; each a ``(bitstream, inputs, expect)`` triple as
        :func:`check_run_args` takes them.
    timeout_cycles : None, int or list
        The timeout of every section (None: :func:`check_timeout`'s default for each),
        or a list (or tuple) of one such value per section.
    idle, backpressure : float
        The checked probabilities (for the default timeouts).

    Raises
    ------
    JobError
        Quoting the first bad value; with more than one section the message begins
        ``section i: `` (counting from 0).
    """
    if not isinstance(sections, (list, tuple)) or not sections:
        raise JobError(f"sections must be a non-empty list of (bitstream, inputs, expect), "
                       f"not {sections!r}")
    many = len(sections) > 1
    if isinstance(timeout_cycles, (list, tuple)):
        if len(timeout_cycles) != len(sections):
            raise JobError(f"timeout_cycles has {len(timeout_cycles)} entries for "
                           f"{len(sections)} sections")
        timeouts = list(timeout_cycles)
    else:
        timeouts = [timeout_cycles] * len(sections)
    checked = []
    for i, (section, timeout) in enumerate(zip(sections, timeouts)):
        try:
            if not isinstance(section, (list, tuple)) or len(section) != 3:
                raise JobError(f"a section is a (bitstream, inputs, expect) triple, not "
                               f"{section!r}")
            bitstream, inputs, expect = section
            inputs, expect = check_run_args(params, bitstream, inputs, expect)
            timeout = check_timeout(timeout, inputs, expect, idle, backpressure)
        except JobError as e:
            if many:
                raise JobError(f"section {i}: {e}") from None
            raise
        checked.append(Section(bytes(bitstream), inputs, expect, timeout))
    return checked


@dataclass(frozen=True)
class Job:
    """One job as the test reads it (see :func:`write_job` for the meaning)."""
    lanes: int
    sections: tuple         # of Section
    idle: float
    backpressure: float
    seed: int
    configure_only: bool
    dram: object = None     # uint32 array, or None
    dram_latency: int = 0


@dataclass(frozen=True)
class SimResult:
    """What a run of one bitstream, or one section of a run, produced.

    Members
    -------
    outputs : dict
        Output port -> ``(vectors, lanes)`` int32 array (empty when not configured; after
        a timeout, the vectors that had arrived).
    cycles : int
        The fabric's ``cycles`` counter, start to done (-1 when it did not run; after a
        timeout, its value then).
    cfg_error : int
        The loader's ``cfg_error`` code (0: configured).
    configured : bool
        The fabric's ``configured`` at the end of the simulation (of the section).
    sim_cycles : int
        Clock cycles the simulator ran from start until the run was complete.
    wall_seconds : float
        Wall-clock time of those cycles (the simulator's speed, without start-up).
    dram : numpy.ndarray or None
        The DRAM memory at the end of the run (uint32 words), when the run had one; None
        for the sections of a :class:`SectionsResult` (which holds the memory).
    status : str
        How it ended, one of :data:`STATUSES`.
    message : str
        The testbench's report of a failure (:data:`FAILURES`), else empty.
    """
    outputs: dict
    cycles: int
    cfg_error: int
    configured: bool = False
    sim_cycles: int = 0
    wall_seconds: float = 0.0
    dram: object = None
    status: str = "ok"
    message: str = ""

    @property
    def cycles_per_second(self):
        return self.sim_cycles / self.wall_seconds if self.wall_seconds else 0.0


@dataclass(frozen=True)
class SectionsResult:
    """What a run of several sections produced.

    Members
    -------
    sections : tuple
        A :class:`SimResult` per section that ran, in order: every section, or those up
        to and including the one that ended the run (:attr:`stopped`).
    dram : numpy.ndarray or None
        The DRAM memory at the end of the run (uint32 words), or None without one.
    run_dir : pathlib.Path or None
        The run directory, kept when a section failed (:data:`FAILURES`), else None.
    """
    sections: tuple
    dram: object = None
    run_dir: object = None

    @property
    def stopped(self):
        """The index of the section whose status is not ``"ok"`` (it ended the run), or
        None when every section ran."""
        return next((i for i, s in enumerate(self.sections) if s.status != "ok"), None)

    @property
    def ok(self):
        """Every section ran to completion."""
        return self.stopped is None


def _ports(archive, prefix):
    return sorted(int(key[len(prefix):]) for key in archive.files
                  if key.startswith(prefix) and key[len(prefix):].isdigit())


def write_job(path, *, lanes, sections, idle, backpressure, seed, configure_only=False,
              dram=None, dram_latency=0):
    """Write a job for :mod:`sim.cocotb_fabric`.

    Keys: ``format`` (:data:`JOB_FORMAT`), ``lanes``, ``idle``, ``backpressure``,
    ``seed``, ``configure_only``, ``sections`` (their number ``S``), per section ``i``
    below ``S``: ``s{i}_bitstream`` (uint8), ``s{i}_timeout_cycles``, ``s{i}_in{k}``
    (``(vectors, lanes)`` int32 per input port) and ``s{i}_expect{k}`` (vector count per
    output port); ``dram`` (uint32 words: the initial memory), absent when the run has
    none; ``dram_latency`` (cycles an ``AxiRam`` adds before each read burst). The arguments (``sections`` a list of :class:`Section`) are written as given;
    the runner has validated them.
    """
    arrays = {
        "format": np.str_(JOB_FORMAT), "lanes": np.int64(lanes), "idle": np.float64(idle),
        "backpressure": np.float64(backpressure), "seed": np.int64(seed),
        "configure_only": np.int64(bool(configure_only)), "sections": np.int64(len(sections)),
        "dram_latency": np.int64(dram_latency),
    }
    for i, s in enumerate(sections):
        arrays[f"s{i}_bitstream"] = np.frombuffer(bytes(s.bitstream), dtype=np.uint8)
        arrays[f"s{i}_timeout_cycles"] = np.int64(s.timeout_cycles)
        arrays.update({f"s{i}_in{port}": np.asarray(v, dtype=np.int32)
                       for port, v in s.inputs.items()})
        arrays.update({f"s{i}_expect{port}": np.int64(n) for port, n in s.expect.items()})
    if dram is not None:
        arrays["dram"] = np.asarray(dram, dtype=np.uint32)
    np.savez(path, **arrays)


def _check_format(archive, want, what):
    got = str(archive["format"]) if "format" in archive.files else "none"
    if got != want:
        raise ValueError(f"not a {what} of format {want!r} (format {got!r})")


def read_job(path):
    """Read a job written by :func:`write_job`.

    Returns
    -------
    Job
        Each section's ``inputs`` maps its input ports to int32 arrays and ``expect`` its
        output ports to vector counts, both in port order.

    Raises
    ------
    ValueError
        If the file is not a job of :data:`JOB_FORMAT`.
    """
    with np.load(path) as job:
        _check_format(job, JOB_FORMAT, "job")
        sections = tuple(
            Section(bitstream=job[f"s{i}_bitstream"].tobytes(),
                    inputs={port: job[f"s{i}_in{port}"] for port in _ports(job, f"s{i}_in")},
                    expect={port: int(job[f"s{i}_expect{port}"])
                            for port in _ports(job, f"s{i}_expect")},
                    timeout_cycles=int(job[f"s{i}_timeout_cycles"]))
            for i in range(int(job["sections"])))
        return Job(lanes=int(job["lanes"]), sections=sections, idle=float(job["idle"]),
                   backpressure=float(job["backpressure"]), seed=int(job["seed"]),
                   configure_only=bool(int(job["configure_only"])),
                   dram=job["dram"] if "dram" in job.files else None,
                   dram_latency=int(job["dram_latency"]))


def write_result(path, *, sections, dram=None):
    """Write ``result.npz`` for :func:`read_result`, atomically: the file either does not
    exist or is complete, so a simulator that dies while writing leaves no result.

    ``sections`` is a :class:`SimResult` per section that ran (their ``dram`` is not
    written). Keys: ``format`` (:data:`RESULT_FORMAT`), ``sections`` (their number),
    per section ``i``: ``s{i}_status``, ``s{i}_message`` (strings), ``s{i}_cfg_error``,
    ``s{i}_configured``, ``s{i}_cycles``, ``s{i}_sim_cycles``, ``s{i}_wall_seconds`` and
    ``s{i}_out{k}`` (the vectors collected) per port in its ``outputs``; ``dram`` (the
    memory at the end) when the run has one. A section that did not start has
    ``cycles`` -1, ``sim_cycles`` 0 and no outputs.
    """
    result = {"format": np.str_(RESULT_FORMAT), "sections": np.int64(len(sections))}
    for i, s in enumerate(sections):
        result.update({
            f"s{i}_status": np.str_(s.status), f"s{i}_message": np.str_(s.message),
            f"s{i}_cfg_error": np.int64(s.cfg_error),
            f"s{i}_configured": np.int64(int(s.configured)),
            f"s{i}_cycles": np.int64(s.cycles), f"s{i}_sim_cycles": np.int64(s.sim_cycles),
            f"s{i}_wall_seconds": np.float64(s.wall_seconds)})
        result.update({f"s{i}_out{port}": np.asarray(v, dtype=np.int32)
                       for port, v in s.outputs.items()})
    if dram is not None:
        result["dram"] = np.asarray(dram, dtype=np.uint32)
    tmp = path.with_name("result.tmp.npz")
    np.savez(tmp, **result)
    os.replace(tmp, path)


def read_result(path):
    """Read the ``result.npz`` the test writes (:func:`write_result`).

    Returns
    -------
    SectionsResult
        With ``run_dir`` None.

    Raises
    ------
    ValueError
        If the file is not a result of :data:`RESULT_FORMAT`.
    """
    with np.load(path) as r:
        _check_format(r, RESULT_FORMAT, "result")
        sections = tuple(
            SimResult(outputs={port: r[f"s{i}_out{port}"].astype(np.int32)
                               for port in _ports(r, f"s{i}_out")},
                      cycles=int(r[f"s{i}_cycles"]), cfg_error=int(r[f"s{i}_cfg_error"]),
                      configured=bool(r[f"s{i}_configured"]),
                      sim_cycles=int(r[f"s{i}_sim_cycles"]),
                      wall_seconds=float(r[f"s{i}_wall_seconds"]),
                      status=str(r[f"s{i}_status"]), message=str(r[f"s{i}_message"]))
            for i in range(int(r["sections"])))
        return SectionsResult(sections=sections,
                              dram=r["dram"].astype(np.uint32) if "dram" in r.files else None)
