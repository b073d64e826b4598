"""Sections: a graph that does not fit the fabric at once is cut into sections, each its
own configuration, run one after another; a tensor that one section computes and a later
one reads crosses in DRAM (stored by a DRAM unit's store engine, streamed back by a load
engine).

The cut works on the *compute nodes* of the fused graph (maps, reductions, folds and
scans; a map fused into the reduction that reads it goes with it): they are taken in
topological order and packed greedily into sections by what each needs, measured once
on a lowering of the whole graph without the fabric's limits (PCUs, PMUs), and by what
a section moves (edge input ports for the graph inputs it reads, load engines for the
tensors of earlier sections, store engines for its results that later sections read,
edge output ports for the graph outputs it writes). A section that then does not place
and route is halved (:func:`split`). Views, constants and iotas are copied into every
section that reads them; a graph output goes to the section that computes what it reads.
"""

from dataclasses import dataclass

from hw.ops import Op

from .errors import CompileError
from .exprs import Arg, fold_expr
from .ir import Graph, Input, Const, Iota, View, Map, Reduce, Fold, Scan, operands
from .lower import lower

__all__ = ["Section", "SectionPlan", "plan_sections", "section_graph", "split_maps",
           "TEMP_SUFFIX"]

#: The output name a section gives a tensor it stores for later sections.
TEMP_SUFFIX = ".dram"


@dataclass(frozen=True)
class Section:
    """One section: ``graph`` (its own graph), ``dram_in`` (its inputs that earlier
    sections computed, read from DRAM), ``dram_out`` (its outputs that later sections
    read, stored to DRAM: output ``name + TEMP_SUFFIX`` for node ``name``) and
    ``nodes`` (the compute nodes it computes)."""
    graph: Graph
    dram_in: tuple
    dram_out: tuple
    nodes: tuple


@dataclass(frozen=True)
class SectionPlan:
    """The compute nodes of each section, in order (a partition of the graph's compute
    nodes, topologically ordered)."""
    groups: tuple

    def __len__(self):
        return len(self.groups)


def compute_nodes(g):
    """The compute nodes of ``g`` in topological order, and for each node the compute
    node it belongs to (a fused map belongs to its reduction; others to themselves)."""
    users = g.consumers()
    out_refs = set(g.outputs.values())
    order = []
    owner = {}
    for name in g.topological_order():
        node = g.nodes[name]
        if isinstance(node, Map):
            readers = users[name]
            if (name not in out_refs and len(readers) == 1 and
                    isinstance(g.nodes[readers[0]], (Reduce, Fold, Scan)) and
                    g.nodes[readers[0]].input == name):
                continue            # fused, or not: it goes with its only reader
            order.append(name)
        elif isinstance(node, (Reduce, Fold, Scan)):
            order.append(name)
            if isinstance(g.nodes[node.input], Map) and node.input not in order:
                owner[node.input] = name
    for name in order:
        owner[name] = name
    return order, owner


def _reads(g, name, owner):
    """The compute nodes and graph inputs that compute node ``name`` reads (through
    views, fused maps and iotas)."""
    found, stack, seen = set(), list(operands(g.nodes[name])), set()
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        node = g.nodes[dep]
        if isinstance(node, Input) or (owner.get(dep) == dep and dep != name):
            found.add(dep)
        elif owner.get(dep) == name or isinstance(node, (View, Const, Iota)):
            stack.extend(operands(node))
        else:
            found.add(owner.get(dep, dep))
    return found


def _output_home(g, ref, owner, index):
    """The section index of graph output ``ref``: that of the last compute node it
    reads (0 for an output of inputs and constants only)."""
    if ref in index:
        return index[ref]
    best, stack, seen = 0, [ref], set()
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        if owner.get(dep) in index:
            best = max(best, index[owner[dep]])
        else:
            stack.extend(operands(g.nodes[dep]))
    return best


#: The counts of a section that never drop as it takes more nodes.
_GROWING = ("pcu", "pmu", "in", "out")


def _split_map(node, name, share):
    """Map ``node`` as two: a map ``name`` computing the largest subexpression of at
    most ``share`` of its calls, and ``node`` reading it in that subexpression's place;
    None when no subexpression helps. Split again, a chain of calls becomes a chain of
    maps each reading the one before."""
    if fold_expr(node.expr, lambda e: False,
                 lambda e, subs: e.op == Op.FTOBF_SR or any(subs)):
        return None         # its random bits follow its own order of elements
    calls = {}
    sizes = fold_expr(node.expr, lambda e: frozenset(),
                      lambda e, subs: calls.setdefault(id(e), (e, frozenset({id(e)}).union(
                          *subs)))[1])
    total = len(sizes)
    best = None
    for e, inside in calls.values():
        if e is not node.expr and len(inside) <= total * share and (
                best is None or len(inside) > len(calls[id(best)][1])):
            best = e
    if best is None or len(calls[id(best)][1]) < 2:
        return None
    used = sorted(fold_expr(best, lambda e: {e.index} if isinstance(e, Arg) else set(),
                            lambda e, subs: set().union(*subs)))
    renumber = {old: new for new, old in enumerate(used)}

    def leaf(e):
        return Arg(renumber[e.index]) if isinstance(e, Arg) else e

    def call(e, args):
        return type(e)(e.op, tuple(args))
    inner = Map(name, tuple(node.inputs[i] for i in used), fold_expr(best, leaf, call))
    hole = Arg(len(node.inputs))

    def outer_call(e, args):
        if e is best:
            return hole
        if all(new is old for new, old in zip(args, e.args)):
            return e
        return type(e)(e.op, tuple(args))
    expr = fold_expr(node.expr, lambda e: e, lambda e, args: outer_call(e, args))
    # the inputs only the moved subexpression read are the new map's alone
    inputs = tuple(node.inputs) + (name,)
    kept = sorted(fold_expr(expr, lambda e: {e.index} if isinstance(e, Arg) else set(),
                            lambda e, subs: set().union(*subs)))
    renumber = {old: new for new, old in enumerate(kept)}
    outer = Map(node.name, tuple(inputs[i] for i in kept),
                fold_expr(expr, leaf, call) if kept != list(range(len(inputs))) else expr)
    return inner, outer


def split_maps(g, shares):
    """``g`` with each map named in ``shares`` split in two (:func:`_split_map`, the
    new map taking at most that share of its calls, named ``<name>.part<k>`` and put
    before it); returns the graph and whether any was split."""
    nodes, split = [], False
    for name, node in g.nodes.items():
        pieces = None
        if name in shares and isinstance(node, Map):
            k = 0
            while f"{name}.part{k}" in g.nodes:
                k += 1
            pieces = _split_map(node, f"{name}.part{k}", shares[name])
        if pieces is None:
            nodes.append(node)
        else:
            nodes.extend(pieces)
            split = True
    out = Graph(g.name, nodes, g.outputs)
    return out, split


def plan_sections(g, p):
    """Cut fused graph ``g`` into a :class:`SectionPlan` for fabric ``p`` by the greedy
    packing of the module docstring; returns the plan and the graph it cuts, which is
    ``g`` with every map that needs more PCUs than the fabric has split into smaller
    maps (:func:`split_maps`). Raises :class:`CompileError` when the fabric has no DRAM
    units (sections pass tensors through DRAM) or one compute node alone needs more
    than the fabric has."""
    if not p.dram_ports:
        raise CompileError(f"the graph does not fit fabric {p.name!r} at once, and "
                           f"sections need DRAM units to pass tensors between them "
                           f"(the fabric has dram_ports = 0; compile for a fabric with "
                           f"DRAM ports, such as examples/fabrics/small-dram.toml)")
    n_pcu = sum(1 for _, k, _ in p.units if k.name == "PCU")
    while True:
        order, owner = compute_nodes(g)
        need = _needs(g, p, owner)
        # a piece to take three quarters of the fabric's PCUs, leaving room to route
        big = {name: min(0.5, 0.75 * n_pcu / need[name][0]) for name in order
               if need[name][0] > n_pcu}
        if not big:
            break
        g, split = split_maps(g, big)
        if not split:
            break

    reads = {name: _reads(g, name, owner) for name in order}
    readers = {name: [] for name in order}
    for name in order:
        for dep in reads[name]:
            if dep in readers:
                readers[dep].append(name)
    outputs_of = {}
    for out, ref in g.outputs.items():
        r = owner.get(ref, ref)
        outputs_of.setdefault(r, []).append(out)
    n_pmu = len(p.units) - n_pcu
    limits = {"pcu": n_pcu, "pmu": n_pmu, "in": p.io_in, "out": p.io_out,
              "load": p.dram_ports, "store": p.dram_ports}
    position = {name: k for k, name in enumerate(order)}

    def fits(lo, hi):
        use = _section_use(order[lo:hi], reads, readers, need, outputs_of, g, position, hi)
        return all(use[k] <= limits[k] for k in limits), use

    cuts = [0]      # section k is order[cuts[k]:cuts[k + 1]]; the last is being built
    while cuts[-1] < len(order):
        start = end = cuts[-1]
        # the longest section that fits: stores may drop as the section grows (their
        # readers join it), the other counts only grow, so stop when one of them is over
        for hi in range(start + 1, len(order) + 1):
            ok, use = fits(start, hi)
            if ok:
                end = hi
            elif any(use[k] > limits[k] for k in _GROWING):
                break
        if end > start:
            cuts.append(end)
            continue
        # a node that reads more tensors of earlier sections than there are load
        # engines (or the like): move the cut back, so that this section computes some
        # of what the node reads itself
        moved = next((s for s in range(start - 1, cuts[-2], -1)
                      if fits(cuts[-2], s)[0] and fits(s, start + 1)[0]),
                     None) if len(cuts) > 1 else None
        if moved is None:
            _, use = fits(start, start + 1)
            over = ", ".join(f"{use[k]} {k}" for k in limits if use[k] > limits[k])
            raise CompileError(f"needs more than fabric {p.name!r} has even in a section of "
                               f"its own ({over}; the fabric has "
                               f"{', '.join(f'{limits[k]} {k}' for k in limits)})",
                               node=order[start])
        cuts[-1] = moved
    return SectionPlan(tuple(tuple(order[a:b]) for a, b in zip(cuts, cuts[1:]))), g


def _section_use(nodes, reads, readers, need, outputs_of, g, position, end):
    """What a section of compute ``nodes`` (ending before position ``end``) uses."""
    here = set(nodes)
    use = {"pcu": 0, "pmu": 0, "in": 0, "out": 0, "load": 0, "store": 0}
    inputs, loads = set(), set()
    for name in nodes:
        use["pcu"] += need[name][0]
        use["pmu"] += need[name][1]
        use["load"] += need[name][2]
        for dep in reads[name]:
            if isinstance(g.nodes[dep], Input):
                inputs.add(dep)
            elif dep not in here:
                loads.add(dep)
        if any(position[r] >= end for r in readers[name]):
            use["store"] += 1
        use["out"] += len(outputs_of.get(name, ()))
    use["in"] = len(inputs)
    use["load"] += len(loads)
    return use


def _needs(g, p, owner):
    """Compute node -> (PCUs, PMUs, DRAM reads of big operands) in a lowering of the
    whole graph without the fabric's limits."""
    low = lower(g, p, balance=False, limits=False)
    need = {}
    kernel_node = {}
    for k in low.kernels:
        base = k.name[:-len(".reduce")] if k.name.endswith(".reduce") else k.name
        node = owner.get(base, base)
        kernel_node[k.name] = node
        pcus, pmus, reads = need.get(node, (0, 0, 0))
        need[node] = (pcus + len(k.pcus), pmus, reads)
    for plan in low.pmus.values():
        node = kernel_node.get(plan.node)
        if node is not None:
            pcus, pmus, reads = need[node]
            need[node] = (pcus, pmus + 1, reads)
    for v, read in low.dram_reads.items():
        readers = {kernel_node.get(n) for n in _readers_of(low, v)}
        for node in readers - {None}:
            pcus, pmus, reads = need[node]
            need[node] = (pcus, pmus, reads + 1)
    for name in owner.values():
        need.setdefault(name, (1, 0, 0))
    return need


def _readers_of(low, vunit):
    """The kernels whose PCUs or PMUs read vunit ``vunit``'s outputs."""
    node_of = {name: plan.node for name, plan in low.pcus.items()}
    node_of.update({name: plan.node for name, plan in low.pmus.items()})
    for net in low.netlist.nets:
        if net.source[0] == vunit:
            for sink in net.sinks:
                if sink[0] in node_of:
                    yield node_of[sink[0]]


def section_graph(g, plan, k):
    """The :class:`Section` ``k`` of ``plan`` over fused graph ``g``."""
    order, owner = compute_nodes(g)
    index = {name: j for j, group in enumerate(plan.groups) for name in group}
    here = set(plan.groups[k])
    before = {name for name, j in index.items() if j < k}
    outs = {out: ref for out, ref in g.outputs.items()
            if _output_home(g, ref, owner, index) == k}
    later = set()
    for j in range(k + 1, len(plan.groups)):
        for name in plan.groups[j]:
            later |= _reads(g, name, owner)
    for out, ref in g.outputs.items():
        if _output_home(g, ref, owner, index) > k:
            later |= _needed_by(g, ref, owner, index)
    stored = tuple(name for name in plan.groups[k] if name in later)

    nodes, dram_in = {}, []
    for root in list(plan.groups[k]) + list(outs.values()):
        stack = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if name in nodes:
                continue
            if name in before and owner.get(name) == name:
                t = g.type_of(name)
                nodes[name] = Input(name, tuple(t.shape), t.dtype)
                dram_in.append(name)
                continue
            node = g.nodes[name]
            if expanded:
                nodes[name] = node
                continue
            stack.append((name, True))
            stack.extend((dep, False) for dep in operands(node) if dep not in nodes)
    section = Graph(f"{g.name}.s{k}", nodes.values())
    for out, ref in outs.items():
        section.set_output(out, ref)
    for name in stored:
        section.set_output(name + TEMP_SUFFIX, name)
    return Section(section, tuple(dram_in), tuple(n + TEMP_SUFFIX for n in stored),
                   tuple(sorted(here, key=order.index)))


def _needed_by(g, ref, owner, index):
    """The compute nodes graph output ``ref`` reads."""
    found, stack, seen = set(), [ref], set()
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        if owner.get(dep) == dep and dep in index:
            found.add(dep)
        else:
            stack.extend(operands(g.nodes[dep]))
    return found
