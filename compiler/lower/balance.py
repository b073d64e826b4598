"""Branch balancing: PMU delay lines on the short branches of a fan-out.

A stream that fans out is a lazy fork: a vector leaves it only when every branch takes
it. When the branches reach their PCUs at different times -- an operand read by the
first and by the last PCU of a chain, a part's result read by the next part and by one
three parts on -- the branch that arrives early has to hold every vector the slow one
has in flight, one per cycle of the difference, until its PCU issues. It has only its
sink's input FIFO (``fifo_depth`` entries) and the switch buffers on the way; once they
are full the fork stops, the slow branch starves, and the chain runs at a fraction of
an iteration per cycle (``tpch_q6`` ran at 34.5 % of ideal on ``small``: ``discount``
feeds the first and the third PCU of its chain, 14 cycles apart by the model below).

The model estimates, for each vector input of a chain's PCUs, the cycle at which a
vector that the chain's operand streams offer at cycle 0 gets there, and the cycle at
which the PCU issues on it (the latest of its inputs). It is a lower bound: every link
crosses at least one registered switch output (:data:`HOP`), an input FIFO takes a
cycle from write to read (:data:`FIFO`), a PCU takes ``stages`` cycles and one more
through its output FIFO. The *lag* of an input is how long its vector waits there; the
*need* of a branch of a net is its lag less the smallest lag among the net's sinks
(inputs of PMUs and output ports have lag 0): the vectors the branch holds when the
other branches run at one a cycle. Only nets whose sinks are all inputs of one chain
are balanced: a branch leaving the chain may lead to a unit that waits for the
chain's result, which the model does not see.

A branch whose need exceeds its sink's FIFO gets PMUs in series between the stream and
the sink (:func:`plan_delay`), each a FIFO: double-buffered slabs of ``slab`` vectors,
written and read back in stream order. A PMU reads a slab only once it is whole, so
the fork must first send ``slab`` vectors down every other branch without any of them
moving on: the slab is at most half a FIFO (every branch starts with an input FIFO and
a switch buffer), which rules out a deadlock whatever the shape of the graph, and a
divisor of the vectors the stream carries. Each PMU adds its input FIFO, two slabs and
its output FIFO (:data:`PMU_OUT_FIFO`) of room and about ``slab`` +
:data:`DELAY_LATENCY` cycles of latency; the branch gets as many as it needs to hold
its need, but never so many that it becomes the slow branch.
"""

from dataclasses import dataclass, replace

from hw.layouts import Access
from hw.params import UnitKind
from .buffering import Agen
from .configs import agen_config, pad
from .partition import part_index
from .plans import agen_text

__all__ = ["HOP", "FIFO", "DELAY_LATENCY", "PMU_OUT_FIFO", "Branch", "DelayLine",
           "chain_lags", "branch_needs", "plan_delay", "choose_delays", "pmu_sites"]

HOP = 1
FIFO = 1
# A delay line's PMU on a branch: its input FIFO, the buffer hand-over, the memory read,
# its output FIFO and one more hop, less the slab wait.
DELAY_LATENCY = 4
# Entries of a PMU's output FIFO (hw/pmu.py, ``PMU.OUT_DEPTH``).
PMU_OUT_FIFO = 4
# Entries of a switch output (a registered skid buffer).
_SKID = 2


def chain_lags(parts, p):
    """Per part of a chain (:class:`~.partition.Part` s, first to last) on fabric ``p``,
    the lag of each vector input slot: the cycles its vector waits in the FIFO for the
    part's latest input, under the model above."""
    issue, lags = [], []
    for part in parts:
        arrivals = []
        for what in part.vins:
            j = part_index(what)
            arrivals.append(HOP + FIFO if j is None else issue[j] + p.stages + 1 + HOP + FIFO)
        # scalar operands come straight from their streams; a part reading only
        # counters issues at once
        latest = max(arrivals + [HOP + FIFO] * len(part.sins), default=0)
        issue.append(latest)
        lags.append(tuple(latest - a for a in arrivals))
    return tuple(lags)


@dataclass(frozen=True)
class Branch:
    """One sink of a vector net that fans out: ``source`` and ``sink`` are (vunit, port)
    endpoints, ``vectors`` the transfers the stream carries, ``need`` the vectors the
    branch holds when the others run (see the module docstring), ``node`` the kernel
    whose PCU the sink is."""
    source: tuple
    sink: tuple
    vectors: int
    need: int
    node: str

    def to_text(self):
        return (f"branch {self.source[0]}.{self.source[1]} -> {self.sink[0]}.{self.sink[1]} "
                f"vectors={self.vectors} need={self.need}")


def branch_needs(nets, lags, vectors, nodes):
    """The :class:`Branch` es worth a look among the nets ``nets`` (``{source: (sinks)}``
    of one network, in net order) that fan out, in net and sink order. ``lags`` gives
    the lag of the sinks that have one (the others have 0); ``vectors`` and ``nodes``
    give, for each of those, the transfers it takes (None when no delay line can replay
    them: it is then no candidate, though its lag counts) and its kernel. A net with a
    sink that has no kernel here, or with sinks in two kernels, has no candidates."""
    out = []
    for source, sinks in nets.items():
        if len(sinks) < 2 or any(sk not in nodes for sk in sinks) or \
                len({nodes[sk] for sk in sinks}) > 1:
            continue
        least = min(lags.get(s, 0) for s in sinks)
        for s in sinks:
            need = lags.get(s, 0) - least
            if need > 0 and vectors.get(s) is not None:
                out.append(Branch(source, s, vectors[s], need, nodes[s]))
    return out


@dataclass(frozen=True)
class DelayLine:
    """``count`` PMUs in series, each replaying a stream of ``vectors`` vectors in
    order, ``slab`` vectors a buffer (two buffers when ``slab < vectors``); ``agen`` is
    the pattern of each one's writer and reader."""
    vectors: int
    slab: int
    count: int
    agen: Agen

    @property
    def double(self):
        return self.slab < self.vectors

    def words(self, lanes):
        """The words each PMU occupies on ``lanes`` lanes."""
        return self.slab * lanes * (2 if self.double else 1)

    def config(self):
        """The ``pmu_layout`` dict of each PMU."""
        agen = agen_config(self.agen)
        return {"enable": 1, "double": int(self.double), "init_full": 0,
                "wr": agen, "rd": agen}

    def to_text(self):
        return (f"delay {self.count} x vectors={self.vectors} slab={self.slab}"
                f"{' double' if self.double else ''} {agen_text(agen_config(self.agen))}")


def plan_delay(vectors, need, p):
    """The :class:`DelayLine` for a branch of ``need`` (see :class:`Branch`) carrying
    ``vectors`` vectors on fabric ``p``, or None when the sink's FIFO holds the need."""
    if need <= p.fifo_depth:
        return None
    slab = max(s for s in range(1, max(1, p.fifo_depth // 2) + 1) if vectors % s == 0)
    room = p.fifo_depth + 2 * slab + PMU_OUT_FIFO + _SKID
    count = min(-(-(need - p.fifo_depth) // room), max(1, need // (slab + DELAY_LATENCY)))
    double = slab < vectors
    # counter 0 walks the words of one slab a vector at a time, counter 1 the slabs,
    # which all land at address 0 of the buffer the writer (reader) is on
    ends = pad((slab * p.lanes, vectors // slab), p.counters, 1)
    strides = pad((1, 0), p.counters, 0)
    agen = Agen(Access.VECTOR, tuple(ends), tuple(strides), vec=1,
                swap=1 if double else p.counters)
    return DelayLine(vectors, slab, count, agen)


def choose_delays(branches, budget, p):
    """``[(Branch, DelayLine)]`` for the ``branches`` worth a delay line on fabric ``p``,
    with at most ``budget`` PMUs in all (the PMUs left): the largest needs first, ties in
    the order given, a branch getting fewer PMUs than it wants when they run out;
    returned in the order given."""
    planned = [(k, b, plan_delay(b.vectors, b.need, p)) for k, b in enumerate(branches)]
    planned = sorted((x for x in planned if x[2] is not None),
                     key=lambda x: (-x[1].need, x[0]))
    kept = []
    for k, b, line in planned:
        if budget <= 0:
            break
        n = min(line.count, budget)
        kept.append((k, b, replace(line, count=n)))
        budget -= n
    return [(b, line) for _, b, line in sorted(kept, key=lambda x: x[0])]


def pmu_sites(p):
    """The number of PMUs of fabric ``p``."""
    return sum(1 for _, kind, _ in p.units if kind == UnitKind.PMU)
