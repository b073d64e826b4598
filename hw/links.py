"""The data paths between units and switches: vector and scalar links.

A vector link carries ``lanes`` signed words (lane 0 in the low word), a scalar link one
signed word; both are ``stream.Signature``s (valid/ready). Every unit, switch and
buffer builds its link ports from here, and so connects to the FIFOs' ``w_stream`` /
``r_stream`` with ``wiring.connect``.

``stream.Signature`` is final in Amaranth 0.5, so the link signatures are made by a
function rather than by a subclass.
"""

from functools import lru_cache

from amaranth.hdl import signed
from amaranth.lib import data, stream

from .interconnect import NETWORKS
from .layouts import WORD

__all__ = ["vector_layout", "link_shape", "link_signature"]


@lru_cache(maxsize=None)
def vector_layout(lanes):
    """One vector: ``lanes`` signed words, lane 0 in the low word."""
    return data.ArrayLayout(signed(WORD), lanes)


def link_shape(p, network):
    """Payload shape of a link of ``network`` on fabric ``p``: a vector of ``lanes``
    words or one word.

    Raises
    ------
    ValueError
        If ``network`` is not one of :data:`hw.interconnect.NETWORKS`.
    """
    if network == "vector":
        return vector_layout(p.lanes)
    if network == "scalar":
        return signed(WORD)
    raise ValueError(f"network must be one of {NETWORKS!r}, not {network!r}")


def link_signature(p, network):
    """The stream signature of a link of ``network`` (its producer's side)."""
    return stream.Signature(link_shape(p, network))
