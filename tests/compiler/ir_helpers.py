"""Checks shared by the tests of the IR and of the passes."""

import pytest

from compiler.errors import CompileError


def text_body(g):
    """The node and output lines of ``g.to_text()``, without indentation."""
    return [line.strip() for line in g.to_text().splitlines()[1:-1]]


def check_error(fn, text):
    """Call ``fn``; it must raise a :class:`CompileError` whose text is ``text``,
    which is returned."""
    with pytest.raises(CompileError) as info:
        fn()
    assert str(info.value) == text
    return info.value
