"""Keras's approximate quantiles, which ``Discretization.adapt`` turns into bin boundaries.

The algorithm and its float32 rounding are Keras 3's (``keras/src/layers/preprocessing/discretization.py``:
``summarize``, ``merge_summaries``, ``compress_summary``, ``get_bin_boundaries``), in the same NumPy
operations, so that an adapted layer gets exactly Keras's boundaries from the same data and batches. A summary
is a (2, m) array: sorted values and the weight (count of data) each stands for.
"""
from __future__ import annotations

import numpy as np


def empty_summary() -> np.ndarray:
    return np.array([[], []], dtype="float32")


def summarize(values, epsilon: float) -> np.ndarray:
    """A summary of one batch: about 1/epsilon evenly spaced values of the sorted batch, each weighing the
    number of values it stands for (the whole batch with weights 1 when it is smaller)."""
    values = np.sort(np.reshape(values, [-1]))
    elements = np.size(values)
    num_buckets = 1.0 / epsilon
    increment = elements / num_buckets
    step = max(increment, 1)
    start = step - 1
    boundaries = values[int(start)::int(step)]
    weights = np.ones_like(boundaries) * step
    return np.stack([boundaries, weights])


def merge_summaries(prev_summary: np.ndarray, next_summary: np.ndarray, epsilon: float) -> np.ndarray:
    """Two summaries as one, sorted by value and compressed back to about 1/epsilon entries."""
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return compress_summary(merged, epsilon)


def compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """The values at cumulative-weight fractions epsilon, 2 epsilon, ..., 1 (interpolated), with the weight
    between consecutive ones; a summary of fewer than 1/epsilon entries is kept as it is."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def bin_boundaries(summary: np.ndarray, num_bins: int) -> list[float]:
    """The inner boundaries of ``num_bins`` bins of about equal weight (fewer when the data had fewer values)."""
    return compress_summary(summary, 1.0 / num_bins)[0, :-1].tolist()
