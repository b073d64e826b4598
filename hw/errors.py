"""The one base class of every error Terrazzo raises for a user's mistake.

Each layer has its own subclasses (``hw.params.ParamsError``, ``compiler.errors.CompileError``,
``compiler.manifest.ManifestError``, ``sim.golden.InputError``, ``sim.execute.RunError``,
``sim.runner.SimulationError``, the CLI's ``CliError``), all derived from
:class:`TerrazzoError`, so a program that drives Terrazzo can catch them all with one
``except TerrazzoError``. The message of each says what is wrong in one line and quotes the
bad value. Any other exception escaping Terrazzo is a bug in Terrazzo, not in the input.
"""

__all__ = ["TerrazzoError"]


class TerrazzoError(Exception):
    """Base class of every error raised for bad input, a bad file or a failed run."""
