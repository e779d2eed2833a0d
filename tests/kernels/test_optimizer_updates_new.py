"""The Nadam, Adamax, Adadelta, Lion, Ftrl, Lamb and ScheduleFreeAdamW CUDA launchers against their NumPy twins (the
step scalars made on the device from the optimizer's state), Lamb's block table, the step-scalars kernel against the host formulas,
and the PolynomialDecay / CosineDecayRestarts schedules compiled as device functions against the host."""
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
    # Ftrl's slots: accumulator, linear (from zero here: the square root of a zero accumulator is fine)
    "ftrl": (2, dict(learning_rate_power=-0.5, l1=0.0, l2=0.0, l2_shrinkage=0.0, beta=0.0), 0.0),
    "ftrl-power": (2, dict(learning_rate_power=-0.7, l1=0.05, l2=0.02, l2_shrinkage=0.01, beta=0.5), 0.0),
    "ftrl-fixed-decay": (2, dict(learning_rate_power=0.0, l1=0.5, l2=0.1, l2_shrinkage=0.0, beta=1.0), 0.01),
    # its slots: z (from zero here, away from the weights) and v
    "schedule_free_adamw": (2, dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0), 0.0),
    "schedule_free_adamw-warmup-decay": (2, dict(beta_1=0.7, beta_2=0.99, epsilon=1e-6, warmup_steps=2), 0.01),
}
STEP_ARGUMENTS = {"nadam": True, "adamax": True, "adadelta": False, "lion": False,
                  "ftrl": False, "schedule_free_adamw": True}  # twins taking the step


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
                "adamax": optimizer_rules.adamax_step_size(0.03, float(step), 0.85), "nadam": 0.03,
                "ftrl": 0.03, "lamb": 0.03, "schedule_free": 0.03 * min(step / 0.85, 1.0)}[kind]
        np.testing.assert_allclose(got[:2], [want, 0.03 * 0.1], rtol=1e-14)
        if kind == "nadam":
            np.testing.assert_allclose(got[2:], optimizer_rules.nadam_step_scalars(float(step), 0.85, 0.995),
                                       rtol=1e-14)
        if kind == "ftrl":  # l2 = 0.85 and beta = 0.995 in the two hyperparameters' places
            np.testing.assert_allclose(got[2], 2.0 * (0.85 + 0.995 / (2.0 * 0.03)), rtol=1e-14)
        if kind == "lamb":
            np.testing.assert_allclose(got[2:], [1.0 - 0.85 ** step, 1.0 - 0.995 ** step], rtol=1e-14)
        if kind == "schedule_free":  # warmup_steps = 0.85 in beta_1's place
            np.testing.assert_allclose(got[2:], [1.0 - 0.995 ** step, 1.0 / step, 1.0 - 1.0 / step], rtol=1e-14)


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
        (lambda: opt.ftrl_update_cuda(p, p, p, short, state, -0.5, 0.0, 0.0, 0.0, 0.0), "linear"),
        (lambda: opt.ftrl_update_cuda(p, p, f64, p, state, -0.5, 0.0, 0.0, 0.0, 0.0), "acc"),
        (lambda: opt.lamb_update_cuda(p, p, short, p, state, 0.9, 0.999, 1e-7, ((0, 5),)), "m"),
        (lambda: opt.lamb_update_cuda(p, p, p, p, state, 0.9, 0.999, 1e-7, ((0, 2), (3, 5))), "segments"),
        (lambda: opt.lamb_update_cuda(p, p, p, p, state, 0.9, 0.999, 1e-7, ((0, 4),)), "segments"),
        (lambda: opt.schedule_free_adamw_update_cuda(p, p, short, p, state, 0.9, 0.999, 1e-8, 0), "z"),
        (lambda: opt.schedule_free_adamw_update_cuda(p, p, p, f64, state, 0.9, 0.999, 1e-8, 0), "v"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", [1, 5, 37])
def test_ftrl_cuda_follows_a_changing_learning_rate_from_keras_initial_accumulator(dev, dtype, n, rng):
    """Ftrl from Keras's starting slots (accumulator 0.1, linear 0) on tiny odd shapes; the learning rate changes
    every step, so 2 (l2 + beta / (2 lr)) is remade on the device from the state each time."""
    hp = dict(learning_rate_power=-0.6, l1=0.02, l2=0.03, l2_shrinkage=0.05, beta=0.4)
    p0 = rng.standard_normal(n).astype(dtype)
    p, acc, linear = p0.copy(), np.full(n, 0.1, dtype), np.zeros(n, dtype)
    dev_p, dev_acc, dev_linear = dev.to_device(p), dev.to_device(acc), dev.to_device(linear)
    state = dev.to_device(np.array([0.0, 0.0, 0.02]))  # the optimizer's state, rewritten in place as it is
    for t, lr in enumerate([0.3, 0.1, 0.05, 0.2], start=1):
        g = rng.standard_normal(n).astype(dtype)
        opt.ftrl_update_numpy(p, g, acc, linear, lr, *hp.values(), 0.02)
        state[...] = dev.to_device(np.array([t, lr, 0.02]))
        opt.ftrl_update_cuda(dev_p, dev.to_device(g), dev_acc, dev_linear, state, *hp.values())
    for name, got, want in (("p", dev_p, p), ("accumulator", dev_acc, acc), ("linear", dev_linear, linear)):
        assert_close(dev.to_host(got), want, dtype, scale=10, err_msg=name)
    assert not np.allclose(p, p0)


# Lamb: weights (segments) of tiny odd sizes, an empty one included; with blocks of 5 elements (LAMB_CHUNK set
# small) a weight spans several blocks, whose partial sums the second kernel adds up. (Each block costs the
# simulator a thread per GPU thread: the cases are few and short.)
LAMB_SEGMENTS = {"one": ((0, 1),), "odd": ((0, 5), (5, 5), (5, 12), (12, 13)), "long": ((0, 2), (2, 17))}
LAMB_CASES = [("odd", 5), ("long", 5), ("one", opt.LAMB_CHUNK), ("odd", opt.LAMB_CHUNK)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout, chunk", LAMB_CASES)
def test_lamb_cuda_matches_twin(dev, layout, chunk, dtype, rng, monkeypatch):
    monkeypatch.setattr(opt, "LAMB_CHUNK", chunk)
    segments = LAMB_SEGMENTS[layout]
    n = segments[-1][1]
    p0 = rng.standard_normal(n).astype(dtype)
    p, m, v = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    dev_p, dev_m, dev_v = dev.to_device(p), dev.to_device(m), dev.to_device(v)
    state = dev.to_device(np.zeros(3))
    for t, (lr, wd) in enumerate([(0.1, 0.0), (0.05, 0.02)], start=1):
        g = rng.standard_normal(n).astype(dtype)
        opt.lamb_update_numpy(p, g, m, v, segments, lr, 0.85, 0.99, 1e-6, t, wd)
        state[...] = dev.to_device(np.array([t, lr, wd]))
        opt.lamb_update_cuda(dev_p, dev.to_device(g), dev_m, dev_v, state, 0.85, 0.99, 1e-6, segments)
    for name, got, want in (("p", dev_p, p), ("momentum", dev_m, m), ("velocity", dev_v, v)):
        assert_close(dev.to_host(got), want, dtype, scale=10, err_msg=name)
    assert not np.allclose(p, p0)


def test_lamb_cuda_weight_over_two_blocks_of_the_real_size(dev, rng):
    """A weight one element longer than a block at the block size the GPU runs (one step: the simulator is slow)."""
    segments = ((0, 3), (3, 4 + opt.LAMB_CHUNK))
    n = segments[-1][1]
    p, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    m, v = (0.1 * rng.standard_normal(n)).astype(np.float32), np.abs(rng.standard_normal(n)).astype(np.float32)
    dev_args = [dev.to_device(a) for a in (p, g, m, v)]
    opt.lamb_update_numpy(p, g, m, v, segments, 0.01, 0.9, 0.999, 1e-7, 4, 0.0)
    opt.lamb_update_cuda(*dev_args, dev.to_device(np.array([4.0, 0.01, 0.0])), 0.9, 0.999, 1e-7, segments)
    assert_close(dev.to_host(dev_args[0]), p, np.float32, scale=10)
    assert len(opt.lamb_chunks(segments)) == 3


def test_lamb_chunks_split_each_weight_into_blocks(monkeypatch):
    monkeypatch.setattr(opt, "LAMB_CHUNK", 4)
    np.testing.assert_array_equal(opt.lamb_chunks(((0, 9), (9, 9), (9, 13), (13, 14))), [
        [0, 4, 0, 3], [4, 8, 0, 3], [8, 9, 0, 3],  # a weight of 9: three blocks, the last short
        [9, 13, 3, 4],  # the empty weight has none; 4 elements: one full block
        [13, 14, 4, 5]])
    assert opt.lamb_chunks(((0, 0),)).shape == (0, 4)


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


@pytest.mark.gpu
def test_lamb_on_a_new_state_at_a_freed_states_address_matches_its_twin(rng):
    """Launch plans are found by their arrays' addresses. A second optimizer whose state CuPy's pool places where
    a freed one was finds the first one's plan: the plan must hold the buffers its launches read (the block table,
    the partial sums, the step scalars), or the second optimizer's step reads freed memory. Both states are made
    over one allocation here, so that the second is at the first one's address whatever the pool's order."""
    import cupy

    segments = LAMB_SEGMENTS["odd"]
    n = segments[-1][1]
    dev_p, dev_g, dev_m, dev_v = (cupy.empty(n, np.float32) for _ in range(4))
    memory = cupy.cuda.alloc(3 * 8)

    def step():
        p, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
        m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
        for host, device in ((p, dev_p), (g, dev_g), (m, dev_m), (v, dev_v)):
            device.set(host)
        state = cupy.ndarray((3,), np.float64, memory)
        state.set(np.array([1.0, 0.1, 0.01]))
        opt.lamb_update_numpy(p, g, m, v, segments, 0.1, 0.85, 0.99, 1e-6, 1, 0.01)
        opt.lamb_update_cuda(dev_p, dev_g, dev_m, dev_v, state, 0.85, 0.99, 1e-6, segments)
        assert_close(cupy.asnumpy(dev_p), p, np.float32, scale=10)

    step()
    plans = len(opt._LAMB_PLANS)
    # The first state is gone (and with it whatever only it kept alive); garbage takes the pool's free blocks.
    junk = [cupy.full(64, 1e30, np.float32) for _ in range(32)]
    step()
    assert len(opt._LAMB_PLANS) == plans  # the second state's step ran the first one's plan
    del junk
