"""The program file: one bitstream, or a section table and the bitstreams of the
sections of a program that runs in several configurations one after another.

A program of one section is its bitstream, byte for byte (``hw/format.py``: it starts
with the loader's magic ``TZZ1``), so every single-configuration program and tool works
as before. A program of several sections is a *section container*, all words 32-bit
little-endian:

=========  ===============================================================
word       field
=========  ===============================================================
0          :data:`SECTIONS_MAGIC` (``b"TZSC"``)
1          :data:`SECTIONS_VERSION`
2          section count ``N`` (at least 2)
3 .. 2+N   the length of each section's bitstream, in words
...        the bitstreams, in order, each a complete loader bitstream
last       CRC-32 (``zlib.crc32``) of every byte before it
=========  ===============================================================

The config loader never sees the container: the host loads one section's bitstream at
a time (``sim.execute``), so the hardware format keeps its version.
"""

import struct
import zlib

from hw.format import MAGIC

from .errors import BitstreamError

__all__ = ["SECTIONS_MAGIC", "SECTIONS_VERSION", "pack_sections", "unpack_sections",
           "is_container"]

SECTIONS_MAGIC = int.from_bytes(b"TZSC", "little")
SECTIONS_VERSION = 1
MAX_SECTIONS = 1 << 16


def pack_sections(bitstreams):
    """The program file of ``bitstreams`` (bytes each, in order): the bitstream itself
    for one, a section container for more."""
    bitstreams = [bytes(b) for b in bitstreams]
    if not bitstreams:
        raise BitstreamError("a program has at least one section")
    if len(bitstreams) == 1:
        return bitstreams[0]
    if len(bitstreams) > MAX_SECTIONS:
        raise BitstreamError(f"a program has at most {MAX_SECTIONS} sections, not "
                             f"{len(bitstreams)}")
    for k, b in enumerate(bitstreams):
        if len(b) % 4:
            raise BitstreamError(f"section {k} is not a whole number of 32-bit words")
    head = struct.pack(f"<{3 + len(bitstreams)}I", SECTIONS_MAGIC, SECTIONS_VERSION,
                       len(bitstreams), *(len(b) // 4 for b in bitstreams))
    body = head + b"".join(bitstreams)
    return body + struct.pack("<I", zlib.crc32(body))


def is_container(data):
    """Whether ``data`` (bytes) starts like a section container."""
    return len(data) >= 4 and int.from_bytes(bytes(data[:4]), "little") == SECTIONS_MAGIC


def unpack_sections(data):
    """The bitstreams of program file ``data`` (bytes), in order: ``[data]`` for a bare
    bitstream. The bitstreams themselves are not checked here
    (:func:`compiler.bitstream.decode` does that).

    Raises
    ------
    BitstreamError
        For a container that is cut short, has a bad version, count or lengths, or a
        wrong CRC.
    """
    raw = bytes(data)
    if not is_container(raw):
        return [raw]
    if len(raw) % 4:
        raise BitstreamError(f"section container of {len(raw)} bytes is not a whole "
                             f"number of 32-bit words")
    words = len(raw) // 4
    if words < 4:
        raise BitstreamError(f"section container ends after {words} words, inside its header")
    version, count = struct.unpack_from("<II", raw, 4)
    if version != SECTIONS_VERSION:
        raise BitstreamError(f"section container version {version} is not supported "
                             f"(expected {SECTIONS_VERSION}): compile the program again")
    if not 2 <= count <= MAX_SECTIONS:
        raise BitstreamError(f"section container holds {count} sections; it must hold "
                             f"2 to {MAX_SECTIONS}")
    if words < 4 + count:
        raise BitstreamError(f"section container ends after {words} words, inside its "
                             f"table of {count} sections")
    lengths = struct.unpack_from(f"<{count}I", raw, 12)
    want = 3 + count + sum(lengths) + 1
    if words != want:
        raise BitstreamError(f"section container is {words} words; its table says "
                             f"{want} ({count} sections of {sum(lengths)} words, the "
                             f"table and the CRC)")
    crc = zlib.crc32(raw[:-4])
    got = int.from_bytes(raw[-4:], "little")
    if got != crc:
        raise BitstreamError(f"section container CRC-32 is 0x{got:08x}, expected "
                             f"0x{crc:08x}: the file is corrupted")
    out, at = [], 4 * (3 + count)
    for k, n in enumerate(lengths):
        section = raw[at:at + 4 * n]
        if len(section) < 4 or int.from_bytes(section[:4], "little") != MAGIC:
            raise BitstreamError(f"section {k} of the container is not a Terrazzo bitstream")
        out.append(section)
        at += 4 * n
    return out
