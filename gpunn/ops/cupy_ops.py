"""CupyOps: the Ops primitives on an NVIDIA GPU.

Generic array math comes from the base class through ``xp = cupy`` (cuBLAS for matmuls); the fused steps
run as Numba CUDA kernels from ``gpunn.kernels``, launched on CuPy's current stream through cached device
views, so no step converts arrays or synchronises the host.
"""
from __future__ import annotations

import numpy

from .. import _compat
from ..kernels import bias_act, dropout, optimizer_updates, sigmoid_bce, softmax_xent
from .base import Ops


class CupyOps(Ops):
    name = "cupy"

    def __init__(self, allow_tf32: bool = False):
        cp = _compat.cupy()
        if cp is None:
            raise RuntimeError(f"CupyOps needs a GPU: {_compat.cupy_unavailable_reason()}")
        self.xp = cp
        device = cp.cuda.Device()
        props = cp.cuda.runtime.getDeviceProperties(device.id)
        self.device_description = f"GPU {device.id} ({props['name'].decode()})"
        self.out_of_memory_errors = (MemoryError, cp.cuda.memory.OutOfMemoryError)
        self.set_tf32(allow_tf32)

    def set_tf32(self, allow: bool) -> None:
        """TF32 tensor-core matmuls for float32 (faster; products keep ~10 mantissa bits): opt-in."""
        # CuPy's per-dtype cuBLAS compute type; its CUPY_TF32 variable is only read once, before the first
        # matmul, so set the compute type directly and keep the variable in step for child processes.
        from cupy._core import _routines_linalg as linalg

        compute = linalg.COMPUTE_TYPE_TF32 if allow else linalg.COMPUTE_TYPE_DEFAULT
        linalg.set_compute_type(numpy.float32, compute)
        self.allow_tf32 = bool(allow)

    # ---- memory and transfers -------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array) -> numpy.ndarray:
        return self.xp.asnumpy(array) if isinstance(array, self.xp.ndarray) else numpy.asarray(array)

    def take_rows(self, array, indices, out=None):
        return self.xp.take(array, indices, axis=0, out=out)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def to_float(self, scalar) -> float:
        return float(scalar.get()) if hasattr(scalar, "get") else float(scalar)

    def free_bytes(self) -> int:
        free, _total = self.xp.cuda.runtime.memGetInfo()
        pool = self.xp.get_default_memory_pool()
        return int(free + pool.free_bytes())

    # ---- fused steps: Numba CUDA kernels ----------------------------------------------------------
    def bias_act_forward(self, z, bias, activation, out, alpha=0.2):
        bias_act.bias_act_forward_cuda(z, bias, activation, out, alpha)
        return out

    def act_backward_bias_grad(self, dy, y, z, activation, dz_out, dbias_out, alpha=0.2):
        bias_act.act_backward_bias_grad_cuda(dy, y, z, activation, dz_out, dbias_out, alpha)
        return dz_out

    def softmax(self, logits, out):
        softmax_xent.softmax_cuda(logits, out)
        return out

    def softmax_xent(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
        softmax_xent.softmax_xent_cuda(logits, labels, probs_out, dlogits_out, loss_out, grad_scale)

    def sigmoid_bce(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
        sigmoid_bce.sigmoid_bce_cuda(logits, targets, probs_out, dlogits_out, loss_out, grad_scale)

    def dropout_forward(self, x, rate, seed, counter, out, mask_out):
        dropout.dropout_forward_cuda(x, rate, seed, counter, out, mask_out)
        return out

    def dropout_backward(self, dy, mask, rate, dx_out):
        dropout.dropout_backward_cuda(dy, mask, rate, dx_out)
        return dx_out

    def sgd_update(self, p, g, velocity, lr, momentum, nesterov, weight_decay):
        optimizer_updates.sgd_update_cuda(p, g, velocity, lr, momentum, nesterov, weight_decay)

    def rmsprop_update(self, p, g, ms, mom, mg, lr, rho, momentum, epsilon, centered, weight_decay):
        optimizer_updates.rmsprop_update_cuda(p, g, ms, mom, mg, lr, rho, momentum, epsilon, centered,
                                              weight_decay)

    def adagrad_update(self, p, g, acc, lr, epsilon, weight_decay):
        optimizer_updates.adagrad_update_cuda(p, g, acc, lr, epsilon, weight_decay)

    def adam_update(self, p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, step, weight_decay):
        optimizer_updates.adam_update_cuda(p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, step, weight_decay)
