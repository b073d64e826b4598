import itertools
import random
from dataclasses import dataclass

import pytest
from amaranth.sim import Simulator

from hw.layouts import AccMode, OutSrc, Src, pcu_layout
from hw.ops import INT32_MAX, INT32_MIN, Op, ReduceOp, apply_op, apply_reduce, reduce_identity
from hw.params import load_fabric
from hw.pcu import PCU
from streams import StreamSink, StreamSource, random_pauses

SMALL = load_fabric("small")
TINY = load_fabric("tiny")


# -- configuration -------------------------------------------------------------------

def stage(op, *src, imm=0, dest=0):
    """A stage: ``src`` are up to three ``(Src, index)`` pairs (missing ones are ZERO)."""
    src = list(src) + [(Src.ZERO, 0)] * (3 - len(src))
    return {"op": op, "src": [{"kind": k, "index": i} for k, i in src], "imm": imm, "dest": dest}


def make_cfg(p, *, chain, vec=0, stages=(), vin=None, sin=None, acc=None, vout=None,
             sout=None, enable=1):
    """A ``pcu_layout(p).const`` dict. ``chain``: ``(start, end, stride)`` per counter,
    innermost first (missing outer counters run once); ``vin``/``sin``: ``{index: pop
    level}``; ``acc``: ``(mode, op, src, reset)``; ``vout``/``sout``: ``(src, reg, level)``.
    """
    chain = list(chain) + [(0, 1, 1)] * (p.counters - len(chain))
    off = {"enable": 0, "level": 0}
    out_off = {"enable": 0, "src": OutSrc.REG, "reg": 0, "level": 0}
    vin, sin = vin or {}, sin or {}
    mode, rop, src, reset = acc or (AccMode.NONE, ReduceOp.ADD, 0, 0)

    def out(o):
        return out_off if o is None else {"enable": 1, "src": o[0], "reg": o[1], "level": o[2]}

    return {
        "enable": enable,
        "counters": [{"start": s, "end": e, "stride": st} for s, e, st in chain],
        "vec": vec,
        "vin": [{"enable": 1, "level": vin[k]} if k in vin else off
                for k in range(p.pcu_vec_in)],
        "sin": [{"enable": 1, "level": sin[k]} if k in sin else off
                for k in range(p.pcu_scalar_in)],
        "stages": list(stages) + [stage(Op.PASS, (Src.REG, 0))] * (p.stages - len(stages)),
        "acc": {"mode": mode, "op": rop, "src": src, "reset": reset},
        "vout": out(vout),
        "sout": out(sout),
    }


# -- reference model -----------------------------------------------------------------

@dataclass
class Iteration:
    values: list
    lane0: list
    mask: list
    last: list
    first: list


def iterations(p, cfg):
    """The counter chain's iterations (docs/hardware.md, Counter chain)."""
    counters = cfg["counters"]
    steps = [c["stride"] * (p.lanes if k == 0 and cfg["vec"] else 1)
             for k, c in enumerate(counters)]
    ranges = [range(c["start"], c["end"], step) for c, step in zip(counters, steps)]
    for combo in itertools.product(*reversed(ranges)):
        values = list(reversed(combo))
        if cfg["vec"]:
            lane0 = [values[0] + i * counters[0]["stride"] for i in range(p.lanes)]
            mask = [v < counters[0]["end"] for v in lane0]
        else:
            lane0, mask = [values[0]] * p.lanes, [True] * p.lanes
        yield Iteration(values, lane0, mask,
                        [v + s >= c["end"] for v, s, c in zip(values, steps, counters)],
                        [v == c["start"] for v, c in zip(values, counters)])


def pops(p, cfg):
    """Words each enabled input is popped: ``{("vin"|"sin", k): count}``."""
    count = {(kind, k): 0 for kind in ("vin", "sin") for k, port in enumerate(cfg[kind])
             if port["enable"]}
    for it in iterations(p, cfg):
        for kind in ("vin", "sin"):
            for k, port in enumerate(cfg[kind]):
                if port["enable"]:
                    count[(kind, k)] += all(it.last[:port["level"]])
    return count


def reference(p, cfg, inputs):
    """``(vout words, sout words)`` of one run from ``start``; ``inputs[(kind, k)]`` lists
    the words of each enabled input. The ACC operand sees every earlier iteration's
    update (true in hardware only when iterations issue at least ``stages + 1`` cycles
    apart)."""
    lanes = p.lanes
    acc = [0] * lanes
    head = {key: 0 for key in inputs}
    vout, sout = [], []
    mode, rop = cfg["acc"]["mode"], cfg["acc"]["op"]
    e = reduce_identity(rop)

    def red(x, y):
        return int(apply_reduce(rop, x, y))

    for it in iterations(p, cfg):
        vin = {k: inputs[("vin", k)][head[("vin", k)]] for (kind, k) in inputs if kind == "vin"}
        sin = {k: inputs[("sin", k)][head[("sin", k)]] for (kind, k) in inputs if kind == "sin"}

        def operand(src, regs, imm, i):
            kind, index = src["kind"], src["index"]
            return {
                Src.REG:  lambda: regs[index][i],
                Src.VIN:  lambda: vin[index][i],
                Src.SIN:  lambda: sin[index],
                Src.CTR:  lambda: it.lane0[i] if index == 0 else it.values[index],
                Src.IMM:  lambda: imm,
                Src.ACC:  lambda: acc[i],
                Src.ZERO: lambda: 0,
            }[kind]()

        regs = [[0] * lanes for _ in range(p.regs)]
        for st in cfg["stages"]:
            regs[st["dest"]] = [
                int(apply_op(st["op"], *(operand(s, regs, st["imm"], i) for s in st["src"])))
                for i in range(lanes)]

        r = regs[cfg["acc"]["src"]]
        fresh = all(it.first[:cfg["acc"]["reset"]])
        result = acc
        if mode == AccMode.LANE:
            acc = [r[i] if fresh else red(acc[i], r[i]) for i in range(lanes)]
            result = acc
        elif mode in (AccMode.TREE, AccMode.SCAN):
            out, running = [], e if fresh else acc[0]
            for i in range(lanes):
                running = red(running, r[i] if it.mask[i] else e)
                out.append(running)
            acc = [out[-1]] + [0] * (lanes - 1)
            result = out if mode == AccMode.SCAN else acc

        for name, dest in (("vout", vout), ("sout", sout)):
            o = cfg[name]
            if o["enable"] and all(it.last[:o["level"]]):
                vector = result if o["src"] == OutSrc.ACC else regs[o["reg"]]
                dest.append(list(vector) if name == "vout" else vector[0])
        for (kind, k) in inputs:
            if all(it.last[:cfg[kind][k]["level"]]):
                head[(kind, k)] += 1
    return vout, sout


# -- checker -------------------------------------------------------------------------

def random_inputs(p, cfg, rng, values=None):
    """Random words for every enabled input, as many as it is popped."""
    def word():
        return rng.choice(values) if values else rng.randint(INT32_MIN, INT32_MAX)
    return {key: [[word() for _ in range(p.lanes)] if key[0] == "vin" else word()
                  for _ in range(n)]
            for key, n in pops(p, cfg).items()}


def check(p, cfg, *, seed=0, gaps=0.3, backpressure=0.3, serial=False, rounds=1,
          values=None, inputs=None):
    """Run ``rounds`` runs (each from ``start``) of a PCU configured with ``cfg``, compare
    with :func:`reference` and check ``done`` rises only when everything has drained.

    Each input idles before each word with chance ``gaps`` per cycle and each output is
    not ready with chance ``backpressure`` per cycle, every port with its own pause
    pattern seeded from ``seed`` (which also draws the input words). With ``serial``,
    ``run`` is pulsed so that each iteration issues alone. Returns the outputs.
    """
    rng = random.Random(seed)
    dut = PCU(p)
    runs = [inputs or random_inputs(p, cfg, rng, values) for _ in range(rounds)]
    want = [reference(p, cfg, ins) for ins in runs]
    sources = []
    for kind, k in runs[0]:
        words = [w for r in runs for w in r[(kind, k)]]
        sources.append(StreamSource(getattr(dut, f"{kind}{k}"), words,
                                    pauses=random_pauses(gaps, f"{seed}/{kind}{k}")))
    sinks = {name: StreamSink(getattr(dut, name),
                              pauses=random_pauses(backpressure, f"{seed}/{name}"))
             for name in ("vout", "sout")}
    got = {name: sink.items for name, sink in sinks.items()}
    per_round = []

    async def main(ctx):
        ctx.set(dut.cfg, pcu_layout(p).const(cfg))
        for n, w in enumerate(want):
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            if serial:
                for _ in range(sum(1 for _ in iterations(p, cfg))):
                    ctx.set(dut.run, 1)
                    await ctx.tick().until(dut.issue)
                    ctx.set(dut.run, 0)
                    for _ in range(p.stages + 1):
                        await ctx.tick()
            ctx.set(dut.run, 1)
            for _ in range(20000):
                if ctx.get(dut.done):
                    break
                await ctx.tick()
            else:
                raise AssertionError(f"round {n}: done never rose")
            # done: nothing may be left to leave, so the counts are final one tick later
            assert not ctx.get(dut.vout.valid) and not ctx.get(dut.sout.valid)
            await ctx.tick()
            counts = (len(got["vout"]), len(got["sout"]))
            for _ in range(10):
                assert ctx.get(dut.done)
                await ctx.tick()
            assert (len(got["vout"]), len(got["sout"])) == counts
            per_round.append(counts)
            ctx.set(dut.run, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for driver in sources + list(sinks.values()):
        sim.add_testbench(driver.run, background=True)
    sim.add_testbench(main)
    sim.run()

    start = (0, 0)
    for n, ((want_v, want_s), end) in enumerate(zip(want, per_round)):
        assert got["vout"][start[0]:end[0]] == want_v, f"vout, round {n}"
        assert got["sout"][start[1]:end[1]] == want_s, f"sout, round {n}"
        start = end
    return want


# -- cases ---------------------------------------------------------------------------

VIN0, VIN1, VIN2 = (Src.VIN, 0), (Src.VIN, 1), (Src.VIN, 2)
SIN0, SIN1 = (Src.SIN, 0), (Src.SIN, 1)
R0, R1, R2, R3 = (Src.REG, 0), (Src.REG, 1), (Src.REG, 2), (Src.REG, 3)
CTR0, CTR1, CTR2 = (Src.CTR, 0), (Src.CTR, 1), (Src.CTR, 2)
IMM, ACC = (Src.IMM, 0), (Src.ACC, 0)


def test_map_affine_partial_vector():
    cfg = make_cfg(SMALL, chain=[(0, 20, 1)], vec=1, vin={0: 0},
                   stages=[stage(Op.MUL, VIN0, IMM, imm=3), stage(Op.ADD, R0, IMM, imm=1)],
                   vout=(OutSrc.REG, 0, 0), sout=(OutSrc.REG, 0, 0))
    (vout, sout), = check(SMALL, cfg)
    assert len(vout) == 3 and len(sout) == 3


@pytest.mark.parametrize("op", [Op.SUB, Op.MAX, Op.LT, Op.SHL, Op.SRA, Op.XOR, Op.MUL],
                         ids=lambda op: op.name)
def test_two_inputs(op):
    cfg = make_cfg(SMALL, chain=[(0, 24, 1)], vec=1, vin={0: 0, 1: 0},
                   stages=[stage(op, VIN0, VIN1, dest=1)], vout=(OutSrc.REG, 1, 0))
    check(SMALL, cfg, seed=op.value)


def test_three_operands():
    cfg = make_cfg(SMALL, chain=[(0, 5, 1)], vin={0: 0, 1: 0, 2: 0}, sin={0: 0, 1: 0},
                   stages=[stage(Op.SELECT, VIN2, VIN0, SIN1, dest=1),
                           stage(Op.MAC, VIN1, SIN0, R1, dest=3),
                           stage(Op.SUB, R1, R3, dest=2)],
                   vout=(OutSrc.REG, 2, 0), sout=(OutSrc.REG, 3, 0))
    check(SMALL, cfg, values=[0, 0, 1, -1, 7, INT32_MIN, INT32_MAX, 123456789])


@pytest.mark.parametrize("vec", [0, 1])
def test_counter_operands(vec):
    cfg = make_cfg(SMALL, chain=[(5, 30, 3), (0, 3, 1), (-2, 0, 1)], vec=vec,
                   stages=[stage(Op.MUL, CTR1, IMM, imm=1000),
                           stage(Op.ADD, R0, CTR0),
                           stage(Op.MUL, CTR2, IMM, imm=1000000, dest=1),
                           stage(Op.ADD, R0, R1)],
                   vout=(OutSrc.REG, 0, 0), sout=(OutSrc.REG, 1, 0))
    (vout, _), = check(SMALL, cfg)
    assert vout[0] == [5 + i * 3 * vec - 2000000 for i in range(SMALL.lanes)]


def test_pop_levels():
    # sin0 is reused across counter 0, vin0 across counters 0 and 1
    cfg = make_cfg(SMALL, chain=[(0, 4, 1), (0, 3, 1), (0, 2, 1)],
                   vin={0: 2, 1: 0}, sin={0: 1},
                   stages=[stage(Op.MUL, VIN0, SIN0), stage(Op.ADD, R0, VIN1),
                           stage(Op.ADD, R0, CTR0)],
                   vout=(OutSrc.REG, 0, 0), sout=(OutSrc.REG, 0, 0))
    assert pops(SMALL, cfg) == {("vin", 0): 2, ("vin", 1): 24, ("sin", 0): 6}
    check(SMALL, cfg, gaps=0.5)


def test_push_levels():
    cfg = make_cfg(SMALL, chain=[(0, 4, 1), (0, 3, 1), (0, 2, 1)], vin={0: 0},
                   stages=[stage(Op.ADD, VIN0, CTR1), stage(Op.SUB, VIN0, CTR2, dest=1)],
                   vout=(OutSrc.REG, 0, 1), sout=(OutSrc.REG, 1, 2))
    (vout, sout), = check(SMALL, cfg)
    assert (len(vout), len(sout)) == (6, 2)


def dot_cfg(p, length, rows):
    return make_cfg(p, chain=[(0, length, 1), (0, rows, 1)], vec=1, vin={0: 0, 1: 0},
                    stages=[stage(Op.MUL, VIN0, VIN1, dest=1)],
                    acc=(AccMode.TREE, ReduceOp.ADD, 1, 1),
                    vout=(OutSrc.ACC, 0, 1), sout=(OutSrc.ACC, 0, 1))


def test_tree_dot_product_masked_tail():
    (vout, sout), = check(SMALL, dot_cfg(SMALL, 20, 3))
    assert len(sout) == 3 and all(v[1:] == [0] * (SMALL.lanes - 1) for v in vout)


def test_tree_dot_product_tiny():
    check(TINY, dot_cfg(TINY, 7, 4), seed=5)


def test_lane_accumulate():
    cfg = make_cfg(SMALL, chain=[(0, 5, 1), (0, 3, 1)], vin={0: 0},
                   stages=[stage(Op.PASS, VIN0)],
                   acc=(AccMode.LANE, ReduceOp.ADD, 0, 1),
                   vout=(OutSrc.ACC, 0, 1), sout=(OutSrc.ACC, 0, 1))
    (vout, _), = check(SMALL, cfg)
    assert len(vout) == 3


def test_scan_prefix_sum_carries_across_vectors():
    cfg = make_cfg(SMALL, chain=[(0, 20, 1), (0, 2, 1)], vec=1, vin={0: 0},
                   stages=[stage(Op.PASS, VIN0)],
                   acc=(AccMode.SCAN, ReduceOp.ADD, 0, 1),
                   vout=(OutSrc.ACC, 0, 0), sout=(OutSrc.ACC, 0, 1))
    (vout, sout), = check(SMALL, cfg, values=list(range(-5, 10)))
    assert len(vout) == 6 and len(sout) == 2


@pytest.mark.parametrize("mode", [AccMode.LANE, AccMode.TREE, AccMode.SCAN],
                         ids=lambda m: m.name)
@pytest.mark.parametrize("op", [ReduceOp.MIN, ReduceOp.MAX], ids=lambda o: o.name)
def test_min_max(mode, op):
    cfg = make_cfg(SMALL, chain=[(0, 13, 1), (0, 3, 1)], vec=1, vin={0: 0},
                   stages=[stage(Op.SUB, VIN0, IMM, imm=7, dest=2)],
                   acc=(mode, op, 2, 1),
                   vout=(OutSrc.ACC, 0, 0), sout=(OutSrc.ACC, 0, 1))
    check(SMALL, cfg, seed=op.value * 3 + mode.value)


def test_accumulate_whole_run():
    # reset level = counters: fresh only on the first iteration of the run
    cfg = make_cfg(SMALL, chain=[(0, 16, 1), (0, 3, 1)], vec=1, vin={0: 0},
                   stages=[stage(Op.PASS, VIN0)],
                   acc=(AccMode.TREE, ReduceOp.ADD, 0, SMALL.counters),
                   sout=(OutSrc.ACC, 0, SMALL.counters))
    (_, sout), = check(SMALL, cfg)
    assert len(sout) == 1


@pytest.mark.parametrize("mode", [AccMode.LANE, AccMode.TREE], ids=lambda m: m.name)
def test_acc_operand_serial(mode):
    cfg = make_cfg(SMALL, chain=[(0, 4, 1), (0, 2, 1)], vin={0: 0},
                   stages=[stage(Op.ADD, ACC, VIN0)],
                   acc=(mode, ReduceOp.ADD, 0, SMALL.counters),
                   vout=(OutSrc.ACC, 0, 0))
    check(SMALL, cfg, serial=True, gaps=0, backpressure=0, values=list(range(-3, 4)))


def test_restart_clears_accumulator():
    check(SMALL, dot_cfg(SMALL, 12, 2), rounds=2, seed=11)


def test_done_waits_for_drain():
    cfg = make_cfg(SMALL, chain=[(0, 30 * SMALL.lanes, 1)], vec=1, vin={0: 0},
                   stages=[stage(Op.ADD, VIN0, IMM, imm=-1)],
                   vout=(OutSrc.REG, 0, 0), sout=(OutSrc.REG, 0, 0))
    check(SMALL, cfg, gaps=0, backpressure=0.9, seed=3)


def test_empty_chain():
    cfg = make_cfg(SMALL, chain=[(4, 4, 1)], vin={0: 0}, vout=(OutSrc.REG, 0, 0))
    assert pops(SMALL, cfg) == {("vin", 0): 0}
    (vout, sout), = check(SMALL, cfg)
    assert vout == [] and sout == []


def test_disabled_unit_is_done_and_moves_nothing():
    cfg = make_cfg(SMALL, chain=[(0, 8, 1)], vin={0: 0}, sin={0: 0},
                   vout=(OutSrc.REG, 0, 0), sout=(OutSrc.REG, 0, 0), enable=0)
    dut = PCU(SMALL)

    async def tb(ctx):
        ctx.set(dut.cfg, pcu_layout(SMALL).const(cfg))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.run, 1)
        ctx.set(dut.vin0.valid, 1)
        ctx.set(dut.sin0.valid, 1)
        ctx.set(dut.vout.ready, 1)
        ctx.set(dut.sout.ready, 1)
        for _ in range(30):
            assert ctx.get(dut.done)
            assert not ctx.get(dut.vin0.ready) and not ctx.get(dut.sin0.ready)
            assert not ctx.get(dut.vout.valid) and not ctx.get(dut.sout.valid)
            assert not ctx.get(dut.issue)
            await ctx.tick()

    assert set(dut.signature.members) == {"vin0", "vin1", "vin2", "sin0", "sin1", "vout",
                                          "sout", "cfg", "start", "run", "done"}
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
