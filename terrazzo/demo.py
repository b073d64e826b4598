"""``terrazzo demo``: compile the kernel suite, simulate each kernel on the generated
fabric, check it against the golden model and print a table."""

import sys
import time

import numpy as np

from compiler.compile import compile_graph
from compiler.errors import CompileError
from hw.params import load_fabric
from sim.execute import RunError, compare, golden_outputs, run_program
from sim.runner import Runner, SimulationError

from .kernels import KERNELS, load

__all__ = ["run_demo"]


def run_demo(*, sim="verilator", fabric="small", build_root="build", kernels=(), out=sys.stdout):
    p = load_fabric(fabric)
    names = list(kernels) or list(KERNELS)
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        print(f"terrazzo: error: unknown kernel {unknown[0]!r} (known: "
              f"{', '.join(KERNELS)})", file=sys.stderr)
        return 1
    t0 = time.monotonic()
    print(f"building the {p.name} fabric for {sim} (cached under {build_root}/ after the "
          f"first time)...", file=out, flush=True)
    Runner(p, sim, build_root).build()
    print(f"  ready in {time.monotonic() - t0:.0f} s", file=out, flush=True)
    header = f"{'kernel':<12} {'size':<22} {'PCU':>3} {'PMU':>3} {'cycles':>8} {'ideal':>8} " \
             f"{'util':>6}  result"
    print(header, file=out)
    print("-" * len(header), file=out)
    failures = skipped = 0
    for name in names:
        mod = load(name)
        size = mod.SIZES["default"]
        label = ",".join(f"{k}={v}" for k, v in size.items())
        try:
            result = compile_graph(mod.build(**size), p)
        except CompileError as e:
            skipped += 1
            print(f"{name:<12} {label:<22} SKIP: does not fit {p.name}: {e}", file=out, flush=True)
            continue
        try:
            tensors = mod.inputs(np.random.default_rng(7), **size)
            run = run_program(result.bitstream, result.manifest, tensors, sim=sim,
                              build_root=build_root)
            bad = compare(golden_outputs(result.manifest, tensors), run.outputs)
        except (RunError, SimulationError) as e:
            failures += 1
            print(f"{name:<12} {label:<22} FAIL: {e}", file=out, flush=True)
            continue
        status = "PASS" if not bad else f"FAIL: {bad[0]}"
        failures += bool(bad)
        rep = result.manifest.report["utilization"]
        print(f"{name:<12} {label:<22} {rep['pcu'][0]:>3} {rep['pmu'][0]:>3} {run.cycles:>8} "
              f"{run.ideal_cycles:>8} {100 * run.utilization:>5.1f}%  {status}",
              file=out, flush=True)
    ran = len(names) - skipped
    print(f"{ran - failures} of {ran} kernels match the golden model"
          f"{f' ({skipped} do not fit {p.name})' if skipped else ''} "
          f"({time.monotonic() - t0:.0f} s)", file=out)
    return 1 if failures else 0
