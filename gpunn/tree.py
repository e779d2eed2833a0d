"""``keras.tree``: functions over nested structures of values (lists, tuples, namedtuples, dicts), as Keras 3's
``keras/src/tree`` defines them. A dict's values are taken in the order of its sorted keys (an OrderedDict's in
its own order), each rebuilt in the order it had; None is a leaf."""
from __future__ import annotations

import collections

MAP_TO_NONE = object()  # traverse: a ``func`` returning it puts None in that place


def is_nested(structure) -> bool:
    """Whether ``structure`` is a list, tuple, deque or dict (a container ``flatten`` goes into)."""
    return isinstance(structure, (list, tuple, dict, collections.deque))


def _is_namedtuple(value) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def _keys(structure) -> list:
    return list(structure) if isinstance(structure, collections.OrderedDict) else sorted(structure)


def _children(structure) -> list:
    """(key, child) of a container, in the order flatten takes them."""
    if isinstance(structure, dict):
        return [(key, structure[key]) for key in _keys(structure)]
    return list(enumerate(structure))


def _rebuilt(structure, values: list):
    """A container like ``structure`` holding ``values`` (in flatten's order of its children)."""
    if isinstance(structure, dict):
        by_key = dict(zip(_keys(structure), values))
        pairs = [(key, by_key[key]) for key in structure]
        if isinstance(structure, collections.defaultdict):  # (made again with its factory)
            return type(structure)(structure.default_factory, pairs)
        return type(structure)(pairs)
    if _is_namedtuple(structure):
        return type(structure)(*values)
    return type(structure)(values)


def flatten(structure) -> list:
    """The leaves of ``structure``, depth first."""
    if not is_nested(structure):
        return [structure]
    return [leaf for _, child in _children(structure) for leaf in flatten(child)]


def found_in(values, wanted) -> list:
    """The objects ``wanted(obj)`` accepts among ``values`` and in the lists, tuples and dicts they hold, each once,
    in the order they are met (a dict's in its own order: unlike ``flatten``, any keys). An object accepted is
    not looked into."""
    found, seen = [], set()

    def take(value):
        if wanted(value):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                take(item)
        elif isinstance(value, dict):
            for item in value.values():
                take(item)

    for value in values:
        take(value)
    return found


def flatten_with_path(structure) -> list:
    """(path, leaf) of each leaf: the path the keys and indices leading to it, as a tuple."""
    if not is_nested(structure):
        return [((), structure)]
    return [((key,) + path, leaf) for key, child in _children(structure) for path, leaf in flatten_with_path(child)]


def pack_sequence_as(structure, flat_sequence):
    """``flat_sequence`` put into the shape of ``structure`` (the inverse of ``flatten``)."""
    flat = list(flat_sequence)
    if len(flat) != len(flatten(structure)):
        raise ValueError(f"The target structure is of type `{type(structure)}`\n  {structure}\nHowever the input is a "
                         f"sequence ({type(flat_sequence)}) of length {len(flat)}.\n  {flat_sequence}\nWe can't pack "
                         "the input into the target structure.")
    leaves = iter(flat)

    def build(s):
        if not is_nested(s):
            return next(leaves)
        return _rebuilt(s, [build(child) for _, child in _children(s)])

    return build(structure)


def assert_same_structure(a, b, check_types=None):
    """Raise ValueError unless ``a`` and ``b`` nest alike (containers of the same kinds and sizes)."""
    if is_nested(a) != is_nested(b):
        raise ValueError("Structures don't have the same nested structure.")
    if not is_nested(a):
        return
    if type(a) is not type(b) and not (isinstance(a, dict) and isinstance(b, dict)):
        raise ValueError(f"Expected an instance of {type(a).__name__}, got {b!r}.")
    if isinstance(a, dict) and sorted(map(str, a)) != sorted(map(str, b)) or len(a) != len(b):
        raise ValueError("Structures don't have the same nested structure.")
    for (_, x), (_, y) in zip(_children(a), _children(b)):
        assert_same_structure(x, y, check_types)


def assert_same_paths(a, b):
    """Raise ValueError unless ``a`` and ``b`` have leaves at the same paths."""
    paths_a = {path for path, _ in flatten_with_path(a)}
    paths_b = {path for path, _ in flatten_with_path(b)}
    if paths_a != paths_b:
        raise ValueError(f"`a` and `b` don't have the same paths. `a` has paths {sorted(map(str, paths_a - paths_b))} "
                         f"which are not in `b`, and `b` has paths {sorted(map(str, paths_b - paths_a))} which are "
                         "not in `a`.")


def map_structure(func, *structures, none_is_leaf=True):
    """``func`` of the leaves at each place of ``structures`` (which nest alike), in their structure."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    for other in structures[1:]:
        assert_same_structure(structures[0], other)
    def walk(parts):  # (a dict's values paired by key, whatever each dict's order)
        first = parts[0]
        if not is_nested(first):
            return func(*parts)
        keys = _keys(first) if isinstance(first, dict) else range(len(first))
        return _rebuilt(first, [walk([part[key] for part in parts]) for key in keys])

    return walk(list(structures))


def map_structure_up_to(shallow_structure, func, *structures):
    """``func`` of the parts of ``structures`` at each leaf of ``shallow_structure`` (deeper parts given whole)."""
    def parts(structure, shallow):
        if not is_nested(shallow):
            return [structure]
        return [part for (key, child) in _children(shallow)
                for part in parts(structure[key], child)]

    results = [func(*values) for values in zip(*(parts(s, shallow_structure) for s in structures))]
    return pack_sequence_as(shallow_structure, results)


def traverse(func, structure, top_down=True):
    """Each container and leaf given to ``func``, top down (a result other than None replaces that part and
    stops the walk there; ``MAP_TO_NONE`` puts None) or bottom up (``func`` gets each part already traversed)."""
    def walk(s):
        if top_down:
            result = func(s)
            if result is MAP_TO_NONE:
                return None
            if result is not None:
                return result
            return _rebuilt(s, [walk(child) for _, child in _children(s)]) if is_nested(s) else s
        inner = _rebuilt(s, [walk(child) for _, child in _children(s)]) if is_nested(s) else s
        result = func(inner)
        return None if result is MAP_TO_NONE else (inner if result is None else result)

    return walk(structure)


def lists_to_tuples(structure):
    """``structure`` with every list a tuple."""
    if not is_nested(structure):
        return structure
    values = [lists_to_tuples(child) for _, child in _children(structure)]
    return tuple(values) if isinstance(structure, list) else _rebuilt(structure, values)


def _is_shape(value) -> bool:
    return isinstance(value, (list, tuple)) and all(d is None or isinstance(d, int) for d in value)


def map_shape_structure(func, structure):
    """``func`` of each shape (a tuple or list of ints and None) in ``structure``, shapes taken as leaves."""
    if _is_shape(structure) or not is_nested(structure):
        return func(structure)
    return _rebuilt(structure, [map_shape_structure(func, child) for _, child in _children(structure)])


__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten", "flatten_with_path", "is_nested",
           "lists_to_tuples", "map_shape_structure", "map_structure", "map_structure_up_to", "pack_sequence_as",
           "traverse"]
