"""The files between :class:`sim.harness.Harness` and the harness program
(``harness_main.cpp``): the generated header ``harness_ports.h`` (:func:`ports_header`),
the job file (:func:`write_job`, with a memory file ``dram{k}.bin`` per DRAM port) and
the result file (:func:`read_result`). Their layouts:

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
76      u32             DRAM entries ``D``
80      W x u32         the bitstream
.       I entries       u32 port, u32 0, u64 vectors ``V``, ``V * lanes`` x i32
                        (vector by vector, lane 0 first)
.       E entries       u32 port, u32 0, u64 expected vector count
.       D entries       u32 DRAM port, u32 latency in cycles (at least 1), u64 words
                        ``N``, u64 name length ``L``, ``L`` bytes: the name of the file
                        holding the port's initial memory (``N`` little-endian u32,
                        nothing more), relative to the job file's folder
======  ==============  ==========================================================

The harness checks that lanes and port counts are those it was built for, and that no
DRAM port is out of range or given twice.

Result file (``result.bin``, written to a temporary name and renamed)
--------------------------------------------------------------------
======  ==============  ==========================================================
offset  type            field
======  ==============  ==========================================================
0       8 bytes         magic ``TZHRES02``
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
.       u32, u32        DRAM entries ``D`` (those of the job), 0
.       D entries       u32 DRAM port, u32 0, u64 words ``N``, ``N`` x u32: the
                        port's memory at the end, in ascending port order
======  ==============  ==========================================================

The program exits with 0 when it wrote a result (whatever the status) and 2, with a
line on the standard error, when it cannot read the job or write the result.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build import TOPLEVEL
from .stimulus import threshold
from .verilator import top_ports

__all__ = ["JOB_MAGIC", "RESULT_MAGIC", "DRAM_LATENCY", "STATUS", "ports_header",
           "write_job", "read_result"]

JOB_MAGIC = b"TZHJOB01"
RESULT_MAGIC = b"TZHRES02"
_JOB_HEADER = struct.Struct("<8s4I5Q4I")
_RESULT_HEADER = struct.Struct("<8s8Iqqdq")
#: Cycles from an AR handshake to the first beat of its read burst, and from a write
#: burst's last W beat to its B response, in the harness's DRAM model.
DRAM_LATENCY = 4

#: Status codes of the result file.
STATUS = {0: "ok", 1: "cfg_error", 2: "config timeout", 3: "not configured",
          4: "did not start", 5: "timeout", 6: "too many vectors"}


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


def write_job(path, *, bitstream, lanes, io_in, io_out, inputs, expect, idle, backpressure,
              seed, timeout_cycles, configure_only, ideal_cycles, dram=None,
              dram_latency=DRAM_LATENCY):
    """Write the job file (format in the module docstring) and, beside it, the memory
    file ``dram{k}.bin`` of each DRAM port in ``dram`` (port -> 32-bit words); arguments
    are checked."""
    path = Path(path)
    dram = dict(sorted((dram or {}).items()))
    parts = [_JOB_HEADER.pack(JOB_MAGIC, lanes, io_in, io_out, int(bool(configure_only)),
                              threshold(idle), threshold(backpressure), seed % 2**64,
                              timeout_cycles, ideal_cycles, len(bitstream) // 4,
                              len(inputs), len(expect), len(dram)),
             bytes(bitstream)]
    for port in sorted(inputs):
        a = np.ascontiguousarray(inputs[port], dtype="<i4")
        parts += [struct.pack("<IIQ", port, 0, len(a)), a.tobytes()]
    for port in sorted(expect):
        parts.append(struct.pack("<IIQ", port, 0, expect[port]))
    for port, words in dram.items():
        name = f"dram{port}.bin".encode()
        words = np.ascontiguousarray(words, dtype="<u4")
        path.with_name(name.decode()).write_bytes(words.tobytes())
        parts += [struct.pack("<IIQQ", port, dram_latency, len(words), len(name)), name]
    path.write_bytes(b"".join(parts))


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
    dram: dict          # DRAM port -> its memory at the end, uint32


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
    dram = {}
    try:
        count, _ = struct.unpack_from("<II", data, at)
        at += 8
        for _ in range(count):
            port, _, n = struct.unpack_from("<IIQ", data, at)
            at += 16
            if len(data) - at < 4 * n:
                raise ValueError("result file too short")
            dram[port] = np.frombuffer(data, dtype="<u4", count=n, offset=at).astype(np.uint32)
            at += 4 * n
    except struct.error:
        raise ValueError("result file too short") from None
    if at != len(data):
        raise ValueError("result file has trailing bytes")
    return _Result(status, cfg_error, configured, running, done, cycles, sim_cycles, wall,
                   taken, sent, arrived, kept, dram)
