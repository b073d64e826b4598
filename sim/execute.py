"""Run a compiled program on the simulated fabric and check it against the golden model.

This ties the pieces together: the manifest says which tensor travels on which edge
port and in what element order; :class:`sim.runner.Runner` simulates the fabric's
Verilog; :func:`sim.golden.run_graph` computes what the outputs must be from the graph
the manifest carries.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from hw.errors import TerrazzoError
from hw.format import fabric_hash32_of
from hw.params import ParamsError, find_fabric
from compiler.container import unpack_sections
from compiler.errors import BitstreamError
from compiler.jsonio import graph_from_json
from compiler.manifest import ManifestError, pack, unpack
from compiler.types import FLOAT_DTYPES, tensor_dtype_error, tensor_values, tensor_words
from .golden import run_graph
from .job import check_probability, check_seed, timeout_message
from .harness import Harness
from .runner import DEFAULT_MAX_CYCLES, Runner, SimulationError

__all__ = ["ProgramRun", "SectionRun", "Mismatch", "RunError", "DEFAULT_MAX_CYCLES", "fabric_of",
           "port_streams", "output_tensors", "TESTBENCHES",
           "run_timeout", "check_program", "run_program", "golden_outputs", "compare"]


#: The testbenches :func:`run_program` can run a program in.
TESTBENCHES = ("cocotb", "harness")


class RunError(TerrazzoError):
    """A user-facing reason a program cannot run (wrong fabric, bad inputs)."""


@dataclass(frozen=True)
class SectionRun:
    """The cycles one section of a program took and its ideal count."""
    cycles: int
    ideal_cycles: int

    @property
    def utilization(self):
        return self.ideal_cycles / self.cycles if self.cycles > 0 else 0.0


@dataclass
class ProgramRun:
    """A program's run: its ``outputs`` (name -> tensor), ``cycles`` (every section's
    together) and ideal cycles, the simulator's speed, the runner's result and, per
    section, a :class:`SectionRun`."""
    outputs: dict           # output name -> tensor
    cycles: int
    ideal_cycles: int
    sim_cycles_per_second: float
    result: object = field(repr=False, default=None)
    sections: tuple = ()

    @property
    def utilization(self):
        return self.ideal_cycles / self.cycles if self.cycles > 0 else 0.0


@dataclass(frozen=True)
class Mismatch:
    tensor: str
    index: tuple
    expected: int
    got: int
    count: int              # mismatching elements in this tensor

    def __str__(self):
        more = f" ({self.count} elements differ)" if self.count > 1 else ""
        return (f"output {self.tensor!r} differs at index {list(self.index)}: expected "
                f"{self.expected}, got {self.got}{more}")


def fabric_of(bitstream, manifest, fabric=None):
    """The fabric a program runs on; refuses a bitstream and manifest that disagree or
    that were built for another fabric than ``fabric``. ``bitstream`` is a program file
    (:mod:`compiler.container`): each section's bitstream must be for the same fabric."""
    try:
        hashes = {fabric_hash32_of(b) for b in unpack_sections(bitstream)}
    except BitstreamError as e:
        raise RunError(str(e)) from None
    except ValueError:
        raise RunError("bitstream is too short to carry a header") from None
    if len(hashes) > 1:
        raise RunError("the sections of the program are for different fabrics")
    hash32, = hashes
    if hash32 != manifest.fabric_hash32:
        raise RunError(f"bitstream is for fabric hash 0x{hash32:08x} but its manifest says "
                       f"0x{manifest.fabric_hash32:08x} ({manifest.fabric_name!r})")
    try:
        p = find_fabric(hash32, fabric)
    except ParamsError as e:
        if fabric is not None:
            raise
        raise RunError(str(e)) from None
    if p.hash32 != hash32:
        raise RunError(f"bitstream is for fabric {manifest.fabric_name!r} (hash "
                       f"0x{hash32:08x}); fabric {p.name!r} has hash 0x{p.hash32:08x}: "
                       f"compile it for {p.name!r} first")
    return p


def run_timeout(ideal_cycles, idle=0.0, backpressure=0.0, max_cycles=DEFAULT_MAX_CYCLES):
    """Cycles a program of ``ideal_cycles`` may run before it fails: ten times its ideal
    plus 20,000, stretched by the ``idle`` and ``backpressure`` probabilities, and never
    more than ``max_cycles``, whatever the manifest says."""
    idle = check_probability("idle", idle)
    backpressure = check_probability("backpressure", backpressure)
    return min(max_cycles, int((10 * ideal_cycles + 20_000) / ((1 - idle) * (1 - backpressure))))


def check_program(bitstream, manifest, tensors, *, fabric=None, bitstream_name="bitstream"):
    """The fabric ``bitstream`` runs on (:func:`fabric_of`), once every field of
    ``manifest`` is checked, the bitstream's SHA-256 is the one the manifest records
    (``bitstream_name`` names the bitstream in that message), the manifest fits the
    fabric, and the input ``tensors`` agree with it: every input present, none unknown,
    each of its shape, an integer array of values in int32 for an i32 tensor and a float
    array for an f32 or bf16 one (:func:`compiler.types.tensor_dtype_error`). What
    :func:`run_program` checks before it builds anything, for a caller that wants the
    verdict first.

    Raises :class:`RunError` (or :class:`~hw.params.ParamsError` for a ``fabric`` that
    cannot be loaded)."""
    try:
        manifest.validate()
        manifest.check_bitstream(bitstream, bitstream_name)
    except ManifestError as e:
        raise RunError(str(e)) from None
    p = fabric_of(bitstream, manifest, fabric)
    try:
        manifest.check_fabric(p)
        manifest.check_inputs(tensors)
    except ManifestError as e:
        raise RunError(str(e)) from None
    for name, (_, dtype) in manifest.tensors_in.items():
        a = np.asarray(tensors[name])
        if tensor_dtype_error(a.dtype, dtype):
            what = "a float" if dtype in FLOAT_DTYPES else "an integer"
            raise RunError(f"input tensor {name!r} has dtype {a.dtype}; expected "
                           f"{what} array ({dtype})")
        if dtype == "i32" and a.size and (a.min() < -2**31 or a.max() > 2**31 - 1):
            raise RunError(f"input tensor {name!r} has values outside int32 "
                           f"({int(a.min())} .. {int(a.max())})")
    return p


def port_streams(manifest, tensors, lanes, section=None):
    """What a run streams: (input port -> packed vectors of its tensor, output port ->
    the vectors expected from it); of one section (a :class:`~compiler.manifest.
    SectionSpec`) when given."""
    sec = section or manifest
    inputs = {spec.port: pack(tensor_words(tensors[spec.name], spec.dtype), spec.order, lanes)
              for spec in sec.inputs}
    return inputs, {spec.port: spec.vectors for spec in sec.outputs}


def dram_images(manifest, tensors):
    """The initial DRAM memory of a run, the one memory every DRAM port serves: uint32
    words, each tensor of ``manifest.dram`` at its address (row-major, a word per
    element, as the edge streams carry it; a constant's values from the manifest's
    source graph; a ``temp`` tensor, which a section stores, left 0), the rest 0; as
    long as the highest ``address + words``, at least one word."""
    size = max([1] + [spec.address + spec.words for spec in manifest.dram])
    memory = np.zeros(size, dtype=np.uint32)
    graph = graph_from_json(manifest.source) if any(s.const for s in manifest.dram) else None
    for spec in manifest.dram:
        if spec.temp:
            continue
        values = graph.nodes[spec.name].values if spec.const else tensors[spec.name]
        words = np.asarray(tensor_words(np.asarray(values), spec.dtype)).reshape(-1)
        memory[spec.address:spec.address + spec.words] = \
            words.astype(np.int64).astype(np.uint32)
    return memory


def output_tensors(manifest, by_port, lanes, section=None):
    """The named output tensors of a run (of one section, when given), from the vectors
    (``by_port``) its output ports gave."""
    sec = section or manifest
    return {spec.name: tensor_values(unpack(by_port[spec.port], spec.shape, spec.order, lanes),
                                     spec.dtype)
            for spec in sec.outputs}


def run_program(bitstream, manifest, tensors, *, fabric=None, sim="verilator",
                idle=0.0, backpressure=0.0, seed=0, wave=None, build_root="build",
                timeout_cycles=None, max_cycles=None, bitstream_name="bitstream",
                progress=None, verilator_config=None, testbench="cocotb",
                live_progress=False, dram_latency=None):
    """Simulate ``bitstream`` on named input ``tensors``; returns a :class:`ProgramRun`.

    Every argument is checked before anything is built or simulated
    (:func:`check_program`).

    ``timeout_cycles`` (default :func:`run_timeout` of the manifest's ideal cycles) is
    bounded by ``max_cycles`` (default :data:`DEFAULT_MAX_CYCLES`). ``progress``, if
    given, is called with a line of text as each phase (model build, Verilog generation
    included; simulation) begins and ends. ``verilator_config`` (a
    :class:`sim.verilator.VerilatorConfig`) picks how the Verilator model is built.

    ``testbench`` is ``"cocotb"`` (the test bench of record, either simulator) or
    ``"harness"``: the C++ harness of :mod:`sim.harness`, Verilator only and without
    waves, many times faster on long runs; both follow the same stimulus contract and
    give the same outputs and cycle counts. ``live_progress`` makes the harness print a
    progress line (cycles so far, percent of the ideal count, cycles per second) to the
    standard error while it runs. ``dram_latency`` sets the cycles the DRAM memory takes
    to answer a read: the harness's model answers every request that late, overlapping
    the requests in flight (default :data:`sim.harness.DRAM_LATENCY`); the cocotb
    testbench's ``AxiRam`` waits that long before each read burst and serves them one
    at a time (default: no wait).

    Raises :class:`RunError` for a program that cannot run as given or that reaches
    ``max_cycles``, :class:`sim.job.JobError` for a bad ``idle``, ``backpressure`` or
    ``seed``, and :class:`sim.runner.SimulationError` when the simulation fails
    otherwise."""
    max_cycles = DEFAULT_MAX_CYCLES if max_cycles is None else max_cycles
    if not isinstance(max_cycles, int) or isinstance(max_cycles, bool) or max_cycles < 1:
        raise RunError(f"max_cycles must be a positive integer, not {max_cycles!r}")
    for name, value in (("idle", idle), ("backpressure", backpressure)):
        check_probability(name, value)
    check_seed("seed", seed)
    if testbench not in TESTBENCHES:
        raise RunError(f"testbench must be one of {', '.join(map(repr, TESTBENCHES))}, "
                       f"not {testbench!r}")
    if dram_latency is not None and (not isinstance(dram_latency, int) or isinstance(
            dram_latency, bool) or not 1 <= dram_latency <= 0xFFFF):
        raise RunError(f"dram_latency must be an integer in [1, 65535], not {dram_latency!r}")
    if testbench == "harness" and (sim != "verilator" or wave is not None):
        raise RunError("the harness runs Verilator without waves; use testbench='cocotb' "
                       "(terrazzo run --testbench cocotb) for Icarus or a wave file")
    p = check_program(bitstream, manifest, tensors, fabric=fabric,
                      bitstream_name=bitstream_name)
    if manifest.sections:
        return _run_sections(bitstream, manifest, tensors, p, locals())
    inputs, expect = port_streams(manifest, tensors, p.lanes)
    if manifest.dram:
        extra_dram = {"dram": dram_images(manifest, tensors)}
    else:
        extra_dram = {}
    if timeout_cycles is None:
        timeout_cycles = run_timeout(manifest.ideal_cycles, idle, backpressure, max_cycles)
    elif isinstance(timeout_cycles, int) and timeout_cycles > max_cycles:
        timeout_cycles = max_cycles     # anything else the runner refuses
    if testbench == "harness":
        runner = Harness(p, build_root)
    else:
        runner = Runner(p, sim, build_root)
        if verilator_config is not None:
            runner.verilator_config = verilator_config
    say = progress or (lambda line: None)
    if wave is not None:
        waves = str(wave).rsplit(".", 1)[-1]
        waves = waves if waves in ("fst", "vcd") else None
    else:
        waves = None
    what = "C++ harness" if testbench == "harness" else f"{sim} model"
    say(f"{what} of fabric {p.name!r}: building unless cached (a first build "
        f"generates the Verilog and compiles it, a minute or more)...")
    t0 = time.monotonic()
    if testbench == "harness":
        runner.build()
        extra = {"ideal_cycles": manifest.ideal_cycles, "progress": bool(live_progress)}
        if dram_latency is not None:
            extra["dram_latency"] = dram_latency
    else:
        runner.build(waves=waves)
        extra = {"wave": wave}
        if dram_latency is not None:
            extra["dram_latency"] = dram_latency
    say(f"  ready in {time.monotonic() - t0:.0f} s; simulating "
        f"{sum(len(v) for v in inputs.values())} input and {sum(expect.values())} output "
        f"vectors...")
    t0 = time.monotonic()
    try:
        result = runner.run(bitstream, inputs, expect, idle=idle, backpressure=backpressure,
                            seed=seed, timeout_cycles=timeout_cycles, **extra, **extra_dram)
    except SimulationError as e:
        if timeout_cycles == max_cycles and timeout_message(timeout_cycles) in str(e):
            raise RunError(f"the simulation reached its limit of {max_cycles} cycles before "
                           f"the fabric was done; allow more with --max-cycles (max_cycles= "
                           f"of run_program)") from None
        raise
    say(f"  simulated {result.cycles} cycles in {time.monotonic() - t0:.0f} s")
    if result.cfg_error:
        raise RunError(f"the fabric refused the bitstream (cfg_error {result.cfg_error})")
    outputs = output_tensors(manifest, result.outputs, p.lanes)
    return ProgramRun(outputs, result.cycles, manifest.ideal_cycles, result.cycles_per_second,
                      result, (SectionRun(result.cycles, manifest.ideal_cycles),))


def _run_sections(bitstream, manifest, tensors, p, args):
    """:func:`run_program` for a program of several sections (``args`` its checked
    arguments): every section in one run of one model, the DRAM memory kept from one
    section to the next."""
    specs = manifest.sections
    bitstreams = unpack_sections(bitstream)
    if len(bitstreams) != len(specs):
        raise RunError(f"the program file holds {len(bitstreams)} sections; its manifest "
                       f"lists {len(specs)}")
    idle, backpressure = args["idle"], args["backpressure"]
    max_cycles, timeout_cycles = args["max_cycles"], args["timeout_cycles"]
    sections = []
    for sec, words in zip(specs, bitstreams):
        inputs, expect = port_streams(manifest, tensors, p.lanes, sec)
        limit = timeout_cycles
        if limit is None:
            limit = run_timeout(sec.ideal_cycles, idle, backpressure, max_cycles)
        elif isinstance(limit, int) and limit > max_cycles:
            limit = max_cycles
        sections.append((words, inputs, expect, limit))
    testbench = args["testbench"]
    if testbench == "harness":
        runner = Harness(p, args["build_root"])
    else:
        runner = Runner(p, args["sim"], args["build_root"])
        if args["verilator_config"] is not None:
            runner.verilator_config = args["verilator_config"]
    say = args["progress"] or (lambda line: None)
    what = "C++ harness" if testbench == "harness" else f"{args['sim']} model"
    say(f"{what} of fabric {p.name!r}: building unless cached (a first build "
        f"generates the Verilog and compiles it, a minute or more)...")
    t0 = time.monotonic()
    extra = {}
    if testbench == "harness":
        runner.build()
    else:
        runner.build()
    if args["dram_latency"] is not None:
        extra["dram_latency"] = args["dram_latency"]
    say(f"  ready in {time.monotonic() - t0:.0f} s; simulating {len(sections)} sections...")
    t0 = time.monotonic()
    result = runner.run_sections(
        [(w, i, e) for w, i, e, _ in sections], dram=dram_images(manifest, tensors),
        idle=idle, backpressure=backpressure, seed=args["seed"],
        timeout_cycles=[t for *_, t in sections], **extra)
    k = result.stopped
    if k is not None:
        r = result.sections[k]
        if r.cfg_error:
            raise RunError(f"the fabric refused the bitstream of section {k} "
                           f"(cfg_error {r.cfg_error})")
        if sections[k][3] == max_cycles and timeout_message(max_cycles) in r.message:
            raise RunError(f"the simulation reached its limit of {max_cycles} cycles in "
                           f"section {k} before the fabric was done; allow more with "
                           f"--max-cycles (max_cycles= of run_program)")
        where = f" (run directory {result.run_dir})" if result.run_dir else ""
        raise SimulationError(f"section {k} of {len(specs)} failed ({r.status}){where}: "
                              f"{r.message}")
    outputs, runs = {}, []
    for sec, r in zip(specs, result.sections):
        outputs.update(output_tensors(manifest, r.outputs, p.lanes, sec))
        runs.append(SectionRun(r.cycles, sec.ideal_cycles))
    cycles = sum(r.cycles for r in runs)
    say(f"  simulated {cycles} cycles in {len(runs)} sections in "
        f"{time.monotonic() - t0:.0f} s")
    sim_cycles = sum(r.sim_cycles for r in result.sections)
    wall = sum(r.wall_seconds for r in result.sections)
    return ProgramRun(outputs, cycles, manifest.ideal_cycles,
                      sim_cycles / wall if wall else 0.0, result, tuple(runs))


def golden_outputs(manifest, tensors):
    """The outputs the golden model computes from the graph in the manifest."""
    if not manifest.source:
        raise RunError("the manifest carries no graph to check against")
    graph = graph_from_json(manifest.source)
    sr_seed = manifest.report.get("sr_seed", 0)
    if not isinstance(sr_seed, int) or isinstance(sr_seed, bool) or not 0 <= sr_seed < 1 << 16:
        raise RunError(f"the manifest's report.sr_seed must be an integer in [0, 65535], "
                       f"not {sr_seed!r}")
    return run_graph(graph, {k: np.asarray(v) for k, v in tensors.items()},
                     lanes=manifest.lanes, sr_seed=sr_seed)


def compare(expected, got):
    """Mismatches (first differing element of each output tensor), in output order."""
    out = []
    for name, want in expected.items():
        have = np.asarray(got[name])
        want = np.asarray(want)
        if have.shape != want.shape:
            out.append(Mismatch(name, (), f"shape {list(want.shape)}",
                                f"shape {list(have.shape)}", 1))
            continue
        if want.dtype.kind == "f" or have.dtype.kind == "f":
            # floats compare bit for bit (NaN equals NaN, -0 differs from +0)
            bad = np.argwhere(_float_words(have) != _float_words(want))
            value = _float_text
        else:
            bad = np.argwhere(have != want)
            value = int
        if len(bad):
            idx = tuple(int(i) for i in bad[0])
            out.append(Mismatch(name, idx, value(want[idx]), value(have[idx]), len(bad)))
    return out


def _float_words(a):
    return np.asarray(a, dtype=np.float32).view(np.int32)


def _float_text(x):
    """A float element as the message of a mismatch shows it: value and bits."""
    bits = int(np.float32(x).view(np.uint32))
    return f"{float(x)!r} (0x{bits:08x})"
