"""Partitioning and register allocation: a :class:`~.schedule.Schedule` over the PCUs of
a kernel's chain.

The steps, in schedule order, are split over as few PCUs as the stages, registers and
input FIFOs allow (a shortest path over the legal cuts). A cut is legal where exactly
one value computed since the previous cut is read after it: that value is the part's
result, and it leaves the PCU on its vector output. Any later part that reads it takes
it on an input slot (``part<k>``), by fan-out of that output, as it takes the operands
it needs by fan-out of their streams; so a value read by steps far apart (the argument
of a polynomial, a range-reduction exponent) crosses several cuts without being
computed twice. Registers are allocated by a linear scan: a register is free after its
last reader in the part.
"""

from dataclasses import dataclass

from hw.layouts import Src
from hw.ops import Op
from ..errors import CompileError

__all__ = ["Stage", "Part", "Partition", "partition"]

_SRC_TEXT = {Src.REG: "r", Src.VIN: "vin", Src.SIN: "sin", Src.CTR: "ctr"}


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: ``op`` over ``srcs`` (``(Src, index)`` pairs, one per
    operand of the op), with immediate ``imm``, into register ``dest``."""
    op: Op
    srcs: tuple
    imm: int
    dest: int

    def to_text(self):
        srcs = ", ".join(str(self.imm) if kind == Src.IMM else f"{_SRC_TEXT[kind]}{index}"
                         for kind, index in self.srcs)
        return f"r{self.dest} = {self.op.name.lower()} {srcs}"


@dataclass(frozen=True)
class Part:
    """The stages of one PCU; ``vins`` and ``sins`` say what each input slot carries
    (an operand index, or ``"part<k>"``: the result of part ``k`` of the chain, see
    :func:`part_index`); ``result`` is the register that holds the part's result after
    its last stage."""
    stages: tuple
    vins: tuple
    sins: tuple
    result: int

    def to_text(self):
        def slot(what):
            return what if isinstance(what, str) else f"${what}"
        head = (f"vin[{', '.join(map(slot, self.vins))}] "
                f"sin[{', '.join(map(slot, self.sins))}] -> r{self.result}")
        return "\n".join([head] + [f"  {s.to_text()}" for s in self.stages])


@dataclass(frozen=True)
class Partition:
    """The result of :func:`partition`: the ``parts`` of the chain, first to last."""
    parts: tuple

    def to_text(self):
        return "".join(f"part {k}: {part.to_text()}\n" for k, part in enumerate(self.parts))


def partition(sched, kernel, p, *, sr_seed=0):
    """Split ``sched`` (the :class:`~.schedule.Schedule` of ``kernel``'s body) over the
    PCUs of fabric ``p``: a :class:`Partition` with as few parts as legal cuts allow,
    the steps in schedule order. A stage rounding stochastically (``ftobf_sr``) gets
    ``sr_seed`` as its immediate, the seed of its LFSRs.

    Raises :class:`CompileError` giving needed and available resources when no sequence
    of legal cuts fits."""
    steps = sched.steps
    cuts = _cuts(steps, kernel, p)
    if cuts is None:
        need = _needs(steps, 0, len(steps), kernel)
        raise CompileError(
            f"needs {need['stages']} stages, {need['regs']} registers, {need['vins']} "
            f"vector and {need['sins']} scalar inputs after fusion; a PCU has "
            f"{p.stages} stages, {p.regs} registers, {p.pcu_vec_in} vector and "
            f"{p.pcu_scalar_in} scalar inputs, and no split applies", node=kernel.name)
    parts, part_of, start = [], {}, 0
    for end, res in cuts:
        parts.append(_build_part(steps, start, end, kernel, p, res, part_of, sr_seed))
        part_of[res] = len(parts) - 1
        start = end
    return Partition(tuple(parts))


def _cuts(steps, kernel, p):
    """The fewest parts ``steps`` split into, as ``(end, result step)`` pairs in order
    (the longest first part among the best ones), or None when no split fits."""
    n = len(steps)
    uses = {i: [] for i in range(n)}
    for j, s in enumerate(steps):
        for a in s.args:
            if a[0] == "val":
                uses[a[1]].append(j)

    def result_of(start, end):
        # the result step of a part of steps start .. end-1, or None when more than
        # one of its values is read after it (no legal cut at end)
        if end == n:
            return n - 1
        live = [i for i in range(start, end) if any(u >= end for u in uses[i])]
        return live[0] if len(live) == 1 else None

    # fewest[s]: the fewest parts steps s .. n-1 take and the first of them; every
    # value read across a cut is the result of its part, so whether a part fits
    # depends only on its own steps
    fewest = {n: (0, None)}
    for start in range(n - 1, -1, -1):
        best = None
        for end in range(min(n, start + p.stages), start, -1):
            res = result_of(start, end)
            if res is None or fewest[end] is None:
                continue
            if _build_part(steps, start, end, kernel, p, res, _AnyPart()) is None:
                continue
            if best is None or fewest[end][0] + 1 < best[0]:
                best = (fewest[end][0] + 1, (end, res))
        fewest[start] = best
    if fewest[0] is None:
        return None
    cuts, start = [], 0
    while start < n:
        cuts.append(fewest[start][1])
        start = cuts[-1][0]
    return cuts


class _AnyPart(dict):
    """A stand-in for the map from result steps to parts while the parts are not yet
    chosen: every earlier value comes from a part of its own."""

    def __getitem__(self, step):
        return step


def _needs(steps, start, end, kernel):
    """What steps ``start .. end-1`` need in one PCU, for the error message."""
    vins, sins = set(), set()
    for s in steps[start:end]:
        for a in s.args:
            if a[0] == "arg" and kernel.operands[a[1]].kind != "counter":
                (vins if kernel.operands[a[1]].kind == "vector" else sins).add(a[1])
            elif a[0] == "val" and a[1] < start:
                vins.add("carry")
    return {"stages": end - start, "regs": _max_live(steps, start, end),
            "vins": len(vins), "sins": len(sins)}


def _max_live(steps, start, end):
    """One more than the most values of steps ``start .. end-1`` live after any of them
    (computed and read by a later step of the range)."""
    last = {}                       # value -> the last step of the range reading it
    for j in range(start, end):
        for kind, v in steps[j].args:
            if kind == "val" and v >= start:
                last[v] = j
    best, live, dying = 1, 0, {}
    for t in range(start, end):
        live -= dying.get(t, 0)     # values read for the last time by step t
        if last.get(t, t) > t:
            live += 1
            dying[last[t]] = dying.get(last[t], 0) + 1
        best = max(best, live + 1)
    return best


def _build_part(steps, start, end, kernel, p, result_step, part_of, sr_seed=0):
    """Steps ``start .. end-1`` as one :class:`Part` whose result is step
    ``result_step``, or None when they do not fit one PCU. ``part_of`` maps the result
    step of each earlier part to its index."""
    if end - start > p.stages:
        return None
    vins, sins = [], []
    for s in steps[start:end]:
        for a in s.args:
            if a[0] == "arg" and kernel.operands[a[1]].kind != "counter":
                o = kernel.operands[a[1]]
                lst = vins if o.kind == "vector" else sins
                if a[1] not in lst:
                    lst.append(a[1])
            elif a[0] == "val" and a[1] < start and part_name(part_of[a[1]]) not in vins:
                vins.append(part_name(part_of[a[1]]))
    if len(vins) > p.pcu_vec_in or len(sins) > p.pcu_scalar_in:
        return None
    # the results of earlier parts first, nearest first, then the operands
    vins.sort(key=lambda w: (0, -part_index(w)) if isinstance(w, str) else (1, 0))
    reg_of = _allocate(steps, start, end, p.regs)
    if reg_of is None:
        return None
    stages = []
    for j in range(start, end):
        args = steps[j].args
        srcs = tuple(_source(a, start, kernel, vins, sins, reg_of, part_of) for a in args)
        # scheduling left at most one distinct immediate per step
        imm = next((v for kind, v in reversed(args) if kind == "imm"), 0)
        if steps[j].op == Op.FTOBF_SR:
            imm = sr_seed
        stages.append(Stage(steps[j].op, srcs, imm, reg_of[j]))
    return Part(tuple(stages), tuple(vins), tuple(sins), reg_of[result_step])


def part_name(k):
    """The name of part ``k``'s result as an input slot of a later part."""
    return f"part{k}"


def part_index(what):
    """The part whose result input slot ``what`` (a :func:`part_name`) carries, or None
    for an operand index."""
    return int(what[4:]) if isinstance(what, str) else None


def _allocate(steps, start, end, regs):
    """``{step: register}`` for steps ``start .. end-1`` by linear scan over ``regs``
    registers, or None when they run out."""
    last_use = {}
    for j in range(start, end):
        for a in steps[j].args:
            if a[0] == "val" and a[1] >= start:
                last_use[a[1]] = j
    reg_of, free = {}, list(range(regs))
    for j in range(start, end):
        for a in steps[j].args:
            if a[0] == "val" and a[1] >= start and last_use.get(a[1]) == j and \
                    reg_of[a[1]] not in free:
                free.append(reg_of[a[1]])
        free.sort()
        if not free:
            return None
        reg_of[j] = free.pop(0)
    return reg_of


def _source(a, start, kernel, vins, sins, reg_of, part_of):
    """The ``(Src, index)`` a stage reads for step argument ``a``."""
    kind, v = a
    if kind == "val":
        return (Src.REG, reg_of[v]) if v >= start else \
            (Src.VIN, vins.index(part_name(part_of[v])))
    if kind == "imm":
        return (Src.IMM, 0)
    o = kernel.operands[v]
    if o.kind == "counter":
        return (Src.CTR, o.level)
    if o.kind == "vector":
        return (Src.VIN, vins.index(v))
    return (Src.SIN, sins.index(v))
