"""Bitstream format constants and layouts shared by the config loader (hardware) and
the bitstream container (``compiler.bitstream``).

A bitstream is a sequence of little-endian 32-bit words::

    MAGIC, VERSION, fabric hash32, total length in words (header and CRC included),
    records..., CRC-32

Each record is a :data:`RECORD_HEADER` word, a word count ``n``, then ``n`` payload
words. For ``UNIT`` and ``SWITCH`` records the payload is the target's configuration
(``config_words(layout)`` words, bit ``k`` of the configuration is bit ``k % 32`` of
word ``k // 32``). For ``PMU_INIT`` the first payload word is a word address in the
PMU and the rest are the words stored from there on. The CRC is CRC-32 (IEEE 802.3,
as ``zlib.crc32``) over the bytes of every preceding word.
"""

from amaranth.lib import data, enum

from .layouts import WORD

__all__ = ["MAGIC", "VERSION", "RecordKind", "CfgError", "HEADER", "HEADER_WORDS", "MIN_WORDS",
           "RECORD_HEADER", "fabric_hash32_of"]

MAGIC = 0x315A5A54      # b"TZZ1" read as a little-endian word
#: 2: the 6-bit functional-unit opcode and 3-bit reduction op of the floating-point ops
#: (version 1 had 5 and 2 bits; its PCU records would be misread, so they are refused).
#: 3: the 4-bit reduction op of the arg reductions (version 2 PCU records are refused).
VERSION = 3

HEADER = data.StructLayout({
    "magic":   WORD,
    "version": WORD,
    "fabric":  WORD,     # FabricParams.hash32
    "length":  WORD,     # total words, header and CRC included
})
HEADER_WORDS = HEADER.size // WORD
MIN_WORDS = HEADER_WORDS + 1        # a header and a CRC, no records


class RecordKind(enum.Enum, shape=8):
    UNIT = 1       # a PCU or PMU configuration
    SWITCH = 2     # a switch configuration
    PMU_INIT = 3   # initial contents of a PMU


RECORD_HEADER = data.StructLayout({
    "target": 16,        # unit id, or switch id (see FabricParams.switch_id)
    "kind":   RecordKind,
    "zero":   8,         # must be zero
})


class CfgError(enum.Enum, shape=4):
    """Codes on the loader's ``cfg_error`` port (0: no error)."""
    NONE = 0
    MAGIC = 1        # first word is not MAGIC
    VERSION = 2      # format version not supported
    FABRIC = 3       # bitstream is for another fabric (hash mismatch)
    LENGTH = 4       # total length smaller than a header and a CRC
    RECORD = 5       # unknown record kind, target, or non-zero reserved bits
    SIZE = 6         # record word count wrong for its target, or runs past the end
    TRUNCATED = 7    # tlast before the total length was reached
    CRC = 8          # CRC-32 mismatch


def fabric_hash32_of(blob):
    """The fabric hash32 in the header of the bitstream bytes ``blob``.

    Nothing else of the header is checked.

    Raises
    ------
    ValueError
        If ``blob`` ends before the field does.
    """
    field = HEADER["fabric"]
    need = (field.offset + field.width) // 8
    if len(blob) < need:
        raise ValueError(f"a bitstream of {len(blob)} bytes is too short to carry a fabric "
                         f"hash (bytes {field.offset // 8}..{need - 1})")
    head = bytes(blob[:HEADER.size // 8])
    return data.Const(HEADER, int.from_bytes(head, "little")).fabric
