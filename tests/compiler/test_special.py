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
    "gelu": [("[-3, 3]", lambda r, n: r.uniform(-3.0, 3.0, n).astype(F)),
             ("[0, 10]", lambda r, n: r.uniform(0.0, 10.0, n).astype(F)),
             ("+-2**[-30, 0]", lambda r, n: log_uniform(r, n, -30, 0, True))],
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
    "gelu": [(0.0, 0.0), (-0.0, -0.0), (INF, INF), (-INF, -0.0), (NAN, NAN), (1e30, 1e30),
             (-1e30, -0.0), (-20.0, -0.0), (F(2.0 ** -100), F(2.0 ** -101))],
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


def test_gelu_absolute_error_for_negative_inputs():
    """For x < -3 gelu's results are tiny and ill-conditioned (a relative error of u
    grows by |2u| in ``sigmoid(2u)``: up to ~190 ulp on [-10, 10]); counted in ulps of
    ``max(|result|, 1)``, its error stays within 2 everywhere."""
    x = np.random.default_rng(7).uniform(-10.0, 10.0, N).astype(F)
    want = COMPOSITES["gelu"].meaning(x.astype(np.float64))
    got = run("gelu", x)
    err = np.abs(got - want) / np.spacing(np.maximum(np.abs(want), 1.0).astype(F))
    print(f"gelu over [-10, 10]: {N} values, max {ulps(got, want).max():.0f} ulp, "
          f"max {err.max():.2f} ulp of max(|result|, 1)")
    assert err.max() <= 2.0


PCUS = {"exp": (9, 11), "reciprocal": (10, 14), "rsqrt": (15, 17), "tanh": (28, 36),
        "sigmoid": (19, 25), "gelu": (25, 32)}


@pytest.mark.parametrize("kind", list(PCUS))
def test_placed_on_plasticine(kind):
    """Each decomposition is one kernel that the partitioner spreads over a PCU chain
    (values read across cuts fan out to the parts that read them); too long for the
    eight PCUs of small-fp (four stages each), it fits plasticine (six stages)."""
    from compiler.compile import compile_graph
    from compiler.errors import CompileError
    from hw.params import load_fabric
    g = Graph("e")
    g.output("y", getattr(g, kind)(g.input("x", (4, 64), "f32")))
    pcus, small = PCUS[kind]
    result = compile_graph(g, load_fabric("plasticine"))
    assert result.report["utilization"]["pcu"] == [pcus, 64]
    with pytest.raises(CompileError, match=rf"^needs {small} PCUs; fabric 'small-fp' has 8$"):
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


@pytest.mark.parametrize("offset,bound", [(0.0, 4.0), (10.0, 16.0)])
def test_layernorm_error(offset, bound):
    """layernorm's outputs are of order 1 (times the weight): its error is counted in
    ulps of ``max(|result|, 1)``. Rows whose mean is large against their spread lose
    digits to ``x - mean`` in f32, as in any fp32 layer norm: hence the offset rows."""
    g = Graph("l")
    x = g.input("x", (64, 37), "f32")
    g.output("y", g.layernorm(x, g.input("w", (37,), "f32"), g.input("b", (37,), "f32")))
    rng = np.random.default_rng(int(offset))
    inputs = {"x": (offset + rng.standard_normal((64, 37)) * 2).astype(F),
              "w": rng.uniform(0.5, 2.0, 37).astype(F), "b": rng.uniform(-1, 1, 37).astype(F)}
    y = run_graph(g, inputs, lanes=8)["y"]
    want = COMPOSITES["layernorm"].meaning(*(v.astype(np.float64) for v in inputs.values()))
    err = np.abs(y - want) / np.spacing(np.maximum(np.abs(want), 1.0).astype(F))
    print(f"layernorm of {offset} + N(0, 2**2), 64 rows of 37: max error {err.max():.2f} "
          f"ulp of max(|result|, 1)")
    assert err.max() <= bound
