"""One gpunn training step on a batch staged on the device once: what ``fit`` runs per batch, minus the
host-side work around it (argument checks, shuffling, the batch gather, callbacks).

The step is the model's own TrainStep (``model.make_train_function()``), fed the way ``fit`` feeds it: each
rank's shard of the global batch in the step's input buffers, the gradient scaled by 1 / global batch.

A contender builds its model once per model size and keeps it across batch sizes: building initialises every
weight on the host, tens of seconds for a 4096-wide model. Each ``setup`` puts the shared initial weights
back and recompiles (a fresh optimizer: zero slots, iteration 0), so every case starts from the same state.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..distributed.sharding import shard_bounds
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
        compile_mlp(model)
        model.build()
    return model


def compile_mlp(model, jit: bool = False) -> None:
    """Sparse CE and a fresh Adam: compiling again is how a built model's optimizer state starts over.
    ``jit``: ``jit_compile=True`` (the step recorded once and replayed; a CUDA graph on a GPU)."""
    import gpunn

    model.compile(optimizer=gpunn.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
                  loss="sparse_categorical_crossentropy", jit_compile=jit)


class GpunnStep:
    """A contender: one gpunn backend (an Ops instance) training one case."""

    library = "gpunn"

    def __init__(self, name: str, ops, device: str, comm, jit: bool = False, steps_per_call: int = 1):
        self.name, self.ops, self.device, self.comm = name, ops, device, comm
        self.jit = jit
        self.steps_per_call = steps_per_call  # steps per step() call: one replay (graph launch) of that many
        self.ranks = comm.size
        cp = ops.xp if ops.xp is not np else None
        self.clock = CupyEventClock(cp) if cp is not None else HostClock(ops.synchronize)
        self.thread_pool = NUMPY_POOL if cp is None else None  # see timing.Settler
        self.model = None
        self._capture_unchecked = self._recorded = False
        self.layers = None   # the widths the model was built for
        self.builds = 0      # models built so far (one per size)

    def setup(self, layers, x: np.ndarray, y: np.ndarray, weights: list) -> None:
        """Start from ``weights`` (Keras layout) with a fresh optimizer, and stage this rank's shard of (x, y)
        in the training step's input buffers. The model is built on the first call for ``layers`` and reused
        after."""
        model = self._model_for(layers)
        compile_mlp(model, self.jit)
        model.set_weights(weights)
        x, y = model._prepare(x, y)
        self.train_step = model.make_train_function().prepare(sparse_labels=True)
        lo, hi = shard_bounds(0, len(x), self.comm.rank, self.comm.size)
        self.slot = self.train_step.slot(hi - lo, len(x), y.shape[1:], y.dtype, weights_shape=None)
        self.ops.upload(x[lo:hi], self.slot.x)
        self.ops.upload(y[lo:hi], self.slot.y)
        self.train_step.metrics.reset()
        self.model = model
        self._capture_unchecked = self.jit and self.ops.xp is not np  # a new step: its graph is captured anew
        self._recorded = False
        self.ops.synchronize()

    def step(self) -> None:
        """Queue ``steps_per_call`` training steps (no host synchronisation)."""
        if self._capture_unchecked:
            self._steps_checking_capture()
        else:
            self._queue_steps()

    def _queue_steps(self) -> None:
        if self.steps_per_call == 1:
            self.train_step(self.slot)
        else:
            self.train_step.repeat(self.slot, self.steps_per_call)

    def _steps_checking_capture(self) -> None:
        """The calls of a GPU jit contender up to its first replay, where the step is captured as a CUDA graph
        (with several steps per call, the recording call itself replays the rest): a contender named for
        graphs that could only replay call by call would time the wrong thing, so it fails instead, with the
        reason (the bench reports it and times the others)."""
        from ..trainer.train_step import GraphFallbackWarning

        replays = self._recorded  # a call after the recording one replays
        self._recorded = True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GraphFallbackWarning)
            self._queue_steps()
        for warning in caught:
            if issubclass(warning.category, GraphFallbackWarning):
                self._capture_unchecked = False
                raise RuntimeError(f"{self.name}: {warning.message}")
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if replays:
            self._capture_unchecked = False

    def validation_step(self) -> None:
        """One step, whatever ``steps_per_call``: what validation compares with the reference."""
        self._recorded = True
        self.train_step(self.slot)

    def synchronize(self) -> None:
        self.ops.synchronize()

    def snapshot(self) -> Snapshot:
        """The last step's mean loss, gradients and the parameters after it, on the host, in Keras's layout."""
        model, ops = self.model, self.ops
        loss = self.train_step.metrics.result()["loss"]  # the mean over the steps since setup (one, here)
        grads = [ops.to_numpy(layer.bound.grads[s.name]).copy() for layer in model._layers
                 for s in layer.weight_specs()]
        return Snapshot(loss=loss, grads=grads, params=model.get_weights())

    def count_ops_calls(self) -> int:
        """Calls into the Ops object during one step (see visits.py)."""
        from .visits import OpsCallCounter

        with OpsCallCounter(self.ops) as counter:
            self.step()
        self.ops.synchronize()
        return counter.calls

    def _model_for(self, layers):
        layers = tuple(int(w) for w in layers)
        if self.model is None or self.layers != layers:
            self.release()
            self.model = build_mlp(layers, self.ops)
            self.layers = layers
            self.builds += 1
        return self.model

    def close(self) -> None:
        """Drop this case's batch and outputs; the model stays for the next batch size."""
        self.train_step = self.slot = None

    def release(self) -> None:
        """Drop the model too (before the next model size, or at the end)."""
        self.close()
        self.model = self.layers = None
