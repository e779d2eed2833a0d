"""Differentiable array functions for the functions users write (custom losses and metrics): ``keras.ops``'s
names (``gpunn.ops``) and tf.keras's backend functions (``gpunn.backend``), computed eagerly on NumPy or CuPy
arrays, with reverse-mode gradients (``tensor.py``)."""
from __future__ import annotations

from . import (array_building, array_functions, attention, composed_functions, control_flow, elementwise_functions,
               extra_functions, fourier_functions, functions, image_colors, image_filters, image_functions,
               index_functions, linalg_solvers, nan_statistics, pixel_shuffle, rearrange, sparsemax,
               special_functions)
from .tensor import Tensor, array_module, gradients


def _public_functions(module) -> dict:
    """The functions ``module`` defines (or makes with functions.py's helpers), by name."""
    return {name: value for name, value in vars(module).items()
            if callable(value) and not name.startswith("_") and not isinstance(value, type)
            and getattr(value, "__module__", "") in (module.__name__, functions.__name__)
            and name not in ("array_module", "epsilon")}


# keras.ops's names that gpunn.ops provides, in one place for gpunn.ops to export
OPS_FUNCTIONS = {**_public_functions(functions), **_public_functions(elementwise_functions),
                 **_public_functions(array_functions), **_public_functions(extra_functions),
                 **_public_functions(special_functions), **_public_functions(composed_functions),
                 **_public_functions(fourier_functions), **_public_functions(array_building),
                 **_public_functions(nan_statistics), **_public_functions(index_functions),
                 **_public_functions(control_flow), **_public_functions(linalg_solvers),
                 **_public_functions(pixel_shuffle), **_public_functions(sparsemax),
                 **_public_functions(rearrange), **_public_functions(attention)}
OPS_FUNCTIONS.update({"abs": functions.abs, "amax": functions.amax, "amin": functions.amin,
                      "true_divide": functions.true_divide, "swish": functions.swish,
                      # Keras's int8 rule, for these two names only (gpunn's own products keep NumPy's dtypes)
                      "matmul": functions._keras_matmul, "einsum": array_functions._keras_einsum})
OPS_NAMES = sorted(OPS_FUNCTIONS)
# keras.ops.image's, exported as gpunn.ops.image only (Keras has no keras.ops.resize)
IMAGE_FUNCTIONS = {**_public_functions(image_functions), **_public_functions(image_colors),
                   **_public_functions(image_filters)}

__all__ = ["Tensor", "array_module", "gradients", "functions", "OPS_FUNCTIONS", "OPS_NAMES", "IMAGE_FUNCTIONS"]
