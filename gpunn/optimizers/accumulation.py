"""Keras's gradient accumulation (``gradient_accumulation_steps``; keras/src/optimizers/base_optimizer.py
``_backend_apply_gradients`` and its JAX backend's).

With ``gradient_accumulation_steps=N`` the weights and the algorithm's slots change on every N-th step only, with
the mean of the N steps' gradients; the steps between add their gradients to an accumulator:

    step k (counting from 0), (k + 1) % N != 0:   accumulator += gradients
    step k, (k + 1) % N == 0:                    gradients = (gradients + accumulator) / N; accumulator = 0;
                                                 then clipping, weight decay and the update, as without it

As in Keras, the weight constraints and the moving average of ``use_ema`` run at every step, the step count
(Keras's ``_iterations``) counts every step, ``iterations`` reads the number of updates (steps // N), a
learning-rate schedule is called with the step count and an algorithm's own step (Adam's bias correction) is
the update's number.

Which of the two a step is, the host knows from its count, so each is recorded and replayed as a step of its
own (``TrainStep``): nothing is decided on the device, and a replayed step does only its own work. The count
of steps lives on the device too (``Optimizer.step_state``, beside the count of updates in ``Optimizer.state``),
for the schedule's formula.
"""
from __future__ import annotations

import numpy as np

SLOT = "gradient_accumulator"
ACCUMULATE, UPDATE = "accumulate", "update"


def check_steps(gradient_accumulation_steps):
    """The argument as Keras checks it: None (or 0) for no accumulation, else an integer >= 2."""
    if gradient_accumulation_steps is None or gradient_accumulation_steps is False:
        return None
    value = gradient_accumulation_steps
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0 or value == 1:
        raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. Received: "
                         f"gradient_accumulation_steps={gradient_accumulation_steps!r}")
    return int(value) or None


def phase(steps_done: int, every: int | None) -> str | None:
    """What the step after ``steps_done`` steps does: None without accumulation, else ACCUMULATE or UPDATE."""
    if not every:
        return None
    return UPDATE if (steps_done + 1) % every == 0 else ACCUMULATE


def add_to_accumulator(optimizer, grads) -> None:
    """A step between updates: its gradients into the accumulator."""
    accumulator = optimizer.slots[SLOT]
    optimizer.ops.add(accumulator, grads, accumulator)


def take_mean(optimizer, grads) -> None:
    """The update's step: ``grads`` becomes the mean of the accumulated steps' gradients and its own, and the
    accumulator is emptied."""
    ops, accumulator = optimizer.ops, optimizer.slots[SLOT]
    ops.add(grads, accumulator, grads)
    steps = optimizer._workspace.constant("accumulation.steps", float(optimizer.gradient_accumulation_steps),
                                          grads.dtype)
    ops.divide(grads, steps, grads)
    ops.fill(0.0, accumulator)


def phase_runs(steps_done: int, every: int | None, count: int) -> list[tuple[str | None, int]]:
    """The next ``count`` steps as runs of one phase each, [(phase, steps)]: one run of None without
    accumulation; with it, each update's step apart from the steps between."""
    if not every:
        return [(None, count)]
    runs: list[list] = []
    for step in range(steps_done, steps_done + count):
        kind = phase(step, every)
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    return [(kind, steps) for kind, steps in runs]
