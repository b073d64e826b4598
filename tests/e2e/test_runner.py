"""End-to-end: a hand-made bitstream for ``y = x * 3 + 1`` on the ``small`` fabric, run
in Verilator and in Icarus through :class:`sim.runner.Runner`, checked bit-exactly
against NumPy."""

from pathlib import Path

import numpy as np
import pytest

from compiler.bitstream import Bitstream, Record, encode, words_of
from compiler.manifest import pack, stream_vectors, unpack
from compiler.netlist import Net, Netlist, VUnit
from compiler.place import place
from compiler.route import route
from hw.format import CfgError, RecordKind
from hw.layouts import OutSrc, Src, pcu_layout
from hw.ops import INT32_MAX, INT32_MIN, Op, wrap32
from hw.params import load_fabric
from hw.targets import config_targets
from sim.runner import Runner, SimulationError

pytestmark = [pytest.mark.sim, pytest.mark.slow]

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build"
EDGE_VALUES = [0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1,
               0x2AAAAAAA, -0x2AAAAAAB, 0x55555555, 715827882, 715827883, -715827883]


@pytest.fixture(scope="module")
def fabric():
    return load_fabric("small")


@pytest.fixture(scope="module", params=["verilator", "icarus"])
def runner(request, fabric):
    return Runner(fabric, sim=request.param, build_root=BUILD_ROOT)


# -- a bitstream made by hand -------------------------------------------------------------

def affine_pcu_config(p, n, mul, add):
    """A PCU computing ``x * mul + add`` on ``n`` elements from ``vin0`` to ``vout``."""
    zero_src = {"kind": Src.ZERO, "index": 0}
    passthrough = {"op": Op.PASS, "src": [{"kind": Src.REG, "index": 0}, zero_src, zero_src],
                   "imm": 0, "dest": 0}
    stages = [
        {"op": Op.MUL, "src": [{"kind": Src.VIN, "index": 0}, {"kind": Src.IMM, "index": 0},
                               zero_src], "imm": mul, "dest": 0},
        {"op": Op.ADD, "src": [{"kind": Src.REG, "index": 0}, {"kind": Src.IMM, "index": 0},
                               zero_src], "imm": add, "dest": 0},
    ] + [passthrough] * (p.stages - 2)
    counters = [{"start": 0, "end": n, "stride": 1}] + \
               [{"start": 0, "end": 1, "stride": 1}] * (p.counters - 1)
    vin = [{"enable": 1, "level": 0}] + [{"enable": 0, "level": 0}] * (p.pcu_vec_in - 1)
    return pcu_layout(p).const({
        "enable": 1,
        "counters": counters,
        "vec": 1,
        "vin": vin,
        "stages": stages,
        "vout": {"enable": 1, "src": OutSrc.REG, "reg": 0, "level": 0},
    }).as_bits()


def affine_bitstream(p, n, mul=3, add=1, *, fabric_hash32=None):
    """``y = x * mul + add`` from edge port in0 to edge port out0 through one PCU, with a
    record for every unit and every switch (zero for the unused ones)."""
    netlist = Netlist(
        vunits=[VUnit("x", "in", fixed=0), VUnit("f", "pcu"), VUnit("y", "out", fixed=0)],
        nets=[Net("a", "vector", ("x", "data"), [("f", "vin0")]),
              Net("b", "vector", ("f", "vout"), [("y", "data")])])
    placement = place(netlist, p, seed=0)
    routing = route(netlist, placement, p)
    pcu = placement["f"]

    records = []
    for t in config_targets(p).values():
        if t.record == RecordKind.SWITCH:
            config = routing.switch_config(t.pos)
            bits = t.layout.const({net: {out: {"en": 1, "sel": sel} for out, sel in outs.items()}
                                   for net, outs in config.items()}).as_bits()
        else:
            bits = affine_pcu_config(p, n, mul, add) if t.id == pcu else 0
        records.append(Record(t.record, t.id, words_of(bits, t.layout)))
    hash32 = p.hash32 if fabric_hash32 is None else fabric_hash32
    return encode(Bitstream(hash32, records))


def random_int32(rng, n):
    x = rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True, dtype=np.int64)
    edges = np.array(EDGE_VALUES[:n], dtype=np.int64)
    x[:len(edges)] = edges
    return x.astype(np.int32)


def run_affine(runner, p, n, *, seed=0, **knobs):
    x = random_int32(np.random.default_rng(seed), n)
    vectors = stream_vectors((n,), "rows", p.lanes)
    result = runner.run(affine_bitstream(p, n), {0: pack(x, "rows", p.lanes)}, {0: vectors},
                        seed=seed, **knobs)
    assert result.cfg_error == 0
    y = unpack(result.outputs[0], (n,), "rows", p.lanes)
    want = wrap32(x.astype(np.int64) * 3 + 1)
    bad = np.flatnonzero(y != want)
    assert not bad.size, (f"{bad.size} of {n} results differ; first at {bad[0]}: "
                          f"x={x[bad[0]]} got {y[bad[0]]} want {want[bad[0]]}")
    return result


# -- tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("idle, backpressure, seed", [
    (0.0, 0.0, 0),
    (0.3, 0.0, 1),
    (0.0, 0.5, 2),
    (0.4, 0.4, 3),
])
def test_affine(runner, fabric, idle, backpressure, seed):
    result = run_affine(runner, fabric, 100, seed=seed, idle=idle, backpressure=backpressure)
    assert result.cycles > 0
    assert result.configured


def test_wrong_fabric_hash(runner, fabric):
    bits = affine_bitstream(fabric, 16, fabric_hash32=fabric.hash32 ^ 0x1)
    x = pack(np.arange(16), "rows", fabric.lanes)
    result = runner.run(bits, {0: x}, {0: len(x)})
    assert result.cfg_error == CfgError.FABRIC.value
    assert not result.configured
    assert result.outputs == {}


def test_timeout_names_port(runner, fabric):
    """A run that cannot finish fails with the port and the vectors that arrived."""
    n = 32
    bits = affine_bitstream(fabric, n)
    x = pack(np.arange(n), "rows", fabric.lanes)
    with pytest.raises(SimulationError, match=r"out0: 2 of 4 vectors arrived"):
        # Half the inputs: the PCU waits for the rest, and out0 cannot complete.
        runner.run(bits, {0: x[:2]}, {0: 4}, timeout_cycles=400)


def test_run_arguments(fabric):
    runner = Runner(fabric, sim="icarus", build_root=BUILD_ROOT)
    with pytest.raises(ValueError, match=r"input port must be an integer in \[0, 4\), not 7"):
        runner.run(b"\0" * 8, {7: np.zeros((1, fabric.lanes))}, {})
    with pytest.raises(ValueError, match=r"takes a \(vectors, 8\) array, not shape \(3,\)"):
        runner.run(b"\0" * 8, {0: np.zeros(3)}, {})
    with pytest.raises(ValueError, match=r"idle must be a probability in \[0, 1\), not 1.0"):
        runner.run(b"\0" * 8, {}, {}, idle=1.0)
    with pytest.raises(ValueError, match=r"wave file must end in .fst or .vcd"):
        runner.run(b"\0" * 8, {}, {}, wave="x.ghw")
    with pytest.raises(ValueError, match=r"sim must be one of 'verilator', 'icarus', not 'xsim'"):
        Runner(fabric, sim="xsim")


def test_waves(runner, fabric, tmp_path):
    # VCD: Verilator's FST writer needs the lz4 headers (liblz4-dev) to build.
    wave = tmp_path / "affine.vcd"
    run_affine(runner, fabric, 8, wave=wave)
    head = wave.read_bytes()[:4096]
    assert head.lstrip().startswith(b"$") and b"out0_tvalid" in wave.read_bytes()


def test_throughput(runner, fabric, capsys):
    """x * 3 + 1 on 4096 values; reports the simulator's speed."""
    result = run_affine(runner, fabric, 4096, seed=7)
    with capsys.disabled():
        print(f"\n{runner.sim}: {result.sim_cycles} cycles in {result.wall_seconds:.2f} s = "
              f"{result.cycles_per_second:,.0f} cycles/s (fabric cycles {result.cycles}); "
              f"builds this session: {runner.build_seconds}")
