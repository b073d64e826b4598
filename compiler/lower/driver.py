"""The lowering driver: runs the steps for each kernel in order and collects units,
nets and configurations into a :class:`~.plans.Lowered`."""

from dataclasses import replace

from hw.dram import DramMode
from hw.layouts import AccMode
from ..errors import CapacityError, CompileError
from .balance import branch_needs, chain_lags, choose_delays, pmu_sites
from .configs import pcu_config, pmu_config
from .offchip import stream_read, stream_write
from .delivery import operand_walk, plan_delivery
from .discovery import InputStep, KernelSpec, OutputStep, find_kernels
from .kernels import build_kernel
from .nets import NetBuilder
from .partition import partition, part_index
from .plans import Stream, PcuPlan, PmuPlan, Lowered
from .schedule import schedule
from .tensors import Tensors

__all__ = ["lower"]


def lower(graph, p, *, sr_seed=0, balance=True, dram_in=(), dram_out=(), limits=True):
    """Lower a graph that went through ``passes.pipeline`` to a :class:`Lowered` for
    fabric ``p``; stages that round stochastically seed their LFSRs with ``sr_seed``.
    With ``balance``, the short branches of vector fan-outs get PMU delay lines, as
    many as the PMUs left over allow (:mod:`.balance`). The graph is only read.

    The graph inputs named in ``dram_in`` are in DRAM: a DRAM unit's load engine
    streams each in ``rows`` order where an edge port would. The graph outputs named
    in ``dram_out`` are stored to DRAM by a store engine instead of leaving on an edge
    port (both for the tensors that cross between the sections of a program).
    Without ``limits``, the edge ports and DRAM units are not counted (to measure
    what a graph needs, :mod:`compiler.sections`).

    Raises :class:`~compiler.errors.CompileError` naming the node at fault when the
    graph needs more than the fabric has or reads a tensor in a way no unit can."""
    tensors = Tensors(graph)
    lowering = _Lowering(p, tensors, sr_seed, balance, frozenset(dram_in), frozenset(dram_out))
    lowering.limits = limits
    return lowering.run(find_kernels(graph))


class _Lowering:
    """The state of one lowering: the tensors known, the streams they travel on, the
    units and nets built so far."""

    def __init__(self, p, tensors, sr_seed=0, balance=True, dram_in=frozenset(),
                 dram_out=frozenset()):
        self.p = p
        self.sr_seed = sr_seed
        self.balance = balance
        self.tensors = tensors
        self.nets = NetBuilder()
        self.streams = {}       # tensor -> [Stream]
        self.pcus = {}
        self.pmus = {}
        self.kernels = []
        self.inputs = []
        self.outputs = []
        # per PCU vector input (vunit, port) with a lag: the lag, the vectors it pops
        # (None when it reuses its head, which no delay line replays) and the kernel
        self.lags = {}
        self.pops = {}
        self.nodes = {}
        self.delays = []
        # DRAM units: vunit -> the DramRead of its load engine, the DramWrite of its
        # store engine; the inputs streamed from DRAM: tensor -> vunit
        self.dram_in, self.dram_out = dram_in, dram_out
        self.dram_reads = {}
        self.dram_writes = {}
        self.dram_streams = {}
        self.limits = True

    def run(self, found):
        total = sum(isinstance(s, OutputStep) and s.name not in self.dram_out
                    for s in found.steps)
        for step in found.steps:
            if isinstance(step, InputStep):
                self.input(step)
            elif isinstance(step, KernelSpec):
                self.kernel(step)
            else:
                self.output(step, total)
        if self.balance:
            self.add_delays()
        self.drop_dram_only_inputs()
        return Lowered(self.nets.netlist(), self.finished_pcus(), self.pmus, self.inputs,
                       self.outputs, self.kernels, tuple(self.delays), self.dram_reads,
                       self.dram_writes)

    def drop_dram_only_inputs(self):
        """Graph inputs that every reader takes from DRAM arrive on no edge port, and
        are streamed by no load engine."""
        for v in self.dram_streams.values():
            if not self.nets.drives((v, "vout")):
                del self.dram_reads[v]
                if v not in self.dram_writes:
                    self.nets.drop(v)
        in_dram = {read.tensor for read in self.dram_reads.values()}
        kept = []
        for name, shape, v in self.inputs:
            if name in in_dram and not self.nets.drives((v, "data")):
                self.nets.drop(v)
            else:
                kept.append((name, shape, v))
        if len(kept) > self.p.io_in and self.limits:
            self.too_many_inputs(kept[self.p.io_in][0])
        self.inputs = kept

    def too_many_inputs(self, name):
        raise CapacityError(f"the graph has more inputs than the fabric's "
                           f"{self.p.io_in} input ports", node=name)

    def dram_unit(self, engine, tensor):
        """A DRAM vunit whose ``engine`` (``load`` or ``store``) is free: one that only
        uses the other engine, else a new one."""
        taken, other = ((self.dram_reads, self.dram_writes) if engine == "load"
                        else (self.dram_writes, self.dram_reads))
        for name in other:
            if name not in taken:
                return name
        if len(taken) >= self.p.dram_ports and self.limits:
            raise CapacityError(f"needs more than the fabric's {self.p.dram_ports} DRAM "
                               f"units ({engine} engines)", node=tensor)
        return self.nets.vunit(f"dram:{tensor}", "dram")

    def input(self, step):
        if step.name in self.dram_in:
            read = stream_read(step.name, step.shape, self.p.lanes)
            v = self.dram_unit("load", step.name)
            self.dram_reads[v] = read
            self.dram_streams[step.name] = v
            self.streams[step.name] = [Stream(step.name, step.shape, "rows", (v, "vout"))]
            return
        # an input that only DRAM units read needs no port: the ports are counted once
        # every reader is known (drop_dram_only_inputs), unless there are no DRAM units
        if len(self.inputs) >= self.p.io_in and not self.p.dram_ports and self.limits:
            self.too_many_inputs(step.name)
        v = self.nets.vunit(f"in:{step.name}", "in")
        self.inputs.append((step.name, step.shape, v))
        self.streams[step.name] = [Stream(step.name, step.shape, "rows", (v, "data"))]

    def output(self, step, total):
        if step.name in self.dram_out:
            self.store(step)
            return
        if len(self.outputs) >= self.p.io_out and self.limits:
            raise CapacityError(f"the graph has {total} outputs; the fabric has "
                               f"{self.p.io_out} output ports", node=step.name)
        if step.copy is not None:
            self.kernel(step.copy)
        stream = next(s for s in self.streams[step.tensor] if s.network == "vector")
        v = self.nets.vunit(f"out:{step.name}", "out")
        self.nets.connect(stream.source, (v, "data"), "vector")
        self.outputs.append((step.name, self.tensors.shape(step.ref), stream.order, v))

    def store(self, step):
        """Store output ``step`` to DRAM with a store engine."""
        if step.copy is not None:
            self.kernel(step.copy)
        stream = next(s for s in self.streams[step.tensor] if s.network == "vector")
        tensor = step.ref if step.copy is None else step.name
        write = stream_write(tensor, self.tensors.shape(step.ref), stream.order,
                             self.p.lanes)
        if write is None:
            raise CompileError(f"cannot store a stream in {stream.order!r} order to DRAM",
                               node=step.name)
        v = self.dram_unit("store", step.name)
        self.nets.connect(stream.source, (v, "vin"), "vector")
        self.dram_writes[v] = write

    def kernel(self, spec):
        """Build, deliver and place the kernel of ``spec``."""
        kernel = build_kernel(spec, self.tensors, self.p, self.const_name)
        for const in kernel.consts:
            self.tensors.add_const(const)
        delivery = plan_delivery(kernel, self.streams, self.tensors, self.p,
                                 dram_free=(self.p.dram_ports - len(self.dram_reads)
                                            if self.limits else 1 << 20))
        operands = tuple(replace(o, source=self.feed(f, kernel.name))
                         for o, f in zip(kernel.operands, delivery.feeds))
        kernel = self.place(replace(kernel, operands=operands))
        self.kernels.append(kernel)
        self.tensors.add_shape(spec.name, spec.shape)

    def const_name(self, base, k):
        # numbered by the nodes and constants so far and the PMUs so far: unique, and
        # stable for a given graph
        index = self.tensors.graph_size + len(self.tensors.consts) + k
        return f"{base}.v{index}_{len(self.pmus)}"

    def feed(self, feed, node):
        """The (vunit, port) feeding an operand: its stream's source or a new PMU's
        output; None for a counter."""
        if feed.how == "counter":
            return None
        if feed.how == "direct":
            return feed.stream.source
        if feed.how == "dram":
            read = feed.dram
            name = self.dram_unit("load", read.tensor)
            self.dram_reads[name] = read
            return (name, "vout" if read.mode == DramMode.VECTOR else "sout")
        buf = feed.buffer
        name = self.nets.vunit(f"pmu{len(self.pmus)}:{buf.tensor}", "pmu")
        if buf.stream is not None:
            network = buf.stream.network
            self.nets.connect(buf.stream.source,
                              (name, "vin" if network == "vector" else "sin"), network)
        self.pmus[name] = PmuPlan(name, pmu_config(buf), buf.init, buf.words, node)
        return (name, buf.port)

    def place(self, kernel):
        """Schedule and partition ``kernel`` onto a chain of PCUs, wire their inputs (a
        part's result fans out to every later part that reads it) and record the streams
        of its result; returns the kernel with its PCUs."""
        parts = partition(schedule(kernel.expr), kernel, self.p, sr_seed=self.sr_seed).parts
        lags = chain_lags(parts, self.p)
        names = []
        for k, part in enumerate(parts):
            name = self.nets.vunit(f"pcu:{kernel.name}" + (f"/{k}" if len(parts) > 1 else ""),
                                   "pcu")
            for slot, what in enumerate(part.vins):
                j = part_index(what)
                source = kernel.operands[what].source if j is None else (names[j], "vout")
                sink = (name, f"vin{slot}")
                self.nets.connect(source, sink, "vector")
                self.lags[sink], self.nodes[sink] = lags[k][slot], kernel.name
                self.pops[sink] = kernel.iterations if j is not None else \
                    self.replayable_pops(kernel, kernel.operands[what])
            for slot, what in enumerate(part.sins):
                self.nets.connect(kernel.operands[what].source, (name, f"sin{slot}"), "scalar")
            cfg = pcu_config(kernel, part, k == len(parts) - 1, self.p)
            self.pcus[name] = PcuPlan(name, cfg, kernel.iterations, len(part.stages),
                                      kernel.name)
            names.append(name)
        prev = names[-1]
        streams = [Stream(kernel.name, kernel.shape, kernel.order, (prev, "vout"))]
        if kernel.mode == AccMode.TREE:
            streams.append(Stream(kernel.name, kernel.shape, "scalar", (prev, "sout")))
        self.streams[kernel.name] = streams
        return replace(kernel, pcus=tuple(names))

    def replayable_pops(self, kernel, o):
        """The vectors operand ``o`` pops, or None when it reuses its FIFO head (a
        delay line would hold each vector for many iterations, which the model of
        :mod:`.balance` does not count)."""
        pops = operand_walk(o, kernel.loops, self.p.lanes).length
        return pops if pops == kernel.iterations else None

    def add_delays(self):
        """Put PMU delay lines on the short branches of the vector fan-outs, the longest
        waits first, as many as the fabric's PMUs left over allow."""
        branches = branch_needs(self.nets.fanouts("vector"), self.lags, self.pops,
                                self.nodes)
        budget = pmu_sites(self.p) - len(self.pmus)
        for branch, line in choose_delays(branches, budget, self.p):
            sink, source = branch.sink, branch.source
            for _ in range(line.count):
                name = self.nets.vunit(f"pmu{len(self.pmus)}:delay:{sink[0]}.{sink[1]}",
                                       "pmu")
                self.nets.splice(source, sink, (name, "vin"), (name, "vout"))
                self.pmus[name] = PmuPlan(name, line.config(), (),
                                          line.words(self.p.lanes), branch.node)
                self.delays.append(name)
                source = (name, "vout")

    def finished_pcus(self):
        """The PCU plans with every output that drives no net disabled: an output
        nobody reads would fill its FIFO and keep the unit from finishing."""
        done = {}
        for name, plan in self.pcus.items():
            cfg = plan.config
            for port in ("vout", "sout"):
                if not self.nets.drives((name, port)):
                    cfg = dict(cfg, **{port: dict(cfg[port], enable=0)})
            done[name] = replace(plan, config=cfg)
        return done
