"""TestStep: the loss and metrics of a batch without training (evaluate, validation) and predictions.

Made by ``model.make_test_function()`` beside the TrainStep, with the same plan (the fused output activation
is applied by the loss), its own running sums and its own per-batch-shape buffers.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

from .. import compute_turns, step_calls
from ..layers import wiring
from ..ops.workspace import Workspace, Workspaces
from . import activity, layer_losses, output_losses
from .epoch_iterator import BatchSlot
from .executions import executions
from .memory import OutOfMemoryGuard
from .plan import make_plan, run_forward, weight_penalty
from .replicas import sync_replicas
from .running_metrics import RunningMetrics, running_metrics_for
from ..user_stacklevel import user_stacklevel


class TestStep:
    __test__ = False  # not a pytest test class

    def __init__(self, model, comm):
        self.model, self.comm, self.ops = model, comm, model.ops
        self.plan = None
        self.metrics: RunningMetrics | None = None
        self._slots: dict = {}
        self._workspaces: dict = {}
        sync_replicas(model, comm)

    def prepare(self, sparse_labels: bool) -> "TestStep":
        if self.plan is None or self.plan.sparse_labels != sparse_labels:
            self.plan = make_plan(self.model, sparse_labels)
            self.metrics = running_metrics_for(self.plan, self.ops, self.comm, self.model)
            self.model.compiled_metrics = self.plan.metrics
        return self

    def slot(self, rows: int, global_rows: int, y_sample_shape, y_dtype, weights_shape) -> BatchSlot:
        key = (rows, global_rows, tuple(y_sample_shape), np.dtype(y_dtype).str, weights_shape)
        slot = self._slots.get(key)
        if slot is None:
            slot = BatchSlot(self.ops, rows, global_rows, self.model._built_input_shape, self.model.dtype,
                             y_sample_shape, y_dtype, weights_shape)
            slot.key = key
            self._slots[key] = slot
            self._workspaces[key] = (Workspaces(self.ops), Workspace(self.ops))
        return slot

    def __call__(self, slot: BatchSlot) -> None:
        """Loss and metrics of the batch in ``slot``, added to ``self.metrics``."""
        ops, plan, model = self.ops, self.plan, self.model
        loss_ws, ws = self._workspaces[slot.key]
        # (the user's losses and metrics computing meanwhile may not run this model's layers: step_calls.py)
        with compute_turns.turn(ops), OutOfMemoryGuard(ops, slot.global_rows), step_calls.stepping(model):
            model._claim_layers()  # (a layer shared with another model may have computed there since)
            outputs: dict = {}
            output, _ = run_forward(plan, slot.x, training=False, outputs=outputs)
            batch = output_losses.compute(plan, ops, loss_ws, output, slot.y, slot.w, 1.0, need_grad=False,
                                          x=slot.x)
            penalty = weight_penalty(plan, ops, ws, model.params.dtype)
            if outputs:
                penalty = activity.penalty(plan, ops, ws, outputs, penalty, slot.rows, slot.global_rows,
                                           model.params.dtype)
            penalty = layer_losses.penalty(plan, ops, ws, penalty, slot.rows, slot.global_rows, model.params.dtype)
            self.metrics.accumulate(batch.per_sample, penalty, *batch.metric_inputs(), batch.parts, batch.weights,
                                     batch.mask)
        self.metrics.count_batch(slot.rows)


def predict_rows(model, x: np.ndarray, batch_size: int, cbs=None, stoppable: bool = True):
    """The model's outputs for host rows ``x`` (every layer, output activation included), as a host array, or
    for a model of several outputs their host arrays as the model gives its outputs (a list or a dict).

    Batches are copied into one input buffer per batch size and the outputs into device arrays, read back once
    at the end. ``cbs``: a CallbackList told of each run of ``model.steps_per_execution`` batches as Keras tells
    it (``on_predict_batch_end`` gets ``{"outputs": ...}``, the run's outputs: read back per run only then); a
    callback setting ``model.stop_predicting`` ends the predictions with that run, as in Keras (not
    ``stoppable``: a rank's share of a data-parallel predict, where the first rows are not this rank's to cut;
    a warning says the flag was not followed).
    """
    ops = model.ops
    n = len(x)
    ends = model._output_indices
    outs = [ops.empty((n,) + shape, dtype=model.dtype) for shape in model._output_shapes()]
    inputs: dict = {}
    done = n
    if cbs is not None:
        cbs.on_predict_begin()
    # One compute turn for all the batches, so that they see the same weights while another thread trains: unless a
    # callback runs code of the script's between them, which may wait for another thread (compute_turns.py)
    whole = compute_turns.turn(ops) if cbs is None or not cbs.run_scripts_code() else contextlib.nullcontext()
    with whole:
        for begin, end, starts in executions(range(0, n, batch_size), model.steps_per_execution):
            if cbs is not None:
                cbs.on_predict_batch_begin(begin)
            with compute_turns.turn(ops):  # (the layers' workspaces are this thread's until the outputs are copied)
                model._claim_layers()
                for start in starts:
                    stop = min(start + batch_size, n)
                    rows = stop - start
                    xb = inputs.get(rows)
                    if xb is None:
                        xb = inputs[rows] = ops.empty((rows,) + tuple(model._built_input_shape), dtype=model.dtype)
                    ops.upload(x[start:stop], xb)
                    with OutOfMemoryGuard(ops, batch_size):
                        y, _ = wiring.forward(model._calls, model._sources, model._split_inputs(xb), False,
                                              modes=model._modes, output_indices=ends)
                        for value, out in zip([y] if ends is None else y, outs):
                            ops.copy_into(value, out[start:stop])
            if cbs is not None:
                first, last = starts[0], min(starts[-1] + batch_size, n)
                run = [ops.to_numpy(out[first:last]) for out in outs]
                cbs.on_predict_batch_end(end, {"outputs": model._structure_outputs(run)})
                if model.stop_predicting and not stoppable:
                    model.stop_predicting = False
                    warnings.warn("stop_predicting: a data-parallel predict gives every rank's rows; a callback's "
                                  "stop_predicting is not followed there (predict on one rank to stop early)",
                                  UserWarning, stacklevel=user_stacklevel())
                if model.stop_predicting:
                    done = last
                    break
    if cbs is not None:
        cbs.on_predict_end()
    return model._structure_outputs([ops.to_numpy(out[:done]) for out in outs])
