"""Keras's exponential moving average of the weights (``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``;
keras/src/optimizers/base_optimizer.py and its JAX backend's ``_backend_apply_gradients``).

After each update (before the weight constraints, as in Keras), on the flat buffers and all on the device:

    momentum = ema_momentum if the step is not the first, else 0      (the first step copies the weights)
    average = momentum * average + (1 - momentum) * weights
    every ema_overwrite_frequency steps: weights = average            (as JAX's: average * due + weights * not due)

The step's count is read from the optimizer's device state, so recorded steps and CUDA graphs replay it. At the
end of ``fit`` (``finalize_variable_values``) the weights become the average. The average is an optimizer slot
("average", Keras's first optimizer variables after the step count and rate): saved, restored and summed into
the optimizer's parameter count like the others.
"""
from __future__ import annotations

import numpy as np

SLOT = "average"


def check_arguments(use_ema, ema_momentum, ema_overwrite_frequency):
    """(use_ema, ema_momentum, ema_overwrite_frequency) checked as Keras checks them."""
    if not isinstance(use_ema, (bool, np.bool_)):
        raise ValueError(f"use_ema: expected True or False, got {use_ema!r}")
    if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, (int, float)):
        raise ValueError(f"ema_momentum: expected a number in [0, 1], got {ema_momentum!r}")
    if use_ema:
        if ema_momentum > 1 or ema_momentum < 0:
            raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}")
        if ema_overwrite_frequency and (isinstance(ema_overwrite_frequency, bool) or not isinstance(
                ema_overwrite_frequency, (int, np.integer)) or ema_overwrite_frequency < 1):
            raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                             f"ema_overwrite_frequency={ema_overwrite_frequency}")
    frequency = int(ema_overwrite_frequency) if ema_overwrite_frequency else None
    return bool(use_ema), float(ema_momentum), frequency


def update_average(optimizer, params, between_updates: bool = False) -> None:
    """The moving average's step, then the overwrite when it is due. ``count`` is Keras's ``iterations + 1``: the
    device's count of updates, this step's counted already, or, for a step between updates of gradient
    accumulation (which Keras averages too), not yet."""
    ops, ws, state = optimizer.ops, optimizer._workspace, optimizer.state
    dtype, average = params.dtype, optimizer.slots[SLOT]
    count = state[0:1]  # ITERATIONS, float64
    if between_updates:
        count = ops.add(count, ws.constant("ema.one_count", 1.0, np.float64), ws.buffer("ema.count", (1,), np.float64))
    later = ops.greater(count, ws.constant("ema.one_count", 1.0, np.float64), ws.buffer("ema.later", (1,), np.bool_))
    momentum = ops.multiply(later, ws.constant("ema.momentum", optimizer.ema_momentum, dtype),
                            ws.buffer("ema.step_momentum", (1,), dtype))
    one = ws.constant("ema.one", 1.0, dtype)
    rest = ops.subtract(one, momentum, ws.buffer("ema.rest", (1,), dtype))
    scratch = ws.buffer("ema.scratch", params.shape, dtype)
    ops.multiply(average, momentum, average)
    ops.add(average, ops.multiply(params, rest, scratch), average)
    frequency = optimizer.ema_overwrite_frequency
    if frequency:
        # due = (iterations + 1) % frequency == 0, on the device
        remainder = ops.remainder(count, ws.constant("ema.frequency", float(frequency), np.float64),
                                  ws.buffer("ema.remainder", (1,), np.float64))
        due = ops.equal(remainder, ws.constant("ema.zero_count", 0.0, np.float64), ws.buffer("ema.due", (1,), np.bool_))
        due_value = ops.multiply(due, one, ws.buffer("ema.due_value", (1,), dtype))
        not_due = ops.subtract(one, due_value, ws.buffer("ema.not_due", (1,), dtype))
        ops.multiply(params, not_due, params)
        ops.add(params, ops.multiply(average, due_value, scratch), params)


def overwrite_weights(optimizer) -> None:
    """The trained weights become their moving average (``finalize_variable_values``)."""
    optimizer.ops.copy_into(optimizer.slots[SLOT], optimizer._params)
