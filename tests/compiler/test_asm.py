"""asm and disasm: random bitstreams round-trip, padding included, and a text changed on
one line either assembles to a bitstream whose disassembly is that text or is refused
with a one-line message naming the line."""

from functools import lru_cache

import pytest
from hypothesis import event, given, settings, strategies as st

from bitstream_cases import good_bitstream, with_padding
from compiler.bitstream import decode, encode
from compiler.disasm import assemble, disassemble
from compiler.errors import CompileError
from hw.layouts import AccMode, Src
from hw.ops import Op
from hw.params import load_fabric

TINY = load_fabric("tiny")
SMALL = load_fabric("small")


@settings(max_examples=100)
@given(fabric=st.sampled_from([TINY] * 7 + [SMALL]), seed=st.integers(0, 2**32 - 1),
       padded=st.booleans())
def test_random_bitstreams_round_trip(fabric, seed, padded):
    plain = good_bitstream(fabric, seed)
    bs = with_padding(fabric, plain, seed) if padded else plain
    blob = encode(bs)
    text = disassemble(blob)
    assert ("  pad = 0x" in text) == (bs != plain)
    event("padding shown" if bs != plain else "no padding")
    assert assemble(text) == blob


@lru_cache(maxsize=None)
def base_lines(seed):
    """A disassembly of a random bitstream for TINY with padding, as lines."""
    blob = encode(with_padding(TINY, good_bitstream(TINY, seed), seed))
    return tuple(disassemble(blob).split("\n")[:-1])


# what a changed token may become: near misses of the values the text holds
_tokens = st.one_of(
    st.integers(-1, 17).map(str),
    st.integers(-2**33, 2**33).map(str),
    st.integers(0, 2**33).map(lambda v: f"0x{v:08x}"),
    st.integers(0, 2**8).map(hex),
    st.sampled_from(["0", "1", "-1", "-0", "00", "+1", "0x0", "2147483647", "-2147483648",
                     "records=9", "addr=0", "words=1", "#", "=", "pcu", "pmu", "switch",
                     "unit", "pmu_init", "pad", "data", "bitstream", "fabric=tiny",
                     "hash=0xde2b0b16", "0xde2b0b16", "tiny", "small", *Op.__members__,
                     *Src.__members__, *AccMode.__members__]),
    st.text(st.characters(blacklist_characters="\n"), max_size=4),
)


@st.composite
def one_line_changed(draw):
    """The lines of a base text with one line deleted, repeated, replaced by another, or
    with a token or a character changed."""
    lines = list(base_lines(draw(st.integers(0, 2))))
    i = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["delete", "repeat", "copy", "token", "insert", "remove"]))
    if how == "delete":
        del lines[i]
    elif how == "repeat":
        lines.insert(i, lines[i])
    elif how == "copy":
        lines[i] = lines[draw(st.integers(0, len(lines) - 1))]
    elif how == "token":
        tokens = lines[i].split(" ")
        tokens[draw(st.integers(0, len(tokens) - 1))] = draw(_tokens)
        lines[i] = " ".join(tokens)
    else:
        k = draw(st.integers(0, len(lines[i])))
        extra = draw(st.characters(blacklist_characters="\n")) if how == "insert" else ""
        lines[i] = lines[i][:k] + extra + lines[i][k + (how == "remove"):]
    return "".join(line + "\n" for line in lines)


@settings(max_examples=100)
@given(one_line_changed())
def test_changed_text_assembles_to_itself_or_is_refused(text):
    try:
        blob = assemble(text)
    except CompileError as e:
        message = str(e)
        assert message.startswith("line ") and "\n" not in message, message
        event(f"refused ({type(e).__name__})")
        return
    event("assembled")
    decode(blob, TINY)
    assert disassemble(blob) == text


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_base_texts_have_padding_and_init_data(seed):
    text = "\n".join(base_lines(seed))
    assert "  pad = 0x" in text and "  data 0x" in text
