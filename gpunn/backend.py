"""``keras.backend`` functions a tf.keras script calls: Keras 3's (``clear_session``, ``backend``, ``floatx``,
``epsilon``, ``image_data_format``, ``get_uid``, ``is_keras_tensor``, the dtype helpers of ``gpunn/dtypes.py``), and
tf.keras's array functions that custom metrics and losses are written with (``K.mean``, ``K.round``, ``K.epsilon``...:
``autodiff/legacy_backend.py``).

Keras 3 exports ``clear_session`` as both ``keras.backend.clear_session`` and ``keras.utils.clear_session``
(keras/src/backend/common/global_state.py); gpunn does the same (``gpunn.utils.clear_session``).
"""
from __future__ import annotations

import gc
import sys

from . import _compat, dtype_policies, naming
from .config import backend, image_data_format, set_image_data_format  # noqa: F401  (Keras 3's keras.backend names)
from .dtypes import is_float_dtype, is_int_dtype, result_type, standardize_dtype  # noqa: F401
from .naming import get_uid  # noqa: F401
from . import random as gpunn_random
from .autodiff import legacy_backend as _legacy
from . import legacy_backend_values as _values

globals().update({_name: getattr(_legacy, _name) for _name in _legacy.NAMES})
globals().update({_name: getattr(_values, _name) for _name in _values.NAMES})

__all__ = ["clear_session", "backend", "image_data_format", "set_image_data_format", "is_keras_tensor", "get_uid",
           "standardize_dtype", "is_float_dtype", "is_int_dtype", "result_type", *_legacy.NAMES, *_values.NAMES]


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic value of a functional model being built (``keras.Input(...)`` and what
    layers make of it), as ``keras.backend.is_keras_tensor``."""
    from .utils.symbolic_values import is_keras_tensor as symbolic  # gpunn.utils imports this module

    return symbolic(x)


def clear_session(free_memory=True) -> None:
    """Reset the state gpunn keeps between models, as ``keras.backend.clear_session`` does.

    - Generated names start again: the next ``Dense()`` is ``"dense"``, the next model ``"sequential"``, the next
      ``AUC()`` ``"auc"`` (Keras's example 2). Models and layers already made keep their names.
    - The random state: Keras drops its global seed generator and the seed ``set_random_seed`` stored; the next
      one is seeded from Python's ``random`` (``make_default_seed``). gpunn's generator (weight initialisation,
      shuffling, dropout seeds) is re-seeded the same way, so ``set_random_seed(s)`` then ``clear_session()``
      still repeats bit for bit, and two ``clear_session()`` calls in a row do not give the same weights.
    - ``free_memory=True``: a garbage collection, and on the GPU CuPy's pools hand their cached blocks back to
      the device (Keras's TensorFlow backend clears its caches there too).

    Python's ``random`` and NumPy's global generator are left as they are, as in Keras. The backend chosen with
    ``gpunn.set_backend`` is a choice of the program, not state Keras has, and stays.
    """
    if not isinstance(free_memory, (bool, int)):
        raise TypeError(f"free_memory: expected True or False, got {free_memory!r}")
    # Keras resets its name uids with its global state (keras/src/backend/common/global_state.py).
    naming.reset_uids()
    from .standalone_variables import reset_names

    reset_names()  # (keras.Variable's names too)
    dtype_policies.set_global_policy(None)  # (Keras's global policy is global state it clears)
    gpunn_random.reseed_from_python_random()
    if free_memory:
        gc.collect()
        if "cupy" in sys.modules:  # only when this process used CuPy: never probe for a GPU here
            cupy = _compat.cupy()
            if cupy is not None:
                cupy.get_default_memory_pool().free_all_blocks()
                cupy.get_default_pinned_memory_pool().free_all_blocks()


def __getattr__(name: str):
    from .beyond_mlps import stand_in  # Keras's names gpunn leaves out say so (beyond_mlps.py)

    return stand_in(__name__, name)
