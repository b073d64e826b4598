"""``terrazzo compile``: the bitstream, its manifest beside it, and --report-png."""

import errno

import pytest

from .harness import (LONG, Case, check_case, creating_in, fail_os, file, fifo, folder,
                      hardlink, nth_call, symlink)

TWIN = ("'dot.json' exists and is not a Terrazzo manifest; remove it or give another output "
        "name with -o")


def same_pair(prefix):
    def expect(result, scratch):
        assert (scratch / f"{prefix}.tzb").read_bytes() == (scratch / "prog.tzb").read_bytes()
        assert '"format": "terrazzo-manifest"' in (scratch / f"{prefix}.json").read_text()
        assert f"wrote {prefix}.tzb and {prefix}.json" in result.stdout.decode()
    return expect


def drawn(result, scratch):
    assert (scratch / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    same_pair("out")(result, scratch)


CASES = [
    # a graph's JSON twin is never taken for the manifest
    Case("twin", ("compile", "dot.py", "-o", "dot.tzb"), TWIN),
    Case("twin-default-name", ("compile", "dot.py"), TWIN),
    # an output that is an input, by path, `..`, a symlinked folder or a hard link
    Case("manifest-is-graph", ("compile", "dot.json", "-o", "dot.tzb"),
         "the manifest 'dot.json' would overwrite the input graph; give another output name "
         "with -o"),
    Case("manifest-is-graph-dotdot", ("compile", "dot.json", "-o", "sub/../dot.tzb"),
         "the manifest 'sub/../dot.json' would overwrite the input graph 'dot.json'; give "
         "another output name with -o", setup=(folder("sub"),)),
    Case("manifest-is-graph-via-link", ("compile", "dot.json", "-o", "here/dot.tzb"),
         "the manifest 'here/dot.json' would overwrite the input graph 'dot.json'; give "
         "another output name with -o", setup=(symlink("here", "."),)),
    Case("manifest-is-graph-hard-link", ("compile", "dot.json", "-o", "h.tzb"),
         "the manifest 'h.json' would overwrite the input graph 'dot.json'; give another "
         "output name with -o", setup=(hardlink("h.json", "dot.json"),)),
    Case("png-is-graph", ("compile", "dot.json", "-o", "out.tzb", "--report-png", "dot.json"),
         "the placement drawing 'dot.json' would overwrite the input graph; give another "
         "output name with --report-png"),
    Case("png-is-twin", ("compile", "dot.py", "-o", "out.tzb", "--report-png", "dot.json"),
         "'dot.json' exists and is not a PNG image; remove it or give another output name "
         "with --report-png"),
    Case("png-is-source", ("compile", "dot.json", "-o", "out.tzb", "--report-png", "dot.py"),
         "'dot.py' exists and is not a PNG image; remove it or give another output name "
         "with --report-png"),
    Case("png-is-bitstream", ("compile", "dot.py", "-o", "out.tzb", "--report-png", "out.tzb"),
         "the placement drawing 'out.tzb' would overwrite the bitstream; give another output "
         "name with --report-png"),
    Case("png-is-manifest", ("compile", "dot.py", "-o", "out.tzb", "--report-png", "out.json"),
         "the placement drawing 'out.json' would overwrite the manifest; give another output "
         "name with --report-png"),
    Case("png-is-existing-manifest",
         ("compile", "dot.py", "-o", "prog.tzb", "--report-png", "prog.json"),
         "the placement drawing 'prog.json' would overwrite the manifest; give another output "
         "name with --report-png"),
    Case("png-to-stdout", ("compile", "dot.py", "-o", "out.tzb", "--report-png", "-"),
         "--report-png cannot be '-': compile prints its report on standard output; give a "
         "file name"),
    # what is at the path is not a file of the kind compile writes
    Case("symlink", ("compile", "dot.py", "-o", "l.tzb"),
         "'l.tzb' is a symbolic link, not a regular file; remove it or give another output "
         "name with -o", setup=(symlink("l.tzb", "prog.tzb"),)),
    Case("manifest-symlink", ("compile", "dot.py", "-o", "l.tzb"),
         "'l.json' is a symbolic link, not a regular file; remove it or give another output "
         "name with -o", setup=(symlink("l.json", "prog.json"),)),
    Case("dangling-symlink", ("compile", "dot.py", "-o", "l.tzb"),
         "'l.tzb' is a symbolic link, not a regular file; remove it or give another output "
         "name with -o", setup=(symlink("l.tzb", "elsewhere.tzb"),)),
    Case("fifo", ("compile", "dot.py", "-o", "f.tzb"),
         "'f.tzb' is a FIFO, not a regular file; remove it or give another output name with -o",
         setup=(fifo("f.tzb"),)),
    Case("directory", ("compile", "dot.py", "-o", "d.tzb"),
         "'d.tzb' is a directory, not a regular file; remove it or give another output name "
         "with -o", setup=(folder("d.tzb"),)),
    Case("not-a-bitstream", ("compile", "dot.py", "-o", "junk.tzb"),
         "'junk.tzb' exists and is not a Terrazzo bitstream; remove it or give another output "
         "name with -o", setup=(file("junk.tzb", b"junk" * 8),)),
    Case("suffix", ("compile", "dot.py", "-o", "notes.txt"),
         "output file must end in .tzb, not 'notes.txt'"),
    # places that cannot take the file: one line, before compiling
    Case("proc", ("compile", "dot.py", "-o", "/proc/x.tzb"),
         "cannot write '/proc/x.tzb': No such file or directory"),
    Case("missing-folder", ("compile", "dot.py", "-o", "nodir/x.tzb"),
         "cannot write 'nodir/x.tzb': No such file or directory"),
    Case("under-a-file", ("compile", "dot.py", "-o", "notes.txt/x.tzb"),
         "cannot write 'notes.txt/x.tzb': Not a directory"),
    Case("name-too-long", ("compile", "dot.py", "-o", LONG + ".tzb"),
         f"cannot write '{LONG}.tzb': File name too long"),
    Case("read-only", ("compile", "dot.py", "-o", "out.tzb"),
         "cannot write 'out.tzb': Read-only file system",
         setup=(fail_os("open", errno.EROFS, creating_in(".")),)),
    Case("permission-denied", ("compile", "dot.py", "-o", "out.tzb"),
         "cannot write 'out.tzb': Permission denied",
         setup=(fail_os("open", errno.EACCES, creating_in(".")),)),
    # failures while writing leave the old pair, or no file at all
    Case("manifest-rename-fails", ("compile", "dot.py", "-o", "prog.tzb"),
         "cannot write 'prog.json': Read-only file system",
         setup=(fail_os("replace", errno.EROFS, lambda src, dst: dst == "prog.json"),)),
    Case("new-manifest-rename-fails", ("compile", "dot.py", "-o", "out.tzb"),
         "cannot write 'out.json': Read-only file system",
         setup=(fail_os("replace", errno.EROFS, lambda src, dst: dst == "out.json"),)),
    Case("png-rename-fails", ("compile", "dot.py", "-o", "prog.tzb", "--report-png", "p.png"),
         "cannot write 'p.png': Permission denied",
         setup=(fail_os("replace", errno.EACCES, lambda src, dst: dst == "p.png"),)),
    Case("disk-full", ("compile", "dot.py", "-o", "out.tzb"),
         "cannot write 'out.json': No space left on device",
         setup=(fail_os("fsync", errno.ENOSPC, nth_call(2)),)),
    # successes
    Case("new-pair-and-png", ("compile", "dot.py", "-o", "out.tzb", "--report-png", "out.png"),
         changed=("out.tzb", "out.json", "out.png"), expect=drawn),
    Case("replaces-its-pair", ("compile", "dot.py", "-o", "prog.tzb"),
         changed=("prog.tzb", "prog.json"), expect=same_pair("prog")),
    Case("default-name", ("compile", "g.py"), changed=("g.tzb", "g.json"),
         setup=(file("g.py", "dot.py"),), expect=same_pair("g")),
    Case("replaces-empty-files", ("compile", "dot.py", "-o", "e.tzb"),
         changed=("e.tzb", "e.json"), setup=(file("e.tzb", b""), file("e.json", b"")),
         expect=same_pair("e")),
    Case("through-a-linked-folder", ("compile", "dot.py", "-o", "here/new.tzb"),
         changed=("new.tzb", "new.json"), setup=(symlink("here", "."),)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_compile(case, scratch, capsysbinary):
    check_case(case, scratch, capsysbinary)
