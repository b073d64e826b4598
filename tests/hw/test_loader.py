import random
import struct
import zlib

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from bitstream_cases import good_bitstream, with_padding
from compiler.bitstream import Bitstream, BitstreamError, decode, encode, words_of
from compiler.payload import pad_width
from hw.fabric import ConfigStore
from hw.format import MAGIC, RECORD_HEADER, VERSION, CfgError, RecordKind
from hw.loader import ConfigLoader, crc32_step
from hw.params import load_fabric
from hw.targets import config_targets

TINY = load_fabric("tiny")


def expected_writes(bs):
    """The write bus transactions of a good bitstream: ``(kind, target, index, addr, data)``
    with ``addr`` None where it does not matter."""
    writes = []
    for r in bs.records:
        if r.kind == RecordKind.PMU_INIT:
            writes += [(r.kind, r.target, k, r.payload[0] + k, w)
                       for k, w in enumerate(r.payload[1:])]
        else:
            writes += [(r.kind, r.target, k, None, w) for k, w in enumerate(r.payload)]
    return writes


def words_of_bytes(raw):
    return list(struct.unpack(f"<{len(raw) // 4}I", raw))


def sealed(words):
    body = struct.pack(f"<{len(words) - 1}I", *words[:-1])
    return words[:-1] + [zlib.crc32(body)]


def run_loader(p, streams, *, seed=0, gap=0.0):
    """Feed ``streams`` (lists of words, ``last`` on each final word) one after the
    other with random idle cycles; return ``[(writes, configured, error)]`` per stream,
    the status sampled after the stream's last word."""
    dut = ConfigLoader(p)
    rng = random.Random(seed)
    results = []

    async def tb(ctx):
        assert ctx.get(dut.cfg.ready)
        for words in streams:
            writes = []

            def collect():
                bus = dut.bus
                if ctx.get(bus.we):
                    addr = ctx.get(bus.addr)
                    kind = ctx.get(bus.kind)
                    writes.append((kind, ctx.get(bus.target), ctx.get(bus.index),
                                   addr if kind == RecordKind.PMU_INIT else None,
                                   ctx.get(bus.data)))

            for k, word in enumerate(words):
                while rng.random() < gap:
                    ctx.set(dut.cfg.valid, 0)
                    await ctx.tick()
                    collect()
                ctx.set(dut.cfg.valid, 1)
                ctx.set(dut.cfg.payload, {"data": word, "last": k == len(words) - 1})
                await ctx.tick()
                collect()
                if k == 0:
                    assert not ctx.get(dut.configured)
                if k < len(words) - 1:
                    assert ctx.get(dut.busy)
                    assert not ctx.get(dut.configured)
            ctx.set(dut.cfg.valid, 0)
            assert not ctx.get(dut.busy)
            for _ in range(3):
                await ctx.tick()
                collect()
            results.append((writes, ctx.get(dut.configured), CfgError(ctx.get(dut.error))))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return results


def loader_codes(p, streams):
    """The loader's code for each stream (fed back to back), checked against ``decode``'s."""
    results = []
    for words, (writes, configured, error) in zip(streams, run_loader(p, streams)):
        try:
            decode(struct.pack(f"<{len(words)}I", *words), p)
            want = CfgError.NONE
        except BitstreamError as e:
            want = e.code
        assert error == want, f"stream {words}"
        assert configured == (error == CfgError.NONE)
        results.append((error, writes))
    return results


def loader_code(p, words):
    [result] = loader_codes(p, [words])
    return result


# -- good bitstreams ----------------------------------------------------------------------

@pytest.mark.parametrize("fabric,seed,gap", [("tiny", 1, 0.0), ("tiny", 2, 0.4), ("small", 3, 0.2)])
def test_good_bitstream(fabric, seed, gap):
    p = load_fabric(fabric)
    bs = good_bitstream(p, seed)
    [(writes, configured, error)] = run_loader(p, [words_of_bytes(encode(bs))], seed=seed, gap=gap)
    assert error == CfgError.NONE
    assert configured
    assert writes == expected_writes(bs)


def test_padding_is_written_as_given():
    # the bits past a layout in a record's last word: the loader neither checks nor
    # clears them (the configuration registers drop them), so disasm shows them
    bs = with_padding(TINY, good_bitstream(TINY, 7), seed=7)
    [(writes, configured, error)] = run_loader(TINY, [words_of_bytes(encode(bs))])
    assert (configured, error) == (1, CfgError.NONE)
    assert writes == expected_writes(bs)


@pytest.mark.parametrize("target", [0, 1])
def test_config_store_drops_padding(target):
    t = config_targets(TINY)[target]
    bits = random.Random(target).getrandbits(t.layout.size)
    words = words_of(bits, t.layout, (1 << pad_width(t.layout)) - 1)
    dut = ConfigStore(TINY, t)

    async def tb(ctx):
        bus = dut.bus
        ctx.set(bus.we, 1)
        ctx.set(bus.kind, t.record)
        ctx.set(bus.target, t.id)
        for k, word in enumerate(words):
            ctx.set(bus.index, k)
            ctx.set(bus.data, word)
            await ctx.tick()
        assert ctx.get(dut.value).as_bits() == bits

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


def test_empty_bitstream():
    bs = Bitstream(TINY.hash32)
    [(writes, configured, error)] = run_loader(TINY, [words_of_bytes(encode(bs))])
    assert (writes, configured, error) == ([], 1, CfgError.NONE)


def test_next_stream_starts_over():
    good = words_of_bytes(encode(good_bitstream(TINY, 5)))
    bad = list(good)
    bad[-1] ^= 1
    results = run_loader(TINY, [good, bad, bad[:7], good, good], seed=5, gap=0.1)
    assert [(c, e) for _, c, e in results] == [
        (1, CfgError.NONE), (0, CfgError.CRC), (0, CfgError.TRUNCATED),
        (1, CfgError.NONE), (1, CfgError.NONE)]


def test_crc_matches_zlib():
    rng = random.Random(9)
    words = [rng.getrandbits(32) for _ in range(16)] + [0, 0xFFFFFFFF, 1, 1 << 31]
    m = Module()
    crc, word, after = Signal(32), Signal(32), Signal(32)
    m.d.comb += after.eq(crc32_step(crc, word))

    async def tb(ctx):
        value = 0xFFFFFFFF
        for k, w in enumerate(words):
            ctx.set(crc, value)
            ctx.set(word, w)
            value = ctx.get(after)
            assert value ^ 0xFFFFFFFF == zlib.crc32(struct.pack(f"<{k + 1}I", *words[:k + 1]))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()


# -- corruptions: one case each, checked against compiler.bitstream.decode ----------------

def good_words(seed=1):
    return words_of_bytes(encode(good_bitstream(TINY, seed)))


def header_word(kind, target, zero=0):
    return RECORD_HEADER.const({"kind": kind, "target": target, "zero": zero}).as_bits()


def records_stream(*body):
    return sealed([MAGIC, VERSION, TINY.hash32, 5 + len(body), *body, 0])


@pytest.mark.parametrize("index,value,code", [
    (0, 0x12345678, CfgError.MAGIC),
    (1, 1, CfgError.VERSION),
    (2, TINY.hash32 ^ 0x100, CfgError.FABRIC),
    (3, 4, CfgError.LENGTH),
    (3, 0, CfgError.LENGTH),
])
def test_header_errors_write_nothing(index, value, code):
    w = good_words()
    w[index] = value
    error, writes = loader_code(TINY, sealed(w))
    assert error == code
    assert writes == []


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5, 30, -1])
def test_truncated(cut):
    w = good_words()
    error, _ = loader_code(TINY, w[:cut])
    assert error == CfgError.TRUNCATED


def test_length_too_large():
    w = good_words()
    w[3] += 100
    w[-1] = header_word(RecordKind.SWITCH, 8)    # where the CRC was, a record now starts
    assert loader_code(TINY, w)[0] == CfgError.TRUNCATED


def test_extra_words():
    assert loader_code(TINY, good_words() + [0, 0])[0] == CfgError.LENGTH


def test_bad_crc():
    w = good_words()
    w[-1] ^= 1 << 17
    assert loader_code(TINY, w)[0] == CfgError.CRC


@pytest.mark.parametrize("body,code", [
    ([header_word(RecordKind.UNIT, 0, zero=1), 15] + [0] * 15, CfgError.RECORD),
    ([9 << RECORD_HEADER["kind"].offset, 1, 0], CfgError.RECORD),
    ([0, 1, 0], CfgError.RECORD),
    ([header_word(RecordKind.UNIT, 4), 1, 0], CfgError.RECORD),
    ([header_word(RecordKind.UNIT, 0xFFFF), 1, 0], CfgError.RECORD),
    ([header_word(RecordKind.SWITCH, 3), 1, 0], CfgError.RECORD),
    ([header_word(RecordKind.SWITCH, 13), 1, 0], CfgError.RECORD),
    ([header_word(RecordKind.PMU_INIT, 0), 1, 0], CfgError.RECORD),
    ([header_word(RecordKind.PMU_INIT, 4), 1, 0], CfgError.RECORD),
    ([header_word(RecordKind.UNIT, 0), 14] + [0] * 14, CfgError.SIZE),
    ([header_word(RecordKind.UNIT, 1), 15] + [0] * 15, CfgError.SIZE),
    ([header_word(RecordKind.SWITCH, 8), 2, 0, 0], CfgError.SIZE),
    ([header_word(RecordKind.SWITCH, 8), 0], CfgError.SIZE),
    ([header_word(RecordKind.PMU_INIT, 1), 0], CfgError.SIZE),
    ([header_word(RecordKind.PMU_INIT, 1), 1, 256], CfgError.SIZE),
    ([header_word(RecordKind.PMU_INIT, 1), 8, 250] + [0] * 7, CfgError.SIZE),
    ([header_word(RecordKind.PMU_INIT, 1), 2, 2**32 - 1, 0], CfgError.SIZE),
    ([header_word(RecordKind.PMU_INIT, 2), 7, 250] + [0] * 6, CfgError.NONE),
    ([header_word(RecordKind.SWITCH, 8), 1], CfgError.SIZE),       # runs into the CRC
    ([header_word(RecordKind.SWITCH, 8)], CfgError.SIZE),
])
def test_record_errors(body, code):
    error, writes = loader_code(TINY, records_stream(*body))
    assert error == code
    if code != CfgError.NONE:
        assert writes == []


def test_header_into_crc_is_size_even_when_cut():
    """The header alone tells the record cannot fit, before the stream ends."""
    w = records_stream(header_word(RecordKind.SWITCH, 8))
    assert loader_code(TINY, w[:-1])[0] == CfgError.SIZE


def test_error_after_writes_stops_writing():
    good = [header_word(RecordKind.SWITCH, 8), 1, 0xAAAA]
    w = records_stream(*good, header_word(RecordKind.SWITCH, 3), 1, 0, *good)
    error, writes = loader_code(TINY, w)
    assert error == CfgError.RECORD
    assert writes == [(RecordKind.SWITCH, 8, 0, None, 0xAAAA)]


def test_flipped_bits():
    """A flipped bit anywhere gives an error, the same one ``decode`` gives."""
    rng = random.Random(11)
    w = good_words(seed=2)
    streams = []
    for _ in range(60):
        bit = rng.randrange(32 * len(w))
        bad = list(w)
        bad[bit // 32] ^= 1 << (bit % 32)
        streams.append(bad)
    errors = [error for error, _ in loader_codes(TINY, streams)]
    assert CfgError.NONE not in errors
    assert CfgError.CRC in errors


def test_random_streams_agree_with_decode():
    """Mutated and cut streams: the loader's code is ``decode``'s, every time."""
    rng = random.Random(12)
    w = good_words(seed=3)
    streams = []
    for _ in range(60):
        bad = list(w)
        for _ in range(rng.randrange(1, 3)):
            k = rng.randrange(len(bad))
            bad[k] = rng.choice([rng.getrandbits(32), bad[k] ^ (1 << rng.randrange(32)),
                                 rng.randrange(0x20), header_word(rng.choice(list(RecordKind)),
                                                                  rng.randrange(16))])
        if rng.random() < 0.5:
            bad = sealed(bad)
        if rng.random() < 0.3:
            bad = bad[:rng.randrange(1, len(bad) + 1)]
        streams.append(bad)
    errors = {error for error, _ in loader_codes(TINY, streams)}
    assert len(errors) >= 4
