"""Names as keras/src/utils/naming.py makes them: snake case (``to_snake_case``: the prefix of generated layer
names, "re_lu", "p_re_lu", and the names of layers in Keras's weights files, "layers/dense_1"), and the one table
of uids that generated names and ``keras.backend.get_uid`` share ("dense", then "dense_1"...), which
``clear_session`` resets."""
from __future__ import annotations

import collections
import re

_object_name_uids: collections.defaultdict = collections.defaultdict(int)


def snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def container_name(name: str, used: dict) -> str:
    """``name`` made unique among the names ``used`` so far in one container ('dense', 'dense_1', ...), as Keras's
    weights files name the layers of a list (saving_lib.py ``_get_unique_name``); ``used`` is updated."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def uniquify(name: str) -> str:
    """``name`` the first time, then ``name_1``, ``name_2``... (Keras's ``uniquify``)."""
    uid = _object_name_uids[name]
    _object_name_uids[name] += 1
    return name if uid == 0 else f"{name}_{uid}"


def pass_over(names) -> None:
    """Let ``uniquify`` generate none of ``names`` ('dense', 'dense_3'): the names a config gives its layers, while
    a model made again from its class beside them names its own (a functional model's layers are named uniquely)."""
    for name in names:
        stem, _, number = name.rpartition("_")
        prefix, uid = (stem, int(number) + 1) if stem and number.isdigit() and not number.startswith("0") else (name, 1)
        _object_name_uids[prefix] = max(_object_name_uids[prefix], uid)


def get_uid(prefix: str = "") -> int:
    """``keras.backend.get_uid``: the prefix's counter, counted up: 1 at its first call, then 2, 3... It counts
    with the generated names: after ``get_uid("dense")`` the next ``Dense()`` is named "dense_1"."""
    _object_name_uids[prefix] += 1
    return _object_name_uids[prefix]


def reset_uids() -> None:
    _object_name_uids.clear()
