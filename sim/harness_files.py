"""The files between :class:`sim.harness.Harness` and the harness program
(``harness_main.cpp``): the generated header ``harness_ports.h`` (:func:`ports_header`),
the job file (:func:`write_job`, with the DRAM memory in a file of its own, ``dram.bin``)
and the result file (:func:`read_result`). A job is a list of sections (bitstreams run
one after the other on one fabric, reset once, over one DRAM memory that every DRAM
port serves); a run of one bitstream is a job of one section. Their layouts:

Job file (``job.bin``, all integers little-endian)
--------------------------------------------------
======  ==============  ==========================================================
offset  type            field
======  ==============  ==========================================================
0       8 bytes         magic ``TZHJOB02``
8       u32             lanes
12      u32             input ports of the fabric
16      u32             output ports of the fabric
20      u32             flags: bit 0 ``configure_only``
24      u64             idle threshold ``T`` (:func:`sim.stimulus.threshold`)
32      u64             backpressure threshold
40      u64             seed modulo 2**64
48      u64             ``ideal_cycles`` (0: unknown; only for progress lines)
56      u32             sections ``S`` (at least 1)
60      u32             DRAM latency in cycles (at least 1)
64      u64             DRAM memory words ``N`` (0: no memory; the DRAM ports stay
                        quiet)
72      u64             name length ``L`` (0 when ``N`` is 0)
80      ``L`` bytes     the name of the file holding the initial memory (``N``
                        little-endian u32, nothing more), relative to the job file's
                        folder
.       S sections      each: u64 ``timeout_cycles``, u32 bitstream words ``W``, u32
                        input entries ``I``, u32 expect entries ``E``, u32 0; ``W`` x
                        u32, the bitstream; ``I`` entries: u32 port, u32 0, u64
                        vectors ``V``, ``V * lanes`` x i32 (vector by vector, lane 0
                        first); ``E`` entries: u32 port, u32 0, u64 expected vector
                        count
======  ==============  ==========================================================

The harness checks that lanes and port counts are those it was built for, that a job
with memory is for a fabric with DRAM ports, and that no port is out of range.

Result file (``result.bin``, written to a temporary name and renamed)
--------------------------------------------------------------------
======  ==============  ==========================================================
offset  type            field
======  ==============  ==========================================================
0       8 bytes         magic ``TZHRES03``
8       u32             sections run ``R`` (those up to the first whose status is
                        not ok, or all)
12      u32             input ports ``n``
16      u32             output ports ``m``
20      u32             lanes
24      R sections      each as below
.       u64             DRAM memory words ``N`` (those of the job; 0: none)
.       N x u32         the memory at the end of the run
======  ==============  ==========================================================

A section:

======  ==============  ==========================================================
offset  type            field
======  ==============  ==========================================================
0       u32             status (:data:`STATUS`)
4       u32             ``cfg_error``
8       u32             ``configured`` (at the end of the section; at the start pulse
                        if it did not start)
12      u32             ``running`` (at the end, the timeout or the start pulse)
16      u32             ``done`` (likewise)
20      u32             0
24      i64             the ``cycles`` port (-1: the fabric did not run)
32      u64             ``sim_cycles``
40      f64             ``wall_seconds`` (steady clock, data cycles only)
48      u64             bitstream words accepted
56      n x u64         vectors each input port put on the bus
.       m x u64         vectors each output port sent
.       m x u64         vectors kept per output port (at most those expected)
.       ...             the kept vectors, port by port, ``lanes`` x i32 each
======  ==============  ==========================================================

The program exits with 0 when it wrote a result (whatever the statuses) and 2, with a
line on the standard error, when it cannot read the job or write the result.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build import TOPLEVEL
from .job import STATUSES
from .stimulus import threshold
from .verilator import top_ports

__all__ = ["JOB_MAGIC", "RESULT_MAGIC", "DRAM_LATENCY", "STATUS", "MEMORY_NAME",
           "ports_header", "write_job", "read_result"]

JOB_MAGIC = b"TZHJOB02"
RESULT_MAGIC = b"TZHRES03"
MEMORY_NAME = "dram.bin"
_JOB_HEADER = struct.Struct("<8s4I4Q2I2Q")
_SECTION_HEADER = struct.Struct("<Q4I")
_RESULT_HEADER = struct.Struct("<8s4I")
_SECTION_RESULT = struct.Struct("<6Iqqdq")
#: Cycles from an AR handshake to the first beat of its read burst, and from a write
#: burst's last W beat to its B response, in the harness's DRAM model.
DRAM_LATENCY = 4

#: Status codes of the result file (names: :data:`sim.job.STATUSES`).
STATUS = dict(enumerate(STATUSES))


def ports_header(verilog, lanes, prefix="Vtop", dram_beat=0):
    """The text of ``harness_ports.h`` for the fabric whose Verilog is ``verilog``, whose
    Verilated model has the class ``prefix`` and whose DRAM ports (``dram{k}_araddr``
    and the rest) move ``dram_beat`` 32-bit words per beat.

    Raises
    ------
    ValueError
        If the Verilog has DRAM ports and ``dram_beat`` is not a positive integer.
    """
    names = set(top_ports(verilog, TOPLEVEL))
    counts = {}
    for kind, signal in (("in", "tdata"), ("out", "tdata"), ("dram", "araddr")):
        n = 0
        while f"{kind}{n}_{signal}" in names:
            n += 1
        counts[kind] = n
    if counts["dram"] and (not isinstance(dram_beat, int) or dram_beat < 1):
        raise ValueError(f"the Verilog has {counts['dram']} DRAM ports, so dram_beat must be "
                         f"a positive integer, not {dram_beat!r}")
    lines = ["// Generated by sim/harness.py for one fabric; do not edit.",
             "#pragma once",
             f'#include "{prefix}.h"',
             f"typedef {prefix} TzModel;",
             f"#define TZ_LANES {lanes}",
             f"#define TZ_IO_IN {counts['in']}",
             f"#define TZ_IO_OUT {counts['out']}",
             "#define TZ_IN_PORTS(X) " + " ".join(f"X({k})" for k in range(counts["in"])),
             "#define TZ_OUT_PORTS(X) " + " ".join(f"X({k})" for k in range(counts["out"])),
             f"#define TZ_DRAM_PORTS {counts['dram']}",
             f"#define TZ_DRAM_BEAT {dram_beat if counts['dram'] else 0}",
             "#define TZ_DRAM_LIST(X) " + " ".join(f"X({k})" for k in range(counts["dram"]))]
    return "\n".join(lines) + "\n"


def write_job(path, *, lanes, io_in, io_out, sections, idle, backpressure, seed,
              configure_only, ideal_cycles, dram=None, dram_latency=DRAM_LATENCY):
    """Write the job file (format in the module docstring) of ``sections`` (a list of
    :class:`sim.job.Section`) and, beside it, the memory file :data:`MEMORY_NAME` when
    ``dram`` (32-bit words) is not None; arguments are checked."""
    path = Path(path)
    name = b""
    words = 0
    if dram is not None:
        memory = np.ascontiguousarray(dram, dtype="<u4")
        path.with_name(MEMORY_NAME).write_bytes(memory.tobytes())
        name, words = MEMORY_NAME.encode(), len(memory)
    parts = [_JOB_HEADER.pack(JOB_MAGIC, lanes, io_in, io_out, int(bool(configure_only)),
                              threshold(idle), threshold(backpressure), seed % 2**64,
                              ideal_cycles, len(sections), dram_latency, words, len(name)),
             name]
    for s in sections:
        parts += [_SECTION_HEADER.pack(s.timeout_cycles, len(s.bitstream) // 4,
                                       len(s.inputs), len(s.expect), 0),
                  bytes(s.bitstream)]
        for port in sorted(s.inputs):
            a = np.ascontiguousarray(s.inputs[port], dtype="<i4")
            parts += [struct.pack("<IIQ", port, 0, len(a)), a.tobytes()]
        for port in sorted(s.expect):
            parts.append(struct.pack("<IIQ", port, 0, s.expect[port]))
    path.write_bytes(b"".join(parts))


@dataclass(frozen=True)
class _Section:
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


@dataclass(frozen=True)
class _Result:
    sections: list      # of _Section
    dram: object        # the memory at the end, uint32, or None


def read_result(path):
    """Read the result file (format in the module docstring). Raises ``ValueError`` if
    it is not one."""
    data = Path(path).read_bytes()
    if len(data) < _RESULT_HEADER.size:
        raise ValueError("result file too short")
    magic, count, io_in, io_out, lanes = _RESULT_HEADER.unpack_from(data)
    if magic != RESULT_MAGIC:
        raise ValueError("not a harness result file")
    at = _RESULT_HEADER.size
    sections = []
    try:
        for _ in range(count):
            (status, cfg_error, configured, running, done, _, cycles, sim_cycles, wall,
             taken) = _SECTION_RESULT.unpack_from(data, at)
            at += _SECTION_RESULT.size
            counts = _array(data, "<u8", io_in + 2 * io_out, at)
            at += counts.nbytes
            kept = {}
            for port, n in enumerate(counts[io_in + io_out:].tolist()):
                a = _array(data, "<i4", n * lanes, at)
                at += a.nbytes
                kept[port] = a.reshape(n, lanes).astype(np.int32)
            sections.append(_Section(status, cfg_error, configured, running, done, cycles,
                                     sim_cycles, wall, taken, counts[:io_in].tolist(),
                                     counts[io_in:io_in + io_out].tolist(), kept))
        words, = struct.unpack_from("<Q", data, at)
        at += 8
    except struct.error:
        raise ValueError("result file too short") from None
    dram = _array(data, "<u4", words, at).astype(np.uint32) if words else None
    at += 4 * words
    if at != len(data):
        raise ValueError("result file has trailing bytes")
    return _Result(sections, dram)


def _array(data, dtype, count, at):
    size = np.dtype(dtype).itemsize * count
    if len(data) - at < size:
        raise ValueError("result file too short")
    return np.frombuffer(data, dtype=dtype, count=count, offset=at)
