"""The JSON manifest beside a bitstream, and how tensors travel on vector streams.

Element orders on a vector stream (``lanes`` words per transfer, lane 0 in the low
word):

* ``rows``: row-major; every row of the last dimension starts a new vector and is
  padded with zeros to a multiple of ``lanes`` (a 0-d tensor is one row of one);
* ``lane0``: one element per vector, in lane 0 (other lanes zero), row-major.
"""

import json
import math
from dataclasses import dataclass, field, asdict

import numpy as np

from hw.errors import TerrazzoError

__all__ = ["PortSpec", "Manifest", "ManifestError", "pack", "unpack", "stream_vectors",
           "MANIFEST_FORMAT", "MANIFEST_VERSION"]

MANIFEST_FORMAT = "terrazzo-manifest"
MANIFEST_VERSION = 1
ORDERS = ("rows", "lane0")


class ManifestError(TerrazzoError, ValueError):
    """A manifest or a tensor does not match what it should be."""


def _rows(shape):
    shape = tuple(shape)
    if not shape:
        return 1, 1
    return math.prod(shape[:-1]), shape[-1]


def stream_vectors(shape, order, lanes):
    """Vectors a tensor of ``shape`` occupies on a stream in ``order``."""
    if order == "rows":
        rows, width = _rows(shape)
        return rows * -(-width // lanes)
    if order == "lane0":
        return math.prod(shape)
    raise ManifestError(f"unknown element order {order!r} (known: {', '.join(ORDERS)})")


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
    raise ManifestError(f"unknown element order {order!r} (known: {', '.join(ORDERS)})")


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


@dataclass(frozen=True)
class PortSpec:
    """A tensor on an edge port."""
    name: str
    port: int
    shape: tuple
    dtype: str
    order: str
    words: int      # elements of the tensor
    vectors: int    # transfers on the port

    @classmethod
    def make(cls, name, port, shape, order, lanes, dtype="i32"):
        shape = tuple(int(s) for s in shape)
        return cls(name, port, shape, dtype, order, math.prod(shape),
                   stream_vectors(shape, order, lanes))


@dataclass(frozen=True)
class Manifest:
    graph: str
    fabric_name: str
    fabric_hash: str
    fabric_hash32: int
    lanes: int
    compiler_version: str
    inputs: tuple       # of PortSpec
    outputs: tuple      # of PortSpec
    ideal_cycles: int
    report: dict = field(default_factory=dict, compare=False)
    source: dict = field(default_factory=dict, compare=False)  # the graph, JSON format

    def to_json(self):
        d = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "graph": self.graph,
            "fabric": {"name": self.fabric_name, "hash": self.fabric_hash,
                       "hash32": self.fabric_hash32, "lanes": self.lanes},
            "compiler_version": self.compiler_version,
            "inputs": [_port_json(s) for s in self.inputs],
            "outputs": [_port_json(s) for s in self.outputs],
            "ideal_cycles": self.ideal_cycles,
            "report": self.report,
            "source": self.source,
        }
        return json.dumps(d, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text, *, source="manifest"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"{source}: invalid JSON at line {e.lineno} column {e.colno}: "
                                f"{e.msg}") from None
        try:
            if d.get("format") != MANIFEST_FORMAT:
                raise ManifestError(f"{source}: not a Terrazzo manifest "
                                    f"(format {d.get('format')!r})")
            if d.get("version") != MANIFEST_VERSION:
                raise ManifestError(f"{source}: manifest version {d.get('version')!r} is not "
                                    f"supported (expected {MANIFEST_VERSION})")
            fab = d["fabric"]
            return cls(
                graph=d["graph"], fabric_name=fab["name"], fabric_hash=fab["hash"],
                fabric_hash32=fab["hash32"], lanes=fab["lanes"],
                compiler_version=d["compiler_version"],
                inputs=tuple(_port_from(s) for s in d["inputs"]),
                outputs=tuple(_port_from(s) for s in d["outputs"]),
                ideal_cycles=d["ideal_cycles"], report=d.get("report", {}),
                source=d.get("source", {}))
        except (KeyError, TypeError, AttributeError) as e:
            raise ManifestError(f"{source}: malformed manifest ({type(e).__name__}: {e})") \
                from None

    def check_inputs(self, tensors):
        """Raise ManifestError naming the first missing or mis-shaped input tensor."""
        for spec in self.inputs:
            if spec.name not in tensors:
                raise ManifestError(f"input tensor {spec.name!r} is missing "
                                    f"(expected shape {list(spec.shape)}, {spec.dtype})")
            got = np.asarray(tensors[spec.name])
            if tuple(got.shape) != spec.shape:
                raise ManifestError(f"input tensor {spec.name!r} has shape {list(got.shape)}; "
                                    f"expected {list(spec.shape)}")
            if not np.issubdtype(got.dtype, np.integer):
                raise ManifestError(f"input tensor {spec.name!r} has dtype {got.dtype}; "
                                    f"expected an integer array ({spec.dtype})")
        extra = sorted(set(tensors) - {s.name for s in self.inputs})
        if extra:
            raise ManifestError(f"unexpected input tensor {extra[0]!r} (inputs: "
                                f"{', '.join(s.name for s in self.inputs)})")


def _port_json(s):
    d = asdict(s)
    d["shape"] = list(s.shape)
    return d


def _port_from(d):
    return PortSpec(d["name"], int(d["port"]), tuple(d["shape"]), d["dtype"], d["order"],
                    int(d["words"]), int(d["vectors"]))
