"""``keras.metrics``'s functions (keras/src/metrics/accuracy_metrics.py, and the loss functions Keras's metrics
module exports as well): values for host arrays, one per sample, or per element for ``binary_accuracy``, in
float32 (Keras's floatx). Given to ``compile(metrics=[...])``, each is what Keras makes of a function: the mean of
its values over the samples seen, named after it (``registry.py`` maps each to the device metric computing it).
"""
from __future__ import annotations

import functools

import numpy as np

from ..autodiff.user_functions import same_rank as _same_rank
from ..layers.call_result import host_result
from ..losses import (binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
                      categorical_focal_crossentropy, categorical_hinge, hinge, huber, kl_divergence, log_cosh,
                      mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                      mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy, squared_hinge)

FLOATX = np.float32


def _eager(function):
    """The values as an eager call gives them: an ndarray with ``.numpy()``, as the loss functions' (tf.keras 2's
    ``keras.metrics.binary_accuracy(y, p).numpy()``)."""
    @functools.wraps(function)
    def values(*args, **kwargs):
        return host_result(function(*args, **kwargs))

    return values



@_eager
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where (y_pred > threshold) equals y_true, element by element."""
    y_true, y_pred = _same_rank(np.asarray(y_true), np.asarray(y_pred))
    return np.equal(y_true, (y_pred > threshold).astype(y_true.dtype)).astype(FLOATX)


def _sparse_matches(labels, y_pred):
    """1 where the argmax of y_pred's rows is the label: labels (B,) or (B, 1) against rows (B, C)."""
    labels = np.asarray(labels)
    shape = labels.shape
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    matches = np.equal(labels, np.argmax(y_pred, axis=-1)).astype(FLOATX)
    matches = matches.reshape(shape) if labels.shape != shape else matches
    return matches[..., 0] if matches.ndim > 1 and matches.shape[-1] == 1 else matches


@_eager
def categorical_accuracy(y_true, y_pred):
    """1 where the argmax of y_pred is that of the one-hot y_true, per sample."""
    y_pred = np.asarray(y_pred)
    return np.equal(np.argmax(np.asarray(y_true), axis=-1), np.argmax(y_pred, axis=-1)).astype(FLOATX)


@_eager
def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the argmax of y_pred is the class id y_true, per sample."""
    return _sparse_matches(y_true, np.asarray(y_pred))


def _in_top_k(labels, y_pred, k: int):
    """1 where fewer than k classes score strictly above the label's score (``in_top_k``)."""
    y_pred = np.asarray(y_pred).reshape(-1, np.shape(y_pred)[-1])
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    target = y_pred[np.arange(len(labels)), labels]
    return ((y_pred > target[:, None]).sum(axis=-1) < k).astype(FLOATX)


@_eager
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the one-hot y_true's class is among y_pred's k highest scores, per sample."""
    labels = np.argmax(np.asarray(y_true), axis=-1)
    return _in_top_k(labels, y_pred, k).reshape(labels.shape)


@_eager
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the class id y_true is among y_pred's k highest scores, in y_true's shape."""
    labels = np.asarray(y_true)
    return _in_top_k(labels, y_pred, k).reshape(labels.shape)


__all__ = ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "binary_crossentropy", "binary_focal_crossentropy",
           "categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge", "hinge", "huber",
           "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
           "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy", "squared_hinge"]
