"""``terrazzo asm``: a bitstream to -o (a ``.tzb``), or to ``-`` when that is no terminal;
and every text it refuses."""

import errno
import sys

import pytest

from .harness import LONG, Case, check_case, fail_os, fifo, file, folder, symlink
from .texts import HEADER, delete, edited, insert, padded_bitstream, padded_text, records, replace


def bitstream_in(name):
    def expect(result, scratch):
        assert (scratch / name).read_bytes() == (scratch / "prog.tzb").read_bytes()
        assert result.stdout.decode() == f"wrote {name} (458 words)\n"
    return expect


def bitstream_on_stdout(result, scratch):
    assert result.stdout == (scratch / "prog.tzb").read_bytes()


def same_bytes(name, want):
    def expect(result, scratch):
        assert (scratch / name).read_bytes() == (scratch / want).read_bytes()
    return expect


def a_terminal(scratch, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)


def refused(name, what):
    return (f"'{name}' is {what}, not a regular file; remove it or give another output name "
            f"with -o")


CASES = [
    Case("output-is-input", ("asm", "prog.txt", "-o", "prog.txt"),
         "output file must end in .tzb, not 'prog.txt'"),
    Case("graph-json", ("asm", "prog.txt", "-o", "dot.json"),
         "output file must end in .tzb, not 'dot.json'"),
    Case("tzb-named-input", ("asm", "t.tzb", "-o", "t.tzb"),
         "the bitstream 't.tzb' would overwrite the input text; give another output name "
         "with -o", setup=(file("t.tzb", "prog.txt"),)),
    Case("not-a-bitstream", ("asm", "prog.txt", "-o", "junk.tzb"),
         "'junk.tzb' exists and is not a Terrazzo bitstream; remove it or give another output "
         "name with -o", setup=(file("junk.tzb", b"junk" * 8),)),
    Case("symlink", ("asm", "prog.txt", "-o", "l.tzb"), refused("l.tzb", "a symbolic link"),
         setup=(symlink("l.tzb", "prog.tzb"),)),
    Case("fifo", ("asm", "prog.txt", "-o", "f.tzb"), refused("f.tzb", "a FIFO"),
         setup=(fifo("f.tzb"),)),
    Case("directory", ("asm", "prog.txt", "-o", "d.tzb"), refused("d.tzb", "a directory"),
         setup=(folder("d.tzb"),)),
    Case("proc", ("asm", "prog.txt", "-o", "/proc/x.tzb"),
         "cannot write '/proc/x.tzb': No such file or directory"),
    Case("missing-folder", ("asm", "prog.txt", "-o", "nodir/x.tzb"),
         "cannot write 'nodir/x.tzb': No such file or directory"),
    Case("under-a-file", ("asm", "prog.txt", "-o", "notes.txt/x.tzb"),
         "cannot write 'notes.txt/x.tzb': Not a directory"),
    Case("name-too-long", ("asm", "prog.txt", "-o", LONG + ".tzb"),
         f"cannot write '{LONG}.tzb': File name too long"),
    Case("rename-fails", ("asm", "prog.txt", "-o", "out.tzb"),
         "cannot write 'out.tzb': Read-only file system",
         setup=(fail_os("replace", errno.EROFS, lambda src, dst: dst == "out.tzb"),)),
    Case("binary-to-a-terminal", ("asm", "prog.txt", "-o", "-"),
         "refusing to write the bitstream to a terminal; redirect standard output or give a "
         "file name with -o", setup=(a_terminal,)),
    Case("new-file", ("asm", "prog.txt", "-o", "out.tzb"), changed=("out.tzb",),
         expect=bitstream_in("out.tzb")),
    Case("replaces-a-bitstream", ("asm", "prog.txt", "-o", "prog.tzb"), changed=("prog.tzb",),
         expect=bitstream_in("prog.tzb")),
    Case("dash-to-a-pipe", ("asm", "prog.txt", "-o", "-"), expect=bitstream_on_stdout),
    Case("padding", ("asm", "padded.txt", "-o", "out.tzb"), changed=("out.tzb",),
         setup=(padded_bitstream("padded.tzb"), padded_text("padded.txt")),
         expect=same_bytes("out.tzb", "padded.tzb")),
]


def bad(id, message, *edits, fabric=None):
    """``prog.txt`` with ``edits``, which asm refuses with ``message`` (after the file
    name), writing nothing."""
    argv = ("asm", "bad.txt", "-o", "out.tzb") + (("--fabric", fabric) if fabric else ())
    return Case(id, argv, f"bad.txt: {message}", setup=(edited("bad.txt", *edits),))


INIT = "record pmu_init 1 addr=0 words={}"
WORD = "0x00000001"
WORDS = "  data " + " ".join([WORD] * 8)

# every way the text can differ from what disasm prints, and every record the loader
# refuses: one line, the line number, the offending text quoted
REFUSED = [
    bad("empty", "line 1: expected 'bitstream fabric=NAME hash=0xHHHHHHHH records=N', got "
        "the end of the text", lambda lines: []),
    bad("header-junk", "line 1: expected 'bitstream fabric=NAME hash=0xHHHHHHHH records=N', "
        "got 'bitstream fabric=small hash=0x79f6d6b3 records=41 junk'",
        replace(1, HEADER.format(41) + " junk")),
    bad("hash-junk", "line 1: fabric hash '0x79f6d6b3junk' is not a number",
        replace(1, "bitstream fabric=small hash=0x79f6d6b3junk records=41")),
    bad("hash-spelling", "line 1: fabric hash '0x79F6D6B3' must be written '0x79f6d6b3'",
        replace(1, "bitstream fabric=small hash=0x79F6D6B3 records=41")),
    bad("hash-of-another-fabric", "line 1: 'hash=0xde2b0b16', but fabric 'small' has hash "
        "0x79f6d6b3", replace(1, "bitstream fabric=small hash=0xde2b0b16 records=41")),
    bad("unknown-fabric-hash", "line 1: bitstream is for fabric hash 0x12345678, which is no "
        "preset (tiny, small, small-fp, plasticine); give its parameters with --fabric FILE.toml",
        replace(1, "bitstream fabric=mine hash=0x12345678 records=41")),
    bad("fabric-name", "line 1: 'fabric=mine', but the fabric with hash 0x79f6d6b3 is 'small'",
        replace(1, "bitstream fabric=mine hash=0x79f6d6b3 records=41")),
    bad("fabric-option", "line 1: 'hash=0x79f6d6b3', but fabric 'tiny' has hash 0xde2b0b16",
        fabric="tiny"),
    bad("record-count", "line 1: 'records=40', but the text has 41 records", records(40)),
    bad("crlf", "line 1: expected 'bitstream fabric=NAME hash=0xHHHHHHHH records=N', got "
        "'bitstream fabric=small hash=0x79f6d6b3 records=41\\r'",
        lambda lines: [line + "\r" for line in lines]),
    bad("record-junk", "line 2: expected 'record unit 0 # pcu', got 'record unit 0 junk'",
        replace(2, "record unit 0 junk")),
    bad("record-kind-comment", "line 2: expected 'record unit 0 # pcu', got "
        "'record unit 0 # pmu'", replace(2, "record unit 0 # pmu")),
    bad("record-kind", "line 2: unknown record kind 'UNIT' (one of unit, switch, pmu_init)",
        replace(2, "record UNIT 0 # pcu")),
    bad("record-target-spelling", "line 2: record target '0x0' must be written '0'",
        replace(2, "record unit 0x0 # pcu")),
    bad("not-a-unit", "line 2: UNIT record for target 99, which is not a unit (0..15): "
        "'record unit 99 # pcu'", replace(2, "record unit 99 # pcu")),
    bad("not-a-switch", "line 2: SWITCH record for target 0, which is not a switch (16..40): "
        "'record switch 0 # pcu'", replace(2, "record switch 0 # pcu")),
    bad("init-of-a-pcu", "line 2: PMU_INIT record for target 0, which is not a PMU (1, 3, 4, "
        "6, 9, 11, 12, 14): 'record pmu_init 0 addr=0 words=1'",
        records(42), insert(2, "record pmu_init 0 addr=0 words=1", "  data " + WORD)),
    bad("init-past-the-pmu", "line 2: 2 words from address 2047 run past the 2048 words of "
        "PMU 1: 'record pmu_init 1 addr=2047 words=2'",
        records(42), insert(2, "record pmu_init 1 addr=2047 words=2", f"  data {WORD} {WORD}")),
    bad("init-address-past-the-pmu", "line 2: 0 words from address 2048 run past the 2048 "
        "words of PMU 1: 'record pmu_init 1 addr=2048 words=0'",
        records(42), insert(2, "record pmu_init 1 addr=2048 words=0")),
    bad("init-header-junk", "line 2: expected 'record pmu_init 1 addr=ADDR words=N', got "
        "'record pmu_init 1 addr=0'", records(42), insert(2, "record pmu_init 1 addr=0")),
    bad("init-words-short", "line 3: expected 2 words on this data line, got 1: "
        f"'  data {WORD}'", records(42), insert(2, INIT.format(2), "  data " + WORD)),
    bad("init-data-line-missing", "line 4: expected a data line (1 more words for PMU 1), got "
        "'record unit 0 # pcu'", records(42), insert(2, INIT.format(9), WORDS)),
    bad("init-word-spelling", "line 3: data word '0x1' must be written '0x00000001'",
        records(42), insert(2, INIT.format(1), "  data 0x1")),
    bad("init-word-too-wide", "line 3: data word '0x100000000' is not in [0, 4294967295]",
        records(42), insert(2, INIT.format(1), "  data 0x100000000")),
    bad("data-outside-init", f"line 72: expected a record ('record KIND TARGET ...'), got "
        f"'  data {WORD}'", insert(72, "  data " + WORD)),
    bad("field-outside-a-record", "line 2: expected a record ('record KIND TARGET ...'), got "
        "'  enable = 0'", delete(2)),
    bad("missing-field", "line 3: expected field 'enable' of PCU 0, got "
        "'  counters[0].start = 0'", delete(3)),
    bad("missing-last-field", "line 71: expected field 'sout.level' of PCU 0, got "
        "'record unit 1 # pmu'", delete(71)),
    bad("missing-field-at-the-end", "line 1634: expected field 'scalar.u15_sin0.sel' of "
        "switch (4, 4), got the end of the text", delete(1634)),
    bad("field-twice", "line 32: field 'stages[0].imm' of PCU 0 given twice (first on line "
        "31)", replace(31, "  stages[0].imm = 5"), insert(32, "  stages[0].imm = 2")),
    bad("last-field-twice", "line 72: field 'sout.level' of PCU 0 given twice (first on line "
        "71)", insert(72, "  sout.level = 0")),
    bad("unknown-field", "line 3: PCU 0 has no field 'bogus'", insert(3, "  bogus = 0")),
    bad("field-of-another-unit", "line 72: PCU 0 has no field 'double'",
        insert(72, "  double = 0")),
    bad("value-too-wide", "line 3: field 'enable': '2' does not fit 1-bit unsigned",
        replace(3, "  enable = 2")),
    bad("signed-too-wide", "line 4: field 'counters[0].start': '2147483648' does not fit "
        "32-bit signed", replace(4, "  counters[0].start = 2147483648")),
    bad("value-junk", "line 3: field 'enable': '0 junk' is not a number",
        replace(3, "  enable = 0 junk")),
    bad("value-spelling", "line 3: field 'enable': '0x0' must be written '0'",
        replace(3, "  enable = 0x0")),
    bad("enum-name", "line 24: field 'stages[0].op': 'FROB' is not a name of Op or a number",
        replace(24, "  stages[0].op = FROB")),
    bad("enum-lower-case", "line 24: field 'stages[0].op': 'pass' is not a name of Op or a "
        "number", replace(24, "  stages[0].op = pass")),
    bad("enum-number-of-a-member", "line 24: field 'stages[0].op': '0' must be written 'PASS'",
        replace(24, "  stages[0].op = 0")),
    bad("enum-too-wide", "line 24: field 'stages[0].op': '99' does not fit 6-bit unsigned",
        replace(24, "  stages[0].op = 99")),
    bad("tab", "line 3: expected field 'enable' of PCU 0, got '  enable\\t= 0'",
        replace(3, "  enable\t= 0")),
    bad("escape-sequence", "line 3: field 'enable': '0\\x1b[31m' is not a number",
        replace(3, "  enable = 0\x1b[31m")),
    bad("indent", "line 3: expected field 'enable' of PCU 0, got 'enable = 0'",
        replace(3, "enable = 0")),
    bad("blank-line", "line 3: expected field 'enable' of PCU 0, got ''", insert(3, "")),
    bad("comment-line", "line 3: expected field 'enable' of PCU 0, got '# note'",
        insert(3, "# note")),
    bad("zero-padding", "line 72: padding '0x0': zero padding has no line",
        insert(72, "  pad = 0x0")),
    bad("padding-too-wide", "line 72: padding '0x20000000' is not in [0, 536870911]",
        insert(72, "  pad = 0x20000000")),
    bad("padding-spelling", "line 72: padding '0x05' must be written '0x5'",
        insert(72, "  pad = 0x05")),
    bad("padding-twice", "line 73: field 'pad' of PCU 0 given twice (first on line 72)",
        insert(72, "  pad = 0x1", "  pad = 0x1")),
    bad("padding-before-a-field", "line 71: expected field 'sout.level' of PCU 0, got "
        "'  pad = 0x1'", insert(71, "  pad = 0x1")),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES + REFUSED])
def test_asm(case, scratch, capsysbinary):
    check_case(case, scratch, capsysbinary)
