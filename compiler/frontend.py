"""Graph files: a pattern graph read from a ``.json`` document or a Python builder file."""

from pathlib import Path

from hw.errors import printable
from .errors import CompileError
from .ir import Graph
from .jsonio import load_graph

__all__ = ["load_graph_file"]


def load_graph_file(path):
    """The :class:`Graph` in the file at ``path``.

    A ``.json`` file is read with :func:`compiler.jsonio.load_graph`. A ``.py`` file is run
    as a script; it must define a ``Graph`` named ``graph`` or a function ``build()``
    returning one. Whatever its code raises, ``sys.exit`` included, becomes an error
    (only ``KeyboardInterrupt`` passes through).

    Raises
    ------
    CompileError
        When the file is missing, has another suffix, does not hold a graph, or fails to
        load. The message starts with the path (:func:`~hw.errors.printable`; and, for a
        ``.py`` file, the line at fault when there is one):
        ``"g.py:2: syntax error: '(' was never closed"``.
    """
    path = Path(path)
    if not path.exists():
        raise CompileError(f"no such graph file: {str(path)!r}")
    if path.suffix == ".json":
        return _load_json_file(path)
    if path.suffix == ".py":
        return _run_builder_file(path)
    raise CompileError(f"graph file must end in .json or .py, not {str(path)!r}")


def _load_json_file(path):
    try:
        return load_graph(path)
    except CompileError as e:
        message = str(e)
        # a syntax error leads with the path itself (``g.json:3:5: ...``): said once
        rest = message[len(str(path)):] if message.startswith(f"{path}:") else f": {message}"
        raise CompileError(f"{printable(path)}{rest}") from None


def _run_builder_file(path):
    where = printable(path)
    try:
        source = path.read_bytes()
    except OSError as e:
        raise CompileError(f"cannot read graph file {str(path)!r}: {e.strerror}") from None
    try:
        # from bytes, so a coding declaration is honoured as when Python runs the file
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        line = f":{e.lineno}" if e.lineno else ""
        raise CompileError(f"{where}{line}: syntax error: {printable(e.msg)}") from None
    except Exception as e:        # ValueError, RecursionError, MemoryError of the parser
        raise CompileError(f"{where}: cannot compile: {_exception_text(e)}") from None
    namespace = {"__name__": f"terrazzo_graph_{path.stem}", "__file__": str(path)}
    try:
        exec(code, namespace)
        graph, build = namespace.get("graph"), namespace.get("build")
        built = graph is None and callable(build)
        if built:
            graph = build()
    except CompileError as e:
        raise CompileError(f"{where}: {e}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as e:    # the file's own code: any failure, exit included
        raise CompileError(f"{_where(path, e)}: {_exception_text(e)}") from None
    return _checked(graph, build, built, where)


def _checked(graph, build, built, where):
    """``graph``, the ``graph`` a builder file defines or (``built``) what its ``build()``
    returned, checked to be a :class:`Graph` whose node and output tables are the dicts
    the compiler walks."""
    if graph is None and build is None:
        raise CompileError(f"{where} must define a Graph named 'graph' or a function "
                           f"build() returning one")
    if graph is None and not built:
        raise CompileError(f"{where}: 'build' is of type {_type_name(build)}, not a "
                           f"function")
    what = "build() returned a value" if built else "'graph' is a value"
    if not isinstance(graph, Graph):
        raise CompileError(f"{where}: {what} of type {_type_name(graph)}, not a Graph")
    for table in ("nodes", "outputs"):
        if not isinstance(getattr(graph, table, None), dict):
            raise CompileError(f"{where}: the graph's {table} is of type "
                               f"{_type_name(getattr(graph, table, None))}, not a dict")
    return graph


def _type_name(value):
    return printable(type(value).__name__)


def _exception_text(error):
    """``Type: message`` of an exception raised by a graph file's code, printable, with
    the exit status for ``SystemExit``; just ``Type`` when it has no message or its
    ``__str__`` fails too."""
    if isinstance(error, SystemExit):
        return (f"SystemExit: the file exited (status {error.code!r}) instead of defining "
                f"a graph")
    try:
        message = str(error)
    except (Exception, SystemExit):
        message = ""
    name = _type_name(error)
    return f"{name}: {printable(message)}" if message else name


def _where(path, error):
    """``path:line`` of the innermost frame of ``error`` in the file itself, else ``path``:
    the user's line, not the compiler's, is the one worth pointing at."""
    tb, line = error.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{printable(path)}:{line}" if line else printable(path)
