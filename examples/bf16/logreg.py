"""Logistic regression trained in pure bf16 (the Plasticine LogReg benchmark), in the
golden model: what rounding does to training.

One full-batch gradient step is one Terrazzo graph::

    logits = X @ w            (bf16 X and w, exact products, fp32 sums)
    p      = sigmoid(logits)  (f32; compiler/special.py)
    grad   = sum over n of X[n, :] * (p - y)[n] / N      (a reduction down the columns)
    w'     = cast(w - lr * grad, "bf16", rounding)        (or kept in f32)

With the weights held in bf16, an update smaller than half a bf16 ulp of the weight
is lost under round-to-nearest-even, so training stalls; stochastic rounding keeps
each update in expectation and trains as fp32 does. The loop runs the graph in the
golden model (``sim.golden.run_graph``), which is bit-exact with the fabric. With
``--fabric``, the update kernel alone (``update_graph``) runs on the simulated
``small-fp`` fabric, and a few whole steps of a smaller problem (``FABRIC_N`` x
``FABRIC_D``) on ``examples/fabrics/fp-functions.toml`` (sigmoid alone takes 19 PCUs),
each step's weights fed to the next: every output must equal the golden model.

    python examples/bf16/logreg.py             # the table (docs/bf16-training.md)
    python examples/bf16/logreg.py --fabric    # and the runs on the simulated fabric
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from compiler.ir import Graph                       # noqa: E402
from sim.golden import run_graph                    # noqa: E402

N, D, LANES = 1024, 16, 8
LR, STEPS = 0.5, 600
#: the problem whose whole steps run on the simulated fabric, and how many
FABRIC_N, FABRIC_D, FABRIC_STEPS = 64, 8, 3
FP_FABRIC = Path(__file__).resolve().parents[1] / "fabrics" / "fp-functions.toml"


def data(seed=0):
    """A separable-ish synthetic set: features ~ N(0, 1) in bf16, labels from a
    logistic model with weights ~ N(0, 1) plus an offset feature."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(np.float32)
    x[:, 0] = 1.0
    true_w = rng.standard_normal(D).astype(np.float32)
    p = 1 / (1 + np.exp(-(x.astype(np.float64) @ true_w)))
    y = (rng.random(N) < p).astype(np.float32)
    return x, y


def step_graph(weights, n=None, d=None):
    """One gradient step over ``n`` samples of ``d`` features (default ``N``, ``D``);
    ``weights`` is "f32", "bf16-rne", "bf16-sr" or "bf16-kahan" (nearest even, with a
    bf16 compensation ``c`` per weight: an input and an output of the step)."""
    n, d = n or N, d or D
    wdt = "f32" if weights == "f32" else "bf16"
    g = Graph(f"logreg_{weights.replace('-', '_')}")
    x = g.input("X", (n, d), "bf16")
    y = g.input("y", (n,), "f32")
    w = g.input("w", (d,), wdt)
    xf = g.cast(x, "f32")
    wf = g.cast(w, "f32") if wdt == "bf16" else w
    p = g.sigmoid(g.gemv(xf, wf))
    err = g.broadcast_to(g.view(p - y, (n, 1)), (n, d))
    grad = g.reduce("add", xf * err, axis=0)
    if weights == "bf16-kahan":
        # compensated update: u = step + c; w' = rne(w + u); c' = rne(u - (w' - w)),
        # where w' - w is exact in f32, so c' keeps what the rounding of w' dropped
        c = g.input("c", (d,), "bf16")
        u = g.cast(c, "f32") - grad * (LR / n)
        new = g.cast(wf + u, "bf16")
        g.output("c", g.cast(u - (g.cast(new, "f32") - wf), "bf16"))
    else:
        new = wf - grad * (LR / n)
        if wdt == "bf16":
            new = g.cast(new, "bf16", "sr" if weights.endswith("sr") else "rne")
    g.output("w", new)
    g.output("loss_terms", p)
    return g


def update_graph(rounding, d=D * 64):
    """The weight update alone, ``cast(w - scale * grad, bf16, rounding)``: what runs
    on the simulated fabric."""
    g = Graph(f"update_{rounding}")
    w = g.input("w", (d,), "bf16")
    grad = g.input("grad", (d,), "f32")
    g.output("w", g.cast(g.cast(w, "f32") - grad * (LR / N), "bf16", rounding))
    return g


CHECKPOINTS = (50, 200, STEPS)


def _loss(p, y):
    p = p.astype(np.float64)
    return float(-np.mean(y * np.log(np.maximum(p, 1e-30)) +
                          (1 - y) * np.log(np.maximum(1 - p, 1e-30))))


def train(weights, x, y):
    """``STEPS`` steps from zero weights: the weights, the loss at each checkpoint (of
    the weights before that step) and the final accuracy."""
    g = step_graph(weights)
    w = np.zeros(D, np.float32)
    state = {"c": np.zeros(D, np.float32)} if weights == "bf16-kahan" else {}
    losses = []
    for k in range(1, STEPS + 1):
        # a new seed each step, as a training loop re-seeds the update; spread over 16
        # bits, since the first bits a lane draws are its seed (xor a lane constant)
        out = run_graph(g, {"X": x, "y": y, "w": w, **state}, lanes=LANES,
                        sr_seed=(k * 40503) & 0xFFFF)
        w = out["w"]
        state = {name: out[name] for name in state}
        if k in CHECKPOINTS:
            losses.append(_loss(out["loss_terms"], y))
    acc = np.mean((x.astype(np.float64) @ w.astype(np.float64) > 0) == (y > 0.5))
    return w, losses, acc


def table():
    x, y = data()
    xb = x.astype(np.float32)
    rows = []
    ref = None
    for weights in ("f32", "bf16-rne", "bf16-sr", "bf16-kahan"):
        w, losses, acc = train(weights, xb, y)
        ref = w if ref is None else ref
        moved = float(np.abs(w).sum())
        rows.append((weights, *(f"{v:.4f}" for v in losses), f"{100 * acc:.1f} %",
                     f"{moved:.3f}", f"{float(np.abs(w - ref).max()):.4f}"))
    head = ("weights", *(f"loss @{k}" for k in CHECKPOINTS), "accuracy", "sum |w|",
            "max |w - w_f32|")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print(f"logistic regression, N = {N}, D = {D}, lr = {LR}, {STEPS} full-batch steps, "
          f"golden model with {LANES} lanes")
    for r in [head, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    return rows


def on_fabric():
    """The update kernel on the simulated small-fp fabric, both roundings, and
    ``FABRIC_STEPS`` whole steps on the fp-functions fabric, against the golden model;
    0 if every output is equal."""
    from compiler.compile import compile_graph
    from hw.params import load_fabric
    from sim.execute import compare, golden_outputs, run_program
    rng = np.random.default_rng(1)
    p = load_fabric("small-fp")
    for rounding, sr_seed in (("rne", 0), ("sr", 1), ("sr", 2)):
        r = compile_graph(update_graph(rounding), p, sr_seed=sr_seed)
        t = {"w": rng.standard_normal(D * 64).astype(np.float32),
             "grad": rng.standard_normal(D * 64).astype(np.float32)}
        run = run_program(r.bitstream, r.manifest, t, testbench="harness")
        bad = compare(golden_outputs(r.manifest, t), run.outputs)
        print(f"update ({rounding}, seed {sr_seed}) on small-fp: {run.cycles} cycles, "
              f"{'equal to the golden model' if not bad else bad[0]}")
        if bad:
            return 1
    return 0 if fabric_steps() else 1


def fabric_steps(sim="verilator", testbench="harness", steps=None):
    """``steps`` (default ``FABRIC_STEPS``) whole bf16-sr gradient steps of a
    ``FABRIC_N`` x ``FABRIC_D`` problem on the simulated fp-functions fabric, the
    weights of each step fed to the next, the seed changing each step; True if every
    output of every step equals the golden model's."""
    from compiler.compile import compile_graph
    from hw.params import load_fabric
    from sim.execute import compare, golden_outputs, run_program
    fabric = load_fabric(FP_FABRIC)
    x, y = data()
    x, y = x[:FABRIC_N, :FABRIC_D], y[:FABRIC_N]
    w = np.zeros(FABRIC_D, np.float32)
    graph = step_graph("bf16-sr", FABRIC_N, FABRIC_D)
    for k in range(1, (steps or FABRIC_STEPS) + 1):
        r = compile_graph(graph, fabric, sr_seed=(k * 40503) & 0xFFFF)
        t = {"X": x, "y": y, "w": w}
        run = run_program(r.bitstream, r.manifest, t, fabric=fabric, sim=sim,
                          testbench=testbench)
        want = golden_outputs(r.manifest, t)
        bad = compare(want, run.outputs)
        used = r.report["utilization"]["pcu"][0]
        print(f"step {k} (bf16-sr, {FABRIC_N}x{FABRIC_D}) on fp-functions ({sim}), "
              f"{used} PCUs: {run.cycles} cycles, "
              f"loss {_loss(run.outputs['loss_terms'], y):.4f}, "
              f"{'equal to the golden model' if not bad else bad[0]}")
        if bad:
            return False
        w = run.outputs["w"]
    return True


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fabric", action="store_true",
                    help="also run the update kernel and a few whole steps on simulated "
                         "fabrics")
    args = ap.parse_args()
    table()
    sys.exit(on_fabric() if args.fabric else 0)
