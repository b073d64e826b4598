"""Lowering: a fused pattern graph to virtual units (PCU/PMU configurations) and nets.

Every kernel (a fused Map, or a Reduce/Fold/Scan with the Map it consumes) becomes a
loop nest on one virtual PCU, or a chain of them when it exceeds one PCU. Each operand
of a kernel reaches it either straight from the stream that produces it (when the
kernel consumes the elements in the order the stream carries them, allowing for reuse
of a head across inner loops) or through a virtual PMU that stores the tensor and
reads it back in the kernel's order (reuse, transposition, windows, constants).
See ``docs/compiler.md`` for the rules.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from hw.layouts import Src, AccMode, OutSrc, Access
from hw.ops import Op, ReduceOp
from .errors import CompileError
from .ir import (Input, Const, Iota, View, Map, Reduce, Fold, Scan, Arg, Imm, Call,
                 contiguous_strides, expr_text)
from .netlist import VUnit, Net, Netlist
from .passes import compose_views

__all__ = ["Stream", "Operand", "Kernel", "PcuPlan", "PmuPlan", "Lowered", "lower"]

_KIND_MARK = {"vector": "", "scalar": "(s)", "counter": "(ctr)"}
_REDUCE_TO_OP = {ReduceOp.ADD: Op.ADD, ReduceOp.MIN: Op.MIN, ReduceOp.MAX: Op.MAX}


@dataclass(frozen=True)
class Stream:
    """A tensor travelling on a link: ``order`` is ``rows`` / ``lane0`` (vector network)
    or ``scalar`` (scalar network); ``source`` is the (vunit, port) that drives it."""
    tensor: str
    shape: tuple
    order: str
    source: tuple

    @property
    def network(self):
        return "scalar" if self.order == "scalar" else "vector"


@dataclass
class Loop:
    dim: int
    extent: int
    vector: bool = False


@dataclass
class Operand:
    """A kernel input: ``tensor`` read at ``offset + sum(idx * strides)``."""
    tensor: str
    offset: int
    strides: tuple
    kind: str = "vector"        # vector (VIN) or scalar (SIN)
    level: int = 0              # pop level
    source: tuple = None        # (vunit, port) feeding it


@dataclass
class PcuPlan:
    """One virtual PCU: its configuration (as a dict for ``pcu_layout(p).const``)."""
    name: str
    config: dict
    iterations: int
    stages_used: int
    node: str


@dataclass
class PmuPlan:
    name: str
    config: dict
    init: tuple = ()            # initial contents from word 0
    words: int = 0
    node: str = ""


@dataclass
class Lowered:
    """Result of lowering: the netlist and the per-vunit configurations."""
    netlist: Netlist
    pcus: dict                  # name -> PcuPlan
    pmus: dict                  # name -> PmuPlan
    inputs: list                # [(tensor name, shape, port vunit)]
    outputs: list               # [(output name, shape, order, out vunit)]
    kernels: list               # [Kernel] for reports

    def to_text(self):
        lines = []
        for k in self.kernels:
            lines.append(k.to_text())
        for name, plan in self.pmus.items():
            cfg = plan.config
            lines.append(f"pmu {name} for {plan.node}: words={plan.words}"
                         f"{' double' if cfg['double'] else ''} "
                         f"wr={_agen_text(cfg['wr'])} rd={_agen_text(cfg['rd'])}"
                         f"{' init=' + str(len(plan.init)) if plan.init else ''}")
        lines.append(self.netlist.text())
        return "\n".join(l for l in lines if l) + "\n"


def _agen_text(a):
    if a["mode"] == Access.OFF:
        return "off"
    ctrs = ",".join(f"{c['start']}:{c['end']}:{c['stride']}" for c in a["counters"])
    return (f"{a['mode'].name.lower()}[{ctrs}{' vec' if a['vec'] else ''}] "
            f"base={a['base']} strides={list(a['strides'])} swap={a['swap']}")


@dataclass
class Kernel:
    name: str                   # node name of the tensor it produces
    shape: tuple                # output shape
    domain: tuple               # iteration domain (shape of the body)
    expr: object                # body expression over operand indices
    operands: list              # [Operand]
    loops: list                 # [Loop], innermost first
    mode: AccMode
    op: ReduceOp = ReduceOp.ADD
    order: str = "rows"         # order of the output stream
    lanes: int = 1              # of the fabric (vector loops count in vectors)
    pcus: list = field(default_factory=list)

    @property
    def iterations(self):
        n = 1
        for lp in self.loops:
            n *= -(-lp.extent // self.lanes) if lp.vector else lp.extent
        return n

    def to_text(self):
        loops = " ".join(f"d{l.dim}:{l.extent}{'v' if l.vector else ''}" for l in self.loops)
        ops = ", ".join(f"${i}={o.tensor}{_KIND_MARK[o.kind]}"
                        f"@{o.offset}{list(o.strides)}/L{o.level}"
                        for i, o in enumerate(self.operands))
        red = "" if self.mode == AccMode.NONE else f" {self.mode.name.lower()}-{self.op.name.lower()}"
        return (f"kernel {self.name} {list(self.shape)} loops[{loops}]{red} "
                f"body {expr_text(self.expr)} operands {ops} -> {self.order} "
                f"on {', '.join(self.pcus)}")


# -- helpers -----------------------------------------------------------------------------

def _ceil(a, b):
    return -(-a // b)


def _counter(start, end, stride=1):
    return {"start": start, "end": end, "stride": stride}


def _stream_seq(stream, lanes):
    """The sequence a stream carries: (address, valid lanes) per transfer."""
    shape = stream.shape or (1,)
    size = math.prod(shape)
    if stream.order == "rows":
        width = shape[-1]
        rows = size // width
        starts = [(r * width + c, min(lanes, width - c))
                  for r in range(rows) for c in range(0, width, lanes)]
        return starts
    return [(i, 1) for i in range(size)]     # lane0 and scalar: one element a transfer


def _operand_seq(op, loops, lanes):
    """The sequence of (address, valid lanes) the kernel pops for an operand."""
    live = loops[op.level:]
    ranges = []
    for lp in live:
        stride = op.strides[lp.dim]
        if lp.vector:
            ranges.append([(j * stride, min(lanes, lp.extent - j) if op.kind == "vector" else 1)
                           for j in range(0, lp.extent, lanes)])
        else:
            ranges.append([(i * stride, None) for i in range(lp.extent)])
    out = []
    # outermost first
    def rec(k, addr, valid):
        if k < 0:
            out.append((op.offset + addr, valid if valid is not None else 1))
            return
        for step, v in ranges[k]:
            rec(k - 1, addr + step, v if v is not None else valid)
    if len(ranges) == 0:
        return [(op.offset, 1)]
    total = 1
    for r in ranges:
        total *= len(r)
    if total > 1 << 20:
        return None
    rec(len(ranges) - 1, 0, None)
    return out


def _slab_split(o, live, lanes, shape, order):
    """``(inner loop count, slab words)`` when the loops ``live`` read the tensor slab by
    slab in its row-major order: the inner loops touch exactly the words of one slab
    (from the slab's start), the outer loops step from slab to slab in order, and a
    slab is whole rows of the producer's stream. None when no such split exists."""
    if o.offset != 0 or len(live) < 2:
        return None
    size = math.prod(shape)
    width = shape[-1] if order == "rows" else 1

    def addresses(loops):
        pts = [0]
        for lp in loops:
            stride = o.strides[lp.dim]
            if lp.vector:
                steps = range(0, lp.extent, lanes)
                if o.kind == "vector":
                    pts = [a + j * stride + i for a in pts for j in steps
                           for i in range(min(lanes, lp.extent - j))]
                else:
                    pts = [a + j * stride for a in pts for j in steps]
            else:
                pts = [a + i * stride for a in pts for i in range(lp.extent)]
            if len(pts) > 1 << 16:
                return None
        return pts

    for s in range(len(live) - 1, 0, -1):
        inner, outer = live[:s], live[s:]
        touched = addresses(inner)
        if touched is None:
            return None
        slab = max(touched) + 1
        if set(touched) != set(range(slab)) or slab % width or size % slab:
            continue
        bases = []
        for lp in reversed(outer):      # outermost first, as the loops run
            stride = o.strides[lp.dim] * (lanes if lp.vector else 1)
            count = -(-lp.extent // lanes) if lp.vector else lp.extent
            bases = [b + i * stride for b in (bases or [0]) for i in range(count)]
        if bases == [k * slab for k in range(size // slab)] and len(bases) > 1:
            return s, slab
    return None


# -- graph rewriting before kernel discovery ---------------------------------------------

def _resolve(g, name, types):
    """Follow Views down to a non-View node: returns (base name, offset, strides) so that
    element ``idx`` of ``name`` is ``base.flat[offset + sum(idx * strides)]``.
    Raises :class:`_NotAffine` when stacked views do not compose into one."""
    node = g.nodes.get(name)
    if not isinstance(node, View):
        shape = types[name].shape
        return name, 0, contiguous_strides(shape) if shape else ()
    while isinstance(g.nodes.get(node.input), View):
        node = compose_views(node, g.nodes[node.input])
        if node is None:
            raise _NotAffine()
    return node.input, node.offset, tuple(node.strides)


class _NotAffine(Exception):
    pass


# -- the lowering --------------------------------------------------------------------------

class _Lowerer:
    def __init__(self, g, p):
        self.g = g
        self.p = p
        self.lanes = p.lanes
        self.types = {n: g.type_of(n) for n in g.nodes}
        self.vunits = []
        self.nets = {}          # source endpoint -> (network, [sinks], name)
        self.streams = {}       # tensor -> [Stream]
        self.pcus = {}
        self.pmus = {}
        self.kernels = []
        self.inputs = []
        self.outputs = []
        self.pmu_count = 0

    # vunits and nets
    def vunit(self, name, kind):
        name = name.replace(".", "_")
        taken = {v.name for v in self.vunits}
        base, k = name, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        self.vunits.append(VUnit(name, kind))
        return name

    def connect(self, source, sink, network, name):
        entry = self.nets.setdefault(source, [network, [], f"{source[0]}/{source[1]}"])
        if sink not in entry[1]:
            entry[1].append(sink)

    def run(self):
        g = self.g
        users = g.consumers()
        out_refs = set(g.outputs.values())
        in_port = 0
        for name in g.topological_order():
            node = g.nodes[name]
            if isinstance(node, Input):
                if in_port >= self.p.io_in:
                    raise CompileError(f"the graph has more inputs than the fabric's "
                                       f"{self.p.io_in} input ports", node=name)
                v = self.vunit(f"in:{name}", "in")
                self.inputs.append((name, tuple(node.shape), v))
                self.streams[name] = [Stream(name, tuple(node.shape), "rows", (v, "data"))]
                in_port += 1
            elif isinstance(node, (Const, Iota, View)):
                continue
            elif isinstance(node, Map):
                fused = (name not in out_refs and len(users[name]) == 1 and
                         isinstance(g.nodes[users[name][0]], (Reduce, Fold, Scan)) and
                         g.nodes[users[name][0]].input == name)
                if not fused:
                    self.kernel_for(name, node.inputs, node.expr, AccMode.NONE, None, None)
            elif isinstance(node, (Reduce, Fold, Scan)):
                src = g.nodes[node.input]
                if isinstance(src, Map) and node.input not in out_refs and \
                        len(users[node.input]) == 1:
                    inputs, expr = src.inputs, src.expr
                else:
                    inputs, expr = (node.input,), Arg(0)
                if isinstance(node, Fold):
                    tmp = f"{name}.reduce"
                    self.kernel_for(tmp, inputs, expr, None, node.op, node.axis, shape_of=name)
                    self.types[tmp] = self.types[name]
                    self.kernel_for(name, (tmp,), Call(_REDUCE_TO_OP[node.op],
                                                       (Arg(0), Imm(node.init))),
                                    AccMode.NONE, None, None)
                else:
                    mode = AccMode.SCAN if isinstance(node, Scan) else None
                    self.kernel_for(name, inputs, expr, mode, node.op, node.axis)
            else:
                raise CompileError(f"cannot lower a {type(node).__name__} node (run the "
                                   f"decompose pass first)", node=name)
        for k, (out, ref) in enumerate(g.outputs.items()):
            if k >= self.p.io_out:
                raise CompileError(f"the graph has {len(g.outputs)} outputs; the fabric has "
                                   f"{self.p.io_out} output ports", node=out)
            if ref not in self.streams:
                # an input, a constant or a view: copy it through a PCU
                self.kernel_for(f"{out}.copy", (ref,), Arg(0), AccMode.NONE, None, None,
                                shape_of=ref)
                ref_stream = self.streams[f"{out}.copy"]
            else:
                ref_stream = self.streams[ref]
            stream = next(s for s in ref_stream if s.network == "vector")
            v = self.vunit(f"out:{out}", "out")
            self.connect(stream.source, (v, "data"), "vector", f"net.{stream.tensor}")
            self.outputs.append((out, tuple(self.types[ref].shape), stream.order, v))
        # an output nobody reads would fill its FIFO and keep the unit from finishing
        for name, plan in self.pcus.items():
            for port in ("vout", "sout"):
                if (name, port) not in self.nets:
                    plan.config[port] = dict(plan.config[port], enable=0)
        nets = tuple(Net(name, net, src, tuple(sinks))
                     for src, (net, sinks, name) in self.nets.items())
        return Lowered(Netlist(tuple(self.vunits), nets), self.pcus, self.pmus,
                       self.inputs, self.outputs, self.kernels)

    # -- kernels ---------------------------------------------------------------------

    def kernel_for(self, name, inputs, expr, mode, op, axis, shape_of=None):
        p = self.p
        domain = tuple(self.types[inputs[0]].shape) if inputs else ()
        dom = domain or (1,)
        n = len(dom)
        if op is None:
            mode = AccMode.NONE
            loops = [Loop(d, dom[d], d == n - 1) for d in reversed(range(n))]
            order, out_shape = "rows", domain
        elif mode == AccMode.SCAN:
            if axis != n - 1 and domain:
                raise CompileError(f"scan over axis {axis} of a rank-{n} tensor: only the "
                                   f"last axis is supported", node=name)
            loops = [Loop(d, dom[d], d == n - 1) for d in reversed(range(n))]
            order, out_shape = "rows", domain
        elif axis == n - 1:
            mode = AccMode.TREE
            loops = [Loop(d, dom[d], d == n - 1) for d in reversed(range(n))]
            order, out_shape = "lane0", domain[:-1]
        else:
            mode = AccMode.LANE
            rest = [d for d in reversed(range(n - 1)) if d != axis]
            loops = [Loop(axis, dom[axis]), Loop(n - 1, dom[n - 1], True)] + \
                    [Loop(d, dom[d]) for d in rest]
            order, out_shape = "rows", domain[:axis] + domain[axis + 1:]
        if len(loops) > p.counters:
            raise CompileError(f"needs {len(loops)} loop levels; a counter chain has "
                               f"{p.counters}", node=name)
        for lp in loops:
            if lp.extent >= 2 ** 31:
                raise CompileError(f"loop extent {lp.extent} does not fit a 32-bit counter",
                                   node=name)

        # operands, deduplicated by access
        operands, arg_map = [], {}
        for i, inp in enumerate(inputs):
            try:
                base, off, strides = _resolve(self.g, inp, self.types)
            except _NotAffine:
                raise CompileError(f"input {inp!r} is a view that is not affine in its "
                                   f"base tensor", node=name) from None
            if not domain:
                strides = (0,)
            key = (base, off, strides)
            found = next((k for k, o in enumerate(operands)
                          if (o.tensor, o.offset, o.strides) == key), None)
            if found is None:
                operands.append(Operand(base, off, strides))
                found = len(operands) - 1
            arg_map[i] = found
        expr = _remap(expr, arg_map)

        kernel = Kernel(name, out_shape, domain, expr, operands, loops, mode,
                        op if op is not None else ReduceOp.ADD, order, self.lanes)
        vloop = next(lp for lp in loops if lp.vector)
        for o in operands:
            if isinstance(self.g.nodes.get(o.tensor), Iota):
                self.counter_operand(o, loops, dom, name)
                continue
            sv = o.strides[vloop.dim]
            if sv == 1 or (sv != 0 and vloop.extent == 1):
                o.kind = "vector"
                if sv != 1:
                    o.strides = o.strides[:vloop.dim] + (1,) + o.strides[vloop.dim + 1:]
            elif sv == 0:
                o.kind = "scalar"
            elif isinstance(self.g.nodes.get(o.tensor), Const):
                self.materialize(o, dom, name)
                o.kind = "vector"
            else:
                raise CompileError(f"tensor {o.tensor!r} is read with stride {sv} along the "
                                   f"vector axis; only contiguous (1) or broadcast (0) reads "
                                   f"are supported for computed tensors", node=name)
            level = 0
            for lp in loops:
                if o.strides[lp.dim] == 0 and not (lp.vector and o.kind == "vector"):
                    level += 1
                else:
                    break
            o.level = level
        self.deliver(kernel)
        self.kernels.append(kernel)
        self.place_pcus(kernel)
        return kernel

    def counter_operand(self, o, loops, dom, node):
        """An Iota read so that its value is the index of one domain dimension: the
        PCU reads that loop's counter (``o.level`` holds the counter index)."""
        iota = self.g.nodes[o.tensor]
        shape = tuple(iota.shape)
        cs = contiguous_strides(shape)[iota.axis]
        hi = cs * shape[iota.axis]
        dims = [d for d, s in enumerate(o.strides) if s == cs and dom[d] <= shape[iota.axis]]
        ok = o.offset == 0 and len(dims) == 1 and all(
            d == dims[0] or s % hi == 0 or (dom[d] - 1) * abs(s) < cs
            for d, s in enumerate(o.strides))
        if not ok:
            raise CompileError(f"iota {o.tensor!r} is read in a way no loop counter "
                               f"produces (offset {o.offset}, strides {list(o.strides)})",
                               node=node)
        k = next(k for k, lp in enumerate(loops) if lp.dim == dims[0])
        if loops[k].vector and k != 0:
            raise CompileError(f"iota {o.tensor!r} runs along the vector axis of a per-lane "
                               f"reduction, which no counter provides", node=node)
        o.kind, o.level = "counter", k

    def materialize(self, o, dom, node):
        """Copy the elements a constant view reads into a new, compact constant."""
        base = self.g.nodes[o.tensor]
        values = np.asarray(base.values, dtype=np.int64)
        keep = [d for d in range(len(dom)) if o.strides[d] != 0]
        shape = tuple(dom[d] for d in keep)
        idx = np.indices(shape).reshape(len(shape), -1) if shape else np.zeros((0, 1), int)
        flat = o.offset + sum(idx[k] * o.strides[d] for k, d in enumerate(keep))
        new = f"{o.tensor}.v{len(self.g.nodes)}_{len(self.pmus)}"
        self.g.nodes[new] = Const(new, shape, "i32", tuple(int(v) for v in values[flat]))
        self.types[new] = type(self.types[o.tensor])(shape, "i32")
        cstr = contiguous_strides(shape)
        strides = [0] * len(dom)
        for k, d in enumerate(keep):
            strides[d] = cstr[k]
        o.tensor, o.offset, o.strides = new, 0, tuple(strides)

    # -- operand delivery --------------------------------------------------------------

    def deliver(self, kernel):
        """Choose for each operand its stream or a PMU."""
        lanes = self.lanes
        direct = {}
        for i, o in enumerate(kernel.operands):
            if isinstance(self.g.nodes.get(o.tensor), (Const, Iota)):
                continue
            streams = self.streams.get(o.tensor)
            if streams is None:
                raise CompileError(f"tensor {o.tensor!r} is used before it is computed",
                                   node=kernel.name)
            want = "scalar" if o.kind == "scalar" else "rows"
            for s in streams:
                if s.order != want:
                    continue
                seq = _operand_seq(o, kernel.loops, lanes)
                if seq is not None and seq == _stream_seq(s, lanes):
                    direct[i] = s
                    break
        # a stream that also fills a PMU of this kernel must not feed it directly: the
        # PMU waits for the whole tensor while the direct input would stall the fork
        buffered = {o.tensor for i, o in enumerate(kernel.operands)
                    if i not in direct and o.kind != "counter"}
        for i in list(direct):
            if kernel.operands[i].tensor in buffered:
                del direct[i]
        for i, o in enumerate(kernel.operands):
            if o.kind == "counter":
                continue
            if i in direct:
                o.source = direct[i].source
            else:
                o.source = self.buffer(kernel, o)

    def buffer(self, kernel, o):
        """A virtual PMU holding ``o.tensor`` and reading it in the kernel's order.

        When the kernel reads the tensor slab by slab in the order the producer writes
        it (each slab a block of whole rows that the inner loops read, possibly many
        times, before the outer loops move on), the PMU is double-buffered: the writer
        fills the next slab while the reader works on the current one, and only two
        slabs need to fit. Otherwise the whole tensor is stored first."""
        p, lanes = self.p, self.lanes
        node = self.g.nodes.get(o.tensor)
        shape = tuple(self.types[o.tensor].shape) or (1,)
        size = math.prod(shape)
        live = kernel.loops[o.level:]
        stream = None if isinstance(node, Const) else self.pick_stream(o.tensor)
        split = None if stream is None else _slab_split(o, live, lanes, shape, stream.order)
        if split is None and size > p.pmu_words:
            raise CompileError(f"tensor {o.tensor!r} needs {size} words in a PMU; a PMU "
                               f"holds {p.pmu_words}", node=kernel.name)
        if split is not None and split[1] > p.pmu_words // 2:
            raise CompileError(f"tensor {o.tensor!r} is read in slabs of {split[1]} words; "
                               f"a double-buffered PMU holds two of {p.pmu_words // 2}",
                               node=kernel.name)
        name = self.vunit(f"pmu{self.pmu_count}:{o.tensor}", "pmu")
        self.pmu_count += 1
        init = ()
        if stream is None:
            wr = {"mode": Access.OFF, "counters": [_counter(0, 1)] * p.counters, "vec": 0,
                  "base": 0, "strides": [0] * p.counters, "swap": p.counters}
            init = tuple(node.values)
        else:
            slab = size if split is None else split[1]
            slabs = size // slab
            if stream.order == "rows":
                width = shape[-1]
                ctrs = [_counter(0, width), _counter(0, slab // width), _counter(0, slabs)]
                strides, swap, mode, vec = [1, width, 0], 2, Access.VECTOR, 1
            elif stream.order == "lane0":
                ctrs = [_counter(0, 1), _counter(0, slab), _counter(0, slabs)]
                strides, swap, mode, vec = [0, 1, 0], 2, Access.VECTOR, 1
            else:
                ctrs = [_counter(0, slab), _counter(0, slabs)]
                strides, swap, mode, vec = [1, 0], 1, Access.SCALAR, 0
            if split is None:
                swap = p.counters
            wr = {"mode": mode, "vec": vec, "base": 0, "swap": swap,
                  "counters": _pad(ctrs, p.counters, _counter(0, 1)),
                  "strides": _pad(strides, p.counters, 0)}
            self.connect(stream.source, (name, "vin" if stream.network == "vector" else "sin"),
                         stream.network, f"net.{o.tensor}")
        ctrs, strides = [], []
        for k, lp in enumerate(live):
            s = o.strides[lp.dim]
            if split is not None and k >= split[0]:
                s = 0               # the outer loops move through slabs: buffer swaps
            if lp.vector and k == 0 and o.kind == "vector":
                ctrs.append(_counter(0, lp.extent))
                strides.append(s)
            elif lp.vector:
                ctrs.append(_counter(0, _ceil(lp.extent, lanes)))
                strides.append(s * lanes)   # the loop counts vectors
            else:
                ctrs.append(_counter(0, lp.extent))
                strides.append(s)
        vec = 1 if (live and live[0].vector and o.kind == "vector") else 0
        if not ctrs:
            ctrs, strides = [_counter(0, 1)], [0]
        lim = 1 << p.addr_bits
        for s in strides:
            if abs(s) >= lim:
                raise CompileError(f"address stride {s} of tensor {o.tensor!r} does not fit "
                                   f"the PMU address generator", node=kernel.name)
        rd = {"mode": Access.VECTOR if o.kind == "vector" else Access.SCALAR, "vec": vec,
              "base": o.offset, "swap": p.counters if split is None else split[0],
              "counters": _pad(ctrs, p.counters, _counter(0, 1)),
              "strides": _pad(strides, p.counters, 0)}
        cfg = {"enable": 1, "double": 0 if split is None else 1,
               "init_full": 1 if init else 0, "wr": wr, "rd": rd}
        self.pmus[name] = PmuPlan(name, cfg, init, size if split is None else 2 * split[1],
                                  kernel.name)
        return (name, "vout" if o.kind == "vector" else "sout")

    def pick_stream(self, tensor):
        streams = self.streams[tensor]
        for order in ("rows", "lane0", "scalar"):
            for s in streams:
                if s.order == order:
                    return s
        raise AssertionError(tensor)

    # -- stage scheduling and partitioning --------------------------------------------

    def place_pcus(self, kernel):
        p = self.p
        sched = _schedule(kernel.expr)
        parts = _partition(sched, kernel, p)
        prev = None
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            pname = self.vunit(f"pcu:{kernel.name}" + (f"/{k}" if len(parts) > 1 else ""), "pcu")
            kernel.pcus.append(pname)
            cfg = self.pcu_config(kernel, part, last, pname, prev)
            self.pcus[pname] = PcuPlan(pname, cfg, kernel.iterations, len(part.stages),
                                       kernel.name)
            prev = pname
        tensor = kernel.name
        streams = [Stream(tensor, kernel.shape, kernel.order, (prev, "vout"))]
        if kernel.mode == AccMode.TREE:
            streams.append(Stream(tensor, kernel.shape, "scalar", (prev, "sout")))
        self.streams[tensor] = streams

    def pcu_config(self, kernel, part, last, pname, prev):
        p = self.p
        ctrs = []
        for k, lp in enumerate(kernel.loops):
            if lp.vector and k == 0:
                ctrs.append(_counter(0, lp.extent))
            elif lp.vector:
                ctrs.append(_counter(0, _ceil(lp.extent, self.lanes)))
            else:
                ctrs.append(_counter(0, lp.extent))
        vec = 1 if kernel.loops[0].vector else 0
        vin = [{"enable": 0, "level": 0} for _ in range(p.pcu_vec_in)]
        sin = [{"enable": 0, "level": 0} for _ in range(p.pcu_scalar_in)]
        for slot, what in enumerate(part.vins):
            if what == "carry":
                vin[slot] = {"enable": 1, "level": 0}
                self.connect((prev, "vout"), (pname, f"vin{slot}"), "vector",
                             f"net.{prev}")
            else:
                o = kernel.operands[what]
                vin[slot] = {"enable": 1, "level": o.level}
                self.connect(o.source, (pname, f"vin{slot}"), "vector", f"net.{o.tensor}")
        for slot, what in enumerate(part.sins):
            o = kernel.operands[what]
            sin[slot] = {"enable": 1, "level": o.level}
            self.connect(o.source, (pname, f"sin{slot}"), "scalar", f"net.{o.tensor}")
        stages = list(part.stages)
        while len(stages) < p.stages:
            stages.append({"op": Op.PASS, "src": [_src(Src.REG, part.result)] + [_src(Src.ZERO)] * 2,
                           "imm": 0, "dest": part.result})
        acc = {"mode": AccMode.NONE, "op": ReduceOp.ADD, "src": part.result, "reset": 1}
        vout = {"enable": 1, "src": OutSrc.REG, "reg": part.result, "level": 0}
        sout = {"enable": 0, "src": OutSrc.REG, "reg": part.result, "level": 0}
        if last and kernel.mode != AccMode.NONE:
            acc["mode"] = kernel.mode
            acc["op"] = kernel.op
            if kernel.mode == AccMode.SCAN:
                vout = {"enable": 1, "src": OutSrc.ACC, "reg": 0, "level": 0}
            else:
                vout = {"enable": 1, "src": OutSrc.ACC, "reg": 0, "level": 1}
                if kernel.mode == AccMode.TREE:
                    sout = {"enable": 1, "src": OutSrc.ACC, "reg": 0, "level": 1}
        return {
            "enable": 1,
            "counters": _pad(ctrs, p.counters, _counter(0, 1)),
            "vec": vec,
            "vin": vin, "sin": sin,
            "stages": stages,
            "acc": acc, "vout": vout, "sout": sout,
        }


def _pad(items, n, fill):
    return list(items) + [fill] * (n - len(items))


def _src(kind, index=0):
    return {"kind": kind, "index": index}


def _remap(expr, arg_map):
    if isinstance(expr, Arg):
        return Arg(arg_map[expr.index])
    if isinstance(expr, Call):
        return Call(expr.op, tuple(_remap(a, arg_map) for a in expr.args))
    return expr


# -- scheduling: expression -> stage sequence ------------------------------------------------

@dataclass
class _Step:
    op: Op
    args: list      # ("val", step index) | ("arg", operand) | ("imm", value)


def _schedule(expr):
    """Post-order list of steps with common subexpressions shared. A body that is a bare
    operand or immediate becomes one ``pass`` step."""
    steps, memo = [], {}

    def leaf(e):
        if isinstance(e, Arg):
            return ("arg", e.index)
        return ("imm", int(e.value))

    def visit(e):
        if not isinstance(e, Call):
            return leaf(e)
        if e in memo:
            return ("val", memo[e])
        args = [visit(a) for a in e.args]
        imms = [a for a in args if a[0] == "imm"]
        if len({v for _, v in imms}) > 1:
            # a stage has one immediate: compute the others in pass steps first
            first = imms[0][1]
            fixed = []
            for a in args:
                if a[0] == "imm" and a[1] != first:
                    steps.append(_Step(Op.PASS, [a]))
                    fixed.append(("val", len(steps) - 1))
                else:
                    fixed.append(a)
            args = fixed
        steps.append(_Step(e.op, args))
        memo[e] = len(steps) - 1
        return ("val", len(steps) - 1)

    top = visit(expr)
    if top[0] != "val":
        steps.append(_Step(Op.PASS, [top]))
    return steps


@dataclass
class _Part:
    stages: list    # config dicts
    vins: list      # operand index or "carry"
    sins: list
    result: int     # register holding the result after the last stage


def _partition(steps, kernel, p):
    """Split the steps over as few PCUs as the stages, registers and input FIFOs allow.
    A cut is legal where exactly one computed value is live across it; it travels on the
    vector link to the next PCU."""
    n = len(steps)
    uses = {i: [] for i in range(n)}
    for j, s in enumerate(steps):
        for a in s.args:
            if a[0] == "val":
                uses[a[1]].append(j)
    parts, start, carry = [], 0, None
    while start < n:
        best = None
        for end in range(n, start, -1):
            live = [i for i in range(start, end) if any(u >= end for u in uses[i])]
            if end < n and (len(live) != 1 or
                            (carry is not None and any(u >= end for u in uses[carry]))):
                continue
            part = _build_part(steps, start, end, kernel, p, carry,
                               live[0] if end < n else n - 1)
            if part is not None:
                best = (end, part, live[0] if end < n else None)
                break
        if best is None:
            need = _needs(steps, start, n, kernel, carry)
            raise CompileError(
                f"needs {need['stages']} stages, {need['regs']} registers, {need['vins']} "
                f"vector and {need['sins']} scalar inputs after fusion; a PCU has "
                f"{p.stages} stages, {p.regs} registers, {p.pcu_vec_in} vector and "
                f"{p.pcu_scalar_in} scalar inputs, and no split applies", node=kernel.name)
        end, part, carried = best
        parts.append(part)
        if carried is not None:
            carry = carried
        start = end
    return parts


def _needs(steps, start, end, kernel, carry):
    vins, sins = set(), set()
    for s in steps[start:end]:
        for a in s.args:
            if a[0] == "arg" and kernel.operands[a[1]].kind != "counter":
                (vins if kernel.operands[a[1]].kind == "vector" else sins).add(a[1])
            elif a[0] == "val" and a[1] < start:
                vins.add("carry")
    return {"stages": end - start, "regs": _max_live(steps, start, end),
            "vins": len(vins), "sins": len(sins)}


def _max_live(steps, start, end):
    best = 1
    for t in range(start, end):
        live = sum(1 for i in range(start, t + 1)
                   if any(a[0] == "val" and a[1] == i for s in steps[t + 1:end] for a in s.args))
        best = max(best, live + 1)
    return best


def _build_part(steps, start, end, kernel, p, carry, result_step):
    if end - start > p.stages:
        return None
    vins, sins = [], []
    for s in steps[start:end]:
        for a in s.args:
            if a[0] == "arg" and kernel.operands[a[1]].kind != "counter":
                o = kernel.operands[a[1]]
                lst = vins if o.kind == "vector" else sins
                if a[1] not in lst:
                    lst.append(a[1])
            elif a[0] == "val" and a[1] < start and "carry" not in vins:
                vins.insert(0, "carry")
    if len(vins) > p.pcu_vec_in or len(sins) > p.pcu_scalar_in:
        return None
    # register allocation: linear scan; a register is free after its last reader
    last_use = {}
    for j in range(start, end):
        for a in steps[j].args:
            if a[0] == "val" and a[1] >= start:
                last_use[a[1]] = j
    reg_of, free = {}, list(range(p.regs))
    stages = []
    for j in range(start, end):
        s = steps[j]
        srcs = []
        imm = 0
        for a in s.args:
            if a[0] == "val" and a[1] >= start:
                srcs.append(_src(Src.REG, reg_of[a[1]]))
            elif a[0] == "val":
                srcs.append(_src(Src.VIN, vins.index("carry")))
            elif a[0] == "arg":
                o = kernel.operands[a[1]]
                if o.kind == "counter":
                    srcs.append(_src(Src.CTR, o.level))
                elif o.kind == "vector":
                    srcs.append(_src(Src.VIN, vins.index(a[1])))
                else:
                    srcs.append(_src(Src.SIN, sins.index(a[1])))
            else:
                srcs.append(_src(Src.IMM))
                imm = a[1]
        for a in s.args:
            if a[0] == "val" and a[1] >= start and last_use.get(a[1]) == j and \
                    reg_of[a[1]] not in free:
                free.append(reg_of[a[1]])
        free.sort()
        if not free:
            return None
        dest = free.pop(0)
        reg_of[j] = dest
        srcs += [_src(Src.ZERO)] * (3 - len(srcs))
        stages.append({"op": s.op, "src": srcs, "imm": imm, "dest": dest})
    return _Part(stages, vins, sins, reg_of[result_step])


def lower(graph, p):
    """Lower a graph that went through ``passes.pipeline`` to a :class:`Lowered`."""
    return _Lowerer(graph, p).run()
