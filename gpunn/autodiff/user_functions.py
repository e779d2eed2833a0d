"""Running a function a user wrote (a custom loss or metric of ``(y_true, y_pred)``) inside a training step.

The function computes eagerly on the batch's own arrays (NumPy or CuPy) with ``gpunn.ops`` / ``gpunn.backend``
functions; its result is reduced as Keras reduces a loss (``reduce_weighted_values``: the sum of the weighted
values over their count) or a metric's values (``reduce_to_samplewise_values``), and for a loss, its gradient
with respect to ``y_pred`` comes from the record the evaluation kept (``tensor.py``). The step hands the call to
``Ops.run_python``, so a recorded step replays it as it is (a CUDA graph stops before it).
"""
from __future__ import annotations

import warnings

from .tensor import Tensor, array_module, gradients


def same_rank(y_true, y_pred):
    """Keras's ``squeeze_or_expand_to_same_rank`` for a loss function's arguments: a rank-1 one gets the other's
    trailing axis of size 1, else that axis is dropped."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        return (y_true, y_pred[..., None]) if y_pred.ndim == 1 else (y_true[..., 0], y_pred)
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        return (y_true[..., None], y_pred) if y_true.ndim == 1 else (y_true, y_pred[..., 0])
    return y_true, y_pred


def loss_values(function, y_true, y_pred, match_ranks: bool):
    """The values a loss written as a function returns for host arrays, as it returns them (a loss called on its
    own reduces them as they come, as Keras's ``Loss.__call__`` does); ``match_ranks`` as for ``loss_step``."""
    truth = y_true.astype(y_pred.dtype, copy=False)
    truth, predicted = same_rank(truth, y_pred) if match_ranks else (truth, y_pred)
    value = function(Tensor(truth), Tensor(predicted))
    return value.numpy() if isinstance(value, Tensor) else array_module(value).asarray(value)


def _result(name: str, value, rows: int, loss: bool = False) -> Tensor:
    """The function's result as a Tensor of shape () or (rows, ...). A loss's values of another shape (reduced
    over the batch axis itself: ``mean(square(y_true - y_pred), axis=0)``) count as their mean, one value for
    the batch, as Keras's reduction takes the mean of whatever a loss returns."""
    if not isinstance(value, Tensor):
        xp = array_module(value)
        value = Tensor(xp.asarray(value))
    if loss and value.ndim and value.shape[0] != rows:
        from . import functions

        return functions.mean(value)
    if value.ndim and value.shape[0] != rows:
        raise ValueError(f"{name}: returned values of shape {value.shape} for a batch of {rows} samples; expected "
                         "one value (a scalar), or values with one row per sample")
    return value


_WARNED_BATCH_VALUES: set = set()


def _warn_if_batch_value_across_ranks(name: str, values: Tensor) -> None:
    """A function returning one value for the batch, in a data-parallel run: each rank computes it on its share of
    the batch, and the shares' values are averaged (by rows), which is the batch's value for a mean but not for a
    sum, a maximum or a ratio over the batch (a recall computed batch by batch). Said once per function."""
    if values.ndim or name in _WARNED_BATCH_VALUES:
        return
    from .. import distributed

    comm = distributed.current()
    size = comm.size
    if size > 1 and comm.is_chief:  # (the others run the same script)
        _WARNED_BATCH_VALUES.add(name)
        warnings.warn(f"{name}: returns one value for the whole batch; with {size} ranks each rank computes it on "
                      "its share of the batch and the shares' values are averaged, which equals one process for a "
                      "mean over the batch, not for a sum, a maximum or a ratio; return one value per sample "
                      "(Keras's reduction averages them) to get the same numbers as one process", stacklevel=2)


def _per_sample(values: Tensor, rows: int) -> Tensor:
    """(rows,): each sample's mean value (a scalar result counts for every sample, as Keras's reduction
    broadcasts it)."""
    from . import functions

    if values.ndim == 0:
        return functions.broadcast_to(values, (rows,))
    if values.ndim > 1:
        return functions.mean(values, axis=tuple(range(1, values.ndim)))
    return values


def loss_step(name: str, function, y_true, y_pred, grad_scale: float, sample_weight, per_sample_out,
              gradient_out, match_ranks: bool) -> None:
    """Write the per-sample loss (sample weights applied) into ``per_sample_out`` (rows,) and, when
    ``gradient_out`` is given, d(grad_scale * sum of it) / d y_pred into it. ``match_ranks``: give the function
    its arguments at the same rank (a plain function, as Keras's ``LossFunctionWrapper`` does)."""
    xp = array_module(y_pred)
    rows = y_pred.shape[0]
    truth = y_true.astype(y_pred.dtype, copy=False)  # Keras converts y_true to the loss's dtype
    if match_ranks:
        truth, predicted = same_rank(truth, y_pred)
    else:
        predicted = y_pred
    prediction = Tensor(predicted, requires_grad=gradient_out is not None)
    values = _result(name, function(Tensor(truth), prediction), rows, loss=True)
    _warn_if_batch_value_across_ranks(name, values)
    per_sample = _per_sample(values, rows)
    if sample_weight is not None:
        per_sample = per_sample * Tensor(sample_weight.astype(per_sample.dtype, copy=False))
    xp.copyto(per_sample_out, per_sample.value)
    if gradient_out is None:
        return
    seed = xp.full((rows,), grad_scale, dtype=per_sample.dtype)
    (gradient,) = gradients(per_sample, [prediction], seed)
    if gradient is None:
        raise ValueError(f"{name}: the loss does not depend on y_pred (computed outside gpunn.ops / gpunn.backend "
                         "functions, or only through ones that have no gradient, such as round or argmax), so "
                         "training would not move the model")
    xp.copyto(gradient_out, gradient.reshape(gradient_out.shape))


def metric_step(name: str, function, y_true, y_pred, sample_weight, total, count) -> None:
    """Add one batch of a metric function's values into ``total`` and ``count`` (0-d float64 arrays), as
    Keras's ``MeanMetricWrapper`` / ``Mean.update_state`` do: values reduced to one per sample (their mean),
    weighted when weights are given (count += their sum), else count += the samples, or 1 for a scalar."""
    xp = array_module(y_pred)
    rows = y_pred.shape[0]
    values = _result(name, function(Tensor(y_true), Tensor(y_pred)), rows)
    _warn_if_batch_value_across_ranks(name, values)
    values = values.value.astype("float64")
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    if sample_weight is not None:
        if values.ndim == 0:
            raise ValueError(f"{name}: returned one value for the batch; weighted metrics need one per sample")
        weights = sample_weight.astype("float64")
        total += xp.sum(values * weights)
        count += xp.sum(weights)
        return
    total += xp.sum(values)
    count += values.shape[0] if values.ndim else 1
