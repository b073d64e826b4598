"""The JSON file format of graphs (``"format": "terrazzo-graph"``, version 1).

:func:`load_graph` reads a file or a JSON text, :func:`save_graph` writes one and
:func:`graph_to_json` gives the document as a dict. Loading then saving gives the
same document, and saving then loading gives an equal :class:`~compiler.ir.Graph`.

:data:`SCHEMA` is a JSON Schema (draft 2020-12) of the format, also kept in
``docs/graph.schema.json``. The loader checks the same rules itself and then runs
the graph checks of :func:`compiler.passes.infer`; every failure is a
:class:`~compiler.errors.CompileError` saying where (a JSON pointer such as
``/nodes/3/expr``, or ``line:column`` for a syntax error) and what.
"""

import json
import os
import re

from hw.ops import OP_TABLE, OPS_BY_NAME, REDUCE_TABLE, REDUCE_BY_NAME, Op
from .composites import COMPOSITES
from .dtypes import CAST_OPS
from .errors import CompileError
from .exprs import Cast
from .typecheck import node_type
from .types import CANONICAL_NAN, FLOAT_DTYPES, check_float_bits, float_bits, float_text
from .values import CastTo
from .jsonkeys import RepeatedKey, loads as _loads_unique_keys
from .ir import (Arg, Imm, Call, Input, Const, Iota, View, Map, Reduce, Fold, Scan, Composite,
                 Graph, DTYPES, INT32_MIN, INT32_MAX, MAX_EXPR_DEPTH, fold_expr, operands)

__all__ = ["FORMAT", "VERSION", "SCHEMA", "load_graph", "save_graph", "graph_to_json",
           "graph_from_json", "expr_to_json", "expr_from_json"]

FORMAT = "terrazzo-graph"
VERSION = 1

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
_ARG_RE = re.compile(r"\$(0|[1-9][0-9]{0,5})\Z")

_INT32 = {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX}
_NAME = {"type": "string", "pattern": _NAME_PATTERN}
_DIMS = {"type": "array", "items": {"type": "integer", "minimum": 1}}


def _node_schema(kind, required, props):
    return {
        "type": "object",
        "properties": {"name": {"$ref": "#/$defs/name"}, "kind": {"const": kind}, **props},
        "required": ["name", "kind", *required],
        "additionalProperties": False,
    }


_AXIS = {"type": "integer", "minimum": 0}
_RED = {"enum": [name for name, _, _ in REDUCE_TABLE.values()]}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Terrazzo graph",
    "type": "object",
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "name": {"$ref": "#/$defs/name"},
        "nodes": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "outputs": {"type": "object", "minProperties": 1,
                    "propertyNames": {"pattern": _NAME_PATTERN},
                    "additionalProperties": {"$ref": "#/$defs/name"}},
    },
    "required": ["format", "version", "name", "nodes", "outputs"],
    "additionalProperties": False,
    "$defs": {
        "name": _NAME,
        "int32": _INT32,
        "expr": {
            "oneOf": [
                {"type": "string", "pattern": r"^\$(0|[1-9][0-9]{0,5})$"},
                {"$ref": "#/$defs/int32"},
                {"type": "array", "minItems": 2, "maxItems": 4,
                 "prefixItems": [{"enum": [info.name for info in OP_TABLE.values()]}],
                 "items": {"$ref": "#/$defs/expr"}},
                {"type": "object", "minProperties": 1, "maxProperties": 1,
                 "properties": {dt: {"type": ["number", "string"]} for dt in FLOAT_DTYPES},
                 "additionalProperties": False},
                {"type": "array", "minItems": 3, "maxItems": 4,
                 "prefixItems": [{"const": "cast"}, {"$ref": "#/$defs/expr"},
                                 {"enum": list(DTYPES)}, {"enum": ["rne", "sr"]}],
                 "items": False},
            ],
        },
        "node": {
            "oneOf": [
                _node_schema("input", ["shape"], {"shape": _DIMS, "dtype": {"enum": list(DTYPES)}}),
                _node_schema("iota", ["shape", "axis"], {"shape": _DIMS, "axis": _AXIS}),
                _node_schema("const", ["shape", "values"], {
                    "shape": _DIMS, "dtype": {"enum": list(DTYPES)},
                    "values": {"type": "array", "items": {"$ref": "#/$defs/int32"}}}),
                _node_schema("view", ["input", "shape", "offset", "strides"], {
                    "input": {"$ref": "#/$defs/name"}, "shape": _DIMS,
                    "offset": {"type": "integer"},
                    "strides": {"type": "array", "items": {"type": "integer"}}}),
                _node_schema("map", ["inputs", "expr"], {
                    "inputs": {"type": "array", "minItems": 1,
                               "items": {"$ref": "#/$defs/name"}},
                    "expr": {"$ref": "#/$defs/expr"}}),
                *(_node_schema(kind, ["input", "op", "axis"], {
                    "input": {"$ref": "#/$defs/name"}, "op": _RED, "axis": _AXIS})
                  for kind in ("reduce", "scan")),
                _node_schema("fold", ["input", "op", "axis", "init"], {
                    "input": {"$ref": "#/$defs/name"}, "op": _RED, "axis": _AXIS,
                    "init": {"$ref": "#/$defs/int32"}}),
                *(_node_schema(kind, ["inputs"], {
                    "inputs": {"type": "array", "minItems": op.arity, "maxItems": op.arity,
                               "items": {"$ref": "#/$defs/name"}},
                    "attrs": {"type": "object", "maxProperties": 0}})
                  for kind, op in COMPOSITES.items()),
            ],
        },
    },
}

_PATTERN_KINDS = ("input", "iota", "const", "view", "map", "reduce", "fold", "scan")


# -- writing ----------------------------------------------------------------------------

def expr_to_json(expr):
    """An expression as JSON: ``"$0"``, an int (an i32 immediate), ``{"f32": "1.5"}``
    (a float immediate, the text of :func:`~compiler.types.float_text`), ``["cast", x,
    "f32"]`` (``["cast", x, "bf16", "sr"]`` for stochastic rounding) or ``["op", arg,
    ...]`` (a subexpression shared in ``expr`` is one list, shared in the result)."""
    def leaf(e):
        if isinstance(e, Arg):
            return f"${e.index}"
        return {e.dtype: float_text(e.value)} if e.dtype in FLOAT_DTYPES else e.value

    def call(e, args):
        if isinstance(e, Cast):
            return ["cast", *args, CAST_OPS[e.op][1]] + (["sr"] if e.op == Op.FTOBF_SR else [])
        return [OP_TABLE[e.op].name, *args]
    return fold_expr(expr, leaf, call)


def _node_to_json(node):
    d = {"name": node.name}
    if isinstance(node, Input):
        d.update(kind="input", shape=list(node.shape), dtype=node.dtype)
    elif isinstance(node, Iota):
        d.update(kind="iota", shape=list(node.shape), axis=node.axis)
    elif isinstance(node, Const):
        d.update(kind="const", shape=list(node.shape), dtype=node.dtype,
                 values=list(node.values))
    elif isinstance(node, View):
        d.update(kind="view", input=node.input, shape=list(node.shape),
                 offset=node.offset, strides=list(node.strides))
    elif isinstance(node, Map):
        d.update(kind="map", inputs=list(node.inputs), expr=expr_to_json(node.expr))
    elif isinstance(node, (Reduce, Fold, Scan)):
        d.update(kind=type(node).__name__.lower(), input=node.input,
                 op=REDUCE_TABLE[node.op][0], axis=node.axis)
        if isinstance(node, Fold):
            d["init"] = node.init
    else:
        d.update(kind=node.kind, inputs=list(node.inputs))
        if node.attrs:
            d["attrs"] = dict(node.attrs)
    return d


def graph_to_json(graph):
    """``graph`` as a JSON-ready dict in the terrazzo-graph format."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "nodes": [_node_to_json(n) for n in graph.nodes.values()],
        "outputs": dict(graph.outputs),
    }


def save_graph(graph, path):
    """Check ``graph`` and write it to ``path`` as JSON (nothing is written on error)."""
    from .passes import infer
    infer(graph)
    text = json.dumps(graph_to_json(graph), indent=1) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# -- reading ----------------------------------------------------------------------------

def _fail(ptr, msg):
    raise CompileError(f"{ptr or '/'}: {msg}")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _describe(x):
    if isinstance(x, bool) or x is None:
        return json.dumps(x)
    if isinstance(x, (int, float, str)):
        text = json.dumps(x)
        return text if len(text) <= 40 else text[:37] + "..."
    return {list: "an array", dict: "an object"}.get(type(x), type(x).__name__)


def _get(obj, key, ptr, kind, check=None):
    if key not in obj:
        _fail(ptr, f"missing {key!r}" + (f" for a {kind} node" if kind else ""))
    value = obj[key]
    if check is not None:
        check(value, f"{ptr}/{key}")
    return value


def _int(value, ptr, lo=None, hi=None, what="an integer"):
    if not _is_int(value):
        _fail(ptr, f"expected {what}, got {_describe(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(ptr, f"expected {what}, got {value}")
    return value


def _int32(value, ptr):
    return _int(value, ptr, INT32_MIN, INT32_MAX, "an i32 integer")


def _name(value, ptr):
    if not isinstance(value, str) or not re.match(_NAME_PATTERN, value):
        _fail(ptr, f"expected a name (a letter or '_' followed by letters, digits, '_', "
                   f"'.' or '-'), got {_describe(value)}")
    return value


def _list(value, ptr, item, min_len=0, max_len=None):
    if not isinstance(value, list):
        _fail(ptr, f"expected an array, got {_describe(value)}")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        want = (f"{min_len}" if min_len == max_len else
                f"at least {min_len}" if max_len is None else f"{min_len} to {max_len}")
        _fail(ptr, f"expected an array of {want} items, got {len(value)}")
    return tuple(item(v, f"{ptr}/{i}") for i, v in enumerate(value))


def _dims(value, ptr):
    return _list(value, ptr, lambda v, p: _int(v, p, 1, None, "a positive integer"))


def _ints(value, ptr):
    return _list(value, ptr, _int)


def _choice(value, ptr, names, what):
    if not isinstance(value, str) or value not in names:
        _fail(ptr, f"unknown {what} {_describe(value)}; expected one of "
                   f"{', '.join(map(repr, names))}")
    return value


def expr_from_json(value, ptr=""):
    """Parse a JSON expression; ``ptr`` is its JSON pointer for error messages.

    The walk is iterative: the operands of each array are checked in order, each
    completely before the next, and the expression is built once all are checked."""
    order = []                      # in pre-order: Arg, Imm, or (op, arity) for a call
    stack = [(value, ptr, 0)]
    while stack:
        v, p, depth = stack.pop()
        if depth > MAX_EXPR_DEPTH:
            _fail(p, f"expression is nested more than {MAX_EXPR_DEPTH} deep")
        if isinstance(v, str):
            m = _ARG_RE.match(v)
            if not m:
                _fail(p, f"expected an input reference like \"$0\", got {_describe(v)}")
            order.append(Arg(int(m.group(1))))
        elif _is_int(v):
            order.append(Imm(_int32(v, p)))
        elif isinstance(v, dict):
            order.append(_float_imm(v, p))
        elif isinstance(v, list) and v[:1] == ["cast"]:
            order.append(_cast_head(v, p))
            stack.append((v[1], f"{p}/1", depth + 1))
        elif isinstance(v, list):
            order.append(_call_head(v, p))
            stack.extend((a, f"{p}/{i}", depth + 1)
                         for i, a in reversed(list(enumerate(v[1:], 1))))
        else:
            _fail(p, f"expected an expression (\"$N\", an integer, {{\"f32\": number}}, "
                     f"[\"cast\", x, dtype] or [op, ...]), got {_describe(v)}")
    # In reverse pre-order every call comes after its operands, the last one on top.
    built = []
    for item in reversed(order):
        if isinstance(item, CastTo):
            item = CastTo(item.op, (built.pop(),), item.dtype, item.rounding)
        elif isinstance(item, tuple):
            op, arity = item
            item = Call(op, tuple(built.pop() for _ in range(arity)))
        built.append(item)
    return built[0]


_SPECIAL_FLOATS = {"nan": CANONICAL_NAN, "inf": 0x7F800000, "-inf": -0x00800000}


def _float_imm(value, ptr):
    """The :class:`Imm` of a JSON float immediate ``{"f32": 1.5}`` or ``{"bf16": "-inf"}``:
    a number, or a string holding a decimal, ``inf``, ``-inf``, ``nan`` or the bits as
    ``0x`` and 8 hex digits. A decimal is rounded to the dtype to nearest even."""
    if len(value) != 1 or next(iter(value)) not in FLOAT_DTYPES:
        _fail(ptr, f"expected a float immediate such as {{\"f32\": 1.5}} (one key, "
                   f"'f32' or 'bf16'), got an object with keys "
                   f"{', '.join(map(repr, value)) or 'none'}")
    (dtype, v), = value.items()
    p = f"{ptr}/{dtype}"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Imm(float_bits(v, dtype), dtype)
    if not isinstance(v, str):
        _fail(p, f"expected a number or a string, got {_describe(v)}")
    if v in _SPECIAL_FLOATS:
        return Imm(_SPECIAL_FLOATS[v], dtype)
    if re.fullmatch(r"0x[0-9a-fA-F]{8}", v):
        bits = int(v, 16)
        bits = bits - (1 << 32) if bits >> 31 else bits
        try:
            check_float_bits(bits, dtype, "immediate", None)
        except CompileError as e:
            _fail(p, e.message)
        return Imm(bits, dtype)
    try:
        number = float(v)
    except ValueError:
        number = None
    if number is None or v.strip().lower() in ("nan", "+nan", "-nan", "infinity", "+inf",
                                               "-infinity", "+infinity"):
        _fail(p, f"expected a decimal number, 'inf', '-inf', 'nan' or 0x and 8 hex digits, "
                 f"got {_describe(v)}")
    return Imm(float_bits(number, dtype), dtype)


def _cast_head(value, ptr):
    """A :class:`CastTo` placeholder for the JSON cast ``["cast", x, dtype(, rounding)]``
    (its operand is filled in later; the op follows from the operand's dtype once the
    graph's types are known)."""
    if len(value) not in (3, 4):
        _fail(ptr, f"expected [\"cast\", x, dtype] or [\"cast\", x, \"bf16\", rounding], "
                   f"got an array of {len(value)} items")
    dtype = _choice(value[2], f"{ptr}/2", list(DTYPES), "dtype")
    rounding = _choice(value[3], f"{ptr}/3", ["rne", "sr"], "rounding") \
        if len(value) == 4 else "rne"
    return CastTo(Op.PASS, (), dtype, rounding)


def _has_cast_to(expr):
    return fold_expr(expr, lambda e: False,
                     lambda e, subs: isinstance(e, CastTo) or any(subs))


def _resolve_casts(graph):
    """``graph`` with the cast placeholders of its maps made :class:`Cast` nodes, whose op
    depends on the dtype of what they convert (the graph is typed in topological order
    to know it)."""
    from .builder import resolve_literals
    if not any(isinstance(n, Map) and _has_cast_to(n.expr) for n in graph.nodes.values()):
        return graph
    types, nodes = {}, {}
    for name in graph.topological_order():
        node = graph.nodes[name]
        if isinstance(node, Map) and _has_cast_to(node.expr):
            try:
                in_dtypes = [types[i].dtype for i in node.inputs]
            except KeyError:
                in_dtypes = None            # an unknown input: reported by the checks
            if in_dtypes is not None:
                node = Map(node.name, node.inputs,
                           resolve_literals(node.expr, in_dtypes, node.name))
        nodes[name] = node
        types[name] = node_type(node, {d: types[d] for d in operands(node)})
    resolved = Graph(graph.name, [nodes[n] for n in graph.nodes])
    for out, ref in graph.outputs.items():
        resolved.set_output(out, ref)
    return resolved


def _call_head(value, ptr):
    """The ``(op, arity)`` of the JSON call ``value``, checking its operand count."""
    if not value:
        _fail(ptr, "expected [op, operands...], got an empty array")
    op = OPS_BY_NAME[_choice(value[0], f"{ptr}/0", list(OPS_BY_NAME), "op")]
    arity = OP_TABLE[op].arity
    if len(value) - 1 != arity:
        _fail(ptr, f"op {value[0]!r} takes {arity} operand{'s' if arity != 1 else ''}, "
                   f"got {len(value) - 1}")
    return op, arity


# The keys each pattern kind allows besides "name" and "kind"; composites allow
# "inputs" and "attrs".
_KEYS = {
    "input": {"shape", "dtype"},
    "iota": {"shape", "axis"},
    "const": {"shape", "dtype", "values"},
    "view": {"input", "shape", "offset", "strides"},
    "map": {"inputs", "expr"},
    "reduce": {"input", "op", "axis"},
    "scan": {"input", "op", "axis"},
    "fold": {"input", "op", "axis", "init"},
}
_COMPOSITE_KEYS = {"inputs", "attrs"}


def _node_from_json(d, ptr):
    if not isinstance(d, dict):
        _fail(ptr, f"expected a node object, got {_describe(d)}")
    name = _get(d, "name", ptr, None, _name)
    kind = _get(d, "kind", ptr, None)
    _choice(kind, f"{ptr}/kind", [*_PATTERN_KINDS, *COMPOSITES], "node kind")
    extra = sorted(set(d) - {"name", "kind"} - _KEYS.get(kind, _COMPOSITE_KEYS))
    if extra:
        _fail(f"{ptr}/{_escape(extra[0])}", f"unexpected key for a {kind} node")

    def get(key, check):
        return check(_get(d, key, ptr, kind), f"{ptr}/{key}")

    def dtype():
        if "dtype" not in d:
            return "i32"
        return _choice(d["dtype"], f"{ptr}/dtype", list(DTYPES), "dtype")

    def red(v, p):
        return REDUCE_BY_NAME[_choice(v, p, list(REDUCE_BY_NAME), "reduction")]

    if kind == "input":
        return Input(name, get("shape", _dims), dtype())
    if kind == "iota":
        return Iota(name, get("shape", _dims), get("axis", _int))
    if kind == "const":
        shape = get("shape", _dims)
        return Const(name, shape, dtype(), get("values", lambda v, p: _list(v, p, _int32)))
    if kind == "view":
        return View(name, get("input", _name), get("shape", _dims), get("offset", _int),
                    get("strides", _ints))
    if kind == "map":
        return Map(name, get("inputs", lambda v, p: _list(v, p, _name, 1)),
                   get("expr", expr_from_json))
    axis = (lambda v, p: _int(v, p, 0, None, "a non-negative axis"))
    if kind in ("reduce", "scan"):
        cls = Reduce if kind == "reduce" else Scan
        return cls(name, get("input", _name), get("op", red), get("axis", axis))
    if kind == "fold":
        return Fold(name, get("input", _name), get("op", red), get("axis", axis),
                    get("init", _int32))
    n = COMPOSITES[kind].arity
    inputs = get("inputs", lambda v, p: _list(v, p, _name, n, n))
    attrs = d.get("attrs", {})
    if not isinstance(attrs, dict):
        _fail(f"{ptr}/attrs", f"expected an object, got {_describe(attrs)}")
    if attrs:
        key = sorted(attrs)[0]
        _fail(f"{ptr}/attrs/{_escape(key)}", f"{kind} takes no attribute {key!r}")
    return Composite(name, kind, inputs, ())


def _escape(key):
    return str(key).replace("~", "~0").replace("/", "~1")


def graph_from_json(doc):
    """Build and check a :class:`~compiler.ir.Graph` from a parsed JSON document."""
    if not isinstance(doc, dict):
        _fail("", f"expected a graph object, got {_describe(doc)}")
    fmt = _get(doc, "format", "", None)
    if fmt != FORMAT:
        _fail("/format", f"expected {FORMAT!r}, got {_describe(fmt)}")
    version = _get(doc, "version", "", None)
    if version != VERSION or not _is_int(version):
        _fail("/version", f"unsupported version {_describe(version)}; this compiler "
                          f"reads version {VERSION}")
    extra = sorted(set(doc) - {"format", "version", "name", "nodes", "outputs"})
    if extra:
        _fail(f"/{_escape(extra[0])}", "unexpected key")
    name = _get(doc, "name", "", None, _name)
    nodes = _get(doc, "nodes", "", None)
    if not isinstance(nodes, list):
        _fail("/nodes", f"expected an array, got {_describe(nodes)}")
    graph = Graph(name)
    where = {}
    for i, d in enumerate(nodes):
        node = _node_from_json(d, f"/nodes/{i}")
        if node.name in graph.nodes:
            _fail(f"/nodes/{i}/name", f"duplicate node name {node.name!r} (first at "
                                      f"/nodes/{where[node.name]})")
        graph.add(node)
        where[node.name] = i
    for i, node in enumerate(graph.nodes.values()):
        for j, dep in enumerate(operands(node)):
            if dep not in graph.nodes:
                key = "input" if isinstance(node, (View, Reduce, Fold, Scan)) else f"inputs/{j}"
                _fail(f"/nodes/{i}/{key}", f"unknown node {dep!r}")
    outputs = _get(doc, "outputs", "", None)
    if not isinstance(outputs, dict):
        _fail("/outputs", f"expected an object, got {_describe(outputs)}")
    if not outputs:
        _fail("/outputs", "a graph needs at least one output")
    for out, ref in outputs.items():
        ptr = f"/outputs/{_escape(out)}"
        _name(out, ptr)
        _name(ref, ptr)
        if ref not in graph.nodes:
            _fail(ptr, f"unknown node {ref!r}")
        graph.set_output(out, ref)
    from .passes import infer
    try:
        graph = _resolve_casts(graph)
        infer(graph)
    except CompileError as e:
        if e.node in where:
            raise CompileError(f"{e.message} (at /nodes/{where[e.node]})", e.node) from None
        raise
    return graph


def load_graph(source):
    """Load a graph from a path (``str`` or :class:`os.PathLike`) or a JSON text.

    A ``str`` whose first non-blank character is ``{`` or ``[``, or that holds a
    line break, is taken as JSON text.
    Raises :class:`CompileError` for unreadable files, JSON syntax errors
    (``line:column``), format errors (JSON pointer) and invalid graphs (node name).
    """
    if isinstance(source, str) and (source.lstrip()[:1] in ("{", "[") or "\n" in source):
        text, origin = source, "<text>"
    elif isinstance(source, (str, os.PathLike)):
        origin = os.fspath(source)
        try:
            with open(origin, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise CompileError(f"cannot read graph file {origin!r}: {e}") from None
    else:
        raise CompileError(f"expected a path or JSON text, not {type(source).__name__}")
    try:
        doc = _loads_unique_keys(text)
    except RepeatedKey as e:
        raise CompileError(f"{''.join(f'/{_escape(k)}' for k in e.path)}: {e}") from None
    except json.JSONDecodeError as e:
        raise CompileError(f"{origin}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    except (ValueError, RecursionError) as e:
        raise CompileError(f"{origin}: invalid JSON: {e}") from None
    return graph_from_json(doc)
