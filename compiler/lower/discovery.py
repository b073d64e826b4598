"""Kernel discovery: which kernels a fused graph needs, in the order they are lowered.

A kernel is a fused map, or a reduce / fold / scan together with the map it consumes
(when that map has no other reader and is no graph output). A fold becomes a
reduction and a second map kernel that combines the result with the fold's ``init``.
A graph output that no kernel produces (an input, a constant, a view) gets a copy
kernel, except a reshape that keeps the last dimension of a tensor a kernel or an input
streams: that stream carries the reshape's elements already, vector for vector, in
either element order (``rows``, ``lane0``), so the output takes it as it is (a sum of
shape ``()`` read as ``(1,)`` costs no PCU). Inputs, kernels and outputs come in the
order lowering meets them, which fixes the order of the virtual units and nets.
"""

import math
from dataclasses import dataclass

from hw.ops import Op, ReduceOp
from ..errors import CompileError
from ..ir import (Input, Const, Iota, View, Map, Reduce, Fold, Scan, Arg, Imm, Call,
                  contiguous_strides, expr_text, fold_expr)

__all__ = ["KernelSpec", "InputStep", "OutputStep", "Kernels", "find_kernels"]

_REDUCE_TO_OP = {ReduceOp.ADD: Op.ADD, ReduceOp.MIN: Op.MIN, ReduceOp.MAX: Op.MAX,
                 ReduceOp.FADD: Op.FADD, ReduceOp.FMIN: Op.FMIN, ReduceOp.FMAX: Op.FMAX,
                 ReduceOp.KADD: Op.FADD}


@dataclass(frozen=True)
class KernelSpec:
    """A kernel to build: ``expr`` over the tensors ``inputs``, producing the tensor
    ``name`` of ``shape``.

    ``kind`` is ``map`` (elementwise), ``reduce`` (``op`` over ``axis`` of the body) or
    ``scan`` (prefix ``op`` along ``axis``); ``op`` and ``axis`` are None for a map."""
    name: str
    inputs: tuple
    expr: object
    shape: tuple
    kind: str = "map"
    op: ReduceOp = None
    axis: int = None

    def to_text(self):
        how = "map" if self.kind == "map" else \
            f"{self.kind}-{self.op.name.lower()}[{self.axis}]"
        return (f"kernel {self.name} {list(self.shape)} = {how} {expr_text(self.expr)} "
                f"over {', '.join(self.inputs)}")


@dataclass(frozen=True)
class InputStep:
    """Graph input ``name`` of ``shape`` arrives on an edge input port."""
    name: str
    shape: tuple

    def to_text(self):
        return f"input {self.name} {list(self.shape)}"


@dataclass(frozen=True)
class OutputStep:
    """Graph output ``name`` leaves on an edge output port carrying node ``ref``, through
    the kernel ``copy`` when no kernel produces ``ref``, or on the stream of tensor
    ``alias`` when ``ref`` is a reshape whose elements that stream carries as they are."""
    name: str
    ref: str
    copy: KernelSpec = None
    alias: str = None

    @property
    def tensor(self):
        """The tensor whose stream leaves the fabric."""
        if self.copy is not None:
            return self.copy.name
        return self.ref if self.alias is None else self.alias

    def to_text(self):
        lines = [] if self.copy is None else [self.copy.to_text()]
        shown = self.tensor if self.alias is None else f"{self.alias} as {self.ref}"
        return "\n".join(lines + [f"output {self.name} = {shown}"])


@dataclass(frozen=True)
class Kernels:
    """The result of :func:`find_kernels`: ``steps``, each an :class:`InputStep`, a
    :class:`KernelSpec` or an :class:`OutputStep`, in lowering order."""
    steps: tuple

    def to_text(self):
        return "\n".join(s.to_text() for s in self.steps) + "\n"


def find_kernels(g):
    """The kernels of ``g`` (a graph that went through ``passes.pipeline``), its inputs
    and outputs, in the order lowering takes them. ``g`` is only read.

    Raises :class:`CompileError` for a node that no kernel template covers."""
    users = g.consumers()
    out_refs = set(g.outputs.values())

    def fused(name):
        """Whether map ``name`` is the body of the reduction that is its only reader.

        Not when it rounds stochastically: its random bits follow the row-major order
        of a map's own iterations (docs/hardware.md), which a reduction's loops need
        not keep."""
        readers = users[name]
        return (name not in out_refs and len(readers) == 1 and
                isinstance(g.nodes[readers[0]], (Reduce, Fold, Scan)) and
                g.nodes[readers[0]].input == name and not _rounds_stochastically(g.nodes[name]))

    steps = []
    for name in g.topological_order():
        node = g.nodes[name]
        if isinstance(node, Input):
            steps.append(InputStep(name, tuple(node.shape)))
        elif isinstance(node, (Const, Iota, View)):
            continue
        elif isinstance(node, Map):
            if not fused(name):
                steps.append(KernelSpec(name, tuple(node.inputs), node.expr, _shape(g, name)))
        elif isinstance(node, (Reduce, Fold, Scan)):
            body = g.nodes[node.input]
            steps += _reduction(g, node, body if isinstance(body, Map) and
                                fused(node.input) else None)
        else:
            raise CompileError(f"cannot lower a {type(node).__name__} node (run the "
                               f"decompose pass first)", node=name)
    produced = {s.name for s in steps}
    for out, ref in g.outputs.items():
        alias = _streamed_reshape(g, ref, produced)
        copy = None if ref in produced or alias is not None else \
            KernelSpec(f"{out}.copy", (ref,), Arg(0), _shape(g, ref))
        steps.append(OutputStep(out, ref, copy, alias))
    return Kernels(tuple(steps))


def _streamed_reshape(g, ref, produced):
    """The tensor of ``produced`` whose stream carries node ``ref`` as it is, when ``ref``
    is a view reading all of it in row-major order into a shape with the same last
    dimension (a 0-d tensor's counts as 1); else None.

    A stream holds the rows of the last dimension one after another (``rows``: each
    padded to whole vectors; ``lane0``: an element per vector), so regrouping the
    leading dimensions leaves every vector as it was."""
    node = g.nodes[ref]
    if not isinstance(node, View) or node.input not in produced:
        return None
    src, shape = _shape(g, node.input), tuple(node.shape)
    rm = contiguous_strides(shape)
    whole = node.offset == 0 and math.prod(shape) == math.prod(src) and all(
        n == 1 or s == c for n, s, c in zip(shape, node.strides, rm))
    same_rows = (shape[-1] if shape else 1) == (src[-1] if src else 1)
    return node.input if whole and same_rows else None


def _reduction(g, node, body):
    """The kernels of reduce / fold / scan ``node`` whose body is the map ``body`` (None:
    the node reads its input as it is)."""
    inputs, expr = (tuple(body.inputs), body.expr) if body is not None else \
        ((node.input,), Arg(0))
    shape = _shape(g, node.name)
    if isinstance(node, Fold):
        partial = f"{node.name}.reduce"
        combine = Call(_REDUCE_TO_OP[node.op], (Arg(0), Imm(node.init)))
        return [KernelSpec(partial, inputs, expr, shape, "reduce", node.op, node.axis),
                KernelSpec(node.name, (partial,), combine, shape)]
    kind = "scan" if isinstance(node, Scan) else "reduce"
    return [KernelSpec(node.name, inputs, expr, shape, kind, node.op, node.axis)]


def _rounds_stochastically(node):
    return fold_expr(node.expr, lambda e: False,
                     lambda e, subs: e.op == Op.FTOBF_SR or any(subs))


def _shape(g, name):
    return tuple(g.type_of(name).shape)
