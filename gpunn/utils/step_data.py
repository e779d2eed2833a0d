"""``keras.utils.pack_x_y_sample_weight`` / ``unpack_x_y_sample_weight``: the batch a model's step is handed
(``data`` in a ``predict_step`` of one's own), as keras/src/trainers/data_adapters/data_adapter_utils.py packs and
unpacks it."""
from __future__ import annotations


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, None for what is
    left out."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) == 1:
        return (data[0], None, None)
    if len(data) == 2:
        return (data[0], data[1], None)
    if len(data) == 3:
        return (data[0], data[1], data[2])
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found: {data}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch as Keras hands it to a step: ``x`` alone when it is one array (or a dict), ``(x,)`` when it is
    a tuple or list of inputs, else ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return x if not isinstance(x, (tuple, list)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)
