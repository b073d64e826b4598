"""JSON text whose objects name each key once.

``json.loads`` keeps the last value of a key an object names twice, so a graph file
that gives an output (or a node's field) twice loses one without a word. :func:`loads`
refuses such a document instead, saying where the repeated key is.
"""

import json

__all__ = ["RepeatedKey", "loads"]


class RepeatedKey(ValueError):
    """A JSON object names a key more than once.

    Members
    -------
    path : tuple
        The keys and array indices from the document's root to the repeated key (its
        second occurrence), the last item being the key.
    """

    def __init__(self, path):
        self.path = path
        super().__init__(f"key {path[-1]!r} is given more than once in one object")


class _Marked(dict):
    """A decoded object that named ``key`` more than once (its last value kept)."""
    key = None


def _hook(seen):
    """An ``object_pairs_hook`` that marks each object naming a key twice and records
    in the list ``seen`` that one did, so the document is searched only then."""
    def pairs_to_object(pairs):
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        marked, keys = _Marked(obj), set()
        for key, _ in pairs:
            if key in keys:
                marked.key = key
                break
            keys.add(key)
        seen.append(True)
        return marked
    return pairs_to_object


def _first_marked(doc):
    """The path to the repeated key of the first marked object, in document order."""
    stack = [(doc, ())]
    while stack:                    # a loop, not recursion: documents nest deeply
        value, path = stack.pop()
        if isinstance(value, _Marked):
            return path + (value.key,)
        items = (value.items() if isinstance(value, dict)
                 else enumerate(value) if isinstance(value, list) else ())
        children = [(v, path + (k,)) for k, v in items if isinstance(v, (dict, list))]
        stack.extend(reversed(children))
    raise AssertionError("an object was marked")


def loads(text):
    """``json.loads(text)``, refusing a document that has an object naming a key twice.

    Raises
    ------
    RepeatedKey
        For the first such object in document order.
    json.JSONDecodeError, ValueError, RecursionError
        As ``json.loads`` does.
    """
    seen = []
    doc = json.loads(text, object_pairs_hook=_hook(seen))
    if seen:
        raise RepeatedKey(_first_marked(doc))
    return doc
