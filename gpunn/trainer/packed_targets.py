"""The targets of a model of several outputs, packed into one array as its inputs are (``layers/packed_inputs.py``):
each sample's targets of every output, flattened and side by side, output 0's first. Everything on the data
side (checks, shuffles, batches, shards over ranks, device feeds, recorded steps and CUDA graphs) then handles
one target array, as for any model.

Only the outputs with a loss (``trained``) have targets. ``pack`` makes that array from what a user passes, as
Keras takes it: a list or tuple in the order of the outputs, or a dict by output name; with an output left
untrained, also a list of the trained outputs' targets alone, or their one array when one output is trained
(what is given for an untrained output is not used). Integer class ids (a sparse loss's targets) and float targets share the
array in float64, which holds both exactly; otherwise it is in the model's dtype. ``split`` hands each output's
loss its targets before the loss runs, copied into buffers of their own per batch size, class ids as int64 (a
step allocates nothing once they exist).
"""
from __future__ import annotations

import math

import numpy as np

from ..layers.packed_inputs import pack_columns
from ..ops.workspace import Workspaces


class PackedTargets:
    def __init__(self, names: list, keys: list | None, sparse: list, output_shapes: list, dtype,
                 trained: list | None = None):
        self.names, self.keys = list(names), keys
        self.trained = list(range(len(names))) if trained is None else list(trained)  # the outputs with targets
        self.shapes = [tuple(output_shapes[k][:-1]) if sparse[k] else tuple(output_shapes[k]) for k in self.trained]
        self.dtypes = [np.dtype(np.int64) if sparse[k] else np.dtype(dtype) for k in self.trained]
        self.widths = [math.prod(shape) for shape in self.shapes]
        self.offsets = [sum(self.widths[:k]) for k in range(len(self.widths))]
        self.width = sum(self.widths)
        self.dtype = np.dtype(np.float64) if any(sparse[k] for k in self.trained) else np.dtype(dtype)
        self._workspaces = None

    @property
    def trained_names(self) -> list:
        """The names of the outputs with targets, as errors name them."""
        return [(self.keys or self.names)[k] for k in self.trained]

    # ---- the host side ---------------------------------------------------------------------------------
    def position(self, key) -> int | None:
        """The output a dict key names: a key of the outputs' dict first (it may be another output's layer
        name), else a layer name; None when it names none."""
        if self.keys and key in self.keys:
            return self.keys.index(key)
        return self.names.index(key) if key in self.names else None

    def per_output(self, argument: str, y) -> list:
        """What was passed for the outputs with targets, one value each in the model's order."""
        count, trained = len(self.names), self.trained
        if isinstance(y, dict):
            values: list = [None] * count
            unknown = []
            for key, value in y.items():
                position = self.position(key)
                if position is None:
                    unknown.append(str(key))
                elif values[position] is not None:
                    raise ValueError(f"{argument}: two keys give the targets of output {self.names[position]!r}")
                else:
                    values[position] = value
            unknown.sort()
            missing = [(self.keys or self.names)[k] for k in trained if values[k] is None]
            if unknown or missing:
                raise ValueError(f"{argument}: expected a dict of the targets of the model's outputs "
                                 f"{self.trained_names}; " + (f"unknown keys {unknown}" if unknown else
                                                              f"missing {missing}"))
            return [values[k] for k in trained]
        if isinstance(y, (list, tuple)) and len(y) == count:
            return [y[k] for k in trained]
        if isinstance(y, (list, tuple)) and len(y) == len(trained):
            return list(y)
        if len(trained) == 1 and not isinstance(y, (list, tuple)):
            return [y]
        got = f"a {type(y).__name__} of {len(y)}" if isinstance(y, (list, tuple)) else type(y).__name__
        if len(trained) < count:
            raise ValueError(f"{argument}: the model has {count} outputs {self.names}, {len(trained)} with a loss "
                             f"{self.trained_names}; expected a list or tuple of the targets of all {count} or of "
                             f"those {len(trained)}, in the outputs' order, or a dict by output name, got {got}")
        raise ValueError(f"{argument}: the model has {count} outputs {self.names}; expected a list or tuple of "
                         f"{count} target arrays in that order, or a dict by output name, got {got}")

    def pack(self, argument: str, y, convert) -> np.ndarray:
        """The packed host array of what was passed for the outputs. ``convert(k, name, value)``: the targets of
        output ``trained[k]`` as a checked host array (``name`` names them in errors)."""
        full = isinstance(y, (list, tuple)) and len(y) == len(self.names)
        return pack_columns(self, argument, y, self.per_output(argument, y), convert, self.dtype, "outputs' targets",
                            self.trained_names, self.trained if full else None)

    # ---- the device side -------------------------------------------------------------------------------
    def split(self, ops, y) -> list:
        """The outputs' targets in the packed batch ``y`` (rows, width), each (rows,) + its sample shape, in its
        own dtype."""
        if self._workspaces is None or self._workspaces.ops is not ops:
            self._workspaces = Workspaces(ops)
        rows = y.shape[0]
        ws = self._workspaces(rows)
        parts = []
        for k, (shape, dtype, offset, width) in enumerate(zip(self.shapes, self.dtypes, self.offsets, self.widths)):
            part = ws.buffer(f"target{k}", (rows,) + shape, dtype)
            view = part.reshape(rows, width)
            if dtype == y.dtype:
                ops.copy_into(y[:, offset:offset + width], view)
            else:
                ops.cast_into(y[:, offset:offset + width], view)
            parts.append(part)
        return parts
