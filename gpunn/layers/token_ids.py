"""Integer ids given to a model's first layer (Embedding's token ids, CategoryEncoding's categories): they reach
the layer in the model's float dtype, exactly for ids below 2**24 in float32 and 2**53 in float64, so they are
checked on the host before any work: integers in [0, count), each one named with its index when it is not
(TensorFlow raises at the lookup; JAX silently clamps or drops)."""
from __future__ import annotations

import numpy as np

# The largest integer n such that every id in [0, n] is exact in the dtype (then every id below it is).
EXACT_IDS = {np.dtype(np.float32): 2 ** 24, np.dtype(np.float64): 2 ** 53}


def check_ids(argument: str, x, count: int, layer_name: str, what: str, dtype, noun: str = "ids") -> None:
    """Refuse ids in ``x`` that are not integers in [0, ``count``) for layer ``layer_name`` (``what``: how the
    layer names the count, 'input_dim=10'; ``noun``: what it calls them), or that the model's ``dtype`` would not
    hold exactly."""
    x = np.asarray(x)
    if x.dtype.kind == "b":
        raise TypeError(f"{argument}: expected {noun} (integers in [0, {count})) for layer {layer_name!r}, got booleans")
    if x.size == 0:
        return
    bad = (x < 0) | (x >= count)
    if x.dtype.kind == "f":
        bad |= x != np.floor(x)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{argument}: expected {noun}, integers in [0, {count}) for layer {layer_name!r} ({what}), got "
                         f"{x[index].item()!r} at index {index}")
    limit = EXACT_IDS.get(np.dtype(dtype))
    if limit is not None and count > limit and x.max() > limit:
        raise ValueError(f"{argument}: id {x.max()} is above {limit:,}, the largest the model's dtype holds exactly "
                         "(gpunn passes ids in the model's dtype); build the model in float64 "
                         "(gpunn.Input(shape=..., dtype='float64'))")
