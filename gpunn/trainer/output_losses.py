"""The loss of a batch over the model's outputs, as a step computes it: each output's loss, its gradient and the
predictions its metrics see, then the training loss, the sum of the outputs' losses times their weights (Keras's
``CompileLoss``). Sample weights scale every output's per-sample loss and gradient rows.

All of it goes through Ops primitives into workspace buffers (one workspace per output per batch size), so it
records and replays as the rest of the step. A model of one output without a loss weight runs exactly the calls
it always did.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compiled_outputs import loss_weight_value


@dataclass
class BatchLoss:
    per_sample: object         # the training loss of each sample (weights applied), shape (rows,)
    gradients: object          # d loss / d output: the array (one output), or {layer index: array}; None in eval
    predictions: list          # per output, what its metrics see as y_pred
    labels: list               # per output, its targets (None for an output without a loss)
    parts: list | None         # per output with a loss, its own per-sample loss (sample weights applied, not the
    # loss weight), for the "<output>_loss" logs; None unless several outputs have a loss
    weights: object = None     # the sample weights the metrics take: the batch's (rows,) array or None, or for
    # several outputs a list of each output's
    mask: object = None        # a per-step output's padding mask (its rows, 1 where kept), which every metric
    # takes (Keras masks its metrics; the weighted ones get it in ``weights`` already)

    @property
    def several(self) -> bool:
        return len(self.labels) > 1

    def metric_inputs(self) -> tuple:
        """(predictions, labels) as RunningMetrics takes them: of the one output, or lists per output."""
        if not self.several:
            return self.predictions[0], self.labels[0]
        return self.predictions, self.labels


def compute(plan, ops, workspaces, values, y, w, grad_scale: float, need_grad: bool = True, x=None) -> BatchLoss:
    """The BatchLoss of the model's ``values`` (its output, or the list of its several) against the targets
    ``y`` (packed for several outputs), ``w`` the sample weights or None (for several outputs, one column per
    output with a loss when given per output). ``workspaces(key)``: the step's loss workspace for this batch
    size and ``key``. ``grad_scale``: d (batch loss) / d (sum of per-sample losses). ``x``: the batch's inputs,
    for a model whose own compute_loss takes them (``own_compute_loss.py``)."""
    if plan.output_indices is None:
        return _one_output(plan.outputs[0], ops, workspaces, values, y, w, grad_scale, need_grad, x)
    targets = plan.targets.split(ops, y)
    parts, predictions, labels, weights, gradients = [], [], [], [], {}
    for k, (output, value) in enumerate(zip(plan.outputs, values)):
        if output.loss is None:
            # Not trained: nothing flows back from it. A zero gradient (rather than none) keeps every layer's
            # backprop, and so every weight gradient, written each step, as when the output had a loss.
            if need_grad:
                zero = workspaces(k).buffer("loss.no_gradient", value.shape, value.dtype)
                ops.fill(0, zero)
                gradients[output.index] = zero
            predictions.append(value)
            labels.append(None)
            weights.append(None)
            continue
        label = targets[output.target]
        scale = grad_scale if output.weight is None else grad_scale * loss_weight_value(output.weight)
        own = _own_weights(ops, workspaces(k), w, output.target)
        per_sample, dy, predicted, label, own = _weighted_loss(output, ops, workspaces(k), value, label, scale, own,
                                                               need_grad)
        parts.append((output, per_sample))
        predictions.append(predicted)
        labels.append(label)
        weights.append(own)
        gradients[output.index] = dy
    ws = workspaces("total")
    total = ws.buffer("loss.total", parts[0][1].shape, parts[0][1].dtype)
    for k, (output, part) in enumerate(parts):
        if output.weight is None:
            weighted = part
        else:
            weight = ws.constant(f"loss.weight{k}", loss_weight_value(output.weight), part.dtype)
            weighted = ops.multiply(part, weight, ws.buffer(f"loss.weighted{k}", part.shape, part.dtype))
        if k == 0:
            ops.copy_into(weighted, total)
        else:
            ops.add(total, weighted, total)
    own_parts = [part for _, part in parts] if len(parts) > 1 else None
    return BatchLoss(total, gradients if need_grad else None, predictions, labels, own_parts, weights)


def _own_weights(ops, ws, w, column: int):
    """An output's sample weights: the batch's one per sample, or its column of those given per output, copied
    into a contiguous buffer of its own (the losses and metrics read rows of it)."""
    if w is None or w.ndim == 1:
        return w
    own = ws.buffer("loss.sample_weights", w.shape[:1], w.dtype)
    ops.copy_into(w[:, column], own)
    return own


def _weighted_loss(output, ops, ws, value, label, scale, w, need_grad, x=None) -> tuple:
    """(per-sample loss, gradient, predictions, and the targets and sample weights its metrics take) of one
    output, its sample weights ``w`` applied.

    An output per step (samples, steps..., features), a Dense on sequences: as Keras's losses reduce every axis
    but the features' and then average over all of them, each step is a row of its own here, a sample's loss the
    mean over its steps (each step's gradient scaled by 1 / steps); the metrics see the rows. A sample's weight
    weighs each of its steps, as a weight per step repeated would in Keras (which refuses weights of shape
    (samples,) for such an output, unless its targets are one axis short: its loss is then one per sample)."""
    own_way = getattr(output.loss, "takes_inputs", False) or output.loss.takes_sample_weights
    steps = int(np.prod(value.shape[1:-1])) if value.ndim > 2 else None
    if steps is None:
        return _rows_loss(output, ops, ws, value, label, scale, w, need_grad, x) + (label, w)
    if own_way:  # (a loss of the user's takes the samples whole; the metrics, as for any loss, each step a row)
        per_sample, dy, predicted = _rows_loss(output, ops, ws, value, label, scale, w, need_grad, x)
        return (per_sample, dy) + _per_step_rows(ops, ws, predicted, label, w, value.ndim)
    rows = value.shape[0]
    flat_label = label.reshape((rows * steps,) + tuple(label.shape[value.ndim - 1:]))
    flat_w, metric_w = None, None
    if w is not None:
        flat_w = ws.buffer("loss.step_weights", (rows, steps), w.dtype)
        ops.fill(1, flat_w)
        ops.multiply(flat_w, w.reshape(-1, 1), flat_w)
        flat_w = metric_w = flat_w.reshape(-1)
    if getattr(output, "mask_source", None) is not None:
        flat_w, metric_w = _masked_step_weights(ops, ws, output.mask_source.mask_for(rows), flat_w, value.dtype)
    per_step, dy, predicted = _rows_loss(output, ops, ws, value.reshape(-1, value.shape[-1]), flat_label,
                                         scale / steps, flat_w, need_grad)
    per_sample = ws.buffer("loss.mean_over_steps", (rows,), per_step.dtype)
    ops.sum(per_step.reshape(rows, steps), 1, per_sample)
    ops.multiply(per_sample, ws.constant("loss.inverse_steps", 1.0 / steps, per_sample.dtype), per_sample)
    return per_sample, None if dy is None else dy.reshape(value.shape), predicted, flat_label, metric_w


def _per_step_rows(ops, ws, predicted, label, w, ndim: int) -> tuple:
    """(predictions, targets, sample weights) of an output per step as its metrics take them: each step a row, a
    sample's weight repeated for each of its steps."""
    rows = predicted.shape[0]
    steps = int(np.prod(predicted.shape[1:-1]))
    flat_label = label.reshape((rows * steps,) + tuple(label.shape[ndim - 1:]))
    metric_w = None
    if w is not None:
        metric_w = ws.buffer("loss.metric_step_weights", (rows, steps), w.dtype)
        ops.fill(1, metric_w)
        ops.multiply(metric_w, w.reshape(-1, 1), metric_w)
        metric_w = metric_w.reshape(-1)
    return predicted.reshape(-1, predicted.shape[-1]), flat_label, metric_w


def _masked_step_weights(ops, ws, mask, weights, dtype) -> tuple:
    """(the loss's weight of each step, the metrics') for an output carrying a padding mask, as Keras's
    ``apply_mask``: the loss weighs each step kept by total / kept (the batch's mean over the steps kept; 0 for
    padding), the metrics by the mask alone; both times the sample weights, when given."""
    flat = mask.reshape(-1)
    metric_w = flat if weights is None else ops.multiply(flat, weights, ws.buffer("loss.masked_metric_w", flat.shape,
                                                                                  dtype))
    kept = ops.sum(flat, 0, ws.buffer("loss.steps_kept", (), dtype))
    ops.maximum(kept, ws.constant("loss.one", 1.0, dtype), kept)  # (none kept: every weight is 0 anyway)
    ratio = ops.divide(ws.constant("loss.steps_total", float(flat.size), dtype), kept,
                       ws.buffer("loss.mask_ratio", (), dtype))
    loss_w = ops.multiply(metric_w, ratio, ws.buffer("loss.masked_w", flat.shape, dtype))
    return loss_w, metric_w


def _rows_loss(output, ops, ws, value, label, scale, w, need_grad, x=None) -> tuple:
    """(per-row loss, gradient, predictions) of one output's rows, its sample weights ``w`` applied."""
    if getattr(output.loss, "takes_inputs", False):  # a model's own compute_loss
        return output.loss.weighted_compute(ops, ws, value, label, scale, output.takes_logits, need_grad, w, x=x)
    if output.loss.takes_sample_weights:  # a loss written as a function weighs its own values
        return output.loss.weighted_compute(ops, ws, value, label, scale, output.takes_logits, need_grad, w)
    per_sample, dy, predicted = output.loss.compute(ops, ws, value, label, scale, output.takes_logits, need_grad)
    _apply_sample_weights(ops, w, per_sample, dy)
    return per_sample, dy, predicted


def _one_output(output, ops, workspaces, value, y, w, grad_scale, need_grad, x=None) -> BatchLoss:
    if output.loss is None:  # a model compiled without a loss: its layers' add_loss terms alone (layer_losses.py)
        ws = workspaces(0)
        per_sample = ws.buffer("loss.none", (value.shape[0],), value.dtype)
        ops.fill(0, per_sample)
        dy = None
        if need_grad:
            dy = ws.buffer("loss.no_gradient", value.shape, value.dtype)
            ops.fill(0, dy)
        return BatchLoss(per_sample, dy, [value], [None], None, None)
    scale = grad_scale if output.weight is None else grad_scale * loss_weight_value(output.weight)
    per_sample, dy, predicted, y, w = _weighted_loss(output, ops, workspaces(0), value, y, scale, w, need_grad, x)
    if output.weight is not None:
        ws = workspaces("total")
        weight = ws.constant("loss.weight0", loss_weight_value(output.weight), per_sample.dtype)
        per_sample = ops.multiply(per_sample, weight, ws.buffer("loss.total", per_sample.shape, per_sample.dtype))
    mask = None
    if getattr(output, "mask_source", None) is not None:
        mask = output.mask_source.mask_for(value.shape[0]).reshape(-1)
    return BatchLoss(per_sample, dy, [predicted], [y], None, w, mask)


def _apply_sample_weights(ops, w, per_sample, dy) -> None:
    """Keras: each sample's loss, and so its gradient row, scaled by its weight."""
    if w is None:
        return
    ops.multiply(per_sample, w, per_sample)
    if dy is not None:
        ops.multiply(dy, w.reshape((-1,) + (1,) * (dy.ndim - 1)), dy)
