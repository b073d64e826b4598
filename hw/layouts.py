"""Configuration layouts of every unit, derived from :class:`FabricParams`.

These ``amaranth.lib.data`` layouts are the only place configuration bits are laid out.
The hardware holds ``Signal(layout)``; the compiler packs with
``layout.const({...}).as_bits()``; the disassembler unpacks with
``data.Const(layout, bits)``. See ``docs/hardware.md`` for the meaning of each field.
"""

from functools import lru_cache

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum

from .ops import Op, ReduceOp

__all__ = ["Src", "AccMode", "OutSrc", "Access", "counter_layout", "pcu_layout",
           "pmu_layout", "agen_layout", "config_words", "bits_for", "WORD"]

WORD = 32


def bits_for(n):
    """Bits needed to hold values ``0 .. n`` (at least one)."""
    return max(1, int(n).bit_length())


class Src(enum.Enum, shape=3):
    """Where a PCU stage operand comes from."""
    REG = 0   # pipeline register ``index`` of the previous stage (zero in stage 0)
    VIN = 1   # vector input FIFO ``index`` (head), lane i sees word i
    SIN = 2   # scalar input FIFO ``index`` (head), broadcast to every lane
    CTR = 3   # counter ``index``; lane i sees ctr + i * stride on the vectorised counter 0
    IMM = 4   # the stage's immediate
    ACC = 5   # the per-lane accumulator (as of the last update before this iteration issued)
    ZERO = 6


class AccMode(enum.Enum, shape=2):
    """What the accumulator stage after the pipeline does with register ``acc.src``."""
    NONE = 0  # nothing
    LANE = 1  # per lane: acc[i] = op(acc[i], r[i])
    TREE = 2  # across lanes: acc[0] = op(acc[0], tree(r)) (masked lanes give the identity)
    SCAN = 3  # prefix across lanes: out[i] = op(acc, r[0..i]); acc = out[lanes-1]


class OutSrc(enum.Enum, shape=1):
    REG = 0   # pipeline register ``reg`` of the last stage
    ACC = 1   # the accumulator (LANE/SCAN: the vector; TREE: [acc, 0, ...])


class Access(enum.Enum, shape=2):
    """PMU address-generator access mode."""
    OFF = 0
    VECTOR = 1  # ``lanes`` consecutive words from the address (any alignment)
    SCALAR = 2  # one word


@lru_cache(maxsize=None)
def counter_layout():
    """One counter: runs ``start, start+step, ...`` while ``< end`` (``step > 0``).

    On a vectorised counter the step is ``stride * lanes`` and lane ``i`` sees
    ``value + i * stride``; lanes at or past ``end`` are masked.
    """
    return data.StructLayout({
        "start":  signed(WORD),
        "end":    signed(WORD),
        "stride": signed(WORD),
    })


def _chain(p):
    return {
        "counters": data.ArrayLayout(counter_layout(), p.counters),
        "vec":      1,   # counter 0 is vectorised over the lanes
    }


@lru_cache(maxsize=None)
def _src_layout(p):
    return data.StructLayout({
        "kind":  Src,
        "index": bits_for(max(p.regs, p.pcu_vec_in, p.pcu_scalar_in, p.counters) - 1),
    })


@lru_cache(maxsize=None)
def pcu_layout(p):
    """Configuration of one PCU."""
    level = bits_for(p.counters)
    reg = bits_for(p.regs - 1)
    port = data.StructLayout({"enable": 1, "level": level})
    out = data.StructLayout({"enable": 1, "src": OutSrc, "reg": reg, "level": level})
    stage = data.StructLayout({
        "op":   Op,
        "src":  data.ArrayLayout(_src_layout(p), 3),
        "imm":  signed(WORD),
        "dest": reg,
    })
    return data.StructLayout({
        "enable": 1,
        **_chain(p),
        "vin":    data.ArrayLayout(port, p.pcu_vec_in),     # level: pop level
        "sin":    data.ArrayLayout(port, p.pcu_scalar_in),  # level: pop level
        "stages": data.ArrayLayout(stage, p.stages),
        "acc":    data.StructLayout({
            "mode":  AccMode,
            "op":    ReduceOp,
            "src":   reg,
            "reset": level,   # fresh when counters 0..reset-1 are all at their first value
        }),
        "vout":   out,        # level: push level
        "sout":   out,        # level: push level; lane 0 of the selected vector
    })


@lru_cache(maxsize=None)
def agen_layout(p):
    """A PMU address generator: ``address = base + sum(stride[k] * ctr[k])``."""
    return data.StructLayout({
        "mode":    Access,
        **_chain(p),
        "base":    unsigned(p.addr_bits),
        "strides": data.ArrayLayout(signed(p.addr_bits + 1), p.counters),
        "swap":    bits_for(p.counters),  # buffer done when counters 0..swap-1 wrap
    })


@lru_cache(maxsize=None)
def pmu_layout(p):
    """Configuration of one PMU."""
    return data.StructLayout({
        "enable":    1,
        "double":    1,   # two buffers of pmu_words/2 each (else one of pmu_words)
        "init_full": 1,   # buffer 0 starts full (constants from init data; no writer)
        "wr":        agen_layout(p),
        "rd":        agen_layout(p),
    })


def config_words(layout):
    """32-bit words a record of this layout carries."""
    return (layout.size + WORD - 1) // WORD
