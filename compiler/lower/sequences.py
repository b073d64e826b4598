"""Transfer sequences of loop nests in closed form.

What a kernel pops from an operand, what a stream carries and where a PMU reader's
slabs start are all sequences of loop nests: transfer ``(i_0, i_1, ...)`` (``i_0`` the
innermost counter) is at address ``base + sum(i_k * step_k)``. :class:`Walk` holds such
a nest and :meth:`Walk.key` a normal form of it: two walks give the same sequence of
(address, valid lanes) exactly when their keys are equal. Comparing keys costs the
number of loops, whatever the number of transfers.

The normal form drops loops that run once and merges a loop into the one inside it
when it continues that loop's progression (outer step = inner count * inner step).
After that the sequence determines every loop: the innermost one's step is the first
difference and its count the length of the first run of that difference, and the
outer loops are the sequence taken at multiples of that count. The vectorised loop
whose last transfer has fewer valid lanes than the others is kept apart, as it cannot
merge: its partial transfers mark where it wraps.
"""

import math
from dataclasses import dataclass

__all__ = ["Dim", "Walk"]


@dataclass(frozen=True)
class Dim:
    """A loop of ``count`` transfers, the address moving by ``step`` from one to the next.

    ``lanes`` is ``(full, last)`` for the vectorised loop: the valid lanes of each of
    its transfers but the last, and of the last. The transfers of a walk without one
    have one valid lane."""
    count: int
    step: int
    lanes: tuple = None


@dataclass(frozen=True)
class Walk:
    """The transfers of the loops ``dims`` (innermost first) from address ``base``."""
    base: int
    dims: tuple

    @property
    def length(self):
        """The number of transfers."""
        return math.prod(d.count for d in self.dims)

    def to_text(self):
        """``walk @base`` and each loop innermost first as ``count x step``, with
        ``v full/last`` for the vectorised one: ``walk @0 2x8v8/5 3x13``."""
        loops = [f"{d.count}x{d.step}" + (f"v{d.lanes[0]}/{d.lanes[1]}" if d.lanes else "")
                 for d in self.dims]
        return " ".join([f"walk @{self.base}"] + loops)

    def key(self):
        """The normal form (see the module docstring): equal for two walks exactly when
        their (address, valid lanes) sequences are equal."""
        groups, ragged, valid = [[]], None, 1
        for d in self.dims:
            if d.lanes is not None:
                full, last = d.lanes
                if d.count == 1 or full == last:
                    valid = last
                else:
                    ragged = (d.count, d.step, full, last)
                    groups.append([])
                    continue
            if d.count == 1:
                continue
            inner = groups[-1]
            if inner and d.step == inner[-1][0] * inner[-1][1]:
                inner[-1] = (inner[-1][0] * d.count, inner[-1][1])
            else:
                inner.append((d.count, d.step))
        return (self.base, None if ragged else valid, ragged, tuple(map(tuple, groups)))
