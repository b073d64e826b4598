"""The one base class of every error Terrazzo raises for a user's mistake.

Each layer has its own subclasses (``hw.params.ParamsError``, ``compiler.errors.CompileError``,
``compiler.manifest.ManifestError``, ``sim.golden.InputError``, ``sim.execute.RunError``,
``sim.runner.SimulationError``, the CLI's ``CliError``), all derived from
:class:`TerrazzoError`, so a program that drives Terrazzo can catch them all with one
``except TerrazzoError``. The message of each says what is wrong in one line and quotes the
bad value. Any other exception escaping Terrazzo is a bug in Terrazzo, not in the input.

A message quotes text that comes from the user (a value, a name, a file's path or
contents) with ``repr()`` (``{name!r}``), or with :func:`printable` where the text leads
the message unquoted (``"g.py:2: ..."``): both escape control characters, so a file whose
name or contents hold a terminal escape sequence cannot reach the user's terminal raw.
"""

__all__ = ["TerrazzoError", "printable"]


class TerrazzoError(Exception):
    """Base class of every error raised for bad input, a bad file or a failed run."""


def printable(text):
    """``text`` (or ``str(text)``, for a path) as a message may show it unquoted: itself
    when every character is printable, else its ``repr()``, which escapes the control
    characters (and line breaks) and marks the text as odd by its quotes."""
    text = str(text)
    return text if text.isprintable() else repr(text)
