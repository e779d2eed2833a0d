"""``keras.mixed_precision``: the global dtype policy, as Keras names its functions.

gpunn's global policy is float32 (``dtype_policies.py``): ``set_global_policy("float32")`` is accepted, and the
mixed and half-precision policies are refused by name, as is ``LossScaleOptimizer`` (loss scaling exists for
float16 compute)."""
from __future__ import annotations

from . import config, dtype_policies
from .dtype_policies import DTypePolicy

Policy = DTypePolicy  # Keras exports the class under both names


def global_policy() -> DTypePolicy:
    """The policy of layers given no dtype (``config.dtype_policy``)."""
    return config.dtype_policy()


def set_global_policy(policy) -> None:
    """``config.set_dtype_policy``: float32 or float64; gpunn has no mixed precision, refused by name. None goes
    back to ``floatx()``'s policy, as tf.keras 2's."""
    if policy is None:
        dtype_policies.set_global_policy(None)
    else:
        config.set_dtype_policy(policy)


dtype_policy = global_policy
set_dtype_policy = set_global_policy


class LossScaleOptimizer:
    """Refused: Keras's loss scaling keeps float16 gradients from underflowing; gpunn computes in float32."""

    def __init__(self, inner_optimizer=None, initial_scale=32768.0, dynamic_growth_steps=2000, name=None, **kwargs):
        raise ValueError("LossScaleOptimizer: loss scaling serves float16 (mixed precision) training, which gpunn does "
                         "not have; it computes in float32: pass the inner optimizer directly")


__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "dtype_policy", "global_policy", "set_dtype_policy",
           "set_global_policy"]
