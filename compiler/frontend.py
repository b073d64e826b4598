"""Graph files: a pattern graph read from a ``.json`` document or a Python builder file."""

from pathlib import Path

from .errors import CompileError
from .ir import Graph
from .jsonio import load_graph

__all__ = ["load_graph_file"]


def load_graph_file(path):
    """The :class:`Graph` in the file at ``path``.

    A ``.json`` file is read with :func:`compiler.jsonio.load_graph`. A ``.py`` file is run
    as a script; it must define a ``Graph`` named ``graph`` or a function ``build()``
    returning one.

    Raises
    ------
    CompileError
        When the file is missing, has another suffix, does not hold a graph, or fails to
        load. The message starts with the path (and, for a ``.py`` file, the line at fault
        when there is one): ``"g.py:2: syntax error: '(' was never closed"``.
    """
    path = Path(path)
    if not path.exists():
        raise CompileError(f"no such graph file: {str(path)!r}")
    if path.suffix == ".json":
        try:
            return load_graph(path)
        except CompileError as e:
            raise CompileError(f"{path}: {e}") from None
    if path.suffix == ".py":
        return _run_builder_file(path)
    raise CompileError(f"graph file must end in .json or .py, not {str(path)!r}")


def _run_builder_file(path):
    namespace = {"__name__": f"terrazzo_graph_{path.stem}", "__file__": str(path)}
    try:
        code = compile(path.read_text(), str(path), "exec")
        exec(code, namespace)
        graph = namespace.get("graph")
        if graph is None and callable(namespace.get("build")):
            graph = namespace["build"]()
    except CompileError as e:
        raise CompileError(f"{path}: {e}") from None
    except SyntaxError as e:
        raise CompileError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:
        raise CompileError(f"{_where(path, e)}: {type(e).__name__}: {e}") from None
    if not isinstance(graph, Graph):
        raise CompileError(f"{path} must define a Graph named 'graph' or a function build() "
                           f"returning one")
    return graph


def _where(path, error):
    """``path:line`` of the innermost frame of ``error`` in the file itself, else ``path``:
    the user's line, not the compiler's, is the one worth pointing at."""
    tb, line = error.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{path}:{line}" if line else str(path)
