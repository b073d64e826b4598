"""Cross-lane reduction and the PCU accumulator stage."""

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import fpu
from .layouts import AccMode, WORD
from .links import vector_layout
from .ops import ReduceOp, INT32_MAX, INT32_MIN, NEG_ZERO, POS_INF, NEG_INF

__all__ = ["ScanNetwork", "Accumulator", "combine", "combine_pairs", "identity",
           "is_arg_op"]


def combine(m, op, x, y, *, fp=False, name=None):
    """A signal equal to ``op(x, y)`` for a :class:`ReduceOp` signal ``op``.

    The floating-point ops are built only with ``fp``; without it they, and opcodes that
    :class:`ReduceOp` does not name, add integers. For the arg ops it is the value of
    the winning pair (see :func:`combine_pairs`).
    """
    return _combine(m, op, x, y, fp, name)[0]


def combine_pairs(m, op, x, xi, y, yi, *, fp=False, name=None):
    """``(value, index)`` signals of combining pair ``(x, xi)`` with ``(y, yi)``, the
    right one of higher index: for an arg op the pair that wins (the right one only if
    strictly better: ``hw.ops.right_wins``), else ``(op(x, y), xi)``."""
    z, right = _combine(m, op, x, y, fp, name)
    zi = Signal(signed(WORD), name=f"{name}_index" if name else None)
    m.d.comb += zi.eq(Mux(right, yi, xi))
    return z, zi


def _combine(m, op, x, y, fp, name):
    """``op(x, y)`` and, for the arg ops, whether the right operand wins (0 otherwise)."""
    z = Signal(signed(WORD), name=name)
    right = Signal(name=f"{name}_right" if name else None)
    if fp:
        is_fp = (op == ReduceOp.FADD) | (op == ReduceOp.FMIN) | (op == ReduceOp.FMAX) | \
            (op == ReduceOp.KADD) | (op == ReduceOp.FARGMIN) | (op == ReduceOp.FARGMAX)
        # operands held at zero while an integer op runs, so nothing toggles inside
        fx, fy = Mux(is_fp, x, 0), Mux(is_fp, y, 0)
        fsum = fpu.fadd(m, fx, fy, name=f"{name}_fadd" if name else None)
        cmp = fpu.FComparator()         # one comparator gives min, max and the arg tests
        if name:
            m.submodules[f"{name}_fcmp"] = cmp
        else:
            m.submodules += cmp
        m.d.comb += [cmp.a.eq(fx), cmp.b.eq(fy)]
        # a NaN on the right wins unless the left one is a NaN too (the first NaN wins)
        nan_right = ((fy & 0x7FFFFFFF) > POS_INF) & ~((fx & 0x7FFFFFFF) > POS_INF)
    with m.Switch(op):
        with m.Case(ReduceOp.MIN):
            m.d.comb += z.eq(Mux(x < y, x, y))
        with m.Case(ReduceOp.MAX):
            m.d.comb += z.eq(Mux(x < y, y, x))
        with m.Case(ReduceOp.ARGMIN):
            m.d.comb += right.eq(y < x)
        with m.Case(ReduceOp.ARGMAX):
            m.d.comb += right.eq(x < y)
        if fp:
            with m.Case(ReduceOp.FADD, ReduceOp.KADD):
                m.d.comb += z.eq(fsum)
            with m.Case(ReduceOp.FMIN):
                m.d.comb += z.eq(cmp.min)
            with m.Case(ReduceOp.FMAX):
                m.d.comb += z.eq(cmp.max)
            with m.Case(ReduceOp.FARGMIN):
                m.d.comb += right.eq((~cmp.lt & ~cmp.eq & ~cmp.unordered) | nan_right)
            with m.Case(ReduceOp.FARGMAX):
                m.d.comb += right.eq(cmp.lt | nan_right)
        with m.Default():
            m.d.comb += z.eq(x + y)
    with m.If(is_arg_op(op, fp)):
        m.d.comb += z.eq(Mux(right, y, x))
    return z, right


def is_arg_op(op, fp):
    """Whether :class:`ReduceOp` signal ``op`` is an arg op built (the fp ones with
    ``fp``)."""
    arg = (op == ReduceOp.ARGMIN) | (op == ReduceOp.ARGMAX)
    if fp:
        arg = arg | (op == ReduceOp.FARGMIN) | (op == ReduceOp.FARGMAX)
    return arg


def identity(op):
    """The identity element of a :class:`ReduceOp` signal ``op``, as an expression:
    ``-0.0`` for ``FADD`` (``-0 + x`` is ``x`` for every ``x``, ``+0`` included), ``+inf``
    for ``FMIN``, ``-inf`` for ``FMAX``; for the arg ops, the value of a masked lane, which
    never wins against a lane on its left."""
    value = Mux(op == ReduceOp.MIN, INT32_MAX, Mux(op == ReduceOp.MAX, INT32_MIN, 0))
    for fop, e in ((ReduceOp.FADD, NEG_ZERO), (ReduceOp.KADD, NEG_ZERO),
                   (ReduceOp.FMIN, POS_INF), (ReduceOp.FMAX, NEG_INF),
                   (ReduceOp.ARGMIN, INT32_MAX), (ReduceOp.ARGMAX, INT32_MIN),
                   (ReduceOp.FARGMIN, POS_INF), (ReduceOp.FARGMAX, NEG_INF)):
        value = Mux(op == fop, e, value)
    return value


class ScanNetwork(wiring.Component):
    """Inclusive prefix ``y[i] = x[0] op x[1] op .. op x[i]`` across the lanes, with the
    index of each lane's winning pair for the arg ops (``yi``, from the lane indices
    ``xi``).

    A Sklansky network: ``log2(lanes)`` levels; at the level of span ``s`` every lane in
    the upper half of a block of ``2s`` lanes combines the last lane of the lower half
    (lower lanes always on the left). Its last lane is therefore the balanced tree
    ``((x0 op x1) op (x2 op x3)) op ...``.

    Parameters
    ----------
    lanes : int
        Power of two.
    fp : bool
        Build the floating-point reductions.

    Ports
    -----
    op : In(ReduceOp)
    x, xi : In(vector_layout(lanes))
    y, yi : Out(vector_layout(lanes))
    """

    def __init__(self, lanes, *, fp=False):
        if not isinstance(lanes, int) or lanes < 1 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {lanes!r}")
        self._lanes = lanes
        self._fp = bool(fp)
        vector = vector_layout(lanes)
        super().__init__({"op": In(ReduceOp), "x": In(vector), "xi": In(vector),
                          "y": Out(vector), "yi": Out(vector)})

    def elaborate(self, platform):
        m = Module()
        n = self._lanes
        lanes = [(self.x[i], self.xi[i]) for i in range(n)]
        span = 1
        while span < n:
            upper = [i for i in range(n) if (i // span) % 2]
            lanes = [combine_pairs(m, self.op, *lanes[(i // span) * span - 1], *lanes[i],
                                   fp=self._fp, name=f"scan{span}_{i}")
                     if i in upper else lanes[i] for i in range(n)]
            span *= 2
        m.d.comb += [self.y[i].eq(lanes[i][0]) for i in range(n)]
        m.d.comb += [self.yi[i].eq(lanes[i][1]) for i in range(n)]
        return m


class Accumulator(wiring.Component):
    """The accumulator stage after the last pipeline stage (``docs/hardware.md``, PCU).

    The register ``acc`` holds, per mode: ``LANE`` the per-lane accumulators; ``TREE``
    and ``SCAN`` ``[acc0, 0, ..., 0]``; ``NONE`` is left alone. ``clear`` zeroes it.

    When ``valid``, with ``e`` the identity of ``op`` and ``r`` the input vector:

    * ``LANE``: ``acc[i] = op(e if fresh else acc[i], r[i])``;
    * ``TREE``: ``acc0 = op(e if fresh else acc0, tree(r))``, masked lanes giving ``e``;
    * ``SCAN``: ``out[i] = op(e if fresh else acc0, r[0] .. r[i])``, masked lanes giving
      ``e``; ``acc0 = out[lanes-1]``.

    ``result`` is what the ACC output source pushes for this input: the new ``acc``
    (``LANE``, ``TREE``, ``NONE``) or ``out`` (``SCAN``). ``TREE`` and ``SCAN`` share the
    one :class:`ScanNetwork` (a tree is the last lane of a scan).

    The arg ops (``LANE`` and ``TREE``) carry ``(value, index)`` pairs: ``idx`` gives each
    lane's index, a second register holds the index of each accumulated value, and
    ``result`` is the new index instead of the value. A fresh accumulator takes the
    input pair as it is (combining it with the identity could keep the identity's index
    on a tie).

    Parameters
    ----------
    lanes : int
    fp : bool
        Build the floating-point reductions.

    Ports
    -----
    mode : In(AccMode)
    op : In(ReduceOp)
    clear : In(1)
        Zero ``acc`` (wins over ``valid``).
    valid, fresh : In(1)
    mask : In(lanes)
    r : In(vector_layout(lanes))
    idx : In(vector_layout(lanes))
        The index of each lane's value, for the arg ops.
    acc : Out(vector_layout(lanes))
        The register.
    result : Out(vector_layout(lanes))
        Combinational, from this cycle's input.
    """

    def __init__(self, lanes, *, fp=False):
        self._lanes = lanes
        self._fp = bool(fp)
        vector = vector_layout(lanes)
        super().__init__({
            "mode":   In(AccMode),
            "op":     In(ReduceOp),
            "clear":  In(1),
            "valid":  In(1),
            "fresh":  In(1),
            "mask":   In(lanes),
            "r":      In(vector),
            "idx":    In(vector),
            "acc":    Out(vector),
            "result": Out(vector),
        })

    def elaborate(self, platform):
        m = Module()
        n = self._lanes
        m.submodules.scan = scan = ScanNetwork(n, fp=self._fp)
        e = Signal(signed(WORD))
        m.d.comb += [e.eq(identity(self.op)), scan.op.eq(self.op)]
        m.d.comb += [scan.x[i].eq(Mux(self.mask[i], self.r[i], e)) for i in range(n)]
        m.d.comb += scan.xi.eq(self.idx)
        acci = Signal(vector_layout(n))         # the index of each value in acc
        arg = is_arg_op(self.op, self._fp)

        lane = self.mode == AccMode.LANE
        kahan = self._fp
        if kahan:
            # compensated sums (KADD, LANE and TREE): y = v - c; t = acc + y;
            # c' = (t - acc) - y, one compensation term per lane (TREE: lane 0's)
            comp = Signal(vector_layout(n))
            use = (self.op == ReduceOp.KADD) & (self.mode != AccMode.SCAN) & ~self.fresh
        out, out_index, comp_new = [], [], []
        for i in range(n):
            v = Mux(lane, self.r[i], scan.y[i])
            vi = Mux(lane, self.idx[i], scan.yi[i])
            x = Mux(self.fresh, Mux(arg, v, e), Mux(lane, self.acc[i], self.acc[0]))
            xi = Mux(self.fresh, vi, Mux(lane, acci[i], acci[0]))
            if kahan:
                c = Mux(use, Mux(lane, comp[i], comp[0]), 0)
                v = Mux(use, fpu.fadd(m, v, c, subtract=1, name=f"kahan_y{i}"), v)
            t, ti = combine_pairs(m, self.op, x, xi, v, vi, fp=self._fp, name=f"out{i}")
            out.append(t)
            out_index.append(ti)
            if kahan:
                moved = fpu.fadd(m, Mux(use, t, 0), Mux(use, x, 0), subtract=1,
                                 name=f"kahan_d{i}")
                comp_new.append(fpu.fadd(m, moved, Mux(use, v, 0), subtract=1,
                                         name=f"kahan_c{i}"))

        new = Signal(vector_layout(n))
        new_index = Signal(vector_layout(n))
        with m.Switch(self.mode):
            with m.Case(AccMode.LANE):
                m.d.comb += [new[i].eq(out[i]) for i in range(n)]
                m.d.comb += [new_index[i].eq(out_index[i]) for i in range(n)]
            with m.Case(AccMode.TREE, AccMode.SCAN):
                m.d.comb += [new[0].eq(out[-1]), new_index[0].eq(out_index[-1])]
            with m.Default():
                m.d.comb += [new.eq(self.acc), new_index.eq(acci)]
        with m.If(self.mode == AccMode.SCAN):
            m.d.comb += [self.result[i].eq(out[i]) for i in range(n)]
        with m.Elif(arg):
            m.d.comb += self.result.eq(new_index)
        with m.Else():
            m.d.comb += self.result.eq(new)

        with m.If(self.clear):
            m.d.sync += acci.eq(0)
        with m.Elif(self.valid):
            m.d.sync += acci.eq(new_index)
        with m.If(self.clear):
            m.d.sync += self.acc.eq(0)
        with m.Elif(self.valid):
            m.d.sync += self.acc.eq(new)
        if kahan:
            is_kadd = (self.op == ReduceOp.KADD) & (self.mode != AccMode.SCAN)
            with m.If(self.clear | ~is_kadd):
                m.d.sync += comp.eq(0)
            with m.Elif(self.valid):
                with m.If(lane):
                    m.d.sync += [comp[i].eq(comp_new[i]) for i in range(n)]
                with m.Else():
                    m.d.sync += [comp.eq(0), comp[0].eq(comp_new[-1])]
        return m
