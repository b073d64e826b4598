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
