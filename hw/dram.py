"""DRAM unit: an AXI4 manager that loads patterns of off-chip memory into the fabric's
streams and stores streams back.

See ``docs/hardware.md``, section "DRAM units", for the contract. A unit has a load
engine and a store engine (:mod:`hw.dram_engines`, built of :mod:`hw.dram_parts`);
each walks a pattern of *runs* (contiguous word ranges) with a counter chain or an
index stream (gather/scatter), cuts every run into AXI4 INCR bursts that never cross a
4 KiB boundary, and moves the words between the bus and a vector or scalar stream.
:mod:`hw.dram_layouts` holds the layouts and the reference of what the hardware
issues (:func:`run_addresses`, :func:`bursts`); their names are importable from here.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .dram_engines import LoadEngine, StoreEngine
from .dram_layouts import (PAGE_BYTES, WORD_ADDR_BITS, DramMode, axi4_id_ports, axi4_ports,
                           axi4_read_ports, axi4_write_ports, beat_layout, burst_layout,
                           bursts, dram_layout, engine_layout, run_addresses, run_count)
from .dram_parts import BeatPacker, BeatUnpacker, BurstSplitter, RunGenerator
from .links import link_signature

__all__ = ["DramMode", "DramUnit", "LoadEngine", "StoreEngine", "RunGenerator",
           "BurstSplitter", "BeatUnpacker", "BeatPacker", "engine_layout", "dram_layout",
           "burst_layout", "beat_layout", "axi4_read_ports", "axi4_write_ports",
           "axi4_id_ports", "axi4_ports",
           "run_count", "run_addresses", "bursts", "WORD_ADDR_BITS", "PAGE_BYTES"]


class DramUnit(wiring.Component):
    """A DRAM unit (``docs/hardware.md``, "DRAM units"): a load and a store engine
    sharing one AXI4 manager port.

    Parameters
    ----------
    p : FabricParams
        The unit uses ``lanes``, ``counters``, ``dram_beat``, ``dram_burst`` and
        ``dram_outstanding`` (not ``dram_ports``).

    Ports
    -----
    cfg : In(dram_layout(p))
        Held stable while busy.
    start : In(1)
        One-cycle pulse: clear ``error`` and begin both engines (those not OFF). Ignored
        while busy.
    busy : Out(1)
        An engine is busy.
    done : Out(1)
        Not busy: every run of the load engine has been delivered and every burst of
        the store engine has its B response (high before the first start, too).
    error : Out(1)
        Some ``rresp`` or ``bresp`` was not OKAY since the last start (sticky).
    sidx, vout, sout : the load engine's index input and outputs.
    widx, vin, sin : the store engine's index and data inputs.
    araddr .. bready : AXI4 manager port, flat standard names (:func:`axi4_read_ports`,
        :func:`axi4_write_ports`): 32-bit byte addresses, ``32 * dram_beat``-bit data,
        INCR bursts, one ID (``arid`` / ``awid`` always 0, ``rid`` / ``bid`` ignored;
        :func:`axi4_id_ports`).
    """

    def __init__(self, p):
        self._p = p
        super().__init__({
            "cfg":   In(dram_layout(p)),
            "start": In(1),
            "busy":  Out(1),
            "done":  Out(1),
            "error": Out(1),
            "sidx":  In(link_signature(p, "scalar")),
            "vout":  Out(link_signature(p, "vector")),
            "sout":  Out(link_signature(p, "scalar")),
            "widx":  In(link_signature(p, "scalar")),
            "vin":   In(link_signature(p, "vector")),
            "sin":   In(link_signature(p, "scalar")),
            **axi4_ports(p),
        })

    def elaborate(self, platform):
        p = self._p
        m = Module()
        m.submodules.load = load = LoadEngine(p)
        m.submodules.store = store = StoreEngine(p)
        go = self.start & ~self.busy
        m.d.comb += [load.cfg.eq(self.cfg.load), store.cfg.eq(self.cfg.store),
                     load.start.eq(go), store.start.eq(go),
                     self.busy.eq(load.busy | store.busy), self.done.eq(~self.busy)]
        for engine, ports in ((load, axi4_read_ports(p)), (store, axi4_write_ports(p))):
            for name, member in ports.items():
                outer, inner = getattr(self, name), getattr(engine, name)
                m.d.comb += outer.eq(inner) if member.flow == wiring.Out else inner.eq(outer)
        wiring.connect(m, wiring.flipped(self.sidx), load.sidx)
        wiring.connect(m, load.vout, wiring.flipped(self.vout))
        wiring.connect(m, load.sout, wiring.flipped(self.sout))
        wiring.connect(m, wiring.flipped(self.widx), store.widx)
        wiring.connect(m, wiring.flipped(self.vin), store.vin)
        wiring.connect(m, wiring.flipped(self.sin), store.sin)
        with m.If(go):
            m.d.sync += self.error.eq(0)
        with m.Elif(load.fault | store.fault):
            m.d.sync += self.error.eq(1)
        return m
