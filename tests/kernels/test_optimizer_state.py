"""optimizer_state.py and lr_schedules.py: the optimizer's device state advanced on the CPU and on the GPU
(the simulator here), with every schedule compiled as a device function, against the host formulas."""
import numpy as np
import pytest

from gpunn.kernels import optimizer_state
from gpunn.optimizers import schedules

SCHEDULES = {
    "constant": None,
    "exponential": schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5),
    "exponential-staircase": schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5, staircase=True),
    "cosine": schedules.CosineDecay(0.2, decay_steps=5, alpha=0.1),
    "cosine-warmup": schedules.CosineDecay(0.03, decay_steps=5, warmup_target=0.3, warmup_steps=3),
    "piecewise": schedules.PiecewiseConstantDecay([2, 4], [0.3, 0.2, 0.1]),
    "inverse-time": schedules.InverseTimeDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True),
    "polynomial-cycle": schedules.PolynomialDecay(0.1, decay_steps=3, end_learning_rate=0.01, power=2.0, cycle=True),
    "cosine-restarts": schedules.CosineDecayRestarts(0.2, first_decay_steps=2, t_mul=1.5, m_mul=0.5, alpha=0.1),
}


def _advance(fn, state, schedule, steps):
    formula = None if schedule is None else schedule.formula()
    rates = []
    for _ in range(steps):
        fn(state, formula)
        rates.append(float(np.asarray(state)[1]))
    return rates


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_twin_takes_the_schedule_at_the_count_before_the_update(name):
    schedule = SCHEDULES[name]
    state = np.array([0.0, 0.05, 0.01])
    rates = _advance(optimizer_state.advance_numpy, state, schedule, 8)
    expected = [0.05] * 8 if schedule is None else [schedule(k) for k in range(8)]
    assert rates == expected
    assert state[0] == 8.0 and state[2] == 0.01


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_cuda_advance_matches_the_twin(dev, name):
    schedule = SCHEDULES[name]
    host = np.array([2.0, 0.05, 0.0])
    device = dev.to_device(host.copy())
    want = _advance(optimizer_state.advance_numpy, host, schedule, 6)
    got = []
    for _ in range(6):
        optimizer_state.advance_cuda(device, None if schedule is None else schedule.formula())
        got.append(float(dev.to_host(device)[1]))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(dev.to_host(device)[[0, 2]], host[[0, 2]])


def test_a_rate_read_from_its_array_is_the_rate_at_each_update(dev):
    """tf.keras 2's decay (``formula_of_rate``): the formula's initial rate read from a one-element array at each
    update, so a new rate written there is taken by the next update; the CUDA kernel (simulator) equals the twin."""
    from gpunn.optimizers import legacy

    formula, rate = legacy.SGD(0.2, decay=0.5).schedule.formula_of_rate()
    assert rate == 0.2
    host, cell = np.array([0.0, 0.0, 0.0]), np.array([0.2])
    device, device_cell = dev.to_device(host.copy()), dev.to_device(cell.copy())
    want, got = [], []
    for step in range(5):
        if step == 3:
            cell[0] = 0.05
            device_cell = dev.to_device(cell.copy())
        optimizer_state.advance_numpy(host, formula, cell)
        optimizer_state.advance_cuda(device, formula, device_cell)
        want.append(float(host[1]))
        got.append(float(dev.to_host(device)[1]))
    assert want == [0.2, 0.2 / 1.5, 0.2 / 2.0, 0.05 / 2.5, 0.05 / 3.0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="rate"):
        optimizer_state.advance_cuda(device, None, device_cell)


def test_host_schedules_keep_their_keras_values():
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)(15) == pytest.approx(0.05)
    assert schedules.PiecewiseConstantDecay([2, 4], [0.3, 0.2, 0.1])(2) == 0.3
    assert schedules.PiecewiseConstantDecay([2, 4], [0.3, 0.2, 0.1])(3) == 0.2
    assert schedules.PiecewiseConstantDecay([2, 4], [0.3, 0.2, 0.1])(5) == 0.1
    assert schedules.CosineDecay(0.03, 5, warmup_target=0.3, warmup_steps=3)(1) == pytest.approx(0.12)
    assert schedules.CosineDecay(0.2, 4, alpha=0.0)(2) == pytest.approx(0.1)
    assert schedules.InverseTimeDecay(0.1, 2, 0.5)(2) == pytest.approx(0.1 / 1.5)


def test_cuda_advance_rejects_a_bad_state(dev):
    with pytest.raises(ValueError, match="state"):
        optimizer_state.advance_cuda(dev.to_device(np.zeros(3, np.float32)))
