"""Configuration targets: every record target of a fabric, with its layout.

This table is the one place that says which target takes which configuration layout
and which records. The config loader and the fabric's configuration registers
(hardware), the Verilog summary, and the bitstream encoder and disassembler
(``compiler``) all read it.
"""

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .format import RECORD_HEADER, RecordKind
from .interconnect import interconnect, switch_layout
from .dram import dram_layout
from .layouts import config_words, unit_layout
from .params import UnitKind

__all__ = ["ConfigTarget", "config_targets", "TargetTable"]


@dataclass(frozen=True, eq=False)
class ConfigTarget:
    """One record target of a fabric: a unit or a switch.

    Members
    -------
    id : int
        Record target: the unit id, or the switch id (``FabricParams.switch_id``).
    record : RecordKind
        The record that configures it: ``UNIT`` or ``SWITCH``.
    unit : UnitKind or None
        The kind of a unit; None for a switch.
    pos : tuple
        ``(r, c)`` of a unit in the grid, corner ``(i, j)`` of a switch, ``(k,)`` of DRAM
        unit ``k``.
    layout : data.StructLayout
        Its configuration.
    """
    id: int
    record: RecordKind
    unit: UnitKind | None
    pos: tuple
    layout: data.StructLayout

    @property
    def kind(self):
        """``"pcu"``, ``"pmu"``, ``"dram"`` or ``"switch"``."""
        return self.unit.value if self.unit is not None else "switch"

    @property
    def name(self):
        """``u{id}`` for a unit, ``sw{i}_{j}`` for a switch: the fabric's configuration
        port of this target is ``cfg_{name}``."""
        return f"u{self.id}" if self.unit is not None else f"sw{self.pos[0]}_{self.pos[1]}"

    @property
    def what(self):
        """The target in words: ``"PCU 3"``, ``"switch (1, 2)"``."""
        return f"{self.kind.upper()} {self.id}" if self.unit is not None else f"switch {self.pos}"

    @property
    def words(self):
        """Payload words of its configuration record."""
        return config_words(self.layout)

    @property
    def takes_init(self):
        """It accepts ``PMU_INIT`` records (it is a PMU)."""
        return self.unit == UnitKind.PMU


@lru_cache(maxsize=None)
def config_targets(p):
    """Every configuration target of fabric ``p``: a read-only mapping ``id ->
    ConfigTarget`` in id order (the units in unit-id order, then the switches)."""
    targets = {}
    for uid, kind, rc in p.units:
        targets[uid] = ConfigTarget(uid, RecordKind.UNIT, kind, rc, unit_layout(p, kind))
    for pos, spec in interconnect(p).switches.items():
        targets[spec.id] = ConfigTarget(spec.id, RecordKind.SWITCH, None, pos,
                                        switch_layout(p, pos))
    for tid, k, _ in p.drams:
        targets[tid] = ConfigTarget(tid, RecordKind.UNIT, UnitKind.DRAM, (k,), dram_layout(p))
    return MappingProxyType(targets)


class TargetTable(wiring.Component):
    """Which records a target accepts, and how many configuration words: the hardware
    lookup of :func:`config_targets` that the config loader makes.

    Ports
    -----
    target : In(RECORD_HEADER target field)
    unit, pmu, switch : Out(1)
        ``target`` is a unit (PCU or PMU), a PMU, a switch.
    words : Out(16)
        ``config_words`` of its layout (0 when it is nothing).
    """

    target: In(RECORD_HEADER["target"].shape)
    unit: Out(1)
    pmu: Out(1)
    switch: Out(1)
    words: Out(16)

    def __init__(self, p):
        self._p = p
        super().__init__()

    def elaborate(self, platform):
        groups = {}   # (unit, pmu, switch, words) -> [target]
        for t in config_targets(self._p).values():
            key = (int(t.record == RecordKind.UNIT), int(t.takes_init),
                   int(t.record == RecordKind.SWITCH), t.words)
            groups.setdefault(key, []).append(t.id)
        m = Module()
        with m.Switch(self.target):
            for (unit, pmu, switch, words), targets in groups.items():
                with m.Case(*targets):
                    m.d.comb += [self.unit.eq(unit), self.pmu.eq(pmu), self.switch.eq(switch),
                                 self.words.eq(words)]
        return m
