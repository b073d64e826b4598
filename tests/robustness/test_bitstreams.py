"""``terrazzo bitstreams``: the whole suite under --out, all files or none."""

import errno
import shutil

import pytest

from .conftest import ROOT
from .harness import Case, check_case, creating_in, fail_os, file, symlink

SUITE = sorted(str(p.relative_to(ROOT / "bitstreams")) for p in (ROOT / "bitstreams").rglob("*")
               if p.is_file())
WRITTEN = ("bs", "bs/small", "bs/tiny") + tuple(f"bs/{rel}" for rel in SUITE)


def the_suite(result, scratch):
    for rel in SUITE:
        assert (scratch / "bs" / rel).read_bytes() == (ROOT / "bitstreams" / rel).read_bytes()
    assert result.stdout.decode() == f"wrote {len(SUITE)} files under bs/\n"


def old_suite(scratch, monkeypatch):
    shutil.copytree(ROOT / "bitstreams", scratch / "bs")


CASES = [
    Case("out-is-a-file", ("bitstreams", "--out", "notes.txt"),
         "'notes.txt' is not a folder; give another folder with --out"),
    Case("proc", ("bitstreams", "--out", "/proc/x"),
         "cannot write under '/proc/x': No such file or directory"),
    Case("under-a-file", ("bitstreams", "--out", "notes.txt/x"),
         "cannot write under 'notes.txt/x': Not a directory"),
    Case("read-only", ("bitstreams", "--out", "bs"),
         "cannot write under 'bs': Read-only file system",
         setup=(fail_os("open", errno.EROFS, creating_in(".")),)),
    Case("graph-where-a-manifest-goes", ("bitstreams", "--out", "bs"),
         "'bs/small/dot.json' exists and is not a Terrazzo manifest; remove it or give "
         "another output name with --out", setup=(file("bs/small/dot.json", "dot.json"),)),
    Case("symlinked-readme", ("bitstreams", "--out", "bs"),
         "'bs/small/README.md' is a symbolic link, not a regular file; remove it or give "
         "another output name with --out", setup=(old_suite, lambda s, mp: (
             (s / "bs/small/README.md").unlink(),
             symlink("bs/small/README.md", "../../notes.txt")(s, mp)))),
    # a rename that fails late takes back every file (the new folders stay)
    Case("late-rename-fails", ("bitstreams", "--out", "bs"),
         "cannot write 'bs/tiny/dot.tzb': Read-only file system", changed=WRITTEN[:3],
         setup=(fail_os("replace", errno.EROFS, lambda src, dst: dst == "bs/tiny/dot.tzb"),)),
    Case("late-rename-fails-over-a-suite", ("bitstreams", "--out", "bs"),
         "cannot write 'bs/tiny/dot.tzb': Read-only file system", setup=(
             old_suite,
             fail_os("replace", errno.EROFS, lambda src, dst: dst == "bs/tiny/dot.tzb"))),
    Case("new-suite", ("bitstreams", "--out", "bs"), changed=WRITTEN, expect=the_suite),
    Case("rewrites-a-suite", ("bitstreams", "--out", "bs"), changed=WRITTEN[3:],
         setup=(old_suite,), expect=the_suite),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bitstreams(case, scratch, capsysbinary):
    check_case(case, scratch, capsysbinary)
