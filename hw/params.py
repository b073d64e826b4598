"""Fabric parameters: the one description of a fabric that hardware and compiler share."""

import dataclasses
import enum
import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import TerrazzoError, printable

__all__ = ["FabricParams", "ParamsError", "PRESETS", "load_fabric", "find_fabric", "UnitKind",
           "OP_GROUPS"]

PRESET_DIR = Path(__file__).parent / "presets"

#: The parameters a fabric description may leave out: the label, and those with one
#: value built.
OPTIONAL = ("name", "word", "op_groups", "dram_ports", "dram_beat", "dram_burst",
            "dram_outstanding")

#: The DRAM parameters; with ``dram_ports = 0`` they shape nothing and stay out of the
#: fabric hash, so a fabric without DRAM units keeps the hash it had before they existed.
DRAM_FIELDS = ("dram_ports", "dram_beat", "dram_burst", "dram_outstanding")

#: The functional-unit op groups a fabric can build, in canonical order: ``"int"`` the
#: integer ops (always), ``"fp"`` the IEEE 754 binary32 / bf16 ops and reductions.
OP_GROUPS = ("int", "fp")


class ParamsError(TerrazzoError, ValueError):
    """Raised for an invalid fabric description; the message quotes the bad value."""


class UnitKind(enum.StrEnum):
    """The kind of a grid unit.

    Its value is the name that module names, summaries, disassembly and the compiler's
    virtual units (``compiler.netlist.VUnit.kind``) use. A ``StrEnum``, so a kind
    compares equal to its name, as the compiler relies on.
    """
    PCU = "pcu"
    PMU = "pmu"
    #: a DRAM unit (:mod:`hw.dram`): not in the grid, but on the north edge, one per
    #: ``dram_ports`` (:meth:`FabricParams.drams`)
    DRAM = "dram"


def _is_int(x):
    """Whether ``x`` is an ``int``; a ``bool`` is not (``lanes = true`` is no 1)."""
    return isinstance(x, int) and not isinstance(x, bool)


def _is_pow2(n):
    return _is_int(n) and n > 0 and n & (n - 1) == 0


@dataclass(frozen=True)
class FabricParams:
    """A fabric: a ``rows`` x ``cols`` checkerboard of PCUs and PMUs with switches at the
    corners of every unit.

    Parameters
    ----------
    name : str
        A label of printable characters; it does not enter the fabric hash.
    rows, cols : int
        Unit grid. Unit ``(r, c)`` is a PCU when ``r + c`` is even, else a PMU.
    lanes : int
        SIMD lanes of a PCU, banks of a PMU, words of a vector link (power of two).
    stages : int
        Pipeline stages of a PCU.
    regs : int
        Pipeline registers per lane and stage.
    word : int
        Data word width in bits (only 32 is built).
    counters : int
        Counters in every counter chain (PCU, PMU write and read address generators).
    pcu_vec_in, pcu_scalar_in : int
        Vector and scalar input FIFOs of a PCU.
    fifo_depth : int
        Entries of each unit input FIFO.
    pmu_depth : int
        Words per PMU bank (a PMU holds ``lanes * pmu_depth`` words).
    vector_tracks, scalar_tracks : int
        Links per direction between neighbouring switches, per network.
    io_in, io_out : int
        AXI4-Stream vector ports entering at the west edge and leaving at the east edge.
    op_groups : tuple of str
        Functional-unit op groups that are built: ``("int",)`` or ``("int", "fp")``
        (:data:`OP_GROUPS`; the floating-point ops and reductions of :mod:`hw.ops`).
    dram_ports : int
        DRAM units, each with an AXI4 manager port (0: none; see :mod:`hw.dram`).
    dram_beat : int
        Words per AXI4 data beat of a DRAM port (a power of two, at most 32, and at
        most ``lanes`` when there are DRAM ports).
    dram_burst : int
        Most beats in one AXI4 burst (1 to 256).
    dram_outstanding : int
        Most bursts a DRAM unit has in flight per direction (1 to 16).

    Raises
    ------
    ParamsError
        For any value out of range or of the wrong type (a ``bool`` is no integer); the
        message quotes it.
    """
    name: str = "custom"
    rows: int = 4
    cols: int = 4
    lanes: int = 8
    stages: int = 4
    regs: int = 4
    word: int = 32
    counters: int = 3
    pcu_vec_in: int = 3
    pcu_scalar_in: int = 2
    fifo_depth: int = 4
    pmu_depth: int = 256
    vector_tracks: int = 2
    scalar_tracks: int = 2
    io_in: int = 4
    io_out: int = 4
    op_groups: tuple = ("int",)
    dram_ports: int = 0
    dram_beat: int = 4
    dram_burst: int = 16
    dram_outstanding: int = 4

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not self.name.isprintable():
            raise ParamsError(f"name must be a non-empty string of printable characters, "
                              f"not {self.name!r}")
        for field, lo, hi in [("rows", 1, 64), ("cols", 1, 64), ("stages", 1, 16),
                              ("regs", 1, 16), ("counters", 1, 6), ("pcu_vec_in", 1, 4),
                              ("pcu_scalar_in", 1, 4), ("fifo_depth", 2, 64),
                              ("pmu_depth", 4, 1 << 20), ("vector_tracks", 1, 8),
                              ("scalar_tracks", 1, 8), ("io_in", 1, 64), ("io_out", 1, 64),
                              ("dram_ports", 0, 16), ("dram_burst", 1, 256),
                              ("dram_outstanding", 1, 16)]:
            value = getattr(self, field)
            if not _is_int(value) or not lo <= value <= hi:
                raise ParamsError(f"{field} must be an integer in [{lo}, {hi}], not {value!r}")
        if not _is_pow2(self.lanes) or self.lanes > 64:
            raise ParamsError(f"lanes must be a power of two no larger than 64, not {self.lanes!r}")
        if not _is_pow2(self.pmu_depth):
            raise ParamsError(f"pmu_depth must be a power of two, not {self.pmu_depth!r}")
        if not _is_pow2(self.dram_beat) or self.dram_beat > 32:
            # AXI4 data is at most 1024 bits wide
            raise ParamsError(f"dram_beat must be a power of two no larger than 32, not "
                              f"{self.dram_beat!r}")
        if self.dram_ports and self.dram_beat > self.lanes:
            raise ParamsError(f"dram_beat must be at most lanes = {self.lanes}, not "
                              f"{self.dram_beat!r}")
        if not _is_int(self.word) or self.word != 32:
            raise ParamsError(f"word must be 32 (the only word width built), not {self.word!r}")
        if self.rows * self.cols < 2:
            raise ParamsError(f"a fabric needs at least two units, not {self.rows!r}x{self.cols!r}")
        if self.io_in > self.rows + 1:
            raise ParamsError(f"io_in must be at most rows + 1 = {self.rows + 1}, not {self.io_in!r}")
        if self.io_out > self.rows + 1:
            raise ParamsError(f"io_out must be at most rows + 1 = {self.rows + 1}, not {self.io_out!r}")
        groups = tuple(self.op_groups)
        bad = [g for g in groups if not isinstance(g, str) or g not in OP_GROUPS]
        if bad or "int" not in groups or len(set(groups)) != len(groups):
            raise ParamsError(f"op_groups must list 'int' and optionally 'fp' (known groups: "
                              f"{', '.join(map(repr, OP_GROUPS))}), each once, not "
                              f"{self.op_groups!r}")
        object.__setattr__(self, "op_groups", tuple(g for g in OP_GROUPS if g in groups))

    # -- derived ---------------------------------------------------------------------

    def unit_kind(self, r, c):
        return UnitKind.PCU if (r + c) % 2 == 0 else UnitKind.PMU

    @property
    def fp(self):
        """Whether the functional units, reduction network and accumulators have the
        floating-point ops."""
        return "fp" in self.op_groups

    @property
    def units(self):
        """``[(unit_id, kind, (r, c))]`` in unit-id order."""
        return [(r * self.cols + c, self.unit_kind(r, c), (r, c))
                for r in range(self.rows) for c in range(self.cols)]

    def switch_id(self, i, j):
        """Record target id of the switch at corner ``(i, j)``."""
        return self.rows * self.cols + i * (self.cols + 1) + j

    @property
    def pmu_words(self):
        return self.lanes * self.pmu_depth

    @property
    def addr_bits(self):
        return (self.pmu_words - 1).bit_length()

    def dram_id(self, k):
        """Record target id of DRAM unit ``k`` (after the switches)."""
        return self.rows * self.cols + (self.rows + 1) * (self.cols + 1) + k

    def dram_switch(self, k):
        """Corner switch ``(i, j)`` that DRAM unit ``k`` attaches to (north edge)."""
        return (0, (k * (self.cols + 1)) // self.dram_ports)

    @property
    def drams(self):
        """``[(target_id, k, switch)]`` of the DRAM units, in order."""
        return [(self.dram_id(k), k, self.dram_switch(k)) for k in range(self.dram_ports)]

    def in_port_switch(self, k):
        """Corner switch ``(i, j)`` that input port ``k`` enters (west edge)."""
        return ((k * (self.rows + 1)) // self.io_in, 0)

    def out_port_switch(self, k):
        """Corner switch ``(i, j)`` that output port ``k`` leaves from (east edge)."""
        return ((k * (self.rows + 1)) // self.io_out, self.cols)

    # -- identity and files ---------------------------------------------------------

    def as_dict(self):
        d = dataclasses.asdict(self)
        d["op_groups"] = list(self.op_groups)
        return d

    def canonical(self):
        """Canonical text of everything that shapes the hardware (not the name)."""
        d = self.as_dict()
        del d["name"]
        if not self.dram_ports:
            for key in DRAM_FIELDS:
                del d[key]
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @property
    def hash(self):
        """Hex SHA-256 of :meth:`canonical`."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    @property
    def hash32(self):
        """The 32-bit fabric id that bitstreams carry and the loader checks."""
        return int(self.hash[:8], 16)

    def to_toml(self):
        lines = ["# Terrazzo fabric parameters"]
        for key, value in self.as_dict().items():
            if key in DRAM_FIELDS and not self.dram_ports:
                continue
            if isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            elif isinstance(value, list):
                lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
            else:
                lines.append(f"{key} = {value}")
        return "\n".join(lines) + "\n"

    def save(self, path):
        Path(path).write_text(self.to_toml())

    @classmethod
    def from_dict(cls, d, *, source="parameters"):
        """The fabric a description ``d`` (parameter name to value, as a fabric file
        holds it) gives.

        A description names every parameter but ``name``, ``word`` and ``op_groups``
        (:data:`OPTIONAL`, which have defaults): a fabric is never half made of defaults
        by a missing line or an empty file.

        Raises
        ------
        ParamsError
            For an unknown or missing parameter or a bad value; the message starts with
            ``source`` (the file's path, :func:`~hw.errors.printable`).
        """
        where = printable(source)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ParamsError(f"{where}: unknown parameter {unknown[0]!r} "
                              f"(known: {', '.join(sorted(known))})")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.name not in d and f.name not in OPTIONAL]
        if missing:
            raise ParamsError(f"{where}: missing parameter{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)} (a fabric file gives every "
                              f"parameter but {', '.join(OPTIONAL[:-1])} and {OPTIONAL[-1]})")
        d = dict(d)
        try:
            if "op_groups" in d:
                if not isinstance(d["op_groups"], (list, tuple)):
                    raise ParamsError(f"op_groups must be a list, not {d['op_groups']!r}")
                d["op_groups"] = tuple(d["op_groups"])
            return cls(**d)
        except ParamsError as e:
            raise ParamsError(f"{where}: {e}") from None

    @classmethod
    def load(cls, path):
        """The fabric in the TOML file at ``path`` (UTF-8, as TOML is); see
        :meth:`from_dict` for what it must hold. Raises :class:`ParamsError`."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ParamsError(f"cannot read fabric file {str(path)!r}: {e.strerror}") from None
        try:
            d = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ParamsError(f"{printable(path)}: invalid TOML: not UTF-8 text (byte "
                              f"{e.start})") from None
        except tomllib.TOMLDecodeError as e:
            raise ParamsError(f"{printable(path)}: invalid TOML: {e}") from None
        return cls.from_dict(d, source=str(path))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _preset(name):
    return FabricParams.load(PRESET_DIR / f"{name}.toml")


PRESETS = ("tiny", "small", "small-fp", "plasticine")


def load_fabric(spec):
    """A preset name (``tiny``, ``small``, ``small-fp``, ``plasticine``) or a path to a TOML
    file."""
    if isinstance(spec, FabricParams):
        return spec
    if spec in PRESETS:
        return _preset(spec)
    if str(spec).endswith(".toml") or Path(str(spec)).exists():
        return FabricParams.load(spec)
    raise ParamsError(f"unknown fabric {spec!r}: give one of {', '.join(PRESETS)} or a .toml file")


def find_fabric(hash32, fabric=None):
    """The fabric a bitstream with fabric hash ``hash32`` was built for: ``fabric`` (as
    :func:`load_fabric` takes it) if given, whatever its hash; else the preset whose
    :attr:`FabricParams.hash32` is ``hash32``.

    Raises
    ------
    ParamsError
        If ``fabric`` cannot be loaded, or no preset has that hash.
    """
    if fabric is not None:
        return load_fabric(fabric)
    for name in PRESETS:
        p = load_fabric(name)
        if p.hash32 == hash32:
            return p
    raise ParamsError(f"bitstream is for fabric hash 0x{hash32:08x}, which is no preset "
                      f"({', '.join(PRESETS)}); give its parameters with --fabric FILE.toml")
