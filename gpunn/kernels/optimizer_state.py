"""The optimizer's device state at the start of an update: this step's learning rate, then the step count.

state (float64): [iterations, learning_rate, weight_decay]. Per update:
    learning_rate = schedule(iterations)       (only when the optimizer follows a schedule)
    iterations   += 1                          (the update then uses it as Keras's local_step)
Kept on the device so a recorded step (and a CUDA graph) never carries a frozen learning rate or step.

NumPy twin: ``advance_numpy``.
"""
from __future__ import annotations


def advance_numpy(state, schedule=None) -> None:
    iterations = float(state[0])
    if schedule is not None:
        state[1] = schedule(iterations)
    state[0] = iterations + 1.0
