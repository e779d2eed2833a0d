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


def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate, power, cycle):
    """(initial - end) * (1 - step / decay_steps) ** power + end, the step held at decay_steps; with ``cycle``,
    decay_steps is stretched to its first multiple >= step (1x at step 0) instead
    (keras/src/optimizers/schedules/learning_rate_schedule.py, PolynomialDecay)."""
    if cycle:
        multiplier = 1.0 if step == 0.0 else math.ceil(step / decay_steps)
        decay_steps = decay_steps * multiplier
    else:
        step = min(step, decay_steps)
    p = step / decay_steps
    return (initial_learning_rate - end_learning_rate) * (1.0 - p) ** power + end_learning_rate


def cosine_decay_restarts(step, initial_learning_rate, first_decay_steps, t_mul, m_mul, alpha):
    """Cosine decay from 1 to alpha over first_decay_steps, then warm restarts, each period t_mul times longer
    and starting m_mul times lower (SGDR; keras/src/optimizers/schedules/learning_rate_schedule.py,
    CosineDecayRestarts, the same operations in the same order)."""
    completed_fraction = step / first_decay_steps
    if t_mul == 1.0:
        i_restart = float(math.floor(completed_fraction))
        completed_fraction = completed_fraction - i_restart
    else:
        periods_left = 1.0 - completed_fraction * (1.0 - t_mul)
        if periods_left <= 0.0:
            # t_mul < 1: the periods add up to first_decay_steps / (1 - t_mul) steps; past them Keras's
            # formula takes the log of a number <= 0 and gives NaN (as the device does), where Python would raise.
            return math.nan
        i_restart = float(math.floor(math.log(periods_left) / math.log(t_mul)))
        sum_r = (1.0 - t_mul ** i_restart) / (1.0 - t_mul)
        completed_fraction = (completed_fraction - sum_r) / t_mul ** i_restart
    m_fac = m_mul ** i_restart
    cosine_decayed = 0.5 * m_fac * (1.0 + math.cos(math.pi * completed_fraction))
    decayed = (1.0 - alpha) * cosine_decayed + alpha
    return initial_learning_rate * decayed
