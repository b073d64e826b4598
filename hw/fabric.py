"""The fabric top: units, switches, config loader, edge ports and status.

The fabric's structure — which module instance connects to which wire — is one
description, :func:`fabric_structure`. Two back ends read it: :class:`Fabric`
elaborates it in Amaranth (with every unit inline, or with each distinct unit as an
instance of a shared module), and :func:`hw.generate.generate_verilog` writes it
straight out as a structural Verilog top over the shared modules, which keeps the
generation of large fabrics fast.
"""

from dataclasses import dataclass, field

from amaranth.hdl import (Module, Signal, Cat, ClockSignal, ResetSignal, Instance, Shape,
                          ValueCastable)
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .dram import DramUnit, axi4_ports
from .format import CfgError, RecordKind
from .interconnect import NETWORKS, interconnect, unit_ports
from .layouts import WORD
from .loader import ConfigLoader
from .params import UnitKind
from .pcu import PCU
from .pmu import PMU
from .switch import Switch
from .targets import config_targets

__all__ = ["Fabric", "FabricControl", "ConfigStore", "switch_structure", "fabric_structure",
           "top_ports", "Inst", "Structure"]


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
    """The configuration register of one record target (a
    :class:`~hw.targets.ConfigTarget` of fabric ``p``). Payload words written to the
    target shift in from the top, so after a record of ``n`` words its first word sits
    in bits ``0..31``, as ``words_of`` lays them out. Cleared when a new bitstream
    begins.

    Ports
    -----
    clear : In(1)
    bus : In(ConfigLoader.WriteBus(addr_bits=p.addr_bits))
    value : Out(target.layout)
    """

    def __init__(self, p, target):
        self._target = target
        super().__init__({
            "clear": In(1),
            "bus":   In(ConfigLoader.WriteBus(addr_bits=p.addr_bits)),
            "value": Out(target.layout),
        })

    def elaborate(self, platform):
        m = Module()
        t, bus = self._target, self.bus
        raw = Signal(t.words * WORD)
        m.d.comb += self.value.eq(raw)
        hit = bus.we & (bus.kind == t.record) & (bus.target == t.id)
        with m.If(self.clear):
            m.d.sync += raw.eq(0)
        with m.Elif(hit):
            m.d.sync += raw.eq(Cat(raw[WORD:], bus.data))
        return m


def top_ports(p):
    """The fabric's ports (flat, so AXI4-Stream and AXI4 verification IP attach by
    prefix: ``in0_``, ``out0_``, ``dram0_``)."""
    vec = p.lanes * WORD
    ports = {
        "cfg_tdata": In(WORD), "cfg_tvalid": In(1), "cfg_tready": Out(1), "cfg_tlast": In(1),
        "start": In(1), "configured": Out(1), "cfg_error": Out(CfgError), "running": Out(1),
        "done": Out(1), "cycles": Out(32),
    }
    for k in range(p.io_in):
        ports.update({f"in{k}_tdata": In(vec), f"in{k}_tvalid": In(1),
                      f"in{k}_tready": Out(1), f"in{k}_tlast": In(1)})
    for k in range(p.io_out):
        ports.update({f"out{k}_tdata": Out(vec), f"out{k}_tvalid": Out(1),
                      f"out{k}_tready": In(1), f"out{k}_tlast": Out(1)})
    if p.dram_ports:
        ports["dram_error"] = Out(1)
    for k in range(p.dram_ports):
        for name, member in axi4_ports(p).items():
            ports[f"dram{k}_{name}"] = member
    return ports


class FabricControl(wiring.Component):
    """Config loader, one :class:`ConfigStore` per unit and switch, and run control.

    Ports: the fabric's configuration and status ports (see :func:`top_ports`),
    ``cfg_u{id}`` / ``cfg_sw{i}_{j}`` (configurations), ``init_we_u{id}`` (per PMU),
    ``init_addr``, ``init_data``, ``unit_start`` (one-cycle pulse), ``unit_run``,
    ``unit_done`` (one bit per unit, then one per DRAM unit, In), ``dram_errors`` (one
    bit per DRAM unit, In; ``dram_error`` is any of them).
    """

    def __init__(self, p):
        self.params = p
        ports = {k: v for k, v in top_ports(p).items()
                 if k.startswith("cfg_") or k in ("start", "configured", "running", "done",
                                                  "cycles", "dram_error")}
        for t in config_targets(p).values():
            ports[f"cfg_{t.name}"] = Out(t.layout)
            if t.takes_init:
                ports[f"init_we_{t.name}"] = Out(1)
        ports.update({"init_addr": Out(p.addr_bits), "init_data": Out(WORD),
                      "unit_start": Out(1), "unit_run": Out(1),
                      "unit_done": In(len(p.units) + p.dram_ports)})
        if p.dram_ports:
            ports["dram_errors"] = In(p.dram_ports)
        super().__init__(ports)

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.loader = loader = ConfigLoader(p)
        bus = loader.bus
        m.d.comb += [
            loader.cfg.payload.data.eq(self.cfg_tdata),
            loader.cfg.payload.last.eq(self.cfg_tlast),
            loader.cfg.valid.eq(self.cfg_tvalid),
            self.cfg_tready.eq(loader.cfg.ready),
            self.configured.eq(loader.configured),
            self.cfg_error.eq(loader.error),
            self.init_addr.eq(bus.addr),
            self.init_data.eq(bus.data),
        ]
        busy_prev = Signal()
        m.d.sync += busy_prev.eq(loader.busy)
        clear = loader.busy & ~busy_prev
        stores = []
        for t in config_targets(p).values():
            store = m.submodules[f"cfg_{t.name}"] = ConfigStore(p, t)
            m.d.comb += [store.clear.eq(clear), getattr(self, f"cfg_{t.name}").eq(store.value)]
            stores.append(store)
            if t.takes_init:
                m.d.comb += getattr(self, f"init_we_{t.name}").eq(
                    bus.we & (bus.kind == RecordKind.PMU_INIT) & (bus.target == t.id))
        wiring.connect(m, bus, *(store.bus for store in stores))
        if p.dram_ports:
            m.d.comb += self.dram_error.eq(self.dram_errors.any())

        # run control: start once configured; done when every unit is done (units need
        # a few cycles after the start pulse before their done reflects the new run)
        start_pulse = Signal()
        settle = Signal(2)
        m.d.comb += [start_pulse.eq(self.start & loader.configured & ~self.running),
                     self.unit_start.eq(start_pulse), self.unit_run.eq(self.running)]
        with m.If(start_pulse):
            m.d.sync += [self.running.eq(1), self.done.eq(0), self.cycles.eq(0), settle.eq(0)]
        with m.Elif(self.running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(settle != 3):
                m.d.sync += settle.eq(settle + 1)
            with m.Elif(self.unit_done.all()):
                m.d.sync += [self.running.eq(0), self.done.eq(1)]
        return m


# -- structure ------------------------------------------------------------------------------

@dataclass
class Inst:
    """One instance: ``build()`` makes the component (whose port names ``conns`` uses);
    ``module`` is the shared module it is an instance of; ``rename`` maps this
    component's port names to the module's (switches of one structure share a module
    under the names of the first of them)."""
    name: str
    module: str
    build: object
    ports: dict             # port name -> (width, "in"/"out")
    conns: dict = field(default_factory=dict)   # port name -> (wire, bit or None)
    rename: dict = field(default_factory=dict)

    def module_port(self, port):
        head = port.split("__", 1)[0]
        return self.rename.get(head, head) + port[len(head):]


@dataclass
class Structure:
    wires: dict             # wire name -> width (top ports are wires too)
    insts: list             # of Inst
    constants: dict         # top output port -> constant value


def _ports_of(component):
    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        ports["__".join(map(str, path))] = (len(value), "in" if member.flow == In else "out")
    return ports


def _stand_in(component):
    component._MustUse__silence = True      # only its ports are read
    return component


_UNIT_CLASSES = {UnitKind.PCU: PCU, UnitKind.PMU: PMU}


def _unit_inst(p, t):
    """The instance of unit target ``t``, on the run control and (a PMU) the init bus."""
    build = _UNIT_CLASSES[t.unit]
    inst = Inst(f"{t.kind}{t.id}", f"terrazzo_{t.kind}", lambda: build(p),
                _ports_of(_stand_in(build(p))))
    inst.conns.update({"start": ("unit_start", None), "run": ("unit_run", None),
                       "done": ("unit_done", t.id)})
    if t.takes_init:
        inst.conns.update({"init_we": (f"init_we_{t.name}", None),
                           "init_addr": ("init_addr", None), "init_data": ("init_data", None)})
    return inst


def _dram_inst(p, t):
    """The instance of DRAM unit target ``t``: on the run control, its ``error`` on the
    control's ``dram_errors``, its AXI4 port on the top's ``dram{k}_*``."""
    k = t.pos[0]
    inst = Inst(f"dram{k}", "terrazzo_dram", lambda: DramUnit(p),
                _ports_of(_stand_in(DramUnit(p))))
    inst.conns.update({"start": ("unit_start", None),
                       "done": ("unit_done", len(p.units) + k),
                       "busy": (f"dram{k}_busy", None), "error": ("dram_errors", k)})
    for name in axi4_ports(p):
        inst.conns[name] = (f"dram{k}_{name}", None)
    return inst


def _switch_inst(p, pos, first_of):
    """The instance of the switch at ``pos``: of the shared module of the first switch
    of its structure (``first_of`` maps structures to the first of them seen so far),
    its ports renamed to that switch's."""
    ic = interconnect(p)
    first = first_of.setdefault(switch_structure(p, pos), pos)
    a, b = ic.switches[pos], ic.switches[first]
    rename = {}
    for net in NETWORKS:
        rename.update({f"i_{net}_{x}": f"i_{net}_{y}"
                       for x, y in zip(a.inputs[net], b.inputs[net])})
        rename.update({f"o_{net}_{x.name}": f"o_{net}_{y.name}"
                       for x, y in zip(a.outputs[net], b.outputs[net])})
    return Inst(f"sw{pos[0]}_{pos[1]}", f"terrazzo_switch_{first[0]}_{first[1]}",
                lambda: Switch(p, pos), _ports_of(_stand_in(Switch(p, pos))), rename=rename)


def fabric_structure(p):
    """The fabric as instances and wires (see the module docstring)."""
    ic = interconnect(p)
    wires = {name: Shape.cast(member.shape).width for name, member in top_ports(p).items()}
    insts = []

    control = Inst("control", "terrazzo_control", lambda: FabricControl(p),
                   _ports_of(_stand_in(FabricControl(p))))
    for port in control.ports:
        if port in wires:
            control.conns[port] = (port, None)
        else:
            wires[port] = control.ports[port][0]
            control.conns[port] = (port, None)
    insts.append(control)

    units, switches, first_of = {}, {}, {}
    drams = {}
    for t in config_targets(p).values():
        if t.unit == UnitKind.DRAM:
            inst = drams[t.pos[0]] = _dram_inst(p, t)
            wires[f"dram{t.pos[0]}_busy"] = 1
        elif t.unit is not None:
            inst = units[t.id] = _unit_inst(p, t)
        else:
            inst = switches[t.pos] = _switch_inst(p, t.pos, first_of)
        inst.conns["cfg"] = (f"cfg_{t.name}", None)
        insts.append(inst)

    def link(name, producer, out_port, consumer, in_port):
        for leaf in ("payload", "valid", "ready"):
            wire = f"{name}__{leaf}"
            wires[wire] = producer.ports[f"{out_port}__{leaf}"][0]
            producer.conns[f"{out_port}__{leaf}"] = (wire, None)
            consumer.conns[f"{in_port}__{leaf}"] = (wire, None)

    for ((pos, net, out), (pos2, inp)) in ic.links.items():
        link(f"sw{pos[0]}_{pos[1]}_{net}_{out}", switches[pos], f"o_{net}_{out}",
             switches[pos2], f"i_{net}_{inp}")
    for uid, kind, _ in p.units:
        for port in unit_ports(p, kind):
            sw = switches[ic.unit_attach[(uid, port.name)]]
            if port.direction == "out":
                link(f"u{uid}_{port.name}", units[uid], port.name, sw,
                     f"i_{port.network}_u{uid}_{port.name}")
            else:
                link(f"u{uid}_{port.name}", sw, f"o_{port.network}_u{uid}_{port.name}",
                     units[uid], port.name)
    for _, k, pos in p.drams:
        for port in unit_ports(p, UnitKind.DRAM):
            name = f"d{k}_{port.name}"
            if port.direction == "out":
                link(name, drams[k], port.name, switches[pos], f"i_{port.network}_{name}")
            else:
                link(name, switches[pos], f"o_{port.network}_{name}", drams[k], port.name)
    for k in range(p.io_in):
        sw = switches[p.in_port_switch(k)]
        for leaf, top in (("payload", "tdata"), ("valid", "tvalid"), ("ready", "tready")):
            sw.conns[f"i_vector_in{k}__{leaf}"] = (f"in{k}_{top}", None)
    for k in range(p.io_out):
        sw = switches[p.out_port_switch(k)]
        for leaf, top in (("payload", "tdata"), ("valid", "tvalid"), ("ready", "tready")):
            sw.conns[f"o_vector_out{k}__{leaf}"] = (f"out{k}_{top}", None)
    constants = {f"out{k}_tlast": 0 for k in range(p.io_out)}
    for inst in insts:
        missing = sorted(set(inst.ports) - set(inst.conns) - {"clk", "rst"})
        assert not missing, f"{inst.name}: unconnected ports {missing}"
    return Structure(wires, insts, constants)


class Fabric(wiring.Component):
    """A checkerboard of PCUs and PMUs with a switch at every unit corner.

    Ports (flat, so AXI4-Stream verification IP attaches by prefix):
    ``cfg_t{data,valid,ready,last}`` (32-bit configuration words),
    ``in{k}_t*`` / ``out{k}_t*`` (``lanes * 32``-bit vectors, lane 0 in the low word),
    ``dram{k}_*`` (the AXI4 manager port of DRAM unit ``k``, :mod:`hw.dram`) and
    ``dram_error`` (a DRAM unit got an error response) when ``dram_ports`` > 0,
    ``start`` (In: begin once configured), ``configured``, ``cfg_error`` (a
    :class:`~hw.format.CfgError` code), ``running``, ``done``, ``cycles`` (cycles from
    start to done).

    With ``shared`` (the default) each unit and switch is an ``Instance`` of its shared
    module (``self.modules`` then maps module names to the components to elaborate for
    them); otherwise every unit is elaborated inline.
    """

    def __init__(self, p, *, shared=True):
        self.params = p
        self.shared = shared
        self.modules = {}
        super().__init__(top_ports(p))

    def elaborate(self, platform):
        s = fabric_structure(self.params)
        m = Module()
        signals = {name: getattr(self, name, None) for name in s.wires}
        for name, width in s.wires.items():
            if signals[name] is None:
                signals[name] = Signal(width, name=name)

        def wire(conn):
            name, bit = conn
            return signals[name] if bit is None else signals[name][bit]

        for inst in s.insts:
            if inst.name == "control" or not self.shared:
                comp = inst.build()
                m.submodules[inst.name] = comp
                for path, member, value in comp.signature.flatten(comp):
                    conn = inst.conns.get("__".join(map(str, path)))
                    if member.flow == In:
                        m.d.comb += value.eq(wire(conn))
                    else:
                        m.d.comb += wire(conn).eq(value)
            else:
                self.modules.setdefault(inst.module, inst.build)
                ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
                for port, (width, flow) in inst.ports.items():
                    ports[("i_" if flow == "in" else "o_") + inst.module_port(port)] = \
                        wire(inst.conns[port])
                m.submodules[inst.name] = Instance(inst.module, **ports)
        for name, value in s.constants.items():
            m.d.comb += signals[name].eq(value)
        return m
