"""Placement: which fabric unit or edge port each virtual unit of a netlist takes.

Simulated annealing over half-perimeter wirelength. A net's pins sit at the corner
switches its ports are wired to (``Interconnect.unit_attach`` for PCU and PMU ports,
the west and east edge switches for input and output ports), so the cost sees the
same geometry the router will; a net's wirelength is ``(max i - min i) + (max j -
min j)`` over its pins' switch coordinates.

Moves take a movable vunit to another site of its kind, swapping with the vunit
there if there is one (fixed vunits never move). The schedule follows the usual
adaptive scheme: the start temperature comes from the spread of random-move costs,
the cooling factor from the acceptance rate, and moves of PCUs and PMUs are limited to
a window around the unit that shrinks to keep about 44 % of moves accepted. All
randomness comes from one ``random.Random(seed)`` and all orders from the netlist's
order or sorted ids, so the same netlist, fabric, seed and effort give the same
placement in any process.
"""

import math
import random
from collections.abc import Mapping

from hw.interconnect import interconnect

from .errors import CapacityError, CompileError
from .netlist import KINDS

__all__ = ["Placement", "place", "terminal", "net_wirelength"]

_KIND_WORDS = {"pcu": "PCUs", "pmu": "PMUs", "in": "input ports", "out": "output ports",
               "dram": "DRAM units"}
_SITE_WORDS = {"in": "input port", "out": "output port", "dram": "DRAM unit"}


def terminal(p, kind, site, port):
    """Where a port meets the interconnect: ``(switch pos, name)``.

    For an output port (and an ``in`` vunit's ``data``) ``name`` is the switch *input*
    the port drives; for an input port (and an ``out`` vunit's ``data``) it is the switch
    *output* that drives the port. ``site`` is a unit id for ``pcu``/``pmu`` and a port
    index for ``in``/``out``.
    """
    if kind == "in":
        return p.in_port_switch(site), f"in{site}"
    if kind == "out":
        return p.out_port_switch(site), f"out{site}"
    if kind == "dram":
        return interconnect(p).dram_attach[(site, port)], f"d{site}_{port}"
    return interconnect(p).unit_attach[(site, port)], f"u{site}_{port}"


def _sites(p, kind):
    if kind == "in":
        return list(range(p.io_in))
    if kind == "out":
        return list(range(p.io_out))
    if kind == "dram":
        return list(range(p.dram_ports))
    return [uid for uid, k, _ in p.units if k == kind]


def net_wirelength(points):
    """Half-perimeter wirelength of switch coordinates ``points``."""
    rows = [i for i, _ in points]
    cols = [j for _, j in points]
    return max(rows) - min(rows) + max(cols) - min(cols)


class Placement(Mapping):
    """A placement: a read-only mapping from vunit name to site (unit id for PCUs and
    PMUs, port index for edge ports).

    Members
    -------
    fabric : str
        Name of the fabric placed on.
    kinds : dict
        Vunit name -> kind.
    wirelength : int
        Total half-perimeter wirelength of the nets.
    initial_wirelength : int
        The same for the starting placement, for reports.
    moves : int
        Moves tried.
    """

    def __init__(self, sites, kinds, fabric, wirelength, initial_wirelength=None, moves=0):
        self._sites = dict(sites)
        self.kinds = dict(kinds)
        self.fabric = fabric
        self.wirelength = wirelength
        self.initial_wirelength = wirelength if initial_wirelength is None else initial_wirelength
        self.moves = moves

    def __getitem__(self, name):
        return self._sites[name]

    def __iter__(self):
        return iter(self._sites)

    def __len__(self):
        return len(self._sites)

    def __repr__(self):
        return f"Placement({self._sites!r}, wirelength={self.wirelength})"

    def text(self):
        """One line per vunit, then the wirelength."""
        lines = []
        for name, site in self._sites.items():
            kind = self.kinds[name]
            where = f"unit {site}" if kind in ("pcu", "pmu") else f"{_SITE_WORDS[kind]} {site}"
            lines.append(f"place {name} {kind} -> {where}")
        lines.append(f"wirelength {self.wirelength} (initial {self.initial_wirelength}, "
                     f"{self.moves} moves)")
        return "\n".join(lines) + "\n"


class _Annealer:
    def __init__(self, netlist, p, rng):
        self.p = p
        self.rng = rng
        self.vunits = netlist.vunits
        index = {v.name: k for k, v in enumerate(self.vunits)}
        self.kind = [v.kind for v in self.vunits]
        # pin tables: for vunit k and port, site -> (i, j)
        self.pos_table = {}
        self.nets = []       # per net: tuple of (vunit index, pos table)
        self.nets_of = [[] for _ in self.vunits]
        for n, net in enumerate(netlist.nets):
            pins = []
            for vname, port in net.endpoints:
                k = index[vname]
                key = (self.kind[k], port)
                if key not in self.pos_table:
                    sites = _sites(p, key[0])
                    table = [None] * (max(sites) + 1)
                    for s in sites:
                        table[s] = terminal(p, key[0], s, port)[0]
                    self.pos_table[key] = table
                pins.append((k, self.pos_table[key]))
                if n not in self.nets_of[k]:
                    self.nets_of[k].append(n)
            self.nets.append(tuple(pins))
        self.sites = {kind: _sites(p, kind) for kind in KINDS}
        self.owner = {kind: {s: None for s in self.sites[kind]} for kind in KINDS}
        self.site = [None] * len(self.vunits)
        self.grid = {uid: rc for uid, _, rc in p.units}
        self.unit_at = {rc: uid for uid, _, rc in p.units}

    def net_cost(self, n):
        site = self.site
        pins = self.nets[n]
        if len(pins) == 2:
            (a, table_a), (b, table_b) = pins
            ia, ja = table_a[site[a]]
            ib, jb = table_b[site[b]]
            return abs(ia - ib) + abs(ja - jb)
        k, table = pins[0]
        i0, j0 = i1, j1 = table[site[k]]
        for k, table in pins[1:]:
            i, j = table[site[k]]
            if i < i0:
                i0 = i
            elif i > i1:
                i1 = i
            if j < j0:
                j0 = j
            elif j > j1:
                j1 = j
        return i1 - i0 + j1 - j0

    def initial(self):
        for k, v in enumerate(self.vunits):
            if v.fixed is not None:
                self.site[k] = v.fixed
                self.owner[v.kind][v.fixed] = k
        for kind in KINDS:
            free = [s for s in self.sites[kind] if self.owner[kind][s] is None]
            self.rng.shuffle(free)
            for k, v in enumerate(self.vunits):
                if v.kind == kind and v.fixed is None:
                    s = free.pop()
                    self.site[k] = s
                    self.owner[kind][s] = k
        self.cost = [self.net_cost(n) for n in range(len(self.nets))]
        self.movable = [k for k, v in enumerate(self.vunits) if v.fixed is None and self.nets_of[k]]
        self._neighbourhoods()

    def _neighbourhoods(self):
        """Per PCU/PMU site, the other sites of its kind nearest first (Chebyshev
        distance in unit coordinates, then id), and how many of them lie within each
        window radius, so a move draws its target with one random number."""
        self.near = {}
        self.within = {}
        radius = max(self.p.rows, self.p.cols)
        for kind in ("pcu", "pmu"):
            for s in self.sites[kind]:
                r, c = self.grid[s]
                dist = sorted((max(abs(r - self.grid[t][0]), abs(c - self.grid[t][1])), t)
                              for t in self.sites[kind] if t != s)
                self.near[s] = [t for _, t in dist]
                self.within[s] = [sum(1 for d, _ in dist if d <= lim) for lim in range(radius + 1)]

    def pick_target(self, k, rlim):
        """A site for vunit ``k`` other than its own, within ``rlim`` for units; or None."""
        kind = self.kind[k]
        if kind in ("in", "out", "dram"):
            sites = self.sites[kind]
            if len(sites) < 2:
                return None
            s = sites[int(self.rng.random() * (len(sites) - 1))]
            return s if s != self.site[k] else sites[-1]
        here = self.site[k]
        count = self.within[here][rlim]
        if count == 0:
            return None
        return self.near[here][int(self.rng.random() * count)]

    def try_move(self, k, rlim, temperature):
        """One move of vunit ``k``; returns (tried, accepted)."""
        target = self.pick_target(k, rlim)
        if target is None:
            return False, False
        kind = self.kind[k]
        other = self.owner[kind][target]
        if other is not None and self.vunits[other].fixed is not None:
            return False, False
        old = self.site[k]
        affected = list(self.nets_of[k])
        if other is not None:
            affected.extend(n for n in self.nets_of[other] if n not in affected)
        self.site[k] = target
        self.owner[kind][target] = k
        self.owner[kind][old] = other
        if other is not None:
            self.site[other] = old
        new_costs = [self.net_cost(n) for n in affected]
        delta = sum(new_costs) - sum(self.cost[n] for n in affected)
        if delta <= 0 or (temperature > 0 and
                          self.rng.random() < math.exp(-delta / temperature)):
            for n, c in zip(affected, new_costs):
                self.cost[n] = c
            return True, True
        self.site[k] = old
        self.owner[kind][old] = k
        self.owner[kind][target] = other
        if other is not None:
            self.site[other] = target
        return True, False

    def anneal(self, effort):
        movable = self.movable
        if not movable or not self.nets:
            return 0
        rng = self.rng
        n = len(movable)
        max_rlim = max(self.p.rows, self.p.cols)
        moves = 0
        # Start temperature: from the spread of costs over a round of accepted moves.
        samples = []
        for _ in range(n):
            tried, _ = self.try_move(movable[int(rng.random() * n)], max_rlim, math.inf)
            moves += tried
            samples.append(sum(self.cost))
        mean = sum(samples) / len(samples)
        spread = math.sqrt(sum((x - mean) ** 2 for x in samples) / len(samples))
        temperature = 20.0 * spread + 1e-9
        per_temperature = max(16, int(effort * 2 * n ** (4 / 3)))
        rlim = float(max_rlim)
        nets = len(self.nets)
        while True:
            accepted = tried_total = 0
            for _ in range(per_temperature):
                tried, ok = self.try_move(movable[int(rng.random() * n)], max(1, int(rlim)),
                                          temperature)
                tried_total += tried
                accepted += ok
            moves += tried_total
            rate = accepted / max(1, tried_total)
            total = sum(self.cost)
            if total == 0 or temperature < 0.005 * total / nets:
                break
            if rate > 0.96:
                temperature *= 0.5
            elif rate > 0.8:
                temperature *= 0.9
            elif rate > 0.15:
                temperature *= 0.95
            else:
                temperature *= 0.8
            rlim = min(max_rlim, max(1.0, rlim * (1 - 0.44 + rate)))
        # Quench: only improving moves, until a round finds none.
        while True:
            before = sum(self.cost)
            for _ in range(per_temperature):
                tried, _ = self.try_move(movable[int(rng.random() * n)], 1 + max_rlim // 4, 0)
                moves += tried
            if sum(self.cost) >= before:
                break
        return moves


def place(netlist, p, seed=0, effort=1.0):
    """Place ``netlist`` on fabric ``p``.

    Parameters
    ----------
    netlist : Netlist
    p : FabricParams
    seed : int
        Seed of the annealer's random generator.
    effort : float
        Scales the moves tried per temperature (1.0: about ``2 * n**(4/3)`` for ``n``
        movable vunits).

    Returns
    -------
    Placement
        Every vunit's site, in netlist order; fixed vunits at their fixed site.

    Raises
    ------
    CompileError
        If the netlist is invalid for ``p`` (see :meth:`Netlist.validate`), if it needs
        more units or ports of a kind than the fabric has (``"needs 9 PCUs; fabric
        'small' has 8"``), or for a bad ``seed`` or ``effort``.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise CompileError(f"seed must be an integer, not {seed!r}")
    if (not isinstance(effort, (int, float)) or isinstance(effort, bool)
            or not math.isfinite(effort) or effort <= 0):
        raise CompileError(f"effort must be a positive number, not {effort!r}")
    netlist.validate(p)
    for kind in KINDS:
        need = sum(1 for v in netlist.vunits if v.kind == kind)
        have = len(_sites(p, kind))
        if need > have:
            raise CapacityError(f"needs {need} {_KIND_WORDS[kind]}; fabric {p.name!r} has {have}")
    annealer = _Annealer(netlist, p, random.Random(seed))
    annealer.initial()
    initial = sum(annealer.cost)
    moves = annealer.anneal(effort)
    sites = {v.name: annealer.site[k] for k, v in enumerate(netlist.vunits)}
    kinds = {v.name: v.kind for v in netlist.vunits}
    return Placement(sites, kinds, p.name, sum(annealer.cost), initial, moves)
