"""``terrazzo compile GRAPH``: a ``.py`` graph file whose code fails in any way (exit
included) or defines no graph, and a ``.json`` one that is not a sound graph document
(a key given twice included), are one line naming the file."""

import json

import pytest

from .harness import Case, check_case, edited, file, folder

COMPILE = ("compile", "-o", "out.tzb")
NEITHER = "g.py must define a Graph named 'graph' or a function build() returning one"
GRAPH = ("from compiler.ir import Graph\ngraph = Graph('t')\n"
         "graph.output('y', graph.input('a', (8,)) + 1)\n")


def py(text):
    return file("g.py", text.encode())


def py_case(id, text, message):
    return Case(f"py-{id}", COMPILE + ("g.py",), message, setup=(py(text),))


def graph_json(transform):
    """A step writing ``g.json``: the text of ``dot.json`` passed through ``transform``."""
    def step(scratch, mp):
        (scratch / "g.json").write_text(transform((scratch / "dot.json").read_text()))
    return step


def json_case(id, message, transform):
    return Case(f"json-{id}", COMPILE + ("g.json",), f"g.json: {message}",
                setup=(graph_json(transform),))


def compact(text):
    return json.dumps(json.loads(text))


def twice(old, new):
    """Give a key a second time, right after ``old``, in the compact document."""
    def transform(text):
        text = compact(text)
        assert text.count(old) == 1, old
        return text.replace(old, old + new)
    return transform


PY = [
    py_case("sys-exit", "import sys\nsys.exit(3)\n",
            "g.py:2: SystemExit: the file exited (status 3) instead of defining a graph"),
    py_case("sys-exit-in-build", "import sys\n\ndef build():\n    sys.exit('done')\n",
            "g.py:4: SystemExit: the file exited (status 'done') instead of defining a "
            "graph"),
    py_case("raise-system-exit", "raise SystemExit\n",
            "g.py:1: SystemExit: the file exited (status None) instead of defining a graph"),
    py_case("generator-exit", "raise GeneratorExit\n", "g.py:1: GeneratorExit"),
    py_case("base-exception-group", "raise BaseExceptionGroup('x', [SystemExit(1)])\n",
            "g.py:1: BaseExceptionGroup: x (1 sub-exception)"),
    py_case("value-error", "x = 1\nraise ValueError('no graph today')\n",
            "g.py:2: ValueError: no graph today"),
    py_case("error-in-build", "def build():\n    return {}['x']\n", "g.py:2: KeyError: 'x'"),
    py_case("multi-line-message", "raise ValueError('one\\ntwo')\n",
            "g.py:1: ValueError: 'one\\ntwo'"),
    py_case("str-fails", "class E(Exception):\n    def __str__(self):\n        raise "
                         "RuntimeError\n\nraise E()\n", "g.py:5: E"),
    py_case("recursion", "def f():\n    return f()\n\nf()\n",
            "g.py:2: RecursionError: maximum recursion depth exceeded"),
    py_case("neither", "x = 1\n", NEITHER),
    py_case("empty", "", NEITHER),
    py_case("graph-none", "graph = None\n", NEITHER),
    py_case("graph-int", "graph = 3\n", "g.py: 'graph' is a value of type int, not a Graph"),
    py_case("graph-class", "from compiler.ir import Graph\ngraph = Graph\n",
            "g.py: 'graph' is a value of type type, not a Graph"),
    py_case("build-not-callable", "build = 'dot'\n",
            "g.py: 'build' is of type str, not a function"),
    py_case("build-returns-none", "def build():\n    pass\n",
            "g.py: build() returned a value of type NoneType, not a Graph"),
    py_case("build-needs-arguments", "def build(n):\n    pass\n",
            "g.py: TypeError: build() missing 1 required positional argument: 'n'"),
    py_case("nodes-not-a-dict", GRAPH + "graph.nodes = []\n",
            "g.py: the graph's nodes is of type list, not a dict"),
    py_case("outputs-not-a-dict", GRAPH + "graph.outputs = 'y'\n",
            "g.py: the graph's outputs is of type str, not a dict"),
    py_case("syntax", "g = (\n", "g.py:1: syntax error: '(' was never closed"),
    Case("py-null-byte", COMPILE + ("g.py",),
         "g.py: syntax error: source code string cannot contain null bytes",
         setup=(file("g.py", b"x = 1\0\n"),)),
    Case("py-not-utf-8", COMPILE + ("g.py",), "g.py:1: syntax error: (unicode error) 'utf-8' "
         "codec can't decode byte 0xff in position 0: invalid start byte",
         setup=(file("g.py", b"x = '\xff'\n"),)),
    Case("py-directory", COMPILE + ("d.py",), "cannot read graph file 'd.py': Is a directory",
         setup=(folder("d.py"),)),
    Case("py-coding-declaration", COMPILE + ("g.py",), changed=("out.tzb", "out.json"),
         setup=(file("g.py", b"# -*- coding: latin-1 -*-\n# \xe9\n" + GRAPH.encode()),)),
]

JSON = [
    json_case("output-twice", "/outputs/y: key 'y' is given more than once in one object",
              twice('"y": "reduce0"', ', "y": "map0"')),
    json_case("node-field-twice", "/nodes/3/op: key 'op' is given more than once in one "
              "object", twice('"op": "add"', ', "op": "max"')),
    json_case("top-key-twice", "/name: key 'name' is given more than once in one object",
              twice('"name": "dot"', ', "name": "dot"')),
    json_case("first-of-two-twice", "/nodes/0/shape: key 'shape' is given more than once "
              "in one object", lambda t: twice('"op": "add"', ', "op": "max"')(t).replace(
                  '"shape": [4096]', '"shape": [4096], "shape": [4096]', 1)),
    # a syntax error names the file once, with the line and column
    Case("json-syntax", COMPILE + ("g.json",), "g.json:2:2: invalid JSON: Expecting property "
         "name enclosed in double quotes",
         setup=(graph_json(lambda t: t.replace('"format"', "format", 1)),)),
    Case("json-empty", COMPILE + ("g.json",), "g.json:1:1: invalid JSON: Expecting value",
         setup=(file("g.json", b""),)),
    json_case("array", "/: expected a graph object, got an array", lambda t: "[]"),
    json_case("deep", "invalid JSON: maximum recursion depth exceeded while decoding a JSON "
              "array from a unicode string", lambda t: "[" * 5000 + "]" * 5000),
    Case("json-not-utf-8", COMPILE + ("g.json",), "g.json: cannot read graph file 'g.json': "
         "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
         setup=(file("g.json", b"\xff{}"),)),
    Case("json-directory", COMPILE + ("d.json",),
         "d.json: cannot read graph file 'd.json': [Errno 21] Is a directory: 'd.json'",
         setup=(folder("d.json"),)),
    Case("json-fine", COMPILE + ("g.json",), changed=("out.tzb", "out.json"),
         setup=(edited("g.json", "dot.json", '"name": "dot"', '"name": "dot2"'),)),
]


@pytest.mark.parametrize("case", [c.param() for c in PY + JSON])
def test_graph_files(case, scratch, capsysbinary):
    check_case(case, scratch, capsysbinary)
