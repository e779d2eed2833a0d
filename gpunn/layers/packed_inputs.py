"""A model of several inputs (``keras.Model(inputs=[a, b], ...)``) runs on one array: each sample's features of
every input, flattened and side by side, input 0's first. Everything on the data side (checks, shuffles, batches,
shards over ranks, device feeds, recorded steps and CUDA graphs) then handles one array, as for any model.

``pack`` makes that array from what a user passes, as Keras takes it: a list or tuple in the order of
``model.inputs``, or a dict by input name (keys naming no input, a table's other columns, are left unused with a
warning, as Keras leaves them). ``split`` hands each input its columns before the first layer runs,
copied into buffers of its own for the batch size (contiguous, as the layers take them; a step allocates
nothing once they exist).
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np

from ..ops.workspace import Workspaces


class PackedInputs:
    def __init__(self, names: list, shapes: list):
        self.names = list(names)
        self.shapes = [tuple(shape) for shape in shapes]
        self.widths = [math.prod(shape) for shape in self.shapes]
        self.offsets = [sum(self.widths[:k]) for k in range(len(self.widths))]
        self.width = sum(self.widths)
        self.ops = None
        self._workspaces = None
        # the keys of a dict of inputs in the order the model was given them (None: a list): a list passed for
        # them is matched in sorted key order, as Keras matches it, and refused where that order is not the dict's
        self.dict_order = None

    def bind(self, ops) -> None:
        if self.ops is not ops:
            self.ops, self._workspaces = ops, Workspaces(ops)

    # ---- the device side -------------------------------------------------------------------------------
    def split(self, x) -> list:
        """The inputs in the packed batch ``x`` (rows, width), each (rows,) + its sample shape."""
        rows = x.shape[0]
        ws = self._workspaces(rows)
        parts = []
        for k, (shape, offset, width) in enumerate(zip(self.shapes, self.offsets, self.widths)):
            part = ws.buffer(f"input{k}", (rows,) + shape, x.dtype)
            self.ops.copy_into(x[:, offset:offset + width], part.reshape(rows, width))
            parts.append(part)
        return parts

    def pack_device(self, argument: str, arrays: list, dtype):
        """The packed array of device arrays (a model called on CuPy arrays stays on the GPU)."""
        xp = self.ops.xp
        self._check_shapes(argument, [tuple(a.shape) for a in arrays])
        return xp.concatenate([xp.asarray(a, dtype=dtype).reshape(len(a), -1) for a in arrays], axis=1)

    # ---- the host side ---------------------------------------------------------------------------------
    def per_input(self, argument: str, x, warn: bool = True) -> list:
        """What was passed for the inputs, as one value per input in the model's order (``warn``: of a dict's
        keys left unused)."""
        count = len(self.names)
        if isinstance(x, dict):
            missing = [name for name in self.names if name not in x]
            if missing:
                raise ValueError(f"{argument}: expected a dict of the model's inputs {self.names}; missing {missing}")
            unknown = sorted(str(key) for key in x if key not in self.names)
            if unknown and warn:  # Keras takes the inputs' keys and leaves the others (a table's unused columns)
                # one message for every batch of a dataset (not "batch 5 of ..."), which Python then shows once
                where = re.sub(r"\bbatch \d+ of\b", "a batch of", argument)
                warnings.warn(f"{where}: the dict holds keys that name none of the model's inputs, which are "
                              f"left unused: {unknown} (the inputs: {self.names})", UserWarning, stacklevel=2)
            return [x[name] for name in self.names]
        if isinstance(x, (list, tuple)) and len(x) == count:
            if self.dict_order is not None:
                self._check_list_for_dict(argument, x, warn)
            return list(x)
        got = f"a {type(x).__name__} of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
        raise ValueError(f"{argument}: the model has {count} inputs {self.names}; expected a list or tuple of "
                         f"{count} arrays in that order, or a dict by input name, got {got}")

    def _check_list_for_dict(self, argument: str, x, warn: bool) -> None:
        """Keras's ``Functional._standardize_inputs``: a list for a dict of inputs is flattened as a dict is, in
        sorted key order; that is refused where the dict's own order differs (which a list written in it would
        silently swap), and warned of otherwise."""
        keys, in_order = self.dict_order, sorted(self.dict_order)
        what = (f"{argument}: The structure of `inputs` doesn't match the expected structure: the model takes a "
                f"dict of inputs {keys} and got a {type(x).__name__} of {len(x)}")
        if keys != in_order:
            raise ValueError(f"{what}, which Keras matches to the keys in sorted order {in_order}, not the dict's; "
                             "pass a dict by input name")
        if warn:
            warnings.warn(f"{what}, matched to the keys in sorted order {in_order}", UserWarning, stacklevel=3)

    def pack(self, argument: str, x, dtype, convert) -> np.ndarray:
        """The packed host array of what was passed for the inputs. ``convert(k, name, value)``: input k's
        value as a checked host array of its samples' shape in ``dtype`` (``name`` names it in errors)."""
        return pack_columns(self, argument, x, self.per_input(argument, x), convert, dtype, "inputs")

    def _check_shapes(self, argument: str, shapes: list) -> None:
        if len(shapes) != len(self.shapes):
            raise ValueError(f"{argument}: the model has {len(self.shapes)} inputs {self.names}, got {len(shapes)} "
                             "arrays")
        for k, (shape, expected) in enumerate(zip(shapes, self.shapes)):
            if tuple(shape[1:]) != expected:
                raise ValueError(f"{argument}[{k}]: input {self.names[k]!r} takes samples of shape {expected}, got "
                                 f"samples of shape {tuple(shape[1:])}")
        if len({shape[0] for shape in shapes}) > 1:
            raise ValueError(f"{argument}: the inputs have different numbers of samples {[s[0] for s in shapes]}")


def pack_columns(layout, argument: str, given, values: list, convert, dtype, what: str,
                 names: list | None = None, positions: list | None = None) -> np.ndarray:
    """One host array of ``values`` side by side, as ``layout`` (its ``offsets``, ``widths`` and ``width``)
    places them: each converted by ``convert(k, name, value)``, all of one number of samples (``what`` names them
    in that error). ``name`` is how errors name value k: by ``names[k]`` (default ``layout.names``) when
    ``given`` was a dict, else by its place in ``given``, ``positions[k]`` (default k)."""
    names = layout.names if names is None else names
    arrays = []
    for k, value in enumerate(values):
        place = k if positions is None else positions[k]
        name = f"{argument}[{names[k]!r}]" if isinstance(given, dict) else f"{argument}[{place}]"
        arrays.append(convert(k, name, value))
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"{argument}: the {what} have different numbers of samples {lengths}; each needs one row "
                         "per sample")
    rows = lengths[0]
    packed = np.empty((rows, layout.width), dtype=dtype)
    for array, offset, width in zip(arrays, layout.offsets, layout.widths):
        packed[:, offset:offset + width] = array.reshape(rows, width)
    return packed
