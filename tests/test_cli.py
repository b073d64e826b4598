"""The terrazzo command line: outputs, and clean one-line errors with no partial files."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from terrazzo import kernels

KERNELS = Path(kernels.__file__).parent
# the folder that holds the `terrazzo` package this process imported (a checkout or
# site-packages): put first on the child's path, the CLI under test is that same code
SOURCE = KERNELS.parents[1]


def terrazzo(*args, cwd):
    path = os.pathsep.join(filter(None, [str(SOURCE), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "terrazzo", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})


def test_compile_disasm_asm_round_trip(tmp_path):
    r = terrazzo("compile", KERNELS / "dot.py", "-o", tmp_path / "dot.tzb",
                 "--report-png", tmp_path / "dot.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ideal cycles 512" in r.stdout and "PCU     1 / 8" in r.stdout
    assert (tmp_path / "dot.json").exists()
    assert (tmp_path / "dot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = terrazzo("disasm", "dot.tzb", "-o", "dot.txt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "dot.txt").read_text()
    assert "acc.mode = TREE" in text and "stages[0].op = MUL" in text
    r = terrazzo("asm", "dot.txt", "-o", "again.tzb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "again.tzb").read_bytes() == (tmp_path / "dot.tzb").read_bytes()


def test_compile_json_twin(tmp_path):
    r = terrazzo("compile", KERNELS / "gemm.json", "--fabric", "plasticine",
                 "-o", tmp_path / "gemm.tzb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "fabric 'plasticine'" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["compile", "missing.py"], "terrazzo: error: no such graph file: 'missing.py'\n"),
    (["compile", "bad.py"], "terrazzo: error: bad.py:2: syntax error: '(' was never closed\n"),
    (["compile", "big.py", "--fabric", "tiny", "-o", "big.tzb"],
     "terrazzo: error: node 'gemv0': tensor 'W' needs 2048 words in a PMU; a PMU holds 256\n"),
    (["compile", "big.py", "--fabric", "huge"],
     "terrazzo: error: unknown fabric 'huge': give one of tiny, small, small-fp, plasticine or a .toml "
     "file\n"),
    (["disasm", "junk.tzb"], "terrazzo: error: junk.tzb: bad magic 0x6b6e756a (expected "
     "0x315a5a54): not a Terrazzo bitstream\n"),
    (["verilog", "--fabric", "bad.toml", "-o", "x.v"],
     "terrazzo: error: bad.toml: unknown parameter 'lanez' (known: cols, counters, "
     "dram_beat, dram_burst, dram_outstanding, dram_ports, fifo_depth, io_in, "
     "io_out, lanes, name, op_groups, pcu_scalar_in, pcu_vec_in, pmu_depth, regs, rows, "
     "scalar_tracks, stages, vector_tracks, word)\n"),
    (["compile", "g.json", "-o", "g.tzb"], "terrazzo: error: the manifest 'g.json' would "
     "overwrite the input graph; give another output name with -o\n"),
    (["run", "junk.tzb"], "terrazzo: error: manifest 'junk.json' not found (terrazzo compile "
     "writes it beside the bitstream; or give --manifest)\n"),
])
def test_errors_are_one_line_and_leave_no_file(tmp_path, args, message):
    (tmp_path / "bad.py").write_text("from compiler.ir import Graph\ng = Graph(\n")
    (tmp_path / "big.py").write_text("from terrazzo import kernels\n"
                                     "graph = kernels.load('gemv').build()\n")
    (tmp_path / "junk.tzb").write_bytes(b"junk" * 8)
    (tmp_path / "bad.toml").write_text("lanez = 3\n")
    (tmp_path / "g.json").write_text((KERNELS / "dot.json").read_text())
    before = set(tmp_path.iterdir())
    r = terrazzo(*args, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == message
    assert "Traceback" not in r.stderr
    assert set(tmp_path.iterdir()) == before


def test_run_refuses_mismatched_inputs_before_simulating(tmp_path):
    r = terrazzo("compile", KERNELS / "dot.py", "-o", "dot.tzb", cwd=tmp_path)
    assert r.returncode == 0
    np.savez(tmp_path / "in.npz", a=np.zeros(10, np.int32), b=np.zeros(4096, np.int32))
    r = terrazzo("run", "dot.tzb", "--inputs", "in.npz", "--build-dir", tmp_path / "b",
                 cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.endswith("terrazzo: error: input tensor 'a' has shape [10]; expected "
                             "[4096]\n")
    np.savez(tmp_path / "in.npz", a=np.zeros(4096, np.int32))
    r = terrazzo("run", "dot.tzb", "--inputs", "in.npz", "--build-dir", tmp_path / "b",
                 cwd=tmp_path)
    assert r.stderr.endswith("terrazzo: error: input tensor 'b' is missing (expected shape "
                             "[4096], i32)\n")
    assert not (tmp_path / "b").exists()      # refused before any build


def test_run_refuses_a_bitstream_for_another_fabric(tmp_path):
    r = terrazzo("compile", KERNELS / "dot.py", "-o", "dot.tzb", cwd=tmp_path)
    assert r.returncode == 0
    np.savez(tmp_path / "in.npz", a=np.zeros(4096, np.int32), b=np.zeros(4096, np.int32))
    r = terrazzo("run", "dot.tzb", "--inputs", "in.npz", "--fabric", "tiny",
                 "--build-dir", tmp_path / "b", cwd=tmp_path)
    assert r.returncode == 1
    assert "bitstream is for fabric 'small'" in r.stderr and "compile it for 'tiny'" in r.stderr
    assert not (tmp_path / "b").exists()


def test_run_refuses_a_manifest_of_another_bitstream_before_simulating(tmp_path):
    for kernel in ("dot", "vector_add"):
        r = terrazzo("compile", KERNELS / f"{kernel}.py", "-o", f"{kernel}.tzb", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    got = hashlib.sha256((tmp_path / "dot.tzb").read_bytes()).hexdigest()
    want = json.loads((tmp_path / "vector_add.json").read_text())["bitstream_sha256"]
    r = terrazzo("run", "dot.tzb", "--manifest", "vector_add.json", "--build-dir",
                 tmp_path / "b", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.endswith(f"terrazzo: error: dot.tzb does not belong to the manifest "
                             f"vector_add.json: its SHA-256 is {got[:16]}..., the manifest's "
                             f"is {want[:16]}... (they come from different compiles)\n")
    assert not (tmp_path / "b").exists()      # refused before any build


def test_run_help_gives_the_default_cycle_cap(tmp_path):
    from sim.execute import DEFAULT_MAX_CYCLES
    r = terrazzo("run", "--help", cwd=tmp_path)
    assert f"--max-cycles N simulate at most N cycles before giving up (default " \
           f"{DEFAULT_MAX_CYCLES})" in " ".join(r.stdout.split())


@pytest.mark.sim
def test_run_stops_at_max_cycles(tmp_path):
    r = terrazzo("compile", KERNELS / "dot.py", "-o", "dot.tzb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    np.savez(tmp_path / "in.npz", a=np.zeros(4096, np.int32), b=np.zeros(4096, np.int32))
    r = terrazzo("run", "dot.tzb", "--inputs", "in.npz", "--sim", "icarus", "--max-cycles", 50,
                 "--build-dir", Path(__file__).resolve().parents[1] / "build", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.endswith("terrazzo: error: the simulation reached its limit of 50 cycles "
                             "before the fabric was done; allow more with --max-cycles "
                             "(max_cycles= of run_program)\n")


def test_fpga_refuses_a_fabric_with_dram_ports(tmp_path):
    root = Path(__file__).resolve().parents[1]
    r = terrazzo("fpga", "--board", "ulx3s-85f", "--fabric",
                 root / "examples" / "fabrics" / "small-dram.toml", "-o", "out",
                 "--synth-only", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == ("terrazzo: error: fabric 'small-dram' has 2 DRAM ports, which the "
                        "board top does not connect to memory yet; build a fabric with "
                        "dram_ports = 0\n")
    assert not (tmp_path / "out").exists()


def test_compile_names_the_dead_nodes_it_drops_in_one_line(tmp_path):
    (tmp_path / "d.py").write_text(
        "from compiler.ir import Graph\ngraph = Graph('d')\nx = graph.input('x', (8,))\n"
        "unused = x * 3\ngraph.output('y', x + 1)\n")
    r = terrazzo("compile", "d.py", "-o", "d.tzb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == \
        "terrazzo: warning: graph 'd': dropped 1 node that no output reads: 'map0'"
    assert "PCU     1 / 8" in r.stdout
