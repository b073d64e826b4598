"""DRAM units in the fabric: a netlist with a DRAM unit is placed, routed and encoded by
the compiler, loaded into the generated Verilog under Icarus, and its AXI4 port served
by cocotbext-axi's ``AxiRam`` over the run's one DRAM memory: a strided, unaligned load
streams out of an edge output port, an edge input stream is stored to strided runs, and
both equal a Python model of the unit (``hw.dram.run_addresses``). Lowering does not use DRAM units yet, so the
program is written as a netlist here."""

from pathlib import Path

import numpy as np
import pytest

from compiler.bitstream import Bitstream, Record, encode, words_of
from compiler.compile import emit_records
from compiler.lower.plans import Lowered
from compiler.netlist import Net, Netlist, VUnit
from compiler.place import place
from compiler.route import route
from hw.dram import DramMode, dram_layout, run_addresses
from hw.format import RecordKind
from hw.params import load_fabric
from sim.job import JobError
from sim.runner import Runner

pytestmark = [pytest.mark.sim]

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build"
P = load_fabric("tiny").replace(name="tiny-dram", dram_ports=1, dram_beat=2, dram_burst=4,
                                dram_outstanding=2)
WORDS = 1536                    # 6 KiB of memory: runs cross the 4 KiB boundary


def engine(mode, base, run, extents, strides):
    pad = P.counters - len(extents)
    return {"mode": mode, "indexed": 0, "base": base, "run": run,
            "extents": list(extents) + [1] * pad, "strides": list(strides) + [0] * pad}


# load: 3 runs of 7 words from word 1021 (two vectors of four lanes each, the second
# zero-padded), the first run crossing byte 4096; store: 2 runs of 6 words, 50 apart
LOAD = engine(DramMode.VECTOR, 1021, 7, (3,), (9,))
STORE = engine(DramMode.VECTOR, 1203, 6, (2,), (50,))


def build(p, netlist, drams, seed=0):
    """The bitstream of ``netlist`` on fabric ``p`` (placed, routed, encoded by the
    compiler) whose DRAM vunits get the configurations ``drams`` (vunit ->
    ``dram_layout(p)`` dict), and its placement."""
    netlist.validate(p)
    placement = place(netlist, p, seed=seed)
    routing = route(netlist, placement, p)
    routing.check(netlist, placement)
    records = list(emit_records(p, Lowered(netlist, {}, {}, [], [], []), placement, routing))
    layout = dram_layout(p)
    for name, config in drams.items():
        target = p.dram_id(placement[name])
        at, = [k for k, r in enumerate(records)
               if r.kind == RecordKind.UNIT and r.target == target]
        records[at] = Record(RecordKind.UNIT, target,
                             words_of(layout.const(config).as_bits(), layout))
    return encode(Bitstream(p.hash32, tuple(records))), placement


def program():
    netlist = Netlist([VUnit("mem", "dram"), VUnit("i", "in"), VUnit("o", "out")],
                      [Net("load", "vector", ("mem", "vout"), (("o", "data"),)),
                       Net("store", "vector", ("i", "data"), (("mem", "vin"),))])
    return build(P, netlist, {"mem": {"load": LOAD, "store": STORE}})


def expected(image, vin):
    vout = []
    for start in run_addresses(LOAD, P):
        words = [int(image[a]) for a in range(start, start + LOAD["run"])]
        for k in range(0, len(words), P.lanes):
            chunk = words[k:k + P.lanes]
            vout.append(chunk + [0] * (P.lanes - len(chunk)))
    memory = image.copy()
    flat = [int(w) for row in vin for w in row]
    at = 0
    for start in run_addresses(STORE, P):
        memory[start:start + STORE["run"]] = np.array(flat[at:at + STORE["run"]],
                                                      dtype=np.int32).view(np.uint32)
        at += -(-STORE["run"] // P.lanes) * P.lanes         # the padding lanes are dropped
    return np.array(vout, dtype=np.int64).astype(np.uint32).view(np.int32), memory


@pytest.mark.parametrize("stall", [False, True], ids=["free", "stall"])
def test_dram_unit_loads_and_stores_through_the_fabric(stall):
    bitstream, placement = program()
    assert placement["mem"] == 0
    rng = np.random.default_rng(7)
    image = rng.integers(0, 2**32, WORDS, dtype=np.uint64).astype(np.uint32)
    vin = rng.integers(-2**31, 2**31, (4, P.lanes)).astype(np.int32)
    want_out, want_mem = expected(image, vin)
    result = Runner(P, "icarus", build_root=BUILD_ROOT).run(
        bitstream, {0: vin}, {placement["o"]: len(want_out)}, dram=image,
        idle=0.3 if stall else 0.0, backpressure=0.3 if stall else 0.0, seed=5)
    assert result.cfg_error == 0 and result.cycles > 0
    np.testing.assert_array_equal(result.outputs[placement["o"]], want_out)
    changed = np.flatnonzero(want_mem != image)
    assert len(changed) == 12                           # the store really wrote
    assert result.dram.dtype == np.uint32
    np.testing.assert_array_equal(result.dram, want_mem)


def test_dram_memory_is_checked_before_anything_runs():
    runner = Runner(P, "icarus", build_root=BUILD_ROOT)
    words = b"\0\0\0\0"
    with pytest.raises(JobError, match=r"^dram is one array of 32-bit words, the memory "
                                       r"every DRAM port serves, not a dict \(ports \[0\]\)$"):
        runner.run(words, {}, {}, dram={0: np.zeros(4, np.uint32)})
    with pytest.raises(JobError, match=r"^dram takes a 1-D array of 1 to 16777216 words, "
                                       r"not shape \(2, 2\)$"):
        runner.run(words, {}, {}, dram=np.zeros((2, 2), np.uint32))
    with pytest.raises(JobError, match=r"^dram takes a 1-D array of 1 to 16777216 words, "
                                       r"not shape \(0,\)$"):
        runner.run(words, {}, {}, dram=np.zeros(0, np.uint32))
    with pytest.raises(JobError, match=r"^dram takes integers, not float64$"):
        runner.run(words, {}, {}, dram=np.zeros(4))
    with pytest.raises(JobError, match=r"^dram has values outside 32 bits"):
        runner.run(words, {}, {}, dram=np.array([2**32]))
    with pytest.raises(JobError, match=r"^fabric 'tiny' has no DRAM ports \(dram_ports = 0\)$"):
        Runner(load_fabric("tiny"), "icarus", build_root=BUILD_ROOT).run(
            words, {}, {}, dram=np.zeros(4, np.uint32))
