"""What eager calls give back on the CPU: NumPy arrays with ``.numpy()``, as tf.keras's EagerTensors have (a layer
or model call, a weight's slice or arithmetic: ``layer.kernel[:, 0].numpy()``, as the TF tutorials plot weights)."""
from __future__ import annotations

import numpy as np


class CallResult(np.ndarray):
    """A NumPy array with ``.numpy()`` (a plain ndarray copy-free view), as tf.keras outputs have."""

    def numpy(self):
        """The plain ndarray (a view, no copy); of a 0-d result its NumPy scalar, as an EagerTensor's ``numpy()``
        gives ``np.float32(2.78)``."""
        plain = self.view(np.ndarray)
        return plain[()] if plain.ndim == 0 else plain

    def __getattr__(self, name: str):
        # (only for names an ndarray lacks: a torch loop's loss.backward() or output.grad gets what to do instead)
        from ..foreign_loops import missing_result_attribute

        return missing_result_attribute(self, name)


def call_result(ops, y):
    """``y`` as what a layer or model call returns: a ``CallResult`` on the CPU, the CuPy array on a GPU."""
    return y.view(CallResult) if ops.on_host else y


def host_result(value):
    """A host array or NumPy scalar as a ``CallResult`` (a scalar as a 0-d one, as an EagerTensor is); anything
    else (a CuPy array) as it is."""
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, CallResult):
        return np.asarray(value).view(CallResult)
    return value
