"""Keras's snake-case names (keras/src/utils/naming.py ``to_snake_case``): the prefix of generated layer names
("re_lu", "p_re_lu") and the names of layers in Keras's weights files ("layers/dense_1")."""
from __future__ import annotations

import re


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
