"""Keras's exponential moving average of the weights (``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``;
keras/src/optimizers/base_optimizer.py and its JAX backend's ``_backend_apply_gradients``).

After each update (before the weight constraints, as in Keras), on the flat buffers and all on the device, in one
fused pass (kernels/weight_average.py):

    momentum = ema_momentum if the step is not the first, else 0      (the first step copies the weights)
    average = momentum * average + (1 - momentum) * weights
    every ema_overwrite_frequency steps: weights = average

The step's count is read from the optimizer's device state, so recorded steps and CUDA graphs replay it. At the
end of ``fit`` (``finalize_variable_values``) the weights become the average. The average is an optimizer slot
("average", Keras's first optimizer variables after the step count and rate): saved, restored and summed into
the optimizer's parameter count like the others.
"""
from __future__ import annotations

import numbers

import numpy as np

SLOT = "average"


def check_arguments(use_ema, ema_momentum, ema_overwrite_frequency):
    """(use_ema, ema_momentum, ema_overwrite_frequency) checked as Keras checks them."""
    if not isinstance(use_ema, (bool, np.bool_)):
        raise ValueError(f"use_ema: expected True or False, got {use_ema!r}")
    if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, numbers.Real):
        raise ValueError(f"ema_momentum: expected a number in [0, 1], got {ema_momentum!r}")
    if use_ema:
        if not 0 <= ema_momentum <= 1:  # (NaN too: its average turns every weight NaN at the end of fit)
            raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}")
        if ema_overwrite_frequency and (isinstance(ema_overwrite_frequency, bool) or not isinstance(
                ema_overwrite_frequency, (int, np.integer)) or ema_overwrite_frequency < 1):
            raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                             f"ema_overwrite_frequency={ema_overwrite_frequency}")
    frequency = int(ema_overwrite_frequency) if ema_overwrite_frequency else None
    return bool(use_ema), float(ema_momentum), frequency


def update_average(optimizer, params, between_updates: bool = False) -> None:
    """The moving average's step, then the overwrite when it is due: one fused pass over the buffers
    (kernels/weight_average.py). The count is Keras's ``iterations + 1``: the device's count of updates, this
    step's counted already, or, for a step between updates of gradient accumulation (which Keras averages too),
    not yet."""
    optimizer.ops.ema_update(params, optimizer.slots[SLOT], optimizer.state, optimizer.ema_momentum,
                             optimizer.ema_overwrite_frequency or 0, 1 if between_updates else 0)


def overwrite_weights(optimizer) -> None:
    """The trained weights become their moving average (``finalize_variable_values``), in a compute turn: a
    thread predicting meanwhile sees the weights before or after, whole."""
    from .. import compute_turns

    with compute_turns.turn(optimizer.ops):
        optimizer.ops.copy_into(optimizer.slots[SLOT], optimizer._params)
