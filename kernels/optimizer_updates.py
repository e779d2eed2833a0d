"""Fused optimizer steps over one flat parameter buffer, with Keras 3's formulas.

All arrays are 1-D and of one shape: parameters p, gradient g, optimizer state. ``lr`` is the current
learning rate, ``step`` the 1-based iteration. Decoupled weight decay comes first, as in Keras
(p -= p * (lr * wd); skipped when wd == 0):

SGD       momentum == 0: p -= lr g
          else: v = momentum v - lr g;  p += momentum v - lr g (nesterov)  or  p += v
RMSprop   ms = rho ms + (1 - rho) g^2
          centered: mg = rho mg + (1 - rho) g;  denom = ms - mg^2 + eps,  else denom = ms + eps
          inc = lr g / sqrt(denom);  momentum > 0: mom = momentum mom + inc; p -= mom,  else p -= inc
Adagrad   acc += g^2;  p -= lr g / sqrt(acc + eps)
Adam      alpha = lr sqrt(1 - beta_2^step) / (1 - beta_1^step)
          m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
          amsgrad (vhat given): vhat = max(vhat, v), used instead of v
          p -= m alpha / (sqrt(v) + eps)                       (AdamW: Adam with weight_decay)
Nadam     u_t = beta_1 (1 - 0.5 0.96^step),  u_product = u_1 ... u_step   (optimizer_rules.nadam_step_scalars)
          m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
          m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product)
          p -= m_hat lr / (sqrt(v / (1 - beta_2^step)) + eps)
Adamax    m += (g - m)(1 - beta_1);  u = max(beta_2 u, |g|);  p -= lr m / ((1 - beta_1^step)(u + eps))
Adadelta  acc_g = rho acc_g + (1 - rho) g^2;  dx = -sqrt(acc_dx + eps) g / sqrt(acc_g + eps)
          acc_dx = rho acc_dx + (1 - rho) dx^2;  p += lr dx
Lion      p -= lr sign(beta_1 m + (1 - beta_1) g);  m = beta_2 m + (1 - beta_2) g
Ftrl      with P = -learning_rate_power and L2 = 2 (l2 + beta / (2 lr)):
          new = acc + g^2;  linear += (g + 2 l2_shrinkage p) - (new^P - acc^P) / lr * p;  acc = new
          p = (clip(linear, -l1, l1) - linear) / (new^P / lr + L2)
ScheduleFreeAdamW  with lr rising over warmup_steps, w = 1 / step (optimizer_rules.schedule_free_adamw_rule):
          v += (g^2 - v)(1 - beta_2);  z_old = z;  z -= lr g / (sqrt(v / (1 - beta_2^step)) + eps)
          x = (1 - w)(p - (1 - beta_1) z_old) / beta_1 + w z;  p = (1 - beta_1) z + beta_1 x
Lamb      m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
          d = (m / (1 - beta_1^step)) / (sqrt(v / (1 - beta_2^step)) + eps)
          per weight (a segment of the buffer): p -= lr ||p|| / ||d|| d  (the ratio 1 where a norm is 0)

NumPy twins: ``sgd_update_numpy``, ``rmsprop_update_numpy``, ``adagrad_update_numpy``,
``adam_update_numpy``, ``nadam_update_numpy``, ``adamax_update_numpy``, ``adadelta_update_numpy``,
``lion_update_numpy``, ``ftrl_update_numpy``, ``lamb_update_numpy``,
``schedule_free_adamw_update_numpy``, in place; the optional ``scratch``
replaces their temporaries: the shape of p, or (``SCRATCH_ROWS[step]``, p.size) for the twins that need more.
CUDA kernels: one grid-stride launch per step over the whole buffer (Lamb: two, see below), a compile-time
variant per flag (momentum, nesterov, centered, amsgrad, Ftrl's square-root power), arithmetic in the buffer's
dtype.
Launchers with the twins' argument lists: ``sgd_update_cuda``, ``rmsprop_update_cuda``,
``adagrad_update_cuda``, ``adam_update_cuda``, ``nadam_update_cuda``, ``adamax_update_cuda``,
``adadelta_update_cuda``, ``lion_update_cuda``, ``ftrl_update_cuda``, ``lamb_update_cuda``,
``schedule_free_adamw_update_cuda`` (``scratch``
accepted, not needed).

Lamb's updates take the weights' ``segments`` too: (start, stop) pairs tiling the buffer in order. Its CUDA
update is two kernels over blocks that each take up to LAMB_CHUNK elements of one weight: the first updates the
moments and writes each block's partial sums of squares, the second sums a weight's partials in a fixed order
(every block of the weight the same way: deterministic, no atomics) and moves the parameters.
"""
from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from gpunn import _compat
from gpunn.kernels import _launch
from gpunn.kernels import optimizer_rules as rules
from gpunn.kernels._row_reduce import BLOCK_THREADS, row_reducers

cuda = None  # numba.cuda, bound by the kernel factories on first use


# Temporaries each twin needs, where more than one: its ``scratch`` is then (rows, p.size).
SCRATCH_ROWS = {"nadam_update": 2, "adadelta_update": 2, "lion_update": 2, "ftrl_update": 3, "lamb_update": 2,
                "schedule_free_adamw_update": 2}


def _scratch_for(p, scratch):
    return np.empty_like(p) if scratch is None else scratch


def _scratch_rows(p, scratch, rows):
    if scratch is None:
        scratch = np.empty((rows,) + p.shape, dtype=p.dtype)
    return tuple(scratch[:rows])


def _decay(p, lr, weight_decay):
    # p - p * (lr * wd), as Keras computes it (a factor 1 - lr * wd rounded to p's dtype would drift alike at
    # every step); the temporary is the twin's, the oracle's, not a step's
    if weight_decay:
        p -= p * (lr * weight_decay)


def adam_alpha(lr, beta_1, beta_2, step):
    """Adam's bias-corrected step size for the 1-based ``step``."""
    return lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)


# ---------------------------------------------------------------- NumPy twins


def sgd_update_numpy(p, g, velocity, lr, momentum, nesterov, weight_decay, scratch=None):
    """SGD step in place; ``velocity`` may be None when momentum == 0."""
    _decay(p, lr, weight_decay)
    s = _scratch_for(p, scratch)
    np.multiply(g, -lr, out=s)  # -lr g
    if not momentum:
        p += s
        return p
    velocity *= momentum
    velocity += s
    if nesterov:
        p += s
        np.multiply(velocity, momentum, out=s)
    else:
        np.copyto(s, velocity)
    p += s
    return p


def _denominator(s, epsilon, epsilon_outside) -> None:
    """s <- sqrt(s + epsilon), or sqrt(s) + epsilon where tf.keras 2's legacy optimizers put epsilon."""
    if epsilon_outside:
        np.sqrt(s, out=s)
        s += epsilon
    else:
        s += epsilon
        np.sqrt(s, out=s)


def rmsprop_update_numpy(p, g, ms, mom, mg, lr, rho, momentum, epsilon, centered, weight_decay,
                         epsilon_outside=False, scratch=None):
    """RMSprop step in place; ``mom`` is None when momentum == 0, ``mg`` None unless centered;
    ``epsilon_outside``: the step divides by sqrt(ms) + epsilon (tf.keras 2's legacy RMSprop without momentum)."""
    _decay(p, lr, weight_decay)
    s = _scratch_for(p, scratch)
    ms *= rho
    np.multiply(g, g, out=s)
    s *= 1.0 - rho
    ms += s
    if centered:
        mg *= rho
        np.multiply(g, 1.0 - rho, out=s)
        mg += s
        np.multiply(mg, mg, out=s)
        np.subtract(ms, s, out=s)
    else:
        np.copyto(s, ms)
    _denominator(s, epsilon, epsilon_outside)
    np.divide(g, s, out=s)
    s *= lr  # the increment
    if momentum > 0:
        mom *= momentum
        mom += s
        p -= mom
    else:
        p -= s
    return p


def adagrad_update_numpy(p, g, acc, lr, epsilon, weight_decay, epsilon_outside=False, scratch=None):
    """Adagrad step in place (``epsilon_outside``: divided by sqrt(acc) + epsilon, tf.keras 2's legacy Adagrad)."""
    _decay(p, lr, weight_decay)
    s = _scratch_for(p, scratch)
    np.multiply(g, g, out=s)
    acc += s
    np.copyto(s, acc)
    _denominator(s, epsilon, epsilon_outside)
    np.divide(g, s, out=s)
    s *= lr
    p -= s
    return p


def adam_update_numpy(p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, step, weight_decay,
                      scratch=None):
    """Adam / AdamW step in place; ``vhat`` is the amsgrad state or None."""
    _decay(p, lr, weight_decay)
    alpha = adam_alpha(lr, beta_1, beta_2, step)
    s = _scratch_for(p, scratch)
    np.subtract(g, m, out=s)
    s *= 1.0 - beta_1
    m += s
    np.multiply(g, g, out=s)
    s -= v
    s *= 1.0 - beta_2
    v += s
    if vhat is not None:
        np.maximum(vhat, v, out=vhat)
        v = vhat
    np.sqrt(v, out=s)
    s += epsilon
    np.divide(m, s, out=s)
    s *= alpha
    p -= s
    return p


def nadam_update_numpy(p, g, m, v, lr, beta_1, beta_2, epsilon, step, weight_decay, scratch=None):
    """Nadam step in place (Keras 3's keras/src/optimizers/nadam.py); ``scratch``: (2, p.size)."""
    _decay(p, lr, weight_decay)
    m_coef, g_coef, v_correction = rules.nadam_step_scalars(step, beta_1, beta_2)
    s, t = _scratch_rows(p, scratch, 2)
    np.subtract(g, m, out=s)
    s *= 1.0 - beta_1
    m += s
    np.multiply(g, g, out=s)
    s -= v
    s *= 1.0 - beta_2
    v += s
    np.multiply(m, m_coef, out=t)
    np.multiply(g, g_coef, out=s)
    t += s  # m_hat
    t *= lr
    np.divide(v, v_correction, out=s)  # v_hat
    np.sqrt(s, out=s)
    s += epsilon
    np.divide(t, s, out=s)
    p -= s
    return p


def adamax_update_numpy(p, g, m, u, lr, beta_1, beta_2, epsilon, step, weight_decay, scratch=None):
    """Adamax step in place (Keras 3's keras/src/optimizers/adamax.py)."""
    _decay(p, lr, weight_decay)
    step_size = rules.adamax_step_size(lr, step, beta_1)
    s = _scratch_for(p, scratch)
    np.subtract(g, m, out=s)
    s *= 1.0 - beta_1
    m += s
    u *= beta_2
    np.abs(g, out=s)
    np.maximum(u, s, out=u)
    np.add(u, epsilon, out=s)
    np.divide(m, s, out=s)
    s *= step_size
    p -= s
    return p


def schedule_free_adamw_update_numpy(p, g, z, v, lr, beta_1, beta_2, epsilon, warmup_steps, step, weight_decay,
                                     scratch=None):
    """ScheduleFreeAdamW step in place (Keras 3's keras/src/optimizers/schedule_free_adamw.py): ``p`` is the
    model's weight y, ``z`` Keras's ``momentum``; ``scratch``: (2, p.size)."""
    _decay(p, lr, weight_decay)
    lr, v_correction, weight, weight_c = rules.schedule_free_step_scalars(lr, step, warmup_steps, beta_2)
    s, t = _scratch_rows(p, scratch, 2)
    np.multiply(g, g, out=s)
    s -= v
    s *= 1.0 - beta_2
    v += s
    np.divide(v, v_correction, out=s)
    np.sqrt(s, out=s)
    s += epsilon
    np.multiply(g, lr, out=t)
    np.divide(t, s, out=t)  # the step z takes
    np.multiply(z, 1.0 - beta_1, out=s)
    np.subtract(p, s, out=s)
    s /= beta_1  # x, from y and the old z
    z -= t
    s *= weight_c
    np.multiply(z, weight, out=t)
    s += t  # the new x
    s *= beta_1
    np.multiply(z, 1.0 - beta_1, out=p)
    p += s
    return p


def adadelta_update_numpy(p, g, acc_g, acc_dx, lr, rho, epsilon, weight_decay, scratch=None):
    """Adadelta step in place (Keras 3's keras/src/optimizers/adadelta.py); ``scratch``: (2, p.size)."""
    _decay(p, lr, weight_decay)
    s, t = _scratch_rows(p, scratch, 2)
    acc_g *= rho
    np.multiply(g, g, out=s)
    s *= 1.0 - rho
    acc_g += s
    np.add(acc_dx, epsilon, out=s)
    np.sqrt(s, out=s)
    s *= g
    np.add(acc_g, epsilon, out=t)
    np.sqrt(t, out=t)
    np.divide(s, t, out=s)
    np.negative(s, out=s)  # dx
    acc_dx *= rho
    np.multiply(s, s, out=t)
    t *= 1.0 - rho
    acc_dx += t
    s *= lr
    p += s
    return p


def lion_update_numpy(p, g, m, lr, beta_1, beta_2, weight_decay, scratch=None):
    """Lion step in place (Keras 3's keras/src/optimizers/lion.py); ``scratch``: (2, p.size)."""
    _decay(p, lr, weight_decay)
    s, t = _scratch_rows(p, scratch, 2)
    np.multiply(m, beta_1, out=s)
    np.multiply(g, 1.0 - beta_1, out=t)
    s += t
    np.sign(s, out=s)
    s *= lr
    p -= s
    m *= beta_2
    np.multiply(g, 1.0 - beta_2, out=t)
    m += t
    return p


def ftrl_l2_twice_host(lr, l2, beta):
    """Ftrl's 2 (l2 + beta / (2 lr)) for a host learning rate (``optimizer_rules.ftrl_l2_twice``). At lr = 0 it
    is what Keras's float arithmetic makes of it (inf, NaN for beta = 0), where Python would raise."""
    if lr == 0.0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(rules.ftrl_l2_twice(np.float64(0.0), l2, beta))
    return rules.ftrl_l2_twice(lr, l2, beta)


def _power_into(x, power, out):
    """x^power into ``out``: a square root for 0.5, as the compiled rule takes it (``optimizer_rules.ftrl_rule``)."""
    if power == 0.5:
        return np.sqrt(x, out=out)
    return np.power(x, power, out=out)


def ftrl_update_numpy(p, g, acc, linear, lr, learning_rate_power, l1, l2, l2_shrinkage, beta, weight_decay,
                      scratch=None):
    """Ftrl step in place (Keras 3's keras/src/optimizers/ftrl.py); ``scratch``: (3, p.size)."""
    _decay(p, lr, weight_decay)
    power = -learning_rate_power
    s, t, u = _scratch_rows(p, scratch, 3)
    _power_into(acc, power, t)  # acc^P
    np.multiply(g, g, out=s)
    acc += s  # the new accumulator
    _power_into(acc, power, s)  # new^P
    np.subtract(s, t, out=t)
    t /= lr
    t *= p  # (new^P - acc^P) / lr * p
    np.multiply(p, 2.0 * l2_shrinkage, out=u)
    u += g
    u -= t
    linear += u
    s /= lr
    s += ftrl_l2_twice_host(lr, l2, beta)  # the quadratic
    np.clip(linear, -l1, l1, out=t)
    t -= linear
    np.divide(t, s, out=p)
    return p


def check_segments(segments, size: int) -> None:
    """Raise ValueError naming ``segments`` unless its (start, stop) pairs tile [0, size) in order (each weight's
    segment of the flat buffer, as the parameter store lays them out)."""
    position = 0
    for start, stop in segments:
        if start != position or stop < start:
            raise ValueError(f"segments: expected (start, stop) pairs tiling [0, {size}) in order, got "
                             f"{[tuple(int(x) for x in pair) for pair in segments]}")
        position = stop
    if position != size:
        raise ValueError(f"segments: expected (start, stop) pairs tiling [0, {size}) in order, they end at "
                         f"{position}")


def lamb_update_numpy(p, g, m, v, segments, lr, beta_1, beta_2, epsilon, step, weight_decay, scratch=None):
    """Lamb step in place (Keras 3's keras/src/optimizers/lamb.py); ``segments``: each weight's (start, stop),
    tiling p (``check_segments``), whose own norms give its trust ratio; ``scratch``: (2, p.size)."""
    _decay(p, lr, weight_decay)
    s, t = _scratch_rows(p, scratch, 2)
    np.subtract(g, m, out=s)
    s *= 1.0 - beta_1
    m += s
    np.multiply(g, g, out=s)
    s -= v
    s *= 1.0 - beta_2
    v += s
    np.divide(v, 1.0 - beta_2 ** step, out=s)
    np.sqrt(s, out=s)
    s += epsilon
    np.divide(m, 1.0 - beta_1 ** step, out=t)
    np.divide(t, s, out=s)  # the direction d
    for start, stop in segments:
        w, d = p[start:stop], s[start:stop]
        ratio = rules.lamb_trust_ratio(float(np.dot(w, w)), float(np.dot(d, d)), 1.0)
        d *= ratio * lr
        w -= d
    return p


# ---------------------------------------------------------------- CUDA kernels


# Each kernel is a grid-stride loop around the element's rule in optimizer_rules.py (the formula the CPU loops
# compile too); the variant's flags are closure constants, so the untaken branches compile away.

@functools.lru_cache(maxsize=None)
def _sgd_kernel(with_momentum: bool, nesterov: bool):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.sgd_rule)

    @cuda.jit
    def kernel(p, g, v, sc, momentum):
        lr, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, vi = rule(p[i], g[i], v[i], lr, momentum, decay, with_momentum, nesterov)
            p[i] = pi
            if with_momentum:
                v[i] = vi
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _rmsprop_kernel(dtype: str, centered: bool, with_momentum: bool, eps_outside: bool):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.rmsprop_rule)

    # rho_c = 1 - rho, computed on the host in double precision like the twin's constant (in float32,
    # 1 - float32(0.999) loses four digits to cancellation).
    @cuda.jit
    def kernel(p, g, ms, mom, mg, sc, rho, rho_c, momentum, eps):
        lr, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, msi, mi, gi = rule(p[i], g[i], ms[i], mom[i], mg[i], lr, rho, rho_c, momentum, eps, decay,
                                   centered, with_momentum, eps_outside)
            p[i] = pi
            ms[i] = msi
            if with_momentum:
                mom[i] = mi
            if centered:
                mg[i] = gi
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _adagrad_kernel(eps_outside: bool):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.adagrad_rule)

    @cuda.jit
    def kernel(p, g, acc, sc, eps):
        lr, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, ai = rule(p[i], g[i], acc[i], lr, eps, decay, eps_outside)
            p[i] = pi
            acc[i] = ai
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _adam_kernel(dtype: str, amsgrad: bool):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.adam_rule)

    # beta_1c = 1 - beta_1 and beta_2c = 1 - beta_2 come from the host in double precision (see RMSprop).
    @cuda.jit
    def kernel(p, g, m, v, vhat, sc, beta_1c, beta_2c, eps):
        alpha, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, mi, vi, hi = rule(p[i], g[i], m[i], v[i], vhat[i], alpha, beta_1c, beta_2c, eps, decay, amsgrad)
            p[i] = pi
            m[i] = mi
            v[i] = vi
            if amsgrad:
                vhat[i] = hi
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _nadam_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.nadam_rule)

    # sc = [lr, decay, m_coef, g_coef, v_correction], made by the step-scalars kernel from the step count.
    @cuda.jit
    def kernel(p, g, m, v, sc, beta_1c, beta_2c, eps):
        lr, decay, m_coef, g_coef, v_correction = sc[0], sc[1], sc[2], sc[3], sc[4]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, mi, vi = rule(p[i], g[i], m[i], v[i], lr, beta_1c, beta_2c, eps, decay, m_coef, g_coef,
                              v_correction)
            p[i] = pi
            m[i] = mi
            v[i] = vi
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _adamax_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.adamax_rule)

    @cuda.jit
    def kernel(p, g, m, u, sc, beta_1c, beta_2, eps):
        step_size, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, mi, ui = rule(p[i], g[i], m[i], u[i], step_size, beta_1c, beta_2, eps, decay)
            p[i] = pi
            m[i] = mi
            u[i] = ui
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _schedule_free_adamw_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.schedule_free_adamw_rule)

    # sc = [lr (warmed up), decay, 1 - beta_2^t, 1/t, 1 - 1/t], made by the step-scalars kernel from the step count.
    @cuda.jit
    def kernel(p, g, z, v, sc, beta_1, beta_1c, beta_2c, eps):
        lr, decay, v_correction, weight, weight_c = sc[0], sc[1], sc[2], sc[3], sc[4]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, zi, vi = rule(p[i], g[i], z[i], v[i], lr, beta_1, beta_1c, beta_2c, eps, decay, v_correction,
                              weight, weight_c)
            p[i] = pi
            z[i] = zi
            v[i] = vi
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _adadelta_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.adadelta_rule)

    @cuda.jit
    def kernel(p, g, acc_g, acc_dx, sc, rho, rho_c, eps):
        lr, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, gi, di = rule(p[i], g[i], acc_g[i], acc_dx[i], lr, rho, rho_c, eps, decay)
            p[i] = pi
            acc_g[i] = gi
            acc_dx[i] = di
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _lion_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.lion_rule)

    @cuda.jit
    def kernel(p, g, m, sc, beta_1, beta_1c, beta_2, beta_2c):
        lr, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, mi = rule(p[i], g[i], m[i], lr, beta_1, beta_1c, beta_2, beta_2c, decay)
            p[i] = pi
            m[i] = mi
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _ftrl_kernel(dtype: str, half_power: bool):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.ftrl_rule)

    # sc = [lr, decay, 2 (l2 + beta / (2 lr))], made by the step-scalars kernel from the learning rate.
    @cuda.jit
    def kernel(p, g, acc, linear, sc, power, l1, shrinkage_twice):
        lr, decay, l2_twice = sc[0], sc[1], sc[2]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, ai, li = rule(p[i], g[i], acc[i], linear[i], lr, power, l1, l2_twice, shrinkage_twice, decay,
                              half_power)
            p[i] = pi
            acc[i] = ai
            linear[i] = li
            i += step

    return kernel


# Elements of one weight that one block of the Lamb kernels takes: each thread LAMB_CHUNK / BLOCK_THREADS of
# them (strided, so that a warp reads adjacent ones), then the block's sums of squares by a shared-memory tree.
LAMB_CHUNK = 8 * BLOCK_THREADS


@functools.lru_cache(maxsize=None)
def _lamb_kernels(dtype: str):
    """(moments, apply): the two launches of a Lamb update over ``chunks`` (``lamb_chunks``: per block its
    elements [lo, hi), within one weight, and that weight's blocks [first, end)). ``partials`` (blocks, 2):
    each block's sums of squares of the decayed parameters and of the direction."""
    _launch.bind_numba_cuda(globals())
    row_sum, _ = row_reducers()
    moments_rule = cuda.jit(device=True)(rules.lamb_moments_rule)
    direction = cuda.jit(device=True)(rules.lamb_direction)
    trust_ratio = cuda.jit(device=True)(rules.lamb_trust_ratio)
    T = np.dtype(dtype).type
    zero, one = T(0), T(1)
    shared_type = _launch.numba_dtype(dtype)

    # sc = [lr, decay, 1 - beta_1^t, 1 - beta_2^t], made by the step-scalars kernel from the step count.
    @cuda.jit
    def moments(p, g, m, v, chunks, partials, sc, beta_1c, beta_2c, eps):
        buf = cuda.shared.array(BLOCK_THREADS, dtype=shared_type)
        decay, m_correction, v_correction = sc[1], sc[2], sc[3]
        block = cuda.blockIdx.x
        tx = cuda.threadIdx.x
        w_squares = zero
        d_squares = zero
        i = chunks[block, 0] + tx
        stop = chunks[block, 1]
        while i < stop:
            pi, mi, vi = moments_rule(p[i], g[i], m[i], v[i], beta_1c, beta_2c, decay)
            p[i] = pi
            m[i] = mi
            v[i] = vi
            d = direction(mi, vi, m_correction, v_correction, eps)
            w_squares += pi * pi
            d_squares += d * d
            i += BLOCK_THREADS
        w_total = row_sum(buf, 0, tx, BLOCK_THREADS, w_squares)
        d_total = row_sum(buf, 0, tx, BLOCK_THREADS, d_squares)
        if tx == 0:
            partials[block, 0] = w_total
            partials[block, 1] = d_total

    @cuda.jit
    def apply(p, m, v, chunks, partials, sc, eps):
        buf = cuda.shared.array(BLOCK_THREADS, dtype=shared_type)
        lr, m_correction, v_correction = sc[0], sc[2], sc[3]
        block = cuda.blockIdx.x
        tx = cuda.threadIdx.x
        # The weight's sums, from its blocks' partials in a fixed order: each of its blocks gets the same ratio.
        w_squares = zero
        d_squares = zero
        k = chunks[block, 2] + tx
        end = chunks[block, 3]
        while k < end:
            w_squares += partials[k, 0]
            d_squares += partials[k, 1]
            k += BLOCK_THREADS
        w_total = row_sum(buf, 0, tx, BLOCK_THREADS, w_squares)
        d_total = row_sum(buf, 0, tx, BLOCK_THREADS, d_squares)
        lr_ratio = trust_ratio(w_total, d_total, one) * lr
        i = chunks[block, 0] + tx
        stop = chunks[block, 1]
        while i < stop:
            p[i] = p[i] - lr_ratio * direction(m[i], v[i], m_correction, v_correction, eps)
            i += BLOCK_THREADS

    return moments, apply


# The step scalars each kind of update reads (sc, in the parameters' dtype): [step size, decay] for all,
# then Nadam's m_coef, g_coef, v_correction; Ftrl's 2 (l2 + beta / (2 lr)); Lamb's 1 - beta_1^t, 1 - beta_2^t;
# ScheduleFreeAdamW's 1 - beta_2^t, 1/t, 1 - 1/t (its step size the warmed-up rate).
STEP_SCALARS = {"lr": 2, "adam": 2, "adamax": 2, "nadam": 5, "ftrl": 3, "lamb": 4, "schedule_free": 5}


@functools.lru_cache(maxsize=None)
def _step_scalars_kernel(kind: str):
    """One thread: the update's step scalars from the optimizer's device state, in float64, stored in the
    parameters' dtype: sc = [step size, lr * wd, ...]. The step size is lr, or for ``kind`` 'adam'
    lr * sqrt(1 - b2^t) / (1 - b1^t), for 'adamax' lr / (1 - b1^t); 'nadam' adds m_coef, g_coef and
    v_correction (optimizer_rules.nadam_step_scalars); 'ftrl' adds 2 (l2 + beta / (2 lr))
    (optimizer_rules.ftrl_l2_twice), its two hyperparameters coming as ``beta_1`` = l2 and ``beta_2`` = beta;
    'lamb' adds 1 - b1^t and 1 - b2^t; 'schedule_free' warms the rate up and adds 1 - b2^t, 1/t and 1 - 1/t
    (optimizer_rules.schedule_free_step_scalars), its warmup steps coming as ``beta_1``."""
    if kind not in STEP_SCALARS:
        raise ValueError(f"kind: expected one of {sorted(STEP_SCALARS)}, got {kind!r}")
    _launch.bind_numba_cuda(globals())
    adam, adamax, nadam, ftrl, lamb = kind == "adam", kind == "adamax", kind == "nadam", kind == "ftrl", kind == "lamb"
    schedule_free = kind == "schedule_free"
    schedule_free_step_scalars = cuda.jit(device=True)(rules.schedule_free_step_scalars)
    adamax_step_size = cuda.jit(device=True)(rules.adamax_step_size)
    nadam_step_scalars = cuda.jit(device=True)(rules.nadam_step_scalars)
    ftrl_l2_twice = cuda.jit(device=True)(rules.ftrl_l2_twice)

    @cuda.jit
    def kernel(state, sc, beta_1, beta_2):
        if cuda.grid(1) == 0:
            step, lr, weight_decay = state[0], state[1], state[2]
            if adam:
                sc[0] = lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
            elif adamax:
                sc[0] = adamax_step_size(lr, step, beta_1)
            else:
                sc[0] = lr
            sc[1] = lr * weight_decay
            if nadam:
                m_coef, g_coef, v_correction = nadam_step_scalars(step, beta_1, beta_2)
                sc[2] = m_coef
                sc[3] = g_coef
                sc[4] = v_correction
            if ftrl:
                sc[2] = ftrl_l2_twice(lr, beta_1, beta_2)
            if lamb:
                sc[2] = 1.0 - beta_1 ** step
                sc[3] = 1.0 - beta_2 ** step
            if schedule_free:
                warmed_lr, v_correction, weight, weight_c = schedule_free_step_scalars(lr, step, beta_1, beta_2)
                sc[0] = warmed_lr
                sc[2] = v_correction
                sc[3] = weight
                sc[4] = weight_c

    return kernel


# ---------------------------------------------------------------- launchers
# The CUDA launchers take the optimizer's device state (float64 [iterations, learning_rate, weight_decay])
# where the twins take host scalars: the GPU must not read it back, so a small kernel turns it into the
# update's step size and decay factor (``sc``) on the device, and the update reads them there. A recorded
# step (a CUDA graph) thus follows learning-rate and step changes. Each launcher keeps its prepared launches
# (see _launch: plan_key, keep): a repeated step over the same buffers skips the checks, the kernel lookup,
# the grid and the views.

_SGD_PLANS = _launch.plan_cache()
_RMSPROP_PLANS = _launch.plan_cache()
_ADAGRAD_PLANS = _launch.plan_cache()
_ADAM_PLANS = _launch.plan_cache()
_NADAM_PLANS = _launch.plan_cache()
_ADAMAX_PLANS = _launch.plan_cache()
_ADADELTA_PLANS = _launch.plan_cache()
_LION_PLANS = _launch.plan_cache()
_FTRL_PLANS = _launch.plan_cache()
_LAMB_PLANS = _launch.plan_cache()
_SCHEDULE_FREE_PLANS = _launch.plan_cache()


def _check_flat(p, **state):
    """p: 1-D float; every given state array: p's shape and dtype."""
    _launch.check_array("p", p, ndim=1, floating=True, contiguous=True)
    for name, arr in state.items():
        _launch.check_array(name, arr, shape=p.shape, dtype=p.dtype, contiguous=True)


def _check_state(state):
    _launch.check_array("state", state, shape=(3,), dtype=np.float64, contiguous=True)


def _step_scalars_buffer(state, kind: str, dtype):
    """The step scalars (``sc``) of ``kind`` for this optimizer state buffer (``_launch.state_scalars``)."""
    return _launch.state_scalars(state, kind, STEP_SCALARS[kind], dtype)


def _flat_plan(kernel, p, state, stream, *views, scalars="lr"):
    """(run(*scalars), scalar type): the step-scalars kernel of kind ``scalars`` (see STEP_SCALARS), then
    ``kernel`` over p's elements, arrays bound."""
    _check_state(state)
    sc = _step_scalars_buffer(state, scalars, p.dtype)
    scv = _launch.device_view(sc)
    prepare = _launch.bind(_launch.configured(_step_scalars_kernel(scalars), 1, 1, stream),
                           _launch.device_view(state), scv)
    blocks, threads = _launch.grid_1d(p.shape[0])
    update = _launch.bind(_launch.configured(kernel, blocks, threads, stream), *views, scv)
    return (prepare, update, sc), np.dtype(p.dtype).type


def sgd_update_cuda(p, g, velocity, state, momentum, nesterov, scratch=None):
    """SGD step in place (``sgd_update_numpy``) with lr and weight decay read from the device ``state``."""
    with_momentum = bool(momentum)
    nesterov = bool(nesterov) and with_momentum
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, with_momentum, nesterov), p, g, velocity if with_momentum else None, state)
    plan = _SGD_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_SGD_PLANS, key, _sgd_plan(p, g, velocity, state, with_momentum, nesterov, stream))
    (prepare, update, _), T = plan
    prepare(0.0, 0.0)
    update(T(momentum))
    return p


def _sgd_plan(p, g, velocity, state, with_momentum, nesterov, stream):
    _check_flat(p, g=g, **({"velocity": velocity} if with_momentum else {}))
    pv = _launch.device_view(p)
    vv = _launch.device_view(velocity) if with_momentum else pv  # placeholder, never read
    return _flat_plan(_sgd_kernel(with_momentum, nesterov), p, state, stream, pv, _launch.device_view(g), vv)


def rmsprop_update_cuda(p, g, ms, mom, mg, state, rho, momentum, epsilon, centered, epsilon_outside=False,
                        scratch=None):
    """RMSprop step in place (``rmsprop_update_numpy``) with lr and weight decay read from ``state``."""
    with_momentum = momentum > 0
    centered, epsilon_outside = bool(centered), bool(epsilon_outside)
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, with_momentum, centered, epsilon_outside), p, g, ms,
                           mom if with_momentum else None, mg if centered else None, state)
    plan = _RMSPROP_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_RMSPROP_PLANS, key, _rmsprop_plan(p, g, ms, mom, mg, state, with_momentum, centered,
                                                               epsilon_outside, stream))
    (prepare, update, _), T = plan
    prepare(0.0, 0.0)
    update(T(rho), T(1.0 - rho), T(momentum), T(epsilon))
    return p


def _rmsprop_plan(p, g, ms, mom, mg, state, with_momentum, centered, epsilon_outside, stream):
    arrays = {"g": g, "ms": ms}
    if with_momentum:
        arrays["mom"] = mom
    if centered:
        arrays["mg"] = mg
    _check_flat(p, **arrays)
    pv = _launch.device_view(p)
    momv = _launch.device_view(mom) if with_momentum else pv  # placeholders, never read
    mgv = _launch.device_view(mg) if centered else pv
    kernel = _rmsprop_kernel(_launch.dtype_name(p.dtype), centered, with_momentum, epsilon_outside)
    return _flat_plan(kernel, p, state, stream, pv, _launch.device_view(g), _launch.device_view(ms), momv, mgv)


def adagrad_update_cuda(p, g, acc, state, epsilon, epsilon_outside=False, scratch=None):
    """Adagrad step in place (``adagrad_update_numpy``) with lr and weight decay read from ``state``."""
    stream = _launch.current_stream()
    epsilon_outside = bool(epsilon_outside)
    key = _launch.plan_key((stream, epsilon_outside), p, g, acc, state)
    plan = _ADAGRAD_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_ADAGRAD_PLANS, key, _adagrad_plan(p, g, acc, state, epsilon_outside, stream))
    (prepare, update, _), T = plan
    prepare(0.0, 0.0)
    update(T(epsilon))
    return p


def _adagrad_plan(p, g, acc, state, epsilon_outside, stream):
    _check_flat(p, g=g, acc=acc)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(acc))
    return _flat_plan(_adagrad_kernel(epsilon_outside), p, state, stream, *views)


def adam_update_cuda(p, g, m, v, vhat, state, beta_1, beta_2, epsilon, scratch=None):
    """Adam / AdamW step in place (``adam_update_numpy``) with lr, the 1-based step and weight decay read from
    the device ``state``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, g, m, v, vhat, state)
    plan = _ADAM_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_ADAM_PLANS, key, _adam_plan(p, g, m, v, vhat, state, stream))
    (prepare, update, _), T = plan
    prepare(float(beta_1), float(beta_2))
    update(T(1.0 - beta_1), T(1.0 - beta_2), T(epsilon))
    return p


def _adam_plan(p, g, m, v, vhat, state, stream):
    arrays = {"g": g, "m": m, "v": v}
    if vhat is not None:
        arrays["vhat"] = vhat
    _check_flat(p, **arrays)
    vv = _launch.device_view(v)
    vhv = vv if vhat is None else _launch.device_view(vhat)  # placeholder without amsgrad
    kernel = _adam_kernel(_launch.dtype_name(p.dtype), vhat is not None)
    return _flat_plan(kernel, p, state, stream, _launch.device_view(p), _launch.device_view(g),
                      _launch.device_view(m), vv, vhv, scalars="adam")


def nadam_update_cuda(p, g, m, v, state, beta_1, beta_2, epsilon, scratch=None):
    """Nadam step in place (``nadam_update_numpy``) with lr, the 1-based step and weight decay read from the
    device ``state``; the momentum-cache product is a function of the step (optimizer_rules)."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, g, m, v, state)
    plan = _NADAM_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_NADAM_PLANS, key, _nadam_plan(p, g, m, v, state, stream))
    (prepare, update, _), T = plan
    prepare(float(beta_1), float(beta_2))
    update(T(1.0 - beta_1), T(1.0 - beta_2), T(epsilon))
    return p


def _nadam_plan(p, g, m, v, state, stream):
    _check_flat(p, g=g, m=m, v=v)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(m), _launch.device_view(v))
    return _flat_plan(_nadam_kernel(_launch.dtype_name(p.dtype)), p, state, stream, *views, scalars="nadam")


def adamax_update_cuda(p, g, m, u, state, beta_1, beta_2, epsilon, scratch=None):
    """Adamax step in place (``adamax_update_numpy``) with lr, the 1-based step and weight decay read from
    the device ``state``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, g, m, u, state)
    plan = _ADAMAX_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_ADAMAX_PLANS, key, _adamax_plan(p, g, m, u, state, stream))
    (prepare, update, _), T = plan
    prepare(float(beta_1), float(beta_2))
    update(T(1.0 - beta_1), T(beta_2), T(epsilon))
    return p


def _adamax_plan(p, g, m, u, state, stream):
    _check_flat(p, g=g, m=m, u=u)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(m), _launch.device_view(u))
    return _flat_plan(_adamax_kernel(_launch.dtype_name(p.dtype)), p, state, stream, *views, scalars="adamax")


def schedule_free_adamw_update_cuda(p, g, z, v, state, beta_1, beta_2, epsilon, warmup_steps, scratch=None):
    """ScheduleFreeAdamW step in place (``schedule_free_adamw_update_numpy``) with lr, the 1-based step and
    weight decay read from the device ``state``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, g, z, v, state)
    plan = _SCHEDULE_FREE_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_SCHEDULE_FREE_PLANS, key, _schedule_free_adamw_plan(p, g, z, v, state, stream))
    (prepare, update, _), T = plan
    prepare(float(warmup_steps), float(beta_2))
    update(T(beta_1), T(1.0 - beta_1), T(1.0 - beta_2), T(epsilon))
    return p


def _schedule_free_adamw_plan(p, g, z, v, state, stream):
    _check_flat(p, g=g, z=z, v=v)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(z), _launch.device_view(v))
    return _flat_plan(_schedule_free_adamw_kernel(_launch.dtype_name(p.dtype)), p, state, stream, *views,
                      scalars="schedule_free")


def adadelta_update_cuda(p, g, acc_g, acc_dx, state, rho, epsilon, scratch=None):
    """Adadelta step in place (``adadelta_update_numpy``) with lr and weight decay read from ``state``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, g, acc_g, acc_dx, state)
    plan = _ADADELTA_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_ADADELTA_PLANS, key, _adadelta_plan(p, g, acc_g, acc_dx, state, stream))
    (prepare, update, _), T = plan
    prepare(0.0, 0.0)
    update(T(rho), T(1.0 - rho), T(epsilon))
    return p


def _adadelta_plan(p, g, acc_g, acc_dx, state, stream):
    _check_flat(p, g=g, acc_g=acc_g, acc_dx=acc_dx)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(acc_g),
             _launch.device_view(acc_dx))
    return _flat_plan(_adadelta_kernel(_launch.dtype_name(p.dtype)), p, state, stream, *views)


def lion_update_cuda(p, g, m, state, beta_1, beta_2, scratch=None):
    """Lion step in place (``lion_update_numpy``) with lr and weight decay read from ``state``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, g, m, state)
    plan = _LION_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_LION_PLANS, key, _lion_plan(p, g, m, state, stream))
    (prepare, update, _), T = plan
    prepare(0.0, 0.0)
    update(T(beta_1), T(1.0 - beta_1), T(beta_2), T(1.0 - beta_2))
    return p


def _lion_plan(p, g, m, state, stream):
    _check_flat(p, g=g, m=m)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(m))
    return _flat_plan(_lion_kernel(_launch.dtype_name(p.dtype)), p, state, stream, *views)


def ftrl_update_cuda(p, g, acc, linear, state, learning_rate_power, l1, l2, l2_shrinkage, beta, scratch=None):
    """Ftrl step in place (``ftrl_update_numpy``) with lr and weight decay read from ``state``; the step-scalars
    kernel adds 2 (l2 + beta / (2 lr)), which follows a scheduled learning rate."""
    power = -float(learning_rate_power)
    half_power = power == 0.5
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, half_power), p, g, acc, linear, state)
    plan = _FTRL_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_FTRL_PLANS, key, _ftrl_plan(p, g, acc, linear, state, half_power, stream))
    (prepare, update, _), T = plan
    prepare(float(l2), float(beta))
    update(T(power), T(l1), T(2.0 * l2_shrinkage))
    return p


def _ftrl_plan(p, g, acc, linear, state, half_power, stream):
    _check_flat(p, g=g, acc=acc, linear=linear)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(acc), _launch.device_view(linear))
    kernel = _ftrl_kernel(_launch.dtype_name(p.dtype), half_power)
    return _flat_plan(kernel, p, state, stream, *views, scalars="ftrl")


def lamb_chunks(segments) -> np.ndarray:
    """int64 (blocks, 4), the blocks of the Lamb kernels: [lo, hi) the elements of one block (at most LAMB_CHUNK,
    all of one weight), [first, end) the blocks of that weight. A weight of no elements has no block."""
    rows = []
    for start, stop in segments:
        first = len(rows)
        count = -(-(stop - start) // LAMB_CHUNK)
        rows += [[start + k * LAMB_CHUNK, min(stop, start + (k + 1) * LAMB_CHUNK), first, first + count]
                 for k in range(count)]
    return np.array(rows, dtype=np.int64).reshape(len(rows), 4)


def _to_device(host):
    """A device copy of the host array ``host``: CuPy, else NumPy under the simulator, else Numba."""
    cp = _compat.cupy()
    if cp is not None:
        return cp.asarray(host)
    if _compat.cuda_simulator_enabled():
        return np.array(host)
    return _compat.numba_cuda().to_device(host)


# The Lamb kernels' block table and partial sums, made at an optimizer's first launch and freed with its state,
# as the step scalars (see above): a plan made while a CUDA graph is captured must allocate nothing.
_lamb_buffers: dict = {}


def _lamb_buffers_for(state, segments, dtype):
    key = (id(state), segments, np.dtype(dtype).str)
    buffers = _lamb_buffers.get(key)
    if buffers is None:
        chunks = lamb_chunks(segments)
        buffers = _lamb_buffers[key] = (_to_device(chunks), _launch.empty_device((max(1, len(chunks)), 2), dtype))
        weakref.finalize(state, _lamb_buffers.pop, key, None)
    return buffers


def lamb_update_cuda(p, g, m, v, state, beta_1, beta_2, epsilon, segments, scratch=None):
    """Lamb step in place (``lamb_update_numpy``) with lr, the 1-based step and weight decay read from the device
    ``state``; ``segments``: a tuple of (start, stop) int pairs tiling p, each weight's trust ratio taken on its
    own segment."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, segments, LAMB_CHUNK), p, g, m, v, state)
    plan = _LAMB_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_LAMB_PLANS, key, _lamb_plan(p, g, m, v, state, segments, stream))
    (prepare, moments, apply, _buffers), T = plan
    prepare(float(beta_1), float(beta_2))
    if moments is not None:  # no block without an element
        moments(T(1.0 - beta_1), T(1.0 - beta_2), T(epsilon))
        apply(T(epsilon))
    return p


def _lamb_plan(p, g, m, v, state, segments, stream):
    _check_flat(p, g=g, m=m, v=v)
    _check_state(state)
    check_segments(segments, p.shape[0])
    T = np.dtype(p.dtype).type
    sc = _step_scalars_buffer(state, "lamb", p.dtype)
    scv = _launch.device_view(sc)
    prepare = _launch.bind(_launch.configured(_step_scalars_kernel("lamb"), 1, 1, stream),
                           _launch.device_view(state), scv)
    chunks, partials = _lamb_buffers_for(state, segments, p.dtype)
    blocks = chunks.shape[0]
    # The plan holds its own buffers: its views do not (see _launch.device_view), and a later state that CuPy's
    # pool places at this one's address finds this plan by the same key after this state's buffers were freed.
    buffers = (sc, chunks, partials)
    if blocks == 0:
        return (prepare, None, None, buffers), T
    moments_kernel, apply_kernel = _lamb_kernels(_launch.dtype_name(p.dtype))
    pv, mv, vv = _launch.device_view(p), _launch.device_view(m), _launch.device_view(v)
    cv, partv = _launch.device_view(chunks), _launch.device_view(partials)
    moments = _launch.bind(_launch.configured(moments_kernel, blocks, BLOCK_THREADS, stream),
                           pv, _launch.device_view(g), mv, vv, cv, partv, scv)
    apply = _launch.bind(_launch.configured(apply_kernel, blocks, BLOCK_THREADS, stream), pv, mv, vv, cv, partv, scv)
    return (prepare, moments, apply, buffers), T
