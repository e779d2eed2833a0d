"""Keras's Circle loss (keras/src/losses/losses.py ``circle``, ``Circle``; Sun et al., 2020), a metric-learning
loss over the pairs of a batch's rows: for L2-normalised embeddings, pairs of the same class are pulled within
``margin`` of each other and the others pushed beyond it, each pair weighted by how far it is from its optimum.

Written with ``gpunn.ops`` as Keras writes it, it runs as a loss of one's own does (a host call of the step,
differentiated by ``gpunn/autodiff``). Keras masks the per-sample values to those above 0 (a row with no other row
of its class in the batch has no positive pair, and its loss is 0) and averages over those alone; ``Circle``
does the same. Pairs left out take a very negative number rather than -inf before the log-sum-exp: the same
values (its exponential is 0 either way), and a finite gradient for a row with nothing left in."""
from __future__ import annotations

import functools

import numpy as np

from . import loss_tensors, ops
from .losses import FunctionLoss, Loss, _checked_number, keras_values, reduce_values

_LEFT_OUT = -1e30  # below any weighted distance by far; exp() of its difference to them is exactly 0


def _pair_masks(query_labels, key_labels, remove_diagonal):
    """(positive, negative) boolean (queries, keys) masks: same class or not (keras/src/utils/numerical_utils.py
    ``build_pos_neg_masks``); a row is no positive pair with itself when ``remove_diagonal``."""
    if ops.ndim(query_labels) == 1:
        query_labels = ops.reshape(query_labels, (-1, 1))
    if ops.ndim(key_labels) == 1:
        key_labels = ops.reshape(key_labels, (-1, 1))
    positive = ops.equal(query_labels, ops.transpose(key_labels))
    negative = ops.logical_not(positive)
    if remove_diagonal:
        others = ops.logical_not(ops.eye(ops.size(query_labels), ops.size(key_labels), k=0, dtype="bool"))
        positive = ops.logical_and(positive, others)
    return positive, negative


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Per-sample Circle losses of the class ids ``y_true`` and the L2-normalised embeddings ``y_pred``, against
    the reference rows ``ref_embeddings`` / ``ref_labels`` (default: the batch itself)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, "int32")
    ref_embeddings = y_pred if ref_embeddings is None else ops.convert_to_tensor(ref_embeddings)
    ref_labels = y_true if ref_labels is None else ops.cast(ref_labels, "int32")
    distances = ops.maximum(1 - ops.matmul(y_pred, ops.transpose(ref_embeddings)), 0.0)  # cosine distances
    positive, negative = _pair_masks(y_true, ref_labels, remove_diagonal)
    positive_weights = ops.maximum((margin + distances) * ops.cast(positive, distances.dtype), 0.0)
    negative_weights = ops.maximum((1 + margin - distances) * ops.cast(negative, distances.dtype), 0.0)
    positive_terms = -1 * gamma * positive_weights * (margin - distances)
    negative_terms = gamma * negative_weights * ((1 - margin) - distances)
    positive_loss = ops.logsumexp(ops.where(positive, positive_terms, _LEFT_OUT), axis=1)
    negative_loss = ops.logsumexp(ops.where(negative, negative_terms, _LEFT_OUT), axis=1)
    return ops.softplus(positive_loss + negative_loss)


def _circle_over_positive_rows(y_true, y_pred, **arguments):
    """``circle``'s values scaled so that their mean over the batch is their mean over the rows whose loss is
    above 0, as Keras's mask reduces them (each such row weighs rows / positives, the others 0)."""
    values = circle(y_true, y_pred, **arguments)
    kept = ops.cast(ops.greater(values, 0.0), values.dtype)
    rows = ops.cast(ops.shape(values)[0], values.dtype)
    return values * kept * (rows / ops.maximum(ops.sum(kept), 1.0))  # no row kept: every value is 0 anyway


class Circle(FunctionLoss):
    serialized_as_class = True

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size", name="circle",
                 dtype=None):
        self.gamma, self.margin = _checked_number("gamma", gamma), _checked_number("margin", margin)
        self.remove_diagonal = bool(remove_diagonal)
        super().__init__(functools.partial(_circle_over_positive_rows, gamma=self.gamma, margin=self.margin,
                                           remove_diagonal=self.remove_diagonal),
                         name=name, reduction=reduction, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Called on arrays: Keras's reduction of the masked values (``losses/loss.py`` ``apply_mask``): the rows
        whose loss is above 0 weigh rows / positives in a mean over the batch, 1 in the other reductions, the
        others 0. (Called on Tensors, as in training, the mean over the batch.)"""
        if loss_tensors.involves_tensors(y_true, y_pred, sample_weight):
            return super().__call__(y_true, y_pred, sample_weight)
        values = np.asarray(circle(y_true, y_pred, gamma=self.gamma, margin=self.margin,
                                   remove_diagonal=self.remove_diagonal), dtype=np.float64)
        kept = (values > 0).astype(np.float64)
        reduction = getattr(self, "reduction", "sum_over_batch_size")
        if reduction in ("sum_over_batch_size", "mean") and kept.sum():
            kept *= kept.size / kept.sum()
        weights = kept if sample_weight is None else kept * np.asarray(sample_weight, dtype=np.float64)
        return keras_values(reduce_values(values * weights, weights, reduction), y_pred, getattr(self, "_dtype",
                                                                                                 None))

    def get_config(self) -> dict:
        return {**Loss.get_config(self), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}
