"""TrainStep: one optimizer step on a batch, as an object that owns everything the step needs.

Made by ``model.make_train_function()`` and cached until the model is rebuilt, recompiled or its communicator
changes. It owns the plan (output activation fused into the loss, which layers need dx, the resolved
metrics), the per-batch-size buffers (the input slot, the loss's workspace; layers keep their own), the
gradient reducer and the running loss/metric sums. ``fit``, ``train_on_batch`` and ``gpunn bench`` all run it.

A step: weight penalty (of the weights the batch is computed with), forward, the loss's fused value and
gradient, sample weights, backprop in reverse into the flat gradient buffer (the reducer told as each layer's
gradients are final), the sum over ranks, the penalties' gradients, one optimizer update, the metric sums.

With ``jit_compile=True`` the first step of each batch shape is recorded (``ops/recording.py``) and later steps
of that shape replay the recording: the same primitives on the same buffers, without the Python logic.
"""
from __future__ import annotations

import numpy as np

from ..ops.recording import Recording
from ..ops.workspace import Workspace
from .epoch_iterator import BatchSlot
from .memory import OutOfMemoryGuard
from .plan import make_plan, run_forward, weight_penalty
from .replicas import sync_replicas
from .running_metrics import RunningMetrics


class _SizedState:
    """What one batch shape needs: its input slot, the loss's and the step's own buffers, its recording."""

    def __init__(self, slot: BatchSlot, ops):
        self.slot = slot
        self.loss_ws = Workspace(ops)
        self.ws = Workspace(ops)
        self.tape = None
        self.recorded_for = None


class TrainStep:
    def __init__(self, model, comm, jit: bool = False):
        self.model, self.comm = model, comm
        self.ops = model.ops
        self.jit = bool(jit)
        self.plan = None
        self.metrics: RunningMetrics | None = None
        self._states: dict = {}
        self._reducer = None
        model._ensure_optimizer()
        sync_replicas(model, comm)

    # ---- set-up ---------------------------------------------------------------------------------------
    def prepare(self, sparse_labels: bool) -> "TrainStep":
        """Resolve the plan and metrics for this label layout (the first call, or when it changes)."""
        if self.plan is None or self.plan.sparse_labels != sparse_labels:
            self.plan = make_plan(self.model, sparse_labels)
            self.metrics = RunningMetrics(self.ops, self.plan.metrics, self.comm)
            self.model.compiled_metrics = self.plan.metrics
            self._reducer = self._make_reducer()
            self._states.clear()
        return self

    def _make_reducer(self):
        """The communicator's per-model gradient reducer (None alone): told as each layer's gradients are
        final, so a bucketed implementation can overlap communication with the rest of the backward pass."""
        if self.comm.size == 1:
            return None
        model = self.model
        layer_segments = []
        grad_views = [layer.bound.grads[s.name] for layer in model.layers for s in layer.weight_specs()
                      if s.name in layer.bound.grads]
        for layer in self.plan.layers:
            ids = {id(g) for g in layer.bound.grads.values()}
            layer_segments.append([seg for seg, g in zip(model._segments, grad_views) if id(g) in ids])
        return self.comm.gradient_reducer(model.grads, layer_segments)

    def slot(self, rows: int, global_rows: int, y_sample_shape, y_dtype, weighted: bool) -> BatchSlot:
        """The input buffers for batches of this shape, made on first use."""
        key = (rows, global_rows, tuple(y_sample_shape), np.dtype(y_dtype).str, weighted)
        state = self._states.get(key)
        if state is None:
            model = self.model
            slot = BatchSlot(self.ops, rows, global_rows, model.layers[0].input_shape, model.dtype,
                             y_sample_shape, y_dtype, weighted)
            slot.key = key
            state = self._states[key] = _SizedState(slot, self.ops)
        return state.slot

    # ---- the step -------------------------------------------------------------------------------------
    def __call__(self, slot: BatchSlot) -> None:
        """One step on the batch in ``slot``; its loss and metrics are added to ``self.metrics``."""
        state = self._states[slot.key]
        with OutOfMemoryGuard(self.ops, slot.global_rows):
            if not self.jit:
                self._run(state, None)
            elif state.tape is not None and state.recorded_for == self._recording_signature():
                state.tape.replay()
                self.model.optimizer.count_step()  # the host's count; the replay advanced the device's
            else:
                with Recording(self.ops) as tape:
                    self._run(state, tape)
                state.tape, state.recorded_for = tape, self._recording_signature()
        self.metrics.count_batch(slot.rows)

    def _recording_signature(self):
        """What a recording depends on beyond its buffers: the optimizer's hyperparameters that reach kernels
        as host values (the learning rate and step count do not: they live on the device)."""
        return self.model.optimizer.config_version

    def _run(self, state: _SizedState, tape) -> None:
        ops, plan, model, slot = self.ops, self.plan, self.model, state.slot
        call = tape.call if tape is not None else _call
        penalty = weight_penalty(plan, ops, state.ws, model.params.dtype)
        output, backprops = run_forward(plan, slot.x, training=True)
        per_sample, dy, predictions = model.loss.compute(ops, state.loss_ws, output, slot.y,
                                                         1.0 / slot.global_rows, plan.loss_takes_logits)
        if slot.w is not None:  # Keras: each sample's loss, and so its gradient row, scaled by its weight
            ops.multiply(per_sample, slot.w, per_sample)
            ops.multiply(dy, slot.w.reshape((-1,) + (1,) * (dy.ndim - 1)), dy)
        reducer = self._reducer
        for index in range(len(backprops) - 1, -1, -1):
            if dy is not None:  # None: no layer below has trainable weights (e.g. a frozen first layer)
                dy = backprops[index](dy, plan.need_dx[index])
            if reducer is not None:
                call(reducer.layer_done, index)
        if reducer is not None:
            call(reducer.wait)
        if plan.has_regularizers:
            for layer in plan.layers:
                layer.add_regularization_gradients()
        model.optimizer.apply(model.params, model.grads)
        self.metrics.accumulate(per_sample, penalty, predictions, slot.y)


def _call(function, *args):
    return function(*args)
