"""The compiler driver: graph -> passes -> lowering -> place -> route -> bitstream."""

import hashlib
from dataclasses import dataclass

from hw.dram import dram_layout
from hw.format import RecordKind
from hw.interconnect import interconnect, switch_layout, NETWORKS
from hw.layouts import unit_layout
from hw.params import UnitKind
from .bitstream import Bitstream, Record, encode, words_of
from .container import pack_sections
from .errors import CapacityError, CompileError
from hw.ops import FP_OPS, FP_REDUCE_OPS
from .exprs import fold_expr
from .nodes import Const, Map
from .lower import lower
from .lower.offchip import dram_config
from .manifest import DramSpec, Manifest, PortSpec, SectionSpec
from .jsonio import graph_to_json
from .passes import pipeline
from .place import place
from .route import route
from .sections import SectionPlan, TEMP_SUFFIX, plan_sections, section_graph

__all__ = ["VERSION", "CompileResult", "SectionResult", "compile_graph", "emit_records",
           "dram_configs"]

VERSION = "0.1.0"


@dataclass
class CompileResult:
    """A compiled program: the graph after the passes, the lowering, placement and
    routing of its first section (its only one, usually), the program file's bytes
    (``bitstream``), the manifest, and every section (:class:`SectionResult`)."""
    graph: object
    lowered: object
    placement: object
    routing: object
    bitstream: bytes
    manifest: Manifest
    sections: tuple = ()

    @property
    def report(self):
        return self.manifest.report

    def report_text(self):
        r = self.manifest.report
        lines = [f"graph {self.manifest.graph!r} on fabric {self.manifest.fabric_name!r}"]
        if len(self.sections) > 1:
            lines.append(f"  {len(self.sections)} sections, run one after another "
                         f"(tensors between them in DRAM); the largest use of each kind:")
        lines += _usage_lines(r, self.manifest.ideal_cycles)
        for s in self.manifest.dram:
            what = " (constant)" if s.const else " (between sections)" if s.temp else ""
            lines.append(f"  DRAM: {s.name} {list(s.shape)} at word {s.address}{what}")
        delays = sum(len(sec.lowered.delays) for sec in self.sections)
        if delays:
            lines.append(f"  delay lines {delays} (PMU{'s' if delays != 1 else ''} holding "
                         f"the short branches of fan-outs)")
        lines.append(f"  bitstream {len(self.bitstream) // 4} words")
        if len(self.sections) > 1:
            for k, sec in enumerate(self.sections):
                sr = sec.report
                u = sr["utilization"]
                moved = ""
                if sec.dram_in or sec.dram_out:
                    moved = (f"; DRAM in {', '.join(sec.dram_in) or '-'}, out "
                             f"{', '.join(n[:-len(TEMP_SUFFIX)] for n in sec.dram_out) or '-'}")
                lines.append(f"  section {k}: PCU {u['pcu'][0]}, PMU {u['pmu'][0]}, in "
                             f"{u['in'][0]}, out {u['out'][0]}, DRAM units "
                             f"{u.get('dram', [0])[0]}; ideal cycles {sec.ideal_cycles}"
                             f"{moved}")
                for kern in sec.lowered.kernels:
                    lines.append(f"    kernel {kern.name}: {kern.mode.name.lower()} over "
                                 f"{list(kern.domain) or [1]}, {kern.iterations} iterations "
                                 f"on {len(kern.pcus)} PCU{'s' if len(kern.pcus) != 1 else ''}")
        else:
            for k in self.lowered.kernels:
                lines.append(f"  kernel {k.name}: {k.mode.name.lower()} over "
                             f"{list(k.domain) or [1]}, {k.iterations} iterations on "
                             f"{len(k.pcus)} PCU{'s' if len(k.pcus) != 1 else ''}")
        return "\n".join(lines)


def _usage_lines(r, ideal):
    lines = []
    for kind, (used, total) in r["utilization"].items():
        lines.append(f"  {kind.upper():4} {used:4} / {total:<4} ({100 * used / total:5.1f} %)")
    lines.append(f"  stages in use: {r['stages_used']} of {r['stages_available']}")
    lines.append(f"  nets {r['nets']}, switch links {r['wirelength']}, longest route "
                 f"{r['longest_route']} links, routing iterations {r['routing_iterations']}")
    lines.append(f"  placement wirelength {r['placement_wirelength']}")
    dram = f", DRAM {r['dram_bound']}" if "dram_bound" in r else ""
    lines.append(f"  ideal cycles {ideal} (compute {r['compute_bound']}, I/O "
                 f"{r['io_bound']}{dram})")
    lines.append(f"  fabric lane-slots in use at the ideal: "
                 f"{100 * r['fabric_lane_use']:.1f} % of every PCU's lanes")
    return lines


def _u32(v):
    return int(v) & 0xFFFFFFFF


def dram_configs(p, lowered, addresses):
    """Per ``dram`` vunit of ``lowered`` its ``hw.dram.dram_layout(p)`` dict, with each
    tensor at its word in ``addresses`` (tensor name -> word)."""
    return {name: dram_config(lowered.dram_reads.get(name), p,
                              addresses.get(getattr(lowered.dram_reads.get(name), "tensor",
                                                    None), 0),
                              lowered.dram_writes.get(name),
                              addresses.get(getattr(lowered.dram_writes.get(name), "tensor",
                                                    None), 0))
            for name in lowered.dram_units}


def emit_records(p, lowered, placement, routing, addresses=None):
    """Records configuring every unit, switch and DRAM unit (unused ones disabled), then
    PMU init; the DRAM tensors at their words in ``addresses`` (default: all at 0)."""
    records = []
    by_site = {}
    for name, site in placement.items():
        kind = placement.kinds[name]
        if kind in ("pcu", "pmu"):
            by_site[site] = name
    for uid, kind, _ in p.units:
        layout = unit_layout(p, kind)
        name = by_site.get(uid)
        if name is None:
            bits = 0
        else:
            plan = lowered.pcus[name] if kind == UnitKind.PCU else lowered.pmus[name]
            try:
                bits = layout.const(plan.config).as_bits()
            except (TypeError, ValueError) as e:
                raise CompileError(f"configuration does not fit the fabric: {e}",
                                   node=name) from None
        records.append(Record(RecordKind.UNIT, uid, words_of(bits, layout)))
    ic = interconnect(p)
    for pos, spec in sorted(ic.switches.items(), key=lambda kv: kv[1].id):
        cfg = routing.switch_config(pos)
        value = {net: {out: {"en": 1, "sel": sel} for out, sel in cfg[net].items()}
                 for net in NETWORKS}
        layout = switch_layout(p, pos)
        records.append(Record(RecordKind.SWITCH, spec.id,
                              words_of(layout.const(value).as_bits(), layout)))
    dram_by_site = {site: name for name, site in placement.items()
                    if placement.kinds[name] == "dram"}
    configs = dram_configs(p, lowered, addresses or {})
    for tid, k, _ in p.drams:
        layout = dram_layout(p)
        name = dram_by_site.get(k)
        try:
            bits = 0 if name is None else layout.const(configs[name]).as_bits()
        except (TypeError, ValueError) as e:
            raise CompileError(f"configuration does not fit the fabric: {e}",
                               node=name) from None
        records.append(Record(RecordKind.UNIT, tid, words_of(bits, layout)))
    for name, plan in lowered.pmus.items():
        if plan.init:
            records.append(Record(RecordKind.PMU_INIT, placement[name],
                                  (0,) + tuple(_u32(v) for v in plan.init)))
    return tuple(records)


def _check_fp(g, p):
    """Raise :class:`CompileError` when ``g`` (after the passes) computes in floating
    point and fabric ``p`` has no floating-point units."""
    if p.fp:
        return
    for name in g.topological_order():
        node = g.nodes[name]
        uses = getattr(node, "op", None) in FP_REDUCE_OPS or (
            isinstance(node, Map) and fold_expr(node.expr, lambda e: False,
                                                lambda e, subs: e.op in FP_OPS or any(subs)))
        if uses:
            raise CompileError(f"computes in floating point ({g.type_of(name)}), and fabric "
                               f"{p.name!r} has no floating-point units (its op_groups are "
                               f"{list(p.op_groups)}); compile for a fabric with op_groups "
                               f"['int', 'fp'], such as 'small-fp'", name)


def _place_and_route(lowered, p, seed, effort):
    """The checked placement and routing of ``lowered``'s netlist on fabric ``p``."""
    lowered.netlist.validate(p)
    placement = place(lowered.netlist, p, seed=seed, effort=effort)
    routing = route(lowered.netlist, placement, p)
    routing.check(lowered.netlist, placement)
    return placement, routing


def _lower_and_route(g, p, seed, effort, sr_seed, balance, dram_in=(), dram_out=()):
    """Lower ``g`` and place and route it; with delay lines, when the program with
    them does not route, again without them."""
    lowered = lower(g, p, sr_seed=sr_seed, balance=balance, dram_in=dram_in,
                    dram_out=dram_out)
    try:
        placement, routing = _place_and_route(lowered, p, seed, effort)
    except CompileError:
        if not lowered.delays:
            raise
        # the delay lines are for speed only: a program they make unroutable runs
        # without them
        lowered = lower(g, p, sr_seed=sr_seed, balance=False, dram_in=dram_in,
                        dram_out=dram_out)
        placement, routing = _place_and_route(lowered, p, seed, effort)
    return lowered, placement, routing


@dataclass
class SectionResult:
    """One section of a compiled program: its graph (None for a program of one section,
    whose graph is the program's), lowering, placement, routing, bitstream, the
    tensors it reads from and stores to DRAM, its edge ports and its report."""
    graph: object
    lowered: object
    placement: object
    routing: object
    bitstream: bytes = b""
    dram_in: tuple = ()
    dram_out: tuple = ()
    inputs: tuple = ()
    outputs: tuple = ()
    report: dict = None
    ideal_cycles: int = 0


def _compile_sections(g, p, seed, effort, sr_seed, balance, log):
    """The :class:`SectionResult` of each section of ``g``, which does not fit ``p`` at
    once: the plan of :func:`compiler.sections.plan_sections`, a section that does not
    place and route halved until every part does."""
    plan, g = plan_sections(g, p)
    groups = list(plan.groups)
    log(f"{len(g.nodes)} nodes do not fit fabric {p.name!r} at once: "
        f"{len(groups)} sections planned")
    done = []
    k = 0
    while k < len(groups):
        cut = SectionPlan(tuple(groups))
        section = section_graph(g, cut, k)
        try:
            lowered, placement, routing = _lower_and_route(
                section.graph, p, seed, effort, sr_seed, balance,
                dram_in=section.dram_in, dram_out=section.dram_out)
        except CapacityError as e:
            if len(groups[k]) < 2:
                raise CompileError(f"does not fit fabric {p.name!r} even in a section of "
                                   f"its own: {e}", node=groups[k][0]) from None
            half = len(groups[k]) // 2
            groups[k:k + 1] = [groups[k][:half], groups[k][half:]]
            # the sections before k may store different tensors now: compile them again
            done, k = [], 0
            log(f"a section did not fit ({e.message}); {len(groups)} sections now")
            continue
        done.append(SectionResult(section.graph, lowered, placement, routing,
                                  dram_in=section.dram_in, dram_out=section.dram_out))
        log(f"section {k + 1} of {len(groups)}: {_count(len(groups[k]), 'compute node')}, "
            f"{_count(len(lowered.pcus), 'PCU')}, {_count(len(lowered.pmus), 'PMU')}")
        k += 1
    return done, g


def _count(n, what):
    return f"{n} {what}{'s' if n != 1 else ''}"


def _allocate(sections):
    """Tensor -> its first word in DRAM: every tensor a section reads from or stores to
    DRAM, in the order the sections first use them, each on a 4 KiB boundary."""
    addresses, at = {}, 0
    for sec in sections:
        for access in list(sec.lowered.dram_reads.values()) + \
                list(sec.lowered.dram_writes.values()):
            if access.tensor not in addresses:
                addresses[access.tensor] = at
                at += -(-access.words // DRAM_ALIGN) * DRAM_ALIGN
    if at > 1 << 30:
        raise CapacityError(f"the DRAM tensors take {at} words; a DRAM unit addresses "
                            f"2**30")
    return addresses


#: Words between DRAM tensors' starts are a multiple of this (4 KiB).
DRAM_ALIGN = 1024


def _section_report(sec, p, g, sr_seed):
    """Fill in ``sec``'s ports, report and ideal cycles."""
    lowered, placement, routing = sec.lowered, sec.placement, sec.routing
    lanes = p.lanes
    sec.inputs = tuple(PortSpec.make(name, placement[v], shape, "rows", lanes,
                                     g.type_of(name).dtype)
                       for name, shape, v in lowered.inputs)
    sec.outputs = tuple(PortSpec.make(name, placement[v], shape, order, lanes,
                                      g.type_of(g.outputs[name]).dtype)
                        for name, shape, order, v in lowered.outputs)
    compute = max((k.iterations for k in lowered.kernels), default=0)
    io = max([s.vectors for s in sec.inputs + sec.outputs] or [0])
    # a load or store engine moves at most one beat a cycle
    accesses = list(lowered.dram_reads.values()) + list(lowered.dram_writes.values())
    dram_bound = max((a.beats(p.dram_beat) for a in accesses), default=0)
    n_pcu = sum(1 for _, k, _ in p.units if k == UnitKind.PCU)
    n_pmu = len(p.units) - n_pcu
    # the whole fabric's compute at the ideal: lane-slots the kernels' PCUs fill per
    # cycle of the ideal count, of every PCU's lanes
    ideal = max(compute, io, dram_bound)
    busy = sum(k.iterations * len(k.pcus) for k in lowered.kernels) * lanes
    lane_use = round(busy / (ideal * n_pcu * lanes), 4) if ideal else 0.0
    longest = max((r.wirelength for r in routing.routes.values()), default=0)
    sec.ideal_cycles = ideal
    sec.report = {
        "utilization": {"pcu": [len(lowered.pcus), n_pcu], "pmu": [len(lowered.pmus), n_pmu],
                        "in": [len(sec.inputs), p.io_in], "out": [len(sec.outputs), p.io_out],
                        **({"dram": [len(lowered.dram_units), p.dram_ports]}
                           if p.dram_ports else {})},
        "stages_used": sum(pl.stages_used for pl in lowered.pcus.values()),
        "stages_available": len(lowered.pcus) * p.stages,
        "nets": len(lowered.netlist.nets),
        "wirelength": routing.wirelength,
        "longest_route": longest,
        "routing_iterations": routing.iterations,
        "placement_wirelength": placement.wirelength,
        "sr_seed": sr_seed,
        "compute_bound": compute,
        "io_bound": io,
        "fabric_lane_use": lane_use,
        **({"dram_bound": dram_bound} if accesses else {}),
        "kernels": [{"name": k.name, "mode": k.mode.name.lower(), "iterations": k.iterations,
                     "pcus": list(k.pcus)} for k in lowered.kernels],
    }


def _totals(sections, sr_seed):
    """The program's report: the one section's, or for several the largest use of each
    unit kind, the sums of the bounds and every section's report under ``sections``."""
    if len(sections) == 1:
        return sections[0].report
    reports = [s.report for s in sections]
    util = {}
    for r in reports:
        for kind, (used, total) in r["utilization"].items():
            util[kind] = [max(util.get(kind, [0])[0], used), total]
    total = {key: sum(r.get(key, 0) for r in reports)
             for key in ("stages_used", "stages_available", "nets", "wirelength",
                         "routing_iterations", "placement_wirelength", "compute_bound",
                         "io_bound", "dram_bound") if any(key in r for r in reports)}
    ideal = sum(s.ideal_cycles for s in sections)
    busy = sum(r["fabric_lane_use"] * s.ideal_cycles for r, s in zip(reports, sections))
    return {"utilization": util, **total, "sr_seed": sr_seed,
            "longest_route": max(r["longest_route"] for r in reports),
            "fabric_lane_use": round(busy / ideal, 4) if ideal else 0.0,
            "kernels": [k for r in reports for k in r["kernels"]],
            "sections": [dict(r, ideal_cycles=s.ideal_cycles, dram_in=list(s.dram_in),
                              dram_out=[n[:-len(TEMP_SUFFIX)] for n in s.dram_out])
                         for r, s in zip(reports, sections)]}


def compile_graph(graph, p, *, seed=0, effort=1.0, sr_seed=0, balance=True, progress=None):
    """Compile ``graph`` for fabric ``p``. ``sr_seed`` (0 .. 65535) seeds the LFSRs of
    stochastic rounding (the manifest's report records it for the golden model).
    ``balance`` puts PMU delay lines on the short branches of fan-outs when PMUs are
    left over (:mod:`compiler.lower.balance`); without it, or when the program with
    them does not route, there are none.

    A graph that needs more units, ports or tracks than ``p`` has is compiled in
    sections (:mod:`compiler.sections`) when ``p`` has DRAM units: the result's
    ``bitstream`` is then a section container (:mod:`compiler.container`) and its
    manifest lists the sections. ``progress``, if given, is called with a line of text
    as sections are planned and compiled.
    Raises :class:`CompileError` on any failure."""
    if not isinstance(sr_seed, int) or isinstance(sr_seed, bool) or not 0 <= sr_seed < 1 << 16:
        raise CompileError(f"sr_seed must be an integer in [0, 65535], not {sr_seed!r}")
    log = progress or (lambda line: None)
    g = pipeline(graph)
    _check_fp(g, p)
    try:
        lowered, placement, routing = _lower_and_route(g, p, seed, effort, sr_seed, balance)
        sections = [SectionResult(None, lowered, placement, routing)]
    except CapacityError:
        if not p.dram_ports:
            raise
        sections, g = _compile_sections(g, p, seed, effort, sr_seed, balance, log)
    addresses = _allocate(sections)
    for sec in sections:
        records = emit_records(p, sec.lowered, sec.placement, sec.routing, addresses)
        sec.bitstream = encode(Bitstream(p.hash32, records))
        _section_report(sec, p, sec.graph or g, sr_seed)
    bitstream = pack_sections([sec.bitstream for sec in sections])

    temps = {n[:-len(TEMP_SUFFIX)] for sec in sections for n in sec.dram_out}
    dram = []
    for tensor, address in addresses.items():
        t = g.type_of(tensor)
        dram.append(DramSpec.make(tensor, address, t.shape, t.dtype,
                                  const=isinstance(g.nodes[tensor], Const),
                                  temp=tensor in temps))
    report = _totals(sections, sr_seed)
    one = len(sections) == 1
    manifest = Manifest(graph=graph.name, fabric_name=p.name, fabric_hash=p.hash,
                        fabric_hash32=p.hash32, lanes=p.lanes, compiler_version=VERSION,
                        inputs=sections[0].inputs if one else (),
                        outputs=sections[0].outputs if one else (),
                        ideal_cycles=sum(sec.ideal_cycles for sec in sections),
                        dram=tuple(dram),
                        bitstream_sha256=hashlib.sha256(bitstream).hexdigest(),
                        report=report, source=graph_to_json(graph),
                        sections=() if one else tuple(
                            SectionSpec(sec.inputs, sec.outputs, sec.ideal_cycles)
                            for sec in sections))
    first = sections[0]
    return CompileResult(g, first.lowered, first.placement,
                         first.routing, bitstream, manifest, tuple(sections))
