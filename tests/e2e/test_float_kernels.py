"""Floating-point kernels end to end: compiled for a fabric with the fp op group, run on
the generated Verilog under Verilator (cocotb and the C++ harness) and Icarus, equal bit
for bit to the golden model, which follows the hardware's reduction order."""

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from compiler.compile import compile_graph
from compiler.ir import Graph
from compiler.types import tensor_words
from hw.params import load_fabric
from sim.execute import compare, golden_outputs, run_program

pytestmark = [pytest.mark.sim]

FABRIC = load_fabric("small-fp")

#: f32 values that exercise the special cases: zeros, infinities, NaN, subnormals,
#: the largest normal, halfway cases
SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3e-45, 1.1754942e-38,
                     3.4028235e38, -3.4028235e38, 1.0 + 2.0 ** -23, 0.5, -1.5, 2.0 ** -24,
                     16777216.0, 1.0], dtype=np.float32)


def floats(rng, shape, specials=True):
    """Random normals with a sprinkling of the special values."""
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    if specials:
        flat = x.reshape(-1)
        idx = rng.choice(flat.size, min(flat.size // 8, len(SPECIALS)), replace=False)
        flat[idx] = SPECIALS[:len(idx)]
    return x


def dot(n=100):
    g = Graph("fdot")
    a, b = g.input("a", (n,), "f32"), g.input("b", (n,), "f32")
    g.output("y", g.reduce("add", a * b))
    return g, lambda rng: {"a": floats(rng, n, False), "b": floats(rng, n, False)}


def saxpy(n=100):
    g = Graph("fsaxpy")
    x, y = g.input("x", (n,), "f32"), g.input("y", (n,), "f32")
    g.output("out", x * 2.5 + y)
    return g, lambda rng: {"x": floats(rng, n), "y": floats(rng, n)}


def gemv(m=12, k=40):
    g = Graph("fgemv")
    w, x = g.input("W", (m, k), "f32"), g.input("x", (k,), "f32")
    g.output("y", g.gemv(w, x))
    return g, lambda rng: {"W": floats(rng, (m, k), False), "x": floats(rng, k, False)}


def gemm(m=6, k=10, n=12):
    g = Graph("fgemm")
    a, b = g.input("A", (m, k), "f32"), g.input("B", (k, n), "f32")
    g.output("C", g.matmul(a, b))
    return g, lambda rng: {"A": floats(rng, (m, k), False), "B": floats(rng, (k, n), False)}


def bf16_gemv(m=8, k=24):
    """bf16 weights and inputs, products exact in fp32, fp32 accumulation."""
    g = Graph("bgemv")
    w, x = g.input("W", (m, k), "bf16"), g.input("x", (k,), "bf16")
    xs = g.broadcast_to(x, (m, k))
    prods = g.map(lambda a, b: g.cast(a, "f32") * g.cast(b, "f32"), w, xs)
    g.output("y", g.reduce("add", prods, axis=1))
    return g, lambda rng: {"W": floats(rng, (m, k), False), "x": floats(rng, k, False)}


def row_stats(m=4, n=20):
    """max along rows, min down the columns, a running sum, rounded to bf16."""
    g = Graph("fstats")
    x = g.input("x", (m, n), "f32")
    g.output("mx", g.reduce("max", x, axis=1))
    g.output("mn", g.reduce("min", x, axis=0))
    g.output("cs", g.cast(g.scan("add", x, axis=1), "bf16"))
    return g, lambda rng: {"x": floats(rng, (m, n))}


def casts(n=64):
    """i32 -> f32 -> compare/select -> i32, and f32 -> bf16 -> f32."""
    g = Graph("fcasts")
    i, x = g.input("i", (n,), "i32"), g.input("x", (n,), "f32")
    f = g.cast(i, "f32")
    g.output("relu", g.select(x.lt(0.0), 0.0, x))
    g.output("back", g.cast(f * 0.5, "i32"))
    g.output("bf", g.cast(g.cast(x, "bf16"), "f32") - x)
    g.output("lt", g.map(lambda a, b: a.lt(b), f, x))
    return g, lambda rng: {"i": rng.integers(-2 ** 31, 2 ** 31, n), "x": floats(rng, n)}


def stochastic(m=7, n=45):
    """f32 -> bf16 with stochastic rounding (rows that do not fill the last vector), and
    a row sum of the rounded values: the random bits of every lane and iteration must be
    the golden model's."""
    g = Graph("fsr")
    x = g.input("x", (m, n), "f32")
    r = g.cast(x * 1.0009765625, "bf16", "sr")
    g.output("r", r)
    g.output("s", g.reduce("add", g.cast(r, "f32"), axis=1))
    g.output("n", g.cast(x, "bf16"))
    return g, lambda rng: {"x": floats(rng, (m, n))}


def kahan(m=4, n=300):
    """Compensated sums along both axes (TREE and LANE accumulators), beside plain ones."""
    g = Graph("fkahan")
    x = g.input("x", (m, n), "f32")
    t = g.input("t", (n, m), "f32")
    g.output("rows", g.reduce("kadd", x, axis=1))
    g.output("cols", g.reduce("kadd", t, axis=0))
    g.output("plain", g.reduce("add", x, axis=1))
    return g, lambda rng: {"x": (1 + rng.random((m, n)) / 64).astype(np.float32),
                           "t": (1 + rng.random((n, m)) / 64).astype(np.float32)}


def poly(n=72):
    """A polynomial in a computed argument ``r``: ``r`` is read by every part of the
    kernel's PCU chain (the partitioner fans it out)."""
    g = Graph("fpoly")
    x = g.input("x", (n,), "f32")
    r = (x - 1.5) * 0.25
    q = r * 0.125 + 0.5
    for c in (0.75, -1.25, 2.0, 0.375, -0.5):
        q = q * r + c
    g.output("y", q * r + r * r)
    return g, lambda rng: {"x": floats(rng, n)}


def ipoly(n=72):
    """The same in integers, the argument and an input read by every part."""
    g = Graph("ipoly")
    i = g.input("i", (n,), "i32")
    k = (i ^ 0x55) + 3
    p = k * 3 + 1
    for c in (7, -5, 2, 9, -11):
        p = (p * k + c) ^ i
    g.output("z", p * k + (k >> 2))
    return g, lambda rng: {"i": rng.integers(-2 ** 31, 2 ** 31, n)}


def argmax(m=6, n=21):
    """argmax along rows (reduction tree) and argmin down the columns (lane
    accumulators) of f32 with ties, NaNs and signed zeros, and of i32 with ties."""
    g = Graph("fargmax")
    x, i = g.input("x", (m, n), "f32"), g.input("i", (m, n), "i32")
    g.output("rows", g.argmax(x, 1))
    g.output("cols", g.argmin(x, 0))
    g.output("irows", g.argmin(i, 1))
    g.output("icols", g.argmax(i * 2, 0))

    def make(rng):
        x = rng.choice(np.float32([-1.5, 0.0, -0.0, 2.0, 7.0, -np.inf, np.inf]), (m, n))
        x[1, 7] = x[1, 15] = np.nan                 # the first NaN of a row wins
        x[4, :] = 3.0                               # a row of ties: index 0
        return {"x": x, "i": rng.integers(-3, 4, (m, n))}
    return g, make


def kmeans_assign(points=40, k=5, dims=3):
    """K-means' assignment step: each point's nearest centroid, as a distance reduction
    and one argmin kernel."""
    g = Graph("kmeans")
    x, c = g.input("x", (points, dims), "f32"), g.input("c", (k, dims), "f32")
    xb = g.view(x, (points, k, dims), strides=(dims, 0, 1))
    cb = g.view(c, (points, k, dims), strides=(0, dims, 1))
    d = g.map(lambda a, b: (a - b) * (a - b), xb, cb)
    g.output("label", g.argmin(g.reduce("add", d, axis=2), 1))
    return g, lambda rng: {"x": floats(rng, (points, dims), False),
                           "c": floats(rng, (k, dims), False)}


KERNELS = {f.__name__: f for f in (dot, saxpy, gemv, gemm, bf16_gemv, row_stats, casts,
                                   stochastic, kahan, poly, ipoly, argmax,
                                   kmeans_assign)}


@lru_cache(maxsize=None)
def compiled(name):
    graph, make = KERNELS[name]()
    return compile_graph(graph, FABRIC), make


def check(name, sim, testbench="cocotb", stall=False):
    result, make = compiled(name)
    seed = sum(map(ord, name)) + stall
    tensors = make(np.random.default_rng(seed))
    run = run_program(result.bitstream, result.manifest, tensors, sim=sim,
                      testbench=testbench, idle=0.3 if stall else 0.0,
                      backpressure=0.4 if stall else 0.0, seed=seed)
    want = golden_outputs(result.manifest, tensors)
    bad = compare(want, run.outputs)
    assert not bad, bad[0]
    for tensor, value in want.items():
        assert run.outputs[tensor].dtype == value.dtype, tensor
    return run


@pytest.mark.parametrize("name", list(KERNELS))
def test_float_kernel_on_verilator(name):
    """cocotb and the harness, free-running and stalled; same outputs and cycles."""
    for stall in (False, True):
        run = check(name, "verilator", stall=stall)
        fast = check(name, "verilator", "harness", stall=stall)
        assert fast.cycles == run.cycles


#: Verilator only: the fan-out chains and the K-means kernel, which Icarus runs in
#: tests/e2e/test_fp_functions.py at larger scale (softmax, layernorm)
VERILATOR_ONLY = ("poly", "ipoly", "kmeans_assign")


@pytest.mark.slow
@pytest.mark.parametrize("name", [k for k in KERNELS if k not in VERILATOR_ONLY])
def test_float_kernel_on_icarus(name):
    check(name, "icarus", stall=name in ("dot", "row_stats", "stochastic"))


def test_golden_sums_follow_the_hardware_order():
    """The golden dot product is the documented order, written out here by hand: blocks
    of ``lanes`` products, each a tree of adjacent pairs, then the blocks in order. On
    these values a serial sum gives other bits, so the hardware check above tells the
    orders apart."""
    result, _ = compiled("dot")
    lanes = result.manifest.lanes
    n = 100
    a = np.tile(np.float32([1e8, 1.0, -1e8, 3.0, 0.5, -7.25, 1e-3, 2.0 ** 20]), n)[:n]
    b = np.ones(n, np.float32)
    f = np.float32
    total = f(-0.0)
    for start in range(0, n, lanes):
        block = [f(v) for v in a[start:start + lanes] * b[start:start + lanes]]
        block += [f(-0.0)] * (lanes - len(block))
        while len(block) > 1:
            block = [f(block[i] + block[i + 1]) for i in range(0, len(block), 2)]
        total = f(total + block[0])
    serial = f(-0.0)
    for v in a * b:
        serial = f(serial + v)
    want = golden_outputs(result.manifest, {"a": a, "b": b})["y"]
    assert want.view(np.int32) == np.float32(total).view(np.int32)
    assert total != serial


GRAPH_PY = '''
from compiler.ir import Graph

graph = g = Graph("fscale")
x = g.input("x", (40,), "f32")
w = g.input("w", (40,), "bf16")
g.output("y", x * g.cast(w, "f32") + 0.25)
g.output("s", g.reduce("add", x))
'''


def terrazzo(*args, cwd):
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "terrazzo", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})


def test_terrazzo_compile_and_run_a_float_graph(tmp_path):
    """The CLI end to end: float inputs from a .npz, float32 outputs back, --check."""
    (tmp_path / "fscale.py").write_text(GRAPH_PY)
    r = terrazzo("compile", "fscale.py", "--fabric", "small-fp", "-o", "f.tzb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rng = np.random.default_rng(5)
    x, w = floats(rng, 40), rng.standard_normal(40)
    np.savez(tmp_path / "in.npz", x=x, w=w)
    build = Path(__file__).resolve().parents[2] / "build"
    r = terrazzo("run", "f.tzb", "--inputs", "in.npz", "--check", "--build-dir", build,
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "check: all 2 outputs equal the golden model" in r.stdout
    out = np.load(tmp_path / "f.out.npz")
    assert out["y"].dtype == np.float32
    w16 = tensor_words(w, "bf16").view(np.float32)      # w rounded to bf16
    with np.errstate(all="ignore"):
        want = x * w16 + np.float32(0.25)
    assert np.array_equal(out["y"], want, equal_nan=True)
    # an integer array for a float input is refused before anything runs
    np.savez(tmp_path / "bad.npz", x=np.arange(40), w=w)
    r = terrazzo("run", "f.tzb", "--inputs", "bad.npz", "--build-dir", build, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.endswith("terrazzo: error: input tensor 'x' has dtype int64; expected a "
                             "float array (f32)\n")
