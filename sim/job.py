"""The files that carry one simulation between :class:`sim.runner.Runner` and the cocotb
test :mod:`sim.cocotb_fabric`, which runs in the simulator's own process.

The runner writes ``job.npz`` (:func:`write_job`) in a fresh run directory and names it
in the environment variable :data:`JOB_ENV`; the test reads it (:func:`read_job`), runs
the fabric and writes ``result.npz`` beside it (:func:`write_result`), which the runner
reads back (:func:`read_result`). Both are NumPy ``.npz`` archives of named arrays.

:func:`check_probability` validates the two stimulus knobs a job carries, ``idle`` and
``backpressure``, and :func:`check_seed` its seed, wherever they enter;
:func:`check_run_args` and :func:`check_timeout` check the rest of a run's arguments for
every way of simulating (:class:`sim.runner.Runner`, :class:`sim.harness.Harness`).
A run that reaches its ``timeout_cycles`` fails with :func:`timeout_message` as the
first line of its report, by which callers of the runner recognise a timeout.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from hw.errors import TerrazzoError

__all__ = ["JOB_ENV", "RESULT_NAME", "DEFAULT_MAX_CYCLES", "MAX_DRAM_WORDS", "Job",
           "JobError", "SimResult", "check_probability", "check_seed", "check_run_args",
           "check_dram", "check_timeout",
           "timeout_message", "write_job", "read_job", "write_result",
           "read_result"]

JOB_ENV = "TERRAZZO_JOB"
RESULT_NAME = "result.npz"

#: The most cycles a run waits for the fabric unless its caller asks for more, however
#: large the data or the manifest's ``ideal_cycles``: under cocotb the simulators run a
#: few hundred to a few thousand cycles per second, so a million cycles is minutes to an
#: hour, while every kernel of the suite finishes in a few thousand. It bounds how long
#: a mistaken or hostile manifest can keep a simulator busy.
DEFAULT_MAX_CYCLES = 1_000_000

#: The most words of memory a simulated DRAM port holds (64 MiB).
MAX_DRAM_WORDS = 1 << 24


def timeout_message(cycles):
    """The first line of the failure of a run that reached its ``timeout_cycles``: the
    test writes it, callers of the runner recognise a timeout by it."""
    return f"timeout after {cycles} cycles"


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
    """Check the initial memory of each DRAM port of a run on fabric ``params``:
    ``dram`` maps a port (an int below ``params.dram_ports``) to a non-empty 1-D integer
    array of at most :data:`MAX_DRAM_WORDS` 32-bit words (values in int32 or uint32),
    word 0 at byte address 0. Returns it with uint32 arrays.

    Raises
    ------
    JobError
        Quoting the first bad value.
    """
    p = params
    checked = {}
    for port, words in dict(dram or {}).items():
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < p.dram_ports:
            raise JobError(f"DRAM port must be an integer in [0, {p.dram_ports}), not {port!r}"
                           if p.dram_ports else
                           f"fabric {p.name!r} has no DRAM ports (dram_ports = 0)")
        a = np.asarray(words)
        if a.ndim != 1 or not 0 < a.size <= MAX_DRAM_WORDS:
            raise JobError(f"DRAM port {port} takes a 1-D array of 1 to {MAX_DRAM_WORDS} "
                           f"words, not shape {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise JobError(f"DRAM port {port} takes integers, not {a.dtype}")
        if a.min() < -2**31 or a.max() > 2**32 - 1:
            raise JobError(f"DRAM port {port} has values outside 32 bits "
                           f"({int(a.min())} .. {int(a.max())})")
        checked[port] = a.astype(np.int64).astype(np.uint32)
    return dict(sorted(checked.items()))


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
class Job:
    """One job as the test reads it (see :func:`write_job` for the meaning)."""
    bitstream: bytes
    lanes: int
    inputs: dict
    expect: dict
    idle: float
    backpressure: float
    seed: int
    timeout_cycles: int
    configure_only: bool
    dram: dict = field(default_factory=dict)


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
    dram : dict
        DRAM port -> its memory at the end (uint32 words), for the ports the run gave
        memory to.
    """
    outputs: dict
    cycles: int
    cfg_error: int
    configured: bool = False
    sim_cycles: int = 0
    wall_seconds: float = 0.0
    dram: dict = field(default_factory=dict)

    @property
    def cycles_per_second(self):
        return self.sim_cycles / self.wall_seconds if self.wall_seconds else 0.0


def _ports(archive, prefix):
    return sorted(int(key[len(prefix):]) for key in archive.files if key.startswith(prefix))


def write_job(path, *, bitstream, lanes, inputs, expect, idle, backpressure, seed,
              timeout_cycles, configure_only=False, dram=None):
    """Write a job for :mod:`sim.cocotb_fabric`.

    Keys: ``bitstream`` (uint8), ``lanes``, ``in{k}`` (``(vectors, lanes)`` int32 per
    input port), ``expect{k}`` (vector count per output port), ``idle``,
    ``backpressure``, ``seed``, ``timeout_cycles``, ``configure_only``, ``dram{k}``
    (uint32 words: the initial memory of DRAM port ``k``).
    The arguments are written as given; the runner has validated them.
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
    arrays.update({f"dram{port}": np.asarray(w, dtype=np.uint32)
                   for port, w in (dram or {}).items()})
    np.savez(path, **arrays)


def read_job(path):
    """Read a job written by :func:`write_job`.

    Returns
    -------
    Job
        ``inputs`` maps each input port to its int32 array and ``expect`` each output
        port to its vector count, both in port order.
    """
    with np.load(path) as job:
        return Job(bitstream=job["bitstream"].tobytes(), lanes=int(job["lanes"]),
                   inputs={port: job[f"in{port}"] for port in _ports(job, "in")},
                   expect={port: int(job[f"expect{port}"]) for port in _ports(job, "expect")},
                   idle=float(job["idle"]), backpressure=float(job["backpressure"]),
                   seed=int(job["seed"]), timeout_cycles=int(job["timeout_cycles"]),
                   configure_only=bool(int(job["configure_only"])),
                   dram={port: job[f"dram{port}"] for port in _ports(job, "dram")})


def write_result(path, *, cfg_error, configured, cycles, sim_cycles, wall_seconds, outputs,
                 dram=None):
    """Write ``result.npz`` for :func:`read_result`, atomically: the file either does not
    exist or is complete, so a simulator that dies while writing leaves no result.

    Keys: ``cfg_error``, ``configured``, ``cycles``, ``sim_cycles``, ``wall_seconds``
    and ``out{k}`` (the vectors collected) per port in ``outputs``, ``dram{k}`` (the
    memory at the end) per DRAM port in ``dram``. A run that did not start has ``cycles``
    -1, ``sim_cycles`` 0 and no outputs.
    """
    result = {"cfg_error": np.int64(cfg_error), "cycles": np.int64(cycles),
              "sim_cycles": np.int64(sim_cycles), "wall_seconds": np.float64(wall_seconds)}
    result.update({f"out{port}": vectors for port, vectors in outputs.items()})
    result.update({f"dram{port}": words for port, words in (dram or {}).items()})
    result["configured"] = np.int64(int(configured))
    tmp = path.with_name("result.tmp.npz")
    np.savez(tmp, **result)
    os.replace(tmp, path)


def read_result(path):
    """Read the ``result.npz`` the test writes: ``cfg_error``, ``configured``,
    ``cycles``, ``sim_cycles``, ``wall_seconds`` and ``out{k}`` per expected output port."""
    with np.load(path) as r:
        outputs = {int(key[3:]): r[key].astype(np.int32) for key in r.files
                   if key.startswith("out")}
        return SimResult(outputs=dict(sorted(outputs.items())), cycles=int(r["cycles"]),
                         cfg_error=int(r["cfg_error"]), configured=bool(r["configured"]),
                         sim_cycles=int(r["sim_cycles"]),
                         wall_seconds=float(r["wall_seconds"]),
                         dram={port: r[f"dram{port}"].astype(np.uint32)
                               for port in _ports(r, "dram")})
