"""The fabric top: units, switches, config loader, edge ports and status."""

from amaranth.hdl import Module, Signal, Cat, ClockSignal, ResetSignal, Instance, ValueCastable
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .format import RecordKind
from .interconnect import NETWORKS, interconnect, switch_layout, unit_ports
from .layouts import pcu_layout, pmu_layout, config_words, WORD
from .loader import ConfigLoader
from .params import UnitKind
from .pcu import PCU
from .pmu import PMU
from .switch import Switch

__all__ = ["Fabric", "ConfigStore", "switch_structure"]


def switch_structure(p, pos):
    """What makes two switches the same hardware: per network, the number of inputs and
    each output's source indices. Names differ between switches; bits do not."""
    spec = interconnect(p).switches[pos]
    key = []
    for net in NETWORKS:
        index = {name: k for k, name in enumerate(spec.inputs[net])}
        key.append((len(spec.inputs[net]),
                    tuple(tuple(index[s] for s in out.sources) for out in spec.outputs[net])))
    return tuple(key)


class ConfigStore(wiring.Component):
    """The configuration register of one record target. Payload words shift in from
    the top, so after a record of ``n`` words its first word sits in bits ``0..31``,
    as ``words_of`` lays them out. Cleared when a new bitstream begins."""

    def __init__(self, layout, kind, target):
        self._kind = kind
        self._target = target
        self._words = config_words(layout)
        super().__init__({
            "clear":  In(1),
            "we":     In(1),
            "kind":   In(8),
            "target": In(16),
            "data":   In(WORD),
            "value":  Out(layout),
        })

    def elaborate(self, platform):
        m = Module()
        raw = Signal(self._words * WORD)
        m.d.comb += self.value.eq(raw)
        hit = self.we & (self.kind == self._kind.value) & (self.target == self._target)
        with m.If(self.clear):
            m.d.sync += raw.eq(0)
        with m.Elif(hit):
            m.d.sync += raw.eq(Cat(raw[WORD:], self.data))
        return m


class Fabric(wiring.Component):
    """A checkerboard of PCUs and PMUs with a switch at every unit corner.

    Ports (flat, so AXI4-Stream verification IP attaches by prefix):
    ``cfg_t{data,valid,ready,last}`` (32-bit configuration words),
    ``in{k}_t*`` / ``out{k}_t*`` (``lanes * 32``-bit vectors, lane 0 in the low word),
    ``start`` (In: begin once configured), ``configured``, ``cfg_error`` (a
    :class:`~hw.format.CfgError` code), ``running``, ``done``, ``cycles`` (cycles from
    start to done).
    """

    def __init__(self, p, *, shared=True):
        self.params = p
        self.shared = shared
        #: module name -> function building the component, for the modules the fabric
        #: instantiates (filled by ``elaborate`` when ``shared``)
        self.modules = {}
        vec = p.lanes * WORD
        ports = {
            "cfg_tdata": In(WORD), "cfg_tvalid": In(1), "cfg_tready": Out(1), "cfg_tlast": In(1),
            "start": In(1), "configured": Out(1), "cfg_error": Out(4), "running": Out(1),
            "done": Out(1), "cycles": Out(32),
        }
        for k in range(p.io_in):
            ports.update({f"in{k}_tdata": In(vec), f"in{k}_tvalid": In(1),
                          f"in{k}_tready": Out(1), f"in{k}_tlast": In(1)})
        for k in range(p.io_out):
            ports.update({f"out{k}_tdata": Out(vec), f"out{k}_tvalid": Out(1),
                          f"out{k}_tready": In(1), f"out{k}_tlast": Out(1)})
        super().__init__(ports)

    def _unit(self, m, name, module, build, *, holder=None, rename=None):
        """A unit: elaborated inline, or (``shared``) an instance of ``module``, which
        ``generate_verilog`` elaborates once. Returns the object whose ports the fabric
        connects (the component itself, or a stand-in holding the instance's ports)."""
        if not self.shared:
            unit = build()
            m.submodules[name] = unit
            return unit
        holder = build() if holder is None else holder
        holder._MustUse__silence = True      # a stand-in for its ports, never elaborated
        self.modules.setdefault(module, build)
        ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in holder.signature.flatten(holder):
            port = "__".join(map(str, path))
            if rename is not None:
                port = rename.get(path[0], path[0]) + port[len(path[0]):]
            if isinstance(value, ValueCastable):
                value = value.as_value()
            ports[("i_" if member.flow == In else "o_") + port] = value
        m.submodules[name] = Instance(module, **ports)
        return holder

    @staticmethod
    def _switch_names(p, first, pos):
        """Port names of switch ``pos`` -> the same-index port names of ``first``."""
        ic = interconnect(p)
        a, b = ic.switches[pos], ic.switches[first]
        names = {}
        for net in NETWORKS:
            for x, y in zip(a.inputs[net], b.inputs[net]):
                names[f"i_{net}_{x}"] = f"i_{net}_{y}"
            for x, y in zip(a.outputs[net], b.outputs[net]):
                names[f"o_{net}_{x.name}"] = f"o_{net}_{y.name}"
        return names

    def elaborate(self, platform):
        p = self.params
        ic = interconnect(p)
        m = Module()

        m.submodules.loader = loader = ConfigLoader(p)
        m.d.comb += [
            loader.cfg.payload.data.eq(self.cfg_tdata),
            loader.cfg.payload.last.eq(self.cfg_tlast),
            loader.cfg.valid.eq(self.cfg_tvalid),
            self.cfg_tready.eq(loader.cfg.ready),
            self.configured.eq(loader.configured),
            self.cfg_error.eq(loader.error),
        ]
        busy_prev = Signal()
        m.d.sync += busy_prev.eq(loader.busy)
        clear = loader.busy & ~busy_prev

        def store(name, layout, kind, target):
            s = ConfigStore(layout, kind, target)
            m.submodules[f"cfg_{name}"] = s
            m.d.comb += [s.clear.eq(clear), s.we.eq(loader.we), s.kind.eq(loader.kind.as_value()),
                         s.target.eq(loader.target), s.data.eq(loader.data)]
            return s.value

        # run control
        start_pulse = Signal()
        settle = Signal(2)
        m.d.comb += start_pulse.eq(self.start & loader.configured & ~self.running)
        with m.If(start_pulse):
            m.d.sync += [self.running.eq(1), self.done.eq(0), self.cycles.eq(0), settle.eq(0)]

        units = {}
        all_done = []
        for uid, kind, (r, c) in p.units:
            if kind == UnitKind.PCU:
                unit = self._unit(m, f"{kind}{uid}", "terrazzo_pcu", lambda: PCU(p))
                cfg = store(f"u{uid}", pcu_layout(p), RecordKind.UNIT, uid)
            else:
                unit = self._unit(m, f"{kind}{uid}", "terrazzo_pmu", lambda: PMU(p))
                cfg = store(f"u{uid}", pmu_layout(p), RecordKind.UNIT, uid)
                m.d.comb += [
                    unit.init_we.eq(loader.we & (loader.kind.as_value() == RecordKind.PMU_INIT.value) &
                                    (loader.target == uid)),
                    unit.init_addr.eq(loader.addr),
                    unit.init_data.eq(loader.data),
                ]
            units[uid] = unit
            m.d.comb += [unit.cfg.eq(cfg), unit.start.eq(start_pulse), unit.run.eq(self.running)]
            all_done.append(unit.done)

        switches = {}
        kinds = {}
        for pos, spec in ic.switches.items():
            first = kinds.setdefault(switch_structure(p, pos), pos)
            module = f"terrazzo_switch_{first[0]}_{first[1]}"
            switches[pos] = sw = self._unit(
                m, f"sw{pos[0]}_{pos[1]}", module, lambda pos=first: Switch(p, pos),
                holder=Switch(p, pos), rename=self._switch_names(p, first, pos))
            m.d.comb += sw.cfg.eq(store(f"sw{pos[0]}_{pos[1]}", switch_layout(p, pos),
                                        RecordKind.SWITCH, spec.id))

        for ((pos, net, out), (pos2, inp)) in ic.links.items():
            wiring.connect(m, getattr(switches[pos], f"o_{net}_{out}"),
                           getattr(switches[pos2], f"i_{net}_{inp}"))
        for uid, kind, _ in p.units:
            for port in unit_ports(p, kind):
                sw = switches[ic.unit_attach[(uid, port.name)]]
                if port.direction == "out":
                    wiring.connect(m, getattr(units[uid], port.name),
                                   getattr(sw, f"i_{port.network}_u{uid}_{port.name}"))
                else:
                    wiring.connect(m, getattr(sw, f"o_{port.network}_u{uid}_{port.name}"),
                                   getattr(units[uid], port.name))

        for k in range(p.io_in):
            link = getattr(switches[p.in_port_switch(k)], f"i_vector_in{k}")
            m.d.comb += [link.payload.eq(getattr(self, f"in{k}_tdata")),
                         link.valid.eq(getattr(self, f"in{k}_tvalid")),
                         getattr(self, f"in{k}_tready").eq(link.ready)]
        for k in range(p.io_out):
            link = getattr(switches[p.out_port_switch(k)], f"o_vector_out{k}")
            m.d.comb += [getattr(self, f"out{k}_tdata").eq(link.payload),
                         getattr(self, f"out{k}_tvalid").eq(link.valid),
                         getattr(self, f"out{k}_tlast").eq(0),
                         link.ready.eq(getattr(self, f"out{k}_tready"))]

        with m.If(self.running & ~start_pulse):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(settle != 3):
                m.d.sync += settle.eq(settle + 1)
            with m.Elif(Cat(*all_done).all()):
                m.d.sync += [self.running.eq(0), self.done.eq(1)]
        return m
