"""Losses with tf.keras names: MSE, MAE and the binary / categorical / sparse categorical cross-entropies.

Each loss computes, in one pass, the per-sample loss, the gradient with respect to the model output and the
predictions the metrics see. Cross-entropy after a softmax or sigmoid output layer is fused by the model:
the layer hands over logits and the loss runs the stable ``softmax_xent`` / ``sigmoid_bce`` step, whose
gradient is simply (probabilities - targets) / batch.
"""
from __future__ import annotations

import numpy as np

from ._registry import lookup

EPSILON = 1e-7  # Keras's backend epsilon, used to clip probabilities


class Loss:
    """Base class. ``fusable_activation`` names the output activation this loss can absorb."""

    fusable_activation: str | None = None
    sparse_labels = False

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "auto"):
            raise ValueError(f"reduction: only 'sum_over_batch_size' is supported, got {reduction!r}")
        self.from_logits = bool(from_logits)
        self.name = name or _snake_name(type(self))

    def compute(self, ops, output, y_true, grad_scale, logits: bool, need_grad: bool = True):
        """(per-sample loss (B,), d loss / d output or None, predictions for the metrics)."""
        raise NotImplementedError

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        """The loss of each sample (float64, on the host), as Keras's loss functions return it."""
        from .ops import NumpyOps

        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = np.asarray(y_true)
        if self.sparse_labels:
            y_true = y_true.astype(np.int64).reshape(-1)
        else:
            y_true = y_true.astype(np.float64).reshape(y_pred.shape)
        per_sample, _, _ = self.compute(NumpyOps(), y_pred, y_true, 1.0 / len(y_pred), self.from_logits, False)
        return per_sample

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The mean loss over the batch as a float, as ``keras.losses.Loss.__call__`` returns it."""
        per_sample = self.per_sample(y_true, y_pred)
        if sample_weight is not None:
            per_sample = per_sample * np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        return float(per_sample.mean())

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits, "name": self.name}


def _snake_name(cls) -> str:
    return {"MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
            "BinaryCrossentropy": "binary_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
            "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy"}.get(cls.__name__, cls.__name__)


class MeanSquaredError(Loss):
    def __init__(self, name="mean_squared_error", **kwargs):
        super().__init__(name=name, **kwargs)

    def compute(self, ops, output, y_true, grad_scale, logits, need_grad=True):
        diff = output - y_true
        per_sample = (diff * diff).mean(axis=-1)
        grad = diff * (2.0 * grad_scale / diff.shape[-1]) if need_grad else None
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    def __init__(self, name="mean_absolute_error", **kwargs):
        super().__init__(name=name, **kwargs)

    def compute(self, ops, output, y_true, grad_scale, logits, need_grad=True):
        diff = output - y_true
        per_sample = ops.xp.abs(diff).mean(axis=-1)
        grad = ops.xp.sign(diff) * (grad_scale / diff.shape[-1]) if need_grad else None
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class BinaryCrossentropy(Loss):
    fusable_activation = "sigmoid"

    def compute(self, ops, output, y_true, grad_scale, logits, need_grad=True):
        xp = ops.xp
        per_sample = ops.empty(output.shape[:1], dtype=output.dtype)
        if logits:
            probs = ops.empty_like(output)
            grad = ops.empty_like(output) if need_grad else None
            ops.sigmoid_bce(output, y_true, probs, grad, per_sample, grad_scale / output.shape[-1])
            return per_sample, grad, probs
        p = xp.clip(output, EPSILON, 1.0 - EPSILON)
        per_elem = -(y_true * xp.log(p) + (1.0 - y_true) * xp.log(1.0 - p))
        per_sample[...] = per_elem.mean(axis=-1)
        grad = None
        if need_grad:
            inside = (output > EPSILON) & (output < 1.0 - EPSILON)
            grad = (p - y_true) / (p * (1.0 - p)) * inside * (grad_scale / output.shape[-1])
        return per_sample, grad, output


class CategoricalCrossentropy(Loss):
    fusable_activation = "softmax"

    def compute(self, ops, output, y_true, grad_scale, logits, need_grad=True):
        xp = ops.xp
        per_sample = ops.empty(output.shape[:1], dtype=output.dtype)
        if logits:
            probs = ops.empty_like(output)
            grad = ops.empty_like(output) if need_grad else None
            ops.softmax_xent(output, y_true, probs, grad, per_sample, grad_scale)
            return per_sample, grad, probs
        # Keras: rescale the probabilities to sum to one, clip, then -sum(t * log p).
        total = output.sum(axis=-1, keepdims=True)
        p = xp.clip(output / total, EPSILON, 1.0 - EPSILON)
        targets = self._dense_targets(ops, y_true, output)
        per_sample[...] = -(targets * xp.log(p)).sum(axis=-1)
        grad = None
        if need_grad:
            # d/d output of -sum(t * log(output / total)): -t / output + sum(t) / total (output = p * total).
            grad = (-targets / (p * total) + targets.sum(axis=-1, keepdims=True) / total) * grad_scale
        return per_sample, grad, output

    def _dense_targets(self, ops, y_true, output):
        return y_true


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    sparse_labels = True

    def _dense_targets(self, ops, y_true, output):
        targets = ops.zeros(output.shape, dtype=output.dtype)
        targets[ops.xp.arange(output.shape[0]), y_true] = 1.0
        return targets


_BY_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_BY_CLASS = {c.__name__: c for c in set(_BY_NAME.values())}


def get(identifier) -> Loss:
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        cls = lookup("loss", identifier["class_name"], {k.lower(): v for k, v in _BY_CLASS.items()})
        return cls(**identifier.get("config", {}))
    if callable(identifier) and getattr(identifier, "__name__", None) in _BY_NAME:
        return _BY_NAME[identifier.__name__]()
    if callable(identifier) and not isinstance(identifier, str):
        raise ValueError(
            f"loss: gpunn needs a loss it can differentiate by hand; got the callable "
            f"{getattr(identifier, '__name__', identifier)!r}. Use one of {sorted(_BY_NAME)} or a gpunn.losses class."
        )
    return lookup("loss", identifier, _BY_NAME)()


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def _function(cls, name):
    def fn(y_true, y_pred, from_logits=False):
        """Per-sample losses, as the function of the same name in ``keras.losses``."""
        kwargs = {"from_logits": from_logits} if from_logits else {}
        return cls(**kwargs).per_sample(y_true, y_pred)

    fn.__name__ = name
    return fn


mean_squared_error = mse = _function(MeanSquaredError, "mean_squared_error")
mean_absolute_error = mae = _function(MeanAbsoluteError, "mean_absolute_error")
binary_crossentropy = _function(BinaryCrossentropy, "binary_crossentropy")
categorical_crossentropy = _function(CategoricalCrossentropy, "categorical_crossentropy")
sparse_categorical_crossentropy = _function(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")
