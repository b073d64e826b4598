"""The ``terrazzo`` command line.

The one layer above ``hw``, ``compiler`` and ``sim``. Modules that pull in Amaranth,
NumPy or cocotb are imported inside the command that needs them: importing them all up
front makes ``terrazzo --help`` take 0.4 s instead of 0.06 s.
"""

import argparse
import sys
import time
from pathlib import Path

from hw.errors import TerrazzoError, printable
from compiler.errors import CompileError
from hw.params import PRESETS, ParamsError, load_fabric

from . import outputs
from .errors import CliError
from .inputs import load_inputs, load_program, manifest_path, read_bytes
from .outputs import STDOUT, Input, Output

__all__ = ["main", "CliError"]


def _fabric_input(spec):
    """The fabric ``.toml`` a command reads, as an input no output may replace."""
    return Input(None if spec is None or spec in PRESETS else spec, "fabric file")


def _suffix(path, suffix):
    if Path(path).suffix != suffix:
        raise CliError(f"output file must end in {suffix}, not {str(path)!r}")


def _fabric(spec):
    try:
        return load_fabric(spec)
    except ParamsError as e:
        raise CliError(str(e)) from None


def _given_fabric(spec):
    """The fabric of a --fabric that may be left out (None: the bitstream's hash picks
    it), loaded before any other work so that a bad one is the first error."""
    return None if spec is None else _fabric(spec)


def cmd_verilog(args):
    from hw.generate import generate_verilog
    p = _fabric(args.fabric)
    out = Output(args.output, outputs.VERILOG)
    outputs.check([out], [_fabric_input(args.fabric)])
    print(f"elaborating fabric {p.name!r} ({p.rows}x{p.cols} units, {p.lanes} lanes, "
          f"{p.stages} stages)...", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    text, summary = generate_verilog(p)
    outputs.write([(out, text)])
    report = sys.stderr if out.path == STDOUT else sys.stdout   # keep stdout pure Verilog
    print(summary.to_text(), file=report)
    print(f"  wrote {args.output} ({len(text.splitlines())} lines) in "
          f"{time.monotonic() - t0:.1f} s", file=report)
    return 0


def _load_graph(path):
    from compiler.frontend import load_graph_file
    try:
        return load_graph_file(path)
    except CompileError as e:
        raise CliError(str(e)) from None


def _compile(graph, p, seed, sr_seed=0):
    import warnings
    from compiler.compile import compile_graph
    from compiler.deadnodes import DeadNodeWarning
    try:
        # sections are compiled one by one: say so as they go (on standard error, so
        # that standard output stays the report)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeadNodeWarning)
            result = compile_graph(graph, p, seed=seed, sr_seed=sr_seed,
                                   progress=lambda line: print(line, file=sys.stderr,
                                                               flush=True))
    except CompileError as e:
        raise CliError(str(e)) from None
    for w in caught:
        if issubclass(w.category, DeadNodeWarning):
            print(f"terrazzo: warning: {printable(str(w.message))}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def cmd_compile(args):
    p = _fabric(args.fabric)
    graph = _load_graph(args.graph)
    out = Path(args.output) if args.output else Path(Path(args.graph).stem + ".tzb")
    _suffix(out, ".tzb")
    if args.report_png == STDOUT:
        raise CliError("--report-png cannot be '-': compile prints its report on standard "
                       "output; give a file name")
    files = [Output(str(out), outputs.BITSTREAM), Output(str(out.with_suffix(".json")),
                                                         outputs.MANIFEST)]
    if args.report_png:
        files.append(Output(args.report_png, outputs.PNG, "--report-png"))
    outputs.check(files, [Input(args.graph, "input graph"), _fabric_input(args.fabric)])
    t0 = time.monotonic()
    result = _compile(graph, p, args.seed, args.sr_seed)
    elapsed = time.monotonic() - t0
    data = [result.bitstream, result.manifest.to_json()]
    if args.report_png:
        from compiler.draw import draw_placement
        data.append(draw_placement(p, result))
    outputs.write(zip(files, data))
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
          f"{' and ' + args.report_png if args.report_png else ''} in {elapsed:.2f} s")
    return 0


def cmd_disasm(args):
    from compiler.disasm import disassemble
    fabric = _given_fabric(args.fabric)
    blob = read_bytes(args.bitstream)
    out = Output(args.output or STDOUT, outputs.DISASSEMBLY)
    outputs.check([out], [Input(args.bitstream, "input bitstream"),
                          _fabric_input(args.fabric)])
    try:
        text = disassemble(blob, fabric)
    except CompileError as e:
        raise CliError(f"{printable(args.bitstream)}: {e}") from None
    outputs.write([(out, text)])
    return 0


def cmd_asm(args):
    from compiler.disasm import assemble
    fabric = _given_fabric(args.fabric)
    text = read_bytes(args.text).decode("utf-8", errors="replace")
    if args.output != STDOUT:
        _suffix(args.output, ".tzb")
    out = Output(args.output, outputs.BITSTREAM)
    outputs.check([out], [Input(args.text, "input text"), _fabric_input(args.fabric)])
    try:
        blob = assemble(text, fabric)
    except CompileError as e:
        raise CliError(f"{printable(args.text)}: {e}") from None
    outputs.write([(out, blob)])
    print(f"wrote {args.output} ({len(blob) // 4} words)",
          file=sys.stderr if out.path == STDOUT else sys.stdout)
    return 0


def _check_run_outputs(args, out):
    """Refuse, before any simulation, outputs of ``run`` that could not be written or
    would replace a file; the wave file is the simulator's to write, so only checked."""
    _suffix(out, ".npz")
    files = [Output(str(out), outputs.NPZ)]
    if args.wave is not None:
        if Path(args.wave).suffix not in (".fst", ".vcd"):
            raise CliError(f"wave file must end in .fst or .vcd, not {args.wave!r}")
        # the simulator makes the wave file's folder when missing
        files.append(Output(args.wave, outputs.WAVE, "--wave", makes_folders=True))
    outputs.check(files, [Input(args.bitstream, "input bitstream"),
                          Input(str(manifest_path(args.bitstream, args.manifest)), "manifest"),
                          Input(args.inputs, "inputs"), _fabric_input(args.fabric)])


def cmd_run(args):
    import io
    import numpy as np
    from sim.execute import RunError, compare, golden_outputs, run_program
    from sim.job import check_probability, check_seed
    from sim.runner import SimulationError
    # the knobs first: a bad one must not wait for files to load or a model to build
    for name, value in (("--backpressure", args.backpressure), ("--idle", args.idle)):
        check_probability(name, value)
    check_seed("--seed", args.seed)
    fabric = _given_fabric(args.fabric)
    blob, manifest = load_program(args.bitstream, args.manifest)
    tensors = load_inputs(args.inputs) if args.inputs else {}
    out = Path(args.output) if args.output else Path(args.bitstream).with_suffix(".out.npz")
    _check_run_outputs(args, out)
    testbench = args.testbench or ("harness" if args.sim == "verilator"
                                   and args.wave is None else "cocotb")
    where = args.device or f"{args.sim} ({testbench})"
    header = (f"running {printable(args.bitstream)} ({printable(manifest.graph)}, fabric "
              f"{printable(manifest.fabric_name)}) on {printable(where)}")

    started = False

    def progress(line):
        # run_program reports progress only once every check has passed, so a refused
        # program prints its one error line and not this header
        nonlocal started
        if not started:
            print(header, file=sys.stderr, flush=True)
            started = True
        print(line, file=sys.stderr, flush=True)

    try:
        if args.device is not None:
            from sim.device import run_on_device
            run = run_on_device(blob, manifest, tensors, args.device, fabric=fabric,
                                baud=args.baud, bitstream_name=args.bitstream,
                                progress=progress)
        else:
            run = run_program(blob, manifest, tensors, fabric=fabric, sim=args.sim,
                              idle=args.idle, backpressure=args.backpressure, seed=args.seed,
                              wave=args.wave, build_root=args.build_dir,
                              max_cycles=args.max_cycles, bitstream_name=args.bitstream,
                              progress=progress, testbench=testbench,
                              live_progress=sys.stderr.isatty(),
                              dram_latency=args.dram_latency)
    except RunError as e:
        raise CliError(str(e)) from None
    except SimulationError as e:
        raise CliError(f"simulation failed: {e}") from None
    buf = io.BytesIO()
    np.savez(buf, **run.outputs)
    outputs.write([(Output(str(out), outputs.NPZ), buf.getvalue())])
    print(f"cycles {run.cycles}, ideal {run.ideal_cycles}, utilization "
          f"{100 * run.utilization:.1f} %, simulated at {run.sim_cycles_per_second:,.0f} "
          f"cycles/s")
    if len(run.sections) > 1:
        for k, sec in enumerate(run.sections):
            print(f"  section {k}: cycles {sec.cycles}, ideal {sec.ideal_cycles}, "
                  f"utilization {100 * sec.utilization:.1f} %")
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
    outputs.check_folder(args.out, "--out")
    written = write_suite(args.out)
    print(f"wrote {len(written)} files under {args.out}/")
    return 0


def cmd_fpga(args):
    from .fpga import build_fpga, report_text
    p = _fabric(args.fabric)
    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise CliError(f"-o {printable(args.output)!r} exists and is not a folder")
    report = build_fpga(args.board, p, args.output, synth_only=args.synth_only,
                        system_tools=args.system_tools, baud=args.baud)
    print(report_text(report), end="")
    print(f"wrote {args.output}/report.json and {args.output}/report.txt")
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
                   help="preset (tiny, small, small-fp, plasticine) or a .toml file (default: small)")
    v.add_argument("-o", "--output", required=True, help="Verilog file to write")
    v.set_defaults(func=cmd_verilog)

    c = sub.add_parser("compile", help="compile a pattern graph (.json or .py) to a bitstream")
    c.add_argument("graph", help="GRAPH.json, or GRAPH.py defining `graph` or `build()`")
    c.add_argument("--fabric", default="small", help="preset or .toml file (default: small)")
    c.add_argument("-o", "--output", help="bitstream file OUT.tzb (manifest: OUT.json)")
    c.add_argument("--seed", type=int, default=0, help="placement seed (default: 0)")
    c.add_argument("--sr-seed", type=int, default=0,
                   help="seed of the stochastic-rounding LFSRs, 0..65535 (default: 0)")
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
    r.add_argument("--testbench", choices=["harness", "cocotb"],
                   help="harness: the C++ harness (Verilator without waves, the default "
                        "there); cocotb: the cocotb testbench (the default for Icarus "
                        "and --wave)")
    r.add_argument("--backpressure", type=float, default=0.0,
                   help="probability an output is not ready in a cycle (default 0)")
    r.add_argument("--idle", type=float, default=0.0,
                   help="probability an input idles in a cycle (default 0)")
    r.add_argument("--seed", type=int, default=0, help="seed of the idle/backpressure pattern")
    r.add_argument("--max-cycles", type=int, metavar="N",
                   help="simulate at most N cycles before giving up (default 1000000)")
    r.add_argument("--dram-latency", type=int, metavar="N",
                   help="cycles the DRAM memory takes to answer, to model a slower "
                        "memory: the harness's model answers every read and write that "
                        "late (default 4); the cocotb testbench's AxiRam waits that long "
                        "before each read burst (default 0)")
    r.add_argument("--check", action="store_true",
                   help="compare with the golden model; exit 2 on any mismatch")
    r.add_argument("--build-dir", default="build", help="simulator build cache (default build)")
    r.add_argument("--device", metavar="TTY",
                   help="run on a board (terrazzo fpga) on this serial port instead")
    r.add_argument("--baud", type=int, default=115200, help="with --device (default 115200)")
    r.set_defaults(func=cmd_run)

    m = sub.add_parser("demo", help="compile kernels, simulate them and check them")
    m.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    m.add_argument("--fabric", default="small")
    m.add_argument("--build-dir", default="build")
    m.add_argument("kernels", nargs="*", help="kernels to run (default: the whole suite)")
    m.set_defaults(func=cmd_demo)

    f = sub.add_parser("fpga", help="build a fabric with its host bridge for an FPGA board")
    f.add_argument("--board", required=True, choices=["ulx3s-85f", "icebreaker"])
    f.add_argument("--fabric", default="tiny", help="preset or .toml file (default: tiny)")
    f.add_argument("-o", "--output", required=True, help="build folder (reports go here)")
    f.add_argument("--synth-only", action="store_true", help="stop after Yosys synthesis")
    f.add_argument("--system-tools", action="store_true",
                   help="use yosys/nextpnr from PATH (or $YOSYS, ...) instead of YoWASP")
    f.add_argument("--baud", type=int, default=115200, help="UART baud rate (default 115200)")
    f.set_defaults(func=cmd_fpga)

    b = sub.add_parser("bitstreams", help="compile the kernel suite for the preset fabrics")
    b.add_argument("--out", default="bitstreams", help="folder (default: bitstreams)")
    b.set_defaults(func=cmd_bitstreams)
    return parser


def _one_line(message):
    """``message`` with every character that is not printable (a line break, a terminal
    escape) escaped: messages quote what they show from files with ``repr()``, and
    this keeps the line one line and the terminal safe should one slip through."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TerrazzoError as e:
        # every user-facing failure of every layer: one line, exit status 1
        print(f"terrazzo: error: {_one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("terrazzo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): nothing left to say
        sys.stderr.close()
        return 0
