"""Errors raised by the compiler. Every message says what is wrong in plain words and
quotes the bad value."""

from hw.errors import TerrazzoError

__all__ = ["CompileError", "CapacityError", "BitstreamError", "ManifestError"]


class CompileError(TerrazzoError):
    """Base class of every error the compiler raises on bad input.

    Members
    -------
    message : str
        What is wrong.
    node : str or None
        The name of the node at fault (graph node, vunit or net), when there is one;
        the text of the error then starts with it: ``"node 'fc2': needs ..."``.
    """

    def __init__(self, message, node=None):
        self.message = message
        self.node = node
        super().__init__(f"node {node!r}: {message}" if node is not None else message)


class CapacityError(CompileError):
    """A program that needs more of a kind of resource than the fabric has: units,
    edge ports, DRAM units or routing tracks. A graph that is too big this way is
    compiled in sections (:mod:`compiler.sections`) on a fabric with DRAM units."""


class BitstreamError(CompileError):
    """A bitstream that cannot be built or that the config loader would reject.

    Members
    -------
    code : hw.format.CfgError or None
        The code the loader reports for the same fault, or None for a fault the loader
        never sees (for example a value that does not fit a 32-bit word).
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class ManifestError(TerrazzoError, ValueError):
    """A manifest that is malformed or does not belong to its bitstream, or a tensor that
    does not match its manifest. The message is one line that names the file and the
    field and quotes the bad value."""
