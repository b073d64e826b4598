"""The command line's own error."""

from hw.errors import TerrazzoError

__all__ = ["CliError"]


class CliError(TerrazzoError):
    """A user-facing failure: printed as one line, exit status 1."""
