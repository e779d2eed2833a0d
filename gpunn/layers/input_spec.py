"""Keras's ``InputSpec`` (keras/src/layers/input_spec.py): a layer of the user's sets ``self.input_spec`` (one
spec, or a list of them, one per input) and every call checks its inputs' rank, shape, named axes and dtype
against it before the layer is built or run, with Keras's messages.

gpunn's layers know their samples' shapes; a spec's shapes are Keras's, with the batch axis first (None where the
batch is not known yet: a layer assembled into a model).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import standardize_dtype


class InputSpec:
    """What a layer's input must be: ``dtype``, ``shape`` (batch axis included, None for any size), ``ndim``,
    ``max_ndim``, ``min_ndim``, ``axes`` ({axis: size}), ``allow_last_axis_squeeze`` (a last axis of 1 may be
    missing on either side), ``name`` and ``optional``, as Keras's."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = standardize_dtype(dtype) if dtype is not None else None
        if shape is not None:
            self.shape = tuple(None if d is None else int(d) for d in shape)
            self.ndim = len(self.shape)
        else:
            self.ndim, self.shape = ndim, None
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.name, self.optional = name, optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError):
            raise TypeError(f"Argument `axes` must be a dict with integer keys. Received: axes={axes}") from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.max_ndim) - 1
            if max(self.axes) > max_dim:
                raise ValueError(f"Axis {max(self.axes)} is greater than the maximum allowed value: {max_dim}")

    def __repr__(self) -> str:
        parts = [f"dtype={self.dtype}" if self.dtype else "", f"shape={self.shape}" if self.shape else "",
                 f"ndim={self.ndim}" if self.ndim else "", f"max_ndim={self.max_ndim}" if self.max_ndim else "",
                 f"min_ndim={self.min_ndim}" if self.min_ndim else "", f"axes={self.axes}" if self.axes else ""]
        return f"InputSpec({', '.join(p for p in parts if p)})"

    def get_config(self) -> dict:
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes, "optional": self.optional}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def check_layer_inputs(layer, sample_shapes, batch=None, dtypes=None) -> None:
    """Keras's ``assert_input_compatibility`` for ``layer``'s ``input_spec``, if it has one: ``sample_shapes``
    is one sample shape or a list of them (merged inputs), ``batch`` the batch size when known, ``dtypes`` the
    inputs' dtypes when known."""
    specs = getattr(layer, "input_spec", None)
    if not specs:
        return
    specs = list(specs) if isinstance(specs, (list, tuple)) else [specs]
    several = isinstance(sample_shapes, list)
    shapes = [(batch,) + tuple(s) for s in (sample_shapes if several else [sample_shapes])]
    dtypes = list(dtypes) if isinstance(dtypes, (list, tuple)) else [dtypes] * len(shapes)
    if len(shapes) != len(specs):
        raise ValueError(f'Layer "{layer.name}" expects {len(specs)} input(s), but it received {len(shapes)} '
                         f"input tensors.")
    for index, (shape, dtype, spec) in enumerate(zip(shapes, dtypes, specs)):
        if spec is not None:
            _check(spec, index, shape, dtype, layer.name)


def _check(spec: InputSpec, index: int, shape: tuple, dtype, layer_name: str) -> None:
    ndim = len(shape)
    where = f"Input {index} with name '{spec.name}' of layer '{layer_name}' is incompatible with the layer"
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(f"{where}: expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {shape}")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{where}: expected max_ndim={spec.max_ndim}, found ndim={ndim}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(f"{where}: expected min_ndim={spec.min_ndim}, found ndim={ndim}. Full shape received: "
                         f"{shape}")
    if spec.dtype is not None and dtype is not None:
        found = standardize_dtype(np.dtype(dtype))
        if found != spec.dtype:
            raise ValueError(f"{where}: expected dtype={spec.dtype}, found dtype={found}")
    for axis, value in spec.axes.items():
        if value is not None and shape[axis] not in (value, None):
            raise ValueError(f"{where}: expected axis {axis} of input shape to have value {value}, but received "
                             f"input with shape {shape}")
    if spec.shape is not None:
        expected = spec.shape
        if spec.allow_last_axis_squeeze:
            shape = shape[:-1] if shape and shape[-1] == 1 else shape
            expected = expected[:-1] if expected and expected[-1] == 1 else expected
        for want, got in zip(expected, shape):
            if want is not None and got is not None and want != got:
                raise ValueError(f"{where}: expected shape={spec.shape}, found shape={shape}")
