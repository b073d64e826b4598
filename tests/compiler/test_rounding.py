"""Stochastic rounding in the golden model: the LFSR, and the statistics that make it
worth having (hardware and golden model agree bit for bit in tests/e2e)."""

import numpy as np

from compiler.ir import Graph
from hw.ops import SR_TAPS, sr_bits, sr_seed, sr_step
from sim.golden import run_graph


def test_lfsr_has_full_period_and_distinct_lanes():
    state, seen = sr_seed(0, 0), set()
    for _ in range(1 << 16):
        seen.add(int(state))
        state = int(sr_step(state))
    assert len(seen) == (1 << 16) - 1 and 0 not in seen and SR_TAPS == 0xB400
    bits = sr_bits(64, 8)
    assert len({tuple(bits[:, lane]) for lane in range(8)}) == 8


def test_stochastic_rounding_is_unbiased_where_nearest_even_is_not():
    n = 1 << 14
    g = Graph("sr")
    x = g.input("x", (n,), "f32")
    g.output("sr", g.cast(x, "bf16", "sr"))
    g.output("rne", g.cast(x, "bf16"))
    rows = []
    for value in (1.0 + 2.0 ** -10, -3.0 - 2.0 ** -9, 1e-3 * (1 + 2.0 ** -11)):
        v = np.full(n, value, np.float32)
        out = run_graph(g, {"x": v}, lanes=8)
        ulp = float(np.spacing(out["rne"][0].astype(np.float32)) * 2 ** 16)  # a bf16 ulp
        err = {k: float(np.mean(out[k].astype(np.float64) - v.astype(np.float64))) / ulp
               for k in ("sr", "rne")}
        rows.append((value, err["sr"], err["rne"]))
        print(f"x = {value!r}: mean error over {n} conversions, in bf16 ulps: "
              f"stochastic {err['sr']:+.4f}, nearest even {err['rne']:+.4f}")
        assert abs(err["sr"]) < 0.01 and abs(err["rne"]) > 0.1


def test_pure_bf16_logreg_trains_with_sr_or_kahan_and_stalls_without(monkeypatch):
    """examples/bf16/logreg.py, shortened: with the weights in bf16, round-to-nearest
    loses the small updates, stochastic rounding and Kahan-compensated updates follow
    fp32 training."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "examples" / "bf16" / "logreg.py"
    spec = importlib.util.spec_from_file_location("logreg", path)
    logreg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(logreg)
    monkeypatch.setattr(logreg, "STEPS", 200)
    monkeypatch.setattr(logreg, "CHECKPOINTS", (200,))
    x, y = logreg.data()
    w32, (loss32,), _ = logreg.train("f32", x, y)
    wrne, (lossrne,), _ = logreg.train("bf16-rne", x, y)
    wsr, (losssr,), _ = logreg.train("bf16-sr", x, y)
    wk, (lossk,), _ = logreg.train("bf16-kahan", x, y)
    print(f"loss after 200 steps: f32 {loss32:.4f}, bf16 nearest even {lossrne:.4f}, "
          f"bf16 stochastic {losssr:.4f}, bf16 Kahan {lossk:.4f}")
    for w, loss in ((wsr, losssr), (wk, lossk)):
        assert np.abs(w - w32).max() < np.abs(wrne - w32).max() / 3
        assert abs(loss - loss32) < abs(lossrne - loss32) / 3
