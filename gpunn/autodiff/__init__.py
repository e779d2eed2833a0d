"""Differentiable array functions for the functions users write (custom losses and metrics): ``keras.ops``'s
names (``gpunn.ops``) and tf.keras's backend functions (``gpunn.backend``), computed eagerly on NumPy or CuPy
arrays, with reverse-mode gradients (``tensor.py``)."""
from __future__ import annotations

from . import functions
from .tensor import Tensor, array_module, gradients

# keras.ops's names that gpunn.ops provides (functions.py), in one place for gpunn.ops to export
OPS_NAMES = sorted(
    name for name, value in vars(functions).items()
    if callable(value) and not name.startswith("_") and getattr(value, "__module__", "") == functions.__name__
    and name not in ("array_module", "epsilon")
) + ["abs", "amax", "amin", "true_divide", "swish"]

__all__ = ["Tensor", "array_module", "gradients", "functions", "OPS_NAMES"]
