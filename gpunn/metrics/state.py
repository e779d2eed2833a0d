"""Where metric state lives: one flat float64 buffer, cut into named views per owner (a metric, a loss tracker).

A compiled model keeps the state of its loss tracker and of every metric in one device buffer (a step adds
into it, the host reads it back in one copy and sums it across ranks in one allreduce); a metric used on its
own keeps the same layout in a host buffer of its own. Every state variable is a sum (of counts, values,
squares or weights), so the sum over ranks of each rank's state is the state of all the data.
"""
from __future__ import annotations

import math

import numpy as np


class StateLayout:
    """Offsets of each owner's named state arrays in one flat buffer; ``shapes``: one {name: shape} per owner."""

    def __init__(self, shapes: list[dict]):
        self.spans: list[tuple[int, int]] = []  # (start, stop) of each owner's contiguous part
        self._fields: list[dict] = []  # per owner, {name: (offset, shape)}
        offset = 0
        for owner in shapes:
            start, fields = offset, {}
            for name, shape in owner.items():
                shape = tuple(int(d) for d in shape)
                fields[name] = (offset, shape)
                offset += math.prod(shape)
            self.spans.append((start, offset))
            self._fields.append(fields)
        self.size = offset

    @property
    def fields(self) -> list[dict]:
        """Per owner, {name: (offset, shape)}: two layouts with equal fields cut a buffer the same way."""
        return self._fields

    def views(self, flat) -> list[dict]:
        """Per owner, {name: view of ``flat``} (a 0-d view for a scalar): adding into a view adds into ``flat``."""
        return [{name: flat[at:at + math.prod(shape)].reshape(shape) for name, (at, shape) in fields.items()}
                for fields in self._fields]


class StateValue(np.ndarray):
    """A state variable of a metric as ``metric.variables`` reads it back: a host copy of its values, with
    Keras Variable's ``name`` ('true_positives'), ``path`` ('precision/true_positives'), ``numpy()`` and
    ``trainable`` (False)."""

    trainable = False

    def __new__(cls, values, name: str, path: str):
        value = np.asarray(values).view(cls)
        value.name, value.path = name, path
        return value

    def __array_finalize__(self, obj):
        self.name, self.path = getattr(obj, "name", None), getattr(obj, "path", None)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # what arithmetic makes of it is a plain array, not another metric's variable
        plain = array.view(np.ndarray)
        return plain[()] if return_scalar else plain

    def __reduce__(self):  # (pickled with its name and path)
        return StateValue, (np.asarray(self), self.name, self.path)

    def numpy(self) -> np.ndarray:
        return np.asarray(self)

    @property
    def value(self) -> np.ndarray:
        return np.asarray(self)

    def assign(self, value):
        raise NotImplementedError(f"{self.path}: metric.variables holds copies of the metric's state, read back from "
                                  "where its steps add into it; reset_state() sets it to its start")
