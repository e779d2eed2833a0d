"""weight_average.py: the moving average of the weights (use_ema) in one pass: the NumPy twin against Keras's
formula, the CUDA kernels (the simulator without a GPU; tiny, odd sizes) and the base class's reference step
against the twin, over several steps with the count read from the optimizer's state; argument checks."""
import numpy as np
import pytest

from gpunn.kernels.weight_average import check_arguments, ema_update_cuda, ema_update_numpy
from gpunn.ops import NumpyOps
from gpunn.ops.base import Ops


def _keras_steps(p, average, counts, ema_momentum, frequency):
    """Keras's two steps (keras/src/optimizers/base_optimizer.py, JAX backend) in float64, each after an update
    that adds 0.25 to the weights, for each count (Keras's ``iterations + 1``)."""
    p, average = p.astype(np.float64), average.astype(np.float64)
    for count in counts:
        p = p + 0.25
        momentum = ema_momentum * (count > 1)
        average = momentum * average + (1 - momentum) * p
        if frequency:
            due = float(count % frequency == 0)
            p = average * due + p * (1 - due)
    return p, average


def _start(n, dtype):
    rng = np.random.default_rng(n)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


@pytest.mark.parametrize("frequency", [0, 1, 3])
@pytest.mark.parametrize("count_offset", [0, 1])
def test_twin_follows_keras_formula_from_the_first_step(frequency, count_offset):
    p, average = _start(9, np.float64)
    state = np.zeros(3)
    for count in range(1, 8):
        p += 0.25
        state[0] = count - count_offset  # a step between updates has not moved the device count yet
        ema_update_numpy(p, average, state, 0.9, frequency, count_offset)
    expected_p, expected_average = _keras_steps(*_start(9, np.float64), range(1, 8), 0.9, frequency)
    np.testing.assert_allclose(average, expected_average, rtol=1e-13)
    np.testing.assert_allclose(p, expected_p, rtol=1e-13)
    if frequency == 1:
        np.testing.assert_array_equal(p, average)


def _run_steps(update, p, average, frequency, count_offset, steps=5, to_host=lambda a: a, to_device=None):
    state = np.zeros(3)
    seen = []
    for step in range(1, steps + 1):
        state[0] = step - count_offset
        device_state = state if to_device is None else to_device(state)
        update(p, average, device_state, 0.8, frequency, count_offset)
        seen.append((to_host(p).copy(), to_host(average).copy()))
    return seen


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("n", [1, 37, 1000])
@pytest.mark.parametrize("frequency, count_offset", [(0, 0), (2, 0), (3, 1)])
def test_cuda_kernels_match_the_twin(dev, dtype, rtol, n, frequency, count_offset):
    p, average = _start(n, dtype)
    expected = _run_steps(ema_update_numpy, p.copy(), average.copy(), frequency, count_offset)
    got = _run_steps(ema_update_cuda, dev.to_device(p), dev.to_device(average), frequency, count_offset,
                     to_host=dev.to_host, to_device=dev.to_device)
    for (p_twin, average_twin), (p_cuda, average_cuda) in zip(expected, got):
        assert p_cuda.dtype == dtype and average_cuda.dtype == dtype
        np.testing.assert_allclose(average_cuda, average_twin, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(p_cuda, p_twin, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("frequency, count_offset", [(0, 0), (2, 1)])
def test_reference_step_matches_the_twin(dtype, frequency, count_offset):
    ops = NumpyOps()
    p, average = _start(41, dtype)
    expected = _run_steps(ema_update_numpy, p.copy(), average.copy(), frequency, count_offset)
    got = _run_steps(lambda *a: Ops.ema_update.unrecorded(ops, *a), p.copy(), average.copy(), frequency,
                     count_offset)
    for (p_twin, average_twin), (p_ref, average_ref) in zip(expected, got):
        assert p_ref.dtype == dtype and average_ref.dtype == dtype
        np.testing.assert_array_equal(average_ref, average_twin)
        np.testing.assert_array_equal(p_ref, p_twin)


@pytest.mark.parametrize("change, match", [
    ({"average": np.zeros(4, np.float64)}, "average"),
    ({"average": np.zeros(5, np.float32)}, "average"),
    ({"state": np.zeros(3, np.float32)}, "state"),
    ({"ema_momentum": 1.5}, "ema_momentum"),
    ({"frequency": -1}, "frequency"),
    ({"frequency": True}, "frequency"),
    ({"count_offset": 2}, "count_offset"),
])
def test_arguments_are_checked_by_name(change, match):
    arguments = {"p": np.zeros(4, np.float32), "average": np.zeros(4, np.float32), "state": np.zeros(3),
                 "ema_momentum": 0.9, "frequency": 0, "count_offset": 0}
    arguments.update(change)
    with pytest.raises(ValueError, match=match):
        check_arguments(**arguments)
