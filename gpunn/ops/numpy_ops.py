"""NumpyOps: the CPU backend. The fused steps and the optimizer updates are each one compiled pass (Numba:
kernels/fused_cpu.py, kernels/optimizer_updates_cpu.py) that allocates nothing; without Numba, the kernels'
NumPy twins (the CPU side of each kernels/ pair), the updates split over a small thread pool.
"""
from __future__ import annotations

import numpy

from ..kernels import (bias_act, dropout, embedding, gather_rows, optimizer_updates, sigmoid_bce, softmax_xent,
                       weight_average)
from . import mkl_gemm
from .base import Ops
from .cpu_matmul import CpuMatmul
from .recording import primitive


class NumpyOps(CpuMatmul, Ops):
    name = "numpy"
    device_description = "CPU (NumPy)"
    # A replayed step skips the layer logic and reuses prepared MKL calls: 15-35% less time per step than eager
    # on the CPU (bench/results/cpu_epoch.md, step_overhead.md), the same weights bit for bit.
    replays_by_default = True

    def step_conditions(self):
        """NumPy's floating-point warnings off: a diverging step (an overflow in a matmul, inf - inf) would print
        them from gpunn's internals, where the trainer's own divergence warning says what happened. What the
        script asked for other than warnings (``np.seterr(all="raise")`` to find where a value went wrong) holds,
        but for underflow, routine in a softmax or a matmul of small values (JAX's steps never consult it)."""
        return numpy.errstate(**{kind: "ignore" if how == "warn" or kind == "under" else how
                                 for kind, how in numpy.geterr().items()})

    def __init__(self):
        super().__init__()
        from ..kernels import cpu_embedding, cpu_fused

        self._compiled_steps = cpu_fused()  # compiled (Numba) fused steps, or None: the twins run
        self._compiled_embedding = cpu_embedding()
        self._mkl = mkl_gemm.make()  # MKL for the larger matmuls (gpunn/ops/mkl_gemm.py), or None: NumPy's BLAS

    # ---- fused layer steps: one compiled pass each (kernels/fused_cpu.py), else the NumPy twins -----------
    # The compiled steps allocate nothing and make one pass over memory; the twins are their oracle and the
    # fallback where Numba is missing (or GPUNN_CPU_JIT=0). Each compiles on its first call, or loads from
    # Numba's disk cache.
    def _fused(self, step: str, twin_module):
        compiled = self._compiled_steps
        return getattr(compiled, step) if compiled is not None else getattr(twin_module, step + "_numpy")

    @primitive
    def gather_rows(self, source, order, cursor, offset, out):
        return gather_rows.gather_rows_numpy(source, order, cursor, offset, out)

    @primitive
    def embedding_lookup(self, table, ids, out):
        return embedding.embedding_lookup_numpy(table, ids, out)

    @primitive
    def embedding_grad(self, dy, ids, grad_out):
        if self._compiled_embedding is not None:
            return self._compiled_embedding.embedding_grad(dy, ids, grad_out)
        return embedding.embedding_grad_numpy(dy, ids, grad_out)

    @primitive
    def bias_act_forward(self, z, bias, activation, out, alpha=0.2):
        self._fused("bias_act_forward", bias_act)(z, bias, activation, out, alpha)
        return out

    @primitive
    def act_backward_bias_grad(self, dy, y, z, activation, dz_out, dbias_out, alpha=0.2):
        self._fused("act_backward_bias_grad", bias_act)(dy, y, z, activation, dz_out, dbias_out, alpha)
        return dz_out

    @primitive
    def softmax(self, logits, out):
        self._fused("softmax", softmax_xent)(logits, out)
        return out

    @primitive
    def softmax_xent(self, logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
        self._fused("softmax_xent", softmax_xent)(logits, labels, probs_out, dlogits_out, loss_out, grad_scale)

    @primitive
    def sigmoid_bce(self, logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
        self._fused("sigmoid_bce", sigmoid_bce)(logits, targets, probs_out, dlogits_out, loss_out, grad_scale)

    @primitive
    def dropout_forward(self, x, rate, seed, counter, out, mask_out):
        self._fused("dropout_forward", dropout)(x, rate, seed, counter, out, mask_out)
        return out

    @primitive
    def dropout_backward(self, dy, mask, rate, dx_out):
        self._fused("dropout_backward", dropout)(dy, mask, rate, dx_out)
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
        twin = getattr(optimizer_updates, step + "_numpy")
        p = arrays[0]
        rows = optimizer_updates.SCRATCH_ROWS.get(step, 1)  # the twins needing two temporaries take (2, n)
        scratch = self._scratch(p.size * rows, p.dtype)
        if rows > 1:
            scratch = scratch.reshape(rows, p.size)
        workers = self._update_threads() if p.size >= self.PARALLEL_MIN_ELEMENTS else 1
        if workers == 1:
            twin(*arrays, *scalars, scratch=scratch)
            return
        # Slice bounds on 64-element boundaries keep each slice's start aligned for SIMD.
        bounds = [min(p.size, (p.size * k // workers) // 64 * 64) for k in range(workers)] + [p.size]
        jobs = [self._pool.submit(twin, *[None if a is None else a[lo:hi] for a in arrays], *scalars,
                                  scratch=scratch[..., lo:hi])
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
            if self._compiled is not None and self._mkl is not None:
                self._compiled.pool_threads = self._update_pool_threads
        return self._compiled

    def _update_pool_threads(self) -> int:
        """The compiled update's threads: MKL's count where its workers are Numba's, else one."""
        return self._mkl.threads() if self._mkl.shares_numba_pool() else 1

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
    def _hyper(self, state):
        """(learning rate, step, weight decay) read from the device state: free on the CPU."""
        return float(state[1]), int(state[0]), float(state[2])

    @primitive
    def sgd_update(self, p, g, velocity, state, momentum, nesterov):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("sgd_update", (p, g, velocity), (lr, momentum, nesterov, weight_decay))

    @primitive
    def rmsprop_update(self, p, g, ms, mom, mg, state, rho, momentum, epsilon, centered, epsilon_outside=False):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("rmsprop_update", (p, g, ms, mom, mg),
                          (lr, rho, momentum, epsilon, centered, weight_decay, epsilon_outside))

    @primitive
    def adagrad_update(self, p, g, acc, state, epsilon, epsilon_outside=False):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("adagrad_update", (p, g, acc), (lr, epsilon, weight_decay, epsilon_outside))

    @primitive
    def adam_update(self, p, g, m, v, vhat, state, beta_1, beta_2, epsilon):
        lr, step, weight_decay = self._hyper(state)
        self._flat_update("adam_update", (p, g, m, v, vhat), (lr, beta_1, beta_2, epsilon, step, weight_decay))

    @primitive
    def nadam_update(self, p, g, m, v, state, beta_1, beta_2, epsilon):
        lr, step, weight_decay = self._hyper(state)
        self._flat_update("nadam_update", (p, g, m, v), (lr, beta_1, beta_2, epsilon, step, weight_decay))

    @primitive
    def adamax_update(self, p, g, m, u, state, beta_1, beta_2, epsilon):
        lr, step, weight_decay = self._hyper(state)
        self._flat_update("adamax_update", (p, g, m, u), (lr, beta_1, beta_2, epsilon, step, weight_decay))

    @primitive
    def adadelta_update(self, p, g, acc_g, acc_dx, state, rho, epsilon):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("adadelta_update", (p, g, acc_g, acc_dx), (lr, rho, epsilon, weight_decay))

    @primitive
    def lion_update(self, p, g, m, state, beta_1, beta_2):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("lion_update", (p, g, m), (lr, beta_1, beta_2, weight_decay))

    @primitive
    def schedule_free_adamw_update(self, p, g, z, v, state, beta_1, beta_2, epsilon, warmup_steps):
        lr, step, weight_decay = self._hyper(state)
        self._flat_update("schedule_free_adamw_update", (p, g, z, v),
                          (lr, beta_1, beta_2, epsilon, warmup_steps, step, weight_decay))

    @primitive
    def ftrl_update(self, p, g, acc, linear, state, learning_rate_power, l1, l2, l2_shrinkage, beta):
        lr, _, weight_decay = self._hyper(state)
        self._flat_update("ftrl_update", (p, g, acc, linear),
                          (lr, learning_rate_power, l1, l2, l2_shrinkage, beta, weight_decay))

    @primitive
    def lamb_update(self, p, g, m, v, state, beta_1, beta_2, epsilon, segments):
        lr, step, weight_decay = self._hyper(state)
        bounds = self._segment_array(segments, p.size)
        scalars = (lr, beta_1, beta_2, epsilon, step, weight_decay)
        compiled = self._compiled_updates()
        if compiled is not None:
            compiled.lamb_update(p, g, m, v, bounds, *scalars, scratch=self._scratch(p.size, p.dtype))
            return
        # The twin whole, on one thread: _flat_update's slices would cut the weights whose norms it takes.
        scratch = self._scratch(2 * p.size, p.dtype).reshape(2, p.size)
        optimizer_updates.lamb_update_numpy(p, g, m, v, bounds, *scalars, scratch=scratch)

    @primitive
    def ema_update(self, p, average, state, ema_momentum, frequency, count_offset):
        compiled = self._compiled_updates()
        if compiled is not None:
            compiled.ema_update(p, average, state, ema_momentum, frequency, count_offset)
            return
        weight_average.ema_update_numpy(p, average, state, ema_momentum, frequency, count_offset,
                                        scratch=self._scratch(p.size, p.dtype))

    def _segment_array(self, segments, size):
        """The weights' (start, stop) tuple as the int64 (weights, 2) array the compiled loop takes, checked and
        made once per tuple (a step allocates nothing)."""
        cache = self.__dict__.setdefault("_segment_arrays", {})
        bounds = cache.get(segments)
        if bounds is None:
            optimizer_updates.check_segments(segments, size)
            bounds = cache[segments] = numpy.array(segments, dtype=numpy.int64).reshape(len(segments), 2)
        return bounds
