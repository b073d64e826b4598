"""Expression walks on expressions far deeper than Python's stack, and on expressions
that share subexpressions: each must be iterative and visit a shared object once."""

import sys

import numpy as np
import pytest

from hw.ops import Op
from compiler.errors import CompileError
from compiler.ir import (Arg, Imm, Call, Map, Input, Graph, MAX_EXPR_DEPTH, expr_args,
                         expr_text, fold_expr, substitute)
from compiler.jsonio import expr_to_json, expr_from_json, graph_from_json, graph_to_json
from compiler.lower.schedule import schedule
from compiler.typecheck import check_expr
from sim.golden import eval_expr
from ir_helpers import check_error

DEEP = 20_000


@pytest.fixture(autouse=True)
def default_recursion_limit():
    assert sys.getrecursionlimit() <= 1000


def chain(depth, leaf=None):
    """``add(add(...add($0, 1)..., 1), 1)``, ``depth`` calls deep."""
    e = Arg(0) if leaf is None else leaf
    for _ in range(depth):
        e = Call(Op.ADD, (e, Imm(1)))
    return e


def squares(depth):
    """``mul(e, e)`` nested ``depth`` deep, ``e`` the same object both times: a tree of
    ``2 ** (depth + 1) - 1`` nodes held in ``depth + 1`` objects."""
    e = Arg(0)
    for _ in range(depth):
        e = Call(Op.MUL, (e, e))
    return e


def test_call_equality_hash_and_repr_are_those_of_a_dataclass():
    e = Call(Op.ADD, (Arg(0), Call(Op.ABS, (Imm(-3),))))
    assert repr(e) == (f"Call(op={Op.ADD!r}, args=(Arg(index=0), "
                       f"Call(op={Op.ABS!r}, args=(Imm(value=-3, dtype='i32'),))))")
    assert e == Call(Op.ADD, (Arg(0), Call(Op.ABS, (Imm(-3),))))
    assert hash(e) == hash(Call(Op.ADD, (Arg(0), Call(Op.ABS, (Imm(-3),)))))
    assert e != Call(Op.ADD, (Arg(0), Call(Op.ABS, (Imm(3),))))
    assert e != Call(Op.SUB, e.args) and e != Arg(0) and e != "add"
    assert repr(Call(Op.PASS, [Arg(0)])) == f"Call(op={Op.PASS!r}, args=[Arg(index=0)])"


def test_deep_call_equality_hash_and_repr():
    a, b = chain(DEEP), chain(DEEP)
    assert a == b and hash(a) == hash(b)
    assert a != chain(DEEP, Arg(1)) and a != chain(DEEP - 1)
    text = repr(a)
    assert text.startswith(f"Call(op={Op.ADD!r}, args=(Call(") and text.count("Imm(") == DEEP


def test_shared_subexpressions_are_walked_once():
    e, f = squares(200), squares(200)
    assert e == f and hash(e) == hash(f)
    assert expr_args(e) == {0}
    assert fold_expr(e, lambda leaf: 1, lambda call, sizes: 1 + sum(sizes)) == 2 ** 201 - 1
    assert len(schedule(e).steps) == 200
    check_expr(e, 1, "m")
    assert eval_expr(squares(5), [np.array([2], dtype=np.int32)])[0] == 2 ** 32 % 2 ** 32


def test_fold_visits_operands_left_to_right_before_their_call():
    seen = []
    e = Call(Op.ADD, (Call(Op.ABS, (Arg(0),)), Imm(2)))
    fold_expr(e, lambda leaf: seen.append(repr(leaf)), lambda call, _: seen.append(call.op))
    assert seen == ["Arg(index=0)", e.args[0].op, "Imm(value=2, dtype='i32')", Op.ADD]


def test_deep_text_json_evaluation_and_schedule():
    e = chain(DEEP)
    assert expr_text(e) == "add(" * DEEP + "$0" + ", 1)" * DEEP
    doc, depth = expr_to_json(e), 0
    while isinstance(doc, list):
        assert doc[0] == "add" and doc[2] == 1
        doc, depth = doc[1], depth + 1
    assert (doc, depth) == ("$0", DEEP)
    x = np.arange(4, dtype=np.int32)
    assert list(eval_expr(e, [x])) == list(x + DEEP)
    steps = schedule(e).steps
    assert len(steps) == DEEP and steps[-1].args == (("val", DEEP - 2), ("imm", 1))
    assert expr_args(e) == {0}
    assert substitute(e, {0: Arg(3)}) == chain(DEEP, Arg(3))


def test_substitute_keeps_what_it_does_not_change():
    e = Call(Op.ADD, (Call(Op.ABS, (Imm(1),)), Arg(0)))
    out = substitute(e, {0: Arg(1)})
    assert out == Call(Op.ADD, (Call(Op.ABS, (Imm(1),)), Arg(1)))
    assert out.args[0] is e.args[0]
    assert substitute(e.args[0], {}) is e.args[0]


def test_the_type_check_refuses_deep_expressions_without_recursing():
    g = Graph("deep")
    g.add(Input("x", (4,)))
    g.add(Map("m", ("x",), chain(DEEP)))
    g.set_output("y", "m")
    check_error(lambda: g.type_of("m"),
                f"node 'm': expression is nested more than {MAX_EXPR_DEPTH} deep")
    check_expr(chain(MAX_EXPR_DEPTH), 1, "m")
    with pytest.raises(CompileError):
        check_expr(chain(MAX_EXPR_DEPTH + 1), 1, "m")


def test_the_type_check_reports_the_first_fault_in_order():
    bad = Call(Op.ADD, (Call(Op.ADD, (Arg(0), Arg(5))), Imm(2 ** 40)))
    check_error(lambda: check_expr(bad, 1, "m"),
                "node 'm': expression reads $5 but the map has 1 input")


def test_the_json_loader_refuses_deep_expressions_without_recursing():
    g = Graph("deep")
    x = g.input("x", (4,))
    g.output("y", g.map(lambda v: v + 1, x))
    doc = graph_to_json(g)
    expr = "$0"
    for _ in range(DEEP):
        expr = ["add", expr, 1]
    doc["nodes"][1]["expr"] = expr
    check_error(lambda: graph_from_json(doc),
                f"/nodes/1/expr{'/1' * (MAX_EXPR_DEPTH + 1)}: expression is nested more "
                f"than {MAX_EXPR_DEPTH} deep")
    assert expr_from_json(["add", ["abs", "$1"], 7]) == \
        Call(Op.ADD, (Call(Op.ABS, (Arg(1),)), Imm(7)))
    check_error(lambda: expr_from_json(["add", ["abs"], "x"], "/e"),
                "/e/1: op 'abs' takes 1 operand, got 0")
