"""The fused training steps compiled for the CPU (Numba loops in ``fused_loops_cpu.py``), behind the NumPy
twins' argument lists.

``CompiledFused`` has one method per twin, same arguments, same in-place results and aliasing rules:

    bias_act_forward(z, bias, activation, out, alpha)           bias_act_forward_numpy
    act_backward_bias_grad(dy, y, z, activation, dz_out, dbias_out, alpha, scratch)
    softmax(logits, out)                                        softmax_numpy
    softmax_xent(logits, labels, probs_out, dlogits_out, loss_out, grad_scale)
    sigmoid_bce(logits, targets, probs_out, dlogits_out, loss_out, grad_scale)
    dropout_forward(x, rate, seed, counter, out, mask_out)      (counter: an int)
    dropout_backward(dy, mask, rate, dx_out)

Where a twin makes several NumPy passes and temporaries, each of these is one call into compiled code that
writes only into the given buffers: after the first call for a dtype and layout (compilation, or loading from
Numba's disk cache; ``warm_up`` does it ahead), a call allocates no NumPy memory at all. The methods here
only resolve what Numba should not see (None arguments, activation names, the dropout keys) and pick the
compiled entry point; they build nothing per call. Arrays are 2-D (B, N) with any strides (a layout other
than C-contiguous compiles its own loops on first use); dropout also takes any C-contiguous shape. Bias +
activation and dropout arrays of other ranks go to the twin; softmax and the losses take (B, C) only, as the
CUDA launchers do. Bad shapes raise ValueError (out-of-range class ids IndexError) before any write, since
the loops do not check bounds.

This module imports Numba: ``gpunn.kernels.cpu_fused()`` imports it only where Numba is installed and
``GPUNN_CPU_JIT`` is not 0.
"""
from __future__ import annotations

import numpy as np

from gpunn.kernels import fused_loops_cpu as loops
from gpunn.kernels.activations import LEAKY_RELU_ALPHA, NEEDS_PREACTIVATION, check_activation
from gpunn.kernels.bias_act import act_backward_bias_grad_numpy, bias_act_forward_numpy
from gpunn.kernels.dropout import (
    counter_value,
    dropout_backward_numpy,
    dropout_forward_numpy,
    keep_threshold,
    stream_keys,
)

_CODES = loops.CODES
_READS_Z = frozenset(_CODES[name] for name in NEEDS_PREACTIVATION if name != "elu")  # elu's f' uses y only
_NEEDS_Z = frozenset(_CODES[name] for name in NEEDS_PREACTIVATION)
# relu6 .. sparse_sigmoid: their own entry points, compiled on first use (see fused_loops_cpu.py)
_THIRD_GROUP = frozenset(code for code in _CODES.values() if code >= loops.RELU6)
_BIAS_ACT_FORWARD = {False: loops.bias_act_forward, True: loops.bias_act_forward_third_group}
_ACT_FORWARD = {False: loops.act_forward, True: loops.act_forward_third_group}
_ACT_BACKWARD_BIAS_GRAD = {False: loops.act_backward_bias_grad, True: loops.act_backward_bias_grad_third_group}
_ACT_BACKWARD = {False: loops.act_backward, True: loops.act_backward_third_group}


def _activation_code(activation) -> int:
    code = _CODES.get(activation) if isinstance(activation, str) else None
    if code is None:
        check_activation(activation)  # raises ValueError naming the activation
    return code


class CompiledFused:
    """Compiled fused steps with the NumPy twins' argument lists (see the module docstring)."""

    def warm_up(self, dtype) -> None:
        """Compile (or load from Numba's disk cache) every entry point for float ``dtype`` and C-contiguous
        arrays, on tiny arrays, so that the first training step, often inside a timed epoch, does not pay
        for it: about 10 s per dtype the first time on a machine, 0.05 s from the disk cache. Class ids are
        warmed as int64 and int32. The third group's activation steps (relu6 .. sparse_sigmoid) are left to
        their first use: most models never call them."""
        dtype = np.dtype(dtype)
        z, out, y = (np.full((2, 3), 0.5, dtype) for _ in range(3))
        bias = np.zeros(3, dtype)
        self.bias_act_forward(z, bias, "gelu", out)
        self.bias_act_forward(z, None, "gelu", out)
        self.act_backward_bias_grad(y, out, z, "gelu", out, bias)
        self.act_backward_bias_grad(y, out, z, "gelu", out, None)
        loss = np.empty(2, dtype)
        self.softmax(z, out)
        for labels in (np.zeros(2, np.int64), np.zeros(2, np.int32), np.full((2, 3), 1 / 3, dtype)):
            self.softmax_xent(z, labels, out, y, loss, 0.5)
        self.sigmoid_bce(z, np.full((2, 3), 0.5, dtype), out, y, loss, 0.5)
        mask = np.empty((2, 3), np.uint8)
        self.dropout_forward(z, 0.5, 1, 0, out, mask)
        self.dropout_backward(y, mask, 0.5, out)

    # ------------------------------------------------------------ bias + activation

    def bias_act_forward(self, z, bias, activation, out, alpha=LEAKY_RELU_ALPHA):
        """z += bias (None: no bias); out[...] = f(z). ``out`` may be ``z`` unless the activation needs the
        pre-activation in backward."""
        code = _activation_code(activation)
        if z.ndim != 2:
            return bias_act_forward_numpy(z, bias, activation, out, alpha)
        inplace = out is z
        if inplace and code in _NEEDS_Z:
            raise ValueError(f"out: must not be z for {activation!r}, whose backward needs z")
        third_group = code in _THIRD_GROUP
        if bias is None:
            _ACT_FORWARD[third_group](z, code, out, inplace, float(alpha))
        else:
            _BIAS_ACT_FORWARD[third_group](z, bias, code, out, inplace, float(alpha))
        return out

    def act_backward_bias_grad(self, dy, y, z, activation, dz_out, dbias_out, alpha=LEAKY_RELU_ALPHA,
                               scratch=None):
        """dz_out = dy * f'(.) (``dz_out`` may be ``dy``); dbias_out = dz_out summed over the batch (None: no
        bias). ``z`` is only read for the activations in NEEDS_PREACTIVATION but elu; ``scratch`` is accepted and
        not needed."""
        code = _activation_code(activation)
        if dy.ndim != 2:
            return act_backward_bias_grad_numpy(dy, y, z, activation, dz_out, dbias_out, alpha, scratch)
        if code not in _READS_Z:
            z = y  # a placeholder of the right type, never read
        elif z is None:
            raise ValueError(f"z: the pre-activation is needed for {activation!r}")
        inplace = dz_out is dy
        third_group = code in _THIRD_GROUP
        if dbias_out is None:
            _ACT_BACKWARD[third_group](dy, y, z, code, dz_out, inplace, float(alpha))
        else:
            _ACT_BACKWARD_BIAS_GRAD[third_group](dy, y, z, code, dz_out, dbias_out, inplace, float(alpha))
        return dz_out

    # ------------------------------------------------------------ softmax and losses

    def softmax(self, logits, out):
        """out = softmax(logits) row-wise; ``out`` may be ``logits``."""
        loops.softmax(logits, out, out is logits)
        return out

    def softmax_xent(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
        """probs_out = softmax(logits); loss_out (B,) = per-sample cross-entropy; dlogits_out = its gradient
        times grad_scale (None: not computed). labels: int class ids (B,) or float targets (B, C).
        ``probs_out`` may be ``logits``."""
        has_grad = dlogits_out is not None
        dlogits = dlogits_out if has_grad else probs_out  # a placeholder, never written
        kind = labels.dtype.kind
        if labels.ndim == 1 and kind in "iu":
            step = loops.softmax_xent_sparse
        elif labels.ndim == 2 and kind == "f":
            step = loops.softmax_xent_dense
        else:
            raise ValueError(f"labels: expected int class indices (B,) or float targets (B, C), got "
                             f"{labels.dtype} of shape {tuple(labels.shape)}")
        step(logits, labels, probs_out, dlogits, loss_out, float(grad_scale), has_grad, probs_out is logits)
        return loss_out

    def sigmoid_bce(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
        """probs_out = sigmoid(logits); loss_out (B,) = mean BCE over the last axis; dlogits_out =
        (probs - targets) * grad_scale (None: not computed). ``probs_out`` must not be ``logits``."""
        if probs_out is logits:
            raise ValueError("probs_out: must not be logits (it holds the loss terms before the probabilities)")
        has_grad = dlogits_out is not None
        loops.sigmoid_bce(logits, targets, probs_out, dlogits_out if has_grad else probs_out, loss_out,
                          float(grad_scale), has_grad)
        return loss_out

    # ------------------------------------------------------------ dropout

    def dropout_forward(self, x, rate, seed, counter, out, mask_out):
        """mask_out (uint8, shape of x) = keep mask; out = x * mask / (1 - rate); ``out`` may be ``x``."""
        threshold = keep_threshold(rate)
        x2, out2, mask2 = _as_rows(x), _as_rows(out), _as_rows(mask_out)
        if x2 is None or out2 is None or mask2 is None:
            return dropout_forward_numpy(x, rate, seed, counter, out, mask_out)
        key_a, key_b = stream_keys(int(seed), counter_value(counter))
        loops.dropout_forward(x2, out2, mask2, key_a, key_b, threshold, 1.0 / (1.0 - rate), out is x)
        return out

    def dropout_backward(self, dy, mask, rate, dx_out):
        """dx_out = dy * mask / (1 - rate); ``dx_out`` may be ``dy``."""
        dy2, mask2, dx2 = _as_rows(dy), _as_rows(mask), _as_rows(dx_out)
        if dy2 is None or mask2 is None or dx2 is None:
            return dropout_backward_numpy(dy, mask, rate, dx_out)
        loops.dropout_backward(dy2, mask2, dx2, 1.0 / (1.0 - rate), dx_out is dy)
        return dx_out


def _as_rows(a):
    """``a`` as a 2-D array over the same memory (C order keeps dropout's flat element index), or None
    where that needs a copy."""
    if a.ndim == 2:
        return a
    if not a.flags.c_contiguous:
        return None
    return a.reshape(1, -1) if a.ndim < 2 else a.reshape(a.shape[0], -1)


__all__ = ["CompiledFused"]
