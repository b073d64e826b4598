"""Kernel building: a :class:`~.discovery.KernelSpec` to a :class:`Kernel`, its loop
nest and its operands.

The loop nest follows from the pattern (``docs/compiler.md``, "Kernels"). Each input
becomes an affine :class:`~.plans.Operand` of a base tensor (views composed, equal
accesses shared) and is classified by its stride along the vectorised loop: 1 is a
vector operand, 0 a scalar one broadcast to every lane, an iota a loop counter; a
constant read with any other stride is copied into a compact constant that is read
contiguously. The pop level of an operand counts the inner loops in which it does not
change, so the PCU reuses the FIFO head instead of re-reading it.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from hw.layouts import AccMode, WORD
from hw.ops import ReduceOp
from ..errors import CompileError
from ..ir import Const, Input, Iota, Arg, contiguous_strides, expr_text, substitute
from .plans import Loop

__all__ = ["Kernel", "build_kernel"]

_KIND_MARK = {"vector": "", "scalar": "(s)", "counter": "(ctr)"}

# Counter start, end and stride are signed WORD-bit fields of the counter layout.
_COUNTER_LIMIT = 1 << (WORD - 1)


@dataclass(frozen=True)
class Kernel:
    """A loop nest on one virtual PCU or a chain of them.

    ``name`` is the tensor it produces, of ``shape``; ``domain`` the shape of its body
    ``expr``, which reads ``operands`` by index (``$i``); ``loops`` innermost first;
    ``mode`` and ``op`` the accumulator's; ``order`` that of its output stream;
    ``lanes`` those of the fabric (vector loops count in vectors); ``pcus`` the virtual
    PCUs it runs on, once placed; ``consts`` the compact constants created for its
    operands (:class:`~compiler.ir.Const` nodes that are not in the graph)."""
    name: str
    shape: tuple
    domain: tuple
    expr: object
    operands: tuple
    loops: tuple
    mode: AccMode
    op: ReduceOp = ReduceOp.ADD
    order: str = "rows"
    lanes: int = 1
    pcus: tuple = ()
    consts: tuple = ()

    @property
    def iterations(self):
        n = 1
        for lp in self.loops:
            n *= -(-lp.extent // self.lanes) if lp.vector else lp.extent
        return n

    def to_text(self):
        loops = " ".join(f"d{l.dim}:{l.extent}{'v' if l.vector else ''}" for l in self.loops)
        ops = ", ".join(f"${i}={o.tensor}{_KIND_MARK[o.kind]}"
                        f"@{o.offset}{list(o.strides)}/L{o.level}"
                        for i, o in enumerate(self.operands))
        red = "" if self.mode == AccMode.NONE else \
            f" {self.mode.name.lower()}-{self.op.name.lower()}"
        on = f" on {', '.join(self.pcus)}" if self.pcus else ""
        return (f"kernel {self.name} {list(self.shape)} loops[{loops}]{red} "
                f"body {expr_text(self.expr)} operands {ops} -> {self.order}{on}")


@dataclass(frozen=True)
class _Nest:
    mode: AccMode
    loops: tuple
    order: str
    shape: tuple


def build_kernel(spec, tensors, p, const_name):
    """The :class:`Kernel` of ``spec`` on fabric ``p``, reading tensors known to
    ``tensors`` (a :class:`~.tensors.Tensors`, only read). ``const_name(base, k)`` names
    the ``k``-th compact constant this kernel creates from constant ``base``; the
    constants are returned in ``Kernel.consts``.

    Raises :class:`CompileError` when the loop nest does not fit the counter chain or
    an operand is read in a way the PCU cannot (not affine, strided along the vector
    axis, an iota no counter produces)."""
    domain = tensors.shape(spec.inputs[0]) if spec.inputs else ()
    dom = domain or (1,)
    nest = _loop_nest(spec, domain, p)
    operands, expr = _operands(spec, tensors, domain)
    loops = nest.loops
    vloop = next(lp for lp in loops if lp.vector)
    placed, consts = [], []
    for o in operands:
        node = tensors.node(o.tensor)
        if isinstance(node, Iota):
            placed.append(_counter_operand(o, node, loops, dom, spec.name))
            continue
        sv = o.strides[vloop.dim]
        if sv == 1 or (sv != 0 and vloop.extent == 1):
            if sv != 1:
                o = replace(o, strides=o.strides[:vloop.dim] + (1,) + o.strides[vloop.dim + 1:])
        elif sv == 0:
            o = replace(o, kind="scalar")
        elif isinstance(node, Const):
            const = _compact(node, o, dom, const_name(o.tensor, len(consts)), p, spec.name)
            consts.append(const)
            o = replace(o, tensor=const.name, offset=0, strides=_compact_strides(o, dom))
        else:
            what = "graph input" if isinstance(node, Input) else "computed tensor"
            raise CompileError(f"{what} {o.tensor!r} is read with stride {sv} along the "
                               f"vector axis; only contiguous (1) or broadcast (0) reads "
                               f"of graph inputs and computed tensors are supported "
                               f"(constants may use any stride)", node=spec.name)
        placed.append(replace(o, level=_pop_level(o, loops)))
    return Kernel(spec.name, nest.shape, domain, expr, tuple(placed), loops, nest.mode,
                  spec.op if spec.op is not None else ReduceOp.ADD, nest.order, p.lanes,
                  consts=tuple(consts))


def _loop_nest(spec, domain, p):
    """Loops, accumulator mode, output order and output shape of the kernel."""
    dom = domain or (1,)
    n = len(dom)
    rows = tuple(Loop(d, dom[d], d == n - 1) for d in reversed(range(n)))
    if spec.kind == "map":
        nest = _Nest(AccMode.NONE, rows, "rows", domain)
    elif spec.kind == "scan":
        if spec.axis != n - 1 and domain:
            raise CompileError(f"scan over axis {spec.axis} of a rank-{n} tensor: only the "
                               f"last axis is supported", node=spec.name)
        nest = _Nest(AccMode.SCAN, rows, "rows", domain)
    elif spec.axis == n - 1:
        nest = _Nest(AccMode.TREE, rows, "lane0", domain[:-1])
    else:
        axis = spec.axis
        rest = [d for d in reversed(range(n - 1)) if d != axis]
        loops = (Loop(axis, dom[axis]), Loop(n - 1, dom[n - 1], True)) + \
            tuple(Loop(d, dom[d]) for d in rest)
        nest = _Nest(AccMode.LANE, loops, "rows", domain[:axis] + domain[axis + 1:])
    if len(nest.loops) > p.counters:
        raise CompileError(f"needs {len(nest.loops)} loop levels; a counter chain has "
                           f"{p.counters}", node=spec.name)
    for lp in nest.loops:
        if lp.extent >= _COUNTER_LIMIT:
            raise CompileError(f"loop extent {lp.extent} does not fit a {WORD}-bit counter",
                               node=spec.name)
    return nest


def _operands(spec, tensors, domain):
    """The distinct accesses of the kernel's inputs, and its body rewritten to read
    them by index."""
    operands, arg_map = [], {}
    for i, inp in enumerate(spec.inputs):
        o = tensors.resolve(inp)
        if o is None:
            raise CompileError(f"input {inp!r} is a view that is not affine in its "
                               f"base tensor", node=spec.name)
        if not domain:
            o = replace(o, strides=(0,))
        if o not in operands:
            operands.append(o)
        arg_map[i] = operands.index(o)
    return operands, substitute(spec.expr, {i: Arg(j) for i, j in arg_map.items()})


def _pop_level(o, loops):
    """The number of innermost loops over which operand ``o`` does not change."""
    level = 0
    for lp in loops:
        if o.strides[lp.dim] == 0 and not (lp.vector and o.kind == "vector"):
            level += 1
        else:
            break
    return level


def _counter_operand(o, iota, loops, dom, node):
    """An iota read so that its value is the index of one domain dimension: the PCU
    reads that loop's counter (the operand's ``level`` holds the counter index)."""
    shape = tuple(iota.shape)
    cs = contiguous_strides(shape)[iota.axis]
    hi = cs * shape[iota.axis]
    dims = [d for d, s in enumerate(o.strides) if s == cs and dom[d] <= shape[iota.axis]]
    ok = o.offset == 0 and len(dims) == 1 and all(
        d == dims[0] or s % hi == 0 or (dom[d] - 1) * abs(s) < cs
        for d, s in enumerate(o.strides))
    if not ok:
        raise CompileError(f"iota {o.tensor!r} is read in a way no loop counter "
                           f"produces (offset {o.offset}, strides {list(o.strides)})",
                           node=node)
    k = next(k for k, lp in enumerate(loops) if lp.dim == dims[0])
    if loops[k].vector and k != 0:
        raise CompileError(f"iota {o.tensor!r} runs along the vector axis of a per-lane "
                           f"reduction, which no counter provides", node=node)
    return replace(o, kind="counter", level=k)


def _compact(base, o, dom, name, p, node):
    """A new constant ``name`` holding the elements of ``base`` that ``o`` reads, over the
    dimensions along which ``o`` moves, in row-major order.

    Raises :class:`CompileError` when it would not fit the PMU that is to hold it:
    it is not built, as its size grows with the kernel's domain, not with ``base``."""
    values = np.asarray(base.values, dtype=np.int64)
    keep = [d for d in range(len(dom)) if o.strides[d] != 0]
    shape = tuple(dom[d] for d in keep)
    if math.prod(shape) > p.pmu_words:
        raise CompileError(f"tensor {name!r} needs {math.prod(shape)} words in a PMU; a "
                           f"PMU holds {p.pmu_words}", node=node)
    idx = np.indices(shape).reshape(len(shape), -1) if shape else np.zeros((0, 1), int)
    flat = o.offset + sum(idx[k] * o.strides[d] for k, d in enumerate(keep))
    return Const(name, shape, "i32", tuple(int(v) for v in values[flat]))


def _compact_strides(o, dom):
    """The strides that read the compact copy of ``o`` over the kernel's domain."""
    keep = [d for d in range(len(dom)) if o.strides[d] != 0]
    cstr = contiguous_strides(tuple(dom[d] for d in keep))
    strides = [0] * len(dom)
    for k, d in enumerate(keep):
        strides[d] = cstr[k]
    return tuple(strides)
