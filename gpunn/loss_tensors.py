"""A built-in loss on Tensors: ``keras.losses.binary_crossentropy(y_true, y_pred)`` or ``BinaryCrossentropy()(...)``
inside a loss, metric or layer of the user's, where ``y_pred`` (or ``y_true``) is a Tensor being differentiated
(``gpunn/autodiff``).

The loss computes as it does in a model's step (its ``compute``: the same formulas, clipping and gradients,
checked against Keras), on the Tensor's array and its device; the result is a Tensor whose backward pass scales
each row's gradient of the loss by the gradient that reaches that row's value. The gradient with respect to
``y_true`` (an autoencoder's ``binary_crossentropy(x, reconstruction)`` inside a layer, whose input ``x`` needs
one) is written here for the losses whose targets are numbers; the others refuse it by name.
"""
from __future__ import annotations

import math

import numpy as np

from . import fuzz_factor
from .autodiff import Tensor
from .autodiff import functions as autodiff_functions
from .autodiff.functions import _tensor, _value
from .ops.base import reference_ops_for
from .ops.workspace import Workspace



def involves_tensors(*values) -> bool:
    return any(value is not None and _tensor(value) is not None for value in values)


def per_sample(loss, y_true, y_pred):
    """The loss of each sample (the last axis reduced, as Keras's loss functions reduce it), as a Tensor that
    carries the gradient: a loss written as a function computes on the Tensors itself."""
    if loss.takes_sample_weights:
        function = getattr(loss, "fn", None) or loss.call  # a FunctionLoss's function, or a subclass's call()
        return function(y_true, y_pred)
    return builtin_per_sample(loss, y_true, y_pred)


def _checked_axis(loss, ndim: int) -> None:
    axis = getattr(loss, "axis", -1)
    if ndim and axis % ndim != ndim - 1:
        raise ValueError(f"loss {loss.name!r}: axis={axis} on y_pred of rank {ndim}; gpunn reduces the last axis "
                         "(axis=-1) only")


def broadcast_targets(loss, xp, y_true, shape: tuple):
    """Targets of another size than the predictions broadcast to their shape, as Keras's loss functions compute
    (``kl_divergence(0.1, mean_activities)``, "Hands-On Machine Learning"'s sparsity regularizer); an error naming
    both shapes where they do not broadcast."""
    from . import losses

    last = y_true.shape[-1] if y_true.ndim else 1
    if isinstance(loss, losses.CosineSimilarity) and last == 1 and shape[-1] != 1:
        # Keras normalizes the targets before broadcasting them, which gives similarities outside [-1, 1]
        raise ValueError(f"y_true, y_pred: CosineSimilarity takes targets of the predictions' shape {shape}, not "
                         f"targets of shape {tuple(y_true.shape)} spread along the axis the similarity is over")
    try:
        return xp.broadcast_to(y_true, shape)
    except ValueError:
        raise ValueError(f"y_true, y_pred: {type(loss).__name__} expected targets of the predictions' shape {shape} "
                         f"(or one that broadcasts to it), got targets of shape {tuple(y_true.shape)}") from None


def builtin_per_sample(loss, y_true, y_pred) -> Tensor:
    """``per_sample`` through the loss's ``compute``."""
    prediction, target = _tensor(y_pred), _tensor(y_true)
    output = _value(y_pred)
    if not hasattr(output, "dtype") or output.dtype.kind != "f":
        output = np.asarray(output, dtype=np.float32)
    ops = reference_ops_for(output)
    xp = ops.xp
    output = xp.asarray(output)
    if output.ndim == 0:
        raise ValueError(f"loss {loss.name!r}: y_pred must have at least one axis (the one the loss reduces)")
    _checked_axis(loss, output.ndim)
    shape = output.shape
    rows = xp.ascontiguousarray(output.reshape(-1, shape[-1]))
    labels = xp.asarray(_value(y_true, xp))
    if loss.sparse_labels:
        labels = xp.ascontiguousarray(labels.reshape(-1).astype(np.int64))
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= rows.shape[-1]):
            raise ValueError(f"loss {loss.name!r}: y_true: expected class ids in [0, {rows.shape[-1]}), got values "
                             f"from {int(labels.min())} to {int(labels.max())}")
    else:
        target_shape = labels.shape
        if labels.size != rows.size:
            labels = broadcast_targets(loss, xp, labels, shape)
        labels = xp.ascontiguousarray(labels.astype(rows.dtype).reshape(rows.shape))
    need_pred = prediction is not None and prediction.requires_grad
    need_true = target is not None and target.requires_grad
    values, rows_grad, _ = loss.compute(ops, Workspace(ops), rows, labels, 1.0, loss.from_logits,
                                        need_pred or need_true)
    values = xp.array(values).reshape(shape[:-1])
    if not (need_pred or need_true):
        return Tensor(values)
    rows_grad = xp.array(rows_grad)  # d(loss of each sample) / d(its row of y_pred)
    true_grad = _target_gradient(loss, xp, rows, rows_grad) if need_true else None
    parents, parts = [], []
    if need_pred:
        parents.append(prediction)
        parts.append((rows_grad, shape))
    if need_true:
        parents.append(target)
        parts.append((true_grad, target_shape))

    def backward(grad):
        upstream = xp.asarray(grad).reshape(-1, 1)
        # (a target broadcast to the predictions' shape gets the sum over the values it stood for)
        return tuple((upstream * part).reshape(shape) if math.prod(part_shape) == math.prod(shape) else
                     autodiff_functions._unbroadcast(xp, (upstream * part).reshape(shape), part_shape)
                     for part, part_shape in parts)

    return Tensor(values, parents=tuple(parents), backward=backward)


def _target_gradient(loss, xp, rows, rows_grad):
    """d(loss of each sample) / d(its row of y_true), for the losses whose targets are numbers."""
    from . import losses

    keep = 1.0 - getattr(loss, "label_smoothing", 0.0)  # the smoothed target moves by this much per unit
    width = rows.shape[-1]
    if isinstance(loss, (losses.MeanSquaredError, losses.MeanAbsoluteError, losses.Huber, losses.LogCosh)):
        return -rows_grad  # functions of y_pred - y_true
    if isinstance(loss, losses.BinaryCrossentropy):
        if loss.from_logits:  # max(z, 0) - z t + log(1 + exp(-|z|)), averaged over the last axis
            return -rows * (keep / width)
        clipped = xp.clip(rows, fuzz_factor.epsilon(), 1.0 - fuzz_factor.epsilon())
        return -(xp.log(clipped) - xp.log(1.0 - clipped)) * (keep / width)
    if isinstance(loss, losses.CategoricalCrossentropy) and not loss.sparse_labels:
        if loss.from_logits:
            shifted = rows - rows.max(axis=-1, keepdims=True)
            return -(shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))) * keep
        probabilities = rows / rows.sum(axis=-1, keepdims=True)
        return -xp.log(xp.clip(probabilities, fuzz_factor.epsilon(), 1.0 - fuzz_factor.epsilon())) * keep
    raise TypeError(f"loss {loss.name!r}: y_true needs a gradient here, which gpunn gives for the mean squared and "
                    "absolute errors, Huber, LogCosh and the binary and categorical cross-entropies; wrap the "
                    "target in gpunn.ops.stop_gradient() if it needs none, or write the loss with gpunn.ops")


def mean_loss(loss, y_true, y_pred, sample_weight=None) -> Tensor:
    """``Loss.__call__`` on Tensors: the mean over the samples of the (weighted) per-sample losses."""
    values = per_sample(loss, y_true, y_pred)
    if sample_weight is not None:
        shape, dtype = _value(values).shape, _value(values).dtype
        # Keras casts the weights to the loss's dtype
        weights = sample_weight if _tensor(sample_weight) is not None else np.asarray(sample_weight, dtype=dtype)
        if np.ndim(_value(weights)) and np.size(_value(weights)) == int(np.prod(shape)):
            weights = autodiff_functions.reshape(weights, shape)
        values = values * weights
    reduction = getattr(loss, "reduction", "sum_over_batch_size")
    if reduction in (None, "none"):
        return values
    if reduction == "sum":
        return autodiff_functions.sum(values)
    if reduction == "mean_with_sample_weight" and sample_weight is not None:  # (weights all 0: 0, as Keras's)
        return autodiff_functions.divide_no_nan(autodiff_functions.sum(values), autodiff_functions.sum(weights))
    return autodiff_functions.mean(values)
