"""The floating-point pass: the generic ops of float maps and reductions become the
floating-point ops a PCU runs.

A graph says ``add``, ``min``, ``lt`` on f32 and bf16 operands as it does on i32 ones
(:mod:`compiler.dtypes`); the hardware has separate ops for them (``fadd``, ``fmin``,
``flt``, :mod:`hw.ops`). :func:`lower_floats` rewrites them:

* on f32, every generic op becomes its fp op (``add`` -> ``fadd`` ... ``abs`` ->
  ``fabs``); ``pass`` and ``select`` move bits and stay;
* on bf16, ``add``, ``sub``, ``mul`` and ``mac`` compute in fp32 and round the result
  back to bf16 (``ftobf(fadd(a, b))``, round to nearest even); ``min``, ``max``, ``abs``
  and the comparisons are exact on bf16 and only change op;
* a reduction or scan of f32 or bf16 uses ``fadd``/``fmin``/``fmax``; a bf16 sum
  accumulates in fp32 and is rounded to bf16 once, by a map the pass adds after it
  (the reduction is renamed ``<name>.f32``; the map keeps the name).

The explicit fp ops of a graph (``fadd`` of two bf16, which gives f32) and the casts
are left as they are. The golden model runs the same pass, so both see one meaning.
"""

from hw.ops import Op, ReduceOp
from .dtypes import call_dtype
from .exprs import Arg, Call, Cast, fold_expr
from .ir import Graph
from .nodes import Map, Reduce, Fold, Scan
from .types import FLOAT_DTYPES

__all__ = ["lower_floats", "FP_OF", "FP_REDUCE_OF"]

#: The fp op of each generic op on float operands.
FP_OF = {Op.ADD: Op.FADD, Op.SUB: Op.FSUB, Op.MUL: Op.FMUL, Op.MAC: Op.FMAC,
         Op.MIN: Op.FMIN, Op.MAX: Op.FMAX, Op.EQ: Op.FEQ, Op.NE: Op.FNE, Op.LT: Op.FLT,
         Op.LE: Op.FLE, Op.ABS: Op.FABS}
#: The fp reduction of each generic reduction on float elements.
FP_REDUCE_OF = {ReduceOp.ADD: ReduceOp.FADD, ReduceOp.MIN: ReduceOp.FMIN,
                ReduceOp.MAX: ReduceOp.FMAX, ReduceOp.ARGMIN: ReduceOp.FARGMIN,
                ReduceOp.ARGMAX: ReduceOp.FARGMAX}
#: Generic ops whose bf16 result is an fp32 one rounded back to bf16.
_ROUNDED = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.MAC})


def _rewrite(expr, in_dtypes, node):
    """``expr`` over inputs of ``in_dtypes`` with its generic float ops made fp ops."""
    def leaf(e):
        return e, (in_dtypes[e.index] if isinstance(e, Arg) else e.dtype)

    def call(e, results):
        args = tuple(r[0] for r in results)
        dts = [r[1] for r in results]
        operand_dts = dts[1:] if e.op == Op.SELECT else dts
        float_operands = bool(operand_dts) and operand_dts[0] in FLOAT_DTYPES
        if isinstance(e, Cast):
            new = Cast(e.op, args)
        elif float_operands and e.op in FP_OF:
            new = Call(FP_OF[e.op], args)
            if operand_dts[0] == "bf16" and e.op in _ROUNDED:
                new = Call(Op.FTOBF, (new,))
        else:
            new = Call(e.op, args)
        return new, call_dtype(e, dts, node)
    return fold_expr(expr, leaf, call)[0]


def lower_floats(g):
    """``g`` (type-checked, composites expanded) with the generic ops of its float maps,
    reductions, folds and scans made floating-point ops, as the module says. Graphs
    without floats come back unchanged."""
    out, changed = [], False
    for node in g.nodes.values():
        if isinstance(node, Map):
            dts = [g.type_of(n).dtype for n in node.inputs]
            if any(d in FLOAT_DTYPES for d in dts) or _has_float_leaf(node.expr):
                expr = _rewrite(node.expr, dts, node.name)
                changed |= expr != node.expr
                node = Map(node.name, node.inputs, expr)
            out.append(node)
            continue
        if isinstance(node, (Reduce, Fold, Scan)) and node.op in FP_REDUCE_OF:
            dtype = g.type_of(node.input).dtype
            if dtype in FLOAT_DTYPES:
                changed = True
                fp = FP_REDUCE_OF[node.op]
                if dtype == "bf16" and fp == ReduceOp.FADD:
                    wide = _with(node, _fresh(g, f"{node.name}.f32"), fp)
                    out += [wide, Map(node.name, (wide.name,), Call(Op.FTOBF, (Arg(0),)))]
                else:
                    out.append(_with(node, node.name, fp))
                continue
        out.append(node)
    return Graph(g.name, out, g.outputs) if changed else g


def _fresh(g, name):
    """``name``, or ``name1``, ``name2``... when ``g`` has a node of that name."""
    base, i = name, 1
    while name in g.nodes:
        name, i = f"{base}{i}", i + 1
    return name


def _with(node, name, op):
    if isinstance(node, Fold):
        return Fold(name, node.input, op, node.axis, node.init)
    return type(node)(name, node.input, op, node.axis)


def _has_float_leaf(expr):
    """Whether ``expr`` holds a float immediate or a cast (a map of i32 inputs can
    compute in floats)."""
    return fold_expr(expr, lambda e: getattr(e, "dtype", "i32") in FLOAT_DTYPES,
                     lambda e, subs: isinstance(e, Cast) or any(subs))
