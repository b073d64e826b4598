"""Setup steps that write disassembly texts and bitstreams made from the scratch folder's
``prog.txt`` and ``prog.tzb`` (``dot`` on the small fabric: 41 records, PCU 0 first, on
lines 2..71, then PMU 1 from line 72; 1634 lines)."""

import struct
import zlib

HEADER = "bitstream fabric=small hash=0x79f6d6b3 records={}"
PAD = 0x5           # the padding padded_bitstream() sets in PCU 0's record
PAD_BITS = 29       # the padding bits of a small PCU record (547 config bits in 18 words)


def edited(name, *edits):
    """A step writing to ``name`` the text of ``prog.txt`` with ``edits`` applied in turn;
    each edit takes and returns the list of lines (line ``n`` is ``lines[n - 1]``)."""
    def step(scratch, mp):
        lines = (scratch / "prog.txt").read_text().split("\n")[:-1]
        for edit in edits:
            lines = edit(lines)
        (scratch / name).write_text("".join(line + "\n" for line in lines))
    return step


def replace(n, line):
    return lambda lines: lines[:n - 1] + [line] + lines[n:]


def insert(n, *new):
    """The ``new`` lines, the first of them becoming line ``n``."""
    return lambda lines: lines[:n - 1] + list(new) + lines[n - 1:]


def delete(n):
    return lambda lines: lines[:n - 1] + lines[n:]


def records(count):
    """The header line, with ``count`` records."""
    return replace(1, HEADER.format(count))


def padded_bitstream(name):
    """A step writing to ``name`` ``prog.tzb`` with padding :data:`PAD` in the last word
    of its first record (PCU 0), the CRC made good again: bits the loader accepts."""
    def step(scratch, mp):
        raw = (scratch / "prog.tzb").read_bytes()
        words = list(struct.unpack(f"<{len(raw) // 4}I", raw))
        count = words[5]                        # after the 4-word header and record header
        words[6 + count - 1] |= PAD << (32 - PAD_BITS)
        body = struct.pack(f"<{len(words) - 1}I", *words[:-1])
        (scratch / name).write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    return step


def padded_text(name):
    """The disassembly of :func:`padded_bitstream`: its padding shown after PCU 0's
    fields."""
    return edited(name, insert(72, f"  pad = 0x{PAD:x}"))
