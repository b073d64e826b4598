"""The DRAM unit's configuration and port layouts, and the reference of what it
issues: :func:`run_addresses` (where each run starts) and :func:`bursts` (how a run is
cut into AXI4 bursts). The hardware is in :mod:`hw.dram`, :mod:`hw.dram_parts` and
:mod:`hw.dram_engines`; ``docs/hardware.md``, "DRAM units", has the contract."""

import itertools
from functools import lru_cache

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum
from amaranth.lib.wiring import In, Out

from .layouts import WORD, bits_for

__all__ = ["DramMode", "engine_layout", "dram_layout", "burst_layout", "beat_layout",
           "axi4_read_ports", "axi4_write_ports", "axi4_id_ports", "axi4_ports",
           "run_count", "run_addresses", "bursts", "WORD_ADDR_BITS", "PAGE_BYTES",
           "BURST_INCR", "ceil_log2"]

WORD_ADDR_BITS = 30
#: No AXI4 burst may cross a boundary of this many bytes.
PAGE_BYTES = 4096
#: ``arburst`` / ``awburst`` value of an incrementing burst.
BURST_INCR = 0b01


def ceil_log2(n):
    return (n - 1).bit_length()


class DramMode(enum.Enum, shape=2):
    """What an engine of a DRAM unit moves."""
    OFF = 0
    VECTOR = 1  # vectors of ``lanes`` consecutive words of a run, the last one zero-padded
    SCALAR = 2  # one word at a time


@lru_cache(maxsize=None)
def engine_layout(p):
    """Configuration of one engine (load or store) of a DRAM unit.

    ``mode`` (:class:`DramMode`); ``indexed``: run starts come from the index stream
    instead of the counter chain; ``base``: word address; ``run``: words per run (a run
    of 0 words moves nothing); ``extents``: counter ``k`` counts ``0 .. extents[k]-1``
    (counter 0 fastest; 1 leaves a level unused, 0 makes the pattern empty);
    ``strides``: words per step of each counter.
    """
    return data.StructLayout({
        "mode":    DramMode,
        "indexed": 1,
        "base":    unsigned(WORD_ADDR_BITS),
        "run":     unsigned(WORD_ADDR_BITS),
        "extents": data.ArrayLayout(unsigned(WORD), p.counters),
        "strides": data.ArrayLayout(signed(WORD), p.counters),
    })


@lru_cache(maxsize=None)
def dram_layout(p):
    """Configuration of one DRAM unit: a load and a store engine."""
    return data.StructLayout({"load": engine_layout(p), "store": engine_layout(p)})


@lru_cache(maxsize=None)
def burst_layout(p):
    """One burst: byte address and ``len`` (beats - 1) as AXI4 has them; ``lo`` the
    first word of the run in the first beat, ``hi`` its last word in the last beat;
    ``last`` the burst ends its run."""
    index = bits_for(p.dram_beat - 1)
    return data.StructLayout({"addr": unsigned(32), "len": unsigned(8), "lo": index,
                              "hi": index, "last": 1})


@lru_cache(maxsize=None)
def beat_layout(p):
    """One read beat on its way from R to the unpacker: words ``lo .. hi`` are the
    run's; ``end`` the beat ends its run."""
    index = bits_for(p.dram_beat - 1)
    return data.StructLayout({"data": unsigned(WORD * p.dram_beat), "lo": index,
                              "hi": index, "end": 1})


def axi4_read_ports(p):
    """The AXI4 read channels of a DRAM unit, ``{name: member}`` (manager side)."""
    return {
        "araddr": Out(32), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2),
        "arvalid": Out(1), "arready": In(1),
        "rdata": In(WORD * p.dram_beat), "rresp": In(2), "rlast": In(1), "rvalid": In(1),
        "rready": Out(1),
    }


def axi4_id_ports():
    """The ID signals of a DRAM unit's AXI4 port: one-bit ``arid`` / ``awid`` that are
    always 0 (the unit uses a single ID, so reads return in order) and ``rid`` / ``bid``,
    which it ignores; they are there so that verification IP that expects them attaches
    by prefix."""
    return {"arid": Out(1), "awid": Out(1), "rid": In(1), "bid": In(1)}


def axi4_ports(p):
    """Every signal of a DRAM unit's AXI4 manager port, ``{name: member}``."""
    return {**axi4_read_ports(p), **axi4_write_ports(p), **axi4_id_ports()}


def axi4_write_ports(p):
    """The AXI4 write channels of a DRAM unit, ``{name: member}`` (manager side)."""
    return {
        "awaddr": Out(32), "awlen": Out(8), "awsize": Out(3), "awburst": Out(2),
        "awvalid": Out(1), "awready": In(1),
        "wdata": Out(WORD * p.dram_beat), "wstrb": Out(4 * p.dram_beat), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        "bresp": In(2), "bvalid": In(1), "bready": Out(1),
    }


# -- reference -------------------------------------------------------------------------

def run_count(cfg):
    """Runs of an engine configuration (a dict as ``engine_layout(p).const`` takes it):
    the product of its extents."""
    n = 1
    for extent in cfg["extents"]:
        n *= extent
    return n


def run_addresses(cfg, p, indices=None):
    """Word address of each run's start, in the order the engine moves them.

    Parameters
    ----------
    cfg : dict
        An engine configuration as ``engine_layout(p).const`` takes it.
    p : FabricParams
    indices : sequence of int, optional
        In indexed mode, the words of the index stream, one per run.

    Raises
    ------
    ValueError
        If ``cfg`` has not ``p.counters`` extents and strides, or in indexed mode
        ``indices`` is not one index per run.
    """
    extents, strides = list(cfg["extents"]), list(cfg["strides"])
    if len(extents) != p.counters or len(strides) != p.counters:
        raise ValueError(f"an engine has {p.counters} extents and strides, not "
                         f"{len(extents)} and {len(strides)}")
    mask = (1 << WORD_ADDR_BITS) - 1
    if cfg.get("indexed"):
        if indices is None or len(indices) != run_count(cfg):
            raise ValueError(f"indexed mode takes one index per run ({run_count(cfg)}), "
                             f"not {indices!r}")
        return [(cfg["base"] + i) & mask for i in indices]
    result = []
    for outer_first in itertools.product(*(range(e) for e in reversed(extents))):
        values = outer_first[::-1]
        result.append((cfg["base"] + sum(v * s for v, s in zip(values, strides))) & mask)
    return result


def bursts(start_word, run_words, p):
    """``[(byte address, beats)]`` of the bursts the unit issues for one run.

    The first burst starts at the beat holding ``start_word``; each burst is as long as
    it can be without passing ``dram_burst`` beats, a 4 KiB boundary or the run's end.
    """
    beat = p.dram_beat
    page = PAGE_BYTES // (4 * beat)
    word, left = start_word % (1 << WORD_ADDR_BITS), run_words
    result = []
    while left > 0:
        lo = word % beat
        cap = min(p.dram_burst, page - (word // beat) % page)
        span = lo + left
        beats = -(-span // beat) if span <= cap * beat else cap
        left = span - beats * beat if span > cap * beat else 0
        result.append((((word - lo) * 4) % (1 << 32), beats))
        word = (word - lo + beats * beat) % (1 << WORD_ADDR_BITS)
    return result
