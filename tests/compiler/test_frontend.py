"""Graph files: .json and .py read into the same graph, and clean errors naming the file."""

import pytest

from compiler.errors import CompileError
from compiler.frontend import load_graph_file
from compiler.ir import Graph
from compiler.jsonio import save_graph


def dot(n=8):
    g = Graph("dot")
    g.output("y", g.reduce("add", g.input("a", (n,)) * g.input("b", (n,))))
    return g


BUILDER = """from compiler.ir import Graph


def build():
    g = Graph("dot")
    g.output("y", g.reduce("add", g.input("a", (8,)) * g.input("b", (8,))))
    return g
"""


def test_json_and_builder_file_give_the_same_graph(tmp_path):
    save_graph(dot(), tmp_path / "dot.json")
    (tmp_path / "dot.py").write_text(BUILDER)
    (tmp_path / "named.py").write_text(BUILDER + "\ngraph = build()\n")
    assert load_graph_file(tmp_path / "dot.json") == dot()
    assert load_graph_file(tmp_path / "dot.py") == dot()
    assert load_graph_file(str(tmp_path / "named.py")) == dot()


@pytest.mark.parametrize("name,text,message", [
    ("missing.py", None, "no such graph file: 'missing.py'"),
    ("g.txt", "", "graph file must end in .json or .py, not 'g.txt'"),
    ("empty.py", "x = 1\n", "empty.py must define a Graph named 'graph' or a function "
                            "build() returning one"),
    ("bad.py", "g = (\n", "bad.py:1: syntax error: '(' was never closed"),
    ("boom.py", "x = 1\ny = 1 / 0\n", "boom.py:2: ZeroDivisionError: division by zero"),
    ("bad.json", "{}\n", "bad.json: /: missing 'format'"),
])
def test_errors_start_with_the_file(tmp_path, monkeypatch, name, text, message):
    monkeypatch.chdir(tmp_path)
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(CompileError) as info:
        load_graph_file(name)
    assert str(info.value) == message
