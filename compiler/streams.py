"""How tensors travel on vector streams (``lanes`` words per transfer, lane 0 in the low
word), in one of the element orders :data:`ORDERS`:

* ``rows``: row-major; every row of the last dimension starts a new vector and is
  padded with zeros to a multiple of ``lanes`` (a 0-d tensor is one row of one);
* ``lane0``: one element per vector, in lane 0 (other lanes zero), row-major.

The manifest (:mod:`compiler.manifest`) says which order each edge port uses.
"""

import math

import numpy as np

from .errors import ManifestError

__all__ = ["ORDERS", "stream_vectors", "pack", "unpack"]

ORDERS = ("rows", "lane0")


def _rows(shape):
    shape = tuple(shape)
    if not shape:
        return 1, 1
    return math.prod(shape[:-1]), shape[-1]


def _unknown(order):
    return ManifestError(f"unknown element order {order!r} (known: {', '.join(ORDERS)})")


def stream_vectors(shape, order, lanes):
    """Vectors a tensor of ``shape`` occupies on a stream in ``order``."""
    if order == "rows":
        rows, width = _rows(shape)
        return rows * -(-width // lanes)
    if order == "lane0":
        return math.prod(shape)
    raise _unknown(order)


def pack(array, order, lanes):
    """Tensor -> ``(vectors, lanes)`` int32 array in stream order."""
    a = np.asarray(array).astype(np.int32)
    if order == "rows":
        rows, width = _rows(a.shape)
        padded = -(-width // lanes) * lanes
        out = np.zeros((rows, padded), dtype=np.int32)
        out[:, :width] = a.reshape(rows, width)
        return out.reshape(-1, lanes)
    if order == "lane0":
        out = np.zeros((a.size, lanes), dtype=np.int32)
        out[:, 0] = a.reshape(-1)
        return out
    raise _unknown(order)


def unpack(vectors, shape, order, lanes):
    """``(vectors, lanes)`` in stream order -> tensor of ``shape`` (int32)."""
    v = np.asarray(vectors, dtype=np.int32).reshape(-1, lanes)
    want = stream_vectors(shape, order, lanes)
    if len(v) != want:
        raise ManifestError(f"expected {want} vectors for shape {tuple(shape)} in order "
                            f"{order!r}, got {len(v)}")
    if order == "rows":
        rows, width = _rows(shape)
        return v.reshape(rows, -1)[:, :width].reshape(shape)
    return v[:, 0].reshape(shape)
