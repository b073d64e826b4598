"""The JSON file format of graphs (``"format": "terrazzo-graph"``, version 1).

:func:`load_graph` reads a file or a JSON text, :func:`save_graph` writes one and
:func:`graph_to_json` gives the document as a dict. Loading then saving gives the
same document, and saving then loading gives an equal :class:`~compiler.ir.Graph`.

Expressions are read and written by :mod:`compiler.jsonexpr`.

:data:`SCHEMA` is a JSON Schema (draft 2020-12) of the format, also kept in
``docs/graph.schema.json``. The loader checks the same rules itself and then runs
the graph checks of :func:`compiler.passes.infer`; every failure is a
:class:`~compiler.errors.CompileError` saying where (a JSON pointer such as
``/nodes/3/expr``, or ``line:column`` for a syntax error) and what.
"""

import json
import os
import re

from hw.ops import OP_TABLE, REDUCE_TABLE, REDUCE_BY_NAME
from .composites import COMPOSITES
from .errors import CompileError
from .jsonexpr import (expr_from_json, expr_to_json, _choice, _describe, _fail,
                       _has_cast_to, _int, _int32, _is_int)
from .typecheck import node_type
from .types import FLOAT_DTYPES
from .jsonkeys import RepeatedKey, loads as _loads_unique_keys
from .ir import (Input, Const, Iota, View, Map, Reduce, Fold, Scan, Composite, Graph, DTYPES,
                 INT32_MIN, INT32_MAX, operands)

__all__ = ["FORMAT", "VERSION", "SCHEMA", "load_graph", "save_graph", "graph_to_json",
           "graph_from_json", "expr_to_json", "expr_from_json"]

FORMAT = "terrazzo-graph"
VERSION = 1

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"

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

def _get(obj, key, ptr, kind, check=None):
    if key not in obj:
        _fail(ptr, f"missing {key!r}" + (f" for a {kind} node" if kind else ""))
    value = obj[key]
    if check is not None:
        check(value, f"{ptr}/{key}")
    return value


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
