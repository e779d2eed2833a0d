"""Activity regularization: a layer's ``activity_regularizer`` penalises its outputs (Keras 3:
``keras/src/layers/layer.py`` ``__call__``, which adds ``regularizer(output) / batch size`` to the layer's losses,
and the model adds those to the loss it reports and differentiates, in training and in evaluation).

``penalty`` adds each such term, for this rank's rows, to the step's 0-d penalty (the weight penalties' buffer,
which the running metrics add to every sample's loss); ``add_gradients`` wraps the layers' backprops so that each
adds the term's gradient, ``regularizer'(output) / global batch``, to the gradient arriving at its output: over
ranks these sum to what one process computes for the whole batch, as the loss's own gradient does.

Every buffer and constant is the layer's own, per batch size (``layer.workspace``), so a recorded step replays
the terms like any other part of the step.
"""
from __future__ import annotations


def _workspace(layer, rows: int, global_rows: int):
    return layer.workspace(("activity", rows, global_rows))


def penalty(plan, ops, ws, outputs: dict, weight_penalty, rows: int, global_rows: int, dtype):
    """The 0-d buffer weight penalty + sum of regularizer(output) / rows over the plan's regularized outputs
    (``weight_penalty`` may be None: no weight regularizers)."""
    total = ws.buffer("activity.penalty", (), dtype)
    if weight_penalty is None:
        ops.fill(0, total)
    else:
        ops.copy_into(weight_penalty, total)
    for index, y in outputs.items():
        layer = plan.layers[index]
        lws = _workspace(layer, rows, global_rows)
        term = lws.buffer("activity.term", (), y.dtype)
        layer.activity_regularizer.penalty(ops, lws, y, term)
        # (a rank's empty share of a small last batch has no rows and a 0 term: 0, as Keras's divide_no_nan)
        ops.divide(term, lws.constant("activity.rows", float(max(rows, 1)), y.dtype), term)
        ops.add(total, term, total)
    return total


def add_gradients(plan, ops, outputs: dict, backprops: list, rows: int, global_rows: int) -> None:
    """Wrap ``backprops[index]`` of each regularized output so that it first adds the term's gradient to dy."""
    for index, y in outputs.items():
        backprops[index] = _adding_gradient(plan.layers[index], ops, y, backprops[index], rows, global_rows)


def _adding_gradient(layer, ops, y, backprop, rows: int, global_rows: int):
    lws = _workspace(layer, rows, global_rows)

    def backprop_with_activity(dy, need_dx=True):
        grad = ops.fill(0, lws.buffer("activity.grad", y.shape, y.dtype))
        layer.activity_regularizer.add_gradient(ops, lws, y, grad)
        ops.multiply(grad, lws.constant("activity.scale", 1.0 / global_rows, y.dtype), grad)
        ops.add(dy, grad, dy)
        return backprop(dy, need_dx)

    return backprop_with_activity
