"""``terrazzo asm``: a bitstream to -o (a ``.tzb``), or to ``-`` when that is no terminal."""

import errno
import sys

import pytest

from .harness import LONG, Case, check_case, fail_os, fifo, file, folder, symlink


def bitstream_in(name):
    def expect(result, scratch):
        assert (scratch / name).read_bytes() == (scratch / "prog.tzb").read_bytes()
        assert result.stdout.decode() == f"wrote {name} (450 words)\n"
    return expect


def bitstream_on_stdout(result, scratch):
    assert result.stdout == (scratch / "prog.tzb").read_bytes()


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
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_asm(case, scratch, capsysbinary):
    check_case(case, scratch, capsysbinary)
