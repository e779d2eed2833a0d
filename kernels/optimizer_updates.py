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
Nadam     u_t = beta_1 (1 - 0.5 0.96^step),  u_product = u_1 ... u_step   (optimizer_rules.nadam_step_scalars)
          m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
          m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product)
          p -= m_hat lr / (sqrt(v / (1 - beta_2^step)) + eps)
Adamax    m += (g - m)(1 - beta_1);  u = max(beta_2 u, |g|);  p -= lr m / ((1 - beta_1^step)(u + eps))
Adadelta  acc_g = rho acc_g + (1 - rho) g^2;  dx = -sqrt(acc_dx + eps) g / sqrt(acc_g + eps)
          acc_dx = rho acc_dx + (1 - rho) dx^2;  p += lr dx
Lion      p -= lr sign(beta_1 m + (1 - beta_1) g);  m = beta_2 m + (1 - beta_2) g

NumPy twins: ``sgd_update_numpy``, ``rmsprop_update_numpy``, ``adagrad_update_numpy``,
``adam_update_numpy``, ``nadam_update_numpy``, ``adamax_update_numpy``, ``adadelta_update_numpy``,
``lion_update_numpy``, in place; the optional ``scratch`` replaces their temporaries: the shape of p, or
(``SCRATCH_ROWS[step]``, p.size) for the twins that need two.
CUDA kernels: one grid-stride launch per step over the whole buffer, a compile-time variant per flag
(momentum, nesterov, centered, amsgrad), arithmetic in the buffer's dtype.
Launchers with the twins' argument lists: ``sgd_update_cuda``, ``rmsprop_update_cuda``,
``adagrad_update_cuda``, ``adam_update_cuda``, ``nadam_update_cuda``, ``adamax_update_cuda``,
``adadelta_update_cuda``, ``lion_update_cuda`` (``scratch`` accepted, not needed).
"""
from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels import optimizer_rules as rules

cuda = None  # numba.cuda, bound by the kernel factories on first use


# Temporaries each twin needs, where more than one: its ``scratch`` is then (rows, p.size).
SCRATCH_ROWS = {"nadam_update": 2, "adadelta_update": 2, "lion_update": 2}


def _scratch_for(p, scratch):
    return np.empty_like(p) if scratch is None else scratch


def _scratch_rows(p, scratch, rows):
    if scratch is None:
        scratch = np.empty((rows,) + p.shape, dtype=p.dtype)
    return scratch[0], scratch[1]


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


# The step scalars each kind of update reads (sc, in the parameters' dtype): [step size, decay] for all,
# then Nadam's m_coef, g_coef, v_correction.
STEP_SCALARS = {"lr": 2, "adam": 2, "adamax": 2, "nadam": 5}


@functools.lru_cache(maxsize=None)
def _step_scalars_kernel(kind: str):
    """One thread: the update's step scalars from the optimizer's device state, in float64, stored in the
    parameters' dtype: sc = [step size, 1 - lr * wd, ...]. The step size is lr, or for ``kind`` 'adam'
    lr * sqrt(1 - b2^t) / (1 - b1^t), for 'adamax' lr / (1 - b1^t); 'nadam' adds m_coef, g_coef and
    v_correction (optimizer_rules.nadam_step_scalars)."""
    if kind not in STEP_SCALARS:
        raise ValueError(f"kind: expected one of {sorted(STEP_SCALARS)}, got {kind!r}")
    _launch.bind_numba_cuda(globals())
    adam, adamax, nadam = kind == "adam", kind == "adamax", kind == "nadam"
    adamax_step_size = cuda.jit(device=True)(rules.adamax_step_size)
    nadam_step_scalars = cuda.jit(device=True)(rules.nadam_step_scalars)

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
            sc[1] = 1.0 - lr * weight_decay
            if nadam:
                m_coef, g_coef, v_correction = nadam_step_scalars(step, beta_1, beta_2)
                sc[2] = m_coef
                sc[3] = g_coef
                sc[4] = v_correction

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


def _check_flat(p, **state):
    """p: 1-D float; every given state array: p's shape and dtype."""
    _launch.check_array("p", p, ndim=1, floating=True, contiguous=True)
    for name, arr in state.items():
        _launch.check_array(name, arr, shape=p.shape, dtype=p.dtype, contiguous=True)


def _check_state(state):
    _launch.check_array("state", state, shape=(3,), dtype=np.float64, contiguous=True)


# The step scalars (``sc``) live outside the launch plans: a plan is made per stream, and a CUDA-graph capture
# runs on a stream of its own, where its plans are made while capturing and nothing may be allocated. So each
# optimizer state buffer has one step-scalars buffer per kind and dtype, made at its first launch (eagerly)
# and freed with the state buffer; a graph's recording holds that state buffer, so the step scalars outlive
# every graph that reads them.
_step_scalar_buffers: dict = {}


def _step_scalars_buffer(state, kind: str, dtype):
    key = (id(state), kind, np.dtype(dtype).str)
    sc = _step_scalar_buffers.get(key)
    if sc is None:
        sc = _step_scalar_buffers[key] = _launch.empty_device((STEP_SCALARS[kind],), dtype)
        weakref.finalize(state, _step_scalar_buffers.pop, key, None)
    return sc


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
