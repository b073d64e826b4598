"""Stage scheduling: a kernel body to a sequence of steps, one pipeline stage each.

Steps come in post order with common subexpressions shared. A stage has one
immediate, so an op with several different immediates gets ``pass`` steps that load
the others first; a body that is a bare operand or immediate becomes one ``pass``.
"""

from dataclasses import dataclass

from hw.ops import Op
from ..ir import Arg, fold_expr

__all__ = ["Step", "Schedule", "schedule"]


@dataclass(frozen=True)
class Step:
    """``op`` over ``args``, each ``("val", step index)`` (an earlier step's result),
    ``("arg", operand index)`` or ``("imm", value)``."""
    op: Op
    args: tuple

    def to_text(self):
        def arg(a):
            kind, v = a
            return f"%{v}" if kind == "val" else f"${v}" if kind == "arg" else str(v)
        return f"{self.op.name.lower()} {', '.join(arg(a) for a in self.args)}"


@dataclass(frozen=True)
class Schedule:
    """The result of :func:`schedule`: ``steps`` in issue order; the last one computes
    the body."""
    steps: tuple

    def to_text(self):
        return "".join(f"%{i} = {s.to_text()}\n" for i, s in enumerate(self.steps))


def schedule(expr):
    """The :class:`Schedule` of body expression ``expr``."""
    steps, memo = [], {}            # (op, operands) -> index of the step computing it

    def leaf(e):
        if isinstance(e, Arg):
            return ("arg", e.index)
        return ("imm", int(e.value))

    def call(e, args):
        # Equal subexpressions have equal operands (by induction), so keying on the
        # operands shares them without comparing expression trees.
        key = (e.op, tuple(args))
        if key in memo:
            return ("val", memo[key])
        imms = [a for a in args if a[0] == "imm"]
        if len({v for _, v in imms}) > 1:
            first = imms[0][1]
            fixed = []
            for a in args:
                if a[0] == "imm" and a[1] != first:
                    steps.append(Step(Op.PASS, (a,)))
                    fixed.append(("val", len(steps) - 1))
                else:
                    fixed.append(a)
            args = fixed
        steps.append(Step(e.op, tuple(args)))
        memo[key] = len(steps) - 1
        return ("val", len(steps) - 1)

    top = fold_expr(expr, leaf, call)
    if top[0] != "val":
        steps.append(Step(Op.PASS, (top,)))
    return Schedule(tuple(steps))
