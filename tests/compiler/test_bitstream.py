import random
import struct
import zlib

import pytest
from amaranth.lib import data
from hypothesis import given, settings, strategies as st

from bitstream_cases import good_bitstream, with_padding
from compiler.bitstream import (Bitstream, BitstreamError, Record, bits_of, decode, encode,
                                record_words, words_of)
from compiler.payload import pad_width, padding_of
from hw.format import MAGIC, RECORD_HEADER, VERSION, CfgError, RecordKind
from hw.interconnect import interconnect, switch_layout
from hw.layouts import config_words, pcu_layout, pmu_layout
from hw.params import load_fabric
from hw.targets import config_targets

TINY = load_fabric("tiny")


def to_words(raw):
    return list(struct.unpack(f"<{len(raw) // 4}I", raw))


def to_bytes(words, *, reseal=True):
    """Bytes of ``words``; with ``reseal`` the last word is replaced by a fresh CRC."""
    if reseal:
        body = struct.pack(f"<{len(words) - 1}I", *words[:-1])
        return body + struct.pack("<I", zlib.crc32(body))
    return struct.pack(f"<{len(words)}I", *words)


def header_word(kind, target, zero=0):
    return RECORD_HEADER.const({"kind": kind, "target": target, "zero": zero}).as_bits()


def check_fault(raw, code, match, params=TINY):
    with pytest.raises(BitstreamError, match=match) as info:
        decode(raw, params)
    assert info.value.code == code


# -- round trips --------------------------------------------------------------------------

@pytest.mark.parametrize("fabric", ["tiny", "small", "plasticine"])
def test_round_trip(fabric):
    p = load_fabric(fabric)
    bs = good_bitstream(p, seed=3)
    assert decode(encode(bs), p) == bs
    assert decode(encode(bs)) == bs


def test_word_format():
    rec = Record(RecordKind.SWITCH, 7, (0xDEADBEEF,))
    words = to_words(encode(Bitstream(0x01234567, (rec,))))
    assert words[:4] == [MAGIC, VERSION, 0x01234567, 8]
    assert words[4] == header_word(RecordKind.SWITCH, 7)
    assert words[5:7] == [1, 0xDEADBEEF]
    assert words[7] == zlib.crc32(to_bytes(words, reseal=False)[:-4])
    assert encode(Bitstream(0x01234567, (rec,)))[:4] == b"TZZ1"


def test_empty_bitstream():
    bs = Bitstream(TINY.hash32)
    assert len(encode(bs)) == 20
    assert decode(encode(bs), TINY) == bs


def test_deterministic():
    assert encode(good_bitstream(TINY, 5)) == encode(good_bitstream(TINY, 5))


words32 = st.integers(0, 2**32 - 1)


@st.composite
def any_record(draw):
    kind = draw(st.sampled_from(list(RecordKind)))
    payload = draw(st.lists(words32, min_size=kind == RecordKind.PMU_INIT, max_size=12))
    return Record(kind, draw(st.integers(0, 0xFFFF)), tuple(payload))


@given(st.builds(Bitstream, words32, st.lists(any_record(), max_size=6).map(tuple)))
def test_round_trip_any(bs):
    assert decode(encode(bs)) == bs


@st.composite
def tiny_record(draw):
    """A record that fits the tiny fabric."""
    p = TINY
    kind = draw(st.sampled_from(list(RecordKind)))
    if kind == RecordKind.UNIT:
        target = draw(st.integers(0, p.rows * p.cols - 1))
    elif kind == RecordKind.SWITCH:
        target = draw(st.sampled_from([s.id for s in interconnect(p).switches.values()]))
    else:
        target = draw(st.sampled_from([t.id for t in config_targets(p).values()
                                       if t.takes_init]))
        addr = draw(st.integers(0, p.pmu_words - 1))
        n = draw(st.integers(0, min(16, p.pmu_words - addr)))
        return Record(kind, target, (addr, *draw(st.lists(words32, min_size=n, max_size=n))))
    n = record_words(p, kind, target)
    return Record(kind, target, tuple(draw(st.lists(words32, min_size=n, max_size=n))))


@given(st.lists(tiny_record(), max_size=8))
def test_round_trip_fabric(records):
    bs = Bitstream(TINY.hash32, tuple(records))
    assert decode(encode(bs), TINY) == bs


# -- corruptions: one case each -----------------------------------------------------------

def good_words():
    return to_words(encode(good_bitstream(TINY, seed=1)))


def test_bad_magic():
    w = good_words()
    w[0] = 0x12345678
    check_fault(to_bytes(w), CfgError.MAGIC,
                r"^bad magic 0x12345678 \(expected 0x315a5a54\): not a Terrazzo bitstream$")


def test_bad_version():
    w = good_words()
    w[1] = 7
    check_fault(to_bytes(w), CfgError.VERSION, r"^format version 7 is not supported \(expected 3\)$")


def test_other_fabric():
    w = good_words()
    w[2] ^= 1
    check_fault(to_bytes(w), CfgError.FABRIC,
                rf"^bitstream is for fabric 0x{TINY.hash32 ^ 1:08x}, not for fabric 'tiny' "
                rf"\(0x{TINY.hash32:08x}\)$")
    decode(to_bytes(w))     # without params the hash is not checked


@pytest.mark.parametrize("length", [0, 1, 4])
def test_length_too_small(length):
    w = good_words()
    w[3] = length
    check_fault(to_bytes(w), CfgError.LENGTH,
                rf"^total length of {length} words is less than the 5 of a header and a CRC$")


def test_extra_words():
    raw = encode(good_bitstream(TINY, seed=1))
    check_fault(raw + bytes(8), CfgError.LENGTH,
                r"^2 words follow the declared total length of \d+ words$")


def test_length_too_large():
    w = good_words()
    w[3] += 100
    w[-1] = header_word(RecordKind.SWITCH, 8)    # where the CRC was, a record now starts
    check_fault(to_bytes(w, reseal=False), CfgError.TRUNCATED,
                rf"^bitstream ends after {len(w)} words, before its total length of "
                rf"{len(w) + 100} words$")


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 5, 20, -1])
def test_truncated(cut):
    w = good_words()
    n = cut % len(w)
    where = "inside the 4-word header" if n < 4 else f"before its total length of {len(w)} words"
    check_fault(to_bytes(w[:n], reseal=False), CfgError.TRUNCATED,
                rf"^bitstream ends after {n} words, {where}$")


def test_partial_word():
    raw = encode(good_bitstream(TINY, seed=1))
    check_fault(raw[:-1], CfgError.TRUNCATED,
                rf"^{len(raw) - 1} bytes is not a whole number of 32-bit words$")


def test_bad_crc():
    w = good_words()
    w[-1] ^= 0x80
    check_fault(to_bytes(w, reseal=False), CfgError.CRC,
                rf"^CRC-32 is 0x{w[-1]:08x}, expected 0x{w[-1] ^ 0x80:08x}: "
                rf"the bitstream is corrupted$")


def record_stream(*records_words, params=TINY):
    """A sealed stream whose body is the given raw words."""
    body = [w for rec in records_words for w in rec]
    return to_bytes([MAGIC, VERSION, params.hash32, 5 + len(body), *body, 0])


def unit_words(uid):
    return [header_word(RecordKind.UNIT, uid), record_words(TINY, RecordKind.UNIT, uid)] + \
        [0] * record_words(TINY, RecordKind.UNIT, uid)


def test_reserved_bits():
    raw = record_stream([header_word(RecordKind.UNIT, 0, zero=0x40), 15] + [0] * 15)
    check_fault(raw, CfgError.RECORD, r"^record at word 4: reserved bits are 0x40, not zero$")


def test_unknown_kind():
    raw = record_stream(unit_words(0), [9 << RECORD_HEADER["kind"].offset, 0])
    check_fault(raw, CfgError.RECORD, r"^record at word 21: unknown record kind 9$")
    check_fault(raw, CfgError.RECORD, r"unknown record kind 9", params=None)


@pytest.mark.parametrize("kind,target,match", [
    (RecordKind.UNIT, 4, r"UNIT record for target 4, which is not a unit \(0\.\.3\)"),
    (RecordKind.UNIT, 999, r"UNIT record for target 999, which is not a unit \(0\.\.3\)"),
    (RecordKind.SWITCH, 3, r"SWITCH record for target 3, which is not a switch \(4\.\.12\)"),
    (RecordKind.SWITCH, 13, r"SWITCH record for target 13, which is not a switch \(4\.\.12\)"),
    (RecordKind.PMU_INIT, 0, r"PMU_INIT record for target 0, which is not a PMU \(1, 2\)"),
    (RecordKind.PMU_INIT, 5, r"PMU_INIT record for target 5, which is not a PMU \(1, 2\)"),
])
def test_bad_target(kind, target, match):
    raw = record_stream([header_word(kind, target), 1, 0])
    check_fault(raw, CfgError.RECORD, rf"^record at word 4: {match}$")
    assert decode(raw).records == (Record(kind, target, (0,)),)


@pytest.mark.parametrize("uid,count", [(0, 14), (0, 16), (1, 15), (1, 0)])
def test_bad_unit_count(uid, count):
    raw = record_stream([header_word(RecordKind.UNIT, uid), count] + [0] * count)
    what = "PCU 0" if uid == 0 else "PMU 1"
    want = record_words(TINY, RecordKind.UNIT, uid)
    check_fault(raw, CfgError.SIZE,
                rf"^record at word 4: UNIT record for {what} carries {count} words, "
                rf"expected {want}$")


def test_bad_switch_count():
    raw = record_stream([header_word(RecordKind.SWITCH, 8), 2, 0, 0])
    check_fault(raw, CfgError.SIZE,
                r"^record at word 4: SWITCH record for switch \(1, 1\) carries 2 words, "
                r"expected 1$")


def test_pmu_init_without_address():
    raw = record_stream([header_word(RecordKind.PMU_INIT, 1), 0])
    check_fault(raw, CfgError.SIZE, r"^record at word 4: PMU_INIT record for target 1 has no "
                                    r"address word$")


@pytest.mark.parametrize("addr,n", [(256, 0), (250, 7), (2**32 - 1, 1)])
def test_pmu_init_out_of_range(addr, n):
    raw = record_stream([header_word(RecordKind.PMU_INIT, 1), n + 1, addr] + [0] * n)
    check_fault(raw, CfgError.SIZE, rf"^record at word 4: {n} words from address {addr} run "
                                    rf"past the 256 words of PMU 1$")
    decode(record_stream([header_word(RecordKind.PMU_INIT, 1), 7, 250] + [0] * 6), TINY)


def test_record_runs_past_end():
    w = [header_word(RecordKind.SWITCH, 8), 1, 0]
    raw = to_bytes([MAGIC, VERSION, TINY.hash32, 5 + 2, *w, 0])
    check_fault(raw, CfgError.SIZE, r"^record at word 4: 1 payload words run past the CRC "
                                    r"at word 6$")


def test_record_header_runs_into_crc():
    raw = to_bytes([MAGIC, VERSION, TINY.hash32, 5 + 1, header_word(RecordKind.SWITCH, 8), 0])
    check_fault(raw, CfgError.SIZE, r"^record at word 4: the record header runs into the CRC "
                                    r"at word 5$")


def test_flipped_bits_are_caught():
    raw = encode(good_bitstream(TINY, seed=2))
    rng = random.Random(7)
    for _ in range(300):
        bit = rng.randrange(8 * len(raw))
        bad = bytearray(raw)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(BitstreamError) as info:
            decode(bytes(bad), TINY)
        assert info.value.code not in (None, CfgError.NONE)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes(raw):
    for params in (None, TINY):
        try:
            decode(raw, params)
        except BitstreamError as e:
            assert isinstance(e.code, CfgError)


@settings(max_examples=300)
@given(st.data())
def test_mutated_bitstreams(draw):
    raw = bytearray(encode(good_bitstream(TINY, seed=4)))
    for _ in range(draw.draw(st.integers(1, 4))):
        k = draw.draw(st.integers(0, len(raw) - 1))
        raw[k] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(raw)))
    for params in (None, TINY):
        try:
            decode(bytes(raw[:cut]), params)
        except BitstreamError as e:
            assert isinstance(e.code, CfgError)


def test_decode_wants_bytes():
    with pytest.raises(TypeError, match=r"^data must be bytes, not list$"):
        decode([1, 2, 3])


# -- payload words and validation ---------------------------------------------------------

@pytest.mark.parametrize("layout", [pcu_layout(TINY), pmu_layout(TINY), switch_layout(TINY, (1, 1))])
def test_words_bits_round_trip(layout):
    rng = random.Random(1)
    for _ in range(20):
        bits = rng.getrandbits(layout.size)
        words = words_of(bits, layout)
        assert len(words) == config_words(layout)
        assert bits_of(words, layout) == bits
        assert data.Const(layout, bits_of(words, layout)).as_bits() == bits


def test_words_of_layout_const():
    layout = switch_layout(TINY, (1, 1))
    spec = interconnect(TINY).switches[(1, 1)]
    out = spec.outputs["vector"][0]
    value = {"vector": {out.name: {"en": 1, "sel": len(out.sources) - 1}}}
    bits = layout.const(value).as_bits()
    assert words_of(bits, layout) == (bits,)
    assert data.Const(layout, bits_of((bits,), layout))["vector"][out.name].en == 1


def test_bits_of_ignores_padding():
    layout = switch_layout(TINY, (0, 0))
    assert layout.size < 32
    assert bits_of((0xFFFFFFFF,), layout) == (1 << layout.size) - 1


def test_words_of_rejects_wide_bits():
    layout = switch_layout(TINY, (1, 1))
    with pytest.raises(BitstreamError, match=rf"at most {layout.size} bits, not {1 << layout.size}"):
        words_of(1 << layout.size, layout)
    with pytest.raises(BitstreamError, match=r"not -1$"):
        words_of(-1, layout)


def test_bits_of_wrong_count():
    with pytest.raises(BitstreamError, match=r"^a configuration of this layout takes 15 words, "
                                             r"not 2$") as info:
        bits_of((0, 0), pcu_layout(TINY))
    assert info.value.code == CfgError.SIZE


def test_record_validation():
    with pytest.raises(BitstreamError, match=r"record kind must be one of UNIT, SWITCH, "
                                             r"PMU_INIT, not 9$") as info:
        Record(9, 0, ())
    assert info.value.code == CfgError.RECORD
    with pytest.raises(BitstreamError, match=r"target must be an integer in \[0, 65535\], "
                                             r"not 65536$"):
        Record(RecordKind.UNIT, 65536, ())
    with pytest.raises(BitstreamError, match=r"payload word 1 of the UNIT record for target 2 "
                                             r"must be a 32-bit unsigned integer, not -5$") as info:
        Record(RecordKind.UNIT, 2, (0, -5))
    assert info.value.code is None
    assert Record(2, 5, [1, 2]) == Record(RecordKind.SWITCH, 5, (1, 2))
    with pytest.raises(BitstreamError, match=r"fabric_hash32 must be a 32-bit unsigned integer, "
                                             r"not 4294967296$"):
        Bitstream(1 << 32)
    with pytest.raises(BitstreamError, match=r"records must be Record objects, not 3$"):
        Bitstream(0, (3,))
    with pytest.raises(BitstreamError, match=r"can only encode a Bitstream, not 'x'$"):
        encode("x")


@pytest.mark.parametrize("layout", [pcu_layout(TINY), pmu_layout(TINY),
                                    switch_layout(TINY, (0, 0))])
def test_padding_round_trip(layout):
    rng = random.Random(2)
    width = pad_width(layout)
    assert width == config_words(layout) * 32 - layout.size
    for _ in range(10):
        bits, pad = rng.getrandbits(layout.size), rng.getrandbits(width)
        words = words_of(bits, layout, pad)
        assert words[-1] >> (32 - width) == pad
        assert (bits_of(words, layout), padding_of(words, layout)) == (bits, pad)


def test_words_of_rejects_wide_padding():
    layout = switch_layout(TINY, (0, 0))
    width = pad_width(layout)
    with pytest.raises(BitstreamError, match=rf"^padding must be an integer of at most "
                                             rf"{width} bits, not {1 << width}$"):
        words_of(0, layout, 1 << width)
    with pytest.raises(BitstreamError, match=r"^padding .* not -1$"):
        words_of(0, layout, -1)


def test_decode_keeps_padding():
    bs = with_padding(TINY, good_bitstream(TINY, seed=6), seed=6)
    assert any(padding_of(r.payload, config_targets(TINY)[r.target].layout)
               for r in bs.records if r.kind != RecordKind.PMU_INIT)
    assert decode(encode(bs), TINY) == bs
