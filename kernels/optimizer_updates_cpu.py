"""The optimizer steps of ``optimizer_updates.py`` compiled for the CPU: one pass over the flat buffer.

Same formulas, arguments and in-place results as the NumPy twins there (which stay the reference and the
fallback). A NumPy twin makes about a dozen passes over the buffers (one per ufunc); these loops read each
element once, about 5x faster: for a small MLP the update is a quarter of a training step. The loops are
compiled as Numba parallel loops (``prange``: Numba then lets LLVM vectorise them, which a plain loop over
possibly aliased arrays does not get) but run on one thread (``pool_threads``) unless the BLAS shares Numba's
pool: OpenBLAS's threads still spin from the backward pass's matmuls when the update starts, and a second
thread team fighting them for the cores made whole training steps ten times slower.

Unlike the twins and the CUDA kernels, these loops (all but Lion's, which steps by the sign of its moment
however small) read a state value (a moment, an accumulator, a velocity) as zero when it is below the smallest normal float over the machine epsilon (1.4e-31 in float32):
x86 cores take a microcode assist on every operation that reads or makes a subnormal, and a moment decaying
toward zero (a weight whose gradient stays zero, such as a relu unit that no longer fires: beta_1 = 0.9 a
step) made the update 6-20x slower after a few epochs, through the subnormal products of the tiny moment
with the step size as much as through subnormal moments. A state value that small moves no parameter: its
contribution is below the last bit of any parameter above 1e-20 (float32). XLA flushes subnormals to zero on
the CPU too; GPUs compute with them at full speed, and the CUDA kernels keep the exact formulas.

This module imports Numba: ``gpunn.kernels.cpu_updates()`` imports it only when Numba is installed and
``GPUNN_CPU_JIT`` is not 0, and falls back to the NumPy twins otherwise. Each loop is compiled on its first
call (about a second) and cached on disk for later processes. Arithmetic is in the buffer's dtype
(constants are cast to it, and 1 - beta comes in computed in double precision), as in the twins and the
CUDA kernels.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from gpunn.kernels import optimizer_rules as rules
from gpunn.kernels.optimizer_updates import adam_alpha, ftrl_l2_twice_host

# The per-element rules, inlined into each loop (one formula for the CPU and the GPU).
_sgd = njit(inline="always")(rules.sgd_rule)
_rmsprop = njit(inline="always")(rules.rmsprop_rule)
_adagrad = njit(inline="always")(rules.adagrad_rule)
_adam = njit(inline="always")(rules.adam_rule)
_nadam = njit(inline="always")(rules.nadam_rule)
_adamax = njit(inline="always")(rules.adamax_rule)
_adadelta = njit(inline="always")(rules.adadelta_rule)
_lion = njit(inline="always")(rules.lion_rule)
_schedule_free_adamw = njit(inline="always")(rules.schedule_free_adamw_rule)
_ftrl = njit(inline="always")(rules.ftrl_rule)
_lamb_moments = njit(inline="always")(rules.lamb_moments_rule)
_lamb_direction = njit(inline="always")(rules.lamb_direction)
_lamb_trust_ratio = njit(inline="always")(rules.lamb_trust_ratio)
_ema = njit(inline="always")(rules.ema_rule)


@njit(inline="always")
def _or_zero(x, negligible, zero):
    """A state value read as ``zero`` where it is below ``negligible`` (see the module docstring); NaN stays
    NaN. (This form, with the zero computed outside the loop, vectorises; ``x if ... else x * 0`` does not.)"""
    return zero if abs(x) < negligible else x


@njit(inline="always")
def _negligible(dtype):
    """The smallest normal float over the machine epsilon: 1.4e-31 in float32, 1.0e-292 in float64. A state
    value below it, times any factor above the epsilon, would leave the normal range."""
    return np.finfo(dtype).tiny / np.finfo(dtype).eps


@njit(parallel=True, cache=True)
def sgd(p, g, velocity, lr, momentum, nesterov, decay):
    t = p.dtype.type
    lr, momentum, decay = t(lr), t(momentum), t(decay)
    with_momentum = momentum != 0
    small, zero = t(_negligible(p.dtype)), t(0.0)
    for i in prange(p.shape[0]):
        p[i], v = _sgd(p[i], g[i], _or_zero(velocity[i], small, zero), lr, momentum, decay, with_momentum,
                       nesterov)
        if with_momentum:
            velocity[i] = v


@njit(parallel=True, cache=True)
def rmsprop(p, g, ms, mom, mg, lr, rho, rho_c, momentum, epsilon, centered, decay, eps_outside):
    t = p.dtype.type
    lr, rho, rho_c, momentum, epsilon, decay = t(lr), t(rho), t(rho_c), t(momentum), t(epsilon), t(decay)
    with_momentum = momentum > 0
    small, zero = t(_negligible(p.dtype)), t(0.0)
    for i in prange(p.shape[0]):
        p[i], ms[i], m, a = _rmsprop(p[i], g[i], _or_zero(ms[i], small, zero), _or_zero(mom[i], small, zero),
                                     _or_zero(mg[i], small, zero), lr, rho, rho_c, momentum, epsilon, decay,
                                     centered, with_momentum, eps_outside)
        if with_momentum:
            mom[i] = m
        if centered:
            mg[i] = a


@njit(parallel=True, cache=True)
def adagrad(p, g, acc, lr, epsilon, decay, eps_outside):
    t = p.dtype.type
    lr, epsilon, decay = t(lr), t(epsilon), t(decay)
    for i in prange(p.shape[0]):
        p[i], acc[i] = _adagrad(p[i], g[i], acc[i], lr, epsilon, decay, eps_outside)


@njit(parallel=True, cache=True)
def adam(p, g, m, v, vhat, amsgrad, alpha, beta_1c, beta_2c, epsilon, decay):
    t = p.dtype.type
    alpha, beta_1c, beta_2c, epsilon, decay = t(alpha), t(beta_1c), t(beta_2c), t(epsilon), t(decay)
    small, zero = t(_negligible(p.dtype)), t(0.0)
    for i in prange(p.shape[0]):
        p[i], m[i], v[i], h = _adam(p[i], g[i], _or_zero(m[i], small, zero), _or_zero(v[i], small, zero),
                                    _or_zero(vhat[i], small, zero), alpha, beta_1c, beta_2c, epsilon, decay,
                                    amsgrad)
        if amsgrad:
            vhat[i] = h


@njit(parallel=True, cache=True)
def nadam(p, g, m, v, lr, beta_1c, beta_2c, epsilon, decay, m_coef, g_coef, v_correction):
    t = p.dtype.type
    lr, beta_1c, beta_2c, epsilon, decay = t(lr), t(beta_1c), t(beta_2c), t(epsilon), t(decay)
    m_coef, g_coef, v_correction = t(m_coef), t(g_coef), t(v_correction)
    small, zero = t(_negligible(p.dtype)), t(0.0)
    for i in prange(p.shape[0]):
        p[i], m[i], v[i] = _nadam(p[i], g[i], _or_zero(m[i], small, zero), _or_zero(v[i], small, zero), lr,
                                  beta_1c, beta_2c, epsilon, decay, m_coef, g_coef, v_correction)


@njit(parallel=True, cache=True)
def adamax(p, g, m, u, step_size, beta_1c, beta_2, epsilon, decay):
    t = p.dtype.type
    step_size, beta_1c, beta_2, epsilon, decay = t(step_size), t(beta_1c), t(beta_2), t(epsilon), t(decay)
    small, zero = t(_negligible(p.dtype)), t(0.0)
    for i in prange(p.shape[0]):
        p[i], m[i], u[i] = _adamax(p[i], g[i], _or_zero(m[i], small, zero), _or_zero(u[i], small, zero),
                                   step_size, beta_1c, beta_2, epsilon, decay)


@njit(parallel=True, cache=True)
def adadelta(p, g, acc_g, acc_dx, lr, rho, rho_c, epsilon, decay):
    t = p.dtype.type
    lr, rho, rho_c, epsilon, decay = t(lr), t(rho), t(rho_c), t(epsilon), t(decay)
    small, zero = t(_negligible(p.dtype)), t(0.0)
    for i in prange(p.shape[0]):
        p[i], acc_g[i], acc_dx[i] = _adadelta(p[i], g[i], _or_zero(acc_g[i], small, zero),
                                              _or_zero(acc_dx[i], small, zero), lr, rho, rho_c, epsilon, decay)


@njit(parallel=True, cache=True)
def lion(p, g, m, lr, beta_1, beta_1c, beta_2, beta_2c, decay):
    t = p.dtype.type
    lr, beta_1, beta_1c, beta_2, beta_2c, decay = t(lr), t(beta_1), t(beta_1c), t(beta_2), t(beta_2c), t(decay)
    # Lion steps by the sign of its moment, however small: its state is read as it is.
    for i in prange(p.shape[0]):
        p[i], m[i] = _lion(p[i], g[i], m[i], lr, beta_1, beta_1c, beta_2, beta_2c, decay)


@njit(parallel=True, cache=True, error_model="numpy")
def schedule_free_adamw(p, g, z, v, lr, beta_1, beta_1c, beta_2c, epsilon, decay, v_correction, weight, weight_c):
    t = p.dtype.type
    lr, beta_1, beta_1c, beta_2c, epsilon = t(lr), t(beta_1), t(beta_1c), t(beta_2c), t(epsilon)
    decay, v_correction, weight, weight_c = t(decay), t(v_correction), t(weight), t(weight_c)
    small, zero = t(_negligible(p.dtype)), t(0.0)
    # z is where the weights' steps land (a weight, not a decaying moment): read as it is; v is a moment
    for i in prange(p.shape[0]):
        p[i], z[i], v[i] = _schedule_free_adamw(p[i], g[i], z[i], _or_zero(v[i], small, zero), lr, beta_1, beta_1c,
                                                beta_2c, epsilon, decay, v_correction, weight, weight_c)


# error_model="numpy": FTRL divides by the learning rate, and at 0 Keras's arithmetic gives inf and NaN where
# Numba's default (Python's) error model would raise ZeroDivisionError (and check every division for it).
@njit(parallel=True, cache=True, error_model="numpy")
def ftrl(p, g, acc, linear, lr, power, l1, l2_twice, shrinkage_twice, decay):
    t = p.dtype.type
    lr, power, l1, l2_twice, shrinkage_twice, decay = t(lr), t(power), t(l1), t(l2_twice), t(shrinkage_twice), t(decay)
    half_power = power == t(0.5)
    # The accumulator only grows and the linear term sums gradients: neither decays toward the subnormals that
    # the moments of the other loops are flushed from, so both are read as they are (as Adagrad's).
    for i in prange(p.shape[0]):
        p[i], acc[i], linear[i] = _ftrl(p[i], g[i], acc[i], linear[i], lr, power, l1, l2_twice, shrinkage_twice,
                                        decay, half_power)


@njit(cache=True, fastmath={"reassoc"})
def _sums_of_squares(w, d):
    """(sum w^2, sum d^2): each square in the arrays' dtype (one that underflows there adds nothing, as in Keras
    and the CUDA kernels), summed in float64, where a float32 running sum over a million elements would be off
    in the fourth digit. Reassociation, the only licence given, lets LLVM keep the sums in SIMD lanes."""
    w_squares = 0.0
    d_squares = 0.0
    for i in range(w.shape[0]):
        w_squares += np.float64(w[i] * w[i])
        d_squares += np.float64(d[i] * d[i])
    return w_squares, d_squares


@njit(parallel=True, cache=True)
def lamb(p, g, m, v, directions, segments, lr, beta_1c, beta_2c, m_correction, v_correction, epsilon, decay):
    """One pass over all elements (the decay, the moments, each direction into ``directions``), then per weight (a
    row of ``segments``, tiling p) its sums of squares and one pass moving its parameters by lr * trust ratio *
    direction. Reductions keep a loop from being vectorised, so they have a loop of their own.

    Negligible moments are read as zero, as in Adam's loop. Though Lamb normalises its direction, this moves no
    parameter of a weight that has moments of ordinary size by a visible amount: the tiny ones add nothing to its
    norms. Only a weight whose moments are all negligible (no gradient has reached it for hundreds of steps)
    stops moving, where the exact formula would still move it by lr ||w|| along its vanishing direction (XLA on
    the CPU, which flushes subnormals, stops it too, some steps later)."""
    t = p.dtype.type
    lr, beta_1c, beta_2c, epsilon, decay = t(lr), t(beta_1c), t(beta_2c), t(epsilon), t(decay)
    m_correction, v_correction = t(m_correction), t(v_correction)
    small, zero = t(_negligible(p.dtype)), t(0.0)
    for i in prange(p.shape[0]):
        p[i], m[i], v[i] = _lamb_moments(p[i], g[i], _or_zero(m[i], small, zero), _or_zero(v[i], small, zero),
                                         beta_1c, beta_2c, decay)
        directions[i] = _lamb_direction(m[i], v[i], m_correction, v_correction, epsilon)
    for k in range(segments.shape[0]):
        start, stop = segments[k, 0], segments[k, 1]
        w_squares, d_squares = _sums_of_squares(p[start:stop], directions[start:stop])
        lr_ratio = t(_lamb_trust_ratio(w_squares, d_squares, 1.0)) * lr
        for i in prange(start, stop):
            p[i] = p[i] - lr_ratio * directions[i]


@njit(parallel=True, cache=True)
def ema(p, average, momentum, overwrite):
    # The moving average is not flushed to zero like the optimizers' state: it is a weight's value, not a decaying
    # moment, and stays in the weights' range.
    t = p.dtype.type
    momentum = t(momentum)
    rest = t(1.0) - momentum
    for i in prange(p.shape[0]):
        pi, average[i] = _ema(p[i], average[i], momentum, rest, overwrite)
        if overwrite:
            p[i] = pi

class CompiledUpdates:
    """Launchers with the NumPy twins' argument lists (``scratch`` accepted and not needed, but by Lamb's, which
    keeps its directions there).

    ``pool_threads``: how many threads a large update may use; one unless the BLAS shares Numba's thread pool
    (``gpunn/ops/mkl_gemm.py``: MKL on libgomp, as Numba's 'omp' layer), where no spinning BLAS worker is left
    to fight them for the cores.
    """

    PARALLEL_MIN_ELEMENTS = 1 << 15  # below, forking the pool costs more than the second thread gains

    @staticmethod
    def pool_threads() -> int:
        return 1

    def _enter(self, size: int) -> None:
        # Numba's thread count is per calling thread; set it at every launch, where it costs a microsecond.
        threads = self.pool_threads() if size >= self.PARALLEL_MIN_ELEMENTS else 1
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))

    def warm_up(self, step: str, dtype) -> None:
        """Compile (or load from the disk cache) the loop of ``step`` for ``dtype`` now, on a one-element buffer,
        so that the first training step, often inside a timed epoch, does not pay for it."""
        def a(value=0.0):
            return np.full(1, value, dtype=dtype)

        args = {
            "sgd_update": lambda: (a(), a(), a(), 0.0, 0.9, True, 0.0),
            "rmsprop_update": lambda: (a(), a(), a(1.0), a(), a(), 0.0, 0.9, 0.5, 1e-7, True, 0.0),
            "adagrad_update": lambda: (a(), a(), a(1.0), 0.0, 1e-7, 0.0),
            "adam_update": lambda: (a(), a(), a(), a(), a(), 0.0, 0.9, 0.999, 1e-7, 1, 0.0),
            "nadam_update": lambda: (a(), a(), a(), a(), 0.0, 0.9, 0.999, 1e-7, 1, 0.0),
            "adamax_update": lambda: (a(), a(), a(), a(), 0.0, 0.9, 0.999, 1e-7, 1, 0.0),
            "adadelta_update": lambda: (a(), a(), a(), a(), 0.0, 0.95, 1e-7, 0.0),
            "lion_update": lambda: (a(), a(), a(), 0.0, 0.9, 0.99, 0.0),
            "schedule_free_adamw_update": lambda: (a(), a(), a(), a(), 0.0, 0.9, 0.999, 1e-8, 0, 1, 0.0),
            "ftrl_update": lambda: (a(), a(), a(1.0), a(), 0.001, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0),
            "lamb_update": lambda: (a(), a(), a(), a(), np.array([[0, 1]], np.int64), 0.0, 0.9, 0.999, 1e-7, 1, 0.0,
                                    a()),
            "ema_update": lambda: (a(), a(), np.zeros(3), 0.99, 0, 0),
        }[step]()
        getattr(self, step)(*args)

    @staticmethod
    def _decay(lr, weight_decay):
        return lr * weight_decay if weight_decay else 0.0  # (the rules take p - p * decay)

    # Unused state arrays are passed as p, so that each loop compiles once per dtype.
    def sgd_update(self, p, g, velocity, lr, momentum, nesterov, weight_decay, scratch=None):
        self._enter(p.size)
        sgd(p, g, p if velocity is None else velocity, lr, momentum if velocity is not None else 0.0,
            bool(nesterov), self._decay(lr, weight_decay))

    def rmsprop_update(self, p, g, ms, mom, mg, lr, rho, momentum, epsilon, centered, weight_decay,
                       epsilon_outside=False, scratch=None):
        self._enter(p.size)
        rmsprop(p, g, ms, p if mom is None else mom, p if mg is None else mg, lr, rho, 1.0 - rho,
                momentum if mom is not None else 0.0, epsilon, bool(centered), self._decay(lr, weight_decay),
                bool(epsilon_outside))

    def adagrad_update(self, p, g, acc, lr, epsilon, weight_decay, epsilon_outside=False, scratch=None):
        self._enter(p.size)
        adagrad(p, g, acc, lr, epsilon, self._decay(lr, weight_decay), bool(epsilon_outside))

    def adam_update(self, p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, step, weight_decay, scratch=None):
        self._enter(p.size)
        # 1 - beta in double precision here, as the twins do: in float32, 1 - float32(0.999) loses four digits.
        adam(p, g, m, v, p if vhat is None else vhat, vhat is not None, adam_alpha(lr, beta_1, beta_2, step),
             1.0 - beta_1, 1.0 - beta_2, epsilon, self._decay(lr, weight_decay))

    def nadam_update(self, p, g, m, v, lr, beta_1, beta_2, epsilon, step, weight_decay, scratch=None):
        self._enter(p.size)
        m_coef, g_coef, v_correction = rules.nadam_step_scalars(step, beta_1, beta_2)
        nadam(p, g, m, v, lr, 1.0 - beta_1, 1.0 - beta_2, epsilon, self._decay(lr, weight_decay), m_coef, g_coef,
              v_correction)

    def adamax_update(self, p, g, m, u, lr, beta_1, beta_2, epsilon, step, weight_decay, scratch=None):
        self._enter(p.size)
        adamax(p, g, m, u, rules.adamax_step_size(lr, step, beta_1), 1.0 - beta_1, beta_2, epsilon,
               self._decay(lr, weight_decay))

    def adadelta_update(self, p, g, acc_g, acc_dx, lr, rho, epsilon, weight_decay, scratch=None):
        self._enter(p.size)
        adadelta(p, g, acc_g, acc_dx, lr, rho, 1.0 - rho, epsilon, self._decay(lr, weight_decay))

    def lion_update(self, p, g, m, lr, beta_1, beta_2, weight_decay, scratch=None):
        self._enter(p.size)
        lion(p, g, m, lr, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, self._decay(lr, weight_decay))

    def schedule_free_adamw_update(self, p, g, z, v, lr, beta_1, beta_2, epsilon, warmup_steps, step, weight_decay,
                                   scratch=None):
        self._enter(p.size)
        warmed_lr, v_correction, weight, weight_c = rules.schedule_free_step_scalars(lr, step, warmup_steps, beta_2)
        schedule_free_adamw(p, g, z, v, warmed_lr, beta_1, 1.0 - beta_1, 1.0 - beta_2, epsilon,
                            self._decay(lr, weight_decay), v_correction, weight, weight_c)

    def ftrl_update(self, p, g, acc, linear, lr, learning_rate_power, l1, l2, l2_shrinkage, beta, weight_decay,
                    scratch=None):
        self._enter(p.size)
        ftrl(p, g, acc, linear, lr, -learning_rate_power, l1, ftrl_l2_twice_host(lr, l2, beta), 2.0 * l2_shrinkage,
             self._decay(lr, weight_decay))

    def lamb_update(self, p, g, m, v, segments, lr, beta_1, beta_2, epsilon, step, weight_decay, scratch=None):
        """``segments``: an int64 (weights, 2) array of (start, stop) tiling p (the twin takes any sequence);
        ``scratch``: the shape of p, where the directions wait for their weight's norms (made here when None)."""
        self._enter(p.size)
        lamb(p, g, m, v, np.empty_like(p) if scratch is None else scratch, segments, lr, 1.0 - beta_1, 1.0 - beta_2,
             1.0 - beta_1 ** step, 1.0 - beta_2 ** step, epsilon, self._decay(lr, weight_decay))

    def ema_update(self, p, average, state, ema_momentum, frequency, count_offset, scratch=None):
        """``weight_average.ema_update_numpy``'s step: the count read from the (host) optimizer state."""
        self._enter(p.size)
        momentum, due = rules.ema_step_scalars(float(state[0]) + count_offset, ema_momentum, frequency)
        ema(p, average, momentum, due)
