"""Switch: the routing node at every unit corner, for the vector and the scalar network."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .interconnect import NETWORKS, interconnect, switch_layout
from .links import link_shape, link_signature

__all__ = ["Switch", "SkidBuffer", "link_shape"]


class SkidBuffer(wiring.Component):
    """A 2-entry stream buffer whose ``i.ready`` is a register.

    It moves one word per cycle when ``o`` is not blocked, and no combinational path
    runs from ``o.ready`` to ``i.ready``: ``i.ready`` is high exactly when the second
    entry is empty. ``o.valid`` and ``o.payload`` are registers too.

    Parameters
    ----------
    shape : shape-castable
        Payload shape.

    Ports
    -----
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    """

    def __init__(self, shape):
        self._shape = shape
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform):
        m = Module()
        skid = Signal(self._shape)
        skid_valid = Signal()
        m.d.comb += self.i.ready.eq(~skid_valid)
        take = self.i.valid & self.i.ready
        # the head entry refills when it is empty or leaves this cycle
        with m.If(~self.o.valid | self.o.ready):
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(take)]
        with m.Elif(take):
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m


class Switch(wiring.Component):
    """The switch at corner ``pos`` of the fabric described by ``p``.

    Every output is a mux over the sources that :func:`hw.interconnect.interconnect`
    lists for it (select ``cfg[net][out].sel``, enable ``cfg[net][out].en``) feeding a
    :class:`SkidBuffer`. Fan-out is a lazy fork: an input is consumed in the cycle when
    every enabled output selecting it has room, and all of them take it then. An input
    that no enabled output selects is never ready; an output whose ``sel`` is past the
    end of its source list takes nothing.

    Parameters
    ----------
    p : FabricParams
    pos : tuple (i, j)
        Corner of the switch.

    Ports
    -----
    i_{net}_{name} : In(link_signature(p, net))
        One per input ``name`` of ``interconnect(p).switches[pos].inputs[net]``.
    o_{net}_{name} : Out(link_signature(p, net))
        One per output of ``interconnect(p).switches[pos].outputs[net]``.
    cfg : In(switch_layout(p, pos))
        Held stable while traffic flows.

    Raises
    ------
    ValueError
        If ``pos`` is not a switch corner of ``p``.
    """

    def __init__(self, p, pos):
        pos = tuple(pos)
        switches = interconnect(p).switches
        if pos not in switches:
            self._MustUse__silence = True
            raise ValueError(f"pos must be a switch corner (i, j) with 0 <= i <= {p.rows} "
                             f"and 0 <= j <= {p.cols}, not {pos!r}")
        self._p = p
        self._spec = switches[pos]
        members = {}
        for net in NETWORKS:
            link = link_signature(p, net)
            for name in self._spec.inputs[net]:
                members[f"i_{net}_{name}"] = In(link)
            for out in self._spec.outputs[net]:
                members[f"o_{net}_{out.name}"] = Out(link)
        members["cfg"] = In(switch_layout(p, pos))
        super().__init__(members)

    @property
    def spec(self):
        """The :class:`hw.interconnect.SwitchSpec` this switch is built from."""
        return self._spec

    def elaborate(self, platform):
        m = Module()
        for net in NETWORKS:
            self._elaborate_network(m, net)
        return m

    def _elaborate_network(self, m, net):
        spec = self._spec
        inputs = {name: getattr(self, f"i_{net}_{name}") for name in spec.inputs[net]}
        # per input: whether some enabled output selects it, and whether every such
        # output has room (the lazy-fork condition)
        wanted = {name: [] for name in inputs}
        blocked = {name: [] for name in inputs}
        for out in spec.outputs[net]:
            cfg = self.cfg[net][out.name]
            buf = SkidBuffer(link_shape(self._p, net))
            m.submodules[f"{net}_{out.name}"] = buf
            wiring.connect(m, buf.o, wiring.flipped(getattr(self, f"o_{net}_{out.name}")))
            with m.Switch(cfg.sel):
                for index, source in enumerate(out.sources):
                    with m.Case(index):
                        src = inputs[source]
                        m.d.comb += [
                            buf.i.payload.eq(src.payload),
                            buf.i.valid.eq(cfg.en & src.valid & src.ready),
                        ]
            for index, source in enumerate(out.sources):
                picks = Signal(name=f"{net}_{out.name}_picks_{source}")
                m.d.comb += picks.eq(cfg.en & (cfg.sel == index))
                wanted[source].append(picks)
                blocked[source].append(picks & ~buf.i.ready)
        for name, src in inputs.items():
            if wanted[name]:
                any_wants = wanted[name][0]
                any_blocked = blocked[name][0]
                for w, b in zip(wanted[name][1:], blocked[name][1:]):
                    any_wants |= w
                    any_blocked |= b
                m.d.comb += src.ready.eq(any_wants & ~any_blocked)
