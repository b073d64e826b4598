"""Cross-lane reduction and the PCU accumulator stage."""

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import fpu
from .layouts import AccMode, WORD
from .links import vector_layout
from .ops import ReduceOp, INT32_MAX, INT32_MIN, NEG_ZERO, POS_INF, NEG_INF

__all__ = ["ScanNetwork", "Accumulator", "combine", "identity"]


def combine(m, op, x, y, *, fp=False, name=None):
    """A signal equal to ``op(x, y)`` for a :class:`ReduceOp` signal ``op``.

    The floating-point ops are built only with ``fp``; without it they, and opcodes that
    :class:`ReduceOp` does not name, add integers.
    """
    z = Signal(signed(WORD), name=name)
    if fp:
        is_fp = (op == ReduceOp.FADD) | (op == ReduceOp.FMIN) | (op == ReduceOp.FMAX) | \
            (op == ReduceOp.KADD)
        # operands held at zero while an integer op runs, so nothing toggles inside
        fx, fy = Mux(is_fp, x, 0), Mux(is_fp, y, 0)
        fsum = fpu.fadd(m, fx, fy, name=f"{name}_fadd" if name else None)
        cmp = fpu.FComparator()         # one comparator gives both min and max
        if name:
            m.submodules[f"{name}_fcmp"] = cmp
        else:
            m.submodules += cmp
        m.d.comb += [cmp.a.eq(fx), cmp.b.eq(fy)]
    with m.Switch(op):
        with m.Case(ReduceOp.MIN):
            m.d.comb += z.eq(Mux(x < y, x, y))
        with m.Case(ReduceOp.MAX):
            m.d.comb += z.eq(Mux(x < y, y, x))
        if fp:
            with m.Case(ReduceOp.FADD, ReduceOp.KADD):
                m.d.comb += z.eq(fsum)
            with m.Case(ReduceOp.FMIN):
                m.d.comb += z.eq(cmp.min)
            with m.Case(ReduceOp.FMAX):
                m.d.comb += z.eq(cmp.max)
        with m.Default():
            m.d.comb += z.eq(x + y)
    return z


def identity(op):
    """The identity element of a :class:`ReduceOp` signal ``op``, as an expression:
    ``-0.0`` for ``FADD`` (``-0 + x`` is ``x`` for every ``x``, ``+0`` included), ``+inf``
    for ``FMIN``, ``-inf`` for ``FMAX``."""
    value = Mux(op == ReduceOp.MIN, INT32_MAX, Mux(op == ReduceOp.MAX, INT32_MIN, 0))
    for fop, e in ((ReduceOp.FADD, NEG_ZERO), (ReduceOp.KADD, NEG_ZERO),
                   (ReduceOp.FMIN, POS_INF), (ReduceOp.FMAX, NEG_INF)):
        value = Mux(op == fop, e, value)
    return value


class ScanNetwork(wiring.Component):
    """Inclusive prefix ``y[i] = x[0] op x[1] op .. op x[i]`` across the lanes.

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
    x : In(vector_layout(lanes))
    y : Out(vector_layout(lanes))
    """

    def __init__(self, lanes, *, fp=False):
        if not isinstance(lanes, int) or lanes < 1 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {lanes!r}")
        self._lanes = lanes
        self._fp = bool(fp)
        vector = vector_layout(lanes)
        super().__init__({"op": In(ReduceOp), "x": In(vector), "y": Out(vector)})

    def elaborate(self, platform):
        m = Module()
        lanes = [self.x[i] for i in range(self._lanes)]
        span = 1
        while span < self._lanes:
            upper = [i for i in range(self._lanes) if (i // span) % 2]
            lanes = [combine(m, self.op, lanes[(i // span) * span - 1], lanes[i],
                             fp=self._fp, name=f"scan{span}_{i}") if i in upper else lanes[i]
                     for i in range(self._lanes)]
            span *= 2
        m.d.comb += [self.y[i].eq(lanes[i]) for i in range(self._lanes)]
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

        lane = self.mode == AccMode.LANE
        kahan = self._fp
        if kahan:
            # compensated sums (KADD, LANE and TREE): y = v - c; t = acc + y;
            # c' = (t - acc) - y, one compensation term per lane (TREE: lane 0's)
            comp = Signal(vector_layout(n))
            use = (self.op == ReduceOp.KADD) & (self.mode != AccMode.SCAN) & ~self.fresh
        out, comp_new = [], []
        for i in range(n):
            x = Mux(self.fresh, e, Mux(lane, self.acc[i], self.acc[0]))
            v = Mux(lane, self.r[i], scan.y[i])
            if kahan:
                c = Mux(use, Mux(lane, comp[i], comp[0]), 0)
                v = Mux(use, fpu.fadd(m, v, c, subtract=1, name=f"kahan_y{i}"), v)
            t = combine(m, self.op, x, v, fp=self._fp, name=f"out{i}")
            out.append(t)
            if kahan:
                moved = fpu.fadd(m, Mux(use, t, 0), Mux(use, x, 0), subtract=1,
                                 name=f"kahan_d{i}")
                comp_new.append(fpu.fadd(m, moved, Mux(use, v, 0), subtract=1,
                                         name=f"kahan_c{i}"))

        new = Signal(vector_layout(n))
        with m.Switch(self.mode):
            with m.Case(AccMode.LANE):
                m.d.comb += [new[i].eq(out[i]) for i in range(n)]
            with m.Case(AccMode.TREE, AccMode.SCAN):
                m.d.comb += new[0].eq(out[-1])
            with m.Default():
                m.d.comb += new.eq(self.acc)
        with m.If(self.mode == AccMode.SCAN):
            m.d.comb += [self.result[i].eq(out[i]) for i in range(n)]
        with m.Else():
            m.d.comb += self.result.eq(new)

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
