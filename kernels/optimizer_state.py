"""The optimizer's device state at the start of an update: this step's learning rate, then the step count.

state (float64): [iterations, learning_rate, weight_decay]. Per update:
    learning_rate = schedule(iterations)       (only when the optimizer follows a schedule)
    iterations   += 1                          (the update then uses it as Keras's local_step)
Kept on the device so a recorded step (and a CUDA graph) never carries a frozen learning rate or step.

A schedule is given as (formula, constants): a function of ``lr_schedules`` and the arguments that follow the
step. NumPy twin: ``advance_numpy``; CUDA: a one-thread kernel per schedule (``advance_cuda``), the formula
compiled as a device function.
"""
from __future__ import annotations

import functools

import numpy as np

from gpunn.kernels import _launch

cuda = None  # numba.cuda, bound by the kernel factory on first use


def advance_numpy(state, schedule=None) -> None:
    """``schedule``: None or (formula, constants)."""
    iterations = float(state[0])
    if schedule is not None:
        formula, constants = schedule
        state[1] = formula(iterations, *constants)
    state[0] = iterations + 1.0


@functools.lru_cache(maxsize=None)
def _advance_kernel(schedule):
    _launch.bind_numba_cuda(globals())
    if schedule is None:
        @cuda.jit
        def kernel(state):
            if cuda.grid(1) == 0:
                state[0] = state[0] + 1.0
        return kernel

    formula, constants = schedule
    rate = cuda.jit(device=True)(formula)

    @cuda.jit
    def kernel(state):
        if cuda.grid(1) == 0:
            iterations = state[0]
            state[1] = rate(iterations, *constants)
            state[0] = iterations + 1.0

    return kernel


_PLANS = _launch.plan_cache()


def advance_cuda(state, schedule=None) -> None:
    """The CUDA twin of ``advance_numpy``: one thread, on CuPy's current stream."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, schedule), state)
    launch = _PLANS.get(key)
    if launch is None:
        _launch.check_array("state", state, shape=(3,), dtype=np.float64, contiguous=True)
        launch = _launch.keep(_PLANS, key, _launch.bind(_launch.configured(_advance_kernel(schedule), 1, 1, stream),
                                                        _launch.device_view(state)))
    launch()
