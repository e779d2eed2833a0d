"""The optimizer's device state at the start of an update: this step's learning rate, then the step count.

state (float64): [iterations, learning_rate, weight_decay]. Per update:
    learning_rate = schedule(iterations)       (only when the optimizer follows a schedule)
    iterations   += 1                          (the update then uses it as Keras's local_step)
Kept on the device so a recorded step (and a CUDA graph) never carries a frozen learning rate or step.

A schedule is given as (formula, constants): a function of ``lr_schedules`` and the arguments that follow the
step. With ``rate`` (a one-element float64 array), the formula's first argument after the step, its initial
rate, is read from that array at each update instead of being a constant: tf.keras 2's ``decay`` on a rate that
callbacks set, without a new formula (a new recorded step, a new compiled kernel) at each change. NumPy twin:
``advance_numpy``; CUDA: a one-thread kernel per schedule (``advance_cuda``), the formula compiled as a device
function.
"""
from __future__ import annotations

import functools

import numpy as np

from gpunn.kernels import _launch

cuda = None  # numba.cuda, bound by the kernel factory on first use


def advance_numpy(state, schedule=None, rate=None) -> None:
    """``schedule``: None or (formula, constants); ``rate``: None, or the array holding the formula's initial
    rate."""
    iterations = float(state[0])
    if schedule is not None:
        formula, constants = schedule
        if rate is not None:
            constants = (float(rate[0]),) + tuple(constants)
        state[1] = formula(iterations, *constants)
    state[0] = iterations + 1.0


@functools.lru_cache(maxsize=None)
def _advance_kernel(schedule, reads_rate=False):
    _launch.bind_numba_cuda(globals())
    if schedule is None:
        @cuda.jit
        def kernel(state):
            if cuda.grid(1) == 0:
                state[0] = state[0] + 1.0
        return kernel

    formula, constants = schedule
    rate_at = cuda.jit(device=True)(formula)
    if reads_rate:
        @cuda.jit
        def kernel_of_rate(state, rate):
            if cuda.grid(1) == 0:
                iterations = state[0]
                state[1] = rate_at(iterations, rate[0], *constants)
                state[0] = iterations + 1.0

        return kernel_of_rate

    @cuda.jit
    def kernel(state):
        if cuda.grid(1) == 0:
            iterations = state[0]
            state[1] = rate_at(iterations, *constants)
            state[0] = iterations + 1.0

    return kernel


_PLANS = _launch.plan_cache()


def advance_cuda(state, schedule=None, rate=None) -> None:
    """The CUDA twin of ``advance_numpy``: one thread, on CuPy's current stream."""
    stream = _launch.current_stream()
    reads_rate = rate is not None
    key = _launch.plan_key((stream, schedule, reads_rate), state, rate)
    launch = _PLANS.get(key)
    if launch is None:
        _launch.check_array("state", state, shape=(3,), dtype=np.float64, contiguous=True)
        if reads_rate and schedule is None:
            raise ValueError("rate: an initial rate is read only by a schedule's formula; got no schedule")
        arrays = (state,)
        if reads_rate:
            _launch.check_array("rate", rate, shape=(1,), dtype=np.float64, contiguous=True)
            arrays = (state, rate)
        kernel = _launch.configured(_advance_kernel(schedule, reads_rate), 1, 1, stream)
        launch = _launch.keep(_PLANS, key, _launch.bind(kernel, *(_launch.device_view(a) for a in arrays)))
    launch()
