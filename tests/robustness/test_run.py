"""``terrazzo run``: the outputs ``.npz`` and the --wave file are refused before any
simulation (nothing here simulates: a run that got that far fails the test)."""

import errno

import pytest

import sim.execute

from .harness import (LONG, Case, check_case, creating_in, fail_os, fifo, file, folder,
                      hardlink, symlink)

RUN = ("run", "prog.tzb", "--inputs", "in.npz", "--build-dir", "b")


def refused(name, what, option="-o"):
    return (f"'{name}' is {what}, not a regular file; remove it or give another output name "
            f"with {option}")


CASES = [
    Case("output-is-inputs", RUN + ("-o", "in.npz"),
         "the outputs 'in.npz' would overwrite the inputs; give another output name with -o"),
    Case("symlink-to-inputs", RUN + ("-o", "l.npz"),
         "the outputs 'l.npz' would overwrite the inputs 'in.npz'; give another output name "
         "with -o", setup=(symlink("l.npz", "in.npz"),)),
    Case("hard-link-of-inputs", RUN + ("-o", "h.npz"),
         "the outputs 'h.npz' would overwrite the inputs 'in.npz'; give another output name "
         "with -o", setup=(hardlink("h.npz", "in.npz"),)),
    Case("hard-link-of-manifest", RUN + ("-o", "h.npz"),
         "the outputs 'h.npz' would overwrite the manifest 'prog.json'; give another output "
         "name with -o", setup=(hardlink("h.npz", "prog.json"),)),
    Case("suffix", RUN + ("-o", "prog.json"), "output file must end in .npz, not 'prog.json'"),
    Case("not-an-npz", RUN + ("-o", "x.npz"),
         "'x.npz' exists and is not a .npz archive; remove it or give another output name "
         "with -o", setup=(file("x.npz", b"my results\n"),)),
    Case("default-name-taken", RUN,
         "'prog.out.npz' exists and is not a .npz archive; remove it or give another output "
         "name with -o", setup=(file("prog.out.npz", b"my results\n"),)),
    Case("symlink", RUN + ("-o", "l.npz"), refused("l.npz", "a symbolic link"),
         setup=(symlink("l.npz", "elsewhere.npz"),)),
    Case("fifo", RUN + ("-o", "f.npz"), refused("f.npz", "a FIFO"), setup=(fifo("f.npz"),)),
    Case("directory", RUN + ("-o", "d.npz"), refused("d.npz", "a directory"),
         setup=(folder("d.npz"),)),
    Case("proc", RUN + ("-o", "/proc/x.npz"),
         "cannot write '/proc/x.npz': No such file or directory"),
    Case("missing-folder", RUN + ("-o", "nodir/x.npz"),
         "cannot write 'nodir/x.npz': No such file or directory"),
    Case("under-a-file", RUN + ("-o", "notes.txt/x.npz"),
         "cannot write 'notes.txt/x.npz': Not a directory"),
    Case("name-too-long", RUN + ("-o", LONG + ".npz"),
         f"cannot write '{LONG}.npz': File name too long"),
    Case("read-only", RUN + ("-o", "out.npz"), "cannot write 'out.npz': Read-only file system",
         setup=(fail_os("open", errno.EROFS, creating_in(".")),)),
    Case("wave-suffix", RUN + ("--wave", "in.npz"),
         "wave file must end in .fst or .vcd, not 'in.npz'"),
    Case("wave-is-inputs", RUN + ("--wave", "in.vcd"),
         "the wave file 'in.vcd' would overwrite the inputs 'in.npz'; give another output "
         "name with --wave", setup=(hardlink("in.vcd", "in.npz"),)),
    Case("wave-symlink", RUN + ("--wave", "w.vcd"), refused("w.vcd", "a symbolic link", "--wave"),
         setup=(symlink("w.vcd", "notes.txt"),)),
    Case("wave-fifo", RUN + ("--wave", "w.fst"), refused("w.fst", "a FIFO", "--wave"),
         setup=(fifo("w.fst"),)),
    Case("wave-not-a-wave", RUN + ("--wave", "w.vcd"),
         "'w.vcd' exists and is not a VCD or FST wave file; remove it or give another output "
         "name with --wave", setup=(file("w.vcd", b"my notes\n"),)),
    Case("wave-proc", RUN + ("--wave", "/proc/sub/x.vcd"),
         "cannot write '/proc/sub/x.vcd': No such file or directory"),
    Case("wave-under-a-file", RUN + ("--wave", "notes.txt/sub/x.vcd"),
         "cannot write 'notes.txt/sub/x.vcd': Not a directory"),
    Case("wave-name-too-long", RUN + ("--wave", LONG + ".vcd"),
         f"cannot write '{LONG}.vcd': File name too long"),
    Case("wave-folder-read-only", RUN + ("-o", "sub/out.npz", "--wave", "waves/x.vcd"),
         "cannot write 'waves/x.vcd': Read-only file system",
         setup=(folder("sub"), fail_os("open", errno.EROFS, creating_in(".")))),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_run(case, scratch, capsysbinary, monkeypatch):
    def simulate(*args, **kwargs):
        raise AssertionError("the run went on to simulate")
    monkeypatch.setattr(sim.execute, "run_program", simulate)
    check_case(case, scratch, capsysbinary)
