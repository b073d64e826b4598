"""Verilog generation of a fabric, with a summary of what was built."""

import re
from collections import Counter
from dataclasses import dataclass

from amaranth.back import rtlil, verilog

from amaranth.lib.wiring import In

from .fabric import fabric_structure, top_ports
from .format import MIN_WORDS
from .targets import config_targets

__all__ = ["FabricSummary", "summarize", "generate_verilog", "verilog_top"]


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


def _netlist_counts(text):
    ffs = 0
    for cell in re.finditer(r"cell \$(\w*dff\w*) \S+\n(.*?)\n  end", text, re.S):
        ffs += int(re.search(r"parameter \\WIDTH (\d+)", cell.group(2)).group(1))
    mem = sum(int(w) * int(s) for w, s in re.findall(r"memory width (\d+) size (\d+)", text))
    return ffs, mem


def summarize(p, counts=None):
    """The :class:`FabricSummary` of ``p``; ``counts`` is ``(flip_flops, memory_bits)``
    when a netlist was counted."""
    units, config_bits = Counter(), {}
    words = MIN_WORDS
    for t in config_targets(p).values():
        units[t.kind] += 1
        config_bits[t.kind] = max(config_bits.get(t.kind, 0), t.layout.size)
        words += 2 + t.words        # record header, word count, payload
    ffs, mem = counts if counts is not None else (None, None)
    return FabricSummary(name=p.name, hash=p.hash, units=dict(units), config_bits=config_bits,
                         bitstream_words=words, flip_flops=ffs, memory_bits=mem)


def _range(width):
    return f"[{width - 1}:0] " if width > 1 else ""


def verilog_top(p, structure, name="terrazzo_fabric"):
    """The structural Verilog of the fabric top over the shared modules."""
    ports = top_ports(p)
    out = [f"module {name}(clk, rst, {', '.join(ports)});", "  input clk;", "  input rst;"]
    for port, member in ports.items():
        out.append(f"  {'input' if member.flow == In else 'output'} "
                   f"{_range(structure.wires[port])}{port};")
    for wire, width in structure.wires.items():
        if wire not in ports:
            out.append(f"  wire {_range(width)}{wire};")
    for inst in structure.insts:
        conns = [".clk(clk)", ".rst(rst)"]
        for port in inst.ports:
            wire, bit = inst.conns[port]
            # a one-bit wire is a scalar in Verilog, which takes no bit select
            select = "" if bit is None or structure.wires[wire] == 1 else f"[{bit}]"
            conns.append(f".{inst.module_port(port)}({wire}{select})")
        out.append(f"  {inst.module} {inst.name} (\n    " + ",\n    ".join(conns) + "\n  );")
    for port, value in structure.constants.items():
        out.append(f"  assign {port} = {structure.wires[port]}'d{value};")
    out.append("endmodule")
    return "\n".join(out) + "\n"


def generate_verilog(p, *, name="terrazzo_fabric", progress=None):
    """Elaborate the fabric of ``p``; returns ``(verilog_text, FabricSummary)``.

    The control block (config loader and registers, run control) and each distinct
    unit (PCU, PMU, each shape of switch) are elaborated once as Verilog modules of
    their own; the top is written as a structural netlist of instances of them.
    ``progress``, if given, is called with a line of text as each module is done."""
    structure = fabric_structure(p)
    modules, uses = {}, Counter()
    for inst in structure.insts:
        modules.setdefault(inst.module, inst.build)
        uses[inst.module] += 1
    texts, ffs, mem = [], 0, 0
    for module, build in modules.items():
        text = rtlil.convert(build(), name=module, emit_src=False)
        texts.append(text.replace("attribute \\top 1\n", ""))
        m_ffs, m_mem = _netlist_counts(text)
        ffs += m_ffs * uses[module]
        mem += m_mem * uses[module]
        if progress is not None:
            progress(f"  {module}: {uses[module]} instance{'s' if uses[module] != 1 else ''}")
    summary = summarize(p, (ffs, mem))
    body = verilog._convert_rtlil_text("\n".join(texts), strip_internal_attrs=True)
    return body + verilog_top(p, structure, name), summary
