"""``keras.ops.sparsemax`` (and the activation): the Euclidean projection of the logits onto the probability
simplex, ``max(x - tau, 0)`` with ``tau`` chosen so that the outputs sum to 1; most outputs are exactly 0.

The threshold is Martins and Astudillo's, ``tau = (sum of the k largest logits - 1) / k`` for a support of k,
as Keras computes it since keras-team/keras#23469. Keras 3.15 and earlier summed the running sums instead, which
gives a wrong threshold (outputs that do not sum to 1) whenever two or more logits are in the support
(keras-team/keras#23425): gpunn's values are those of the definition Keras documents, and of its fixed code."""
from __future__ import annotations

from . import extra_functions as ef
from .functions import _make, array_module


def sparsemax(x, axis=-1):
    """Sparsemax along ``axis`` (sort, running sums, the support, its threshold).
    Its gradient: within the support (the outputs above 0), the upstream gradient minus its mean there;
    0 outside it."""
    x = ef._floats(x)
    xp = array_module(x)
    logits = ef._array(x, xp)
    ordered = -xp.sort(-logits, axis=axis)
    running = xp.cumsum(ordered, axis=axis)
    shape = [1] * logits.ndim
    shape[axis] = -1
    ranks = xp.arange(1, logits.shape[axis] + 1, dtype=logits.dtype).reshape(shape)
    support = ordered - (running - 1) / ranks > 0
    k = xp.sum(support, axis=axis, keepdims=True)
    tau = (xp.sum(xp.where(support, ordered, 0), axis=axis, keepdims=True) - 1) / k
    out = xp.maximum(logits - tau, 0).astype(logits.dtype)

    def gradient(g):
        inside = out > 0
        mean = xp.sum(xp.where(inside, g, 0), axis=axis, keepdims=True) / xp.maximum(
            xp.sum(inside, axis=axis, keepdims=True), 1)
        return xp.where(inside, g - mean, 0).astype(g.dtype)

    return _make(out, [x], [gradient])
