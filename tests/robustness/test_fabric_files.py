"""``--fabric FILE.toml`` of every command: a fabric file is UTF-8 TOML naming every
parameter but ``name``, ``word`` and ``op_groups``, each of its type (a bool is no
integer); anything else is one line, before any other work."""

import pytest

from .conftest import ROOT
from .harness import SIMULATOR, Case, check_case, edited, file, folder, stop_at_simulator

COMPILE = ("compile", "dot.json", "-o", "out.tzb", "--fabric")
MISSING_ALL = ("missing parameters rows, cols, lanes, stages, regs, counters, pcu_vec_in, "
               "pcu_scalar_in, fifo_depth, pmu_depth, vector_tracks, scalar_tracks, io_in, "
               "io_out (a fabric file gives every parameter but name, word, op_groups, "
               "dram_ports, dram_beat, dram_burst and dram_outstanding)")
UNKNOWN_FABRIC = "unknown fabric 'nope': give one of tiny, small, small-fp, plasticine or a .toml file"


def tiny(old, new):
    """A step writing ``f.toml``: the ``tiny`` preset with ``old`` replaced by ``new``."""
    return edited("f.toml", "fabric.toml", old, new)


def bad(id, old, new, message):
    return Case(id, COMPILE + ("f.toml",), f"f.toml: {message}", setup=(tiny(old, new),))


CASES = [
    Case("not-utf-8", COMPILE + ("u.toml",), "u.toml: invalid TOML: not UTF-8 text (byte 8)",
         setup=(file("u.toml", b'name = "\xff"\n'),)),
    Case("empty", COMPILE + ("e.toml",), f"e.toml: {MISSING_ALL}",
         setup=(file("e.toml", b""),)),
    Case("dev-null", COMPILE + ("/dev/null",), f"/dev/null: {MISSING_ALL}"),
    Case("comments-only", COMPILE + ("e.toml",), f"e.toml: {MISSING_ALL}",
         setup=(file("e.toml", b"# a fabric\n"),)),
    bad("one-missing", "io_out = 2\n", "", "missing parameter io_out (a fabric file gives "
        "every parameter but name, word, op_groups, "
        "dram_ports, dram_beat, dram_burst and dram_outstanding)"),
    bad("lanes-true", "lanes = 4", "lanes = true",
        "lanes must be a power of two no larger than 64, not True"),
    bad("rows-true", "rows = 2", "rows = true", "rows must be an integer in [1, 64], not True"),
    bad("pmu-depth-true", "pmu_depth = 64", "pmu_depth = true",
        "pmu_depth must be an integer in [4, 1048576], not True"),
    bad("word-true", "io_out = 2", "io_out = 2\nword = true",
        "word must be 32 (the only word width built), not True"),
    bad("word-float", "io_out = 2", "io_out = 2\nword = 32.0",
        "word must be 32 (the only word width built), not 32.0"),
    bad("lanes-float", "lanes = 4", "lanes = 4.0",
        "lanes must be a power of two no larger than 64, not 4.0"),
    bad("rows-huge", "rows = 2", "rows = 99999999999999999999999",
        "rows must be an integer in [1, 64], not 99999999999999999999999"),
    bad("rows-string", "rows = 2", 'rows = "2"', "rows must be an integer in [1, 64], not '2'"),
    bad("rows-table", "rows = 2", "rows = {}", "rows must be an integer in [1, 64], not {}"),
    bad("rows-date", "rows = 2", "rows = 2024-01-01",
        "rows must be an integer in [1, 64], not datetime.date(2024, 1, 1)"),
    bad("name-number", 'name = "tiny"', "name = 3",
        "name must be a non-empty string of printable characters, not 3"),
    bad("name-empty", 'name = "tiny"', 'name = ""',
        "name must be a non-empty string of printable characters, not ''"),
    bad("op-groups-string", "io_out = 2", 'io_out = 2\nop_groups = "int"',
        "op_groups must be a list, not 'int'"),
    bad("unknown", "io_out = 2", "io_out = 2\nlanez = 3",
        "unknown parameter 'lanez' (known: cols, counters, dram_beat, dram_burst, "
        "dram_outstanding, dram_ports, fifo_depth, io_in, io_out, lanes, "
        "name, op_groups, pcu_scalar_in, pcu_vec_in, pmu_depth, regs, rows, scalar_tracks, "
        "stages, vector_tracks, word)"),
    bad("toml-syntax", "lanes = 4", "lanes = [", "invalid TOML: Invalid value (at line 6, "
        "column 1)"),
    bad("key-twice", "lanes = 4", "lanes = 4\nlanes = 8",
        "invalid TOML: Cannot overwrite a value (at line 6, column 10)"),
    Case("directory", COMPILE + ("d.toml",), "cannot read fabric file 'd.toml': Is a directory",
         setup=(folder("d.toml"),)),
    Case("missing-file", COMPILE + ("nope.toml",),
         "cannot read fabric file 'nope.toml': No such file or directory"),
    # every command refuses the same file before any other work
    Case("verilog", ("verilog", "--fabric", "e.toml", "-o", "out.v"), f"e.toml: {MISSING_ALL}",
         setup=(file("e.toml", b""),)),
    Case("disasm", ("disasm", "prog.tzb", "--fabric", "/dev/null"),
         f"/dev/null: {MISSING_ALL}"),
    Case("asm", ("asm", "prog.txt", "-o", "out.tzb", "--fabric", "f.toml"),
         "f.toml: lanes must be a power of two no larger than 64, not True",
         setup=(tiny("lanes = 4", "lanes = true"),)),
    Case("run", ("run", "prog.tzb", "--build-dir", "b", "--fabric", "/dev/null"),
         f"/dev/null: {MISSING_ALL}"),
    *(Case(f"unknown-name-{cmd[0]}", cmd + ("--fabric", "nope"), UNKNOWN_FABRIC) for cmd in [
        ("disasm", "prog.tzb"), ("asm", "prog.txt", "-o", "out.tzb"),
        ("run", "prog.tzb", "--inputs", "in.npz", "--build-dir", "b"),
        ("compile", "dot.py", "-o", "out.tzb"), ("verilog", "-o", "out.v")]),
    # what a fabric file may leave out
    Case("no-name", COMPILE + ("f.toml",), changed=("out.tzb", "out.json"),
         setup=(tiny('name = "tiny"\n', ""),)),
    Case("every-parameter", COMPILE + ("f.toml",), changed=("out.tzb", "out.json"),
         setup=(tiny("io_out = 2", 'io_out = 2\nword = 32\nop_groups = ["int"]'),)),
    Case("run-on-a-file", ("run", "prog.tzb", "--inputs", "in.npz", "--build-dir", "b",
                           "--fabric", "small.toml"), status=SIMULATOR,
         setup=(file("small.toml", (ROOT / "hw/presets/small.toml").read_bytes()),)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fabric_files(case, scratch, capsysbinary, monkeypatch):
    stop_at_simulator(scratch, monkeypatch)
    check_case(case, scratch, capsysbinary)
