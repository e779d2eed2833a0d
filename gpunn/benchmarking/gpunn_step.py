"""One gpunn training step on a batch staged on the device once: what ``fit`` runs per batch, minus the
host-side work around it (argument checks, shuffling, the batch gather, callbacks).

The step is the model's own ``_train_step(plan, xb, yb, grad_scale, comm)``, set up the way ``fit`` sets it
up: the plan, the optimizer state, replicas synchronised, each rank holding its shard of the global batch
and the gradient scaled by 1 / global batch.
"""
from __future__ import annotations

import numpy as np

from ..models.training import shard_bounds
from .timing import NUMPY_POOL, CupyEventClock, HostClock
from .validation import Snapshot

LEARNING_RATE = 1e-3
EPSILON = 1e-7  # Keras's Adam epsilon; the PyTorch reference uses the same


def limit_update_threads(ops, threads: int | None) -> int | None:
    """Give the NumPy backend's optimizer-update thread pool ``threads`` workers (None: leave it as is).

    The pool is sized by the usable cores, not by the BLAS limit; a run limited to N threads must limit it
    too, or gpunn would use more cores than PyTorch. Returns the pool size in effect (None: no such pool).
    """
    if not hasattr(ops, "set_update_threads"):
        return None
    return ops.set_update_threads(int(threads)) if threads else ops.update_threads


def build_mlp(layers, ops):
    """Sequential MLP on ``ops``: Dense relu hidden layers, softmax output, sparse CE, Adam (Keras defaults)."""
    import gpunn

    with gpunn.use_backend(ops):
        model = gpunn.Sequential([gpunn.Input(shape=(layers[0],))]
                                 + [gpunn.layers.Dense(units, activation="relu") for units in layers[1:-1]]
                                 + [gpunn.layers.Dense(layers[-1], activation="softmax")])
        model.compile(optimizer=gpunn.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
                      loss="sparse_categorical_crossentropy")
        model.build()
    return model


class GpunnStep:
    """A contender: one gpunn backend (an Ops instance) training one case."""

    library = "gpunn"

    def __init__(self, name: str, ops, device: str, comm):
        self.name, self.ops, self.device, self.comm = name, ops, device, comm
        self.ranks = comm.size
        cp = ops.xp if ops.xp is not np else None
        self.clock = CupyEventClock(cp) if cp is not None else HostClock(ops.synchronize)
        self.thread_pool = NUMPY_POOL if cp is None else None  # see timing.Settler
        self.model = None

    def setup(self, layers, x: np.ndarray, y: np.ndarray, weights: list) -> None:
        """Build the model from ``weights`` (Keras layout) and stage this rank's shard of (x, y) on the device."""
        model = build_mlp(layers, self.ops)
        model.set_weights(weights)
        x, y = model._prepare(x, y)
        self.plan = model._plan(sparse_labels=True)
        model._ensure_optimizer()
        model._sync_replicas(self.comm)
        lo, hi = shard_bounds(0, len(x), self.comm.rank, self.comm.size)
        self.xb, self.yb = self.ops.asarray(x[lo:hi]), self.ops.asarray(y[lo:hi])
        self.batch = len(x)
        self.grad_scale = 1.0 / len(x)
        self.model = model
        self._per_sample = None
        self.ops.synchronize()

    def step(self) -> None:
        """Queue one training step (no host synchronisation)."""
        self._per_sample, _ = self.model._train_step(self.plan, self.xb, self.yb, self.grad_scale, self.comm)

    def synchronize(self) -> None:
        self.ops.synchronize()

    def snapshot(self) -> Snapshot:
        """The last step's mean loss, gradients and the parameters after it, on the host, in Keras's layout."""
        model, ops = self.model, self.ops
        local = float(ops.to_numpy(self._per_sample).astype(np.float64).sum())
        loss = float(self.comm.allreduce_host(np.array([local]))[0]) / self.batch
        grads = [ops.to_numpy(layer.bound.grads[s.name]).copy() for layer in model.layers
                 for s in layer.weight_specs()]
        return Snapshot(loss=loss, grads=grads, params=model.get_weights())

    def close(self) -> None:
        self.model = self.xb = self.yb = self._per_sample = None
