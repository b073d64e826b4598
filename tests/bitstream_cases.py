"""Bitstreams for tests of the encoder, the decoder and the config loader."""

import random

from compiler.bitstream import Bitstream, Record, words_of
from compiler.payload import bits_of, pad_width
from hw.format import RecordKind
from hw.targets import config_targets


def good_bitstream(p, seed=0):
    """A bitstream that fabric ``p`` accepts: every unit and switch with random
    configuration bits, and for every PMU an init record (from empty to 9 words, at
    either end of the PMU or in between), all in random order."""
    rng = random.Random(seed)
    targets = config_targets(p).values()
    records = [Record(t.record, t.id, words_of(rng.getrandbits(t.layout.size), t.layout))
               for t in targets]
    for t in targets:
        if t.takes_init:
            n = rng.randrange(0, 10)
            last = p.pmu_words - max(n, 1)      # the last address that fits n words
            addr = rng.choice([0, last, rng.randrange(last + 1)])
            records.append(Record(RecordKind.PMU_INIT, t.id,
                                  (addr, *(rng.getrandbits(32) for _ in range(n)))))
    rng.shuffle(records)
    return Bitstream(p.hash32, tuple(records))


def with_padding(p, bs, seed=0):
    """``bs`` (for fabric ``p``) with random padding bits (the bits of a configuration's
    last word past its layout, which the loader accepts and the configuration
    registers drop) in every ``UNIT`` and ``SWITCH`` record."""
    rng = random.Random(seed)
    targets = config_targets(p)
    records = []
    for r in bs.records:
        if r.kind != RecordKind.PMU_INIT:
            layout = targets[r.target].layout
            pad = rng.getrandbits(pad_width(layout))
            r = Record(r.kind, r.target, words_of(bits_of(r.payload, layout), layout, pad))
        records.append(r)
    return Bitstream(bs.fabric_hash32, tuple(records))
