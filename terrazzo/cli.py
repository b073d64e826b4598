"""The ``terrazzo`` command line.

The one layer above ``hw``, ``compiler`` and ``sim``. Modules that pull in Amaranth,
NumPy or cocotb are imported inside the command that needs them: importing them all up
front makes ``terrazzo --help`` take 0.4 s instead of 0.06 s.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from hw.errors import TerrazzoError
from compiler.errors import CompileError
from hw.params import ParamsError, load_fabric

__all__ = ["main", "atomic_write"]


class CliError(TerrazzoError):
    """A user-facing failure: printed as one line, exit status 1."""


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path`` so that no partial file is ever left."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise CliError(f"output directory {str(path.parent)!r} does not exist")
    mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fabric(spec):
    try:
        return load_fabric(spec)
    except ParamsError as e:
        raise CliError(str(e)) from None


def cmd_verilog(args):
    from hw.generate import generate_verilog
    p = _fabric(args.fabric)
    print(f"elaborating fabric {p.name!r} ({p.rows}x{p.cols} units, {p.lanes} lanes, "
          f"{p.stages} stages)...", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    text, summary = generate_verilog(p)
    atomic_write(args.output, text)
    print(summary.to_text())
    print(f"  wrote {args.output} ({len(text.splitlines())} lines) in "
          f"{time.monotonic() - t0:.1f} s")
    return 0


def _load_graph(path):
    from compiler.frontend import load_graph_file
    try:
        return load_graph_file(path)
    except CompileError as e:
        raise CliError(str(e)) from None


def _compile(graph, p, seed):
    from compiler.compile import compile_graph
    try:
        return compile_graph(graph, p, seed=seed)
    except CompileError as e:
        raise CliError(str(e)) from None


def cmd_compile(args):
    p = _fabric(args.fabric)
    graph = _load_graph(args.graph)
    out = Path(args.output) if args.output else Path(Path(args.graph).stem + ".tzb")
    if out.suffix != ".tzb":
        raise CliError(f"output file must end in .tzb, not {str(out)!r}")
    if out.with_suffix(".json").resolve() == Path(args.graph).resolve():
        raise CliError(f"the manifest {str(out.with_suffix('.json'))!r} would overwrite the "
                       f"input graph; give another output name with -o")
    t0 = time.monotonic()
    result = _compile(graph, p, args.seed)
    elapsed = time.monotonic() - t0
    png = None
    if args.report_png:
        from compiler.draw import draw_placement
        png = draw_placement(p, result)
    atomic_write(out, result.bitstream)
    atomic_write(out.with_suffix(".json"), result.manifest.to_json())
    if png is not None:
        atomic_write(args.report_png, png)
    if args.print_ir:
        from compiler.passes import decompose, infer
        print("# input graph\n" + graph.to_text())
        print("# after decompose\n" + infer(decompose(infer(graph))).to_text())
        print("# after fuse\n" + result.graph.to_text())
        print("# lowered: kernels, virtual PMUs, netlist\n" + result.lowered.to_text())
        print("# placement\n" + result.placement.text())
        print("# routing\n" + result.routing.text())
    print(result.report_text())
    print(f"  wrote {out} and {out.with_suffix('.json')}"
          f"{' and ' + args.report_png if png is not None else ''} in {elapsed:.2f} s")
    return 0


def _read(path):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {str(path)!r}: {e.strerror}") from None


def cmd_disasm(args):
    from compiler.disasm import disassemble
    blob = _read(args.bitstream)
    try:
        text = disassemble(blob, args.fabric)
    except CompileError as e:
        raise CliError(f"{args.bitstream}: {e}") from None
    if args.output:
        atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_asm(args):
    from compiler.disasm import assemble
    text = _read(args.text).decode("utf-8", errors="replace")
    try:
        blob = assemble(text, args.fabric)
    except CompileError as e:
        raise CliError(f"{args.text}: {e}") from None
    atomic_write(args.output, blob)
    print(f"wrote {args.output} ({len(blob) // 4} words)")
    return 0


def _load_program(path, manifest_path=None):
    from compiler.manifest import Manifest, ManifestError
    blob = _read(path)
    mpath = Path(manifest_path) if manifest_path else Path(path).with_suffix(".json")
    if not mpath.exists():
        raise CliError(f"manifest {str(mpath)!r} not found (terrazzo compile writes it beside "
                       f"the bitstream; or give --manifest)")
    try:
        manifest = Manifest.from_json(_read(mpath), source=str(mpath))
    except ManifestError as e:
        raise CliError(str(e)) from None
    return blob, manifest


def _load_inputs(path):
    import numpy as np
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise CliError(f"no such inputs file: {str(path)!r}") from None
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read inputs {str(path)!r} as .npz: {e}") from None


def cmd_run(args):
    import io
    import numpy as np
    from sim.execute import RunError, compare, golden_outputs, run_program
    from sim.job import check_probability
    from sim.runner import SimulationError
    blob, manifest = _load_program(args.bitstream, args.manifest)
    tensors = _load_inputs(args.inputs) if args.inputs else {}
    out = Path(args.output) if args.output else Path(args.bitstream).with_suffix(".out.npz")
    if out.suffix != ".npz":
        raise CliError(f"output file must end in .npz, not {str(out)!r}")
    for name, value in (("--backpressure", args.backpressure), ("--idle", args.idle)):
        check_probability(name, value)
    print(f"running {args.bitstream} ({manifest.graph}, fabric {manifest.fabric_name}) "
          f"on {args.sim}", file=sys.stderr, flush=True)
    try:
        run = run_program(blob, manifest, tensors, fabric=args.fabric, sim=args.sim,
                          idle=args.idle, backpressure=args.backpressure, seed=args.seed,
                          wave=args.wave, build_root=args.build_dir,
                          max_cycles=args.max_cycles, bitstream_name=args.bitstream,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
    except RunError as e:
        raise CliError(str(e)) from None
    except SimulationError as e:
        raise CliError(f"simulation failed: {e}") from None
    buf = io.BytesIO()
    np.savez(buf, **run.outputs)
    atomic_write(out, buf.getvalue())
    print(f"cycles {run.cycles}, ideal {run.ideal_cycles}, utilization "
          f"{100 * run.utilization:.1f} %, simulated at {run.sim_cycles_per_second:,.0f} "
          f"cycles/s")
    print(f"wrote {out}" + (f" and {args.wave}" if args.wave else ""))
    if args.check:
        try:
            want = golden_outputs(manifest, tensors)
        except RunError as e:
            raise CliError(str(e)) from None
        bad = compare(want, run.outputs)
        if bad:
            for m in bad:
                print(f"MISMATCH {m}", file=sys.stderr)
            return 2
        print(f"check: all {len(want)} output{'s' if len(want) != 1 else ''} equal the "
              f"golden model")
    return 0


def cmd_bitstreams(args):
    from .suite import write_suite
    written = write_suite(args.out, atomic_write)
    print(f"wrote {len(written)} files under {args.out}/")
    return 0


def cmd_demo(args):
    from .demo import run_demo
    return run_demo(sim=args.sim, fabric=args.fabric, build_root=args.build_dir,
                    kernels=args.kernels)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="terrazzo",
        description="Generate reconfigurable dataflow fabrics and compile programs for them.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    v = sub.add_parser("verilog", help="write the Verilog of a fabric and print a summary")
    v.add_argument("--fabric", default="small",
                   help="preset (tiny, small, plasticine) or a .toml file (default: small)")
    v.add_argument("-o", "--output", required=True, help="Verilog file to write")
    v.set_defaults(func=cmd_verilog)

    c = sub.add_parser("compile", help="compile a pattern graph (.json or .py) to a bitstream")
    c.add_argument("graph", help="GRAPH.json, or GRAPH.py defining `graph` or `build()`")
    c.add_argument("--fabric", default="small", help="preset or .toml file (default: small)")
    c.add_argument("-o", "--output", help="bitstream file OUT.tzb (manifest: OUT.json)")
    c.add_argument("--seed", type=int, default=0, help="placement seed (default: 0)")
    c.add_argument("--report-png", metavar="PNG", help="draw placement and routes to PNG")
    c.add_argument("--print-ir", action="store_true",
                   help="print the text IR after each pass, the placement and the routes")
    c.set_defaults(func=cmd_compile)

    d = sub.add_parser("disasm", help="print every field of a bitstream by name")
    d.add_argument("bitstream")
    d.add_argument("--fabric", help="fabric preset or .toml (default: found from the hash)")
    d.add_argument("-o", "--output", help="write the text here instead of stdout")
    d.set_defaults(func=cmd_disasm)

    a = sub.add_parser("asm", help="turn disasm text back into a bitstream")
    a.add_argument("text")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--fabric", help="fabric preset or .toml (default: found from the hash)")
    a.set_defaults(func=cmd_asm)

    r = sub.add_parser("run", help="simulate a bitstream on inputs (and --check it)")
    r.add_argument("bitstream", help="OUT.tzb (its manifest OUT.json beside it)")
    r.add_argument("--inputs", help=".npz with one array per input tensor")
    r.add_argument("--manifest", help="manifest (default: the bitstream's .json)")
    r.add_argument("-o", "--output", help="outputs .npz (default: OUT.out.npz)")
    r.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    r.add_argument("--fabric", help="fabric preset or .toml (default: from the hash)")
    r.add_argument("--wave", help="record waves to this .fst or .vcd file")
    r.add_argument("--backpressure", type=float, default=0.0,
                   help="probability an output is not ready in a cycle (default 0)")
    r.add_argument("--idle", type=float, default=0.0,
                   help="probability an input idles in a cycle (default 0)")
    r.add_argument("--seed", type=int, default=0, help="seed of the idle/backpressure pattern")
    r.add_argument("--max-cycles", type=int, metavar="N",
                   help="simulate at most N cycles before giving up (default 1000000)")
    r.add_argument("--check", action="store_true",
                   help="compare with the golden model; exit 2 on any mismatch")
    r.add_argument("--build-dir", default="build", help="simulator build cache (default build)")
    r.set_defaults(func=cmd_run)

    m = sub.add_parser("demo", help="compile kernels, simulate them and check them")
    m.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    m.add_argument("--fabric", default="small")
    m.add_argument("--build-dir", default="build")
    m.add_argument("kernels", nargs="*", help="kernels to run (default: the whole suite)")
    m.set_defaults(func=cmd_demo)

    b = sub.add_parser("bitstreams", help="compile the kernel suite for the preset fabrics")
    b.add_argument("--out", default="bitstreams", help="folder (default: bitstreams)")
    b.set_defaults(func=cmd_bitstreams)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TerrazzoError as e:
        # every user-facing failure of every layer: one line, exit status 1
        print(f"terrazzo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("terrazzo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): nothing left to say
        sys.stderr.close()
        return 0
