"""Configuration layouts of every unit, derived from :class:`FabricParams`.

These ``amaranth.lib.data`` layouts are the only place configuration bits are laid out.
The hardware holds ``Signal(layout)``; the compiler packs with
``layout.const({...}).as_bits()``; the disassembler unpacks with
``data.Const(layout, bits)``. See ``docs/hardware.md`` for the meaning of each field.
"""

from functools import lru_cache

from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data, enum

from .ops import Op, ReduceOp
from .params import UnitKind

__all__ = ["Src", "AccMode", "OutSrc", "Access", "counter_layout", "pcu_layout",
           "pmu_layout", "unit_layout", "agen_layout", "config_words", "plain_layout",
           "bits_for", "WORD"]

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


def unit_layout(p, kind):
    """Configuration of a unit of ``kind`` (a :class:`~hw.params.UnitKind`)."""
    return {UnitKind.PCU: pcu_layout, UnitKind.PMU: pmu_layout}[UnitKind(kind)](p)


@lru_cache(maxsize=None)
def plain_layout(layout):
    """``layout`` with every enum field, at any depth, replaced by the enum's shape.

    ``data.Const(layout, bits)`` raises on a field value that no enum member names;
    ``data.Const(plain_layout(layout), bits)`` reads it as a number (signed fields as
    signed numbers), so a decoder can report or print it.
    """
    if isinstance(layout, data.StructLayout):
        return data.StructLayout({name: _plain(field.shape) for name, field in layout})
    if isinstance(layout, data.ArrayLayout):
        return data.ArrayLayout(_plain(layout.elem_shape), layout.length)
    raise TypeError(f"layout must be a StructLayout or an ArrayLayout, not {layout!r}")


def _plain(shape):
    if isinstance(shape, (data.StructLayout, data.ArrayLayout)):
        return plain_layout(shape)
    if isinstance(shape, type) and issubclass(shape, enum.Enum):
        return Shape.cast(shape)
    return shape


def config_words(layout):
    """32-bit words a record of this layout carries."""
    return (layout.size + WORD - 1) // WORD
