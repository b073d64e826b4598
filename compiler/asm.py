"""Assembler: the text :func:`compiler.disasm.disassemble` prints, back to the bitstream.

It accepts exactly the texts the disassembler prints (:mod:`compiler.asmtext` spells
each line): every field of a record once and in layout order, every value in range and
written as the disassembler writes it (an enum field by its member's name, or by its
number when no member has it), nothing else on a line, no blank or comment lines.
Whatever the config loader would refuse is refused too, and the bytes it builds pass
:func:`compiler.bitstream.decode` before they are returned.

Every refusal is a :class:`~compiler.errors.CompileError` (a
:class:`~compiler.errors.BitstreamError` carrying the loader's code when the loader
itself would refuse it) with a one-line message that starts ``line N:`` and quotes the
offending text with ``repr``, so control characters show escaped.
"""

import re

from amaranth.hdl import Shape
from amaranth.lib import enum as aenum

from hw.format import CfgError, RecordKind
from hw.params import PRESETS
from hw.targets import config_targets

from .asmtext import (DATA, DATA_PER_LINE, PAD, config_line, fields, find_fabric,
                      flat_layout, format_value, hex8, pad_text)
from .bitstream import Bitstream, Record, decode, encode, init_range_fault, target_fault
from .errors import BitstreamError, CompileError
from .payload import pad_width, words_of

__all__ = ["assemble"]

_HEAD = re.compile(r"bitstream fabric=(.*) hash=(\S*) records=(\S*)")
_RECORD = re.compile(r"record (\S+) (\S+)(.*)")
_INIT = re.compile(r" addr=(\S*) words=(\S*)")
_FIELD = re.compile(r"  (\S+) = (.*)")
_KINDS = {k.name.lower(): k for k in RecordKind}


def assemble(text, fabric=None):
    """The bytes of the bitstream that ``text`` (as :func:`disassemble` prints it)
    describes, for the fabric the text names (``fabric``, as
    :func:`hw.params.load_fabric` takes it, when given).

    Raises
    ------
    CompileError
        For text that :func:`disassemble` would not print, with the line at fault.
    BitstreamError
        For text that describes a bitstream the config loader refuses.
    ParamsError
        If ``fabric`` cannot be loaded.
    """
    lines = _Lines(text)
    p, count = _header(lines, fabric)
    records = []
    while lines.peek() is not None:
        records.append(_record(lines, p))
    if len(records) != count:
        raise CompileError(f"line 1: {f'records={count}'!r}, but the text has "
                           f"{len(records)} records")
    blob = encode(Bitstream(p.hash32, tuple(records)))
    decode(blob, p)     # the loader's own checks: never emit what it would refuse
    return blob


class _Lines:
    """The lines of a text, taken one at a time (numbered from 1). The newline that ends
    the last line is optional; only ``"\\n"`` ends a line."""

    def __init__(self, text):
        self._lines = text.split("\n")
        if self._lines[-1] == "":
            self._lines.pop()
        self._next = 0

    @property
    def number(self):
        """The number of the line :meth:`peek` shows."""
        return self._next + 1

    def peek(self):
        """The next line, or None at the end of the text."""
        return self._lines[self._next] if self._next < len(self._lines) else None

    def take(self):
        line = self.peek()
        self._next += 1
        return line


def _got(line):
    return "the end of the text" if line is None else repr(line)


def _integer(n, text, what, spell=str, limit=None):
    """The integer ``text`` on line ``n`` spells, which must lie in ``[0, limit)`` (no
    upper bound for None) and be written as ``spell`` writes it."""
    value = _parse_int(text)
    if value is None:
        raise CompileError(f"line {n}: {what} {text!r} is not a number")
    if value < 0 or (limit is not None and value >= limit):
        bound = f"in [0, {limit - 1}]" if limit is not None else "at least 0"
        raise CompileError(f"line {n}: {what} {text!r} is not {bound}")
    return _spelled(n, what, text, spell(value), value)


def _parse_int(text):
    for base in (0, 10):          # base 0 reads 0x.., base 10 what has leading zeros
        try:
            return int(text, base)
        except ValueError:
            pass
    return None


def _spelled(n, what, text, canonical, value):
    if text != canonical:
        raise CompileError(f"line {n}: {what} {text!r} must be written {canonical!r}")
    return value


def _header(lines, fabric):
    """The fabric the first line names and the record count it gives."""
    line = lines.take()
    m = _HEAD.fullmatch(line) if line is not None else None
    if m is None:
        raise CompileError(f"line 1: expected 'bitstream fabric=NAME hash=0xHHHHHHHH "
                           f"records=N', got {_got(line)}")
    name, hash_text, count_text = m.groups()
    hash32 = _integer(1, hash_text, "fabric hash", hex8, 1 << 32)
    count = _integer(1, count_text, "record count")
    if fabric is None and name in PRESETS:
        fabric = name
    try:
        p = find_fabric(hash32, fabric)
    except CompileError as e:
        raise CompileError(f"line 1: {e}") from None
    if p.hash32 != hash32:
        raise BitstreamError(f"line 1: {f'hash={hex8(hash32)}'!r}, but fabric {p.name!r} has "
                             f"hash {hex8(p.hash32)}", CfgError.FABRIC)
    if p.name != name:
        raise CompileError(f"line 1: {f'fabric={name}'!r}, but the fabric with hash "
                           f"{hex8(hash32)} is {p.name!r}")
    return p, count


def _record(lines, p):
    """The record whose first line is the next line."""
    n, line = lines.number, lines.take()
    m = _RECORD.fullmatch(line)
    if m is None:
        raise CompileError(f"line {n}: expected a record ('record KIND TARGET ...'), "
                           f"got {line!r}")
    kind_text, target_text, rest = m.groups()
    kind = _KINDS.get(kind_text)
    if kind is None:
        raise CompileError(f"line {n}: unknown record kind {kind_text!r} (one of "
                           f"{', '.join(_KINDS)})")
    target = _integer(n, target_text, "record target")
    fault = target_fault(p, kind, target)
    if fault is not None:
        raise BitstreamError(f"line {n}: {fault}: {line!r}", CfgError.RECORD)
    if kind == RecordKind.PMU_INIT:
        return _init_record(lines, p, n, line, target, rest)
    t = config_targets(p)[target]
    if line != config_line(t):
        raise CompileError(f"line {n}: expected {config_line(t)!r}, got {line!r}")
    return _Config(t).read(lines)


def _init_record(lines, p, n, line, target, rest):
    m = _INIT.fullmatch(rest)
    if m is None:
        raise CompileError(f"line {n}: expected 'record pmu_init {target} addr=ADDR "
                           f"words=N', got {line!r}")
    addr = _integer(n, m[1], "address")
    count = _integer(n, m[2], "word count")
    fault = init_range_fault(p, target, addr, count)
    if fault is not None:
        raise BitstreamError(f"line {n}: {fault}: {line!r}", CfgError.SIZE)
    words = []
    while len(words) < count:
        words += _data_line(lines, target, count - len(words))
    return Record(RecordKind.PMU_INIT, target, (addr, *words))


def _data_line(lines, target, left):
    """The words of the next data line of PMU_INIT ``target``, which has ``left`` to go."""
    n, line = lines.number, lines.peek()
    if line is None or not line.startswith(DATA):
        raise CompileError(f"line {n}: expected a data line ({left} more words for PMU "
                           f"{target}), got {_got(line)}")
    lines.take()
    tokens = line[len(DATA):].split(" ")
    want = min(DATA_PER_LINE, left)
    if len(tokens) != want:
        raise CompileError(f"line {n}: expected {want} words on this data line, got "
                           f"{len(tokens)}: {line!r}")
    return [_integer(n, w, "data word", hex8, 1 << 32) for w in tokens]


class _Config:
    """Reads the field lines of a UNIT or SWITCH record for ``target``."""

    def __init__(self, target):
        self.target = target
        self.fields = fields(target.layout)
        self.paths = {f.path for f in self.fields} | {PAD}
        self.seen = {}          # path -> the line that gave it

    def read(self, lines):
        """The record, from the lines after its first."""
        values = {}
        for f in self.fields:
            n, m = self._next(lines)
            if m is None or m[1] != f.path:
                raise CompileError(f"line {n}: expected field {f.path!r} of "
                                   f"{self.target.what}, got {_got(lines.peek())}")
            lines.take()
            values[f.path] = _value(n, f.path, m[2], f.shape)
        pad = self._pad(lines)
        self._next(lines)           # what follows must not be a field of this record
        layout = self.target.layout
        bits = flat_layout(layout).const(values).as_bits()
        return Record(self.target.record, self.target.id, words_of(bits, layout, pad))

    def _next(self, lines):
        """The number and field match of the next line; refuses a field given twice or
        not in the layout."""
        n, line = lines.number, lines.peek()
        m = _FIELD.fullmatch(line) if line is not None else None
        if m is not None and m[1] in self.seen:
            raise CompileError(f"line {n}: field {m[1]!r} of {self.target.what} given twice "
                               f"(first on line {self.seen[m[1]]})")
        if m is not None and m[1] not in self.paths:
            raise CompileError(f"line {n}: {self.target.what} has no field {m[1]!r}")
        if m is not None:
            self.seen[m[1]] = n
        return n, m

    def _pad(self, lines):
        n, m = lines.number, _FIELD.fullmatch(lines.peek() or "")
        if m is None or m[1] != PAD:
            return 0
        self.seen[PAD] = n
        lines.take()
        width = pad_width(self.target.layout)
        if width == 0:
            raise CompileError(f"line {n}: {self.target.what} has no padding bits, not "
                               f"{m[2]!r}")
        pad = _integer(n, m[2], "padding", pad_text, 1 << width)
        if pad == 0:
            raise CompileError(f"line {n}: padding {m[2]!r}: zero padding has no line")
        return pad


def _value(n, path, text, shape):
    """The value of field ``path`` of ``shape`` that ``text`` gives, as
    :func:`~compiler.asmtext.flat_layout` takes it."""
    s = Shape.cast(shape)
    lo, hi = (-(1 << (s.width - 1)), 1 << (s.width - 1)) if s.signed else (0, 1 << s.width)
    is_enum = isinstance(shape, type) and issubclass(shape, aenum.Enum)
    value = shape[text].value if is_enum and text in shape.__members__ else _parse_int(text)
    what = f"field {path!r}:"
    if value is None:
        raise CompileError(f"line {n}: {what} {text!r} is not "
                           f"{'a name of ' + shape.__name__ + ' or ' if is_enum else ''}"
                           f"a number")
    if not lo <= value < hi:
        raise CompileError(f"line {n}: {what} {text!r} does not fit {s.width}-bit "
                           f"{'signed' if s.signed else 'unsigned'}")
    return _spelled(n, what, text, format_value(value, shape), value)
