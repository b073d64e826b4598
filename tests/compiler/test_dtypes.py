"""Float dtypes through the builder, the type check and the text form."""

import numpy as np
import pytest

from compiler.dtypes import cast_op, expr_dtype
from compiler.errors import CompileError
from compiler.ir import Arg, Imm, Call, Graph, Input
from compiler.types import float_bits, float_text, round_bf16
from hw.ops import Op
from ir_helpers import check_error


@pytest.mark.parametrize("value, f32, bf16", [
    (1.5, 0x3FC00000, 0x3FC00000),
    (-0.0, 0x80000000, 0x80000000),
    (float("inf"), 0x7F800000, 0x7F800000),
    (float("nan"), 0x7FC00000, 0x7FC00000),
    (1e300, 0x7F800000, 0x7F800000),          # too large for f32: infinity
    (0.1, 0x3DCCCCCD, 0x3DCD0000),
    (1e-45, 0x00000001, 0x00000000),          # smallest subnormal; bf16 rounds it to +0
    (1.00390625, 0x3F808000, 0x3F800000),     # halfway between two bf16: to even
    (1.01171875, 0x3F818000, 0x3F820000),     # halfway, odd below: up
])
def test_float_bits_round_to_nearest_even(value, f32, bf16):
    assert float_bits(value) & 0xFFFFFFFF == f32
    assert float_bits(value, "bf16") & 0xFFFFFFFF == bf16
    assert round_bf16(np.int32(np.uint32(f32).view(np.int32))) & 0xFFFFFFFF == bf16


@pytest.mark.parametrize("bits, text", [
    (0x3FC00000, "1.5"), (0x80000000, "-0.0"), (0x7F800000, "inf"), (0xFF800000, "-inf"),
    (0x7FC00000, "nan"), (0x7FC00001, "0x7fc00001"), (0x00000001, "1e-45"),
    (0x3DCCCCCD, "0.1"),
])
def test_float_text_reads_back(bits, text):
    signed = (bits + 2 ** 31) % 2 ** 32 - 2 ** 31
    assert float_text(signed) == text
    if not text.startswith("0x"):
        assert float_bits(float(text)) == signed


def test_float_inputs_and_constants_print():
    g = Graph("f")
    g.input("x", (4,), "f32")
    g.input("h", (2,), "bf16")
    g.const("c", [1.5, float("nan"), -0.0, 1e-45])
    g.const("b", [0.1, 1.00390625], "bf16")
    assert g.to_text().splitlines()[1:5] == [
        "  %x = input : f32[4]", "  %h = input : bf16[2]",
        "  %c = const[1.5, nan, -0.0, 1e-45] : f32[4]",
        "  %b = const[0.100097656, 1.0] : bf16[2]"]


def test_mixed_dtypes_name_both_and_the_cast():
    g = Graph("m")
    x, y = g.input("x", (4,), "f32"), g.input("y", (4,), "i32")
    check_error(lambda: g.map(lambda a, b: a + b, x, y, name="s"),
                "node 's': op 'add' mixes f32 and i32 operands ($1 is i32); insert "
                "cast($1, 'f32') or cast the other operands to i32")


def test_integer_only_ops_refuse_floats():
    g = Graph("m")
    x = g.input("x", (4,), "f32")
    for op in ("and", "or", "xor", "shl", "shr", "sra"):
        check_error(lambda: g.map(op, x, x, name="b"),
                    f"node 'b': op {op!r} works on i32 only, not f32 (bitwise ops and "
                    f"shifts have no floating-point meaning; cast to i32 first to work "
                    f"on values)")


def test_float_literal_in_an_integer_map_is_refused():
    g = Graph("m")
    x = g.input("x", (4,), "i32")
    check_error(lambda: g.map(lambda a: a * 0.5, x, name="h"),
                "node 'h': float literal 0.5 in an i32 operation; cast the operation's "
                "operands to f32 first")


def test_bf16_bits_are_checked():
    check_error(lambda: (Graph("c", [Input("x", (1,), "bf16")]).const(
                    "k", [0], "bf16"), expr_dtype(Imm(1, "bf16"), [], "k")),
                "node 'k': immediate 0x00000001 is no bf16 (its low 16 bits are not zero)")


def test_casts_between_unrelated_dtypes_are_refused():
    check_error(lambda: cast_op("i32", "bf16"),
                "no cast from i32 to bf16; cast through f32 (i32 <-> f32 and f32 <-> bf16 "
                "exist)")
    check_error(lambda: cast_op("f32", "i32", "sr"),
                "rounding 'sr' applies to an f32 -> bf16 cast only, not f32 -> i32")
