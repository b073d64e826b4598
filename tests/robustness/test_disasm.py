"""``terrazzo disasm``: its text to -o, to ``-`` or (no -o) to standard output."""

import errno

import pytest

from .harness import (LONG, Case, check_case, creating_in, fail_os, fifo, folder, hardlink,
                      symlink)
from .texts import padded_bitstream, padded_text


def text_in(name):
    def expect(result, scratch):
        assert (scratch / name).read_text() == (scratch / "prog.txt").read_text()
    return expect


def same_text(name, want):
    def expect(result, scratch):
        assert (scratch / name).read_text() == (scratch / want).read_text()
    return expect


def text_on_stdout(result, scratch):
    assert result.stdout.decode() == (scratch / "prog.txt").read_text()


def refused(name, what):
    return (f"'{name}' is {what}, not a regular file; remove it or give another output name "
            f"with -o")


CASES = [
    Case("output-is-input", ("disasm", "prog.tzb", "-o", "prog.tzb"),
         "the disassembly 'prog.tzb' would overwrite the input bitstream; give another output "
         "name with -o"),
    Case("hard-link-of-input", ("disasm", "prog.tzb", "-o", "h.txt"),
         "the disassembly 'h.txt' would overwrite the input bitstream 'prog.tzb'; give "
         "another output name with -o", setup=(hardlink("h.txt", "prog.tzb"),)),
    Case("symlink-to-input", ("disasm", "prog.tzb", "-o", "l.txt"),
         "the disassembly 'l.txt' would overwrite the input bitstream 'prog.tzb'; give "
         "another output name with -o", setup=(symlink("l.txt", "prog.tzb"),)),
    Case("fabric-file", ("disasm", "prog.tzb", "--fabric", "fabric.toml", "-o", "fabric.toml"),
         "the disassembly 'fabric.toml' would overwrite the fabric file; give another output "
         "name with -o"),
    Case("symlink", ("disasm", "prog.tzb", "-o", "l.txt"), refused("l.txt", "a symbolic link"),
         setup=(symlink("l.txt", "prog.txt"),)),
    Case("dev-stdout", ("disasm", "prog.tzb", "-o", "/dev/stdout"),
         refused("/dev/stdout", "a symbolic link")),
    Case("fifo", ("disasm", "prog.tzb", "-o", "f.txt"), refused("f.txt", "a FIFO"),
         setup=(fifo("f.txt"),)),
    Case("directory", ("disasm", "prog.tzb", "-o", "d"), refused("d", "a directory"),
         setup=(folder("d"),)),
    Case("user-file", ("disasm", "prog.tzb", "-o", "notes.txt"),
         "'notes.txt' exists and is not a bitstream disassembly; remove it or give another "
         "output name with -o"),
    Case("graph-source", ("disasm", "prog.tzb", "-o", "dot.py"),
         "'dot.py' exists and is not a bitstream disassembly; remove it or give another "
         "output name with -o"),
    Case("proc", ("disasm", "prog.tzb", "-o", "/proc/x.txt"),
         "cannot write '/proc/x.txt': No such file or directory"),
    Case("missing-folder", ("disasm", "prog.tzb", "-o", "nodir/x.txt"),
         "cannot write 'nodir/x.txt': No such file or directory"),
    Case("under-a-file", ("disasm", "prog.tzb", "-o", "notes.txt/x.txt"),
         "cannot write 'notes.txt/x.txt': Not a directory"),
    Case("name-too-long", ("disasm", "prog.tzb", "-o", LONG),
         f"cannot write '{LONG}': File name too long"),
    Case("read-only", ("disasm", "prog.tzb", "-o", "out.txt"),
         "cannot write 'out.txt': Read-only file system",
         setup=(fail_os("open", errno.EROFS, creating_in(".")),)),
    Case("new-file", ("disasm", "prog.tzb", "-o", "out.txt"), changed=("out.txt",),
         expect=text_in("out.txt")),
    Case("replaces-a-disassembly", ("disasm", "prog.tzb", "-o", "prog.txt"),
         changed=("prog.txt",), expect=text_in("prog.txt")),
    Case("dash-is-stdout", ("disasm", "prog.tzb", "-o", "-"), expect=text_on_stdout),
    Case("stdout-by-default", ("disasm", "prog.tzb"), expect=text_on_stdout),
    # padding bits, which the loader accepts and ignores, are shown rather than refused
    Case("padding", ("disasm", "padded.tzb", "-o", "out.txt"), changed=("out.txt",),
         setup=(padded_bitstream("padded.tzb"), padded_text("padded.txt")),
         expect=same_text("out.txt", "padded.txt")),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_disasm(case, scratch, capsysbinary):
    check_case(case, scratch, capsysbinary)
