"""The data classes of a lowering result: streams, loops, operands, unit plans and
:class:`Lowered` itself (the kernel class is in :mod:`.kernels`)."""

from dataclasses import dataclass, field

from hw.layouts import Access
from ..netlist import Netlist

__all__ = ["Stream", "Loop", "Operand", "PcuPlan", "PmuPlan", "Lowered", "agen_text"]


@dataclass(frozen=True)
class Stream:
    """A tensor travelling on a link: ``order`` is ``rows`` / ``lane0`` (vector network)
    or ``scalar`` (scalar network); ``source`` is the (vunit, port) that drives it."""
    tensor: str
    shape: tuple
    order: str
    source: tuple

    @property
    def network(self):
        return "scalar" if self.order == "scalar" else "vector"


@dataclass(frozen=True)
class Loop:
    """One loop of a kernel's nest: ``extent`` iterations over dimension ``dim`` of the
    body's domain. A ``vector`` loop is counted in elements but runs one vector of
    ``lanes`` elements per iteration."""
    dim: int
    extent: int
    vector: bool = False


@dataclass(frozen=True)
class Operand:
    """A kernel input: ``tensor`` read at ``offset + sum(idx * strides)``.

    ``kind`` is ``vector`` (a VIN), ``scalar`` (a SIN, broadcast to every lane) or
    ``counter`` (an iota: the PCU reads loop counter ``level``). For the other kinds
    ``level`` is the pop level (the inner loops that reuse the FIFO head) and
    ``source`` the (vunit, port) feeding the input, once delivery chose it."""
    tensor: str
    offset: int
    strides: tuple
    kind: str = "vector"
    level: int = 0
    source: tuple = None


@dataclass(frozen=True)
class PcuPlan:
    """One virtual PCU: its configuration (as a dict for ``pcu_layout(p).const``), the
    iterations it runs, the pipeline stages its body uses and the kernel it belongs to."""
    name: str
    config: dict
    iterations: int
    stages_used: int
    node: str


@dataclass(frozen=True)
class PmuPlan:
    """One virtual PMU: its configuration (as a dict for ``pmu_layout(p).const``), its
    initial contents from word 0, the words it holds and the kernel it feeds."""
    name: str
    config: dict
    init: tuple = ()
    words: int = 0
    node: str = ""


@dataclass(frozen=True)
class Lowered:
    """Result of lowering: the netlist and the per-vunit configurations.

    Members
    -------
    netlist : Netlist
    pcus : dict[str, PcuPlan]
    pmus : dict[str, PmuPlan]
    inputs : list of (tensor name, shape, port vunit)
    outputs : list of (output name, shape, order, port vunit)
    kernels : list of :class:`~compiler.lower.kernels.Kernel`, in lowering order
    delays : tuple of str
        The PMUs (in ``pmus``) that are delay lines on the short branches of fan-outs
        (:mod:`compiler.lower.balance`).
    dram_reads : dict[str, DramRead]
        Per ``dram`` vunit the tensor its load engine reads (:mod:`compiler.lower.offchip`),
        relative to the tensor's first word.
    dram_writes : dict[str, DramWrite]
        Per ``dram`` vunit the tensor its store engine writes; a vunit may do both.
        Where each tensor lies in DRAM is decided after lowering
        (:func:`compiler.compile.dram_configs`).
    """
    netlist: Netlist
    pcus: dict
    pmus: dict
    inputs: list
    outputs: list
    kernels: list
    delays: tuple = ()
    dram_reads: dict = field(default_factory=dict)
    dram_writes: dict = field(default_factory=dict)

    @property
    def dram_units(self):
        """The ``dram`` vunits, in netlist order."""
        return [v.name for v in self.netlist.vunits if v.kind == "dram"]

    def to_text(self):
        """Kernels, virtual PMUs and the netlist as stable text for golden tests."""
        lines = []
        for k in self.kernels:
            lines.append(k.to_text())
        for name, plan in self.pmus.items():
            cfg = plan.config
            lines.append(f"pmu {name} for {plan.node}: words={plan.words}"
                         f"{' double' if cfg['double'] else ''} "
                         f"wr={agen_text(cfg['wr'])} rd={agen_text(cfg['rd'])}"
                         f"{' init=' + str(len(plan.init)) if plan.init else ''}")
        for name, read in self.dram_reads.items():
            lines.append(f"dram {name} reads {read.tensor}: {read.to_text()}")
        for name, write in self.dram_writes.items():
            lines.append(f"dram {name} writes {write.tensor}: {write.to_text()}")
        lines.append(self.netlist.text())
        return "\n".join(l for l in lines if l) + "\n"


def agen_text(a):
    """Text of a PMU address-generator configuration (a dict for ``agen_layout``)."""
    if a["mode"] == Access.OFF:
        return "off"
    ctrs = ",".join(f"{c['start']}:{c['end']}:{c['stride']}" for c in a["counters"])
    return (f"{a['mode'].name.lower()}[{ctrs}{' vec' if a['vec'] else ''}] "
            f"base={a['base']} strides={list(a['strides'])} swap={a['swap']}")
