"""Disassembler: bitstream -> text that names every field.

The text (:mod:`compiler.asmtext` describes it) lists each record with one
``path = value`` line per configuration field, in layout order (enums by name, signed
fields as signed numbers), and the padding bits of a configuration when any is set.
:func:`assemble` (from :mod:`compiler.asm`) parses that text back to the identical
bytes. Field positions come from the layouts, never from offsets written here.
"""

from amaranth.lib import data

from hw.format import RecordKind, fabric_hash32_of
from hw.targets import config_targets

from .asm import assemble
from .asmtext import (DATA_PER_LINE, PAD, config_line, data_line, field_line, fields,
                      find_fabric, flat_layout, format_value, header_line, init_line,
                      leaf_fields, pad_text)
from .container import unpack_sections
from .bitstream import decode
from .payload import bits_of, padding_of

__all__ = ["disassemble", "assemble", "find_fabric", "leaf_fields"]


def disassemble(blob, fabric=None):
    """Text of a bitstream, or of each section of a program of several
    (:mod:`compiler.container`), each after a ``# section k of n`` line. Raises
    BitstreamError/CompileError for a bad one."""
    sections = unpack_sections(blob)
    if len(sections) > 1:
        return "".join(f"# section {k} of {len(sections)}\n" + _disassemble(s, fabric)
                       for k, s in enumerate(sections))
    return _disassemble(blob, fabric)


def _disassemble(blob, fabric):
    decode(blob)                # the fabric-independent checks first (magic, ...)
    p = find_fabric(fabric_hash32_of(blob), fabric)
    bs = decode(blob, p)
    lines = [header_line(p.name, bs.fabric_hash32, len(bs.records))]
    for rec in bs.records:
        if rec.kind == RecordKind.PMU_INIT:
            lines += _init_lines(rec)
        else:
            lines += _config_lines(config_targets(p)[rec.target], rec.payload)
    return "\n".join(lines) + "\n"


def _init_lines(rec):
    body = rec.payload[1:]
    return [init_line(rec.target, rec.payload[0], len(body)),
            *(data_line(body[i:i + DATA_PER_LINE]) for i in range(0, len(body), DATA_PER_LINE))]


def _config_lines(target, payload):
    layout = target.layout
    value = data.Const(flat_layout(layout), bits_of(payload, layout))
    lines = [config_line(target)]
    lines += [field_line(f.path, format_value(value[f.path], f.shape)) for f in fields(layout)]
    pad = padding_of(payload, layout)
    if pad:
        lines.append(field_line(PAD, pad_text(pad)))
    return lines
