"""The checks a manifest document passes before anything uses it.

:func:`parse_manifest` reads the JSON text strictly (no duplicate keys, no ``NaN`` or
``Infinity``) and :func:`check_manifest` checks the document: first every field against
its rule in :data:`FIELDS`, then the rules between fields in :data:`AGREEMENTS`. Every
failure is a :class:`~compiler.errors.ManifestError` of one line that names the file
and the field (a path such as ``inputs[1].port``) and quotes the bad value.

What the document cannot tell (whether the ports exist on the fabric, whether the
bitstream is the one it describes) is checked by :class:`compiler.manifest.Manifest`
against the fabric and the bitstream.
"""

import json
import math
import re
from dataclasses import dataclass
from typing import Callable

from .errors import CompileError, ManifestError
from .jsonio import graph_from_json
from .nodes import Const, Input
from .streams import ORDERS, stream_vectors
from .types import check_name

#: The tensor dtypes a manifest carries (f32 and bf16 words are binary32 bit patterns).
MANIFEST_DTYPES = ("i32", "f32", "bf16")

__all__ = ["MANIFEST_FORMAT", "MANIFEST_VERSION", "MAX_COUNT", "FIELDS", "OPTIONAL_FIELDS",
           "AGREEMENTS",
           "parse_manifest", "check_manifest"]

MANIFEST_FORMAT = "terrazzo-manifest"
#: Version 2 added ``bitstream_sha256``; older manifests are refused (compile again).
MANIFEST_VERSION = 2
#: The largest count a manifest may hold (elements, vectors, ports, lanes, ideal
#: cycles): far more than any simulation moves, and small enough that every count
#: stays exact in the int64 of the simulator's job file and in NumPy index arithmetic.
MAX_COUNT = 2 ** 31 - 1

#: Edge ports per direction: a fabric has at most 64 (``hw.params``).
_MAX_PORTS = 64
#: Dimensions of a tensor: NumPy's limit.
_MAX_DIMS = 64
_FABRIC_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_VERSION_TEXT = re.compile(r"[0-9A-Za-z.+\-]{1,64}\Z")
_QUOTE_LIMIT = 60
_MAX_DIGITS = 20


@dataclass(frozen=True)
class Rule:
    """What one field must be: ``test(value)`` holds for a good value; ``want`` ends
    the message "``path`` must be ``want``, not ``value``"; ``hint``, if given, is
    added after the bad value."""
    want: str
    test: Callable
    hint: str = ""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _count(lo, hi=MAX_COUNT):
    return Rule(f"an integer in [{lo}, {hi}]", lambda v: _is_int(v) and lo <= v <= hi)


def _is_name(v):
    try:
        check_name(v)
    except CompileError:
        return False
    return True


def _matches(pattern):
    return lambda v: isinstance(v, str) and pattern.match(v) is not None


def _list(lo, hi):
    return Rule(f"a list of {lo} to {hi} items",
                lambda v: isinstance(v, list) and lo <= len(v) <= hi)


_OBJECT = Rule("an object", lambda v: isinstance(v, dict))
_NAME = Rule("a name (a letter or '_', then letters, digits, '_', '.' or '-')", _is_name)
_SHA = Rule("64 lowercase hex digits", _matches(_SHA256))

_PORT = {
    "": _OBJECT,
    ".name": _NAME,
    ".port": _count(0, _MAX_PORTS - 1),
    ".shape": _list(0, _MAX_DIMS),
    ".shape[]": _count(1),
    ".dtype": Rule(f"one of {', '.join(map(repr, MANIFEST_DTYPES))}",
                   lambda v: v in MANIFEST_DTYPES),
    ".order": Rule(f"one of {', '.join(map(repr, ORDERS))}", lambda v: v in ORDERS),
    ".words": _count(1),
    ".vectors": _count(1),
}

_DRAM = {
    "": _OBJECT,
    ".name": _NAME,
    ".address": _count(0, 2 ** 30 - 1),
    ".shape": _list(0, _MAX_DIMS),
    ".shape[]": _count(1),
    ".dtype": Rule(f"one of {', '.join(map(repr, MANIFEST_DTYPES))}",
                   lambda v: v in MANIFEST_DTYPES),
    ".words": _count(1),
    ".const": Rule("true", lambda v: v is True),
    ".temp": Rule("true", lambda v: v is True),
}

#: The fields a manifest may leave out, by table path: a program without DRAM tensors
#: has no ``dram``, a DRAM tensor that is a graph input no ``const`` nor ``temp``, a
#: program of one section no ``sections``.
OPTIONAL_FIELDS = frozenset({"dram", "dram[].const", "dram[].temp", "sections"})

#: Most sections and DRAM tensors a manifest may list.
_MAX_SECTIONS = 1 << 16

#: One rule per field, by path ("[]" stands for every item of a list). An object's
#: fields are exactly the paths one level below it; an object with none listed
#: (``report``, ``source``) is not looked into here.
FIELDS = {
    "": _OBJECT,
    "format": Rule(repr(MANIFEST_FORMAT), lambda v: v == MANIFEST_FORMAT),
    "version": Rule(str(MANIFEST_VERSION), lambda v: _is_int(v) and v == MANIFEST_VERSION,
                    f" (this terrazzo reads version {MANIFEST_VERSION}; a version 1 "
                    f"manifest has no bitstream hash: compile the program again)"),
    "graph": _NAME,
    "fabric": _OBJECT,
    "fabric.name": Rule("1 to 256 characters, none a control character",
                        _matches(_FABRIC_NAME)),
    "fabric.hash": _SHA,
    "fabric.hash32": _count(0, 2 ** 32 - 1),
    "fabric.lanes": Rule("a power of two", lambda v: _is_int(v) and 0 < v <= MAX_COUNT
                         and v & (v - 1) == 0),
    "bitstream_sha256": _SHA,
    "compiler_version": Rule("a version such as '0.1.0'", _matches(_VERSION_TEXT)),
    "inputs": _list(0, _MAX_PORTS),
    **{f"inputs[]{key}": rule for key, rule in _PORT.items()},
    "outputs": _list(0, _MAX_PORTS),
    **{f"outputs[]{key}": rule for key, rule in _PORT.items()},
    "dram": _list(0, _MAX_SECTIONS),
    **{f"dram[]{key}": rule for key, rule in _DRAM.items()},
    "sections": _list(2, _MAX_SECTIONS),
    "sections[]": _OBJECT,
    "sections[].inputs": _list(0, _MAX_PORTS),
    **{f"sections[].inputs[]{key}": rule for key, rule in _PORT.items()},
    "sections[].outputs": _list(0, _MAX_PORTS),
    **{f"sections[].outputs[]{key}": rule for key, rule in _PORT.items()},
    "sections[].ideal_cycles": _count(0),
    "ideal_cycles": _count(0),
    "report": _OBJECT,
    "source": _OBJECT,
}


def _fields_of(key):
    """The field names of the object at table path ``key``."""
    prefix = f"{key}." if key else ""
    return tuple(k[len(prefix):] for k in FIELDS
                 if k.startswith(prefix) and k != key and "." not in k[len(prefix):]
                 and not k.endswith("[]"))


_FIELDS_OF = {key: _fields_of(key) for key in FIELDS}


def _quote(value):
    text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT - 3] + "..."


def _walk(value, key, path, fail):
    """Check ``value`` (at document path ``path``) against ``FIELDS[key]`` and below."""
    rule = FIELDS[key]
    if not rule.test(value):
        fail(f"{path or 'the manifest'} must be {rule.want}, not {_quote(value)}{rule.hint}")
    if isinstance(value, list) and f"{key}[]" in FIELDS:
        for i, item in enumerate(value):
            _walk(item, f"{key}[]", f"{path}[{i}]", fail)
    names = _FIELDS_OF[key]
    if isinstance(value, dict) and names:
        dot = f"{key}." if key else ""
        where = f"{path}." if path else ""
        for name in names:
            if name in value:
                _walk(value[name], dot + name, where + name, fail)
        for name in value:
            if name not in names:
                fail(f"unknown field {where + name!r} (known: {', '.join(names)})")
        for name in names:
            if name not in value and (dot + name) not in OPTIONAL_FIELDS:
                fail(f"field {where + name!r} is missing")


def _section_docs(doc):
    """(path prefix, section) of each section: the document itself for one section."""
    if "sections" in doc:
        return [(f"sections[{k}].", sec) for k, sec in enumerate(doc["sections"])]
    return [("", doc)]


def _ports(doc):
    for prefix, sec in _section_docs(doc):
        for direction in ("inputs", "outputs"):
            for i, spec in enumerate(sec[direction]):
                yield f"{prefix}{direction}[{i}]", spec


def _sections_agree(doc):
    if "sections" not in doc:
        if not doc["outputs"]:
            return "outputs must be a list of 1 to 64 items, not []"
        if any(spec.get("temp") for spec in doc.get("dram", [])):
            return "dram lists a tensor between sections, and the manifest has no sections"
        return None
    for direction in ("inputs", "outputs"):
        if doc[direction]:
            return (f"{direction} must be [] in a manifest with sections (each section "
                    f"lists its own)")
    if not any(sec["outputs"] for sec in doc["sections"]):
        return "no section has an output"
    total = sum(sec["ideal_cycles"] for sec in doc["sections"])
    if doc["ideal_cycles"] != total:
        return (f"ideal_cycles must be {total} (the sum of the sections'), not "
                f"{doc['ideal_cycles']}")
    for i, spec in enumerate(doc.get("dram", [])):
        if spec.get("temp") and spec.get("const"):
            return f"dram[{i}] cannot be both const and temp"
    return None


def _counts_agree(doc):
    lanes = doc["fabric"]["lanes"]
    for i, spec in enumerate(doc.get("dram", [])):
        words = math.prod(spec["shape"])
        if spec["words"] != words:
            return (f"dram[{i}].words must be {words} (the elements of shape "
                    f"{spec['shape']}), not {spec['words']}")
        if spec["address"] + words > 2 ** 30:
            return f"dram[{i}] ends past the 2**30 words a DRAM unit addresses"
    for path, spec in _ports(doc):
        words = math.prod(spec["shape"])
        if words > MAX_COUNT:
            return (f"{path}.shape must have at most {MAX_COUNT} elements, not "
                    f"{_quote(words)}")
        if spec["words"] != words:
            return (f"{path}.words must be {words} (the elements of shape {spec['shape']}), "
                    f"not {spec['words']}")
        vectors = stream_vectors(spec["shape"], spec["order"], lanes)
        if spec["vectors"] != vectors:
            return (f"{path}.vectors must be {vectors} (shape {spec['shape']} in order "
                    f"{spec['order']!r} on {lanes} lanes), not {spec['vectors']}")
    return None


def _names_and_ports_unique(doc):
    for prefix, sec in _section_docs(doc):
        for direction in ("inputs", "outputs"):
            for field in ("name", "port"):
                first = {}
                for i, spec in enumerate(sec[direction]):
                    here = f"{prefix}{direction}[{i}].{field}"
                    if spec[field] in first:
                        return f"{here} {spec[field]!r} repeats {first[spec[field]]}"
                    first[spec[field]] = here
    names = {}
    for prefix, sec in _section_docs(doc):
        for i, spec in enumerate(sec["outputs"]):
            here = f"{prefix}outputs[{i}].name"
            if spec["name"] in names:
                return f"{here} {spec['name']!r} repeats {names[spec['name']]}"
            names[spec["name"]] = here
    first = {}
    for i, spec in enumerate(doc.get("dram", [])):
        if spec["name"] in first:
            return f"dram[{i}].name {spec['name']!r} repeats {first[spec['name']]}"
        first[spec["name"]] = f"dram[{i}].name"
    return None


def _hash32_agrees(doc):
    fabric = doc["fabric"]
    want = int(fabric["hash"][:8], 16)
    if fabric["hash32"] != want:
        return (f"fabric.hash32 must be {want} (the first 32 bits of fabric.hash), not "
                f"{fabric['hash32']}")
    return None


def _tensors(specs):
    return ", ".join(f"{name}{list(shape)}" for name, shape in specs.items()) or "none"


def _source_agrees(doc):
    try:
        graph = graph_from_json(doc["source"])
    except CompileError as e:
        return f"source is not a valid graph: {e}"
    if graph.name != doc["graph"]:
        return f"source is graph {graph.name!r}, not {doc['graph']!r}"
    for direction, graph_specs in (
            ("inputs", {node.name: tuple(node.shape) for node in graph.nodes.values()
                        if isinstance(node, Input)}),
            ("outputs", {name: tuple(graph.type_of(ref).shape)
                         for name, ref in graph.outputs.items()})):
        specs = {spec["name"]: tuple(spec["shape"]) for _, sec in _section_docs(doc)
                 for spec in sec[direction]}
        if direction == "inputs":
            # an input that only DRAM units read arrives on no edge port
            specs.update({spec["name"]: tuple(spec["shape"]) for spec in doc.get("dram", [])
                          if not spec.get("const") and not spec.get("temp")})
        if specs != graph_specs:
            return (f"{direction} ({_tensors(specs)}) are not those of the source graph "
                    f"({_tensors(graph_specs)})")
    return None


def _dram_consts_agree(doc):
    consts = [(i, spec) for i, spec in enumerate(doc.get("dram", [])) if spec.get("const")]
    if not consts:
        return None
    graph = graph_from_json(doc["source"])      # valid: _source_agrees checked it
    for i, spec in consts:
        node = graph.nodes.get(spec["name"])
        if not isinstance(node, Const) or tuple(node.shape) != tuple(spec["shape"]):
            return (f"dram[{i}] is constant {spec['name']!r} {spec['shape']}, which the "
                    f"source graph does not have")
    return None


#: The rules between fields, checked in order once every field has passed its rule;
#: each returns what is wrong, or None.
AGREEMENTS = (_hash32_agrees, _sections_agree, _counts_agree, _names_and_ports_unique,
              _source_agrees, _dram_consts_agree)


def check_manifest(doc, source="manifest"):
    """Check a parsed manifest document; ``source`` names it in messages.

    Raises
    ------
    ManifestError
        For the first field that breaks its rule in :data:`FIELDS` (wrong type, out of
        range, unknown, missing) or the first rule of :data:`AGREEMENTS` broken.
    """
    def fail(message):
        raise ManifestError(f"{source}: {message}")

    _walk(doc, "", "", fail)
    for agreement in AGREEMENTS:
        message = agreement(doc)
        if message is not None:
            fail(message)


def _pairs(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ManifestError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _constant(name):
    raise ManifestError(f"{name} is not a JSON number")


def _float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ManifestError(f"{text} is too large for a JSON number")
    return value


def _integer(text):
    # Python refuses to convert integers of thousands of digits with a ValueError that
    # talks about sys.set_int_max_str_digits; no count in a manifest needs 20.
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise ManifestError(f"an integer of {len(text.lstrip('-'))} digits is too long")
    return int(text)


def parse_manifest(text, source="manifest"):
    """The document in ``text`` (``str``, or ``bytes`` of UTF-8), parsed strictly.

    Raises
    ------
    ManifestError
        For text that is not UTF-8 or not JSON, a key twice in one object, ``NaN``,
        ``Infinity`` or a number too large for a float, an integer of more than 20
        digits, or nesting too deep to parse.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ManifestError(f"{source}: not UTF-8 text (bad byte at offset {e.start})") \
                from None
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant,
                          parse_float=_float, parse_int=_integer)
    except ManifestError as e:
        raise ManifestError(f"{source}: invalid JSON: {e}") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{source}: invalid JSON at line {e.lineno} column {e.colno}: "
                            f"{e.msg}") from None
    except RecursionError:
        raise ManifestError(f"{source}: invalid JSON: nested too deeply") from None
