"""Configuration payloads: the words a ``UNIT`` or ``SWITCH`` record carries for the bits
of its target's layout (:mod:`hw.format` gives the word order), and back."""

from functools import lru_cache

from amaranth.hdl import unsigned
from amaranth.lib import data

from hw.format import CfgError
from hw.layouts import WORD, config_words

from .errors import BitstreamError

__all__ = ["is_word", "words_of", "bits_of", "pad_width", "padding_of"]


def is_word(value):
    """``value`` is an integer (not a bool) that fits an unsigned 32-bit word."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << WORD


def words_of(bits, layout, pad=0):
    """The ``config_words(layout)`` payload words of configuration ``bits`` (as given by
    ``layout.const({...}).as_bits()``); bit ``k`` goes to bit ``k % 32`` of word
    ``k // 32``. ``pad`` fills the bits of the last word past ``layout.size`` (see
    :func:`padding_of`).

    Raises
    ------
    BitstreamError
        If ``bits`` is not an integer in ``[0, 2**layout.size)``, or ``pad`` not one in
        ``[0, 2**pad_width(layout))``.
    """
    size = layout.size
    if not isinstance(bits, int) or isinstance(bits, bool) or not 0 <= bits < (1 << size):
        raise BitstreamError(f"configuration must be an integer of at most {size} bits, "
                             f"not {bits!r}")
    width = pad_width(layout)
    if not isinstance(pad, int) or isinstance(pad, bool) or not 0 <= pad < (1 << width):
        raise BitstreamError(f"padding must be an integer of at most {width} bits, "
                             f"not {pad!r}")
    words = data.Const(_words_layout(config_words(layout)), bits | (pad << size))
    return tuple(words[k] for k in range(config_words(layout)))


def bits_of(words, layout):
    """The configuration bits carried by payload ``words``, for ``data.Const(layout, ...)``.

    Bits past ``layout.size`` in the last word are padding; like the hardware, this
    ignores them.

    Raises
    ------
    BitstreamError
        If there are not exactly ``config_words(layout)`` words (code ``SIZE``) or a word
        is not a 32-bit unsigned integer.
    """
    words = tuple(words)
    need = config_words(layout)
    if len(words) != need:
        raise BitstreamError(f"a configuration of this layout takes {need} words, "
                             f"not {len(words)}", CfgError.SIZE)
    for k, word in enumerate(words):
        if not is_word(word):
            raise BitstreamError(f"configuration word {k} must be a 32-bit unsigned integer, "
                                 f"not {word!r}")
    return _whole(words) & ((1 << layout.size) - 1)


def pad_width(layout):
    """Bits of padding in the last payload word of a ``layout`` configuration."""
    return config_words(layout) * WORD - layout.size


def padding_of(words, layout):
    """The padding bits of payload ``words`` (bits past ``layout.size`` in the last word),
    as a number whose bit 0 is the first bit past the layout.

    The config loader accepts any padding and the configuration registers drop it, so
    it changes nothing on the fabric; the disassembler shows it so that a bitstream
    carrying some still round-trips.

    Raises
    ------
    BitstreamError
        As :func:`bits_of`.
    """
    bits_of(words, layout)
    return _whole(words) >> layout.size


def _whole(words):
    return _words_layout(len(words)).const(words).as_bits()


@lru_cache(maxsize=None)
def _words_layout(n):
    """``n`` payload words, word 0 in the low bits."""
    return data.ArrayLayout(unsigned(WORD), n)
