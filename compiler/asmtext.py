"""The text of a bitstream: what ``disasm`` prints and ``asm`` reads back.

::

    bitstream fabric=NAME hash=0xHHHHHHHH records=N
    record unit ID # pcu                one line per UNIT or SWITCH record, then one
    record switch ID # switch R,C       line per leaf field of its layout, in bit order
      PATH = VALUE
      pad = 0xH                         only when padding bits are set
    record pmu_init ID addr=A words=N   one line per PMU_INIT record, then its words,
      data 0xHHHHHHHH ...               eight to a line

Each function here spells one kind of line. :func:`compiler.disasm.disassemble` prints
with them, and :func:`compiler.asm.assemble` accepts a line only when they spell what it
read the same way, so a bitstream has exactly one text and a text one bitstream.
"""

from dataclasses import dataclass
from functools import lru_cache

from amaranth.hdl import Shape
from amaranth.lib import data
from amaranth.lib import enum as aenum

from hw import params
from hw.params import ParamsError

from .errors import CompileError

__all__ = ["Field", "fields", "flat_layout", "leaf_fields", "format_value", "find_fabric",
           "header_line", "config_line", "init_line", "field_line", "hex8", "pad_text",
           "data_line", "PAD", "DATA", "DATA_PER_LINE"]

PAD = "pad"                 # the field name of padding bits (no layout has such a field)
DATA = "  data "            # what starts a line of PMU_INIT words
DATA_PER_LINE = 8


@dataclass(frozen=True)
class Field:
    """A leaf field of a configuration layout.

    Members
    -------
    path : str
        Its name in the text (``stages[0].src[1].kind``).
    offset : int
        Its first bit.
    shape : the shape-castable of the field (an enum class for enum fields)
    """
    path: str
    offset: int
    shape: object


@lru_cache(maxsize=None)
def fields(layout):
    """Every leaf :class:`Field` of ``layout``, in bit order, as a tuple."""
    return tuple(_walk(layout))


@lru_cache(maxsize=None)
def flat_layout(layout):
    """The bits of ``layout`` with every leaf field at the top, keyed by its path, and
    enum fields read as plain numbers (as :func:`hw.layouts.plain_layout` reads them):
    ``data.Const(flat_layout(layout), bits)[path]`` is one field, and
    ``flat_layout(layout).const({path: value, ...})`` packs them all, without the walk
    down the nesting that each access to a nested layout costs."""
    return data.FlexibleLayout(layout.size, {f.path: data.Field(Shape.cast(f.shape), f.offset)
                                             for f in fields(layout)})


def leaf_fields(layout, prefix=""):
    """``[(path, offset, shape)]`` for every leaf field of a layout, in bit order."""
    return [(f.path, f.offset, f.shape) for f in _walk(layout, prefix)]


def _walk(layout, path="", offset=0):
    if isinstance(layout, data.StructLayout):
        items = [(f"{path}.{name}" if path else name, field.offset, field.shape)
                 for name, field in layout]
    elif isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        items = [(f"{path}[{i}]", i * width, layout.elem_shape) for i in range(layout.length)]
    else:
        return [Field(path, offset, layout)]
    return [leaf for sub, off, shape in items for leaf in _walk(shape, sub, offset + off)]


def format_value(value, shape):
    """Text of field ``value`` (as read through :func:`hw.layouts.plain_layout`): an enum
    member's name, else the number in decimal."""
    if isinstance(shape, type) and issubclass(shape, aenum.Enum):
        try:
            return shape(value).name
        except ValueError:
            pass
    return str(value)


def find_fabric(hash32, fabric=None):
    """:func:`hw.params.find_fabric`; a hash that no preset has is a
    :class:`CompileError` here (``fabric`` that cannot be loaded stays a
    :class:`~hw.params.ParamsError`)."""
    try:
        return params.find_fabric(hash32, fabric)
    except ParamsError as e:
        if fabric is not None:
            raise
        raise CompileError(str(e)) from None


def hex8(word):
    """A 32-bit word as the text writes it: ``0x`` and eight lower-case hex digits."""
    return f"0x{word:08x}"


def header_line(name, hash32, records):
    return f"bitstream fabric={name} hash={hex8(hash32)} records={records}"


def config_line(target):
    """The first line of the record that configures ``target`` (a
    :class:`~hw.targets.ConfigTarget`)."""
    what = target.kind if target.unit is not None else f"switch {target.pos[0]},{target.pos[1]}"
    return f"record {target.record.name.lower()} {target.id} # {what}"


def init_line(target, addr, words):
    """The first line of a PMU_INIT record of ``words`` words from ``addr``."""
    return f"record pmu_init {target} addr={addr} words={words}"


def field_line(path, text):
    return f"  {path} = {text}"


def pad_text(pad):
    """Padding bits as the text writes them: ``0x`` and hex digits, no leading zeros."""
    return f"0x{pad:x}"


def data_line(words):
    return DATA + " ".join(hex8(w) for w in words)
