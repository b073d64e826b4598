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

from hw.format import RecordKind
from hw.interconnect import interconnect, switch_layout
from hw.layouts import pcu_layout, pmu_layout
from hw.params import PRESETS, UnitKind, load_fabric
from .bitstream import Bitstream, Record, decode, encode, words_of, bits_of
from .errors import CompileError

__all__ = ["disassemble", "assemble", "find_fabric", "leaf_fields"]


def leaf_fields(layout, prefix=""):
    """``[(path, offset, shape)]`` for every leaf field of a layout, in bit order."""
    out = []
    if isinstance(layout, data.StructLayout):
        for name, field in layout:
            out += _leaf(field.shape, f"{prefix}.{name}" if prefix else name, field.offset)
    elif isinstance(layout, data.ArrayLayout):
        for i in range(layout.length):
            out += _leaf(layout.elem_shape, f"{prefix}[{i}]", i * Shape.cast(layout.elem_shape).width)
    return out


def _leaf(shape, path, offset):
    if isinstance(shape, (data.StructLayout, data.ArrayLayout)):
        return [(p, offset + o, s) for p, o, s in leaf_fields(shape, path)]
    return [(path, offset, shape)]


def _format_value(raw, shape):
    if isinstance(shape, type) and issubclass(shape, aenum.Enum):
        try:
            return shape(raw).name
        except ValueError:
            return str(raw)
    s = Shape.cast(shape)
    if s.signed and raw >> (s.width - 1) & 1:
        raw -= 1 << s.width
    return str(raw)


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
    """The fabric a bitstream was built for: ``fabric`` if given, else the preset whose
    32-bit hash matches."""
    if fabric is not None:
        p = load_fabric(fabric)
        return p
    for name in PRESETS:
        p = load_fabric(name)
        if p.hash32 == hash32:
            return p
    raise CompileError(f"bitstream is for fabric hash 0x{hash32:08x}, which is no preset "
                       f"({', '.join(PRESETS)}); give its parameters with --fabric FILE.toml")


def _layout_of(p, kind, target):
    if kind == RecordKind.UNIT:
        uid_kind = p.units[target][1]
        return (pcu_layout(p) if uid_kind == UnitKind.PCU else pmu_layout(p)), uid_kind
    spec = interconnect(p).switch_by_id(target)
    return switch_layout(p, spec.pos), f"switch {spec.pos[0]},{spec.pos[1]}"


def disassemble(blob, fabric=None):
    """Text of a bitstream. Raises BitstreamError/CompileError for a bad one."""
    decode(blob)                # the fabric-independent checks first (magic, ...)
    hash32 = int.from_bytes(blob[8:12], "little")
    p = find_fabric(hash32, fabric)
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
        bits = bits_of(rec.payload, layout)
        lines.append(f"record {kind.name.lower()} {rec.target} # {what}")
        for path, offset, shape in leaf_fields(layout):
            width = Shape.cast(shape).width
            raw = (bits >> offset) & ((1 << width) - 1)
            lines.append(f"  {path} = {_format_value(raw, shape)}")
    return "\n".join(lines) + "\n"


_HEAD = re.compile(r"bitstream fabric=(\S+) hash=0x([0-9a-fA-F]{8})")
_REC = re.compile(r"record (unit|switch|pmu_init) (\d+)(?: addr=(\d+))?")


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
        kind, target, layout, fields, bits, words, addr = current
        if kind == RecordKind.PMU_INIT:
            records.append(Record(kind, target, (addr,) + tuple(words)))
        else:
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
                current = [kind, target, None, None, 0, [], int(rm.group(3) or 0)]
            else:
                try:
                    layout, _ = _layout_of(p, kind, target)
                except (KeyError, IndexError):
                    raise CompileError(f"line {lineno}: no {kind.name.lower()} {target} on "
                                       f"fabric {p.name!r}") from None
                fields = {path: (off, shape) for path, off, shape in leaf_fields(layout)}
                current = [kind, target, layout, fields, 0, [], 0]
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
        off, shape = current[3][path]
        current[4] |= _parse_value(value, shape, f"line {lineno}") << off
    finish()
    return encode(Bitstream(hash32, tuple(records)))
