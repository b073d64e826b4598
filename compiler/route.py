"""Routing: the switch settings that carry every net from its source to its sinks.

PathFinder negotiated congestion over the interconnect graph of
:mod:`hw.interconnect`, one graph per network. Nodes are switch outputs, each able to
carry one net. A node's possible drivers are the switch inputs in its ``sources``;
an input is fed by a neighbour's output over a link, by a unit output port, or by an
edge input port. Choosing input ``x`` for output ``o`` is the hop ``(pos, network, o,
x)``, and its mux select is ``o.sources.index(x)``.

Each net is routed as a tree: the sinks one after another, nearest first, each by an
A* search that starts from the whole tree built so far (a net reuses its own outputs;
several outputs selecting the same input is the fabric's fan-out). A node costs
``(1 + history) * (1 + present_factor * other nets on it)``; after every iteration
the history of each overused node grows, the present factor grows, and the nets on
overused nodes are ripped up and routed again, until no node is overused.

Nets are routed in netlist order, sinks in order of distance then name, and the
priority queue breaks ties by insertion order, so the result is the same in any
process.
"""

import heapq
from dataclasses import dataclass

from hw.interconnect import NETWORKS, interconnect

from .errors import CapacityError, CompileError
from .place import terminal

__all__ = ["Hop", "NetRoute", "Routing", "route", "check_routing"]


@dataclass(frozen=True)
class Hop:
    """Output ``output`` of the switch at ``pos`` on ``network`` selects input ``input``."""
    pos: tuple
    network: str
    output: str
    input: str


@dataclass(frozen=True)
class NetRoute:
    """The route of one net.

    Members
    -------
    net, network : str
    hops : tuple of Hop
        In the order the tree was grown (every hop's input is driven by the net's source
        or by an earlier hop).
    wirelength : int
        Switch-to-switch links used.
    """
    net: str
    network: str
    hops: tuple
    wirelength: int

    def text(self):
        return f"route {self.net} {self.network}: {len(self.hops)} hops, {self.wirelength} links"


class Routing:
    """The routes of a netlist.

    Members
    -------
    fabric : FabricParams
    routes : dict
        Net name -> :class:`NetRoute`, in netlist order.
    iterations : int
        PathFinder iterations used.
    wirelength : int
        Links used by all nets.
    """

    def __init__(self, p, routes, iterations):
        self.fabric = p
        self.routes = dict(routes)
        self.iterations = iterations
        self.wirelength = sum(r.wirelength for r in self.routes.values())
        self._by_switch = None

    def switch_config(self, pos):
        """Settings of the switch at corner ``pos``: ``{network: {output name: select}}``
        for the outputs in use (select = index of the chosen input in the output's
        ``sources``); both networks are present, possibly empty.

        Raises ``KeyError`` for a position with no switch.
        """
        spec = interconnect(self.fabric).switches[pos]
        if self._by_switch is None:
            self._by_switch = {}
            for r in self.routes.values():
                for hop in r.hops:
                    self._by_switch.setdefault(hop.pos, []).append(hop)
        config = {net: {} for net in NETWORKS}
        for hop in sorted(self._by_switch.get(pos, ()), key=lambda h: (h.network, h.output)):
            config[hop.network][hop.output] = spec.output(hop.network, hop.output).select(hop.input)
        return config

    def check(self, netlist, placement):
        """See :func:`check_routing`."""
        check_routing(self, netlist, placement)

    def text(self):
        lines = [r.text() for r in self.routes.values()]
        lines.append(f"routed {len(self.routes)} nets in {self.iterations} iterations, "
                     f"wirelength {self.wirelength}")
        return "\n".join(lines) + "\n"


def _endpoint_terminal(p, netlist, placement, endpoint):
    vname, port = endpoint
    return terminal(p, netlist.vunit(vname).kind, placement[vname], port)


def check_routing(routing, netlist, placement):
    """Verify a routing against the interconnect, independently of the router.

    Walks each net from its source through its hops and checks that every sink is
    reached, that each hop's input is among its output's sources and is driven (by the
    source or by an earlier hop of the net, over a link), that no output selects two
    inputs, and that no output is used by two nets.

    Raises
    ------
    CompileError
        Naming the net and the first violation found.
    """
    p = routing.fabric
    ic = interconnect(p)
    reverse_links = {(dst, net, inp): (src, out) for (src, net, out), (dst, inp) in ic.links.items()}
    users = {}
    for net in netlist.nets:
        if net.name not in routing.routes:
            raise CompileError("net is not routed", node=net.name)
        r = routing.routes[net.name]
        selected = {}
        for hop in r.hops:
            if hop.network != net.network:
                raise CompileError(f"hop {hop} is on the {hop.network} network", node=net.name)
            if hop.pos not in ic.switches:
                raise CompileError(f"hop {hop} names no switch", node=net.name)
            try:
                out = ic.switches[hop.pos].output(hop.network, hop.output)
            except KeyError:
                raise CompileError(f"hop {hop} names no switch output", node=net.name) from None
            if hop.input not in out.sources:
                raise CompileError(f"hop {hop}: {hop.input!r} is not a source of "
                                   f"{hop.output!r}", node=net.name)
            key = (hop.pos, hop.network, hop.output)
            if key in selected and selected[key] != hop.input:
                raise CompileError(f"output {hop.pos} {hop.network} {hop.output} selects both "
                                   f"{selected[key]!r} and {hop.input!r}", node=net.name)
            selected[key] = hop.input
            if key in users and users[key] != net.name:
                raise CompileError(f"output {hop.pos} {hop.network} {hop.output} is used by "
                                   f"nets {users[key]!r} and {net.name!r}", node=net.name)
            users[key] = net.name
        src_pos, src_in = _endpoint_terminal(p, netlist, placement, net.source)
        driven = {(src_pos, src_in)}     # switch inputs carrying the net
        reached = set()                  # switch outputs carrying the net
        frontier = True
        while frontier:
            frontier = False
            for (pos, network, output), inp in selected.items():
                if (pos, network, output) in reached or (pos, inp) not in driven:
                    continue
                reached.add((pos, network, output))
                frontier = True
                link = ic.links.get((pos, network, output))
                if link is not None:
                    driven.add(link)
        for key in selected:
            if key not in reached:
                raise CompileError(f"output {key[0]} {key[1]} {key[2]} is not reached from "
                                   f"the source", node=net.name)
        for sink in net.sinks:
            pos, name = _endpoint_terminal(p, netlist, placement, sink)
            if (pos, net.network, name) not in reached:
                raise CompileError(f"sink '{sink[0]}.{sink[1]}' is not reached", node=net.name)
        # an input fed by a link must be fed by this net's own output over that link
        for (pos, network, output), inp in selected.items():
            feeder = reverse_links.get((pos, network, inp))
            if feeder is not None and (feeder[0], network, feeder[1]) not in selected:
                raise CompileError(f"output {pos} {network} {output} selects {inp!r}, which "
                                   f"the net does not drive", node=net.name)


class _Graph:
    """The routing graph of one fabric, both networks, nodes numbered densely."""

    def __init__(self, p):
        ic = interconnect(p)
        self.node_key = []      # id -> (pos, network, output name)
        self.node_id = {}
        self.dest = []          # id -> switch pos the output's signal arrives at
        self.link_in = []       # id -> input name at dest, or None for a terminal
        for pos in sorted(ic.switches):
            spec = ic.switches[pos]
            for network in NETWORKS:
                for out in spec.outputs[network]:
                    key = (pos, network, out.name)
                    self.node_id[key] = len(self.node_key)
                    self.node_key.append(key)
                    link = ic.links.get(key)
                    self.dest.append(link[0] if link else pos)
                    self.link_in.append(link[1] if link else None)
        # (pos, network, input name) -> ids of the outputs that can select it
        self.readers = {}
        for pos in sorted(ic.switches):
            spec = ic.switches[pos]
            for network in NETWORKS:
                for out in spec.outputs[network]:
                    nid = self.node_id[(pos, network, out.name)]
                    for src in out.sources:
                        self.readers.setdefault((pos, network, src), []).append(nid)
        self.succ = []
        for nid, (pos, network, _) in enumerate(self.node_key):
            if self.link_in[nid] is None:
                self.succ.append(())
            else:
                self.succ.append(tuple(self.readers.get((self.dest[nid], network,
                                                         self.link_in[nid]), ())))


class _Router:
    def __init__(self, p, graph, nets):
        self.g = graph
        self.nets = nets        # per net: (name, network, src_pos, src_in, [(sink node, pos)])
        n = len(graph.node_key)
        self.occ = [0] * n
        self.hist = [0.0] * n
        self.trees = [None] * len(nets)    # per net: dict node -> parent node (-1: source)
        self.pres_fac = 0.5

    def rip_up(self, k):
        for nid in self.trees[k]:
            self.occ[nid] -= 1
        self.trees[k] = None

    def route_net(self, k):
        name, network, src_pos, src_in, sinks = self.nets[k]
        g = self.g
        tree = {}
        first = g.readers.get((src_pos, network, src_in), ())
        for sink, tpos in sinks:
            if sink not in tree:
                self._search(tree, first, sink, tpos, name)
        for nid in tree:
            self.occ[nid] += 1
        self.trees[k] = tree

    def _search(self, tree, first, target, tpos, name):
        g = self.g
        occ, hist, pres_fac = self.occ, self.hist, self.pres_fac
        succ, dest, link_in = g.succ, g.dest, g.link_in
        ti, tj = tpos
        heap = []
        count = 0

        def push(nid, base, parent):
            nonlocal count
            if nid in tree:
                return
            if link_in[nid] is None and nid != target:
                return       # another port's terminal: a dead end
            cost = base + (1.0 + hist[nid]) * (1.0 + pres_fac * occ[nid])
            i, j = dest[nid]
            count += 1
            heapq.heappush(heap, (cost + abs(i - ti) + abs(j - tj), count, cost, nid, parent))

        for nid in first:
            push(nid, 0.0, -1)
        for nid in tree:
            for s in succ[nid]:
                push(s, 0.0, nid)
        parent_of = {}
        while heap:
            _, _, cost, nid, parent = heapq.heappop(heap)
            if nid in parent_of:
                continue
            parent_of[nid] = parent
            if nid == target:
                path = []
                while nid not in tree and nid != -1:
                    path.append(nid)
                    nid = parent_of[nid]
                for nid in reversed(path):
                    tree[nid] = parent_of[nid]
                return
            for s in succ[nid]:
                if s not in parent_of:
                    push(s, cost, nid)
        raise CompileError(f"sink {g.node_key[target]} cannot be reached", node=name)

    def overused(self):
        return [nid for nid, o in enumerate(self.occ) if o > 1]


def route(netlist, placement, p, max_iterations=50):
    """Route ``netlist`` as placed by ``placement`` on fabric ``p``.

    Parameters
    ----------
    netlist : Netlist
    placement : Placement or mapping
        Vunit name -> site, as :func:`~compiler.place.place` returns.
    p : FabricParams
    max_iterations : int
        PathFinder iterations before giving up.

    Returns
    -------
    Routing

    Raises
    ------
    CompileError
        For an invalid netlist, a placement that misses a vunit or puts it on a site
        of another kind or outside the fabric, or when congestion remains after
        ``max_iterations`` (``"routing failed after 50 iterations: congested switches
        (1,2) vector E0 (3 nets), ..."``).
    """
    if not isinstance(max_iterations, int) or isinstance(max_iterations, bool) \
            or max_iterations < 1:
        raise CompileError(f"max_iterations must be a positive integer, not {max_iterations!r}")
    netlist.validate(p)
    _check_placement(netlist, placement, p)
    graph = _Graph(p)
    nets = []
    for net in netlist.nets:
        src_pos, src_in = _endpoint_terminal(p, netlist, placement, net.source)
        sinks = []
        for sink in net.sinks:
            pos, name = _endpoint_terminal(p, netlist, placement, sink)
            dist = abs(pos[0] - src_pos[0]) + abs(pos[1] - src_pos[1])
            sinks.append((dist, sink, graph.node_id[(pos, net.network, name)], pos))
        sinks.sort()
        nets.append((net.name, net.network, src_pos, src_in,
                     [(nid, pos) for _, _, nid, pos in sinks]))
    router = _Router(p, graph, nets)
    to_route = range(len(nets))
    for iteration in range(1, max_iterations + 1):
        for k in to_route:
            if router.trees[k] is not None:
                router.rip_up(k)
            router.route_net(k)
        over = router.overused()
        if not over:
            return _result(p, graph, router, netlist, iteration)
        if iteration == max_iterations:
            break
        for nid in over:
            router.hist[nid] += 1.0 * (router.occ[nid] - 1)
        router.pres_fac *= 1.6
        over_set = set(over)
        to_route = [k for k in range(len(nets)) if not over_set.isdisjoint(router.trees[k])]
    parts = []
    for nid in over:
        (i, j), network, name = graph.node_key[nid]
        parts.append(f"({i},{j}) {network} {name} ({router.occ[nid]} nets)")
    shown = ", ".join(parts[:8]) + (f", and {len(parts) - 8} more" if len(parts) > 8 else "")
    raise CapacityError(f"routing failed after {max_iterations} iterations: "
                       f"congested switches {shown}")


def _check_placement(netlist, placement, p):
    unit_kind = {uid: kind for uid, kind, _ in p.units}
    for v in netlist.vunits:
        if v.name not in placement:
            raise CompileError("vunit is not placed", node=v.name)
        site = placement[v.name]
        if v.kind in ("pcu", "pmu"):
            ok = unit_kind.get(site) == v.kind
        else:
            count = {"in": p.io_in, "out": p.io_out, "dram": p.dram_ports}[v.kind]
            ok = isinstance(site, int) and 0 <= site < count
        if not ok:
            raise CompileError(f"placed at {site!r}, which is not a {v.kind} site of fabric "
                               f"{p.name!r}", node=v.name)


def _result(p, graph, router, netlist, iterations):
    routes = {}
    for k, (name, network, _, src_in, _) in enumerate(router.nets):
        hops = []
        links = 0
        for nid, parent in router.trees[k].items():
            pos, _, out = graph.node_key[nid]
            hops.append(Hop(pos, network, out, src_in if parent == -1 else graph.link_in[parent]))
            links += graph.link_in[nid] is not None
        routes[name] = NetRoute(name, network, tuple(hops), links)
    return Routing(p, routes, iterations)
