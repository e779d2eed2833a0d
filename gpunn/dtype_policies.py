"""Dtype policies (``keras.dtype_policies``, ``keras.DTypePolicy``): the dtype a layer computes in and keeps its
weights in, by name.

gpunn computes each layer in one float dtype, its weights' (float32 unless the layer is given ``dtype="float64"``
or a ``DTypePolicy("float64")``; on a GPU, float32 matmuls may run on TF32 tensor cores, opt-in:
``gpunn.ops.tf32.set_tf32(True)``). The half-precision
policies ("float16", "bfloat16") and Keras's mixed ones ("mixed_float16", "mixed_bfloat16": float16 compute over
float32 weights) have no gpunn counterpart yet and are refused by name where they are made, rather than
training in another precision than the script asked for.
"""
from __future__ import annotations

import numpy as np

from .autodiff.legacy_backend import floatx

HALF_PRECISION = ("float16", "bfloat16", "mixed_float16", "mixed_bfloat16")

_GLOBAL_POLICY: list = [None]  # the name ``set_dtype_policy`` gave (None: floatx()'s); clear_session forgets it


def global_policy_name() -> str:
    """The dtype of layers made without one: Keras's global policy, ``floatx()`` unless one was set."""
    return _GLOBAL_POLICY[0] or floatx()


def set_global_policy(policy) -> None:
    """Keras's ``config.set_dtype_policy``: a float policy (a name or a DTypePolicy) for the layers made from now
    on; the half-precision and mixed ones are refused by name, None (gpunn's) goes back to floatx()'s."""
    name = policy if policy is None or isinstance(policy, str) else getattr(policy, "name", None)
    if policy is not None and not isinstance(name, str):  # (Keras's own DTypePolicy has a name too)
        raise ValueError(f"policy: expected the name of a policy (such as 'float64') or a DTypePolicy, got "
                         f"{type(policy).__name__} {policy!r}")
    _GLOBAL_POLICY[0] = None if name is None else checked_policy_name("policy", name)


def checked_policy_name(argument: str, name) -> str:
    """A policy's name as gpunn can compute it (a float dtype's name), or an error naming ``argument``."""
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected a dtype policy name such as 'float32', got {type(name).__name__} "
                        f"{name!r}")
    if name in HALF_PRECISION:
        raise ValueError(f"{argument}: the dtype policy {name!r} computes in half precision, which gpunn does not "
                         "have: it computes in float32 or, per layer, float64 (on a GPU, the nearest speed-up is "
                         "TF32 matmuls: gpunn.ops.tf32.set_tf32(True))")
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise ValueError(f"{argument}: expected a dtype policy name such as 'float32' or 'float64', got "
                         f"{name!r}") from None
    if dtype.kind != "f":
        raise ValueError(f"{argument}: gpunn's layers compute in a float dtype ('float32', 'float64'), got {name!r}")
    return dtype.name


class DTypePolicy:
    """A layer's compute and variable dtype, one float dtype here: ``DTypePolicy("float64")`` (None: the global
    policy's, float32)."""

    def __init__(self, name=None):
        self._name = checked_policy_name("name", global_policy_name() if name is None else name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        return self._name

    @property
    def variable_dtype(self) -> str:
        return self._name

    @property
    def quantization_mode(self):
        return None  # gpunn has no quantized layers

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict) -> "DTypePolicy":
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(("DTypePolicy", self._name))

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'  # FloatDTypePolicy's too, as Keras's


class FloatDTypePolicy(DTypePolicy):
    """Keras 3's older name for a float policy (kept by Keras as a subclass of DTypePolicy)."""


_CLASSES = {"DTypePolicy": DTypePolicy, "FloatDTypePolicy": FloatDTypePolicy}


def serialize(dtype_policy: DTypePolicy) -> dict:
    """Keras's form: ``{"module": "keras", "class_name": "DTypePolicy", "config": {"name": ...}, ...}``."""
    return {"module": "keras", "class_name": type(dtype_policy).__name__, "config": dtype_policy.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None) -> DTypePolicy:
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(f"config: expected a serialized DTypePolicy, got {config!r}")
    return _CLASSES[config["class_name"]].from_config(config.get("config", {}))


def get(identifier) -> DTypePolicy:
    """A policy from a name, a serialized policy or a policy; None gives the global one (Keras's)."""
    if identifier is None:
        return DTypePolicy(global_policy_name())
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if not isinstance(identifier, str):
        name = getattr(identifier, "name", None)  # (a NumPy dtype, TensorFlow's DType)
        try:
            identifier = np.dtype(identifier).name if name is None or not isinstance(name, str) else name
        except TypeError:
            raise ValueError("Cannot interpret `dtype` argument. Expected a string or an instance of DTypePolicy. "
                             f"Received: dtype={identifier}") from None
    return DTypePolicy(identifier)


def dtype_name(dtype):
    """A layer's ``dtype`` argument as a dtype name (a policy's name, a TensorFlow DType's; None stays
    None)."""
    if isinstance(dtype, DTypePolicy):
        return dtype.name
    if isinstance(dtype, dict) and dtype.get("class_name") in _CLASSES:
        dtype = (dtype.get("config") or {}).get("name")  # (checked by the layer: an int64 Hashing's is Keras's)
    if type(dtype).__module__.startswith("tensorflow") and isinstance(getattr(dtype, "name", None), str):
        dtype = dtype.name  # TensorFlow's DType (``dtype=tf.string``, ``tf.float32`` in tf.keras scripts)
    if isinstance(dtype, str) and dtype in HALF_PRECISION:
        checked_policy_name("dtype", dtype)
    return dtype


__all__ = ["DTypePolicy", "FloatDTypePolicy", "get", "serialize", "deserialize"]
