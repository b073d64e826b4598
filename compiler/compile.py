"""The compiler driver: graph -> passes -> lowering -> place -> route -> bitstream."""

import hashlib
from dataclasses import dataclass

from hw.dram import dram_layout
from hw.format import RecordKind
from hw.interconnect import interconnect, switch_layout, NETWORKS
from hw.layouts import unit_layout
from hw.params import UnitKind
from .bitstream import Bitstream, Record, encode, words_of
from .errors import CompileError
from hw.ops import FP_OPS, FP_REDUCE_OPS
from .exprs import fold_expr
from .nodes import Const, Map
from .lower import lower
from .manifest import DramSpec, Manifest, PortSpec
from .jsonio import graph_to_json
from .passes import pipeline
from .place import place
from .route import route

__all__ = ["VERSION", "CompileResult", "compile_graph", "emit_records"]

VERSION = "0.1.0"


@dataclass
class CompileResult:
    graph: object           # the graph after the passes
    lowered: object
    placement: object
    routing: object
    bitstream: bytes
    manifest: Manifest

    @property
    def report(self):
        return self.manifest.report

    def report_text(self):
        r = self.manifest.report
        lines = [f"graph {self.manifest.graph!r} on fabric {self.manifest.fabric_name!r}"]
        for kind, (used, total) in r["utilization"].items():
            lines.append(f"  {kind.upper():4} {used:4} / {total:<4} ({100 * used / total:5.1f} %)")
        lines.append(f"  stages in use: {r['stages_used']} of {r['stages_available']}")
        lines.append(f"  nets {r['nets']}, switch links {r['wirelength']}, longest route "
                     f"{r['longest_route']} links, routing iterations {r['routing_iterations']}")
        lines.append(f"  placement wirelength {r['placement_wirelength']}")
        dram = f", DRAM {r['dram_bound']}" if "dram_bound" in r else ""
        lines.append(f"  ideal cycles {self.manifest.ideal_cycles} "
                     f"(compute {r['compute_bound']}, I/O {r['io_bound']}{dram})")
        lines.append(f"  fabric lane-slots in use at the ideal: "
                     f"{100 * r['fabric_lane_use']:.1f} % of every PCU's lanes")
        for s in self.manifest.dram:
            lines.append(f"  DRAM port {s.port}: {s.name} {list(s.shape)} at word {s.address}"
                         f"{' (constant)' if s.const else ''}")
        if self.lowered.delays:
            n = len(self.lowered.delays)
            lines.append(f"  delay lines {n} (PMU{'s' if n != 1 else ''} holding the "
                         f"short branches of fan-outs)")
        lines.append(f"  bitstream {len(self.bitstream) // 4} words")
        for k in self.lowered.kernels:
            lines.append(f"  kernel {k.name}: {k.mode.name.lower()} over "
                         f"{list(k.domain) or [1]}, {k.iterations} iterations on "
                         f"{len(k.pcus)} PCU{'s' if len(k.pcus) != 1 else ''}")
        return "\n".join(lines)


def _u32(v):
    return int(v) & 0xFFFFFFFF


def emit_records(p, lowered, placement, routing):
    """Records configuring every unit, switch and DRAM unit (unused ones disabled), then
    PMU init."""
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
    for tid, k, _ in p.drams:
        layout = dram_layout(p)
        name = dram_by_site.get(k)
        try:
            bits = 0 if name is None else layout.const(lowered.drams[name]).as_bits()
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


def compile_graph(graph, p, *, seed=0, effort=1.0, sr_seed=0, balance=True):
    """Compile ``graph`` for fabric ``p``. ``sr_seed`` (0 .. 65535) seeds the LFSRs of
    stochastic rounding (the manifest's report records it for the golden model).
    ``balance`` puts PMU delay lines on the short branches of fan-outs when PMUs are
    left over (:mod:`compiler.lower.balance`); without it, or when the program with
    them does not route, there are none.
    Raises :class:`CompileError` on any failure."""
    if not isinstance(sr_seed, int) or isinstance(sr_seed, bool) or not 0 <= sr_seed < 1 << 16:
        raise CompileError(f"sr_seed must be an integer in [0, 65535], not {sr_seed!r}")
    g = pipeline(graph)
    _check_fp(g, p)
    lowered = lower(g, p, sr_seed=sr_seed, balance=balance)
    try:
        placement, routing = _place_and_route(lowered, p, seed, effort)
    except CompileError:
        if not lowered.delays:
            raise
        # the delay lines are for speed only: a program they make unroutable runs
        # without them
        lowered = lower(g, p, sr_seed=sr_seed, balance=False)
        placement, routing = _place_and_route(lowered, p, seed, effort)
    records = emit_records(p, lowered, placement, routing)
    bitstream = encode(Bitstream(p.hash32, records))

    lanes = p.lanes
    inputs = tuple(PortSpec.make(name, placement[v], shape, "rows", lanes,
                                 g.type_of(name).dtype)
                   for name, shape, v in lowered.inputs)
    outputs = tuple(PortSpec.make(name, placement[v], shape, order, lanes,
                                  g.type_of(g.outputs[name]).dtype)
                    for name, shape, order, v in lowered.outputs)
    # each DRAM unit holds its own copy of the graph input it reads, from word 0
    dram = tuple(DramSpec.make(read.tensor, placement[v], 0, g.type_of(read.tensor).shape,
                               g.type_of(read.tensor).dtype,
                               const=isinstance(g.nodes[read.tensor], Const))
                 for v, read in lowered.dram_reads.items())
    compute = max((k.iterations for k in lowered.kernels), default=0)
    io = max([s.vectors for s in inputs + outputs] or [0])
    # a load engine moves at most one beat a cycle
    dram_bound = max((read.beats(p.dram_beat) for read in lowered.dram_reads.values()),
                     default=0)
    n_pcu = sum(1 for _, k, _ in p.units if k == UnitKind.PCU)
    n_pmu = len(p.units) - n_pcu
    # the whole fabric's compute at the ideal: lane-slots the kernels' PCUs fill per
    # cycle of the ideal count, of every PCU's lanes
    ideal = max(compute, io, dram_bound)
    busy = sum(k.iterations * len(k.pcus) for k in lowered.kernels) * lanes
    lane_use = round(busy / (ideal * n_pcu * lanes), 4) if ideal else 0.0
    longest = max((r.wirelength for r in routing.routes.values()), default=0)
    report = {
        "utilization": {"pcu": [len(lowered.pcus), n_pcu], "pmu": [len(lowered.pmus), n_pmu],
                        "in": [len(inputs), p.io_in], "out": [len(outputs), p.io_out],
                        **({"dram": [len(dram), p.dram_ports]} if p.dram_ports else {})},
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
        **({"dram_bound": dram_bound} if dram else {}),
        "kernels": [{"name": k.name, "mode": k.mode.name.lower(), "iterations": k.iterations,
                     "pcus": list(k.pcus)} for k in lowered.kernels],
    }
    manifest = Manifest(graph=graph.name, fabric_name=p.name, fabric_hash=p.hash,
                        fabric_hash32=p.hash32, lanes=lanes, compiler_version=VERSION,
                        inputs=inputs, outputs=outputs,
                        ideal_cycles=ideal, dram=dram,
                        bitstream_sha256=hashlib.sha256(bitstream).hexdigest(),
                        report=report, source=graph_to_json(graph))
    return CompileResult(g, lowered, placement, routing, bitstream, manifest)
