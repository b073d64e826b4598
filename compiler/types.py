"""Tensor types of the graph IR and the checks on names, dtypes, shapes and integers.

Every IR module builds on these; they raise :class:`~compiler.errors.CompileError`
naming the node (``node``) when given one.
"""

import re
from dataclasses import dataclass
from math import prod

import numpy as np

from .errors import CompileError

__all__ = [
    "DTYPES", "SUPPORTED_DTYPES", "INT32_MIN", "INT32_MAX", "TensorType",
    "check_name", "check_dtype", "check_int32", "check_shape", "check_axis", "is_int",
    "shape_text", "contiguous_strides",
]

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

#: Every dtype name the IR knows about.
DTYPES = ("i32", "f32", "bf16")
#: The dtypes the compiler accepts today.
SUPPORTED_DTYPES = ("i32",)

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
