"""Learning-rate schedule formulas (Keras's), written once as scalar functions.

The host evaluates them in Python (``gpunn.optimizers.schedules``), the NumPy twin of the optimizer-state
advance calls them, and the CUDA advance kernel compiles them as device functions: the same formula on the CPU
and on the GPU, evaluated where the step reads it. ``step`` is the optimizer's iteration count (a float).
"""
from __future__ import annotations

import math


def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase):
    """initial_learning_rate * decay_rate ** (step / decay_steps), the exponent floored when staircase."""
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return initial_learning_rate * decay_rate ** p


def cosine_decay(step, initial_learning_rate, decay_steps, alpha, warmup, warmup_target, warmup_steps):
    """Optional linear warm-up to warmup_target over warmup_steps, then cosine decay to alpha * the peak
    over decay_steps (``warmup`` False: no warm-up; the peak is initial_learning_rate)."""
    if warmup and step < warmup_steps:
        return initial_learning_rate + (warmup_target - initial_learning_rate) * (step / warmup_steps)
    peak = warmup_target if warmup else initial_learning_rate
    s = min(step - (warmup_steps if warmup else 0.0), decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * s / decay_steps))
    return peak * ((1.0 - alpha) * cosine + alpha)


def piecewise_constant_decay(step, boundaries, values):
    """values[i] while boundaries[i-1] < step <= boundaries[i] (Keras's convention); ``boundaries`` and
    ``values`` are tuples of floats, len(values) == len(boundaries) + 1."""
    for i in range(len(boundaries)):
        if step <= boundaries[i]:
            return values[i]
    return values[len(boundaries)]


def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps), the ratio floored when staircase."""
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return initial_learning_rate / (1.0 + decay_rate * p)
