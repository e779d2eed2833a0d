"""CupyOps: the Ops primitives on an NVIDIA GPU.

Generic array math comes from the base class through ``xp = cupy`` (cuBLAS for matmuls); the fused steps
run as Numba CUDA kernels from ``gpunn.kernels``, launched on CuPy's current stream through cached device
views, so no step converts arrays or synchronises the host. The kernels exist for float32 and float64; another
dtype falls back to the reference steps of the base class.
"""
from __future__ import annotations

import numpy

from .. import _compat
from ..kernels import (bias_act, clip_norm, dropout, embedding, gather_rows, gaussian_noise, optimizer_state,
                       optimizer_updates, sigmoid_bce, softmax_xent, weight_average)
from . import cublas_matmul, cublaslt_matmul, cuda_graphs, tf32
from .base import Ops
from .recording import primitive

KERNEL_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))
EPILOGUES_ENV = "GPUNN_MATMUL_EPILOGUES"


def _has_kernel(array) -> bool:
    return array.dtype in KERNEL_DTYPES


class CupyOps(Ops):
    name = "cupy"
    # CUDA graphs by default (jit_compile="auto"): on an H200 a replayed step of a 784-256-256-10 MLP took 0.07 ms
    # against 1.0 ms eager and 1.4 ms for PyTorch (bench/results/gpu-h200), training as the eager step does.
    replays_by_default = True
    # Dense's bias + ReLU inside its forward GEMM (cuBLASLt); set per backend object in __init__
    matmul_epilogues = False

    def __init__(self, allow_tf32: bool | None = None, matmul_epilogues: bool | None = None):
        """``allow_tf32``: None keeps the process's TF32 setting (``gpunn.ops.tf32``); a bool sets it for the
        whole process, since cuBLAS's compute type is not per backend object. ``matmul_epilogues``: a Dense
        layer's bias and ReLU applied inside its forward GEMM by cuBLASLt (``cublaslt_matmul.py``); None reads
        ``GPUNN_MATMUL_EPILOGUES`` (1, true or yes: on), off by default until measured on a GPU."""
        cp = _compat.cupy()
        if cp is None:
            raise RuntimeError(f"CupyOps needs a GPU: {_compat.cupy_unavailable_reason()}")
        super().__init__(cp)
        if allow_tf32 is None:
            tf32.apply_to_cupy()
        else:
            tf32.set_tf32(bool(allow_tf32))
        # Per device: a cuBLAS handle, like a stream, belongs to the device current when it was made, and the
        # backend may be made before distributed.init() picks this process's GPU.
        self._engines: dict = {}
        self._epilogue_engines: dict = {}
        self.matmul_epilogues = (tf32.environment_switch(EPILOGUES_ENV) if matmul_epilogues is None
                                 else bool(matmul_epilogues))
        self._capture_streams: dict = {}
        self._descriptions: dict = {}
        self._matmul_engine()

    @property
    def device_description(self) -> str:
        device = self.xp.cuda.runtime.getDevice()
        description = self._descriptions.get(device)
        if description is None:
            name = self.xp.cuda.runtime.getDeviceProperties(device)["name"]
            description = self._descriptions[device] = f"GPU {device} ({name.decode()})"
        return description

    def _matmul_engine(self):
        """gpunn's cuBLAS for the current device, or None: matmuls stay with CuPy (and steps are not captured)."""
        device = self.xp.cuda.runtime.getDevice()
        if device not in self._engines:
            self._engines[device] = cublas_matmul.make(self.xp)
        return self._engines[device]

    def _epilogue_engine(self):
        """cuBLASLt for the current device when matmul epilogues are on and it can be opened, else None."""
        if not self.matmul_epilogues:
            return None
        device = self.xp.cuda.runtime.getDevice()
        if device not in self._epilogue_engines:
            self._epilogue_engines[device] = cublaslt_matmul.make(self.xp)
        return self._epilogue_engines[device]

    @property
    def allow_tf32(self) -> bool:
        return tf32.tf32_enabled()

    def set_tf32(self, allow: bool) -> None:
        """TF32 tensor-core matmuls for float32 (faster; products keep ~10 mantissa bits): opt-in, and a
        process-wide setting (every GPU backend of this process follows it)."""
        tf32.set_tf32(bool(allow))

    # ---- matmul: cuBLAS on gpunn's own handle, which a CUDA-graph capture can record -----------------
    @primitive
    def matmul(self, a, b, out=None):
        engine = self._matmul_engine()
        if engine is not None and engine.supports(a, b, out):
            return engine(a, b, out, tf32.tf32_enabled())
        return self.xp.matmul(a, b, out=out)

    def fuses_bias_act_into_matmul(self, activation: str, dtype) -> bool:
        return (activation in cublaslt_matmul.EPILOGUES and numpy.dtype(dtype) in KERNEL_DTYPES
                and self._epilogue_engine() is not None)

    @primitive
    def matmul_bias_act(self, a, b, bias, activation, out, alpha=0.2):
        engine = self._epilogue_engine()
        if (engine is not None and engine.supports(a, b, out, bias, activation)
                and engine(a, b, out, bias, activation, tf32.tf32_enabled())):
            return out
        # no epilogue for these operands (a layout, an alignment, no algorithm): the two calls
        return Ops.matmul_bias_act.unrecorded(self, a, b, bias, activation, out, alpha)

    # ---- a recording's ReLU backward in the GEMM before it: cuBLASLt's RELU_AUX_BIAS and DRELU_BGRAD ----------
    def fuses_relu_backward_into_matmul(self) -> bool:
        return self._epilogue_engine() is not None

    def relu_mask_buffer(self, rows: int, units: int):
        return self.xp.empty(cublaslt_matmul.mask_bytes(rows, units), dtype=numpy.uint8)

    def prepare_relu_backward(self, forward: dict, backward: dict) -> bool:
        engine, allow = self._epilogue_engine(), tf32.tf32_enabled()
        f = (forward["a"], forward["b"], forward["out"], forward["bias"], forward["mask"])
        b = (backward["a"], backward["b"], backward["out"], backward["dbias_out"], backward["mask"])
        return (engine is not None and engine.supports_masked(*f) and engine.supports_masked(*b)
                and engine.prepare(*f, "relu_mask", allow) and engine.prepare(*b, "relu_grad", allow))

    @primitive
    def matmul_bias_relu_mask(self, a, b, bias, out, mask):
        self._epilogue_engine().run_masked(a, b, out, bias, mask, "relu_mask", tf32.tf32_enabled())
        return out

    @primitive
    def matmul_relu_backward(self, a, b, y, mask, out, dbias_out):
        self._epilogue_engine().run_masked(a, b, out, dbias_out, mask, "relu_grad", tf32.tf32_enabled())
        return out

    # ---- recorded steps as CUDA graphs ----------------------------------------------------------------
    def compile_replays(self, tape, repeats: int = 1):
        """``repeats`` replays of ``tape`` captured as CUDA graphs (``cuda_graphs.py``); raises
        ``cuda_graphs.CaptureRefused`` naming the reason when the step cannot be captured."""
        if self._matmul_engine() is None:
            raise cuda_graphs.CaptureRefused("cuBLAS could not be opened for calls inside a capture "
                                             "(gpunn.ops.cublas_matmul)")
        return cuda_graphs.compile_replays(self, tape, repeats)

    def step_conditions(self):
        """CuPy's CUB reductions off, as while capturing (``cuda_graphs.without_accelerators``): CUB takes
        temporary storage from the pool at every reduction and sums in another order than CuPy's own kernels."""
        return cuda_graphs.without_accelerators(self.xp)

    def capture_stream(self):
        device = self.xp.cuda.runtime.getDevice()
        stream = self._capture_streams.get(device)
        if stream is None:
            stream = self._capture_streams[device] = self.xp.cuda.Stream(non_blocking=True)
        return stream

    def before_capture(self, stream) -> None:
        """cuBLAS's stream must be set before the capture begins (setting it inside is refused)."""
        self._matmul_engine().bind_stream(stream.ptr)

    # ---- a step's own batch: gathered at the device cursor ------------------------------------------
    @primitive
    def gather_rows(self, source, order, cursor, offset, out):
        return gather_rows.gather_rows_cuda(source, order, cursor, offset, out)

    @primitive
    def advance_cursor(self, cursor, amount) -> None:
        gather_rows.advance_cursor_cuda(cursor, amount)

    # ---- embedding: the CUDA lookup and scatter-add ---------------------------------------------------
    @primitive
    def embedding_lookup(self, table, ids, out):
        if not _has_kernel(table):
            return Ops.embedding_lookup.unrecorded(self, table, ids, out)
        return embedding.embedding_lookup_cuda(table, ids, out)

    @primitive
    def embedding_grad(self, dy, ids, grad_out):
        if not _has_kernel(grad_out):
            return Ops.embedding_grad.unrecorded(self, dy, ids, grad_out)
        return embedding.embedding_grad_cuda(dy, ids, grad_out)

    # ---- fused layer steps: the CUDA launchers ----------------------------------------------------
    @primitive
    def bias_act_forward(self, z, bias, activation, out, alpha=0.2):
        if not _has_kernel(z):
            return Ops.bias_act_forward.unrecorded(self, z, bias, activation, out, alpha)
        bias_act.bias_act_forward_cuda(z, bias, activation, out, alpha)
        return out

    @primitive
    def act_backward_bias_grad(self, dy, y, z, activation, dz_out, dbias_out, alpha=0.2):
        if not _has_kernel(dy):
            return Ops.act_backward_bias_grad.unrecorded(self, dy, y, z, activation, dz_out, dbias_out, alpha)
        bias_act.act_backward_bias_grad_cuda(dy, y, z, activation, dz_out, dbias_out, alpha)
        return dz_out

    @primitive
    def softmax(self, logits, out):
        if not _has_kernel(logits):
            return Ops.softmax.unrecorded(self, logits, out)
        softmax_xent.softmax_cuda(logits, out)
        return out

    @primitive
    def softmax_xent(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
        if not _has_kernel(logits):
            return Ops.softmax_xent.unrecorded(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale)
        softmax_xent.softmax_xent_cuda(logits, labels, probs_out, dlogits_out, loss_out, grad_scale)

    @primitive
    def sigmoid_bce(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
        if not _has_kernel(logits):
            return Ops.sigmoid_bce.unrecorded(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale)
        sigmoid_bce.sigmoid_bce_cuda(logits, targets, probs_out, dlogits_out, loss_out, grad_scale)

    @primitive
    def dropout_forward(self, x, rate, seed, counter, out, mask_out):
        dropout.dropout_forward_cuda(x, rate, seed, counter, out, mask_out)
        return out

    @primitive
    def dropout_backward(self, dy, mask, rate, dx_out):
        dropout.dropout_backward_cuda(dy, mask, rate, dx_out)
        return dx_out

    @primitive
    def random_normal(self, seed, counter, mean, stddev, out):
        gaussian_noise.random_normal_cuda(seed, counter, mean, stddev, out)
        return out

    # ---- the optimizer: its state advanced and its update made on the device -------------------------
    # The CUDA updates read the learning rate, step and weight decay from the optimizer's device state
    # themselves (kernels/optimizer_updates.py): nothing is read back to the host. They compile on their first
    # launch, which the optimizer makes at build time (a one-element rehearsal).
    @primitive
    def advance_optimizer_state(self, state, schedule=None, rate=None):
        optimizer_state.advance_cuda(state, schedule, rate)

    @primitive
    def scale_to_norm(self, g, limits, scratch):
        # Two launches over many blocks: CuPy's own full reduction (CUB is off in steps) runs in one block.
        if not _has_kernel(g):
            return Ops.scale_to_norm.unrecorded(self, g, limits, scratch)
        clip_norm.scale_to_norm_cuda(g, limits, scratch)

    @primitive
    def sgd_update(self, p, g, velocity, state, momentum, nesterov):
        if not _has_kernel(p):
            return Ops.sgd_update.unrecorded(self, p, g, velocity, state, momentum, nesterov)
        optimizer_updates.sgd_update_cuda(p, g, velocity, state, momentum, nesterov)

    @primitive
    def rmsprop_update(self, p, g, ms, mom, mg, state, rho, momentum, epsilon, centered, epsilon_outside=False):
        if not _has_kernel(p):
            return Ops.rmsprop_update.unrecorded(self, p, g, ms, mom, mg, state, rho, momentum, epsilon, centered,
                                                 epsilon_outside)
        optimizer_updates.rmsprop_update_cuda(p, g, ms, mom, mg, state, rho, momentum, epsilon, centered,
                                              epsilon_outside)

    @primitive
    def adagrad_update(self, p, g, acc, state, epsilon, epsilon_outside=False):
        if not _has_kernel(p):
            return Ops.adagrad_update.unrecorded(self, p, g, acc, state, epsilon, epsilon_outside)
        optimizer_updates.adagrad_update_cuda(p, g, acc, state, epsilon, epsilon_outside)

    @primitive
    def adam_update(self, p, g, m, v, vhat, state, beta_1, beta_2, epsilon):
        if not _has_kernel(p):
            return Ops.adam_update.unrecorded(self, p, g, m, v, vhat, state, beta_1, beta_2, epsilon)
        optimizer_updates.adam_update_cuda(p, g, m, v, vhat, state, beta_1, beta_2, epsilon)

    @primitive
    def nadam_update(self, p, g, m, v, state, beta_1, beta_2, epsilon):
        if not _has_kernel(p):
            return Ops.nadam_update.unrecorded(self, p, g, m, v, state, beta_1, beta_2, epsilon)
        optimizer_updates.nadam_update_cuda(p, g, m, v, state, beta_1, beta_2, epsilon)

    @primitive
    def adamax_update(self, p, g, m, u, state, beta_1, beta_2, epsilon):
        if not _has_kernel(p):
            return Ops.adamax_update.unrecorded(self, p, g, m, u, state, beta_1, beta_2, epsilon)
        optimizer_updates.adamax_update_cuda(p, g, m, u, state, beta_1, beta_2, epsilon)

    @primitive
    def adadelta_update(self, p, g, acc_g, acc_dx, state, rho, epsilon):
        if not _has_kernel(p):
            return Ops.adadelta_update.unrecorded(self, p, g, acc_g, acc_dx, state, rho, epsilon)
        optimizer_updates.adadelta_update_cuda(p, g, acc_g, acc_dx, state, rho, epsilon)

    @primitive
    def lion_update(self, p, g, m, state, beta_1, beta_2):
        if not _has_kernel(p):
            return Ops.lion_update.unrecorded(self, p, g, m, state, beta_1, beta_2)
        optimizer_updates.lion_update_cuda(p, g, m, state, beta_1, beta_2)

    @primitive
    def schedule_free_adamw_update(self, p, g, z, v, state, beta_1, beta_2, epsilon, warmup_steps):
        if not _has_kernel(p):
            return Ops.schedule_free_adamw_update.unrecorded(self, p, g, z, v, state, beta_1, beta_2, epsilon,
                                                             warmup_steps)
        optimizer_updates.schedule_free_adamw_update_cuda(p, g, z, v, state, beta_1, beta_2, epsilon, warmup_steps)

    @primitive
    def ftrl_update(self, p, g, acc, linear, state, learning_rate_power, l1, l2, l2_shrinkage, beta):
        if not _has_kernel(p):
            return Ops.ftrl_update.unrecorded(self, p, g, acc, linear, state, learning_rate_power, l1, l2,
                                              l2_shrinkage, beta)
        optimizer_updates.ftrl_update_cuda(p, g, acc, linear, state, learning_rate_power, l1, l2, l2_shrinkage,
                                           beta)

    @primitive
    def lamb_update(self, p, g, m, v, state, beta_1, beta_2, epsilon, segments):
        if not _has_kernel(p):
            return Ops.lamb_update.unrecorded(self, p, g, m, v, state, beta_1, beta_2, epsilon, segments)
        optimizer_updates.lamb_update_cuda(p, g, m, v, state, beta_1, beta_2, epsilon, segments)

    @primitive
    def ema_update(self, p, average, state, ema_momentum, frequency, count_offset):
        if not _has_kernel(p):
            return Ops.ema_update.unrecorded(self, p, average, state, ema_momentum, frequency, count_offset)
        weight_average.ema_update_cuda(p, average, state, ema_momentum, frequency, count_offset)
