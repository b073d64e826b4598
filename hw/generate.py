"""Verilog generation of a fabric, with a summary of what was built."""

import re
from collections import Counter
from dataclasses import dataclass, field

from amaranth.back import rtlil, verilog

from .fabric import Fabric
from .format import HEADER_WORDS
from .interconnect import interconnect, switch_layout
from .layouts import pcu_layout, pmu_layout, config_words
from .params import UnitKind

__all__ = ["FabricSummary", "summarize", "generate_verilog"]


@dataclass(frozen=True)
class FabricSummary:
    """What a fabric holds. ``flip_flops`` and ``memory_bits`` are counted from the
    elaborated netlist (``$dff``-type cells and ``memory`` declarations); they are ``None`` when
    only the parameters were summarized."""
    name: str
    hash: str
    units: dict             # kind -> count
    config_bits: dict       # kind -> bits of one unit's configuration (switch: max)
    bitstream_words: int    # words of a bitstream configuring every unit and switch
    flip_flops: int | None = None
    memory_bits: int | None = None

    def to_text(self):
        lines = [f"fabric {self.name} (hash {self.hash[:8]})"]
        lines.append("  units: " + ", ".join(f"{n} {k.upper()}" for k, n in self.units.items()))
        lines.append("  config bits per unit: " +
                     ", ".join(f"{k.upper()} {b}" for k, b in self.config_bits.items()))
        lines.append(f"  bitstream words (every unit and switch): {self.bitstream_words}")
        if self.flip_flops is not None:
            lines.append(f"  flip-flops (estimate from netlist): {self.flip_flops}")
            lines.append(f"  memory bits: {self.memory_bits}")
        return "\n".join(lines)


def summarize(p, netlist_text=None):
    ic = interconnect(p)
    units = Counter(kind for _, kind, _ in p.units)
    switch_bits = [switch_layout(p, pos).size for pos in ic.switches]
    words = HEADER_WORDS + 1
    for _, kind, _ in p.units:
        layout = pcu_layout(p) if kind == UnitKind.PCU else pmu_layout(p)
        words += 2 + config_words(layout)
    for pos in ic.switches:
        words += 2 + config_words(switch_layout(p, pos))
    ffs = mem = None
    if netlist_text is not None:
        ffs = 0
        for cell in re.finditer(r"cell \$(\w*dff\w*) \S+\n(.*?)\n  end", netlist_text, re.S):
            ffs += int(re.search(r"parameter \\WIDTH (\d+)", cell.group(2)).group(1))
        mem = sum(int(w) * int(s) for w, s in
                  re.findall(r"memory width (\d+) size (\d+)", netlist_text))
    return FabricSummary(
        name=p.name, hash=p.hash,
        units={"pcu": units[UnitKind.PCU], "pmu": units[UnitKind.PMU],
               "switch": len(ic.switches)},
        config_bits={"pcu": pcu_layout(p).size, "pmu": pmu_layout(p).size,
                     "switch": max(switch_bits)},
        bitstream_words=words, flip_flops=ffs, memory_bits=mem)


def generate_verilog(p, *, name="terrazzo_fabric"):
    """Elaborate the fabric of ``p``; returns ``(verilog_text, FabricSummary)``."""
    top = Fabric(p)
    text = rtlil.convert(top, name=name, emit_src=False)
    summary = summarize(p, text)
    return verilog._convert_rtlil_text(text, strip_internal_attrs=True), summary
