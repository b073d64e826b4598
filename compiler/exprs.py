"""Elementwise expressions of the graph IR and the walks over them.

An expression is a tree of frozen dataclasses: :class:`Arg` (an input of the map),
:class:`Imm` (a constant of a dtype), :class:`Call` (an op applied to expressions) and
:class:`Cast` (a conversion between dtypes, a kind of call). A tree
may hold the same object in several places (fusion shares a producer's expression
between the uses of its result).

No walk here recurses: fused maps and imported models nest expressions far deeper than
Python's stack allows. :func:`fold_expr` evaluates an expression bottom-up with an
explicit stack, visiting a shared object once; :class:`Call`'s equality, hash and repr
are written the same way instead of the recursive ones dataclasses generate.
"""

from dataclasses import dataclass

from hw.ops import Op

__all__ = ["MAX_EXPR_DEPTH", "Arg", "Imm", "Call", "Cast", "fold_expr", "render_expr", "expr_args",
           "substitute"]

#: The deepest expression a map may hold (a root call is at depth 0, its operands at
#: depth 1): the type check and the JSON loader refuse deeper ones and fusion stops
#: short of it. Every level is a pipeline stage, and 200 stages are more than half
#: of the largest preset fabric (plasticine: 64 PCUs of 6 stages).
MAX_EXPR_DEPTH = 200


@dataclass(frozen=True)
class Arg:
    """The ``index``-th input of the enclosing :class:`~compiler.nodes.Map`."""
    index: int


@dataclass(frozen=True)
class Imm:
    """A constant of ``dtype``: for ``"i32"`` ``value`` is the integer, for ``"f32"``
    and ``"bf16"`` its IEEE 754 binary32 bit pattern as a signed int32 (so that equal
    constants are equal, NaN included)."""
    value: int
    dtype: str = "i32"


@dataclass(frozen=True, eq=False, repr=False)
class Call:
    """``op`` applied to ``args`` (expressions); ``len(args)`` is the op's arity.

    Equal, hashed and printed like a dataclass (``Call(op=<Op.ADD: 1>, args=(...))``),
    without recursion."""
    op: Op
    args: tuple

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _equal(self, other)

    def __hash__(self):
        return fold_expr(self, _leaf_hash, lambda e, hashes: hash((e.op, tuple(hashes))))

    def __repr__(self):
        return render_expr(self, _leaf_repr, _repr_head, _repr_tail)


@dataclass(frozen=True, eq=False, repr=False)
class Cast(Call):
    """A conversion of its one operand to another dtype; ``op`` says which one:
    ``ITOF`` i32 -> f32, ``FTOI`` f32 -> i32, ``FTOBF`` f32 -> bf16 rounding to nearest
    even, ``FTOBF_SR`` f32 -> bf16 rounding stochastically, ``PASS`` bf16 -> f32 (exact:
    the bits do not change). :data:`CAST_OPS` maps each op name to its target dtype."""


def _walked(e):
    """Whether a walk enters ``e``: a :class:`Call` whose ``args`` is a tuple (the type
    check refuses any other ``args``; walks take such a call as a leaf)."""
    return isinstance(e, Call) and isinstance(e.args, tuple)


def fold_expr(expr, leaf, call):
    """Evaluate ``expr`` bottom-up without recursion.

    ``leaf(e)`` gives the value of an :class:`Arg` or :class:`Imm` (or of anything else
    that is not a :class:`Call` with a tuple of ``args``), ``call(e, values)`` the value
    of a :class:`Call` from the values of its ``args``, in order. Operands are
    evaluated before their call and left to right, as a recursive walk would; an
    object that appears several times is evaluated once (its value is reused).
    """
    done = {}                       # id of a visited object -> its value
    stack = [expr]
    while stack:
        e = stack[-1]
        if id(e) in done:
            stack.pop()
        elif not _walked(e):
            done[id(e)] = leaf(e)
            stack.pop()
        else:
            todo = [a for a in e.args if id(a) not in done]
            if todo:
                stack.extend(reversed(todo))
            else:
                stack.pop()
                done[id(e)] = call(e, [done[id(a)] for a in e.args])
    return done[id(expr)]


def render_expr(expr, leaf, head, tail, sep=", "):
    """The text of ``expr`` written out as a tree (a shared object in each place it
    appears), in time linear in that text: ``leaf(e)`` for what :func:`fold_expr`
    takes as a leaf, and for each call ``head(e)``, the texts of its ``args``
    separated by ``sep``, then ``tail(e)``."""
    out, stack = [], [(False, expr)]    # (True, text) or (False, expression) to write
    while stack:
        is_text, e = stack.pop()
        if is_text:
            out.append(e)
        elif not _walked(e):
            out.append(leaf(e))
        else:
            out.append(head(e))
            items = [(True, tail(e))]
            for k in range(len(e.args) - 1, -1, -1):
                items.append((False, e.args[k]))
                if k:
                    items.append((True, sep))
            stack.extend(items)
    return "".join(out)


def _equal(a, b):
    """Structural equality of two calls, as the dataclass would give it."""
    stack, seen = [(a, b)], set()
    while stack:
        x, y = stack.pop()
        if x is y or (id(x), id(y)) in seen:
            continue
        seen.add((id(x), id(y)))
        if isinstance(x, Call) and isinstance(y, Call):
            if x.__class__ is not y.__class__ or x.op != y.op:
                return False
            if not (_walked(x) and _walked(y)):
                if x.args != y.args:
                    return False
            elif len(x.args) != len(y.args):
                return False
            else:
                stack.extend(zip(x.args, y.args))
        elif x != y:
            return False
    return True


def _leaf_hash(e):
    return hash((e.op, e.args)) if isinstance(e, Call) else hash(e)


def _repr_head(e):
    return f"{type(e).__qualname__}(op={e.op!r}, args=("


def _repr_tail(e):
    return ",))" if len(e.args) == 1 else "))"


def _leaf_repr(e):
    if isinstance(e, Call):         # a call whose args is no tuple
        return f"{type(e).__qualname__}(op={e.op!r}, args={e.args!r})"
    return repr(e)


def expr_args(expr):
    """The set of :class:`Arg` indices an expression reads."""
    found = fold_expr(expr, lambda e: {e.index} if isinstance(e, Arg) else set(),
                      lambda e, sets: set().union(*sets))
    return set(found)


def substitute(expr, mapping):
    """``expr`` with every ``Arg(i)`` replaced by the expression ``mapping[i]``.

    Parts of ``expr`` in which nothing is replaced are kept (the same objects); an
    argument read several times gets the same replacement object in each place.
    Raises :class:`KeyError` for an argument that ``mapping`` lacks."""
    def leaf(e):
        return mapping[e.index] if isinstance(e, Arg) else e

    def call(e, args):
        if all(new is old for new, old in zip(args, e.args)):
            return e
        return type(e)(e.op, tuple(args))
    return fold_expr(expr, leaf, call)
