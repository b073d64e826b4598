"""Bitstreams for tests of the encoder, the decoder and the config loader."""

import random

from compiler.bitstream import Bitstream, Record, words_of
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
