"""Tensor types of the graph IR and the checks on names, dtypes, shapes and integers.

Every IR module builds on these; they raise :class:`~compiler.errors.CompileError`
naming the node (``node``) when given one.
"""

import re
from dataclasses import dataclass
from math import prod

import numpy as np

from hw.ops import wrap32

from .errors import CompileError

__all__ = [
    "DTYPES", "SUPPORTED_DTYPES", "INT32_MIN", "INT32_MAX", "TensorType",
    "check_name", "check_dtype", "check_int32", "check_shape", "check_axis", "is_int",
    "shape_text", "contiguous_strides", "FLOAT_DTYPES", "CANONICAL_NAN", "float_bits",
    "bits_float", "round_bf16", "check_float_bits", "float_text", "tensor_dtype_error",
    "tensor_words", "tensor_values",
]

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

#: Every dtype name the IR knows about.
DTYPES = ("i32", "f32", "bf16")
#: The dtypes the compiler accepts.
SUPPORTED_DTYPES = ("i32", "f32", "bf16")
#: The floating-point dtypes: their words are IEEE 754 binary32 bit patterns; a bf16 is
#: an f32 whose low 16 bits are zero.
FLOAT_DTYPES = ("f32", "bf16")
#: The one NaN that floating-point ops produce (a quiet NaN), as a signed int32.
CANONICAL_NAN = 0x7FC00000

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


def check_name(name, what="node name"):
    """Raise :class:`CompileError` unless ``name`` is a valid node or output name."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CompileError(f"{what} must be a letter or '_' followed by letters, digits, "
                           f"'_', '.' or '-', not {name!r}")


def check_dtype(dtype, node=None):
    """Raise :class:`CompileError` unless ``dtype`` is a supported dtype name."""
    if dtype in SUPPORTED_DTYPES:
        return
    if dtype in DTYPES:
        raise CompileError(f"dtype {dtype!r} is not supported yet", node)
    raise CompileError(f"unknown dtype {dtype!r}; known dtypes are "
                       f"{', '.join(map(repr, DTYPES))}", node)


def round_bf16(bits):
    """The int32 bit patterns ``bits`` (an int or array) rounded to bf16, to nearest even
    on the low 16 bits (low 16 bits of the result zero; NaN gives the canonical NaN,
    overflow gives infinity), as the ``FTOBF`` op does."""
    u = np.asarray(bits, dtype=np.int64) & 0xFFFFFFFF
    nan = ((u & 0x7FFFFFFF) > 0x7F800000)
    r = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    out = wrap32(np.where(nan, CANONICAL_NAN, r))
    return int(out) if out.ndim == 0 else out


def float_bits(value, dtype="f32"):
    """The signed int32 bit pattern of the number ``value`` in ``dtype`` (``"f32"`` or
    ``"bf16"``): rounded to f32 to nearest even (a float64 that is too large becomes
    infinity), then to bf16 for ``"bf16"``; any NaN gives the canonical NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.float32(value)
    bits = CANONICAL_NAN if np.isnan(f) else int(f.view(np.int32))
    return round_bf16(bits) if dtype == "bf16" else bits


def bits_float(bits):
    """The float (Python ``float``) that the int32 bit pattern ``bits`` encodes."""
    return float(wrap32(bits).view(np.float32))


def check_float_bits(bits, dtype, what, node):
    """Raise :class:`CompileError` unless ``bits`` is an int32 bit pattern of ``dtype``
    (for bf16: low 16 bits zero)."""
    check_int32(bits, what, node)
    if dtype == "bf16" and bits & 0xFFFF:
        raise CompileError(f"{what} 0x{bits & 0xFFFFFFFF:08x} is no bf16 (its low 16 bits "
                           f"are not zero)", node)


def float_text(bits):
    """The text of a float bit pattern: the shortest decimal that reads back to the same
    f32 (``1.5``, ``-0.0``, ``1e-45``), ``inf``, ``-inf``, ``nan`` for the canonical
    NaN, ``0x7fc00001`` (hex bits) for any other NaN."""
    bits = int(wrap32(bits))
    f = np.int32(bits).view(np.float32)
    if np.isnan(f):
        return "nan" if bits == CANONICAL_NAN else f"0x{bits & 0xFFFFFFFF:08x}"
    if np.isinf(f):
        return "inf" if f > 0 else "-inf"
    text = str(f)
    if float_bits(float(text)) != bits:    # decimal -> float64 -> f32 rounded twice
        text = repr(float(f))              # exact: every f32 is a float64
    return text


def is_int(x):
    """Whether ``x`` is a Python or NumPy integer (booleans are not)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def check_int32(value, what, node):
    """Raise :class:`CompileError` unless ``value`` is an integer that fits in i32."""
    if not is_int(value):
        raise CompileError(f"{what} must be an integer, not {value!r}", node)
    if not INT32_MIN <= value <= INT32_MAX:
        raise CompileError(f"{what} {value} does not fit in i32", node)


def check_shape(shape, node, what="shape"):
    """Raise :class:`CompileError` unless ``shape`` is a tuple of positive integers."""
    if not isinstance(shape, tuple) or not all(is_int(d) for d in shape):
        raise CompileError(f"{what} must be a tuple of integers, not {shape!r}", node)
    if any(d < 1 for d in shape):
        raise CompileError(f"{what} {shape_text(shape)} has a dimension smaller than 1",
                           node)


def check_axis(axis, ndim, node):
    """Raise :class:`CompileError` unless ``axis`` is in ``0 .. ndim - 1``."""
    if not is_int(axis) or not 0 <= axis < ndim:
        raise CompileError(f"axis {axis!r} is out of range for a tensor of rank {ndim}",
                           node)


def shape_text(shape):
    """A shape as the IR text prints it: ``[4,8]``, ``[]`` for a scalar."""
    return "[" + ",".join(str(d) for d in shape) + "]"


def contiguous_strides(shape):
    """Row-major strides (in elements) of a tensor of ``shape``."""
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


@dataclass(frozen=True)
class TensorType:
    """The type of a tensor: ``shape`` (tuple of positive ints) and ``dtype``."""
    shape: tuple
    dtype: str = "i32"

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return prod(self.shape)

    def __str__(self):
        return f"{self.dtype}{shape_text(self.shape)}"


def tensor_dtype_error(array_dtype, dtype):
    """Why an array of NumPy dtype ``array_dtype`` cannot be a tensor of ``dtype``
    (a phrase such as ``"expected integers (i32), got float64"``), or None when it can.

    An i32 tensor takes signed or unsigned integers of any width (not bool, timedelta64
    or datetime64); an f32 or bf16 tensor takes float16, float32 or float64 arrays."""
    kind = np.dtype(array_dtype).kind
    if dtype in FLOAT_DTYPES:
        return None if kind == "f" else f"expected floats ({dtype}), got {np.dtype(array_dtype)}"
    return None if kind in "iu" else f"expected integers (i32), got {np.dtype(array_dtype)}"


def tensor_words(array, dtype):
    """The int32 words that hold ``array`` as a tensor of ``dtype``: the integers for
    i32 (their range is the caller's to check); for f32 the values rounded to float32
    to nearest even (too large: infinity) as bit patterns, every NaN the canonical NaN;
    for bf16 those rounded again to bf16 to nearest even."""
    array = np.asarray(array)
    if dtype not in FLOAT_DTYPES:
        return array.astype(np.int32)
    with np.errstate(over="ignore", invalid="ignore"):
        f = array.astype(np.float32)
    bits = np.where(np.isnan(f), np.int32(CANONICAL_NAN), f.view(np.int32)).astype(np.int32)
    if dtype == "bf16":
        bits = np.asarray(round_bf16(bits), dtype=np.int32).reshape(f.shape)
    return bits


def tensor_values(words, dtype):
    """The array a tensor of ``dtype`` held in int32 ``words`` gives its user: int32 for
    i32, float32 (the same bits) for f32 and bf16."""
    words = np.asarray(words, dtype=np.int32)
    return words.view(np.float32) if dtype in FLOAT_DTYPES else words
