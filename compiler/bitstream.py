"""The bitstream container: records in, bytes out, and back with every check the
config loader makes.

The word format is in :mod:`hw.format`. :func:`decode` walks the words in the order the
loader (``hw/loader.py``) reads them and stops at the first fault, so the
:class:`~compiler.errors.BitstreamError` it raises carries the code the loader would
report for the same bytes (when given the fabric's parameters).
"""

import struct
import zlib
from dataclasses import dataclass

from amaranth.lib import data

from hw.format import (CfgError, HEADER, HEADER_WORDS, MAGIC, MIN_WORDS, RECORD_HEADER,
                       RecordKind, VERSION, fabric_hash32_of)
from hw.layouts import WORD, plain_layout
from hw.targets import config_targets

from .errors import BitstreamError
from .payload import bits_of, is_word, words_of

__all__ = ["Record", "Bitstream", "BitstreamError", "encode", "decode", "words_of", "bits_of",
           "record_words", "target_fault", "init_range_fault", "MIN_WORDS"]

WORD_MASK = (1 << WORD) - 1
TARGET_MASK = (1 << RECORD_HEADER["target"].width) - 1


@dataclass(frozen=True)
class Record:
    """One record of a bitstream.

    Parameters
    ----------
    kind : RecordKind (or its integer value)
    target : int
        Unit id or switch id (:meth:`hw.params.FabricParams.switch_id`), 16 bits.
    payload : tuple of int
        32-bit words. ``UNIT``/``SWITCH``: the target's configuration (see
        :func:`words_of`); ``PMU_INIT``: a word address, then the words stored from it.

    Raises
    ------
    BitstreamError
        For an unknown kind or a target that does not fit the record header (code
        ``RECORD``), or a payload word outside ``0 .. 2**32 - 1`` (code None).
    """
    kind: RecordKind
    target: int
    payload: tuple = ()

    def __post_init__(self):
        try:
            kind = RecordKind(self.kind)
        except ValueError:
            raise BitstreamError(f"record kind must be one of "
                                 f"{', '.join(k.name for k in RecordKind)}, not {self.kind!r}",
                                 CfgError.RECORD) from None
        object.__setattr__(self, "kind", kind)
        if (not isinstance(self.target, int) or isinstance(self.target, bool)
                or not 0 <= self.target <= TARGET_MASK):
            raise BitstreamError(f"record target must be an integer in [0, {TARGET_MASK}], "
                                 f"not {self.target!r}", CfgError.RECORD)
        payload = tuple(self.payload)
        for k, word in enumerate(payload):
            if not is_word(word):
                raise BitstreamError(f"payload word {k} of the {kind.name} record for target "
                                     f"{self.target} must be a 32-bit unsigned integer, "
                                     f"not {word!r}")
        object.__setattr__(self, "payload", payload)


@dataclass(frozen=True)
class Bitstream:
    """A whole bitstream: the fabric it is for and its records, in order.

    Raises
    ------
    BitstreamError
        For a hash outside 32 bits or a record that is not a :class:`Record`.
    """
    fabric_hash32: int
    records: tuple = ()

    def __post_init__(self):
        if not is_word(self.fabric_hash32):
            raise BitstreamError(f"fabric_hash32 must be a 32-bit unsigned integer, "
                                 f"not {self.fabric_hash32!r}")
        records = tuple(self.records)
        for r in records:
            if not isinstance(r, Record):
                raise BitstreamError(f"records must be Record objects, not {r!r}")
        object.__setattr__(self, "records", records)


# -- what each target accepts -------------------------------------------------------------

def record_words(p, kind, target):
    """Payload words a ``kind`` record for ``target`` carries on fabric ``p``: the
    configuration size for ``UNIT``/``SWITCH``, the largest allowed (an address and a
    whole PMU) for ``PMU_INIT``; None when ``target`` is not a valid target of ``kind``.
    """
    t = config_targets(p).get(target)
    if t is None:
        return None
    kind = RecordKind(kind)
    if kind == t.record:
        return t.words
    if kind == RecordKind.PMU_INIT and t.takes_init:
        return 1 + p.pmu_words
    return None


def _describe_targets(p, kind):
    n_units = p.rows * p.cols
    last_switch = p.switch_id(p.rows, p.cols)
    if kind == RecordKind.UNIT:
        return f"a unit (0..{n_units - 1})"
    if kind == RecordKind.SWITCH:
        return f"a switch ({n_units}..{last_switch})"
    pmus = [t.id for t in config_targets(p).values() if t.takes_init]
    return f"a PMU ({', '.join(map(str, pmus))})"


def target_fault(p, kind, target):
    """Why fabric ``p`` refuses a ``kind`` record for ``target`` (the loader's code
    ``RECORD``), in words; None when ``target`` takes records of that kind."""
    if record_words(p, kind, target) is not None:
        return None
    return (f"{RecordKind(kind).name} record for target {target}, which is not "
            f"{_describe_targets(p, kind)}")


def init_range_fault(p, target, addr, n):
    """Why fabric ``p`` refuses ``n`` init words from word address ``addr`` of PMU
    ``target`` (the loader's code ``SIZE``), in words; None when they lie within it."""
    if addr < p.pmu_words and n <= p.pmu_words - addr:
        return None
    return f"{n} words from address {addr} run past the {p.pmu_words} words of PMU {target}"


# -- bytes ------------------------------------------------------------------------------

def encode(bs):
    """The bytes of bitstream ``bs``: little-endian 32-bit words, header, records and a
    CRC-32 over everything before it.

    Raises
    ------
    BitstreamError
        If ``bs`` is not a :class:`Bitstream`, or a record's payload is longer than a
        32-bit count allows.
    """
    if not isinstance(bs, Bitstream):
        raise BitstreamError(f"can only encode a Bitstream, not {bs!r}")
    body = []
    for r in bs.records:
        header = RECORD_HEADER.const({"kind": r.kind, "target": r.target, "zero": 0})
        body += [header.as_bits(), len(r.payload), *r.payload]
    total = MIN_WORDS + len(body)
    if total > WORD_MASK:
        raise BitstreamError(f"a bitstream of {total} words does not fit a 32-bit length",
                             CfgError.LENGTH)
    header = HEADER.const({"magic": MAGIC, "version": VERSION, "fabric": bs.fabric_hash32,
                           "length": total}).as_bits()
    words = [*words_of(header, HEADER), *body]
    head = struct.pack(f"<{len(words)}I", *words)
    return head + struct.pack("<I", zlib.crc32(head))


class _Reader:
    """Words of a bitstream, handed out in order; running out is a truncation."""

    def __init__(self, raw):
        self.raw = raw
        self.n = len(raw) // 4
        self.total = None

    def __getitem__(self, k):
        if k >= self.n:
            if self.total is None:
                where = f"inside the {HEADER_WORDS}-word header"
            else:
                where = f"before its total length of {self.total} words"
            raise BitstreamError(f"bitstream ends after {self.n} words, {where}",
                                 CfgError.TRUNCATED)
        return int.from_bytes(self.raw[4 * k:4 * k + 4], "little")


def _check_header(w, params):
    """Check the header words one at a time, in the loader's order; return the total."""
    if w[0] != MAGIC:
        raise BitstreamError(f"bad magic 0x{w[0]:08x} (expected 0x{MAGIC:08x}): "
                             f"not a Terrazzo bitstream", CfgError.MAGIC)
    if w[1] != VERSION:
        raise BitstreamError(f"format version {w[1]} is not supported (expected {VERSION})",
                             CfgError.VERSION)
    if params is not None and w[2] != params.hash32:
        raise BitstreamError(f"bitstream is for fabric 0x{w[2]:08x}, not for fabric "
                             f"{params.name!r} (0x{params.hash32:08x})", CfgError.FABRIC)
    total = w[3]
    if total < MIN_WORDS:
        raise BitstreamError(f"total length of {total} words is less than the {MIN_WORDS} "
                             f"of a header and a CRC", CfgError.LENGTH)
    return total


def _check_record(w, k, params, total):
    """Check the record starting at word ``k``; return it and the word after it."""
    header = data.Const(plain_layout(RECORD_HEADER), w[k])     # its kind may be unknown
    target = header.target
    at = f"record at word {k}"
    if header.zero:
        raise BitstreamError(f"{at}: reserved bits are 0x{header.zero:02x}, not zero",
                             CfgError.RECORD)
    try:
        kind = RecordKind(header.kind)
    except ValueError:
        raise BitstreamError(f"{at}: unknown record kind {header.kind}", CfgError.RECORD) \
            from None
    limit = None
    if params is not None:
        fault = target_fault(params, kind, target)
        if fault is not None:
            raise BitstreamError(f"{at}: {fault}", CfgError.RECORD)
        limit = record_words(params, kind, target)
    end = total - 1                     # the CRC word
    if k + 2 > end:
        raise BitstreamError(f"{at}: the record header runs into the CRC at word {end}",
                             CfgError.SIZE)
    count = w[k + 1]
    if kind == RecordKind.PMU_INIT and count < 1:
        raise BitstreamError(f"{at}: PMU_INIT record for target {target} has no address word",
                             CfgError.SIZE)
    if params is not None and kind != RecordKind.PMU_INIT and count != limit:
        what = config_targets(params)[target].what
        raise BitstreamError(f"{at}: {kind.name} record for {what} carries {count} words, "
                             f"expected {limit}", CfgError.SIZE)
    if k + 2 + count > end:
        raise BitstreamError(f"{at}: {count} payload words run past the CRC at word {end}",
                             CfgError.SIZE)
    if kind == RecordKind.PMU_INIT and params is not None:
        fault = init_range_fault(params, target, w[k + 2], count - 1)
        if fault is not None:
            raise BitstreamError(f"{at}: {fault}", CfgError.SIZE)
    payload = tuple(w[k + 2 + j] for j in range(count))
    return Record(kind, target, payload), k + 2 + count


def decode(data, params=None):
    """Read a bitstream from ``data`` (bytes), checking it as the config loader does.

    With ``params`` (a :class:`~hw.params.FabricParams`), also checks the fabric hash,
    that each record's target exists and suits its kind, each ``UNIT``/``SWITCH``
    record's word count, and each ``PMU_INIT`` record's address range.

    Raises
    ------
    TypeError
        If ``data`` is not bytes-like.
    BitstreamError
        At the first fault, in the loader's order, with ``code`` the loader's
        :class:`~hw.format.CfgError`. A length that is not a whole number of words is
        ``TRUNCATED`` (the last word is cut short); words past the declared total
        length are ``LENGTH``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if len(raw) % 4:
        raise BitstreamError(f"{len(raw)} bytes is not a whole number of 32-bit words",
                             CfgError.TRUNCATED)
    w = _Reader(raw)
    total = _check_header(w, params)
    w.total = total
    records = []
    k = HEADER_WORDS
    while k < total - 1:
        record, k = _check_record(w, k, params, total)
        records.append(record)
    crc = zlib.crc32(raw[:4 * k])
    if w[k] != crc:
        raise BitstreamError(f"CRC-32 is 0x{w[k]:08x}, expected 0x{crc:08x}: the bitstream "
                             f"is corrupted", CfgError.CRC)
    if w.n > total:
        raise BitstreamError(f"{w.n - total} words follow the declared total length of "
                             f"{total} words", CfgError.LENGTH)
    return Bitstream(fabric_hash32_of(raw), tuple(records))
