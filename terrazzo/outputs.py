"""Every file the ``terrazzo`` command line writes goes through here, so that no command
replaces a file the user did not mean it to.

A command describes each file it will write as an :class:`Output` (a path, the
:class:`Kind` of file and the option that named it) and calls :func:`check` with them
and with its inputs *before* doing its work, so that a refusal costs nothing. It refuses:

* an output that is one of the inputs or another output: same path after resolving
  symlinks and ``..``, or the same file (``st_dev``/``st_ino``, which catches hard links);
* an output that exists and is not a regular file: a symlink, FIFO, device, socket or
  directory is never replaced;
* an output that exists, is not empty and is not of its kind (a graph's JSON twin where a
  manifest would go, a Python file where a bitstream would go);
* an output whose folder cannot take a new file (missing, not a folder, read-only, ...).

:func:`write` then writes its outputs all or none: each to a temporary file in the same
folder (fsynced; permission bits ``0o666 & ~umask``, as ``open()`` gives a new file),
then renames them into place. The last rename commits the set; a failure
before it puts back every file the earlier renames replaced and removes the ones they
created. ``-`` as a path writes to standard output instead: text always, binary data only
when standard output is not a terminal.

Every failure is one :class:`OutputError` naming the path and the reason.
"""

import os
import secrets
import stat
import sys
from dataclasses import dataclass

from hw.errors import TerrazzoError

from .filekinds import (BITSTREAM, DISASSEMBLY, MANIFEST, NPZ, PNG, SUITE_README, VERILOG,
                        WAVE, Kind)

__all__ = ["OutputError", "Kind", "Output", "Input", "check", "check_folder", "write",
           "STDOUT", "VERILOG", "DISASSEMBLY", "BITSTREAM", "MANIFEST", "PNG", "NPZ", "WAVE",
           "SUITE_README"]

STDOUT = "-"


class OutputError(TerrazzoError):
    """An output the command refuses to write, or could not write."""


@dataclass(frozen=True)
class Output:
    """A file a command writes: ``path`` (``-``: standard output), its :class:`Kind`, the
    ``option`` the user changes to move it, and ``makes_folders``: whether its folder is
    created when missing (then the nearest existing folder is the one checked)."""
    path: str
    kind: Kind
    option: str = "-o"
    makes_folders: bool = False


@dataclass(frozen=True)
class Input:
    """A file a command reads; ``noun`` names it in messages ("input graph")."""
    path: str
    noun: str


def _fail(path, e):
    return OutputError(f"cannot write {str(path)!r}: {e.strerror}")


def _lstat(out):
    """The ``os.lstat`` of an output, or None when there is nothing at its path."""
    try:
        return os.lstat(out.path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _fail(out.path, e) from None


def _stat(path):
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _same_file(a, b):
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _clash(out, other_noun, other_path):
    named = "" if other_path == out.path else f" {str(other_path)!r}"
    return OutputError(f"the {out.kind.noun} {out.path!r} would overwrite the "
                       f"{other_noun}{named}; give another output name with {out.option}")


_SPECIAL = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
            (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
            (stat.S_ISSOCK, "a socket"))


def _check_replaceable(out, st):
    """Refuse to replace what is at an output's path (``st``, from ``lstat``) unless it is
    an empty regular file or a file of the output's kind."""
    for test, what in _SPECIAL:
        if test(st.st_mode):
            raise OutputError(f"{out.path!r} is {what}, not a regular file; remove it or give "
                              f"another output name with {out.option}")
    try:
        ours = st.st_size == 0 or out.kind.matches(out.path)
    except OSError as e:
        raise OutputError(f"cannot read {out.path!r} to check it before replacing it: "
                          f"{e.strerror}") from None
    if not ours:
        raise OutputError(f"{out.path!r} exists and is not {out.kind.what}; remove it or "
                          f"give another output name with {out.option}")


def _temp_name(path, tag):
    folder, name = os.path.split(path)
    # a short stem: a temporary name must not be too long where the real name is not
    return os.path.join(folder, f".{name[:40]}.{secrets.token_hex(6)}.{tag}")


def _create_temp(path):
    """Create a new empty file beside ``path``; returns (fd, its path). Mode 0o666 is
    masked by the umask, as a plain ``open()`` would be."""
    while True:
        tmp = _temp_name(path, "tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


def _nearest_folder(path):
    """The folder of ``path``, or its nearest ancestor that exists."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    return folder


def _probe(folder):
    """Raise ``OSError`` now, not after the work, if ``folder`` cannot take a new file."""
    fd, tmp = _create_temp(os.path.join(folder, "probe"))
    os.close(fd)
    os.unlink(tmp)


def _check_stdout(out):
    if not out.kind.text and sys.stdout.isatty():
        raise OutputError(f"refusing to write the {out.kind.noun} to a terminal; redirect "
                          f"standard output or give a file name with {out.option}")


def check(outputs, inputs=()):
    """Raise :class:`OutputError` unless every one of ``outputs`` can be written without
    replacing an input, another output or a file of another kind (see the module).
    Inputs whose ``path`` is None are ignored."""
    inputs = [(i, _stat(i.path)) for i in inputs if i.path is not None]
    seen = []
    for out in outputs:
        if out.path == STDOUT:
            _check_stdout(out)
            continue
        st = _lstat(out)
        target = _stat(out.path)
        for i, ist in inputs:
            if _same_file(target, ist):
                raise _clash(out, i.noun, i.path)
        real = os.path.realpath(out.path)
        for other, ost in seen:
            if real == os.path.realpath(other.path) or _same_file(target, ost):
                raise _clash(out, other.kind.noun, other.path)
        if st is not None:
            _check_replaceable(out, st)
        try:
            _probe(_nearest_folder(out.path) if out.makes_folders
                   else os.path.dirname(out.path) or ".")
        except OSError as e:
            raise _fail(out.path, e) from None
        seen.append((out, target))


def check_folder(path, option):
    """Raise :class:`OutputError` unless ``path`` is a folder that can take new files, or
    one can be made there; ``option`` names it in the message."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{str(path)!r} is not a folder; give another folder with {option}")
    try:
        _probe(_nearest_folder(os.path.join(path, "probe")))
    except OSError as e:
        raise OutputError(f"cannot write under {str(path)!r}: {e.strerror}") from None


def _stage(out, data):
    """Write ``data`` to a new temporary file beside ``out``; returns its path."""
    if out.makes_folders:
        os.makedirs(os.path.dirname(out.path) or ".", exist_ok=True)
    old = _lstat(out)
    if old is not None:
        _check_replaceable(out, old)       # again: it may have changed during the work
    fd, tmp = _create_temp(out.path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _set_aside(path):
    """Keep what is at ``path`` under a temporary name; returns that name and whether it is
    a second link (the file also stays at ``path``), or None if there is nothing."""
    if not os.path.lexists(path):
        return None
    backup = _temp_name(path, "old")
    try:
        os.link(path, backup)
        return backup, True
    except OSError:
        os.replace(path, backup)    # no hard links here: the path is briefly empty
        return backup, False


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _put_back(path, kept):
    """Undo a rename into ``path``: put back what :func:`_set_aside` kept, or remove the
    new file if there was none. If that fails the kept file stays, under its name."""
    try:
        os.replace(kept[0], path) if kept else os.unlink(path)
    except OSError:
        pass


def _commit(staged):
    """Rename each staged ``(Output, temporary path)`` into place; the last rename commits.
    If one fails, put back what the earlier ones replaced, remove what they created, and
    raise :class:`OutputError`."""
    done = []
    try:
        for i, (out, tmp) in enumerate(staged):
            kept = _set_aside(out.path) if i < len(staged) - 1 else None
            try:
                os.replace(tmp, out.path)
            except BaseException:
                if kept and kept[1]:
                    _remove(kept[0])         # the old file never left its path
                elif kept:
                    _put_back(out.path, kept)
                raise
            done.append((out.path, kept))
    except BaseException as e:
        for path, kept in reversed(done):
            _put_back(path, kept)
        if isinstance(e, OSError):
            raise _fail(out.path, e) from None
        raise
    for _, kept in done:
        if kept:
            _remove(kept[0])


def write(files):
    """Write each ``(Output, data)`` of ``files``: the ones on disk all or none (see the
    module), then those to standard output. ``data`` is bytes, or ``str`` (written as
    UTF-8). Call :func:`check` first, before the work that makes the data.

    Raises :class:`OutputError` naming the path that failed and why."""
    files = list(files)
    staged = []
    try:
        for out, data in files:
            if out.path != STDOUT:
                try:
                    staged.append((out, _stage(out, data)))
                except OSError as e:
                    raise _fail(out.path, e) from None
        if staged:
            _commit(staged)
    finally:
        for _, tmp in staged:
            _remove(tmp)        # gone already once committed
    for out, data in files:
        if out.path == STDOUT:
            _write_stdout(data)


def _write_stdout(data):
    if isinstance(data, str):
        sys.stdout.write(data)
        sys.stdout.flush()
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
