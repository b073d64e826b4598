"""The interconnect graph: which switch inputs each switch output can select.

This object is the single source of truth for the switch hardware (each output is a
mux over ``sources`` in this order), for the fabric wiring, and for the compiler's
router (the select value of a route is the index of its source in that list).

Naming, per switch and network:

* switch inputs: ``N0`` (arriving from the north neighbour on track 0; also ``E``,
  ``S``, ``W``), ``u5_vout`` (output ``vout`` of unit 5 at one of its corners),
  ``in2`` (edge input port 2, vector network only), ``d0_vout`` (output ``vout`` of DRAM
  unit 0);
* switch outputs: ``N0`` (leaving to the north neighbour on track 0), ``u5_vin1``
  (input ``vin1`` of unit 5), ``out1`` (edge output port 1, vector network only),
  ``d0_sidx`` (input ``sidx`` of DRAM unit 0).
"""

from dataclasses import dataclass
from functools import lru_cache

from amaranth.lib import data

from .layouts import bits_for
from .params import UnitKind

__all__ = ["NETWORKS", "SIDES", "SwitchOutput", "SwitchSpec", "Interconnect",
           "interconnect", "unit_ports", "switch_layout"]

NETWORKS = ("vector", "scalar")
SIDES = {"N": (-1, 0), "E": (0, 1), "S": (1, 0), "W": (0, -1)}
OPPOSITE = {"N": "S", "S": "N", "E": "W", "W": "E"}
# corner offsets of a unit at (r, c): switch (r + di, c + dj)
CORNERS = {"NW": (0, 0), "NE": (0, 1), "SW": (1, 0), "SE": (1, 1)}
IN_CORNERS = ("NW", "NE", "SW", "SE")
OUT_CORNERS = ("SE", "NW")


@dataclass(frozen=True)
class UnitPort:
    name: str        # "vin0", "sout", ...
    network: str     # "vector" / "scalar"
    direction: str   # "in" / "out"


def unit_ports(p, kind):
    """The ports of a unit kind, in corner-assignment order (a DRAM unit has all its
    ports at one switch)."""
    if kind == UnitKind.DRAM:
        return [UnitPort("vin", "vector", "in"), UnitPort("sin", "scalar", "in"),
                UnitPort("sidx", "scalar", "in"), UnitPort("widx", "scalar", "in"),
                UnitPort("vout", "vector", "out"), UnitPort("sout", "scalar", "out")]
    if kind == UnitKind.PCU:
        ins = ([UnitPort(f"vin{k}", "vector", "in") for k in range(p.pcu_vec_in)] +
               [UnitPort(f"sin{k}", "scalar", "in") for k in range(p.pcu_scalar_in)])
    else:
        ins = [UnitPort("vin", "vector", "in"), UnitPort("sin", "scalar", "in")]
    outs = [UnitPort("vout", "vector", "out"), UnitPort("sout", "scalar", "out")]
    return ins + outs


@dataclass(frozen=True)
class SwitchOutput:
    name: str
    sources: tuple   # switch input names, in mux order

    def select(self, source):
        """The mux select value that routes ``source`` to this output."""
        return self.sources.index(source)


@dataclass(frozen=True)
class SwitchSpec:
    pos: tuple       # (i, j) corner
    id: int          # bitstream record target
    inputs: dict     # network -> tuple of input names
    outputs: dict    # network -> tuple of SwitchOutput

    def output(self, network, name):
        for out in self.outputs[network]:
            if out.name == name:
                return out
        raise KeyError(f"switch {self.pos} has no {network} output {name!r}")


class Interconnect:
    """The switch grid of a fabric.

    Members
    -------
    switches : dict ``(i, j) -> SwitchSpec``
    unit_attach : dict ``(unit_id, port) -> (i, j)`` the corner switch of each unit port
    dram_attach : dict ``(k, port) -> (i, j)`` the switch of each port of DRAM unit ``k``
        (switch ports ``d{k}_{port}``)
    links : dict ``((i, j), network, out_name) -> ((i2, j2), in_name)`` switch-to-switch
    """

    def __init__(self, p):
        self.params = p
        self.unit_attach = {}
        attached_in = {}   # (i, j) -> [(net, name)] switch outputs to unit inputs
        attached_out = {}  # (i, j) -> [(net, name)] switch inputs from unit outputs
        for uid, kind, (r, c) in p.units:
            n_in = n_out = 0
            for port in unit_ports(p, kind):
                if port.direction == "in":
                    corner = IN_CORNERS[n_in % len(IN_CORNERS)]
                    n_in += 1
                else:
                    corner = OUT_CORNERS[n_out % len(OUT_CORNERS)]
                    n_out += 1
                di, dj = CORNERS[corner]
                pos = (r + di, c + dj)
                self.unit_attach[(uid, port.name)] = pos
                bucket = attached_in if port.direction == "in" else attached_out
                bucket.setdefault(pos, []).append((port.network, f"u{uid}_{port.name}"))
        self.dram_attach = {}
        for _, k, pos in p.drams:
            for port in unit_ports(p, UnitKind.DRAM):
                self.dram_attach[(k, port.name)] = pos
                bucket = attached_in if port.direction == "in" else attached_out
                bucket.setdefault(pos, []).append((port.network, f"d{k}_{port.name}"))
        edge_in = {}
        for k in range(p.io_in):
            edge_in.setdefault(p.in_port_switch(k), []).append(f"in{k}")
        edge_out = {}
        for k in range(p.io_out):
            edge_out.setdefault(p.out_port_switch(k), []).append(f"out{k}")

        self.switches = {}
        self.links = {}
        for i in range(p.rows + 1):
            for j in range(p.cols + 1):
                inputs, outputs = {}, {}
                for net in NETWORKS:
                    tracks = p.vector_tracks if net == "vector" else p.scalar_tracks
                    sides = [s for s, (di, dj) in SIDES.items()
                             if 0 <= i + di <= p.rows and 0 <= j + dj <= p.cols]
                    side_in = [f"{s}{t}" for s in sides for t in range(tracks)]
                    unit_in = [n for (nn, n) in attached_out.get((i, j), []) if nn == net]
                    io_in = edge_in.get((i, j), []) if net == "vector" else []
                    inputs[net] = tuple(side_in + unit_in + io_in)
                    outs = []
                    for s in sides:
                        for t in range(tracks):
                            srcs = [f"{s2}{t}" for s2 in sides if s2 != s] + unit_in + io_in
                            outs.append(SwitchOutput(f"{s}{t}", tuple(srcs)))
                            di, dj = SIDES[s]
                            self.links[((i, j), net, f"{s}{t}")] = \
                                ((i + di, j + dj), f"{OPPOSITE[s]}{t}")
                    local = side_in + unit_in + io_in
                    for (nn, n) in attached_in.get((i, j), []):
                        if nn == net:
                            outs.append(SwitchOutput(n, tuple(local)))
                    if net == "vector":
                        for n in edge_out.get((i, j), []):
                            outs.append(SwitchOutput(n, tuple(local)))
                    outputs[net] = tuple(outs)
                self.switches[(i, j)] = SwitchSpec((i, j), p.switch_id(i, j), inputs, outputs)

    def switch_by_id(self, sid):
        for spec in self.switches.values():
            if spec.id == sid:
                return spec
        raise KeyError(sid)


@lru_cache(maxsize=None)
def interconnect(p):
    return Interconnect(p)


@lru_cache(maxsize=None)
def switch_layout(p, pos):
    """Configuration of the switch at corner ``pos``: per network and output, an
    enable bit and the index of the selected source."""
    spec = interconnect(p).switches[pos]
    fields = {}
    for net in NETWORKS:
        outs = {}
        for out in spec.outputs[net]:
            outs[out.name] = data.StructLayout({"en": 1, "sel": bits_for(len(out.sources) - 1)})
        fields[net] = data.StructLayout(outs)
    return data.StructLayout(fields)
