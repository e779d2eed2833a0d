"""``keras.ops.rearrange``: einops-style axis rearrangement (``"b h w c -> b (h w) c"``), done as Keras does it:
split the grouped input axes (their lengths from the keyword arguments, one of a group inferred), transpose, then
merge the grouped output axes. Composed of ``reshape`` and ``transpose``, so differentiable."""
from __future__ import annotations

import math
import re

from . import functions as f


def _groups(axes: list) -> list:
    """Each axis of a side as the list of names it holds: ``"(h w)"`` -> ``["h", "w"]``, ``"c"`` -> ``["c"]``."""
    return [re.findall(r"\w+", axis) if axis.startswith("(") else [axis] for axis in axes]


def rearrange(tensor, pattern, **axes_lengths):
    """``tensor`` rearranged by ``pattern`` (``"input axes -> output axes"``, grouped axes in parentheses);
    ``axes_lengths`` give the lengths of the axes a group splits (one per group may be left to infer)."""
    input_side, output_side = re.split(r"\s*->\s*", pattern)
    input_groups = _groups(re.findall(r"\w+|\(.*?\)", input_side))
    output_groups = _groups(re.findall(r"\w+|\(.*?\)", output_side))
    shape = f._shape(tensor)
    if len(input_groups) != len(shape):
        raise ValueError(f"rearrange: the pattern's input {input_side!r} names {len(input_groups)} axes, the tensor "
                         f"has {len(shape)} (shape {shape})")
    lengths = dict(axes_lengths)
    for group, size in zip(input_groups, shape):
        if len(group) == 1 and group[0] not in lengths:
            lengths[group[0]] = size
            continue
        unknown = [name for name in group if name not in lengths]
        if len(unknown) > 1:
            raise ValueError(f"rearrange: give the lengths of all but one of the axes {group} (as keyword arguments)")
        if unknown:
            lengths[unknown[0]] = size // math.prod(lengths[name] for name in group if name in lengths)
    names = [name for group in input_groups for name in group]
    missing = [name for group in output_groups for name in group if name not in names]
    if missing:
        raise ValueError(f"rearrange: the output names axes the input does not have: {missing}")
    split = tuple(lengths[name] for name in names)
    if split != shape:
        tensor = f.reshape(tensor, split)
    order = [names.index(name) for group in output_groups for name in group]
    tensor = f.transpose(tensor, order)
    return f.reshape(tensor, tuple(math.prod(lengths[name] for name in group) for group in output_groups))
