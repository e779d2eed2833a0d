"""Ops variants without the fused steps: what each fused kernel saves, measured on the same backend.

``UnfusedMixin`` replaces every fused step (bias + activation, its backward with the bias gradient, softmax
+ cross-entropy, sigmoid + BCE, the optimizer updates) by the obvious composition of plain ``xp`` array
expressions, as one would write it without gpunn's kernels: each expression allocates a temporary and makes
its own pass over memory (its own kernel launch on a GPU). Because it only uses ``self.xp``, the same code
runs on NumPy and on CuPy:

    UnfusedNumpyOps   the NumPy backend with naive chains instead of the in-place NumPy twins
    UnfusedCupyOps    the CuPy backend with CuPy expression chains instead of the Numba CUDA kernels

Everything else (matmuls, transfers, dropout) is the backend's own, so the difference to the fused
backend is the fusion alone. Results agree with the fused steps to float rounding.
"""
from __future__ import annotations

from ..ops.base import Ops
from ..ops.cupy_ops import CupyOps

SUPPORTED_ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "silu")


def _activation(xp, z, activation, alpha):
    if activation == "linear":
        return z.copy()
    if activation == "relu":
        return xp.maximum(z, 0)
    if activation == "leaky_relu":
        return xp.where(z >= 0, z, z * alpha)
    if activation == "elu":
        return xp.where(z > 0, z, xp.expm1(xp.minimum(z, 0)))
    if activation == "sigmoid":
        return 1 / (1 + xp.exp(-z))
    if activation == "tanh":
        return xp.tanh(z)
    if activation == "silu":
        return z / (1 + xp.exp(-z))
    raise ValueError(f"activation: the unfused backends implement {SUPPORTED_ACTIVATIONS}, not {activation!r}")


def _activation_grad(xp, dy, y, z, activation, alpha):
    if activation == "linear":
        return dy.copy()
    if activation == "relu":
        return dy * (y > 0)
    if activation == "leaky_relu":
        return xp.where(y > 0, dy, dy * alpha)
    if activation == "elu":
        return xp.where(z > 0, dy, dy * (y + 1))
    if activation == "sigmoid":
        return dy * y * (1 - y)
    if activation == "tanh":
        return dy * (1 - y * y)
    if activation == "silu":
        s = 1 / (1 + xp.exp(-z))
        return dy * (s + y * (1 - s))
    raise ValueError(f"activation: the unfused backends implement {SUPPORTED_ACTIVATIONS}, not {activation!r}")


def _dense_targets(xp, labels, like):
    """Sparse class ids as a one-hot matrix (the unfused way); float targets unchanged."""
    if labels.ndim == 2:
        return labels
    onehot = xp.zeros_like(like)
    onehot[xp.arange(like.shape[0]), labels] = 1
    return onehot


class UnfusedMixin:
    """The fused Ops steps as plain ``xp`` expression chains (put first in the bases, before an Ops class)."""

    fused = False

    # ---- layer steps --------------------------------------------------------------------------------
    def bias_act_forward(self, z, bias, activation, out, alpha=0.2):
        if bias is not None:
            z += bias  # z must hold the pre-activation afterwards (backward of elu/silu reads it)
        out[...] = _activation(self.xp, z, activation, alpha)
        return out

    def act_backward_bias_grad(self, dy, y, z, activation, dz_out, dbias_out, alpha=0.2):
        dz = _activation_grad(self.xp, dy, y, z, activation, alpha)
        dz_out[...] = dz
        if dbias_out is not None:
            dbias_out[...] = dz.sum(axis=0)
        return dz_out

    def softmax(self, logits, out):
        e = self.xp.exp(logits - logits.max(axis=1, keepdims=True))
        out[...] = e / e.sum(axis=1, keepdims=True)
        return out

    def softmax_xent(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
        xp = self.xp
        m = logits.max(axis=1, keepdims=True)
        e = xp.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        targets = _dense_targets(xp, labels, logits)
        loss_out[...] = (targets * (m + xp.log(s) - logits)).sum(axis=1)  # -sum t log(softmax)
        probs = e / s
        if dlogits_out is not None:
            dlogits_out[...] = (probs * targets.sum(axis=1, keepdims=True) - targets) * grad_scale
        probs_out[...] = probs
        return loss_out

    def sigmoid_bce(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
        xp = self.xp
        elem = xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))
        loss_out[...] = elem.mean(axis=1)
        probs = 1 / (1 + xp.exp(-logits))
        if dlogits_out is not None:
            dlogits_out[...] = (probs - targets) * grad_scale
        probs_out[...] = probs
        return loss_out

    # ---- optimizer updates (single pass of temporaries over the flat buffer, no threading) ----------
    # The learning rate, step and weight decay are read from the optimizer's device state as 0-d arrays, so
    # nothing is read back to the host.
    def _hyper(self, state):
        return state[1], state[0], state[2]

    def sgd_update(self, p, g, velocity, state, momentum, nesterov):
        lr, _, weight_decay = self._hyper(state)
        p[...] = p - p * (lr * weight_decay)
        if not momentum:
            p[...] = p - lr * g
            return
        velocity[...] = momentum * velocity - lr * g
        p[...] = p + (momentum * velocity - lr * g if nesterov else velocity)

    def rmsprop_update(self, p, g, ms, mom, mg, state, rho, momentum, epsilon, centered):
        xp = self.xp
        lr, _, weight_decay = self._hyper(state)
        p[...] = p - p * (lr * weight_decay)
        ms[...] = rho * ms + (1 - rho) * g * g
        if centered:
            mg[...] = rho * mg + (1 - rho) * g
            denom = ms - mg * mg + epsilon
        else:
            denom = ms + epsilon
        increment = lr * g / xp.sqrt(denom)
        if momentum > 0:
            mom[...] = momentum * mom + increment
            increment = mom
        p[...] = p - increment

    def adagrad_update(self, p, g, acc, state, epsilon):
        lr, _, weight_decay = self._hyper(state)
        p[...] = p - p * (lr * weight_decay)
        acc[...] = acc + g * g
        p[...] = p - lr * g / self.xp.sqrt(acc + epsilon)

    def adam_update(self, p, g, m, v, vhat, state, beta_1, beta_2, epsilon):
        xp = self.xp
        lr, step, weight_decay = self._hyper(state)
        p[...] = p - p * (lr * weight_decay)
        m[...] = m + (g - m) * (1 - beta_1)
        v[...] = v + (g * g - v) * (1 - beta_2)
        if vhat is not None:
            vhat[...] = xp.maximum(vhat, v)
            v = vhat
        alpha = lr * xp.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
        p[...] = p - (alpha * m / (xp.sqrt(v) + epsilon)).astype(p.dtype)


class UnfusedNumpyOps(UnfusedMixin, Ops):
    name = "numpy-unfused"
    device_description = "CPU (NumPy, unfused)"


class UnfusedCupyOps(UnfusedMixin, CupyOps):
    name = "cupy-unfused"

    def __init__(self, allow_tf32: bool | None = None):
        # None keeps the process's TF32 setting (gpunn.ops.tf32), as for the fused backend.
        super().__init__(allow_tf32)
        self.device_description += ", unfused"
