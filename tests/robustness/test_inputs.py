"""``terrazzo run --inputs``: an inputs file that is not a sound ``.npz`` of integer
arrays is one line before any simulation; one that is reaches the simulator (which
never runs here: see :func:`~.harness.stop_at_simulator`).

An i32 input takes a signed or unsigned integer array of any width and byte order whose
values fit in i32; bool, timedelta64, datetime64, floats, complex, strings, bytes,
structured and object arrays are refused.
"""

import io
import pickle
import re
import warnings
import zipfile

import numpy as np
import pytest

from .harness import SIMULATOR, Case, check_case, file, folder, npz, stop_at_simulator

RUN = ("run", "prog.tzb", "--build-dir", "b", "--inputs")
N = 4096
DTYPE_REFUSED = "input tensor 'a' has dtype {}; expected an integer array (i32)"


def damaged(name, edit):
    """A step writing to ``name`` the scratch ``in.npz`` with its bytes passed through
    ``edit``."""
    def step(scratch, mp):
        (scratch / name).write_bytes(edit((scratch / "in.npz").read_bytes()))
    return step


def replaced(old, new):
    def edit(data):
        assert data.count(old) >= 1 and len(old) == len(new)
        return data.replace(old, new, 1)
    return edit


def flipped(offset):
    return lambda data: data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:]


def zipped(name, members):
    """A step writing a ZIP archive ``name`` of ``(member name, bytes)``, duplicates
    included (which ``zipfile`` warns of)."""
    def step(scratch, mp):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with zipfile.ZipFile(scratch / name, "w") as z:
                for member, data in members:
                    z.writestr(member, data)
    return step


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def with_a(a, **more):
    """The inputs of ``dot``, with ``a`` replaced."""
    return npz("x.npz", a=a, b=np.ones(N, np.int32), **more)


def unreadable(name):
    return re.compile(rf"cannot read inputs '{re.escape(name)}' as \.npz: \S.*")


NOT_AN_ARCHIVE = "inputs '{}' is {}: expected a .npz archive of arrays (numpy.savez)"

FILES = [
    Case("missing", RUN + ("nope.npz",), "no such inputs file: 'nope.npz'"),
    Case("directory", RUN + ("d.npz",), "cannot read inputs 'd.npz': Is a directory",
         setup=(folder("d.npz"),)),
    Case("empty", RUN + ("e.npz",), NOT_AN_ARCHIVE.format("e.npz", "empty"),
         setup=(file("e.npz", b""),)),
    Case("npy", RUN + ("a.npy",), NOT_AN_ARCHIVE.format("a.npy", "not a ZIP archive"),
         setup=(file("a.npy", npy(np.arange(3))),)),
    Case("pickle", RUN + ("p.npz",), NOT_AN_ARCHIVE.format("p.npz", "not a ZIP archive"),
         setup=(file("p.npz", pickle.dumps({"a": [1, 2]})),)),
    Case("text", RUN + ("notes.txt",),
         NOT_AN_ARCHIVE.format("notes.txt", "not a ZIP archive")),
    Case("truncated-half", RUN + ("t.npz",), unreadable("t.npz"),
         setup=(damaged("t.npz", lambda d: d[:len(d) // 2]),)),
    Case("truncated-to-a-header", RUN + ("t.npz",), unreadable("t.npz"),
         setup=(damaged("t.npz", lambda d: d[:40]),)),
    Case("bad-dtype-in-header", RUN + ("c.npz",), unreadable("c.npz"),
         setup=(damaged("c.npz", replaced(b"'descr': '<i4'", b"'descr': '*?4'")),)),
    Case("bad-header-syntax", RUN + ("c.npz",), unreadable("c.npz"),
         setup=(damaged("c.npz", replaced(b"'fortran_order': False",
                                         b"'fortran_order': F\x9flse")),)),
    Case("shape-past-the-data", RUN + ("c.npz",), unreadable("c.npz"),
         setup=(damaged("c.npz", replaced(b"(4096,)", b"(9096,)")),)),
    Case("bad-crc", RUN + ("c.npz",), unreadable("c.npz"),
         setup=(damaged("c.npz", flipped(2000)),)),
    Case("object-array", RUN + ("o.npz",), unreadable("o.npz"),
         setup=(npz("o.npz", a=np.array([1, "x"], dtype=object)),)),
    Case("member-not-npy", RUN + ("z.npz",), "inputs 'z.npz': member 'a' is not a .npy array",
         setup=(zipped("z.npz", [("a.npy", b"hello")]),)),
    Case("member-named-twice", RUN + ("z.npz",),
         "inputs 'z.npz' holds more than one array named 'a'",
         setup=(zipped("z.npz", [("a.npy", npy(np.zeros(N, np.int32))),
                                 ("a.npy", npy(np.ones(N, np.int32))),
                                 ("b.npy", npy(np.ones(N, np.int32)))]),)),
    Case("empty-archive", RUN + ("z.npz",),
         "input tensor 'a' is missing (expected shape [4096], i32)",
         setup=(zipped("z.npz", []),)),
    Case("compressed", RUN + ("c.npz",), status=SIMULATOR, setup=(
        lambda s, mp: np.savez_compressed(s / "c.npz", a=np.zeros(N, np.int32),
                                          b=np.zeros(N, np.int32)),)),
    Case("compressed-damaged", RUN + ("c.npz",), unreadable("c.npz"), setup=(
        lambda s, mp: np.savez_compressed(s / "c0.npz", a=np.arange(N, dtype=np.int32),
                                          b=np.zeros(N, np.int32)),
        lambda s, mp: (s / "c.npz").write_bytes(flipped(300)((s / "c0.npz").read_bytes())))),
    Case("the-inputs", RUN + ("in.npz",), status=SIMULATOR),
]

DTYPES = [
    *(Case(f"refuses-{dtype}", RUN + ("x.npz",), DTYPE_REFUSED.format(dtype),
           setup=(with_a(np.zeros(N, dtype)),))
      for dtype in ("timedelta64[s]", "datetime64[D]", "complex128", "float64", "float16",
                    "bool", "<U1", "|S2", "|V4")),
    Case("refuses-structured", RUN + ("x.npz",),
         DTYPE_REFUSED.format("[('x', '<i4')]"), setup=(with_a(np.zeros(N, [("x", "i4")])),)),
    *(Case(f"takes-{dtype}", RUN + ("x.npz",), status=SIMULATOR,
           setup=(with_a(np.arange(N).astype(dtype)),))
      for dtype in ("int8", "uint8", "int16", "uint16", "int64", "uint32", "uint64", ">i4",
                    ">u8")),
    Case("takes-fortran-order", RUN + ("x.npz",), status=SIMULATOR,
         setup=(with_a(np.asfortranarray(np.arange(N, dtype=np.int32))),)),
    Case("int64-out-of-range", RUN + ("x.npz",),
         "input tensor 'a' has values outside int32 (0 .. 2147483648)",
         setup=(with_a(np.concatenate([[2**31], np.zeros(N - 1, np.int64)])),)),
    Case("uint64-out-of-range", RUN + ("x.npz",),
         "input tensor 'a' has values outside int32 (18446744073709551615 .. "
         "18446744073709551615)",
         setup=(with_a(np.full(N, 2**64 - 1, np.uint64)),)),
    Case("shape", RUN + ("x.npz",), "input tensor 'a' has shape [4095]; expected [4096]",
         setup=(with_a(np.zeros(N - 1, np.int32)),)),
    Case("scalar", RUN + ("x.npz",), "input tensor 'a' has shape []; expected [4096]",
         setup=(with_a(np.int32(3)),)),
    Case("unexpected-array", RUN + ("x.npz",),
         "unexpected input tensor 'c' (inputs: a, b)",
         setup=(with_a(np.zeros(N, np.int32), c=np.zeros(3, np.int32)),)),
]

# the knobs are checked before any file is read, so a bad seed wins over bad inputs
SEEDS = [
    Case("seed-2**100", RUN + ("e.npz", "--seed", 2**100),
         f"--seed must be an integer in [-2**63, 2**63), not {2**100}",
         setup=(file("e.npz", b""),)),
    Case("seed-2**63", RUN + ("in.npz", "--seed", 2**63),
         f"--seed must be an integer in [-2**63, 2**63), not {2**63}"),
    Case("seed-below", RUN + ("in.npz", "--seed", -2**63 - 1),
         f"--seed must be an integer in [-2**63, 2**63), not {-2**63 - 1}"),
    Case("seed-largest", RUN + ("in.npz", "--seed", 2**63 - 1), status=SIMULATOR),
    Case("seed-smallest", RUN + ("in.npz", "--seed", -2**63), status=SIMULATOR),
    Case("seed-not-a-number", RUN + ("in.npz", "--seed", "1e3"), status=2),
    Case("idle-one", RUN + ("in.npz", "--idle", "1"),
         "--idle must be a probability in [0, 1), not 1.0"),
    Case("backpressure-nan", RUN + ("in.npz", "--backpressure", "nan"),
         "--backpressure must be a probability in [0, 1), not nan"),
    Case("idle-negative", RUN + ("in.npz", "--idle=-0.5"),
         "--idle must be a probability in [0, 1), not -0.5"),
    Case("compile-any-seed", ("compile", "dot.py", "-o", "out.tzb", "--seed", 2**100),
         changed=("out.tzb", "out.json")),
]


@pytest.mark.parametrize("case", [c.param() for c in FILES + DTYPES + SEEDS])
def test_inputs(case, scratch, capsysbinary, monkeypatch):
    stop_at_simulator(scratch, monkeypatch)
    check_case(case, scratch, capsysbinary)
