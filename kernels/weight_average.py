"""The moving average of the weights (an optimizer's ``use_ema``) in one pass over the flat buffer.

Keras's step (keras/src/optimizers/base_optimizer.py ``_update_model_variables_moving_average`` and
``_overwrite_model_variables_with_average_value``, as its JAX backend runs them), after each update:

    count = the updates done, this step's included (Keras's ``iterations + 1``)
    momentum = ema_momentum if count > 1, else 0                (the first step copies the weights)
    average = momentum * average + (1 - momentum) * weights
    weights = average   when ema_overwrite_frequency divides count

``count`` is the optimizer's device state[0] plus ``count_offset`` (1 for a step between the updates of gradient
accumulation, whose count has not moved), read where the kernels run: a recorded step or a CUDA graph follows it.

NumPy twin: ``ema_update_numpy``. CUDA: a one-thread kernel turns the state into the step's (momentum,
1 - momentum, overwrite) in the buffer's dtype, then a grid-stride kernel updates the buffer
(``optimizer_rules.ema_rule``, also compiled for the CPU in ``optimizer_updates_cpu.py``); launcher
``ema_update_cuda``, with the twin's arguments.
"""
from __future__ import annotations

import functools

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels import optimizer_rules as rules

cuda = None  # numba.cuda, bound by the kernel factories on first use


def check_arguments(p, average, state, ema_momentum, frequency, count_offset) -> None:
    """Raise ValueError naming the argument unless they agree (shapes, dtypes, layout, ranges)."""
    _launch.check_array("p", p, ndim=1, floating=True, contiguous=True)
    _launch.check_array("average", average, shape=p.shape, dtype=p.dtype, contiguous=True)
    _launch.check_array("state", state, shape=(3,), dtype=np.float64, contiguous=True)
    if not 0.0 <= ema_momentum <= 1.0:
        raise ValueError(f"ema_momentum: expected a number in [0, 1], got {ema_momentum!r}")
    if isinstance(frequency, bool) or not isinstance(frequency, (int, np.integer)) or frequency < 0:
        raise ValueError(f"frequency: expected an integer >= 0 (0: never overwrite), got {frequency!r}")
    if count_offset not in (0, 1):
        raise ValueError(f"count_offset: expected 0 or 1, got {count_offset!r}")


# ---------------------------------------------------------------- NumPy twin


def ema_update_numpy(p, average, state, ema_momentum, frequency, count_offset, scratch=None):
    """The moving average's step in place, in p's dtype (``scratch``: a temporary of p's shape, optional)."""
    t = p.dtype.type
    momentum, due = rules.ema_step_scalars(float(state[0]) + count_offset, ema_momentum, frequency)
    momentum = t(momentum)
    rest = t(1.0) - momentum
    scratch = np.empty_like(p) if scratch is None else scratch
    np.multiply(average, momentum, out=average)
    np.multiply(p, rest, out=scratch)
    np.add(average, scratch, out=average)
    if due:
        p[...] = average
    return p


# ---------------------------------------------------------------- CUDA

SCALARS = 3  # momentum, 1 - momentum, overwrite (1 or 0), in the buffer's dtype


@functools.lru_cache(maxsize=None)
def _scalars_kernel():
    """One thread, in float64 (the state's precision): the step's scalars into ``sc``."""
    _launch.bind_numba_cuda(globals())
    step_scalars = cuda.jit(device=True)(rules.ema_step_scalars)

    @cuda.jit
    def kernel(state, sc, ema_momentum, frequency, count_offset):
        if cuda.grid(1) == 0:
            momentum, due = step_scalars(state[0] + count_offset, ema_momentum, frequency)
            sc[0] = momentum
            sc[1] = 1.0 - sc[0]  # exact in float64, then rounded once: the dtype's own 1 - momentum
            sc[2] = 1.0 if due else 0.0

    return kernel


@functools.lru_cache(maxsize=None)
def _average_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    rule = cuda.jit(device=True)(rules.ema_rule)
    zero = np.dtype(dtype).type(0.0)  # a constant of the buffer's dtype: the flag's test stays in it

    @cuda.jit
    def kernel(p, average, sc):
        momentum, rest, overwrite = sc[0], sc[1], sc[2] != zero
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < p.shape[0]:
            pi, ai = rule(p[i], average[i], momentum, rest, overwrite)
            average[i] = ai
            if overwrite:
                p[i] = pi
            i += step

    return kernel


_PLANS = _launch.plan_cache()


def ema_update_cuda(p, average, state, ema_momentum, frequency, count_offset, scratch=None):
    """CUDA twin of ``ema_update_numpy`` (the count read on the device; ``scratch`` accepted, not needed)."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), p, average, state)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_PLANS, key, _plan(p, average, state, ema_momentum, frequency, count_offset, stream))
    prepare, update = plan
    prepare(np.float64(ema_momentum), np.float64(frequency), np.float64(count_offset))
    update()
    return p


def _plan(p, average, state, ema_momentum, frequency, count_offset, stream):
    check_arguments(p, average, state, ema_momentum, frequency, count_offset)
    sc = _launch.device_view(_launch.state_scalars(state, "ema", SCALARS, p.dtype))
    prepare = _launch.bind(_launch.configured(_scalars_kernel(), 1, 1, stream), _launch.device_view(state), sc)
    blocks, threads = _launch.grid_1d(p.shape[0])
    kernel = _average_kernel(_launch.dtype_name(p.dtype))
    update = _launch.bind(_launch.configured(kernel, blocks, threads, stream), _launch.device_view(p),
                          _launch.device_view(average), sc)
    return prepare, update

