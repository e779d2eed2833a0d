"""The Nadam, Adamax, Adadelta and Lion CUDA launchers against their NumPy twins (the step scalars made on the
device from the optimizer's state), the step-scalars kernel against the host formulas, and the
PolynomialDecay / CosineDecayRestarts schedules compiled as device functions against the host."""
import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.kernels import optimizer_rules, optimizer_state
from gpunn.kernels import optimizer_updates as opt
from gpunn.optimizers import schedules

N = 37

# kind -> (state slots, host hyperparameters for the launcher, the twin's extra scalars after lr)
VARIANTS = {
    "nadam": (2, dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7), 0.0),
    "nadam-decay": (2, dict(beta_1=0.8, beta_2=0.99, epsilon=1e-7), 0.004),
    "adamax": (2, dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7), 0.0),
    "adamax-decay": (2, dict(beta_1=0.8, beta_2=0.9, epsilon=1e-7), 0.01),
    "adadelta": (2, dict(rho=0.95, epsilon=1e-7), 0.0),
    "adadelta-decay": (2, dict(rho=0.8, epsilon=1e-6), 0.02),
    "lion": (1, dict(beta_1=0.9, beta_2=0.99), 0.0),
    "lion-decay": (1, dict(beta_1=0.5, beta_2=0.9), 0.1),
}
STEP_ARGUMENTS = {"nadam": True, "adamax": True, "adadelta": False, "lion": False}  # twins taking the step


def _twin_step(kind, p, g, state_arrays, hp, lr, t, wd):
    twin = getattr(opt, f"{kind}_update_numpy")
    scalars = tuple(hp.values())
    if STEP_ARGUMENTS[kind]:
        twin(p, g, *state_arrays, lr, *scalars, t, wd)
    else:
        twin(p, g, *state_arrays, lr, *scalars, wd)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cuda_matches_twin(dev, variant, dtype, rng):
    kind = variant.split("-")[0]
    slots, hp, wd = VARIANTS[variant]
    p0 = rng.standard_normal(N).astype(dtype)
    grads = [rng.standard_normal(N).astype(dtype) for _ in range(3)]
    host_p, host_state = p0.copy(), [np.zeros(N, dtype) for _ in range(slots)]
    dev_p, dev_state = dev.to_device(p0), [dev.to_device(np.zeros(N, dtype)) for _ in range(slots)]
    launcher = getattr(opt, f"{kind}_update_cuda")
    for t, (g, lr) in enumerate(zip(grads, [0.1, 0.05, 0.02]), start=1):  # state carries over
        _twin_step(kind, host_p, g, host_state, hp, lr, t, wd)
        state = dev.to_device(np.array([t, lr, wd], dtype=np.float64))
        launcher(dev_p, dev.to_device(g), *dev_state, state, *hp.values())
    assert_close(dev.to_host(dev_p), host_p, dtype, scale=10)
    for got, want in zip(dev_state, host_state):
        assert_close(dev.to_host(got), want, dtype, scale=10)


@pytest.mark.parametrize("step", [1, 2, 17, optimizer_rules.NADAM_CACHE_LAST, optimizer_rules.NADAM_CACHE_LAST + 1,
                                  5000])
def test_step_scalars_kernel_matches_the_host(dev, step):
    state = dev.to_device(np.array([step, 0.03, 0.1]))
    for kind, size in opt.STEP_SCALARS.items():
        sc = dev.to_device(np.zeros(size))
        opt._step_scalars_kernel(kind)[1, 1](state, sc, 0.85, 0.995)
        got = dev.to_host(sc)
        want = {"lr": 0.03, "adam": opt.adam_alpha(0.03, 0.85, 0.995, step),
                "adamax": optimizer_rules.adamax_step_size(0.03, float(step), 0.85), "nadam": 0.03}[kind]
        np.testing.assert_allclose(got[:2], [want, 1.0 - 0.03 * 0.1], rtol=1e-14)
        if kind == "nadam":
            np.testing.assert_allclose(got[2:], optimizer_rules.nadam_step_scalars(float(step), 0.85, 0.995),
                                       rtol=1e-14)


def test_step_scalars_kernel_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind: expected one of"):
        opt._step_scalars_kernel("adamw")


def test_cuda_launchers_reject_bad_arguments(dev):
    p = dev.to_device(np.zeros(5, np.float32))
    short = dev.to_device(np.zeros(4, np.float32))
    f64 = dev.to_device(np.zeros(5))
    state = dev.to_device(np.array([1.0, 0.1, 0.0]))
    cases = [
        (lambda: opt.nadam_update_cuda(p, p, p, short, state, 0.9, 0.999, 1e-7), "v"),
        (lambda: opt.adamax_update_cuda(p, p, f64, p, state, 0.9, 0.999, 1e-7), "m"),
        (lambda: opt.adadelta_update_cuda(p, p, p, short, state, 0.95, 1e-7), "acc_dx"),
        (lambda: opt.lion_update_cuda(p, short, p, state, 0.9, 0.99), "g"),
        (lambda: opt.lion_update_cuda(p, p, p, dev.to_device(np.zeros(3, np.float32)), 0.9, 0.99), "state"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()


SCHEDULES = {
    "polynomial": schedules.PolynomialDecay(0.1, decay_steps=4, end_learning_rate=0.01, power=0.5),
    "polynomial-cycle": schedules.PolynomialDecay(0.1, decay_steps=3, end_learning_rate=0.001, power=2.0,
                                                  cycle=True),
    "restarts": schedules.CosineDecayRestarts(0.2, first_decay_steps=3, t_mul=2.0, m_mul=0.5, alpha=0.1),
    "restarts-t_mul=1": schedules.CosineDecayRestarts(0.2, first_decay_steps=3, t_mul=1.0, m_mul=0.9),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_cuda_schedule_matches_the_host_formula(dev, name):
    schedule = SCHEDULES[name]
    device = dev.to_device(np.array([0.0, 0.05, 0.0]))
    got = []
    for _ in range(12):
        optimizer_state.advance_cuda(device, schedule.formula())
        got.append(float(dev.to_host(device)[1]))
    np.testing.assert_allclose(got, [schedule(k) for k in range(12)], rtol=1e-12)
    assert dev.to_host(device)[0] == 12.0
