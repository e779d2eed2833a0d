"""Backend choice: one Ops object, chosen once (or for a scope) and captured by a model when it is built.

    gpunn.set_backend("cupy")          # for the rest of the program
    with gpunn.use_backend("numpy"):   # for a block, restoring the previous choice after
        ...

The default is ``GPUNN_BACKEND`` from the environment, else ``"auto"``: CuPy when a GPU works, else NumPy.
"""
from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import os
import sys
import warnings

from .. import _compat
from .base import Ops
from .numpy_ops import NumpyOps

BACKENDS = ("auto", "numpy", "cupy")

_current: contextvars.ContextVar[Ops | None] = contextvars.ContextVar("gpunn_ops", default=None)
_instances: dict[str, Ops] = {}


class BackendUnavailableError(RuntimeError):
    """The backend asked for cannot run on this machine."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        close = difflib.get_close_matches(str(name).lower(), BACKENDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}.{hint}")
    return name.lower()


def _make(name: str, explicit: bool, stacklevel: int = 3) -> Ops:
    if name == "auto":
        problem = _compat.gpu_backend_problem()
        if problem is None:
            return _make("cupy", explicit)
        if explicit:
            warnings.warn(
                f"gpunn: no usable GPU ({problem}); using the NumPy backend.",
                RuntimeWarning,
                stacklevel=stacklevel,
            )
        return _make("numpy", explicit)
    if name not in _instances:
        if name == "cupy":
            problem = _compat.gpu_backend_problem()
            if problem is not None:
                raise BackendUnavailableError(
                    f"backend 'cupy' needs a working CUDA GPU and numba-cuda, but {problem}. "
                    "Use set_backend('numpy') or 'auto' to run on the CPU."
                )
            from .cupy_ops import CupyOps

            _instances[name] = CupyOps()
        else:
            _instances[name] = NumpyOps()
    return _instances[name]


def _resolve(backend) -> Ops:
    if isinstance(backend, Ops):  # an Ops object of one's own (e.g. a benchmark's variant)
        return backend
    # The fallback warning points at the user's set_backend / use_backend line.
    return _make(_check_name(backend), explicit=True, stacklevel=4)


def set_backend(backend) -> Ops:
    """Choose the backend for models built from now on: 'numpy', 'cupy', 'auto' or an Ops. Returns the Ops."""
    ops = _resolve(backend)
    _current.set(ops)
    return ops


def use_backend(backend):
    """Use a backend inside a ``with`` block only; the previous choice comes back after it."""
    return _scope(_resolve(backend))  # resolved here, so a fallback warning points at the caller's line


@contextlib.contextmanager
def _scope(ops: Ops):
    token = _current.set(ops)
    try:
        yield ops
    finally:
        _current.reset(token)


def get_ops() -> Ops:
    """The Ops of the current scope, creating the default on first use."""
    ops = _current.get()
    if ops is None:
        env = os.environ.get("GPUNN_BACKEND", "auto")
        ops = _make(_check_name(env), explicit=env != "auto")
        _current.set(ops)
    return ops


# keras.ops's functions, for the functions users write (custom losses and metric functions): differentiable,
# on NumPy or CuPy arrays (gpunn/autodiff/). Importing them here makes ``keras.ops.mean`` work after
# ``import gpunn as keras``; this package's own names (Ops, get_ops...) are none of keras.ops's.
from ..autodiff import OPS_FUNCTIONS as _OPS_FUNCTIONS  # noqa: E402
from ..autodiff import IMAGE_FUNCTIONS as _IMAGE_FUNCTIONS  # noqa: E402
from ..autodiff import OPS_NAMES as _OPS_NAMES  # noqa: E402

_unwrapped = dict(_OPS_FUNCTIONS)  # the functions themselves, for what computes on arrays only
_unwrapped.update({f"image.{name}": function for name, function in _IMAGE_FUNCTIONS.items()})
_symbolic_call = []  # set by layers/operation.py: a keras.ops call on a model's symbolic values makes a node


def _symbolic(values) -> bool:
    # (no any(): this module's globals take keras.ops's names, ops.any among them)
    for value in values:
        if getattr(value, "_is_symbolic", False):
            return True
        # a list's values, unless it starts with a number: a list of numbers (convert_to_tensor's can be long)
        if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, float)) and _symbolic(value):
            return True
    return False


def _taking_symbolic_values(name: str, function):
    """``function`` as keras.ops's: on a functional model's symbolic values (``keras.Input``, a layer's output) it
    records an operation of the model's graph, as Keras's ops do on KerasTensors; on arrays it computes."""
    @functools.wraps(function)
    def dispatch(*args, **kwargs):
        if _symbolic_call and (_symbolic(args) or _symbolic(kwargs.values())):
            return _symbolic_call[0](name, args, kwargs)
        return function(*args, **kwargs)

    dispatch.__module__, dispatch.__qualname__ = __name__, name  # pickled as gpunn.ops.<name>, which it is
    return dispatch


def set_symbolic_call(make_node) -> None:
    _symbolic_call[:] = [make_node]


globals().update({name: _taking_symbolic_values(name, function) for name, function in _OPS_FUNCTIONS.items()})

from . import keras_namespaces as _keras_namespaces  # noqa: E402

_keras_namespaces.install(sys.modules[__name__], {name: globals()[name] for name in _OPS_NAMES})
_keras_namespaces.install_image(sys.modules[__name__], {
    name: _taking_symbolic_values(f"image.{name}", function) for name, function in _IMAGE_FUNCTIONS.items()})

__all__ = ["Ops", "NumpyOps", "BACKENDS", "BackendUnavailableError", "get_ops", "set_backend", "use_backend",
           *_OPS_NAMES]


def __getattr__(name: str):
    from ..beyond_mlps import stand_in  # Keras's names gpunn leaves out say so (beyond_mlps.py)

    return stand_in(__name__, name)
