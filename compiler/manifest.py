"""The JSON manifest beside a bitstream: which tensor travels on which edge port, for
which fabric, from which graph, and the SHA-256 of the bitstream it belongs to.

:meth:`Manifest.from_json` reads one and checks every field before anything uses it
(:mod:`compiler.manifest_check`); :meth:`Manifest.check_bitstream` and
:meth:`Manifest.check_fabric` check what the document alone cannot tell. How tensors
travel on the streams is :mod:`compiler.streams` (its names are importable from here).
"""

import hashlib
import json
import math
from dataclasses import dataclass, field, asdict

import numpy as np

from .errors import ManifestError
from .manifest_check import MANIFEST_FORMAT, MANIFEST_VERSION, check_manifest, parse_manifest
from .streams import ORDERS, pack, stream_vectors, unpack
from .types import FLOAT_DTYPES, tensor_dtype_error

__all__ = ["PortSpec", "DramSpec", "SectionSpec", "Manifest", "ManifestError", "pack", "unpack", "stream_vectors",
           "MANIFEST_FORMAT", "MANIFEST_VERSION", "ORDERS"]


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
class DramSpec:
    """A tensor in DRAM (one memory that every DRAM unit reaches) from word ``address``
    (row-major, one 32-bit word per element, as on the edge streams): a graph input
    the host writes there, with ``const`` a constant of the graph (whose values the
    manifest's source holds), with ``temp`` a tensor that one section of the program
    stores and later ones read (the host writes nothing there)."""
    name: str
    address: int
    shape: tuple
    dtype: str
    words: int
    const: bool = False
    temp: bool = False

    @classmethod
    def make(cls, name, address, shape, dtype="i32", const=False, temp=False):
        shape = tuple(int(s) for s in shape)
        return cls(name, address, shape, dtype, math.prod(shape), const, temp)

    @property
    def host_input(self):
        """Whether the host provides it (a graph input)."""
        return not (self.const or self.temp)


@dataclass(frozen=True)
class SectionSpec:
    """One section of a program of several: its edge ports and ideal cycles."""
    inputs: tuple       # of PortSpec
    outputs: tuple      # of PortSpec
    ideal_cycles: int


@dataclass(frozen=True)
class Manifest:
    """A manifest (see ``docs/compiler.md`` for its fields).

    ``origin`` names the manifest in messages (its file, when read from one); it is not
    written to the JSON and does not take part in comparisons.
    """
    graph: str
    fabric_name: str
    fabric_hash: str
    fabric_hash32: int
    lanes: int
    compiler_version: str
    inputs: tuple       # of PortSpec
    outputs: tuple      # of PortSpec
    ideal_cycles: int
    bitstream_sha256: str   # hex SHA-256 of the bitstream this manifest describes
    report: dict = field(default_factory=dict, compare=False)
    source: dict = field(default_factory=dict, compare=False)  # the graph, JSON format
    origin: str = field(default="manifest", compare=False)
    dram: tuple = ()    # of DramSpec
    sections: tuple = ()    # of SectionSpec; empty for a program of one section

    @property
    def program_sections(self):
        """The sections of the program, in order: one built from ``inputs``,
        ``outputs`` and ``ideal_cycles`` when the manifest lists none."""
        if self.sections:
            return self.sections
        return (SectionSpec(self.inputs, self.outputs, self.ideal_cycles),)

    @property
    def all_outputs(self):
        """The output port specs of every section, in order."""
        return tuple(s for sec in self.program_sections for s in sec.outputs)

    @property
    def tensors_in(self):
        """``{name: (shape, dtype)}`` of every input tensor, on an edge port or in DRAM."""
        specs = {}
        for sec in self.program_sections:
            for s in sec.inputs:
                specs.setdefault(s.name, (s.shape, s.dtype))
        for s in self.dram:
            if s.host_input:
                specs.setdefault(s.name, (s.shape, s.dtype))
        return specs

    def to_doc(self):
        """The manifest as a JSON document (a dict)."""
        return {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "graph": self.graph,
            "fabric": {"name": self.fabric_name, "hash": self.fabric_hash,
                       "hash32": self.fabric_hash32, "lanes": self.lanes},
            "bitstream_sha256": self.bitstream_sha256,
            "compiler_version": self.compiler_version,
            "inputs": [_port_json(s) for s in self.inputs],
            "outputs": [_port_json(s) for s in self.outputs],
            **({"dram": [_dram_json(s) for s in self.dram]} if self.dram else {}),
            **({"sections": [{"inputs": [_port_json(s) for s in sec.inputs],
                              "outputs": [_port_json(s) for s in sec.outputs],
                              "ideal_cycles": sec.ideal_cycles} for sec in self.sections]}
               if self.sections else {}),
            "ideal_cycles": self.ideal_cycles,
            "report": self.report,
            "source": self.source,
        }

    def to_json(self):
        return json.dumps(self.to_doc(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text, *, source="manifest"):
        """Read a manifest from JSON ``text`` (``str`` or UTF-8 ``bytes``); ``source``
        names it in messages and becomes its ``origin``.

        Raises
        ------
        ManifestError
            For anything :func:`compiler.manifest_check.parse_manifest` or
            :func:`compiler.manifest_check.check_manifest` refuses.
        """
        d = parse_manifest(text, source)
        check_manifest(d, source)
        fab = d["fabric"]
        return cls(
            graph=d["graph"], fabric_name=fab["name"], fabric_hash=fab["hash"],
            fabric_hash32=fab["hash32"], lanes=fab["lanes"],
            compiler_version=d["compiler_version"],
            inputs=tuple(_port_from(s) for s in d["inputs"]),
            outputs=tuple(_port_from(s) for s in d["outputs"]),
            ideal_cycles=d["ideal_cycles"], bitstream_sha256=d["bitstream_sha256"],
            report=d["report"], source=d["source"], origin=source,
            dram=tuple(DramSpec(**{**s, "shape": tuple(s["shape"])})
                       for s in d.get("dram", [])),
            sections=tuple(SectionSpec(tuple(_port_from(s) for s in sec["inputs"]),
                                       tuple(_port_from(s) for s in sec["outputs"]),
                                       sec["ideal_cycles"])
                           for sec in d.get("sections", [])))

    def validate(self):
        """Check every field as :meth:`from_json` does (for a manifest built in Python).

        Raises
        ------
        ManifestError
            Naming the first bad field.
        """
        try:
            text = json.dumps(self.to_doc())
        except (TypeError, ValueError) as e:
            raise ManifestError(f"{self.origin}: not representable as JSON: {e}") from None
        check_manifest(parse_manifest(text, self.origin), self.origin)

    def check_bitstream(self, bitstream, name="bitstream"):
        """Raise :class:`ManifestError` unless ``bitstream`` (bytes; ``name`` in the
        message) is the one this manifest was written for."""
        digest = hashlib.sha256(bytes(bitstream)).hexdigest()
        if digest != self.bitstream_sha256:
            raise ManifestError(
                f"{name} does not belong to the manifest {self.origin}: its SHA-256 is "
                f"{digest[:16]}..., the manifest's is {self.bitstream_sha256[:16]}... "
                f"(they come from different compiles)")

    def check_fabric(self, p):
        """Raise :class:`ManifestError` unless the manifest fits fabric ``p``
        (:class:`hw.params.FabricParams`): the same hash and lanes, and edge ports the
        fabric has."""
        if self.fabric_hash != p.hash:
            raise ManifestError(f"{self.origin}: fabric.hash is {self.fabric_hash[:16]}..., "
                                f"fabric {p.name!r} has {p.hash[:16]}...")
        if self.lanes != p.lanes:
            raise ManifestError(f"{self.origin}: fabric.lanes is {self.lanes}, fabric "
                                f"{p.name!r} has {p.lanes}")
        if self.dram and not p.dram_ports:
            raise ManifestError(f"{self.origin}: the program has tensors in DRAM, and "
                                f"fabric {p.name!r} has no DRAM ports")
        for k, sec in enumerate(self.program_sections):
            where = f"sections[{k}]." if self.sections else ""
            for direction, specs, count in (("inputs", sec.inputs, p.io_in),
                                            ("outputs", sec.outputs, p.io_out)):
                for i, spec in enumerate(specs):
                    if spec.port >= count:
                        raise ManifestError(
                            f"{self.origin}: {where}{direction}[{i}].port must be below "
                            f"{count} (fabric {p.name!r} has {count} {direction[:-1]} "
                            f"ports), not {spec.port}")

    def check_inputs(self, tensors):
        """Raise ManifestError naming the first missing or mis-shaped input tensor (those
        on edge ports, then those only in DRAM)."""
        specs = self.tensors_in
        for name, (shape, dtype) in specs.items():
            if name not in tensors:
                raise ManifestError(f"input tensor {name!r} is missing "
                                    f"(expected shape {list(shape)}, {dtype})")
            got = np.asarray(tensors[name])
            if tuple(got.shape) != shape:
                raise ManifestError(f"input tensor {name!r} has shape {list(got.shape)}; "
                                    f"expected {list(shape)}")
            if tensor_dtype_error(got.dtype, dtype):
                what = "a float" if dtype in FLOAT_DTYPES else "an integer"
                raise ManifestError(f"input tensor {name!r} has dtype {got.dtype}; "
                                    f"expected {what} array ({dtype})")
        extra = sorted(set(tensors) - set(specs))
        if extra:
            raise ManifestError(f"unexpected input tensor {extra[0]!r} (inputs: "
                                f"{', '.join(specs)})")


def _port_json(s):
    d = asdict(s)
    d["shape"] = list(s.shape)
    return d


def _dram_json(s):
    d = _port_json(s)
    for flag in ("const", "temp"):
        if not d[flag]:
            del d[flag]
    return d


def _port_from(d):
    return PortSpec(**{**d, "shape": tuple(d["shape"])})
