"""``keras.config``: the settings a Keras 3 script reads or sets. gpunn computes in each layer's dtype and
with the backend chosen by ``gpunn.set_backend``; a setting it has no counterpart for is refused by name,
never taken and ignored."""
from __future__ import annotations

from .autodiff.legacy_backend import epsilon, floatx, set_epsilon, set_floatx
from .io_utils import disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled
from .run_limits import max_epochs, max_steps_per_epoch, set_max_epochs, set_max_steps_per_epoch

__all__ = ["backend", "set_backend", "epsilon", "set_epsilon", "floatx", "set_floatx", "image_data_format",
           "set_image_data_format", "dtype_policy", "set_dtype_policy", "enable_unsafe_deserialization",
           "enable_traceback_filtering", "disable_traceback_filtering", "is_traceback_filtering_enabled",
           "max_epochs", "set_max_epochs", "max_steps_per_epoch", "set_max_steps_per_epoch",
           "enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled"]


def backend() -> str:
    """The backend gpunn computes with now: "numpy" or "cupy" (Keras names its own: "jax", "torch"...)."""
    from .ops import get_ops

    return "numpy" if get_ops().on_host else "cupy"


def set_backend(backend) -> None:
    """``keras.config.set_backend``: here, the backend gpunn computes with from now on, "numpy", "cupy" or "auto"
    (``gpunn.set_backend``). Keras's own backends are refused by name: a script asking for one would not get it."""
    if isinstance(backend, str) and backend.lower() in KERAS_BACKENDS:
        raise ValueError(f"backend: {backend!r} is a backend of Keras's; gpunn computes with 'numpy' (the CPU) or "
                         "'cupy' (a GPU), or 'auto' (a GPU where there is one)")
    from .ops import set_backend as choose

    choose(backend)


KERAS_BACKENDS = ("jax", "tensorflow", "torch", "openvino")


def image_data_format() -> str:
    return "channels_last"


def standardize_data_format(data_format) -> str:
    """Keras's ``backend.standardize_data_format``: None is ``image_data_format()``."""
    if data_format is None:
        return image_data_format()
    data_format = str(data_format).lower()
    if data_format not in {"channels_first", "channels_last"}:
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")  # Keras's message
    return data_format


def set_image_data_format(data_format) -> None:
    if data_format != "channels_last":
        raise ValueError(f"data_format: gpunn's layers take channels last; got {data_format!r}")


def dtype_policy():
    """The global DTypePolicy (Keras's ``config.dtype_policy``): floatx()'s unless ``set_dtype_policy`` set one."""
    from .dtype_policies import DTypePolicy, global_policy_name

    return DTypePolicy(global_policy_name())


def set_dtype_policy(policy) -> None:
    """Keras's: the dtype policy of the layers made from now on, "float32" or "float64" (a name or a
    DTypePolicy); gpunn has no half precision or mixed policies, refused by name."""
    from .dtype_policies import set_global_policy

    if policy is None:  # (Keras's refusal; tf.keras 2's mixed_precision.set_global_policy(None) resets instead)
        raise ValueError("Invalid `policy` argument. Expected the string name of a policy (such as 'float64') or a "
                         f"`DTypePolicy` instance. Received: policy=None (of type {type(None)})")
    set_global_policy(policy)


def enable_unsafe_deserialization() -> None:
    """Accepted: gpunn never deserializes code (a Lambda's bytecode is refused whatever this says), so there is
    nothing to enable."""


_traceback_filtering = [True]


def enable_traceback_filtering() -> None:
    _traceback_filtering[0] = True


def disable_traceback_filtering() -> None:
    """gpunn shows whole tracebacks always; the flag is kept for scripts that read it back."""
    _traceback_filtering[0] = False


def is_traceback_filtering_enabled() -> bool:
    return _traceback_filtering[0]
