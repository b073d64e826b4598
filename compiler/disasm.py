"""Disassembler and assembler: bitstream <-> text that names every field.

The text lists each record with one ``path = value`` line per configuration field, in
layout order (enums by name, signed fields as signed numbers). :func:`assemble` parses
that text back to the identical bytes. Field positions come from the layouts, never
from offsets written here.
"""

import re

from amaranth.hdl import Shape
from amaranth.lib import data
from amaranth.lib import enum as aenum

from hw import params
from hw.format import RecordKind, fabric_hash32_of
from hw.layouts import plain_layout
from hw.params import PRESETS, ParamsError
from hw.targets import config_targets
from .bitstream import Bitstream, Record, decode, encode, words_of, bits_of
from .errors import CompileError

__all__ = ["disassemble", "assemble", "find_fabric", "leaf_fields"]


def leaf_fields(layout, prefix=""):
    """``[(path, offset, shape)]`` for every leaf field of a layout, in bit order."""
    return [(path, offset, shape) for path, _, offset, shape in _walk(layout, prefix)]


def _walk(layout, path="", keys=(), offset=0):
    """``[(path, keys, offset, shape)]`` for every leaf field of ``layout``, in bit
    order: its text path, the keys that reach it in a ``data.Const`` of the layout, its
    bit offset and its shape."""
    if isinstance(layout, data.StructLayout):
        items = [(f"{path}.{name}" if path else name, name, field.offset, field.shape)
                 for name, field in layout]
    elif isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        items = [(f"{path}[{i}]", i, i * width, layout.elem_shape)
                 for i in range(layout.length)]
    else:
        return [(path, keys, offset, layout)]
    return [leaf for sub, key, off, shape in items
            for leaf in _walk(shape, sub, keys + (key,), offset + off)]


def _field(const, keys):
    for key in keys:
        const = const[key]
    return const


def _format_value(value, shape):
    """Text of field ``value`` (as read through :func:`hw.layouts.plain_layout`): an enum
    member's name, else the number."""
    if isinstance(shape, type) and issubclass(shape, aenum.Enum):
        try:
            return shape(value).name
        except ValueError:
            pass
    return str(value)


def _parse_value(text, shape, where):
    if isinstance(shape, type) and issubclass(shape, aenum.Enum):
        if text in shape.__members__:
            return shape[text].value
    s = Shape.cast(shape)
    try:
        v = int(text, 0)
    except ValueError:
        raise CompileError(f"{where}: {text!r} is not a value of this field") from None
    lo, hi = (-(1 << (s.width - 1)), (1 << (s.width - 1)) - 1) if s.signed else (0, (1 << s.width) - 1)
    if not lo <= v <= hi:
        raise CompileError(f"{where}: {v} does not fit {s.width}-bit "
                           f"{'signed' if s.signed else 'unsigned'} field")
    return v & ((1 << s.width) - 1)


def find_fabric(hash32, fabric=None):
    """:func:`hw.params.find_fabric`; a hash that no preset has is a
    :class:`CompileError` here (``fabric`` that cannot be loaded stays a
    :class:`~hw.params.ParamsError`)."""
    try:
        return params.find_fabric(hash32, fabric)
    except ParamsError as e:
        if fabric is not None:
            raise
        raise CompileError(str(e)) from None


def _layout_of(p, kind, target):
    """The layout of ``target`` and what it is in words (``pcu``, ``switch 1,2``).

    Raises KeyError if ``target`` is not a target of ``kind`` records."""
    t = config_targets(p).get(target)
    if t is None or t.record != kind:
        raise KeyError(target)
    return t.layout, (t.kind if t.unit is not None else f"switch {t.pos[0]},{t.pos[1]}")


def disassemble(blob, fabric=None):
    """Text of a bitstream. Raises BitstreamError/CompileError for a bad one."""
    decode(blob)                # the fabric-independent checks first (magic, ...)
    p = find_fabric(fabric_hash32_of(blob), fabric)
    bs = decode(blob, p)
    lines = [f"bitstream fabric={p.name} hash=0x{bs.fabric_hash32:08x} records={len(bs.records)}"]
    for rec in bs.records:
        kind = RecordKind(rec.kind)
        if kind == RecordKind.PMU_INIT:
            lines.append(f"record pmu_init {rec.target} addr={rec.payload[0]} "
                         f"words={len(rec.payload) - 1}")
            body = rec.payload[1:]
            for i in range(0, len(body), 8):
                lines.append("  data " + " ".join(f"0x{w:08x}" for w in body[i:i + 8]))
            continue
        layout, what = _layout_of(p, kind, rec.target)
        value = data.Const(plain_layout(layout), bits_of(rec.payload, layout))
        lines.append(f"record {kind.name.lower()} {rec.target} # {what}")
        for path, keys, _, shape in _walk(layout):
            lines.append(f"  {path} = {_format_value(_field(value, keys), shape)}")
    return "\n".join(lines) + "\n"


_HEAD = re.compile(r"bitstream fabric=(\S+) hash=0x([0-9a-fA-F]{8})")
_REC = re.compile(r"record (unit|switch|pmu_init) (\d+)(?: addr=(\d+))?")


def _nested(values):
    """The nested ``layout.const`` initializer of ``{keys: value}`` (keys as from
    :func:`_walk`)."""
    tree = {}
    for keys, value in values.items():
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return tree


def assemble(text, fabric=None):
    """Bytes of the bitstream that ``text`` (as :func:`disassemble` prints) describes."""
    lines = [(n + 1, l) for n, l in enumerate(text.splitlines())
             if l.split("#", 1)[0].strip()]
    if not lines or not _HEAD.match(lines[0][1].strip()):
        raise CompileError("line 1: expected 'bitstream fabric=NAME hash=0xHHHHHHHH'")
    m = _HEAD.match(lines[0][1].strip())
    hash32 = int(m.group(2), 16)
    p = find_fabric(hash32, fabric if fabric is not None else
                    (m.group(1) if m.group(1) in PRESETS else None))
    records = []
    current = None

    def finish():
        if current is None:
            return
        kind, target, layout, fields, values, words, addr = current
        if kind == RecordKind.PMU_INIT:
            records.append(Record(kind, target, (addr,) + tuple(words)))
        else:
            bits = plain_layout(layout).const(_nested(values)).as_bits()
            records.append(Record(kind, target, words_of(bits, layout)))

    for lineno, line in lines[1:]:
        line = line.split("#", 1)[0].strip()
        rm = _REC.fullmatch(line) or _REC.match(line)
        if line.startswith("record"):
            if rm is None:
                raise CompileError(f"line {lineno}: cannot read record header {line!r}")
            finish()
            kind = RecordKind[rm.group(1).upper()]
            target = int(rm.group(2))
            if kind == RecordKind.PMU_INIT:
                current = [kind, target, None, None, {}, [], int(rm.group(3) or 0)]
            else:
                try:
                    layout, _ = _layout_of(p, kind, target)
                except KeyError:
                    raise CompileError(f"line {lineno}: no {kind.name.lower()} {target} on "
                                       f"fabric {p.name!r}") from None
                fields = {path: (keys, shape) for path, keys, _, shape in _walk(layout)}
                current = [kind, target, layout, fields, {}, [], 0]
            continue
        if current is None:
            raise CompileError(f"line {lineno}: field outside a record")
        if current[0] == RecordKind.PMU_INIT:
            if not line.startswith("data "):
                raise CompileError(f"line {lineno}: expected 'data WORD ...' in a pmu_init record")
            for w in line.split()[1:]:
                try:
                    v = int(w, 0)
                except ValueError:
                    raise CompileError(f"line {lineno}: {w!r} is not a word") from None
                if not 0 <= v < 1 << 32:
                    raise CompileError(f"line {lineno}: {w!r} does not fit 32 bits")
                current[5].append(v)
            continue
        if "=" not in line:
            raise CompileError(f"line {lineno}: expected 'field = value', got {line!r}")
        path, value = (s.strip() for s in line.split("=", 1))
        if path not in current[3]:
            raise CompileError(f"line {lineno}: {current[0].name.lower()} {current[1]} has no "
                               f"field {path!r}")
        keys, shape = current[3][path]
        raw = _parse_value(value, shape, f"line {lineno}")
        current[4][keys] = current[4].get(keys, 0) | raw    # a field given twice: both ORed
    finish()
    return encode(Bitstream(hash32, tuple(records)))
