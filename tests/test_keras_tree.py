"""``keras.tree`` (gpunn/tree.py) against Keras 3's own: flattening (dicts by sorted key, OrderedDicts in order,
namedtuples, None a leaf), paths, packing, mapping, traversal, and Keras's structure errors."""
from __future__ import annotations

import pytest

import gpunn
from helpers import run_keras

SCRIPT = r"""
import collections, json

def run(keras):
    t = keras.tree
    P = collections.namedtuple("P", "x y")
    s = {"b": 1, "a": [2, (3, None)], "c": P(4, {"z": 5})}
    out = {
        "flatten": t.flatten(s), "paths": [[list(p), v] for p, v in t.flatten_with_path(s)],
        "nested": [t.is_nested(s), t.is_nested(3), t.is_nested(None)],
        "pack": repr(t.pack_sequence_as(s, list(range(10, 16)))),
        "map": repr(t.map_structure(lambda v: None if v is None else v * 2, s)),
        "map2": repr(t.map_structure(lambda a, b: (a, b), [1, (2,)], [3, (4,)])),
        "tuples": repr(t.lists_to_tuples([1, [2, {"a": [3]}]])),
        "shapes": repr(t.map_shape_structure(lambda s: len(s), {"a": (None, 3), "b": [(2,), (4, 5)]})),
        "traverse": repr(t.traverse(lambda x: None, [1, [2]])),
        "traverse10": repr(t.traverse(lambda x: x * 10 if isinstance(x, int) else None, [1, (2, 3)])),
        "traverse_none": repr(t.traverse(lambda x: t.MAP_TO_NONE if x == 2 else None, [1, [2]])),
        "up_to": t.map_structure_up_to([0, 0], lambda a: str(a), [[1, 2], {"k": 3}]),
        "ordered": t.flatten(collections.OrderedDict([("b", 1), ("a", 2)])),
        "ordered_map": repr(t.map_structure(lambda v: v, collections.OrderedDict([("b", 1), ("a", 2)]))),
        "leaves": [t.flatten(None), t.flatten(3)],
    }
    for name, a, b in (("nesting", [1, 2], [1, [2]]), ("types", [1, 2], (1, 2))):
        try:
            t.assert_same_structure(a, b)
            out[name] = "ok"
        except ValueError as e:
            out[name] = "ValueError"
    return out
"""


def test_keras_tree_is_keras_s():
    theirs = run_keras(SCRIPT + "\nimport keras\nprint(json.dumps(run(keras)))\n", {})
    namespace: dict = {}
    exec(SCRIPT, namespace)
    ours = namespace["run"](gpunn)
    for key, value in theirs.items():
        assert ours[key] == value or (isinstance(value, list) and ours[key] == [
            list(v) if isinstance(v, tuple) else v for v in value]), key


def test_packing_the_wrong_number_of_leaves_is_refused():
    with pytest.raises(ValueError, match="can't pack"):
        gpunn.tree.pack_sequence_as([1, [2]], [1])


TREE = r'''
import json, sys
from collections import OrderedDict, defaultdict, deque

def run(keras, folder):
    add = lambda x, y: x + y
    made = keras.tree.map_structure(lambda x: x + 1, defaultdict(list, {"a": 1}))
    return {
        "dict and ordered": keras.tree.map_structure(add, {"a": 1, "b": 2}, OrderedDict([("b", 20), ("a", 10)])),
        "two orders": list(keras.tree.map_structure(add, OrderedDict([("b", 2), ("a", 1)]),
                                                    OrderedDict([("a", 10), ("b", 20)])).items()),
        "nested": [dict(d) for d in keras.tree.map_structure(add, [OrderedDict([("y", 1), ("x", 2)])],
                                                              [{"x": 100, "y": 200}])],
        "defaultdict": [type(made).__name__, dict(made), made.default_factory is list],
        "deque": [keras.tree.is_nested(deque([1])), keras.tree.flatten(deque([1, 2])),
                  list(keras.tree.map_structure(lambda x: x * 2, deque([1, 2])))],
    }
'''


def test_dicts_pair_by_key_and_deques_and_defaultdicts_nest_as_in_keras(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(TREE, tmp_path_factory)
    assert ours == theirs
    assert ours["dict and ordered"] == {"a": 11, "b": 22}
