"""Fused optimizer steps over one flat parameter buffer, with Keras 3's formulas.

All arrays are 1-D and of one shape: parameters p, gradient g, optimizer state. ``lr`` is the current
learning rate, ``step`` the 1-based iteration. Decoupled weight decay comes first, as in Keras
(p -= p * wd * lr, computed as p *= 1 - lr * wd; skipped when wd == 0):

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

NumPy twins: ``sgd_update_numpy``, ``rmsprop_update_numpy``, ``adagrad_update_numpy``,
``adam_update_numpy``, in place; the optional ``scratch`` (shape of p) replaces their one temporary.
CUDA kernels: one grid-stride launch per step over the whole buffer, a compile-time variant per flag
(momentum, nesterov, centered, amsgrad), arithmetic in the buffer's dtype.
Launchers with the twins' argument lists: ``sgd_update_cuda``, ``rmsprop_update_cuda``,
``adagrad_update_cuda``, ``adam_update_cuda`` (``scratch`` accepted, not needed).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels import optimizer_rules as rules

cuda = None  # numba.cuda, bound by the kernel factories on first use


def _scratch_for(p, scratch):
    return np.empty_like(p) if scratch is None else scratch


def _decay(p, lr, weight_decay):
    if weight_decay:
        p *= 1.0 - lr * weight_decay


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


def rmsprop_update_numpy(p, g, ms, mom, mg, lr, rho, momentum, epsilon, centered, weight_decay,
                         scratch=None):
    """RMSprop step in place; ``mom`` is None when momentum == 0, ``mg`` None unless centered."""
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
        s += epsilon
    else:
        np.add(ms, epsilon, out=s)
    np.sqrt(s, out=s)
    np.divide(g, s, out=s)
    s *= lr  # the increment
    if momentum > 0:
        mom *= momentum
        mom += s
        p -= mom
    else:
        p -= s
    return p


def adagrad_update_numpy(p, g, acc, lr, epsilon, weight_decay, scratch=None):
    """Adagrad step in place."""
    _decay(p, lr, weight_decay)
    s = _scratch_for(p, scratch)
    np.multiply(g, g, out=s)
    acc += s
    np.add(acc, epsilon, out=s)
    np.sqrt(s, out=s)
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
def _rmsprop_kernel(dtype: str, centered: bool, with_momentum: bool):
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
                                   centered, with_momentum)
            p[i] = pi
            ms[i] = msi
            if with_momentum:
                mom[i] = mi
            if centered:
                mg[i] = gi
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _adagrad_kernel():
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.adagrad_rule)

    @cuda.jit
    def kernel(p, g, acc, sc, eps):
        lr, decay = sc[0], sc[1]
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, ai = rule(p[i], g[i], acc[i], lr, eps, decay)
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
def _step_scalars_kernel(adam: bool):
    """One thread: the update's step size and decay factor from the optimizer's device state, in float64,
    stored in the parameters' dtype: sc = [lr (Adam: lr * sqrt(1 - b2^t) / (1 - b1^t)), 1 - lr * wd]."""
    _launch.bind_numba_cuda(globals())

    @cuda.jit
    def kernel(state, sc, beta_1, beta_2):
        if cuda.grid(1) == 0:
            step, lr, weight_decay = state[0], state[1], state[2]
            if adam:
                sc[0] = lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
            else:
                sc[0] = lr
            sc[1] = 1.0 - lr * weight_decay

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


def _check_flat(p, **state):
    """p: 1-D float; every given state array: p's shape and dtype."""
    _launch.check_array("p", p, ndim=1, floating=True, contiguous=True)
    for name, arr in state.items():
        _launch.check_array(name, arr, shape=p.shape, dtype=p.dtype, contiguous=True)


def _check_state(state):
    _launch.check_array("state", state, shape=(3,), dtype=np.float64, contiguous=True)


def _flat_plan(kernel, p, state, stream, *views, adam=False):
    """(run(*scalars), scalar type): the step-scalars kernel, then ``kernel`` over p's elements, arrays bound."""
    _check_state(state)
    sc = _launch.empty_device((2,), p.dtype)
    scv = _launch.device_view(sc)
    prepare = _launch.bind(_launch.configured(_step_scalars_kernel(adam), 1, 1, stream), _launch.device_view(state),
                           scv)
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


def rmsprop_update_cuda(p, g, ms, mom, mg, state, rho, momentum, epsilon, centered, scratch=None):
    """RMSprop step in place (``rmsprop_update_numpy``) with lr and weight decay read from ``state``."""
    with_momentum = momentum > 0
    centered = bool(centered)
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, with_momentum, centered), p, g, ms, mom if with_momentum else None,
                           mg if centered else None, state)
    plan = _RMSPROP_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_RMSPROP_PLANS, key,
                            _rmsprop_plan(p, g, ms, mom, mg, state, with_momentum, centered, stream))
    (prepare, update, _), T = plan
    prepare(0.0, 0.0)
    update(T(rho), T(1.0 - rho), T(momentum), T(epsilon))
    return p


def _rmsprop_plan(p, g, ms, mom, mg, state, with_momentum, centered, stream):
    arrays = {"g": g, "ms": ms}
    if with_momentum:
        arrays["mom"] = mom
    if centered:
        arrays["mg"] = mg
    _check_flat(p, **arrays)
    pv = _launch.device_view(p)
    momv = _launch.device_view(mom) if with_momentum else pv  # placeholders, never read
    mgv = _launch.device_view(mg) if centered else pv
    kernel = _rmsprop_kernel(_launch.dtype_name(p.dtype), centered, with_momentum)
    return _flat_plan(kernel, p, state, stream, pv, _launch.device_view(g), _launch.device_view(ms), momv, mgv)


def adagrad_update_cuda(p, g, acc, state, epsilon, scratch=None):
    """Adagrad step in place (``adagrad_update_numpy``) with lr and weight decay read from ``state``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, g, acc, state)
    plan = _ADAGRAD_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_ADAGRAD_PLANS, key, _adagrad_plan(p, g, acc, state, stream))
    (prepare, update, _), T = plan
    prepare(0.0, 0.0)
    update(T(epsilon))
    return p


def _adagrad_plan(p, g, acc, state, stream):
    _check_flat(p, g=g, acc=acc)
    views = (_launch.device_view(p), _launch.device_view(g), _launch.device_view(acc))
    return _flat_plan(_adagrad_kernel(), p, state, stream, *views)


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
                      _launch.device_view(m), vv, vhv, adam=True)
