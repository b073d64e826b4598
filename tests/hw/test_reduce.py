# amaranth: UnusedElaboratable=no
# (a ScanNetwork refused by its constructor is left behind unused)

"""The cross-lane scan network and the PCU accumulator stage (``hw/reduce.py``) against
reference models built on ``hw.ops.apply_reduce`` / ``reduce_identity``."""

import functools
import random
from dataclasses import dataclass

import pytest
from amaranth.sim import Simulator

from hw.layouts import AccMode
from hw.ops import (ARG_REDUCE_OPS, FP_REDUCE_OPS, INT32_MAX, INT32_MIN, Op, ReduceOp, apply_op,
                    apply_reduce, arg_reduce, reduce_identity, right_wins)
from hw.params import PRESETS, load_fabric
from hw.reduce import Accumulator, ScanNetwork

PRESET_LANES = sorted({load_fabric(name).lanes for name in PRESETS})
REDUCE_OPS = [op for op in ReduceOp if op not in FP_REDUCE_OPS]


def red(op, x, y):
    return int(apply_reduce(op, x, y))


def red_pair(op, a, b):
    """Pair ``a`` (value, index) combined with pair ``b`` on its right: for an arg op
    the winner (``b`` only if strictly better), else ``(op(x, y), a's index)``."""
    if op in ARG_REDUCE_OPS:
        return b if bool(right_wins(op, a[0], b[0])) else a
    return red(op, a[0], b[0]), a[1]


def random_word(rng):
    """A 32-bit word, one time in three an extreme or small one (overflow, identities)."""
    if rng.random() < 0.3:
        return rng.choice([INT32_MIN, INT32_MIN + 1, INT32_MAX, -1, 0, 1])
    return rng.randrange(INT32_MIN, INT32_MAX + 1)


#: binary32 patterns that matter to fp reductions: +-0, +-inf, NaN, subnormals, 1.0,
#: the largest normal (overflow on adding two), -1.0
FLOAT_EDGES = [0, -(2 ** 31), 0x7F800000, -0x00800000, 0x7FC00000, 1, 0x007FFFFF,
               0x3F800000, 0x7F7FFFFF, -0x40800000]


def random_float(rng):
    """A binary32 pattern: often an edge, else a value of modest exponent (so that sums
    round and cancel), now and then any pattern at all."""
    x = rng.random()
    if x < 0.15:
        return rng.choice(FLOAT_EDGES)
    if x < 0.85:
        bits = (rng.getrandbits(1) << 31) | (rng.randrange(120, 135) << 23) | rng.getrandbits(23)
    else:
        bits = rng.getrandbits(32)
    return bits - (1 << 32) if bits >> 31 else bits


def random_vector(lanes, rng, fp=False):
    return [random_float(rng) if fp else random_word(rng) for _ in range(lanes)]


# -- scan network ----------------------------------------------------------------------

def prefix_pairs(op, x, xi):
    """Inclusive prefix of the pairs ``zip(x, xi)`` under ``op``, lane 0 first, in the
    Sklansky network's order: at span ``s`` each lane in the upper half of a block of
    ``2s`` combines the last lane of the lower half on its left (the order
    floating-point sums depend on)."""
    x, span = list(zip(x, xi)), 1
    while span < len(x):
        x = [red_pair(op, x[(i // span) * span - 1], v) if (i // span) % 2 else v
             for i, v in enumerate(x)]
        span *= 2
    return x


def prefix(op, x):
    """The values of :func:`prefix_pairs`."""
    return [v for v, _ in prefix_pairs(op, x, range(len(x)))]


def check_scan(lanes, op, *, seed, vectors=24, opcode=None, fp=False):
    """Drive ``vectors`` random vectors (and random lane indices) into a
    ``ScanNetwork(lanes, fp=fp)`` set to ``op`` (or to the raw ``opcode``) and compare
    ``y`` and ``yi`` with :func:`prefix_pairs` of ``op``."""
    dut = ScanNetwork(lanes, fp=fp)
    rng = random.Random(seed)
    stimulus = [(random_vector(lanes, rng, fp=op in FP_REDUCE_OPS), random_vector(lanes, rng))
                for _ in range(vectors)]

    async def tb(ctx):
        if opcode is None:
            ctx.set(dut.op, op)
        else:
            ctx.set(dut.op.as_value(), opcode)
        for x, xi in stimulus:
            ctx.set(dut.x, x)
            ctx.set(dut.xi, xi)
            want = prefix_pairs(op, x, xi)
            assert list(ctx.get(dut.y)) == [v for v, _ in want], f"x = {x}"
            if op in ARG_REDUCE_OPS:
                assert list(ctx.get(dut.yi)) == [i for _, i in want], f"x = {x}"

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("lanes", [1, 2] + PRESET_LANES)
@pytest.mark.parametrize("op", REDUCE_OPS, ids=lambda op: op.name)
def test_scan_prefix(op, lanes):
    check_scan(lanes, op, seed=lanes * 10 + op.value)


@pytest.mark.parametrize("lanes", [2, 8])
@pytest.mark.parametrize("op", sorted(FP_REDUCE_OPS, key=lambda op: op.value),
                         ids=lambda op: op.name)
def test_scan_prefix_floating_point(op, lanes):
    check_scan(lanes, op, seed=lanes * 10 + op.value, vectors=40, fp=True)


def test_scan_with_fp_still_computes_the_integer_ops():
    for op in REDUCE_OPS:
        check_scan(4, op, seed=50 + op.value, fp=True)


def test_scan_unnamed_opcode_adds():
    # the 4-bit op field can hold 15, which ReduceOp does not name
    assert 15 not in {op.value for op in ReduceOp}
    check_scan(8, ReduceOp.ADD, seed=99, opcode=15)


@pytest.mark.parametrize("lanes", [0, 3, 6, -4, 4.0])
def test_scan_lanes_must_be_a_power_of_two(lanes):
    with pytest.raises(ValueError, match=rf"^lanes must be a power of two, not {lanes!r}$"):
        ScanNetwork(lanes)


# -- accumulator -----------------------------------------------------------------------

@dataclass(frozen=True)
class AccInput:
    """The accumulator's inputs in one cycle; ``mask`` has bit ``i`` for lane ``i``;
    ``idx`` the lane indices (all zero if not given)."""
    r: list
    mode: AccMode = AccMode.NONE
    op: ReduceOp = ReduceOp.ADD
    clear: bool = False
    valid: bool = False
    fresh: bool = False
    mask: int = 0
    idx: list = None


class AccumulatorModel:
    """The accumulator per its contract (``docs/hardware.md``, PCU accumulator stage).

    :meth:`result` is this cycle's ``result`` from the registers (``acc``, the index
    register ``acci``) and the inputs; :meth:`edge` updates them at the clock edge:
    zero on ``clear``, else the new values on ``valid``, else unchanged.
    """

    def __init__(self, lanes):
        self.lanes = lanes
        self.acc = [0] * lanes
        self.acci = [0] * lanes
        self.comp = [0] * lanes     # Kahan compensation terms (KADD in LANE and TREE)

    def _kahan(self, acc, c, v, fresh):
        """``(acc + v compensated, new compensation)``; a fresh sum starts plain."""
        if fresh:
            return red(ReduceOp.FADD, reduce_identity(ReduceOp.FADD), v), 0
        y = int(apply_op(Op.FSUB, v, c))
        t = red(ReduceOp.FADD, acc, y)
        return t, int(apply_op(Op.FSUB, int(apply_op(Op.FSUB, t, acc)), y))

    def _step(self, i, pair, held):
        """``pair`` (value, index) accumulated onto ``held``: a fresh accumulator takes
        an arg op's pair as it is, other ops start from the identity."""
        if i.fresh:
            held = (pair[0] if i.op in ARG_REDUCE_OPS else reduce_identity(i.op), pair[1])
        return red_pair(i.op, held, pair)

    def _update(self, i):
        """``(new acc, new acci, result, new compensation)`` for the inputs ``i``."""
        e = reduce_identity(i.op)
        kahan = i.op == ReduceOp.KADD
        arg = i.op in ARG_REDUCE_OPS
        zero = [0] * self.lanes
        idx = i.idx or zero
        if i.mode == AccMode.LANE:
            index = [x if i.fresh else a for x, a in zip(idx, self.acci)]
            if kahan:
                pairs = [self._kahan(a, c, r, i.fresh)
                         for a, c, r in zip(self.acc, self.comp, i.r)]
                new = [t for t, _ in pairs]
                return new, index, new, [c for _, c in pairs]
            out = [self._step(i, (r, x), (a, ai))
                   for r, x, a, ai in zip(i.r, idx, self.acc, self.acci)]
            new, index = [v for v, _ in out], [x for _, x in out]
            return new, index, index if arg else new, zero
        if i.mode in (AccMode.TREE, AccMode.SCAN):
            masked = [r if i.mask >> lane & 1 else e for lane, r in enumerate(i.r)]
            pre = prefix_pairs(i.op, masked, idx)
            held = (self.acc[0], self.acci[0])
            if kahan and i.mode == AccMode.TREE:
                t, c = self._kahan(self.acc[0], self.comp[0], pre[-1][0], i.fresh)
                index = pre[-1][1] if i.fresh else self.acci[0]
                return [t] + zero[1:], [index] + zero[1:], [t] + zero[1:], [c] + zero[1:]
            out = [self._step(i, pair, held) for pair in pre]
            new, index = [out[-1][0]] + zero[1:], [out[-1][1]] + zero[1:]
            if i.mode == AccMode.SCAN:
                return new, index, [v for v, _ in out], zero
            return new, index, index if arg else new, zero
        return self.acc, self.acci, self.acci if arg else self.acc, zero

    def result(self, i):
        return self._update(i)[2]

    def edge(self, i):
        if i.clear:
            self.acc = [0] * self.lanes
            self.acci = [0] * self.lanes
            self.comp = [0] * self.lanes
        elif i.valid:
            self.acc, self.acci, _, self.comp = self._update(i)
        elif i.op != ReduceOp.KADD or i.mode == AccMode.SCAN:
            self.comp = [0] * self.lanes


def run_accumulator(lanes, inputs, fp=False):
    """Apply ``inputs`` (one :class:`AccInput` per cycle) to an ``Accumulator(lanes,
    fp=fp)``; returns ``[(acc, result)]`` as the hardware shows them in each cycle,
    before its clock edge."""
    dut = Accumulator(lanes, fp=fp)
    seen = []

    async def tb(ctx):
        for i in inputs:
            for name in ("r", "mode", "op", "clear", "valid", "fresh", "mask"):
                ctx.set(getattr(dut, name), getattr(i, name))
            ctx.set(dut.idx, i.idx or [0] * lanes)
            seen.append((list(ctx.get(dut.acc)), list(ctx.get(dut.result))))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return seen


def check_accumulator(lanes, inputs, fp=False):
    """Compare ``acc`` and ``result`` with :class:`AccumulatorModel` cycle by cycle."""
    model = AccumulatorModel(lanes)
    seen = run_accumulator(lanes, inputs, fp)
    for cycle, (i, (acc, result)) in enumerate(zip(inputs, seen)):
        assert acc == model.acc, f"cycle {cycle}: acc"
        assert result == model.result(i), f"cycle {cycle}: result of {i}"
        model.edge(i)


def random_inputs(lanes, rng, n, *, modes, ops):
    """``n`` cycles of random inputs, mode and op drawn from ``modes`` and ``ops`` each
    cycle; mostly valid, sometimes fresh, now and then a clear."""
    fp = all(op in FP_REDUCE_OPS for op in ops)
    return [AccInput(r=random_vector(lanes, rng, fp), mode=rng.choice(modes), op=rng.choice(ops),
                     clear=rng.random() < 0.05, valid=rng.random() < 0.8,
                     fresh=rng.random() < 0.2, mask=rng.getrandbits(lanes),
                     idx=random_vector(lanes, rng))
            for _ in range(n)]


@pytest.mark.parametrize("lanes", PRESET_LANES)
@pytest.mark.parametrize("op", REDUCE_OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("mode", list(AccMode), ids=lambda mode: mode.name)
def test_accumulator_random(mode, op, lanes):
    rng = random.Random(lanes * 100 + mode.value * 10 + op.value)
    check_accumulator(lanes, random_inputs(lanes, rng, 60, modes=[mode], ops=[op]))


@pytest.mark.parametrize("op", sorted(FP_REDUCE_OPS, key=lambda op: op.value),
                         ids=lambda op: op.name)
@pytest.mark.parametrize("mode", [AccMode.LANE, AccMode.TREE, AccMode.SCAN],
                         ids=lambda mode: mode.name)
def test_accumulator_floating_point(mode, op):
    # KADD: the compensated sum, whose compensation register the model tracks too
    rng = random.Random(1000 + mode.value * 10 + op.value)
    check_accumulator(8, random_inputs(8, rng, 60, modes=[mode], ops=[op]), fp=True)


def test_accumulator_mode_and_op_change_every_cycle():
    # beyond what a configured PCU does: NONE holds a folded value, TREE reads lane 0
    # of a LANE fold and zeroes the others
    rng = random.Random(7)
    check_accumulator(4, random_inputs(4, rng, 300, modes=list(AccMode), ops=REDUCE_OPS))


def test_clear_wins_over_valid():
    r = [5, -6, 7, 8]
    fold = AccInput(r=r, mode=AccMode.LANE, valid=True)
    seen = run_accumulator(4, [fold, fold, AccInput(r=r, mode=AccMode.LANE, valid=True,
                                                    clear=True), fold])
    assert [acc for acc, _ in seen] == [[0] * 4, r, [2 * x for x in r], [0] * 4]
    # result stays combinational from acc and r in the clearing cycle
    assert seen[2][1] == [3 * x for x in r]


# -- the accumulator as a PCU drives it ------------------------------------------------

def rows_of_vectors(lanes, rng, rows, length):
    """``rows`` rows of ``length`` words, each cut into vectors of ``lanes`` with a
    mask on the last (a vectorised inner counter over ``range(length)``)."""
    result = []
    for _ in range(rows):
        words = [random_word(rng) for _ in range(length)]
        vectors = []
        for base in range(0, length, lanes):
            chunk = words[base:base + lanes]
            mask = (1 << len(chunk)) - 1
            vectors.append((chunk + [random_word(rng)] * (lanes - len(chunk)), mask))
        result.append((words, vectors))
    return result


def check_row_folds(lanes, mode, op, *, seed, rows=3, length=None, gap=0.3):
    """A PCU loop over ``rows`` rows of ``length`` words: ``clear`` at start, then one
    ``valid`` iteration per vector (idle cycles between them with chance ``gap``), fresh
    on the first vector of a row (reset level 1), the lane indices those of counter 0
    (the position in the row for TREE and SCAN, the vector's number for LANE). The
    ``result`` of each row's last vector is what an output at level 1 pushes: it must be
    that row's reduction, computed here straight from ``apply_reduce`` (``arg_reduce``
    for the arg ops)."""
    rng = random.Random(seed)
    length = length or 2 * lanes + 3
    arg = op in ARG_REDUCE_OPS
    fold = functools.partial(functools.reduce, functools.partial(red, op))
    if arg:
        def fold(words):
            return int(arg_reduce(op, words, 0))
    inputs, emits, want = [AccInput(r=[0] * lanes, clear=True)], [], []
    for words, vectors in rows_of_vectors(lanes, rng, rows, length):
        for n, (r, mask) in enumerate(vectors):
            while rng.random() < gap:
                inputs.append(AccInput(r=random_vector(lanes, rng), mode=mode, op=op,
                                       mask=rng.getrandbits(lanes),
                                       idx=random_vector(lanes, rng)))
            idx = [n] * lanes if mode == AccMode.LANE else [n * lanes + i for i in range(lanes)]
            inputs.append(AccInput(r=r, mode=mode, op=op, valid=True, fresh=n == 0,
                                   mask=mask, idx=idx))
        emits.append(len(inputs) - 1)
        if mode == AccMode.LANE:
            # every lane folds its own words, masked or not
            want.append([fold([r[i] for r, _ in vectors]) for i in range(lanes)])
        elif mode == AccMode.TREE:
            want.append([fold(words)] + [0] * (lanes - 1))
        else:
            # the row's running prefix, masked lanes of the last vector adding the identity
            padded = words + [reduce_identity(op)] * (len(vectors) * lanes - length)
            want.append(prefix(op, padded)[-lanes:])
    seen = run_accumulator(lanes, inputs)
    assert [seen[k][1] for k in emits] == want


#: (mode, op) of the row folds a PCU runs: every op in LANE and TREE, SCAN without the
#: arg ops (the compiler refuses a scan with one)
ROW_FOLDS = [(mode, op) for mode in (AccMode.LANE, AccMode.TREE, AccMode.SCAN)
             for op in REDUCE_OPS if not (mode == AccMode.SCAN and op in ARG_REDUCE_OPS)]


@pytest.mark.parametrize("mode,op", ROW_FOLDS, ids=[f"{op.name}-{mode.name}"
                                                    for mode, op in ROW_FOLDS])
def test_row_folds(mode, op):
    check_row_folds(8, mode, op, seed=mode.value * 10 + op.value)


def test_row_folds_with_ties_keep_the_lowest_index():
    """Rows of few distinct values, so most of them tie: the index of the first best."""
    for op in (ReduceOp.ARGMIN, ReduceOp.ARGMAX):
        for mode in (AccMode.LANE, AccMode.TREE):
            rng = random.Random(op.value + mode.value)
            lanes, inputs, emits, want = 4, [AccInput(r=[0] * 4, clear=True)], [], []
            for _ in range(3):
                vectors = [[rng.choice([-1, 0, 1]) for _ in range(lanes)] for _ in range(3)]
                for n, r in enumerate(vectors):
                    idx = [n] * lanes if mode == AccMode.LANE else \
                        [n * lanes + i for i in range(lanes)]
                    inputs.append(AccInput(r=r, mode=mode, op=op, valid=True, fresh=n == 0,
                                           mask=0b1111, idx=idx))
                emits.append(len(inputs) - 1)
                if mode == AccMode.LANE:
                    want.append([int(arg_reduce(op, [v[i] for v in vectors], 0))
                                 for i in range(lanes)])
                else:
                    flat = [w for v in vectors for w in v]
                    first = flat.index((min if op == ReduceOp.ARGMIN else max)(flat))
                    want.append([first, 0, 0, 0])
            seen = run_accumulator(lanes, inputs)
            assert [seen[k][1] for k in emits] == want, (op, mode)


def test_row_folds_tiny_lanes_whole_vectors():
    check_row_folds(4, AccMode.TREE, ReduceOp.ADD, seed=3, rows=4, length=12)
