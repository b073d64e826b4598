"""Two runs of the real ``terrazzo`` process: the exit status and the one-line message as a
shell sees them, and a bitstream piped through standard output."""

import os
import subprocess
import sys

from terrazzo import cli

from .harness import snapshot

# the folder holding the `terrazzo` package under test, first on the child's path
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))


def terrazzo(*args, cwd):
    path = os.pathsep.join(filter(None, [SOURCE, os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "terrazzo", *args], cwd=cwd,
                          capture_output=True, env={**os.environ, "PYTHONPATH": path})


def test_twin_is_kept_by_the_process(scratch):
    before = snapshot(scratch)
    r = terrazzo("compile", "dot.py", cwd=scratch)
    assert r.returncode == 1
    assert r.stderr.decode() == ("terrazzo: error: 'dot.json' exists and is not a Terrazzo "
                                 "manifest; remove it or give another output name with -o\n")
    assert snapshot(scratch) == before


def test_bitstream_through_a_pipe(scratch):
    before = snapshot(scratch)
    r = terrazzo("asm", "prog.txt", "-o", "-", cwd=scratch)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (scratch / "prog.tzb").read_bytes()
    assert r.stderr.decode() == "wrote - (458 words)\n"
    assert snapshot(scratch) == before
