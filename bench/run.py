"""Terrazzo benchmarks: ``make bench`` (or ``python bench/run.py [SECTION ...]``).

Sections: ``verilog`` (generation time and peak memory per preset), ``compile``
(every suite kernel on small; synthetic graphs on plasticine), ``sim`` (Verilator build
time of small, cycles vs ideal and simulation speed per kernel, size and simulator).
Figures are measured on this machine when run; nothing here is a pass/fail test.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def child(code):
    """Run ``code`` in a fresh Python; returns (its JSON output, wall s, peak RSS MiB)."""
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    wall = time.monotonic() - t0
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, peak


def table(title, header, rows):
    print(f"\n## {title}\n")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt.format(*row))
    sys.stdout.flush()


def bench_verilog():
    rows = []
    for preset in ("tiny", "small", "plasticine"):
        # peak RSS of children is a running maximum: measure each preset in its own
        # grandchild so the figure is that preset's own
        code = (f"import json, resource, subprocess, sys, time; t=time.monotonic(); "
                f"subprocess.run([sys.executable, '-c', 'from hw.params import load_fabric; "
                f"from hw.generate import generate_verilog; v, s = generate_verilog("
                f"load_fabric(\"{preset}\")); print(len(v.splitlines()), s.flip_flops)'], "
                f"check=True, capture_output=True); "
                f"print(json.dumps([time.monotonic()-t, "
                f"resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))")
        (wall, peak), _, _ = child(code)
        target = "< 120 s, < 4096 MiB" if preset == "plasticine" else ""
        rows.append((preset, f"{wall:.1f}", f"{peak:.0f}", target))
    table("Verilog generation (terrazzo verilog)", ("fabric", "seconds", "peak MiB", "target"),
          rows)


def bench_compile():
    from terrazzo import kernels
    rows = []
    for name in kernels.KERNELS:
        code = (f"import json, time, resource; from compiler.compile import compile_graph; "
                f"from hw.params import load_fabric; from terrazzo import kernels; "
                f"m = kernels.load('{name}'); "
                f"g = m.build(**m.SIZES['default']); t = time.monotonic(); "
                f"r = compile_graph(g, load_fabric('small')); "
                f"print(json.dumps([time.monotonic() - t, "
                f"resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "
                f"r.placement.wirelength, r.routing.iterations, len(r.bitstream) // 4]))")
        (secs, peak, wl, iters, words), _, _ = child(code)
        rows.append((name, f"{secs:.2f}", f"{peak:.0f}", wl, iters, words))
    table("Compile time on small (target < 2 s each)",
          ("kernel", "seconds", "peak MiB", "wirelength", "route iters", "words"), rows)

    rows = []
    for nodes in (100, 500, 2000):
        code = (f"import json, time, resource; from bench.synthetic import synthetic_graph; "
                f"from compiler.compile import compile_graph; from compiler.errors import "
                f"CompileError; from hw.params import load_fabric; "
                f"g = synthetic_graph({nodes}); t = time.monotonic(); out = {{}}\n"
                f"try:\n r = compile_graph(g, load_fabric('plasticine')); out = dict(pcus=len("
                f"r.lowered.pcus), pmus=len(r.lowered.pmus), wl=r.placement.wirelength, "
                f"iters=r.routing.iterations, result='compiled')\n"
                f"except CompileError as e:\n out = dict(result='refused: ' + str(e)[:70])\n"
                f"out.update(secs=time.monotonic() - t, nodes=len(g.nodes), peak=resource."
                f"getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\nprint(json.dumps(out))")
        out, _, _ = child(code)
        rows.append((nodes, out["nodes"], f"{out['secs']:.2f}", f"{out['peak']:.0f}",
                     out.get("pcus", "-"), out.get("pmus", "-"), out.get("wl", "-"),
                     out.get("iters", "-"), out["result"]))
    table("Synthetic graphs on plasticine (target: 2,000 nodes < 60 s)",
          ("target nodes", "nodes", "seconds", "peak MiB", "PCUs", "PMUs", "wirelength",
           "route iters", "result"), rows)


def bench_sim():
    import numpy as np
    from compiler.compile import compile_graph
    from hw.params import load_fabric
    from sim.execute import compare, golden_outputs, run_program
    from sim.runner import Runner
    from terrazzo import kernels

    p = load_fabric("small")
    with tempfile.TemporaryDirectory(prefix="terrazzo-bench-") as tmp:
        t0 = time.monotonic()
        Runner(p, "verilator", tmp).build()
        fresh = time.monotonic() - t0
    table("Verilator build of small (fresh, Verilog generation included)",
          ("fabric", "seconds"), [("small", f"{fresh:.0f}")])

    rows = []
    for name in kernels.KERNELS:
        mod = kernels.load(name)
        for size_name in ("small", "default"):
            size = mod.SIZES[size_name]
            label = ",".join(f"{k}={v}" for k, v in size.items())
            result = compile_graph(mod.build(**size), p)
            tensors = mod.inputs(np.random.default_rng(3), **size)
            want = golden_outputs(result.manifest, tensors)
            row = [name, label]
            for sim in ("verilator", "icarus"):
                run = run_program(result.bitstream, result.manifest, tensors, sim=sim)
                ok = not compare(want, run.outputs)
                if sim == "verilator":
                    row += [run.cycles, run.ideal_cycles, f"{100 * run.utilization:.1f}%"]
                row += [f"{run.sim_cycles_per_second:,.0f}" + ("" if ok else " MISMATCH")]
            rows.append(row)
            print(" ", " ".join(map(str, row)), flush=True)
    table("Kernels on small: cycles vs ideal, simulation speed (cycles/s)",
          ("kernel", "size", "cycles", "ideal", "of ideal", "verilator c/s", "icarus c/s"),
          rows)


SECTIONS = {"verilog": bench_verilog, "compile": bench_compile, "sim": bench_sim}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help=f"any of {', '.join(SECTIONS)} (default: all)")
    args = parser.parse_args()
    for name in args.sections:
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r} (known: {', '.join(SECTIONS)})")
    os.chdir(ROOT)
    print(f"# Terrazzo benchmarks ({os.cpu_count()} cores)")
    for name in args.sections or SECTIONS:
        SECTIONS[name]()


if __name__ == "__main__":
    main()
