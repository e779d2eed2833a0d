"""Losses with tf.keras names: MSE, MAE and the binary / categorical / sparse categorical cross-entropies.

Each loss computes, in one pass, the per-sample loss, the gradient with respect to the model output and the
predictions the metrics see: what the model outputs, as in Keras (``y_pred``), so raw logits when the loss is
built with ``from_logits=True``. Cross-entropy after a softmax or sigmoid output layer is fused by the model:
the layer hands over logits and the loss runs the stable ``softmax_xent`` / ``sigmoid_bce`` step, whose
gradient is simply (probabilities - targets) / batch.

Everything is written through Ops primitives into buffers of the caller's workspace (one per batch size), with
every scalar held there as a 0-d constant: after the first call of a given batch size a loss allocates nothing,
and the calls can be recorded and replayed. Each step follows Keras's formula in Keras's order of operations,
so the numbers are those of the plain array expressions.
"""
from __future__ import annotations

import numpy as np

from ._registry import lookup
from .ops.workspace import Workspace

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

    def compute(self, ops, ws, output, y_true, grad_scale, logits: bool, need_grad: bool = True):
        """(per-sample loss (B,), d loss / d output or None, predictions for the metrics), written into ``ws``.

        ``logits``: ``output`` holds logits, either because the loss was built with ``from_logits=True`` (the
        metrics then see those logits, the model's output) or because the model fused its softmax / sigmoid
        output layer into this loss (the metrics then see the probabilities that layer would have output).

        ``ws`` is the caller's workspace for this batch size; ``grad_scale`` (a host float, typically 1 / batch)
        must be the same on every call with a given ``ws``, which holds it as a constant."""
        raise NotImplementedError

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        """The loss of each sample (float64, on the host), as Keras's loss functions return it."""
        from .ops import NumpyOps

        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = np.asarray(y_true)
        if self.sparse_labels:
            y_true = _checked_labels(y_true.astype(np.int64).reshape(-1), y_pred.shape[-1])
        else:
            y_true = y_true.astype(np.float64).reshape(y_pred.shape)
        ops = NumpyOps()
        per_sample, _, _ = self.compute(ops, Workspace(ops), y_pred, y_true, 1.0 / len(y_pred), self.from_logits,
                                        False)
        return per_sample

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The mean loss over the batch as a float, as ``keras.losses.Loss.__call__`` returns it."""
        per_sample = self.per_sample(y_true, y_pred)
        if sample_weight is not None:
            per_sample = per_sample * np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        return float(per_sample.mean())

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits, "name": self.name}

    def _model_output(self, logits, probabilities):
        """What the metrics see after a logits step: Keras hands them the model's output (``y_pred``), which is
        the logits themselves with ``from_logits=True`` and the fused output layer's probabilities otherwise."""
        return logits if self.from_logits else probabilities


def _snake_name(cls) -> str:
    return {"MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
            "BinaryCrossentropy": "binary_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
            "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy"}.get(cls.__name__, cls.__name__)


def _checked_labels(labels, classes: int):
    """Class ids for the host API; a step gathers one-hot rows without bounds checks (fit checks its labels)."""
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels: expected class ids in [0, {classes}), got values from {labels.min()} "
                         f"to {labels.max()}")
    return labels


# ---- workspace buffers shared by the losses -------------------------------------------------------------------
# Names carry a "loss." prefix so that a caller may share one workspace between the loss and other users.

def _like_output(ws, name, output):
    """A buffer shaped like the model output (B, C), of its dtype."""
    return ws.buffer("loss." + name, output.shape, output.dtype)


def _per_sample(ws, output):
    return ws.buffer("loss.per_sample", output.shape[:1], output.dtype)


def _row_buffer(ws, name, output):
    """A (B, 1) buffer: one value per sample, broadcast along the row."""
    return ws.buffer("loss." + name, (output.shape[0], 1), output.dtype)


def _constant(ws, name, value, like):
    """A 0-d constant of ``like``'s dtype (ufuncs given a host scalar allocate on every call)."""
    return ws.constant("loss." + name, value, like.dtype)


def _row_mean(ops, ws, elementwise, out):
    """out (B,) = the mean of ``elementwise`` over its last axis, as NumPy's mean computes it: the sum, then a
    division by the count (``np.mean`` with ``out=`` allocates; this does not)."""
    ops.sum(elementwise, -1, out)
    return ops.divide(out, _constant(ws, "width", elementwise.shape[-1], out), out)


def _clip_probabilities(ops, ws, probabilities, out):
    """out = clip(probabilities, EPSILON, 1 - EPSILON), with 0-d bounds (``np.clip`` with scalars allocates)."""
    ops.maximum(probabilities, _constant(ws, "epsilon", EPSILON, out), out)
    return ops.minimum(out, _constant(ws, "one_minus_epsilon", 1.0 - EPSILON, out), out)


class MeanSquaredError(Loss):
    def __init__(self, name="mean_squared_error", **kwargs):
        super().__init__(name=name, **kwargs)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        diff = ops.subtract(output, y_true, _like_output(ws, "diff", output))
        squared = ops.multiply(diff, diff, _like_output(ws, "elementwise", output))
        per_sample = _row_mean(ops, ws, squared, _per_sample(ws, output))
        grad = None
        if need_grad:
            factor = _constant(ws, "grad_factor", 2.0 * grad_scale / output.shape[-1], output)
            grad = ops.multiply(diff, factor, _like_output(ws, "grad", output))
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    def __init__(self, name="mean_absolute_error", **kwargs):
        super().__init__(name=name, **kwargs)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        diff = ops.subtract(output, y_true, _like_output(ws, "diff", output))
        absolute = ops.abs(diff, _like_output(ws, "elementwise", output))
        per_sample = _row_mean(ops, ws, absolute, _per_sample(ws, output))
        grad = None
        if need_grad:
            grad = ops.sign(diff, _like_output(ws, "grad", output))
            ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


def _fused_buffers(ws, output, need_grad):
    """(per-sample, probabilities, gradient or None) buffers for a fused logits step."""
    grad = _like_output(ws, "grad", output) if need_grad else None
    return _per_sample(ws, output), _like_output(ws, "probabilities", output), grad


class BinaryCrossentropy(Loss):
    fusable_activation = "sigmoid"

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        if logits:
            per_sample, probs, grad = _fused_buffers(ws, output, need_grad)
            ops.sigmoid_bce(output, y_true, probs, grad, per_sample, grad_scale / output.shape[-1])
            return per_sample, grad, self._model_output(output, probs)
        p = _clip_probabilities(ops, ws, output, _like_output(ws, "clipped", output))
        per_sample = self._per_sample_loss(ops, ws, p, y_true, _per_sample(ws, output))
        grad = self._gradient(ops, ws, output, p, y_true, grad_scale) if need_grad else None
        return per_sample, grad, output

    @staticmethod
    def _per_sample_loss(ops, ws, p, y_true, out):
        """out = mean(-(t log p + (1 - t) log(1 - p))) over the last axis."""
        one = _constant(ws, "one", 1.0, p)
        total = ops.log(p, _like_output(ws, "elementwise", p))
        ops.multiply(y_true, total, total)  # t log p
        other = ops.subtract(one, y_true, _like_output(ws, "complement", p))
        log_q = ops.subtract(one, p, _like_output(ws, "scratch", p))
        ops.log(log_q, log_q)
        ops.multiply(other, log_q, other)  # (1 - t) log(1 - p)
        ops.add(total, other, total)
        _row_mean(ops, ws, total, out)
        # mean(-e) is -mean(e) exactly (rounding is symmetric), so the sign is applied to the B means
        return ops.negative(out, out)

    @staticmethod
    def _gradient(ops, ws, output, p, y_true, grad_scale):
        """(p - t) / (p (1 - p)), zero where the clip is active (Keras's clip has no gradient there), scaled."""
        one = _constant(ws, "one", 1.0, p)
        denominator = ops.subtract(one, p, _like_output(ws, "scratch", p))
        ops.multiply(p, denominator, denominator)
        grad = ops.subtract(p, y_true, _like_output(ws, "grad", p))
        ops.divide(grad, denominator, grad)
        ops.multiply(grad, _inside_clip_range(ops, ws, output), grad)
        return ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], p), grad)


def _inside_clip_range(ops, ws, output):
    """A bool buffer: EPSILON < output < 1 - EPSILON."""
    inside = ws.buffer("loss.inside", output.shape, np.bool_)
    below_top = ws.buffer("loss.below_top", output.shape, np.bool_)
    ops.greater(output, _constant(ws, "epsilon", EPSILON, output), inside)
    ops.greater(_constant(ws, "one_minus_epsilon", 1.0 - EPSILON, output), output, below_top)
    return ops.logical_and(inside, below_top, inside)


class CategoricalCrossentropy(Loss):
    fusable_activation = "softmax"

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        if logits:
            per_sample, probs, grad = _fused_buffers(ws, output, need_grad)
            ops.softmax_xent(output, y_true, probs, grad, per_sample, grad_scale)
            return per_sample, grad, self._model_output(output, probs)
        # Keras: rescale the probabilities to sum to one, clip, then -sum(t * log p).
        total = ops.sum(output, -1, _row_buffer(ws, "row_total", output), keepdims=True)
        p = ops.divide(output, total, _like_output(ws, "clipped", output))
        _clip_probabilities(ops, ws, p, p)
        targets = self._dense_targets(ops, ws, y_true, output)
        log_p = ops.log(p, _like_output(ws, "elementwise", output))
        ops.multiply(targets, log_p, log_p)
        per_sample = ops.sum(log_p, -1, _per_sample(ws, output))
        ops.negative(per_sample, per_sample)
        grad = self._gradient(ops, ws, output, p, total, targets, grad_scale) if need_grad else None
        return per_sample, grad, output

    @staticmethod
    def _gradient(ops, ws, output, p, total, targets, grad_scale):
        """d/d output of -sum(t * log(output / total)): -t / output + sum(t) / total (output = p * total),
        computed as sum(t) / total - t / (p * total), which is the same number (x + (-y) is x - y)."""
        denominator = ops.multiply(p, total, _like_output(ws, "scratch", output))
        grad = ops.divide(targets, denominator, _like_output(ws, "grad", output))
        target_total = ops.sum(targets, -1, _row_buffer(ws, "target_total", output), keepdims=True)
        ops.divide(target_total, total, target_total)
        ops.subtract(target_total, grad, grad)
        return ops.multiply(grad, _constant(ws, "grad_scale", grad_scale, output), grad)

    def _dense_targets(self, ops, ws, y_true, output):
        return y_true


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    sparse_labels = True

    def _dense_targets(self, ops, ws, y_true, output):
        """One-hot rows of the labels, gathered from an identity matrix: the gather writes into the buffer
        without allocating, which NumPy's scatter (put_along_axis) does not. The identity's zeros are made once;
        its diagonal is set on every call, a (classes,)-element write, so a replayed step needs no set-up."""
        classes = output.shape[-1]
        identity = ws.zeros("loss.identity", (classes, classes), output.dtype)
        ops.fill(1, identity.reshape(-1)[::classes + 1])
        return ops.take_rows(identity, y_true, out=_like_output(ws, "targets", output))


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
