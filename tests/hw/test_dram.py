import random
from collections import deque
from dataclasses import dataclass

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hw.dram import (BurstSplitter, DramMode, DramUnit, LoadEngine, bursts, dram_layout,
                     run_addresses, run_count)
from hw.params import load_fabric
from streams import StreamSink, StreamSource, random_pauses

MASK32 = (1 << 32) - 1
WORDS = 1 << 30


def fabric(beat=4, burst=4, outstanding=3):
    """The tiny preset (4 lanes, 3 counters) with one DRAM port."""
    return load_fabric("tiny").replace(dram_ports=1, dram_beat=beat, dram_burst=burst,
                                       dram_outstanding=outstanding)


def engine(p, mode=DramMode.OFF, *, base=0, run=1, extents=(), strides=(), indexed=0):
    """An ``engine_layout(p).const`` dict; missing levels have extent 1, stride 0."""
    return {"mode": mode, "indexed": indexed, "base": base, "run": run,
            "extents": list(extents) + [1] * (p.counters - len(extents)),
            "strides": list(strides) + [0] * (p.counters - len(strides))}


def background(addr):
    """Word ``addr`` of memory never written: a different value at every address."""
    return (addr * 0x9E3779B1 + 0x7F4A7C15) & MASK32


def s32(x):
    x &= MASK32
    return x - (1 << 32) if x >> 31 else x


# -- AXI4 memory model ------------------------------------------------------------------

@dataclass
class Knobs:
    seed: int = 0
    latency: int = 4         # cycles from an AR to its first beat at the earliest
    r_gap: float = 0.0       # chance of no R beat in a cycle, before a beat is offered
    ar_pause: float = 0.0    # chance of arready low in a cycle
    aw_pause: float = 0.0
    w_pause: float = 0.0
    b_latency: int = 2       # cycles from a burst's last W beat to its B response
    aw_after_w: bool = False  # hold awready low until some W beat waits for its AW
    out_stall: float = 0.0   # chance of vout / sout ready low in a cycle
    in_gap: float = 0.0      # chance of an idle cycle before each vin / sin / index item
    rerr: frozenset = frozenset()   # read bursts (numbered from 0) answered SLVERR
    berr: frozenset = frozenset()   # write bursts answered SLVERR
    timeout: int = 4000


@dataclass
class Burst:
    addr: int
    beats: int
    number: int
    ready: int = 0           # first cycle its data (R) or response (B) may go out
    done: int = 0            # beats moved


class AxiMemory:
    """An AXI4 subordinate over a dict of 32-bit words, checking the manager's side.

    It pauses AR, AW and W ready and R data at random, answers reads in order after
    ``latency`` cycles and writes ``b_latency`` cycles after their AW and last beat, takes
    W beats before their AW (and with ``aw_after_w`` insists on it, as AXI4 allows), and
    fails on: a valid dropped or its payload changed before the transfer, a burst
    crossing 4 KiB, a wrong size, kind or alignment, a wrong ``wlast``.

    Members
    -------
    words : dict
        Word address to value of every word written (others hold :func:`background`).
    touched : set
        Word addresses written by some strobed byte.
    reads, writes : list of (int, int)
        ``(byte address, beats)`` of each AR, AW in order.
    max_reads, max_writes : int
        Most read bursts between AR and last R beat, write bursts between AW and B.
    r_refused : int
        Cycles an R beat was offered and not taken.
    """

    def __init__(self, dut, p, knobs, words=None):
        self.dut, self.p, self.k = dut, p, knobs
        self.words = dict(words or {})
        self.touched = set()
        self.reads, self.writes = [], []
        self.max_reads = self.max_writes = self.r_refused = 0
        self._rq, self._aw, self._w, self._bq = deque(), deque(), deque(), deque()
        self._open_writes = 0
        self._offer_r = self._offer_b = False
        self._held = {}
        self._cycle = 0
        self._pauses = {ch: random_pauses(getattr(knobs, f"{ch}_pause"), f"{knobs.seed}/{ch}")
                        for ch in ("ar", "aw", "w")}
        self._r_gaps = random_pauses(knobs.r_gap, f"{knobs.seed}/r")

    def read(self, addr):
        return self.words.get(addr % WORDS, background(addr % WORDS))

    def _check_burst(self, kind, addr, beats, size, burst):
        nbytes = 4 * self.p.dram_beat
        assert size == nbytes.bit_length() - 1, f"{kind} size {size} for {nbytes}-byte beats"
        assert burst == 1, f"{kind} burst kind {burst}, not INCR"
        assert addr % nbytes == 0, f"{kind} address {addr:#x} not beat-aligned"
        assert 1 <= beats <= self.p.dram_burst, f"{kind} burst of {beats} beats"
        assert addr // 4096 == (addr + beats * nbytes - 1) // 4096, \
            f"{kind} burst at {addr:#x} of {beats} beats crosses a 4 KiB boundary"

    async def run(self, ctx):
        d, beat = self.dut, self.p.dram_beat
        while True:
            ready = {ch: not next(self._pauses[ch]) for ch in ("ar", "aw", "w")}
            if self.k.aw_after_w:
                ready["aw"] &= len(self._w) > 0
            for ch in ready:
                ctx.set(getattr(d, f"{ch}ready"), ready[ch])
            if (not self._offer_r and self._rq and self._rq[0].ready <= self._cycle
                    and not next(self._r_gaps)):
                self._offer_r = True
            if self._offer_r:
                b = self._rq[0]
                first = b.addr // 4 + b.done * beat
                ctx.set(d.rdata, sum(self.read(first + j) << (32 * j) for j in range(beat)))
                ctx.set(d.rresp, 2 if b.number in self.k.rerr else 0)
                ctx.set(d.rlast, b.done == b.beats - 1)
            ctx.set(d.rvalid, self._offer_r)
            if not self._offer_b and self._bq and self._bq[0].ready <= self._cycle:
                self._offer_b = True
            if self._offer_b:
                ctx.set(d.bresp, 2 if self._bq[0].number in self.k.berr else 0)
            ctx.set(d.bvalid, self._offer_b)
            _, _, *s = await ctx.tick().sample(
                d.arvalid, d.araddr, d.arlen, d.arsize, d.arburst, d.rready,
                d.awvalid, d.awaddr, d.awlen, d.awsize, d.awburst,
                d.wvalid, d.wdata, d.wstrb, d.wlast, d.bready)
            self._edge(ready, *s)
            self._cycle += 1

    def _edge(self, ready, arvalid, araddr, arlen, arsize, arburst, rready,
              awvalid, awaddr, awlen, awsize, awburst, wvalid, wdata, wstrb, wlast, bready):
        channels = {"ar": (arvalid, araddr, arlen, arsize, arburst),
                    "aw": (awvalid, awaddr, awlen, awsize, awburst),
                    "w": (wvalid, wdata, wstrb, wlast)}
        for ch, now in channels.items():
            before = self._held.get(ch)
            assert before is None or now == before, \
                f"{ch} changed before its transfer: {before} then {now}"
            self._held[ch] = now if now[0] and not ready[ch] else None
        if arvalid and ready["ar"]:
            self._check_burst("AR", araddr, arlen + 1, arsize, arburst)
            self._rq.append(Burst(araddr, arlen + 1, len(self.reads),
                                  ready=self._cycle + self.k.latency))
            self.reads.append((araddr, arlen + 1))
            self.max_reads = max(self.max_reads, len(self._rq))
        if self._offer_r and rready:
            self._offer_r = False
            b = self._rq[0]
            b.done += 1
            if b.done == b.beats:
                self._rq.popleft()
        elif self._offer_r:
            self.r_refused += 1
        if awvalid and ready["aw"]:
            self._check_burst("AW", awaddr, awlen + 1, awsize, awburst)
            self._aw.append(Burst(awaddr, awlen + 1, len(self.writes)))
            self.writes.append((awaddr, awlen + 1))
            self._open_writes += 1
            self.max_writes = max(self.max_writes, self._open_writes)
        if wvalid and ready["w"]:
            self._w.append((wdata, wstrb, wlast))
        while self._aw and self._w:
            self._write_beat(*self._w.popleft())
        if self._offer_b and bready:
            self._offer_b = False
            self._bq.popleft()
            self._open_writes -= 1

    def _write_beat(self, wdata, wstrb, wlast):
        b, beat = self._aw[0], self.p.dram_beat
        first = b.addr // 4 + b.done * beat
        for j in range(beat):
            strobe = (wstrb >> (4 * j)) & 0xf
            if strobe:
                mask = sum(0xff << (8 * i) for i in range(4) if strobe >> i & 1)
                addr = (first + j) % WORDS
                new = (wdata >> (32 * j)) & MASK32
                self.words[addr] = (self.read(addr) & ~mask) | (new & mask)
                self.touched.add(addr)
        b.done += 1
        assert bool(wlast) == (b.done == b.beats), f"wlast {wlast} on beat {b.done} of {b.beats}"
        if b.done == b.beats:
            self._aw.popleft()
            b.ready = self._cycle + self.k.b_latency
            self._bq.append(b)


# -- simulation --------------------------------------------------------------------------

@dataclass
class Result:
    vout: list
    sout: list
    mem: AxiMemory
    errors: list             # error after each start's done
    cycles: list             # cycles from each start to done
    accepted: dict           # items taken from each input stream
    late: int = 0            # outputs after done


def simulate(p, *, load=None, store=None, words=None, vin=(), sin=(), sidx=(), widx=(),
             knobs=Knobs(), starts=1, poke=None):
    """Run a DRAM unit with the given engine configurations ``starts`` times, each time
    until done, against an :class:`AxiMemory` holding ``words``; ``poke`` cycles after
    each start, pulse ``start`` again (while busy)."""
    dut = DramUnit(p)
    mem = AxiMemory(dut, p, knobs, words)
    inputs = {"vin": vin, "sin": sin, "sidx": sidx, "widx": widx}
    sources = {name: StreamSource(getattr(dut, name), items,
                                  pauses=random_pauses(knobs.in_gap, f"{knobs.seed}/{name}"))
               for name, items in inputs.items()}
    sinks = {name: StreamSink(getattr(dut, name),
                              pauses=random_pauses(knobs.out_stall, f"{knobs.seed}/{name}"))
             for name in ("vout", "sout")}
    cfg = dram_layout(p).const({"load": load or engine(p), "store": store or engine(p)})
    errors, cycles, out = [], [], {}

    async def control(ctx):
        ctx.set(dut.cfg, cfg)
        for _ in range(starts):
            assert ctx.get(dut.done) and not ctx.get(dut.busy)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for cycle in range(knobs.timeout):
                ctx.set(dut.start, cycle == poke)
                _, _, done, busy = await ctx.tick().sample(dut.done, dut.busy)
                assert done == (not busy)
                if done:
                    break
            else:
                raise AssertionError(f"not done after {knobs.timeout} cycles")
            ctx.set(dut.start, 0)
            errors.append(ctx.get(dut.error))
            cycles.append(cycle + 1)
        out["at_done"] = len(sinks["vout"].items) + len(sinks["sout"].items)
        await ctx.tick().repeat(20)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(control)
    for driver in [mem, *sources.values(), *sinks.values()]:
        sim.add_testbench(driver.run, background=True)
    sim.run()
    late = len(sinks["vout"].items) + len(sinks["sout"].items) - out["at_done"]
    return Result(vout=sinks["vout"].items, sout=sinks["sout"].items, mem=mem, errors=errors,
                  cycles=cycles, accepted={n: s.accepted for n, s in sources.items()},
                  late=late)


# -- reference and checkers --------------------------------------------------------------

def load_reference(p, cfg, read, indices=None):
    """``(vout, sout, ARs)`` a load engine gives over memory ``read``."""
    vout, sout, ars = [], [], []
    for start in run_addresses(cfg, p, indices):
        words = [s32(read(start + i)) for i in range(cfg["run"])]
        if cfg["mode"] == DramMode.VECTOR:
            for i in range(0, len(words), p.lanes):
                chunk = words[i:i + p.lanes]
                vout.append(chunk + [0] * (p.lanes - len(chunk)))
        else:
            sout.extend(words)
        ars.extend(bursts(start, cfg["run"], p))
    return vout, sout, ars


def store_reference(p, cfg, words, vin=(), sin=(), indices=None):
    """``(memory, AWs, written)`` after a store engine writes ``vin`` or ``sin`` over
    ``words``; ``written``: the word addresses of the runs."""
    mem, aws, written = dict(words or {}), [], set()
    vin, sin = list(vin), list(sin)
    n = cfg["run"]
    for start in run_addresses(cfg, p, indices):
        if cfg["mode"] == DramMode.VECTOR:
            count = -(-n // p.lanes)
            data, vin = sum(vin[:count], [])[:n], vin[count:]
        else:
            data, sin = sin[:n], sin[n:]
        for i, value in enumerate(data):
            mem[(start + i) % WORDS] = value & MASK32
            written.add((start + i) % WORDS)
        aws.extend(bursts(start, n, p))
    assert not vin and not sin, "test stimulus must be used up exactly"
    return mem, aws, written


def check_load(p, cfg, *, knobs=Knobs(), words=None, indices=None, starts=1, poke=None):
    """Run a load and compare streams and ARs with the reference."""
    got = simulate(p, load=cfg, words=words, sidx=indices or (), knobs=knobs, starts=starts,
                   poke=poke)
    vout, sout, ars = load_reference(p, cfg, got.mem.read, indices)
    assert got.mem.reads == ars * starts
    assert got.vout == vout * starts
    assert got.sout == sout * starts
    assert got.accepted["sidx"] == len(indices or ())
    assert got.late == 0
    # the unit never refuses read data and keeps to its limit of bursts in flight
    assert got.mem.r_refused == 0
    assert got.mem.max_reads <= p.dram_outstanding
    assert got.mem.writes == [] and got.mem.touched == set()
    return got


def check_store(p, cfg, *, knobs=Knobs(), words=None, vin=(), sin=(), indices=None):
    """Run a store and compare memory (every word) and AWs with the reference."""
    got = simulate(p, store=cfg, words=words, vin=vin, sin=sin, widx=indices or (),
                   knobs=knobs)
    want, aws, written = store_reference(p, cfg, words, vin, sin, indices)
    assert got.mem.writes == aws
    assert got.mem.words == want
    assert got.mem.touched == written
    assert got.accepted == {"vin": len(vin), "sin": len(sin), "sidx": 0,
                            "widx": len(indices or ())}
    assert got.mem.max_writes <= p.dram_outstanding
    assert got.mem.reads == [] and got.vout == [] and got.sout == []
    assert got.errors == [0]
    return got


def rand_words(n, rng):
    return [rng.randrange(-2**31, 2**31) for _ in range(n)]


def rand_vectors(p, n, rng):
    return [rand_words(p.lanes, rng) for _ in range(n)]


# -- reference functions -----------------------------------------------------------------

def test_bursts_reference():
    p = fabric(beat=2, burst=4)
    assert bursts(0, 20, p) == [(0, 4), (32, 4), (64, 2)]
    # unaligned start and end: the beats holding words 3 .. 6
    assert bursts(3, 4, p) == [(8, 3)]
    # 4 KiB = word 1024: cut there
    assert bursts(1020, 10, p) == [(4080, 2), (4096, 3)]
    # the top of the address space is a 4 KiB boundary too; addresses wrap
    assert bursts(WORDS - 2, 4, p) == [(0xfffffff8, 1), (0, 1)]
    assert bursts(5, 0, p) == []
    assert bursts(1, 1, fabric(beat=4, burst=16)) == [(0, 1)]


def test_run_addresses_reference():
    p = fabric()
    cfg = engine(p, DramMode.VECTOR, base=1000, extents=[3, 2], strides=[10, -100])
    assert run_addresses(cfg, p) == [1000, 1010, 1020, 900, 910, 920]
    assert run_count(cfg) == 6
    gather = engine(p, DramMode.VECTOR, base=5, extents=[3], indexed=1)
    assert run_addresses(gather, p, [3, 0, -10]) == [8, 5, WORDS - 5]
    with pytest.raises(ValueError, match=r"indexed mode takes one index per run \(3\), "
                                         r"not \[1\]"):
        run_addresses(gather, p, [1])
    with pytest.raises(ValueError, match="an engine has 3 extents and strides, not 1 and 3"):
        run_addresses({**cfg, "extents": [1]}, p)


@pytest.mark.parametrize("beat,burst,run", [(1, 1, 3), (2, 3, 37), (4, 16, 300), (8, 2, 5)])
def test_splitter_matches_bursts(beat, burst, run):
    # dram_ports = 0: a beat wider than a vector is a valid FabricParams too
    p = load_fabric("tiny").replace(dram_beat=beat, dram_burst=burst)
    rng = random.Random(f"{beat}/{burst}/{run}")
    # starts near 4 KiB boundaries and the top of the address space
    starts = [rng.choice([1024 * rng.randrange(8), WORDS]) + rng.randrange(-40, 40)
              for _ in range(12)]
    want = []
    for start in starts:
        cut = bursts(start, run, p)
        for k, (addr, beats) in enumerate(cut):
            last = k == len(cut) - 1
            want.append({"addr": addr, "len": beats - 1,
                         "lo": start % beat if k == 0 else 0,
                         "hi": (start + run - 1) % beat if last else beat - 1, "last": last})
    dut = BurstSplitter(p)
    source = StreamSource(dut.runs, [s % WORDS for s in starts],
                          pauses=random_pauses(0.3, f"{beat}/in"))
    sink = StreamSink(dut.bursts, pauses=random_pauses(0.3, f"{beat}/out"))

    async def tb(ctx):
        ctx.set(dut.run, run)
        await source.run(ctx)
        while len(sink.items) < len(want):
            await ctx.tick()
        assert ctx.get(dut.idle)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.add_testbench(sink.run, background=True)
    sim.run()
    assert [{k: item[k] for k in want[0]} for item in sink.items] == want


# -- loads --------------------------------------------------------------------------------

def test_contiguous_vector_load_keeps_bursts_in_flight():
    p = fabric(beat=4, burst=4, outstanding=3)
    cfg = engine(p, DramMode.VECTOR, base=64, run=96)
    got = check_load(p, cfg, knobs=Knobs(seed=1, latency=12))
    assert len(got.mem.reads) == 6
    assert got.mem.max_reads == 3
    # three bursts of four beats per round trip of about latency + burst
    assert got.cycles[0] < 60


@pytest.mark.parametrize("beat", [2, 4])
def test_run_crossing_4k_boundary(beat):
    p = fabric(beat=beat, burst=4, outstanding=2)
    cfg = engine(p, DramMode.VECTOR, base=1017, run=30)
    got = check_load(p, cfg, knobs=Knobs(seed=2, r_gap=0.3, ar_pause=0.3))
    # a burst ends exactly at 4 KiB and the next begins there
    ends = [a + n * 4 * beat for a, n in got.mem.reads]
    assert 4096 in ends and 4096 in [a for a, _ in got.mem.reads]
    assert got.mem.reads == bursts(1017, 30, p)


@pytest.mark.parametrize("mode", [DramMode.VECTOR, DramMode.SCALAR])
def test_backpressure_loses_nothing(mode):
    p = fabric(beat=4, burst=4, outstanding=2)
    cfg = engine(p, mode, base=200, run=13, extents=[4], strides=[40])
    got = check_load(p, cfg, knobs=Knobs(seed=3, latency=2, out_stall=0.8))
    # R data kept coming while the consumer stalled (check_load: never refused)
    assert len(got.vout) + len(got.sout) == (16 if mode == DramMode.VECTOR else 52)


@pytest.mark.parametrize("beat,base,run", [
    (4, 5, 1), (4, 3, 2), (4, 7, 9), (4, 1, 14), (2, 1, 6), (2, 3, 1), (1, 3, 5),
])
def test_unaligned_runs(beat, base, run):
    p = fabric(beat=beat, burst=2, outstanding=2)
    cfg = engine(p, DramMode.VECTOR, base=base, run=run, extents=[3], strides=[run + 3])
    check_load(p, cfg, knobs=Knobs(seed=base * 16 + run, r_gap=0.2, out_stall=0.3))


def test_strided_2d_pattern():
    p = fabric(beat=2, burst=4, outstanding=3)
    cfg = engine(p, DramMode.VECTOR, base=5000, run=6, extents=[3, 2], strides=[37, -300])
    got = check_load(p, cfg, knobs=Knobs(seed=4, r_gap=0.2))
    starts = run_addresses(cfg, p)
    assert starts == [5000, 5037, 5074, 4700, 4737, 4774]
    assert got.mem.reads == [b for s in starts for b in bursts(s, 6, p)]


def test_three_level_pattern_with_every_counter():
    p = fabric(beat=4, burst=4, outstanding=2)
    cfg = engine(p, DramMode.SCALAR, base=9000, run=3, extents=[2, 3, 2],
                 strides=[9, 1500, -4000])
    check_load(p, cfg, knobs=Knobs(seed=5, out_stall=0.2))


def test_scalar_load():
    p = fabric(beat=2, burst=4, outstanding=2)
    rng = random.Random(6)
    words = {a: rng.getrandbits(32) for a in range(100, 140)}
    cfg = engine(p, DramMode.SCALAR, base=101, run=11, extents=[3], strides=[12])
    got = check_load(p, cfg, words=words, knobs=Knobs(seed=6, r_gap=0.3, out_stall=0.4))
    assert got.sout == [s32(words[101 + 12 * r + i]) for r in range(3) for i in range(11)]


def test_gather():
    p = fabric(beat=4, burst=4, outstanding=3)
    rng = random.Random(7)
    cfg = engine(p, DramMode.VECTOR, base=3000, run=3, extents=[5, 2], indexed=1)
    indices = [rng.randrange(-2000, 2000) for _ in range(run_count(cfg))]
    got = check_load(p, cfg, indices=indices, knobs=Knobs(seed=7, in_gap=0.4, r_gap=0.2))
    assert got.vout == [[s32(background(3000 + i + j)) for j in range(3)] + [0]
                        for i in indices]


def test_read_error_sets_error_until_next_start():
    p = fabric(beat=4, burst=2, outstanding=2)
    cfg = engine(p, DramMode.VECTOR, base=16, run=20)
    # the second burst of the first start fails; the second start is clean
    got = check_load(p, cfg, knobs=Knobs(seed=8, rerr=frozenset({1})), starts=2)
    assert got.errors == [1, 0]


def test_start_while_busy_is_ignored():
    p = fabric(beat=2, burst=4, outstanding=2)
    cfg = engine(p, DramMode.VECTOR, base=40, run=9, extents=[3], strides=[11])
    # the error of the second burst stays: the pulse in between clears nothing
    got = check_load(p, cfg, knobs=Knobs(seed=15, latency=6, rerr=frozenset({1})), poke=12)
    assert got.errors == [1] and got.cycles[0] > 12


def test_empty_and_off_are_done_at_once():
    p = fabric()
    got = simulate(p, load=engine(p, DramMode.VECTOR, run=5, extents=[3, 0]),
                   store=engine(p, DramMode.OFF, run=5))
    # busy for the one cycle in which the load engine finds its pattern empty
    assert got.cycles == [2] and got.errors == [0]
    assert got.mem.reads == [] and got.mem.writes == [] and got.vout == []


# -- stores -------------------------------------------------------------------------------

@pytest.mark.parametrize("beat", [1, 2, 4])
def test_store_unaligned_runs_with_strobes(beat):
    p = fabric(beat=beat, burst=2, outstanding=2)
    rng = random.Random(9 + beat)
    cfg = engine(p, DramMode.VECTOR, base=2045, run=7, extents=[3], strides=[13])
    # the neighbours of every run hold known words that must survive
    words = {a: rng.getrandbits(32) for a in range(2040, 2090)}
    vin = rand_vectors(p, 3 * 2, rng)    # two vectors per run, the second one padded
    got = check_store(p, cfg, words=words, vin=vin,
                      knobs=Knobs(seed=9, in_gap=0.3, aw_pause=0.3, w_pause=0.4))
    flat = [sum(vin[2 * r:2 * r + 2], [])[:7] for r in range(3)]
    for r in range(3):
        start = 2045 + 13 * r
        assert [s32(got.mem.words[start + i]) for i in range(7)] == flat[r]
        assert got.mem.words[start - 1] == words[start - 1]
        assert got.mem.words[start + 7] == words[start + 7]


def test_scalar_store_across_4k_boundary():
    p = fabric(beat=4, burst=4, outstanding=2)
    rng = random.Random(10)
    cfg = engine(p, DramMode.SCALAR, base=1013, run=21, extents=[2], strides=[-50])
    sin = rand_words(42, rng)
    got = check_store(p, cfg, sin=sin, knobs=Knobs(seed=10, in_gap=0.2, b_latency=6))
    assert got.mem.writes[:2] == [(4048, 3), (4096, 3)]
    assert got.mem.max_writes == 2


def test_store_to_a_memory_that_waits_for_w_before_aw():
    # AXI4 lets a subordinate hold awready until it sees wvalid: W must not wait for AW
    p = fabric(beat=2, burst=2, outstanding=2)
    rng = random.Random(14)
    cfg = engine(p, DramMode.VECTOR, base=301, run=6, extents=[2, 2], strides=[8, 100])
    vin = rand_vectors(p, 2 * 4, rng)
    got = check_store(p, cfg, vin=vin, knobs=Knobs(seed=14, aw_after_w=True, w_pause=0.2))
    assert len(got.mem.writes) == 4 * 2


def test_scatter():
    p = fabric(beat=2, burst=4, outstanding=3)
    rng = random.Random(11)
    cfg = engine(p, DramMode.VECTOR, base=500, run=5, extents=[3, 2], indexed=1)
    # runs far enough apart not to overlap
    indices = [10 * k + rng.randrange(3) for k in rng.sample(range(100), run_count(cfg))]
    vin = rand_vectors(p, 2 * run_count(cfg), rng)
    check_store(p, cfg, vin=vin, indices=indices,
                knobs=Knobs(seed=11, in_gap=0.3, w_pause=0.3, aw_pause=0.2))


def test_write_error_sets_error():
    p = fabric(beat=4, burst=4, outstanding=2)
    cfg = engine(p, DramMode.SCALAR, base=8, run=6)
    got = simulate(p, store=cfg, sin=list(range(6)), knobs=Knobs(seed=12, berr=frozenset({0})))
    assert got.errors == [1]
    assert [got.mem.words[8 + i] for i in range(6)] == list(range(6))


# -- both engines, conversion ---------------------------------------------------------------

def test_load_and_store_at_once():
    p = fabric(beat=2, burst=4, outstanding=2)
    rng = random.Random(13)
    load = engine(p, DramMode.VECTOR, base=100, run=10, extents=[2], strides=[20])
    store = engine(p, DramMode.VECTOR, base=7000, run=9, extents=[2], strides=[30])
    vin = rand_vectors(p, 6, rng)
    got = simulate(p, load=load, store=store, vin=vin,
                   knobs=Knobs(seed=13, r_gap=0.3, w_pause=0.3, out_stall=0.3))
    vout, _, ars = load_reference(p, load, got.mem.read)
    want, aws, _ = store_reference(p, store, {}, vin)
    assert (got.vout, got.mem.reads) == (vout, ars)
    assert (got.mem.words, got.mem.writes) == (want, aws)
    assert got.errors == [0]


def test_beat_wider_than_a_vector():
    p = load_fabric("tiny").replace(dram_beat=8, dram_burst=2, dram_outstanding=2)
    rng = random.Random(16)
    load = engine(p, DramMode.VECTOR, base=13, run=19, extents=[2], strides=[-9])
    store = engine(p, DramMode.VECTOR, base=3005, run=11, extents=[2], strides=[17])
    vin = rand_vectors(p, 6, rng)
    got = simulate(p, load=load, store=store, vin=vin,
                   knobs=Knobs(seed=16, r_gap=0.3, w_pause=0.3, out_stall=0.5))
    vout, _, ars = load_reference(p, load, got.mem.read)
    want, aws, _ = store_reference(p, store, {}, vin)
    assert (got.vout, got.mem.reads) == (vout, ars)
    assert (got.mem.words, got.mem.writes) == (want, aws)


def test_converts_to_verilog():
    p = fabric(beat=4, burst=4, outstanding=2)
    text = verilog.convert(DramUnit(p), name="dram")
    for decl in ["output [31:0] araddr", "output [7:0] arlen", "output [2:0] arsize",
                 "output [1:0] arburst", "input [127:0] rdata", "input [1:0] rresp",
                 "input rlast", "output rready", "output [31:0] awaddr",
                 "output [127:0] wdata", "output [15:0] wstrb", "output wlast",
                 "input [1:0] bresp", "input bvalid", "output bready", "output error"]:
        assert decl + ";" in text, decl
