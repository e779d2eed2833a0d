"""Ops: every array primitive gpunn uses, implemented with NumPy through ``self.xp``.

This class is the CPU backend and the reference. ``CupyOps`` subclasses it, sets ``xp = cupy`` and overrides
the fused steps with CUDA kernels; everything else works unchanged because CuPy mirrors NumPy's API.
Layers, losses and optimizers call these methods and never look at the device themselves.
"""
from __future__ import annotations

import numpy

from ..kernels import bias_act, dropout, optimizer_state, optimizer_updates, sigmoid_bce, softmax_xent
from .elementwise import ElementwisePrimitives
from .recording import primitive


class Ops(ElementwisePrimitives):
    name = "numpy"
    xp = numpy
    device_description = "CPU (NumPy)"
    out_of_memory_errors: tuple = (MemoryError,)
    allow_tf32 = False  # TF32 is a GPU matmul mode (gpunn.ops.tf32); on the CPU float32 stays float32

    # ---- memory and transfers -------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        """Device array from host or device data; no copy when it is already there with that dtype."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array) -> numpy.ndarray:
        return numpy.asarray(array)

    def zeros(self, shape, dtype="float32"):
        return self.xp.zeros(shape, dtype=dtype)

    def empty(self, shape, dtype="float32"):
        return self.xp.empty(shape, dtype=dtype)

    def empty_like(self, array):
        return self.xp.empty_like(array)

    def copy(self, array):
        return array.copy()

    def upload(self, host_array, out) -> None:
        """Copy host data into the device buffer ``out`` (on the CPU, a plain copy)."""
        numpy.copyto(out, host_array)

    @primitive
    def take_rows(self, array, indices, out=None):
        """``array[indices]`` along axis 0, written into ``out`` when given (the batch gather)."""
        if self.xp is numpy and out is not None:
            # NumPy's default mode='raise' gathers into a temporary first when out is given
            return numpy.take(array, indices, axis=0, out=out, mode="clip")
        return self.xp.take(array, indices, axis=0, out=out)

    def permutation(self, n: int, rng: numpy.random.Generator):
        """A shuffled index vector on the device, drawn from the host generator (same order on every backend)."""
        return self.asarray(rng.permutation(n))

    def set_tf32(self, allow: bool) -> None:
        """TF32 matmuls are a GPU feature; on the CPU float32 stays float32."""

    def synchronize(self) -> None:
        """Wait for queued device work; a no-op on the CPU."""

    def to_float(self, scalar) -> float:
        """Read one device value back to the host (a sync point on GPUs: call once per log interval)."""
        return float(scalar)

    def free_bytes(self) -> int | None:
        """Device memory free for new allocations, or None when it is host memory."""
        return None

    # ---- linear algebra -------------------------------------------------------------------------
    @primitive
    def matmul(self, a, b, out=None):
        """``a @ b``; transposed operands are passed as ``.T`` views and reach BLAS without a copy."""
        return self.xp.matmul(a, b, out=out)

    # ---- fused layer steps (kernels/) -----------------------------------------------------------
    # Each kernels/ file has a NumPy twin ``<step>_numpy`` and a CUDA launcher ``<step>_cuda`` with the same
    # arguments; an Ops picks its side by suffix, so the GPU backend needs no method of its own per step.
    kernel_suffix = "_numpy"

    def _kernel(self, module, step: str):
        return getattr(module, step + self.kernel_suffix)

    @primitive
    def bias_act_forward(self, z, bias, activation, out, alpha=0.2):
        self._kernel(bias_act, "bias_act_forward")(z, bias, activation, out, alpha)
        return out

    @primitive
    def act_backward_bias_grad(self, dy, y, z, activation, dz_out, dbias_out, alpha=0.2):
        self._kernel(bias_act, "act_backward_bias_grad")(dy, y, z, activation, dz_out, dbias_out, alpha)
        return dz_out

    @primitive
    def softmax(self, logits, out):
        self._kernel(softmax_xent, "softmax")(logits, out)
        return out

    @primitive
    def softmax_xent(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
        self._kernel(softmax_xent, "softmax_xent")(logits, labels, probs_out, dlogits_out, loss_out, grad_scale)

    @primitive
    def sigmoid_bce(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
        self._kernel(sigmoid_bce, "sigmoid_bce")(logits, targets, probs_out, dlogits_out, loss_out, grad_scale)

    @primitive
    def dropout_forward(self, x, rate, seed, counter, out, mask_out):
        """``counter``: the layer's device counter (a 1-element int64 array), read by the step, never frozen."""
        self._kernel(dropout, "dropout_forward")(x, rate, seed, counter, out, mask_out)
        return out

    @primitive
    def dropout_backward(self, dy, mask, rate, dx_out):
        self._kernel(dropout, "dropout_backward")(dy, mask, rate, dx_out)
        return dx_out

    # ---- optimizer updates over the flat parameter buffer ---------------------------------------
    # Where Numba is installed, one compiled pass (kernels/optimizer_updates_cpu.py). Otherwise the
    # NumPy twin: its ufuncs run on one core each, so large buffers are cut into one slice per core and
    # updated by a small thread pool (ufuncs release the GIL), each slice with its own scratch.
    PARALLEL_MIN_ELEMENTS = 1 << 18

    def _flat_update(self, step: str, arrays, scalars) -> None:
        compiled = self._compiled_updates()
        if compiled is not None:
            getattr(compiled, step)(*arrays, *scalars)
            return
        twin = self._kernel(optimizer_updates, step)
        p = arrays[0]
        scratch = self._scratch(p.size, p.dtype)
        workers = self._update_threads() if p.size >= self.PARALLEL_MIN_ELEMENTS else 1
        if workers == 1:
            twin(*arrays, *scalars, scratch=scratch)
            return
        # Slice bounds on 64-element boundaries keep each slice's start aligned for SIMD.
        bounds = [min(p.size, (p.size * k // workers) // 64 * 64) for k in range(workers)] + [p.size]
        jobs = [self._pool.submit(twin, *[None if a is None else a[lo:hi] for a in arrays], *scalars,
                                  scratch=scratch[lo:hi])
                for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
        for job in jobs:
            job.result()

    def prepare_update(self, step: str, dtype) -> None:
        """Ready the optimizer update ``step`` (e.g. 'adam_update') for ``dtype`` before training starts: on the
        CPU, compile it or load it from Numba's disk cache now rather than inside the first timed step."""
        compiled = self._compiled_updates()
        if compiled is not None:
            compiled.warm_up(step, dtype)

    def _compiled_updates(self):
        if not hasattr(self, "_compiled"):
            from ..kernels import cpu_updates

            self._compiled = cpu_updates()
        return self._compiled

    def _update_threads(self) -> int:
        if not hasattr(self, "_pool"):
            import os

            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            self.set_update_threads(max(1, min(8, threads or 1)))
        return self._threads

    @property
    def update_threads(self) -> int:
        return self._update_threads()

    def set_update_threads(self, threads: int) -> int:
        """Threads for the element-wise optimizer update (default: the usable cores, at most 8). Benchmarks set
        it to the thread count every contender gets."""
        import concurrent.futures

        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads: expected a positive integer, got {threads!r}")
        old = getattr(self, "_pool", None)
        self._threads = threads
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="gpunn-update")
        if old is not None:
            old.shutdown(wait=False)
        return threads

    def _scratch(self, size, dtype):
        cache = self.__dict__.setdefault("_scratch_buffers", {})
        key = (size, numpy.dtype(dtype).str)
        if key not in cache:
            cache[key] = numpy.empty(size, dtype=dtype)
        return cache[key]

    # Each update reads the step's learning rate, the step count and the weight decay from the optimizer's
    # device state (float64 [iterations, learning_rate, weight_decay]), never from host arguments, so a
    # recorded step stays right when they change.
    @primitive
    def advance_optimizer_state(self, state, schedule=None):
        """Begin an update: the learning rate of this step (the schedule at the current count, when there is
        one: a (formula, constants) pair from ``LearningRateSchedule.formula()``) into state[1], then one more
        iteration in state[0] (Keras's ``local_step``)."""
        self._kernel(optimizer_state, "advance")(state, schedule)

    def _hyper(self, state):
        """(learning rate, step, weight decay) read from the device state: free on the CPU."""
        return float(state[1]), int(state[0]), float(state[2])

    @primitive
    def sgd_update(self, p, g, velocity, state, momentum, nesterov):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("sgd_update", (p, g, velocity), (lr, momentum, nesterov, weight_decay))

    @primitive
    def rmsprop_update(self, p, g, ms, mom, mg, state, rho, momentum, epsilon, centered):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("rmsprop_update", (p, g, ms, mom, mg), (lr, rho, momentum, epsilon, centered, weight_decay))

    @primitive
    def adagrad_update(self, p, g, acc, state, epsilon):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("adagrad_update", (p, g, acc), (lr, epsilon, weight_decay))

    @primitive
    def adam_update(self, p, g, m, v, vhat, state, beta_1, beta_2, epsilon):
        lr, step, weight_decay = self._hyper(state)
        self._flat_update("adam_update", (p, g, m, v, vhat), (lr, beta_1, beta_2, epsilon, step, weight_decay))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.device_description}>"


NumpyOps = Ops
