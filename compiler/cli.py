"""The ``terrazzo`` command line."""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main", "atomic_write"]


class CliError(Exception):
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
    from hw.params import load_fabric, ParamsError
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


def load_graph_file(path):
    """A graph from a ``.json`` file or a ``.py`` file defining ``graph`` or ``build()``."""
    from .errors import CompileError
    from .ir import Graph
    path = Path(path)
    if not path.exists():
        raise CliError(f"no such graph file: {str(path)!r}")
    if path.suffix == ".json":
        from .jsonio import load_graph
        try:
            return load_graph(path)
        except CompileError as e:
            raise CliError(f"{path}: {e}") from None
    if path.suffix == ".py":
        namespace = {"__name__": f"terrazzo_graph_{path.stem}", "__file__": str(path)}
        try:
            code = compile(path.read_text(), str(path), "exec")
            exec(code, namespace)
            graph = namespace.get("graph")
            if graph is None and callable(namespace.get("build")):
                graph = namespace["build"]()
        except CompileError as e:
            raise CliError(f"{path}: {e}") from None
        except SyntaxError as e:
            raise CliError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
        except Exception as e:
            tb = e.__traceback__
            line = None
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == str(path):
                    line = tb.tb_lineno
                tb = tb.tb_next
            where = f"{path}:{line}" if line else str(path)
            raise CliError(f"{where}: {type(e).__name__}: {e}") from None
        if not isinstance(graph, Graph):
            raise CliError(f"{path} must define a Graph named 'graph' or a function build() "
                           f"returning one")
        return graph
    raise CliError(f"graph file must end in .json or .py, not {str(path)!r}")


def _compile(graph, p, seed):
    from .compile import compile_graph
    from .errors import CompileError
    try:
        return compile_graph(graph, p, seed=seed)
    except CompileError as e:
        raise CliError(str(e)) from None


def cmd_compile(args):
    p = _fabric(args.fabric)
    graph = load_graph_file(args.graph)
    out = Path(args.output) if args.output else Path(Path(args.graph).stem + ".tzb")
    if out.suffix != ".tzb":
        raise CliError(f"output file must end in .tzb, not {str(out)!r}")
    t0 = time.monotonic()
    result = _compile(graph, p, args.seed)
    elapsed = time.monotonic() - t0
    png = None
    if args.report_png:
        from .draw import draw_placement
        png = draw_placement(p, result)
    atomic_write(out, result.bitstream)
    atomic_write(out.with_suffix(".json"), result.manifest.to_json())
    if png is not None:
        atomic_write(args.report_png, png)
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
    from .disasm import disassemble
    from .errors import CompileError
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
    from .disasm import assemble
    from .errors import CompileError
    text = _read(args.text).decode("utf-8", errors="replace")
    try:
        blob = assemble(text, args.fabric)
    except CompileError as e:
        raise CliError(f"{args.text}: {e}") from None
    atomic_write(args.output, blob)
    print(f"wrote {args.output} ({len(blob) // 4} words)")
    return 0


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
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as e:
        print(f"terrazzo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("terrazzo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
