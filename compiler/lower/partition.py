"""Partitioning and register allocation: a :class:`~.schedule.Schedule` over the PCUs of
a kernel's chain.

The steps are split over as few PCUs as the stages, registers and input FIFOs allow. A
cut is legal where exactly one computed value is live across it; that value travels on
the vector link into the next PCU (its ``carry`` input), which receives the operands
it needs by fan-out from the same streams. Registers are allocated by a linear scan:
a register is free after its last reader in the part.
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
    (an operand index, or ``"carry"``: the previous PCU's result); ``result`` is the
    register that holds the part's result after its last stage."""
    stages: tuple
    vins: tuple
    sins: tuple
    result: int

    def to_text(self):
        def slot(what):
            return what if what == "carry" else f"${what}"
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
    PCUs of fabric ``p``: a :class:`Partition`. A stage rounding stochastically
    (``ftobf_sr``) gets ``sr_seed`` as its immediate, the seed of its LFSRs.

    Raises :class:`CompileError` giving needed and available resources when no sequence
    of legal cuts fits."""
    steps = sched.steps
    n = len(steps)
    uses = {i: [] for i in range(n)}
    for j, s in enumerate(steps):
        for a in s.args:
            if a[0] == "val":
                uses[a[1]].append(j)
    parts, start, carry = [], 0, None
    while start < n:
        best = None
        # the longest part that fits; a part never has more steps than a PCU has stages
        for end in range(min(n, start + p.stages), start, -1):
            live = [i for i in range(start, end) if any(u >= end for u in uses[i])]
            if end < n and (len(live) != 1 or
                            (carry is not None and any(u >= end for u in uses[carry]))):
                continue
            part = _build_part(steps, start, end, kernel, p, live[0] if end < n else n - 1,
                               sr_seed)
            if part is not None:
                best = (end, part, live[0] if end < n else None)
                break
        if best is None:
            need = _needs(steps, start, n, kernel)
            raise CompileError(
                f"needs {need['stages']} stages, {need['regs']} registers, {need['vins']} "
                f"vector and {need['sins']} scalar inputs after fusion; a PCU has "
                f"{p.stages} stages, {p.regs} registers, {p.pcu_vec_in} vector and "
                f"{p.pcu_scalar_in} scalar inputs, and no split applies", node=kernel.name)
        end, part, carried = best
        parts.append(part)
        if carried is not None:
            carry = carried
        start = end
    return Partition(tuple(parts))


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


def _build_part(steps, start, end, kernel, p, result_step, sr_seed=0):
    """Steps ``start .. end-1`` as one :class:`Part` whose result is step
    ``result_step``, or None when they do not fit one PCU."""
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
            elif a[0] == "val" and a[1] < start and "carry" not in vins:
                vins.insert(0, "carry")
    if len(vins) > p.pcu_vec_in or len(sins) > p.pcu_scalar_in:
        return None
    reg_of = _allocate(steps, start, end, p.regs)
    if reg_of is None:
        return None
    stages = []
    for j in range(start, end):
        args = steps[j].args
        srcs = tuple(_source(a, start, kernel, vins, sins, reg_of) for a in args)
        # scheduling left at most one distinct immediate per step
        imm = next((v for kind, v in reversed(args) if kind == "imm"), 0)
        if steps[j].op == Op.FTOBF_SR:
            imm = sr_seed
        stages.append(Stage(steps[j].op, srcs, imm, reg_of[j]))
    return Part(tuple(stages), tuple(vins), tuple(sins), reg_of[result_step])


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


def _source(a, start, kernel, vins, sins, reg_of):
    """The ``(Src, index)`` a stage reads for step argument ``a``."""
    kind, v = a
    if kind == "val":
        return (Src.REG, reg_of[v]) if v >= start else (Src.VIN, vins.index("carry"))
    if kind == "imm":
        return (Src.IMM, 0)
    o = kernel.operands[v]
    if o.kind == "counter":
        return (Src.CTR, o.level)
    if o.kind == "vector":
        return (Src.VIN, vins.index(v))
    return (Src.SIN, sins.index(v))
