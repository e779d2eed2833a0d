"""The generator ``fit`` draws its epochs' sample orders from: one per model, going on from one ``fit`` to the
next, as Keras's orders come from NumPy's global stream (``np.random.permutation`` each epoch), which goes on
too. So ``fit(epochs=2)`` then ``fit(initial_epoch=2, epochs=4)`` shuffles as ``fit(epochs=4)`` does. It is
seeded anew from gpunn's generator at a model's first ``fit`` and after ``set_random_seed``, which repeats a run.

Every rank shuffles alike: rank 0's generator state is handed to the others at each ``fit``.
"""
from __future__ import annotations

import numpy as np

from .. import random as gpunn_random


def orders_generator(model, comm) -> tuple[np.random.Generator, bool]:
    """The model's shuffling generator for this ``fit``, the same on every rank, and whether it was seeded anew
    here (rank 0's word). Only then does a run that BackupAndRestore resumes draw the orders of the epochs it
    skips: a generator going on has drawn them already, in the fit that was interrupted."""
    seeded_from = gpunn_random.generator()  # (set_random_seed makes a new one)
    kept = model.__dict__.get("_shuffle_orders")
    fresh = kept is None or kept[0] is not seeded_from
    if fresh:
        kept = (seeded_from, np.random.default_rng(gpunn_random.new_seed()))
        model._shuffle_orders = kept
    generator = kept[1]
    if comm.size > 1:
        generator.bit_generator.state, fresh = comm.broadcast_object([generator.bit_generator.state, fresh])
    return generator, fresh
