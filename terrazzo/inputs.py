"""The files ``terrazzo run`` and ``disasm``/``asm`` read: a bitstream and its manifest,
the inputs ``.npz``.

Nothing here trusts a file's contents: a file that is empty, cut short, damaged or of
another kind is one :class:`~terrazzo.errors.CliError` line quoting its path.
"""

from pathlib import Path

from hw.errors import printable

from .errors import CliError
from .filekinds import ZIP_PREFIXES

__all__ = ["read_bytes", "manifest_path", "load_program", "load_inputs"]


def read_bytes(path):
    """The bytes of the file at ``path``; raises :class:`CliError` if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {str(path)!r}: {e.strerror}") from None


def manifest_path(bitstream, manifest=None):
    """The manifest of ``bitstream``: ``manifest`` if given, else the ``.json`` beside it."""
    return Path(manifest) if manifest else Path(bitstream).with_suffix(".json")


def load_program(path, manifest=None):
    """``(bitstream bytes, Manifest)`` of the bitstream at ``path`` and its manifest
    (:func:`manifest_path`); raises :class:`CliError`."""
    from compiler.manifest import Manifest, ManifestError
    blob = read_bytes(path)
    mpath = manifest_path(path, manifest)
    if not mpath.exists():
        raise CliError(f"manifest {str(mpath)!r} not found (terrazzo compile writes it beside "
                       f"the bitstream; or give --manifest)")
    try:
        text = read_bytes(mpath).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"manifest {str(mpath)!r} is not UTF-8 text (byte {e.start})") from None
    try:
        return blob, Manifest.from_json(text, source=printable(mpath))
    except ManifestError as e:
        raise CliError(str(e)) from None


def load_inputs(path):
    """The arrays of the ``.npz`` archive at ``path``, name to array.

    Only plain NumPy arrays load (no pickled objects); which dtypes an input takes is
    the run's to check (:func:`sim.golden.is_integer_dtype`).

    Raises
    ------
    CliError
        When the file cannot be read, is empty or no ZIP archive (a single ``.npy``
        array is not a ``.npz``), is damaged or cut short, holds a member that is not a
        ``.npy`` array or holds Python objects, or names an array twice.
    """
    import numpy as np
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise CliError(f"no such inputs file: {str(path)!r}") from None
    except OSError as e:
        raise CliError(f"cannot read inputs {str(path)!r}: {e.strerror}") from None
    with f:
        try:
            head = f.read(4)
        except OSError as e:
            raise CliError(f"cannot read inputs {str(path)!r}: {e.strerror}") from None
        if not head.startswith(ZIP_PREFIXES):
            what = "is empty" if not head else "is not a ZIP archive"
            raise CliError(f"inputs {str(path)!r} {what}: expected a .npz archive of arrays "
                           f"(numpy.savez)")
        try:
            f.seek(0)
            with np.load(f, allow_pickle=False) as data:
                names = data.files
                arrays = {name: data[name] for name in names}
        except Exception as e:
            # a damaged archive makes zipfile and NumPy raise any of a dozen types
            # (BadZipFile, EOFError, zlib.error, ValueError, OSError, ...)
            raise CliError(f"cannot read inputs {str(path)!r} as .npz: "
                           f"{_reason(e)}") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise CliError(f"inputs {str(path)!r}: member {name!r} is not a .npy array")
    if len(arrays) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise CliError(f"inputs {str(path)!r} holds more than one array named {twice!r}")
    return arrays


def _reason(error, limit=160):
    """What an exception says, printable and cut to about ``limit`` characters."""
    text = printable(str(error) or type(error).__name__)
    return text if len(text) <= limit else text[:limit - 3] + "..."
