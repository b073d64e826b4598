import itertools
import random
from dataclasses import dataclass, field

import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from hw.layouts import Access, pmu_layout
from hw.params import FabricParams, load_fabric
from hw.pmu import PMU
from streams import StreamSink, StreamSource, random_pauses


# -- configuration ---------------------------------------------------------------------

def agen(p, mode=Access.OFF, counters=(), *, vec=0, base=0, strides=(), swap=None):
    """An address-generator config dict; missing counters run once, swap defaults to the
    end of the chain."""
    counters = list(counters) + [(0, 1, 1)] * (p.counters - len(counters))
    strides = list(strides) + [0] * (p.counters - len(strides))
    return {
        "mode": mode,
        "counters": [{"start": s, "end": e, "stride": st} for s, e, st in counters],
        "vec": vec,
        "base": base % p.pmu_words,
        "strides": strides,
        "swap": p.counters if swap is None else swap,
    }


def pmu_cfg(p, *, wr=None, rd=None, enable=1, double=0, init_full=0):
    return {"enable": enable, "double": double, "init_full": init_full,
            "wr": wr or agen(p), "rd": rd or agen(p)}


# -- reference model -------------------------------------------------------------------

def iterations(a, lanes):
    """``[(values, mask, swap_level)]`` of one address generator, in issue order."""
    steps, ranges = [], []
    for k, c in enumerate(a["counters"]):
        step = c["stride"] * (lanes if k == 0 and a["vec"] else 1)
        steps.append(step)
        ranges.append(range(c["start"], c["end"], step))
    result = []
    for t in itertools.product(*reversed(ranges)):
        values = t[::-1]
        last = [values[k] + steps[k] >= c["end"] for k, c in enumerate(a["counters"])]
        c0 = a["counters"][0]
        mask = [not a["vec"] or values[0] + i * c0["stride"] < c0["end"] for i in range(lanes)]
        result.append((values, mask, all(last[:a["swap"]])))
    return result


@dataclass
class ModelResult:
    vout: list = field(default_factory=list)
    sout: list = field(default_factory=list)
    vin_used: int = 0
    sin_used: int = 0
    done: bool = False


def pmu_model(p, cfg, vin=(), sin=(), init=None):
    """What the PMU reads out, given everything it may consume, per ``docs/hardware.md``.

    The outcome does not depend on timing: the reader only reads full buffers and the
    writer only writes free ones, so the model runs each side until it blocks, in turn.
    """
    res = ModelResult()
    if not cfg["enable"]:
        res.done = True
        return res
    mem = [0] * p.pmu_words
    for addr, value in (init or {}).items():
        mem[addr] = value
    size = p.pmu_words // 2 if cfg["double"] else p.pmu_words
    wr, rd = cfg["wr"], cfg["rd"]
    wr_its = iterations(wr, p.lanes) if wr["mode"] != Access.OFF else []
    rd_its = iterations(rd, p.lanes) if rd["mode"] != Access.OFF else []
    full = [bool(cfg["init_full"]), False]
    wbuf = rbuf = 0
    wi = ri = 0

    def words(a, values, buf, n):
        addr = a["base"] + sum(s * v for s, v in zip(a["strides"], values))
        return [buf * size + (addr + i) % size for i in range(n)]

    progress = True
    while progress:
        progress = False
        while wi < len(wr_its) and not full[wbuf]:
            values, mask, swap = wr_its[wi]
            if wr["mode"] == Access.VECTOR:
                if res.vin_used == len(vin):
                    break
                data = vin[res.vin_used]
                res.vin_used += 1
                for i, a in enumerate(words(wr, values, wbuf, p.lanes)):
                    if mask[i]:
                        mem[a] = data[i]
            else:
                if res.sin_used == len(sin):
                    break
                mem[words(wr, values, wbuf, 1)[0]] = sin[res.sin_used]
                res.sin_used += 1
            wi += 1
            progress = True
            if swap:
                full[wbuf] = True
                wbuf ^= cfg["double"]
        while ri < len(rd_its) and full[rbuf]:
            values, _, swap = rd_its[ri]
            if rd["mode"] == Access.VECTOR:
                res.vout.append([mem[a] for a in words(rd, values, rbuf, p.lanes)])
            else:
                res.sout.append(mem[words(rd, values, rbuf, 1)[0]])
            ri += 1
            progress = True
            if swap:
                if wr["mode"] != Access.OFF:
                    full[rbuf] = False
                rbuf ^= cfg["double"]
    res.done = wi == len(wr_its) and ri == len(rd_its)
    return res


# -- simulation ------------------------------------------------------------------------

@dataclass
class Knobs:
    seed: int = 0
    in_gap: float = 0.0      # chance of an idle cycle before each input item
    out_stall: float = 0.0   # chance of ready low in any cycle
    in_delay: int = 0        # cycles before the first input item
    timeout: int = 5000


@dataclass
class SimResult:
    vout: list
    sout: list
    vin_used: int
    sin_used: int
    done: bool
    cycles: int              # from run to the first cycle done was seen
    done_trace: list         # done after each cycle from run until done


def rand_word(rng):
    return rng.randrange(-2**31, 2**31)


def simulate(p, cfg, *, vin=(), sin=(), init=None, knobs=Knobs(), expect_outputs=None,
             busy_init=None):
    """Run the PMU with ``cfg``: loader writes ``init``, then start and run until
    ``expect_outputs`` outputs have come out and done is high (or timeout)."""
    dut = PMU(p)
    # the sources wait for the start pulse (one cycle after the loader writes)
    sources = {name: StreamSource(getattr(dut, name), items, delay=knobs.in_delay + 1,
                                  pauses=random_pauses(knobs.in_gap, f"{knobs.seed}/{name}"))
               for name, items in (("vin", vin), ("sin", sin))}
    sinks = {name: StreamSink(getattr(dut, name),
                              pauses=random_pauses(knobs.out_stall, f"{knobs.seed}/{name}"))
             for name in ("vout", "sout")}
    result = {}

    async def control(ctx):
        ctx.set(dut.cfg, pmu_layout(p).const(cfg))
        for addr, value in (init or {}).items():
            ctx.set(dut.init_we, 1)
            ctx.set(dut.init_addr, addr)
            ctx.set(dut.init_data, value)
            await ctx.tick()
        ctx.set(dut.init_we, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.run, 1)
        if busy_init:
            # the loader port must be ignored while running
            for addr, value in busy_init.items():
                ctx.set(dut.init_we, 1)
                ctx.set(dut.init_addr, addr)
                ctx.set(dut.init_data, value)
                await ctx.tick()
            ctx.set(dut.init_we, 0)
        trace = []
        for cycle in range(knobs.timeout):
            _, _, done = await ctx.tick().sample(dut.done)
            trace.append(done)
            n_out = len(sinks["vout"].items) + len(sinks["sout"].items)
            if done:
                # done only once everything read has been delivered
                assert expect_outputs is None or n_out == expect_outputs, (cycle, n_out)
                break
        result["cycles"] = len(trace)
        result["trace"] = trace
        # nothing more comes out afterwards
        await ctx.tick().repeat(20)
        result["done"] = ctx.get(dut.done)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(control)
    # a source may be left blocked at the end (a disabled unit takes nothing)
    for driver in list(sources.values()) + list(sinks.values()):
        sim.add_testbench(driver.run, background=True)
    sim.run()
    return SimResult(vout=sinks["vout"].items, sout=sinks["sout"].items,
                     vin_used=sources["vin"].accepted, sin_used=sources["sin"].accepted,
                     done=result["done"], cycles=result["cycles"], done_trace=result["trace"])


def check_pmu(p, cfg, *, vin=(), sin=(), init=None, knobs=Knobs(), busy_init=None):
    """Run the model and the hardware on the same stimulus and compare."""
    want = pmu_model(p, cfg, vin, sin, init)
    assert want.done, "test stimulus must let the model finish"
    assert want.vin_used == len(vin) and want.sin_used == len(sin), "unused stimulus"
    got = simulate(p, cfg, vin=vin, sin=sin, init=init, knobs=knobs, busy_init=busy_init,
                   expect_outputs=len(want.vout) + len(want.sout))
    assert got.done_trace[-1], f"not done after {knobs.timeout} cycles"
    assert got.vout == want.vout
    assert got.sout == want.sout
    assert (got.vin_used, got.sin_used) == (want.vin_used, want.sin_used)
    assert got.done
    return got


def rand_vectors(p, n, rng):
    return [[rand_word(rng) for _ in range(p.lanes)] for _ in range(n)]


def rand_words(n, rng):
    return [rand_word(rng) for _ in range(n)]


STIMULUS = [Knobs(seed=1), Knobs(seed=2, in_gap=0.5, out_stall=0.5),
            Knobs(seed=3, in_gap=0.2, out_stall=0.8)]


# -- cases -----------------------------------------------------------------------------

@pytest.mark.parametrize("knobs", STIMULUS)
def test_vector_write_then_vector_read(knobs):
    p = load_fabric("small")
    n = 6
    seq = agen(p, Access.VECTOR, [(0, n * p.lanes, 1)], vec=1, strides=[1])
    cfg = pmu_cfg(p, wr=seq, rd=seq)
    vin = rand_vectors(p, n, random.Random(knobs.seed))
    got = check_pmu(p, cfg, vin=vin, knobs=knobs)
    assert got.vout == vin


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_unaligned_vector_reads(preset):
    p = load_fabric(preset)
    lanes, words = p.lanes, p.pmu_words
    # four vectors straddling the end of the buffer, then reads at every alignment
    wr = agen(p, Access.VECTOR, [(0, 4 * lanes, lanes)], base=words - 2 * lanes, strides=[1])
    rd = agen(p, Access.VECTOR, [(0, 3 * lanes + 1, 1)], base=words - 2 * lanes, strides=[1])
    rng = random.Random(7)
    vin = rand_vectors(p, 4, rng)
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), vin=vin, knobs=Knobs(seed=7, out_stall=0.3))
    flat = sum(vin, [])
    assert got.vout == [flat[a:a + lanes] for a in range(3 * lanes + 1)]


@pytest.mark.parametrize("knobs", STIMULUS[:2])
def test_scalar_write_vector_read(knobs):
    p = load_fabric("small")
    rng = random.Random(knobs.seed)
    n = 2 * p.lanes + 3
    # every other word over preloaded contents: a scalar write touches one word only
    init = {a: rand_word(rng) for a in range(5 * p.lanes)}
    wr = agen(p, Access.SCALAR, [(0, n, 1)], base=3, strides=[2])
    rd = agen(p, Access.VECTOR, [(0, 5, 1)], base=1, strides=[p.lanes])
    sin = rand_words(n, rng)
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), sin=sin, init=init, knobs=knobs)
    flat = sum(got.vout, [])
    assert flat[2:2 * n + 2:2] == sin
    assert flat[1:2 * n + 1:2] == [init[a] for a in range(2, 2 * n + 2, 2)]


@pytest.mark.parametrize("knobs", STIMULUS[:2])
def test_vector_write_scalar_read(knobs):
    p = load_fabric("small")
    wr = agen(p, Access.VECTOR, [(0, 4, 1)], base=5, strides=[p.lanes])
    # every other word, backwards
    rd = agen(p, Access.SCALAR, [(0, 2 * p.lanes, 1)], base=5 + 4 * p.lanes - 1, strides=[-2])
    vin = rand_vectors(p, 4, random.Random(knobs.seed))
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), vin=vin, knobs=knobs)
    flat = sum(vin, [])
    assert got.sout == flat[::-2]


@pytest.mark.parametrize("knobs", STIMULUS)
def test_transposed_scalar_reads_repeated(knobs):
    p = load_fabric("small")
    n = p.lanes                       # an n x n row-major matrix, one row per vector
    wr = agen(p, Access.VECTOR, [(0, n, 1)], strides=[n])
    # column-major walk, three times over (stride 0 on the outer counter)
    rd = agen(p, Access.SCALAR, [(0, n, 1), (0, n, 1), (0, 3, 1)], strides=[n, 1, 0])
    vin = rand_vectors(p, n, random.Random(knobs.seed))
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), vin=vin, knobs=knobs)
    column_major = [vin[r][c] for c in range(n) for r in range(n)]
    assert got.sout == column_major * 3


def test_strided_2d_vector_reads():
    p = load_fabric("small")
    wr = agen(p, Access.VECTOR, [(0, 16, 1)], strides=[p.lanes])
    # overlapping vectors: 2-D window with strides 3 and 2 * lanes + 1, twice
    rd = agen(p, Access.VECTOR, [(0, 5, 1), (0, 4, 1), (0, 2, 1)],
              base=2, strides=[3, 2 * p.lanes + 1, 0])
    vin = rand_vectors(p, 16, random.Random(11))
    check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), vin=vin, knobs=Knobs(seed=11, out_stall=0.4))


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_masked_partial_vector_writes(preset):
    p = load_fabric(preset)
    lanes = p.lanes
    rng = random.Random(5)
    end = 2 * lanes + 3           # the last vector has three live lanes
    init = {a: rand_word(rng) for a in range(3 * lanes)}
    wr = agen(p, Access.VECTOR, [(0, end, 1)], vec=1, strides=[1])
    rd = agen(p, Access.VECTOR, [(0, 3, 1)], strides=[lanes])
    vin = rand_vectors(p, 3, rng)
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), vin=vin, init=init,
                    knobs=Knobs(seed=5, in_gap=0.3))
    flat = sum(got.vout, [])
    assert flat[:end] == sum(vin, [])[:end]
    assert flat[end:] == [init[a] for a in range(end, 3 * lanes)]


@pytest.mark.parametrize("rd_mode", [Access.VECTOR, Access.SCALAR])
def test_init_constants_reread(rd_mode):
    p = load_fabric("small")
    rng = random.Random(13)
    base = p.pmu_words - 10
    init = {(base + a) % p.pmu_words: rand_word(rng) for a in range(4 * p.lanes)}
    # the buffer is swapped after each pass; with no writer it is never freed
    rd = agen(p, rd_mode, [(0, 4 * p.lanes, p.lanes if rd_mode == Access.VECTOR else 1),
                           (0, 3, 1)], base=base, strides=[1, 0], swap=1)
    # writes on the loader port while running are ignored
    busy = {(base + a) % p.pmu_words: 0 for a in range(4)}
    got = check_pmu(p, pmu_cfg(p, rd=rd, init_full=1), init=init, busy_init=busy,
                    knobs=Knobs(seed=13, out_stall=0.3))
    words = [init[(base + a) % p.pmu_words] for a in range(4 * p.lanes)]
    if rd_mode == Access.VECTOR:
        assert sum(got.vout, []) == words * 3
    else:
        assert got.sout == words * 3


def test_init_word_addressing():
    p = load_fabric("tiny")
    rng = random.Random(17)
    init = {a: rand_word(rng) for a in range(p.pmu_words)}
    rd = agen(p, Access.VECTOR, [(0, p.pmu_words, p.lanes)], strides=[1])
    got = check_pmu(p, pmu_cfg(p, rd=rd, init_full=1), init=init)
    assert sum(got.vout, []) == [init[a] for a in range(p.pmu_words)]


DOUBLE = [Knobs(seed=21, in_gap=0.1, out_stall=0.7),   # slow reader: writer waits for free
          Knobs(seed=22, in_gap=0.7, out_stall=0.1),   # slow writer: reader waits for full
          Knobs(seed=23, in_gap=0.4, out_stall=0.4)]


@pytest.mark.parametrize("knobs", DOUBLE)
@pytest.mark.parametrize("double", [1, 0])
def test_buffered_stream(knobs, double):
    p = load_fabric("small")
    fills, per = 5, 3                 # buffer fills, vectors per fill
    wr = agen(p, Access.VECTOR, [(0, per * p.lanes, 1), (0, fills, 1)], vec=1,
              strides=[1, 0], swap=1)
    rd = agen(p, Access.VECTOR, [(0, per * p.lanes, p.lanes), (0, fills, 1)],
              strides=[1, 0], swap=1)
    vin = rand_vectors(p, fills * per, random.Random(knobs.seed))
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd, double=double), vin=vin, knobs=knobs)
    assert got.vout == vin


@pytest.mark.parametrize("knobs", DOUBLE[:2])
def test_double_buffer_transposing_reader(knobs):
    p = load_fabric("small")
    fills, n = 4, p.lanes
    # the writer fills n x 2 row-major tiles with scalars; the reader walks each tile
    # column by column
    wr = agen(p, Access.SCALAR, [(0, 2 * n, 1), (0, fills, 1)], strides=[1, 0], swap=1)
    rd = agen(p, Access.SCALAR, [(0, n, 1), (0, 2, 1), (0, fills, 1)],
              strides=[2, 1, 0], swap=2)
    sin = rand_words(fills * 2 * n, random.Random(knobs.seed))
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd, double=1), sin=sin, knobs=knobs)
    tiles = [sin[t * 2 * n:(t + 1) * 2 * n] for t in range(fills)]
    assert got.sout == [tile[2 * r + c] for tile in tiles for c in range(2) for r in range(n)]


def test_done_waits_for_input_and_output():
    p = load_fabric("small")
    seq = agen(p, Access.VECTOR, [(0, 2 * p.lanes, 1)], vec=1, strides=[1])
    cfg = pmu_cfg(p, wr=seq, rd=seq)
    vin = rand_vectors(p, 2, random.Random(3))
    knobs = Knobs(seed=3, in_delay=30, out_stall=0.9)
    got = check_pmu(p, cfg, vin=vin, knobs=knobs)
    # low from start while the writer waits for data, then high for good
    assert got.cycles > 30
    assert not any(got.done_trace[:-1])


def test_done_writer_only_and_reader_only():
    p = load_fabric("small")
    wr = agen(p, Access.SCALAR, [(0, 10, 1)], strides=[1])
    got = check_pmu(p, pmu_cfg(p, wr=wr), sin=rand_words(10, random.Random(4)),
                    knobs=Knobs(seed=4, in_gap=0.5))
    assert got.cycles >= 10
    rd = agen(p, Access.SCALAR, [(0, 10, 1)], strides=[1])
    got = check_pmu(p, pmu_cfg(p, rd=rd, init_full=1), knobs=Knobs(seed=4, out_stall=0.5))
    assert got.sout == [0] * 10


def test_empty_chains_are_done_at_once():
    p = load_fabric("small")
    wr = agen(p, Access.VECTOR, [(4, 4, 1)])
    rd = agen(p, Access.VECTOR, [(0, 0, 1)])
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd))
    assert got.cycles == 1 and got.vout == []


def test_disabled_unit():
    p = load_fabric("small")
    seq = agen(p, Access.VECTOR, [(0, 2 * p.lanes, 1)], vec=1, strides=[1])
    cfg = pmu_cfg(p, wr=seq, rd=seq, init_full=1, enable=0)
    vin = rand_vectors(p, 2 * p.fifo_depth, random.Random(9))
    got = simulate(p, cfg, vin=vin, knobs=Knobs(seed=9, timeout=100))
    assert got.done and got.done_trace == [1]
    assert got.vout == [] and got.sout == []
    # the input FIFO fills and nothing is popped
    assert got.vin_used == p.fifo_depth
    assert pmu_model(p, cfg, vin).vout == []


def test_read_throughput():
    p = load_fabric("small")
    n = 64
    rd = agen(p, Access.VECTOR, [(0, n, 1)], strides=[p.lanes])
    got = check_pmu(p, pmu_cfg(p, rd=rd, init_full=1))
    assert len(got.vout) == n
    assert got.cycles <= n + 4


def test_write_throughput():
    p = load_fabric("small")
    n = 64
    wr = agen(p, Access.VECTOR, [(0, n, 1)], strides=[p.lanes])
    got = check_pmu(p, pmu_cfg(p, wr=wr), vin=rand_vectors(p, n, random.Random(2)))
    assert got.cycles <= n + 4


@pytest.mark.parametrize("wr_fills,rd_fills", [(3, 2), (2, 1)])
def test_restart_resets_buffers(wr_fills, rd_fills):
    p = load_fabric("small")
    wr = agen(p, Access.VECTOR, [(0, p.lanes, 1), (0, wr_fills, 1)], vec=1, strides=[1, 0],
              swap=1)
    rd = agen(p, Access.VECTOR, [(0, p.lanes, 1), (0, rd_fills, 1)], vec=1, strides=[1, 0],
              swap=1)
    cfg = pmu_cfg(p, wr=wr, rd=rd, double=1)
    # the writer ends one fill ahead, leaving buffer 0 (3, 2) or 1 (2, 1) full: a new
    # start must empty both
    vin = rand_vectors(p, wr_fills, random.Random(8))
    want = pmu_model(p, cfg, vin)
    assert want.done and want.vout == vin[:rd_fills]
    dut = PMU(p)
    sink = StreamSink(dut.vout)
    got = sink.items

    async def tb(ctx):
        ctx.set(dut.cfg, pmu_layout(p).const(cfg))
        for run in range(2):
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.run, 1)
            await StreamSource(dut.vin, vin).run(ctx)
            for _ in range(100):
                _, _, done = await ctx.tick().sample(dut.done)
                if done:
                    break
            assert done and got == want.vout * (run + 1)
            ctx.set(dut.run, 0)
            await ctx.tick().repeat(3)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.add_testbench(sink.run, background=True)
    sim.run()
    assert got == want.vout * 2


@pytest.mark.parametrize("params", [
    load_fabric("tiny"),
    FabricParams(rows=1, cols=2, io_in=1, io_out=1, lanes=1, pmu_depth=4),
    FabricParams(rows=1, cols=2, io_in=1, io_out=1, lanes=2, pmu_depth=8, counters=1),
])
def test_elaborates(params):
    text = rtlil.convert(PMU(params))
    assert "bank0" in text


@pytest.mark.parametrize("knobs", STIMULUS[1:])
def test_two_lanes_one_counter_swap_every_iteration(knobs):
    p = FabricParams(rows=1, cols=2, io_in=1, io_out=1, lanes=2, pmu_depth=8, counters=1)
    rng = random.Random(knobs.seed)
    # swap level 0: every iteration fills, then frees, the single buffer
    wr = agen(p, Access.VECTOR, [(0, 8, 1)], vec=1, strides=[1], swap=0)
    rd = agen(p, Access.VECTOR, [(0, 8, 2)], strides=[1], swap=0)
    vin = rand_vectors(p, 4, rng)
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), vin=vin, knobs=knobs)
    assert got.vout == vin
    wr = agen(p, Access.SCALAR, [(0, 8, 1)], strides=[1])
    rd = agen(p, Access.SCALAR, [(0, 8, 1)], base=7, strides=[-1])
    sin = rand_words(8, rng)
    got = check_pmu(p, pmu_cfg(p, wr=wr, rd=rd), sin=sin, knobs=knobs)
    assert got.sout == sin[::-1]
