"""The netlist that placement and routing work on: virtual units joined by nets.

A *virtual unit* (:class:`VUnit`) is one PCU, PMU or edge port the program needs; a
:class:`Net` carries one value stream from one unit output port to one or more unit
input ports over the vector or the scalar network.

Ports, per kind (``p`` is the :class:`~hw.params.FabricParams`):

* ``pcu``: outputs ``vout`` (vector), ``sout`` (scalar); inputs
  ``vin0 .. vin{p.pcu_vec_in-1}`` (vector), ``sin0 .. sin{p.pcu_scalar_in-1}`` (scalar);
* ``pmu``: outputs ``vout``, ``sout``; inputs ``vin``, ``sin``;
* ``in`` (an edge input port): output ``data`` (vector);
* ``out`` (an edge output port): input ``data`` (vector).

The PCU and PMU port lists come from :func:`hw.interconnect.unit_ports`, the same
list the hardware and the interconnect are built from.

Text form (:meth:`Netlist.text`, read back by :func:`parse_netlist`)::

    vunit a pcu
    vunit m pmu @5
    net n0 vector a.vout -> m.vin, o.data
"""

import random
from dataclasses import dataclass

from hw.interconnect import NETWORKS, unit_ports

from .errors import CompileError

__all__ = ["KINDS", "VUnit", "Net", "Netlist", "port_table", "parse_netlist",
           "synthetic_netlist"]

KINDS = ("pcu", "pmu", "in", "out", "dram")


def port_table(p, kind):
    """``{port name: (network, direction)}`` of a vunit kind on fabric ``p``
    (``direction`` is ``"in"`` or ``"out"``)."""
    if kind in ("pcu", "pmu", "dram"):
        return {port.name: (port.network, port.direction) for port in unit_ports(p, kind)}
    if kind == "in":
        return {"data": ("vector", "out")}
    if kind == "out":
        return {"data": ("vector", "in")}
    raise CompileError(f"kind must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")


def _check_name(name, what):
    if not isinstance(name, str) or not name or any(ch.isspace() for ch in name) \
            or any(ch in name for ch in ".,@") or name == "->":
        raise CompileError(f"{what} name must be a non-empty string without spaces, "
                           f"'.', ',' or '@', not {name!r}")


def _check_endpoint(endpoint, net):
    if (not isinstance(endpoint, tuple) or len(endpoint) != 2
            or not all(isinstance(x, str) for x in endpoint)):
        raise CompileError(f"an endpoint must be a (vunit, port) pair of strings, "
                           f"not {endpoint!r}", node=net)


@dataclass(frozen=True)
class VUnit:
    """A unit the program needs.

    Parameters
    ----------
    name : str
        Unique within the netlist.
    kind : str
        ``"pcu"``, ``"pmu"``, ``"in"`` (edge input port), ``"out"`` (edge output port)
        or ``"dram"`` (a DRAM unit, :mod:`hw.dram`).
    fixed : int or None
        A placement the placer must keep: the unit id for ``pcu``/``pmu``, the port
        index for ``in``/``out``, the DRAM unit index for ``dram``.

    Raises
    ------
    CompileError
        For a bad name, kind or fixed value.
    """
    name: str
    kind: str
    fixed: int | None = None

    def __post_init__(self):
        _check_name(self.name, "vunit")
        if self.kind not in KINDS:
            raise CompileError(f"kind must be one of {', '.join(map(repr, KINDS))}, "
                               f"not {self.kind!r}", node=self.name)
        if self.fixed is not None and (not isinstance(self.fixed, int)
                                       or isinstance(self.fixed, bool) or self.fixed < 0):
            raise CompileError(f"fixed must be a non-negative integer or None, "
                               f"not {self.fixed!r}", node=self.name)


@dataclass(frozen=True)
class Net:
    """One value stream from a unit output port to unit input ports.

    Parameters
    ----------
    name : str
        Unique within the netlist.
    network : str
        ``"vector"`` or ``"scalar"``.
    source : (str, str)
        ``(vunit name, output port)``.
    sinks : tuple of (str, str)
        ``(vunit name, input port)`` pairs; at least one. A list is accepted and stored
        as a tuple.

    Raises
    ------
    CompileError
        For a bad name, network or endpoint shape.
    """
    name: str
    network: str
    source: tuple
    sinks: tuple

    def __post_init__(self):
        _check_name(self.name, "net")
        if self.network not in NETWORKS:
            raise CompileError(f"network must be 'vector' or 'scalar', not {self.network!r}",
                               node=self.name)
        if isinstance(self.source, list):
            object.__setattr__(self, "source", tuple(self.source))
        _check_endpoint(self.source, self.name)
        if not isinstance(self.sinks, (tuple, list)):
            raise CompileError(f"sinks must be a tuple of (vunit, port) pairs, "
                               f"not {self.sinks!r}", node=self.name)
        sinks = tuple(tuple(s) if isinstance(s, list) else s for s in self.sinks)
        object.__setattr__(self, "sinks", sinks)
        for sink in sinks:
            _check_endpoint(sink, self.name)
        if not sinks:
            raise CompileError("net has no sinks", node=self.name)

    @property
    def endpoints(self):
        """The source, then the sinks."""
        return (self.source,) + self.sinks

    def text(self):
        sinks = ", ".join(f"{v}.{port}" for v, port in self.sinks)
        return f"net {self.name} {self.network} {self.source[0]}.{self.source[1]} -> {sinks}"


@dataclass(frozen=True)
class Netlist:
    """Virtual units and the nets between them.

    Parameters
    ----------
    vunits : tuple of VUnit
    nets : tuple of Net
        Lists are accepted and stored as tuples. The order is kept: placement and
        routing visit units and nets in it, so it is part of what makes a compile
        reproducible.

    :meth:`validate` checks the netlist against a fabric.
    """
    vunits: tuple
    nets: tuple

    def __post_init__(self):
        object.__setattr__(self, "vunits", tuple(self.vunits))
        object.__setattr__(self, "nets", tuple(self.nets))
        for v in self.vunits:
            if not isinstance(v, VUnit):
                raise CompileError(f"vunits must be VUnit objects, not {v!r}")
        for n in self.nets:
            if not isinstance(n, Net):
                raise CompileError(f"nets must be Net objects, not {n!r}")

    def vunit(self, name):
        """The vunit called ``name``; ``KeyError`` if there is none."""
        for v in self.vunits:
            if v.name == name:
                return v
        raise KeyError(name)

    def validate(self, p):
        """Check the netlist against fabric ``p``.

        Raises
        ------
        CompileError
            For a duplicate vunit or net name, an endpoint naming no vunit, a port the
            vunit's kind does not have or that points the wrong way, a port on the other
            network, a sink listed twice or driven by two nets, an output driving two
            nets, or a fixed placement outside the fabric, on a unit of another kind,
            or shared by two vunits. The message names the offending node and value.
        """
        kinds = {}
        for v in self.vunits:
            if v.name in kinds:
                raise CompileError("duplicate vunit name", node=v.name)
            kinds[v.name] = v.kind
        self._validate_fixed(p)
        tables = {kind: port_table(p, kind) for kind in KINDS}
        net_names = set()
        driver = {}     # (vunit, port) -> net name, for inputs and outputs alike
        for net in self.nets:
            if net.name in net_names:
                raise CompileError("duplicate net name", node=net.name)
            net_names.add(net.name)
            seen = set()
            for endpoint, direction in [(net.source, "out")] + [(s, "in") for s in net.sinks]:
                vname, port = endpoint
                where = f"{vname}.{port}"
                if vname not in kinds:
                    raise CompileError(f"endpoint {where!r} names no vunit", node=net.name)
                kind = kinds[vname]
                table = tables[kind]
                wanted = sorted(name for name, (_, d) in table.items() if d == direction)
                if port not in table or table[port][1] != direction:
                    role = "an output" if direction == "out" else "an input"
                    raise CompileError(
                        f"{where!r} is not {role} port of a {kind} "
                        f"({'outputs' if direction == 'out' else 'inputs'}: {', '.join(wanted)})",
                        node=net.name)
                if table[port][0] != net.network:
                    raise CompileError(f"{where!r} is a {table[port][0]} port; the net is "
                                       f"{net.network}", node=net.name)
                if direction == "in":
                    if endpoint in seen:
                        raise CompileError(f"sink {where!r} listed twice", node=net.name)
                    seen.add(endpoint)
                if endpoint in driver:
                    what = "output" if direction == "out" else "input"
                    raise CompileError(f"{what} {where!r} is on nets {driver[endpoint]!r} and "
                                       f"{net.name!r}", node=net.name)
                driver[endpoint] = net.name

    def _validate_fixed(self, p):
        unit_kind = {uid: kind for uid, kind, _ in p.units}
        taken = {}
        for v in self.vunits:
            if v.fixed is None:
                continue
            if v.kind in ("pcu", "pmu"):
                if v.fixed not in unit_kind:
                    raise CompileError(f"fixed at unit {v.fixed}; fabric {p.name!r} has units "
                                       f"0..{len(unit_kind) - 1}", node=v.name)
                if unit_kind[v.fixed] != v.kind:
                    raise CompileError(f"fixed at unit {v.fixed}, which is a "
                                       f"{unit_kind[v.fixed]}, not a {v.kind}", node=v.name)
            else:
                count = {"in": p.io_in, "out": p.io_out, "dram": p.dram_ports}[v.kind]
                what = {"in": "input port", "out": "output port", "dram": "DRAM unit"}[v.kind]
                if v.fixed >= count:
                    raise CompileError(f"fixed at {what} {v.fixed}; fabric {p.name!r} has "
                                       f"{count} {what}s"
                                       f"{f' (0..{count - 1})' if count else ''}", node=v.name)
            key = ("unit" if v.kind in ("pcu", "pmu") else v.kind, v.fixed)
            if key in taken:
                raise CompileError(f"fixed at {v.fixed}, which {taken[key]!r} is fixed at too",
                                   node=v.name)
            taken[key] = v.name

    def text(self):
        """The netlist in the text form :func:`parse_netlist` reads."""
        lines = []
        for v in self.vunits:
            lines.append(f"vunit {v.name} {v.kind}" + ("" if v.fixed is None else f" @{v.fixed}"))
        lines.extend(net.text() for net in self.nets)
        return "\n".join(lines) + "\n"

    def __str__(self):
        return self.text()


def parse_netlist(text):
    """Read the text form of :meth:`Netlist.text`. Blank lines and ``#`` comments are
    skipped.

    Raises
    ------
    CompileError
        For a line that is not a ``vunit`` or ``net`` line; the message quotes it.
    """
    vunits, nets = [], []

    def endpoint(word, line):
        vname, dot, port = word.partition(".")
        if not dot:
            raise CompileError(f"endpoint must be 'vunit.port', not {word!r} in line {line!r}")
        return (vname, port)

    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "vunit" and len(words) in (3, 4):
            fixed = None
            if len(words) == 4:
                if not words[3].startswith("@") or not words[3][1:].isdigit():
                    raise CompileError(f"fixed placement must be '@N', not {words[3]!r}")
                fixed = int(words[3][1:])
            vunits.append(VUnit(words[1], words[2], fixed))
        elif words[0] == "net" and len(words) >= 6 and words[4] == "->":
            sinks = " ".join(words[5:]).split(",")
            nets.append(Net(words[1], words[2], endpoint(words[3], line),
                            tuple(endpoint(s.strip(), line) for s in sinks)))
        else:
            raise CompileError(f"cannot read netlist line {raw.strip()!r}")
    return Netlist(tuple(vunits), tuple(nets))


def synthetic_netlist(p, pcus, pmus, ins, outs, nets, seed=0, window=8):
    """A random netlist shaped like a dataflow pipeline, for tests and benchmarks.

    The vunits are put in a random sequence (edge inputs first, edge outputs last), and
    each net goes from an output port of one vunit to one to three free input ports of
    the ``window`` vunits after it, so communication is mostly local, as in a compiled
    program. Fewer than ``nets`` nets are made when the free ports run out.

    Raises
    ------
    CompileError
        For a negative count or a ``window`` below 1.
    """
    for name, value in [("pcus", pcus), ("pmus", pmus), ("ins", ins), ("outs", outs),
                        ("nets", nets)]:
        if not isinstance(value, int) or value < 0:
            raise CompileError(f"{name} must be a non-negative integer, not {value!r}")
    if not isinstance(window, int) or window < 1:
        raise CompileError(f"window must be a positive integer, not {window!r}")
    rng = random.Random(seed)
    body = [VUnit(f"c{k}", "pcu") for k in range(pcus)] + \
        [VUnit(f"m{k}", "pmu") for k in range(pmus)]
    rng.shuffle(body)
    units = [VUnit(f"i{k}", "in") for k in range(ins)] + body + \
        [VUnit(f"o{k}", "out") for k in range(outs)]
    tables = [port_table(p, v.kind) for v in units]
    free_in = [[port for port, (_, d) in table.items() if d == "in"] for table in tables]
    drivers = [(k, port, table[port][0]) for k, table in enumerate(tables)
               for port in table if table[port][1] == "out"]
    rng.shuffle(drivers)
    made = []
    for k, port, network in drivers:
        if len(made) >= nets:
            break
        candidates = [(u, q) for u in range(k + 1, min(len(units), k + 1 + window))
                      for q in free_in[u] if tables[u][q][0] == network]
        if not candidates:
            continue
        chosen = rng.sample(candidates, min(len(candidates), rng.choice((1, 1, 1, 2, 3))))
        for u, q in chosen:
            free_in[u].remove(q)
        made.append(Net(f"n{len(made)}", network, (units[k].name, port),
                        tuple((units[u].name, q) for u, q in chosen)))
    return Netlist(tuple(units), tuple(made))
