"""A terminal escape sequence in a file's name or contents never reaches the terminal
raw: every message quotes such text with ``repr()`` (``'\\x1b[2J'``), or escapes it where
it leads the message; one case per surface. (``check_case`` also checks that no line of
standard error holds a character that is not printable.)"""

import json

import numpy as np
import pytest

from .harness import SIMULATOR, Case, check_case, edited, file, npz, stop_at_simulator

ESC = "\x1b[2J"                 # clears the screen when printed raw
SHOWN = repr(ESC)[1:-1]         # \x1b[2J: how a message shows it
COMPILE = ("compile", "-o", "out.tzb")
RUN = ("run", "prog.tzb", "--build-dir", "b", "--inputs")


def text(name, content):
    return file(name, content.encode())


def graph_doc(**changes):
    """A step writing ``g.json``: ``dot.json`` with top-level keys changed."""
    def step(scratch, mp):
        doc = json.loads((scratch / "dot.json").read_text())
        doc.update(changes)
        (scratch / "g.json").write_text(json.dumps(doc))
    return step


def stderr_escaped(result, scratch):
    assert "\x1b" not in result.stderr and SHOWN in result.stderr, result.stderr


CASES = [
    # graph files: the name, an exception's text, the type of what `graph` is
    Case("py-file-name", COMPILE + (f"g{ESC}.py",),
         f"'g{SHOWN}.py':1: syntax error: '(' was never closed",
         setup=(text(f"g{ESC}.py", "g = (\n"),)),
    Case("py-exception-text", COMPILE + ("g.py",), f"g.py:1: ValueError: '{SHOWN}'",
         setup=(text("g.py", f"raise ValueError({ESC!r})\n"),)),
    Case("py-exit-status", COMPILE + ("g.py",), f"g.py:1: SystemExit: the file exited "
         f"(status '{SHOWN}') instead of defining a graph",
         setup=(text("g.py", f"raise SystemExit({ESC!r})\n"),)),
    Case("py-type-name", COMPILE + ("g.py",),
         f"g.py: 'graph' is a value of type '{SHOWN}', not a Graph",
         setup=(text("g.py", f"graph = type({ESC!r}, (), {{}})()\n"),)),
    Case("py-node-name", COMPILE + ("g.py",), "g.py: node name must be a letter or '_' "
         f"followed by letters, digits, '_', '.' or '-', not 'a{SHOWN}'",
         setup=(text("g.py", f"from compiler.ir import Graph\ng = Graph('t')\n"
                             f"g.input('a{ESC}', (8,))\n"),)),
    Case("json-file-name", COMPILE + (f"g{ESC}.json",),
         f"'g{SHOWN}.json':1:1: invalid JSON: Expecting value",
         setup=(text(f"g{ESC}.json", ""),)),
    Case("json-key-twice", COMPILE + ("g.json",),
         f"g.json: /outputs/{SHOWN}: key '{SHOWN}' is given more than once in one object",
         setup=(text("g.json", '{"outputs": {"\\u001b[2J": 1, "\\u001b[2J": 2}}'),)),
    Case("json-unexpected-key", COMPILE + ("g.json",),
         f"g.json: /{SHOWN}: unexpected key", setup=(graph_doc(**{ESC: 1}),)),
    Case("json-name", COMPILE + ("g.json",), "g.json: /name: expected a name (a letter or "
         "'_' followed by letters, digits, '_', '.' or '-'), got \"\\u001b[2J\"",
         setup=(graph_doc(name=ESC),)),
    # fabric files: the name, a value, a key
    Case("fabric-file-name", COMPILE + ("dot.py", "--fabric", f"f{ESC}.toml"),
         f"'f{SHOWN}.toml': invalid TOML: Invalid statement (at line 1, column 1)",
         setup=(text(f"f{ESC}.toml", "]\n"),)),
    Case("fabric-name", COMPILE + ("dot.py", "--fabric", "f.toml"), "f.toml: name must be a "
         f"non-empty string of printable characters, not 'tiny{SHOWN}'",
         setup=(edited("f.toml", "fabric.toml", 'name = "tiny"', 'name = "tiny\\u001b[2J"'),)),
    Case("fabric-key", COMPILE + ("dot.py", "--fabric", "f.toml"),
         f"f.toml: unknown parameter '{SHOWN}' (known: cols, counters, dram_beat, dram_burst, "
         "dram_outstanding, dram_ports, fifo_depth, io_in, io_out, "
         f"lanes, name, op_groups, pcu_scalar_in, pcu_vec_in, pmu_depth, regs, rows, "
         f"scalar_tracks, stages, vector_tracks, word)",
         setup=(edited("f.toml", "fabric.toml", "rows = 2", 'rows = 2\n"\\u001b[2J" = 1'),)),
    # inputs: the file's name, an array's name
    Case("inputs-file-name", RUN + (f"i{ESC}.npz",),
         f"inputs 'i{SHOWN}.npz' is empty: expected a .npz archive of arrays (numpy.savez)",
         setup=(file(f"i{ESC}.npz", b""),)),
    Case("inputs-array-name", RUN + ("x.npz",),
         f"unexpected input tensor '{SHOWN}' (inputs: a, b)",
         setup=(npz("x.npz", a=np.zeros(4096, np.int32), b=np.zeros(4096, np.int32),
                    **{ESC: np.zeros(1, np.int32)}),)),
    # manifests: the file's name, the graph name the run announces
    Case("manifest-file-name", ("run", "prog.tzb", "--manifest", f"m{ESC}.json"),
         f"'m{SHOWN}.json': invalid JSON at line 1 column 1: Expecting value",
         setup=(file(f"m{ESC}.json", b""),)),
    # a manifest whose graph name holds ESC is refused, and the name shown escaped
    Case("manifest-graph-name", RUN + ("in.npz",), status=1, expect=stderr_escaped,
         setup=(edited("prog.json", "prog.json", '"graph": "dot"', '"graph": "dot\\u001b[2J"'),)),
    # bitstreams and their text: the file's name, a line of text
    Case("disasm-file-name", ("disasm", f"j{ESC}.tzb"),
         f"'j{SHOWN}.tzb': bad magic 0x6b6e756a (expected 0x315a5a54): not a Terrazzo "
         f"bitstream", setup=(file(f"j{ESC}.tzb", b"junk" * 8),)),
    Case("asm-file-name", ("asm", f"t{ESC}.txt", "-o", "out.tzb"),
         f"'t{SHOWN}.txt': line 1: expected 'bitstream fabric=NAME hash=0xHHHHHHHH records=N', "
         f"got 'junk'",
         setup=(text(f"t{ESC}.txt", "junk\n"),)),
    Case("asm-text", ("asm", "t.txt", "-o", "out.tzb"), status=1, expect=stderr_escaped,
         setup=(text("t.txt", f"bitstream fabric=small hash=0x79f6d6b3 records=1\n"
                              f"record unit 0 # pcu\n  {ESC} = 1\n"),)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_control_chars(case, scratch, capsysbinary, monkeypatch):
    stop_at_simulator(scratch, monkeypatch)
    check_case(case, scratch, capsysbinary)
