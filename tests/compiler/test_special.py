"""The special functions (compiler/special.py) in the golden model: error in ulps against
float64 over their input ranges, and the special values. The figures printed here (run
with -s) are the ones docs/ir.md lists."""

import numpy as np
import pytest

from compiler.composites import COMPOSITES
from compiler.ir import Graph
from sim.golden import run_graph

F = np.float32
INF, NAN = np.inf, np.nan
#: binary32 bits of the smallest and largest subnormal and the smallest normal
TINY, SUB_MAX, NORM_MIN = (np.int32(b).view(np.float32) for b in (1, 0x007FFFFF, 0x00800000))


def run(kind, x):
    g = Graph(kind)
    g.output("y", getattr(g, kind)(g.input("x", x.shape, "f32")))
    return run_graph(g, {"x": x})["y"]


def ulps(got, want):
    """|got - want| in ulps of the f32 nearest ``want`` (the subnormal ulp at most); a
    ``want`` beyond the f32 range must give infinity (0 ulp, else infinitely many)."""
    with np.errstate(over="ignore"):
        nearest = want.astype(np.float32)
    step = np.maximum(np.spacing(np.abs(nearest)).astype(np.float64), float(TINY))
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.float64) - want) / step
    overflow = np.isinf(nearest) & np.isfinite(want)
    return np.where(overflow, np.where(got == nearest, 0.0, np.inf), err)


def log_uniform(rng, n, lo, hi, signed=False):
    x = np.exp2(rng.uniform(lo, hi, n))
    if signed:
        x *= rng.choice([-1.0, 1.0], n)
    return x.astype(np.float32)


RANGES = {
    "exp": [("[-87, 88.7]", lambda r, n: r.uniform(-87.0, 88.7, n).astype(F)),
            ("[-1, 1]", lambda r, n: r.uniform(-1.0, 1.0, n).astype(F)),
            ("subnormal results [-103, -87.4]",
             lambda r, n: r.uniform(-103.0, -87.4, n).astype(F))],
    "reciprocal": [("+-2**[-126, 126]", lambda r, n: log_uniform(r, n, -126, 126, True)),
                   ("+-subnormal", lambda r, n: log_uniform(r, n, -149, -126, True))],
    "rsqrt": [("2**[-126, 127]", lambda r, n: log_uniform(r, n, -126, 127)),
              ("subnormal", lambda r, n: log_uniform(r, n, -149, -126))],
    "tanh": [("[-10, 10]", lambda r, n: r.uniform(-10.0, 10.0, n).astype(F)),
             ("+-2**[-30, 0]", lambda r, n: log_uniform(r, n, -30, 0, True))],
    "sigmoid": [("[-80, 80]", lambda r, n: r.uniform(-80.0, 80.0, n).astype(F)),
                ("[-5, 5]", lambda r, n: r.uniform(-5.0, 5.0, n).astype(F))],
}
#: a subnormal result is an integer multiple of the smallest subnormal: its error is
#: counted in that unit, where exp's one extra rounding of the scaled result shows
SUBNORMAL_ULPS = {"exp": 1.5}
N = 20000


@pytest.mark.parametrize("kind", list(RANGES))
def test_error_in_ulps_against_float64(kind):
    op = COMPOSITES[kind]
    rng = np.random.default_rng(sum(map(ord, kind)))
    for label, draw in RANGES[kind]:
        x = draw(rng, N)
        with np.errstate(all="ignore"):
            want = op.meaning(x.astype(np.float64))
        got = run(kind, x)
        err = ulps(got, want)
        worst = int(np.argmax(err))
        bound = SUBNORMAL_ULPS.get(kind, op.ulps) if "subnormal results" in label else op.ulps
        print(f"{kind} over {label}: {N} values, max {err.max():.2f} ulp "
              f"(at x = {x[worst]!r}), mean {err.mean():.3f} ulp")
        assert err.max() <= bound, (label, x[worst], got[worst], want[worst])


SPECIALS = {
    "exp": [(0.0, 1.0), (-0.0, 1.0), (INF, INF), (-INF, 0.0), (NAN, NAN), (88.8, INF),
            (-104.0, 0.0), (TINY, 1.0), (1.0, F(np.e))],
    "reciprocal": [(0.0, INF), (-0.0, -INF), (INF, 0.0), (-INF, -0.0), (NAN, NAN),
                   (1.0, 1.0), (-4.0, -0.25), (TINY, INF), (F(2.0 ** 127), F(2.0 ** -127)),
                   (NORM_MIN, F(2.0 ** 126))],
    "rsqrt": [(0.0, INF), (-0.0, -INF), (INF, 0.0), (-1.0, NAN), (-INF, NAN), (NAN, NAN),
              (1.0, 1.0), (4.0, 0.5), (0.25, 2.0), (TINY, F(1 / np.sqrt(2.0 ** -149)))],
    "tanh": [(0.0, 0.0), (-0.0, -0.0), (INF, 1.0), (-INF, -1.0), (NAN, NAN), (20.0, 1.0),
             (TINY, TINY), (-SUB_MAX, -SUB_MAX)],
    "sigmoid": [(0.0, 0.5), (INF, 1.0), (-INF, 0.0), (NAN, NAN), (100.0, 1.0)],
}


@pytest.mark.parametrize("kind", list(SPECIALS))
def test_special_values(kind):
    x = np.array([a for a, _ in SPECIALS[kind]], dtype=np.float32)
    want = np.array([b for _, b in SPECIALS[kind]], dtype=np.float32)
    got = run(kind, x)
    same = (got.view(np.int32) == want.view(np.int32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), [(a, g, w) for a, g, w, ok in zip(x, got, want, same) if not ok]
    assert (got.view(np.int32)[np.isnan(got)] == 0x7FC00000).all()    # the canonical NaN


def test_special_functions_take_f32_only():
    g = Graph("g")
    with pytest.raises(Exception, match=r"node 'exp0': exp takes f32, not i32; insert "
                                        r"cast\(x, 'f32'\)"):
        g.exp(g.input("x", (4,)))


def test_not_yet_placed_on_the_fabric():
    """The decompositions are longer than one PCU chain can be cut today (docs/ir.md):
    compiling one says so instead of producing a wrong program."""
    from compiler.compile import compile_graph
    from compiler.errors import CompileError
    from hw.params import load_fabric
    g = Graph("e")
    g.output("y", g.exp(g.input("x", (64,), "f32")))
    with pytest.raises(CompileError, match=r"^node 'exp0': needs 27 stages, 5 registers, .* "
                                           r"and no split applies$"):
        compile_graph(g, load_fabric("small-fp"))


@pytest.mark.parametrize("scale", [1.0, 10.0, 50.0])
def test_softmax_error(scale):
    """softmax's outputs lie in [0, 1]: its error is absolute, in units of 2**-24 (an
    element-wise ulp count would charge it with the rounding of ``x - max`` in f32,
    which any fp32 softmax has: ``exp`` turns that absolute error into a relative one)."""
    g = Graph("s")
    g.output("y", g.softmax(g.input("x", (64, 37), "f32")))
    x = (np.random.default_rng(int(scale)).standard_normal((64, 37)) * scale).astype(F)
    y = run_graph(g, {"x": x}, lanes=8)["y"]
    want = COMPOSITES["softmax"].meaning(x.astype(np.float64))
    err = np.abs(y - want).max() / 2.0 ** -24
    rows = np.abs(y.astype(np.float64).sum(axis=1) - 1).max() / 2.0 ** -24
    print(f"softmax of N(0, {scale}**2), 64 rows of 37: max error {err:.2f} x 2**-24, "
          f"rows sum to 1 within {rows:.2f} x 2**-24")
    assert err <= 4 and rows <= 8
