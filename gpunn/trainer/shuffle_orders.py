"""The generator ``fit`` draws its epochs' sample orders from: one per model, going on from one ``fit`` to the
next, as Keras's orders come from NumPy's global stream (``np.random.permutation`` each epoch), which goes on
too. So ``fit(epochs=2)`` then ``fit(initial_epoch=2, epochs=4)`` shuffles as ``fit(epochs=4)`` does. It is
seeded anew at a model's first ``fit`` and after ``set_random_seed``, from NumPy's global stream as Keras's orders
are: ``set_random_seed`` seeds it, and so does a script's own ``np.random.seed`` (the tf.keras habit).

A run that BackupAndRestore resumes starts again from the orders of the fit that began it: the model keeps the
generator's state at the start of its run (``run_starts``), each backup carries it, and a resumed fit goes back to
the backup's and draws the orders of the epochs it skips, so its epochs see their batches in the order the
interrupted run would have, wherever the interruption fell (an epoch's end, the middle of one) and whatever ran
before (another fit of the model first, in the script run again).

Every rank shuffles alike: rank 0's generator state is handed to the others at each ``fit``.
"""
from __future__ import annotations

import numpy as np

from .. import random as gpunn_random


def orders_generator(model, comm) -> np.random.Generator:
    """The model's shuffling generator for this ``fit``, the same on every rank."""
    seeded_from = gpunn_random.seedings()  # (set_random_seed and clear_session restart it)
    kept = model.__dict__.get("_shuffle_orders")
    if kept is None or kept[0] != seeded_from:
        kept = (seeded_from, np.random.default_rng(np.random.randint(0, 2**31 - 1)))
        model._shuffle_orders = kept
    generator = kept[1]
    if comm.size > 1:
        generator.bit_generator.state = comm.broadcast_object(generator.bit_generator.state)
    return generator


def run_starts(model, generator: np.random.Generator, resumed: bool) -> None:
    """At the start of a fit, before it draws: a resumed one (BackupAndRestore moved its first epoch) goes back to
    the state its run began with, which the backup carried (``model._resumed_shuffle_state``; a backup without one
    resumes from the state as it is); either way the model keeps the state its run began with, for its backups."""
    carried = model.__dict__.pop("_resumed_shuffle_state", None)
    if resumed and carried is not None:
        try:
            generator.bit_generator.state = carried
        except (TypeError, ValueError, KeyError):  # (not a state of this generator: the state as it is)
            pass
    model._shuffle_run_start = generator.bit_generator.state
