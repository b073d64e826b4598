"""Configuration emission: plans to the dicts that ``pcu_layout(p).const`` and
``pmu_layout(p).const`` pack (field meanings in ``docs/hardware.md``).

Levels: level ``k`` of an iteration holds when counters ``0 .. k-1`` are at their last
value (``first`` value, for the accumulator's reset).
"""

from hw.layouts import Src, AccMode, OutSrc
from hw.ops import Op, ReduceOp
from .partition import Stage, part_index

__all__ = ["pad", "agen_config", "pmu_config", "pcu_config"]

# Source slots of a pipeline stage (the ``src`` array of the stage layout in
# hw/layouts.py); an op with fewer operands reads ZERO in the rest.
_STAGE_SOURCES = 3

# Level 0 holds on every iteration, level 1 when counter 0 (the innermost loop) is at
# its last value (for ``acc.reset``: at its first). Every reduction runs over its
# innermost loop: its accumulator restarts at first-level 1, its result is pushed at
# level 1.
_EVERY_ITERATION = 0
_INNER_LOOP = 1


def _counter(end):
    """A counter running ``0 .. end-1``; every counter lowering sets up is one."""
    return {"start": 0, "end": end, "stride": 1}


def pad(items, n, fill):
    """``items`` as a list, filled up to ``n`` entries with ``fill``."""
    return list(items) + [fill] * (n - len(items))


def agen_config(agen):
    """The ``agen_layout`` dict of a :class:`~.buffering.Agen`."""
    return {"mode": agen.mode, "counters": [_counter(end) for end in agen.ends],
            "vec": agen.vec, "base": agen.base, "strides": list(agen.strides),
            "swap": agen.swap}


def pmu_config(buffer):
    """The ``pmu_layout`` dict of a :class:`~.buffering.Buffer`."""
    return {"enable": 1, "double": 0 if buffer.split is None else 1,
            "init_full": 1 if buffer.init else 0,
            "wr": agen_config(buffer.wr), "rd": agen_config(buffer.rd)}


def _stage_config(stage):
    srcs = [{"kind": kind, "index": index} for kind, index in stage.srcs]
    zero = {"kind": Src.ZERO, "index": 0}
    return {"op": stage.op, "src": srcs + [zero] * (_STAGE_SOURCES - len(srcs)),
            "imm": stage.imm, "dest": stage.dest}


def pcu_config(kernel, part, last, p):
    """The ``pcu_layout`` dict of ``part`` (a :class:`~.partition.Part`) of ``kernel`` on
    fabric ``p``; ``last`` tells whether it is the last PCU of the kernel's chain, the
    only one that accumulates. Unused stages pass the result register on."""
    ctrs = []
    for k, lp in enumerate(kernel.loops):
        if lp.vector and k == 0:
            ctrs.append(_counter(lp.extent))
        elif lp.vector:
            ctrs.append(_counter(-(-lp.extent // p.lanes)))
        else:
            ctrs.append(_counter(lp.extent))
    vin = [{"enable": 0, "level": 0} for _ in range(p.pcu_vec_in)]
    sin = [{"enable": 0, "level": 0} for _ in range(p.pcu_scalar_in)]
    for slot, what in enumerate(part.vins):
        level = 0 if part_index(what) is not None else kernel.operands[what].level
        vin[slot] = {"enable": 1, "level": level}
    for slot, what in enumerate(part.sins):
        sin[slot] = {"enable": 1, "level": kernel.operands[what].level}
    stages = [_stage_config(s) for s in part.stages]
    keep = Stage(Op.PASS, ((Src.REG, part.result),), 0, part.result)
    while len(stages) < p.stages:
        stages.append(_stage_config(keep))
    acc = {"mode": AccMode.NONE, "op": ReduceOp.ADD, "src": part.result,
           "reset": _INNER_LOOP}
    vout = {"enable": 1, "src": OutSrc.REG, "reg": part.result, "level": _EVERY_ITERATION}
    sout = {"enable": 0, "src": OutSrc.REG, "reg": part.result, "level": _EVERY_ITERATION}
    if last and kernel.mode != AccMode.NONE:
        acc["mode"] = kernel.mode
        acc["op"] = kernel.op
        if kernel.mode == AccMode.SCAN:      # a prefix for every element
            vout = {"enable": 1, "src": OutSrc.ACC, "reg": 0, "level": _EVERY_ITERATION}
        else:
            vout = {"enable": 1, "src": OutSrc.ACC, "reg": 0, "level": _INNER_LOOP}
            if kernel.mode == AccMode.TREE:
                sout = {"enable": 1, "src": OutSrc.ACC, "reg": 0, "level": _INNER_LOOP}
    return {
        "enable": 1,
        "counters": pad(ctrs, p.counters, _counter(1)),   # unused counters run once
        "vec": 1 if kernel.loops[0].vector else 0,
        "vin": vin, "sin": sin,
        "stages": stages,
        "acc": acc, "vout": vout, "sout": sout,
    }
