"""The compiled CPU optimizer updates (one Numba pass) against their NumPy twins, and the backend's choice."""
import subprocess
import sys

import numpy as np
import pytest

from gpunn.kernels import cpu_updates
from gpunn.kernels import optimizer_updates as twins
from gpunn.kernels import weight_average
from gpunn.ops import NumpyOps

compiled = cpu_updates()
pytestmark = pytest.mark.skipif(compiled is None, reason="Numba is not installed: the NumPy twins run")


def _cases(n, dt, rng):
    p, g, s = (rng.standard_normal(n).astype(dt) for _ in range(3))
    z = np.zeros(n, dt)
    return {
        "sgd": ("sgd_update", (p, g, None, 0.01, 0.0, False, 0.0)),
        "sgd_momentum_decay": ("sgd_update", (p, g, s * 0.1, 0.01, 0.9, False, 0.01)),
        "sgd_nesterov": ("sgd_update", (p, g, s * 0.1, 0.01, 0.9, True, 0.0)),
        "rmsprop": ("rmsprop_update", (p, g, np.abs(s), None, None, 1e-3, 0.9, 0.0, 1e-7, False, 0.0)),
        "rmsprop_centered_momentum": ("rmsprop_update", (p, g, np.abs(s) + 1, s * 0.1, s * 0.01, 1e-3, 0.9, 0.5,
                                                         1e-7, True, 0.004)),
        "rmsprop_epsilon_outside": ("rmsprop_update", (p, g, np.abs(s), None, s * 0.01, 1e-3, 0.9, 0.0, 1e-2, True,
                                                       0.0, True)),
        "adagrad": ("adagrad_update", (p, g, np.abs(s) + 0.1, 1e-3, 1e-7, 0.0)),
        "adagrad_epsilon_outside": ("adagrad_update", (p, g, np.abs(s), 1e-3, 1e-2, 0.0, True)),
        "adam": ("adam_update", (p, g, z.copy(), z.copy(), None, 1e-3, 0.9, 0.999, 1e-7, 3, 0.0)),
        "adamw_amsgrad": ("adam_update", (p, g, z.copy(), z.copy(), z.copy(), 1e-3, 0.9, 0.999, 1e-7, 3, 0.004)),
        "ftrl": ("ftrl_update", (p, g, np.abs(s) + 0.1, z.copy(), 1e-3, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0)),
        "ftrl_regularized_decay": ("ftrl_update", (p, g, np.abs(s), s * 0.1, 0.05, -0.6, 0.01, 0.02, 0.03, 0.5,
                                                   0.004)),
        "lamb_decay": ("lamb_update", (p, g, s * 0.1, np.abs(s) * 0.01, _weights(n), 1e-3, 0.9, 0.999, 1e-7, 3, 0.004)),
        "ema_first_step": ("ema_update", (p, s, np.array([1.0, 0.0, 0.0]), 0.99, 0, 0)),
        "ema_overwrite_between_updates": ("ema_update", (p, s, np.array([5.0, 0.0, 0.0]), 0.9, 3, 1)),
    }


def _weights(n):
    """Lamb's weights over n elements (int64 (weights, 2) of (start, stop), tiling n): a kernel, a bias, and a
    weight over the rest."""
    return np.array([[0, n // 2], [n // 2, n // 2 + n // 7], [n // 2 + n // 7, n]], dtype=np.int64)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("n", [1, 37, 300_001])
@pytest.mark.parametrize("case", list(_cases(1, np.float32, np.random.default_rng(0))))
def test_compiled_update_matches_its_twin(case, n, dtype, rtol):
    step, args = _cases(n, dtype, np.random.default_rng(n))[case]
    expected = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    got = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    for _ in range(3):  # several steps: the state arrays carry over
        getattr(weight_average if step == "ema_update" else twins, step + "_numpy")(*expected)
        getattr(compiled, step)(*got)
    for e, g in zip(expected, got):
        if isinstance(e, np.ndarray):
            assert g.dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * np.abs(e).max())


def test_numpy_backend_uses_the_compiled_updates():
    ops = NumpyOps()
    assert ops._compiled_updates() is compiled
    p, g = np.ones(10, np.float32), np.full(10, 0.5, np.float32)
    state = np.array([0.0, 0.1, 0.0])  # the optimizer's device state: step, learning rate, weight decay
    ops.sgd_update(p, g, None, state, 0.0, False)
    np.testing.assert_allclose(p, 0.95)


def test_gpunn_cpu_jit_0_turns_them_off():
    code = ("import numpy as np; from gpunn.ops import NumpyOps; o = NumpyOps(); "
            "print(o._compiled_updates() is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "GPUNN_CPU_JIT": "0"}, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("step", ["sgd_update", "rmsprop_update", "adagrad_update", "adam_update", "ftrl_update",
                                  "lamb_update", "ema_update"])
def test_warm_up_compiles_the_loop_for_the_dtype(step, dtype):
    from gpunn.kernels import optimizer_updates_cpu  # imports Numba: only where the module is usable

    compiled.warm_up(step, dtype)
    loop = getattr(optimizer_updates_cpu, step.removesuffix("_update"))
    assert any(str(sig[0].dtype) == np.dtype(dtype).name for sig in loop.signatures)


def test_optimizer_build_readies_the_update(monkeypatch):
    import gpunn

    seen = []
    ops = NumpyOps()
    monkeypatch.setattr(ops, "prepare_update", lambda step, dtype: seen.append((step, np.dtype(dtype).name)))
    gpunn.optimizers.Adam().build(ops, np.zeros(4, np.float32), [(0, 4)])
    gpunn.optimizers.SGD().build(ops, np.zeros(4, np.float64), [(0, 4)])
    assert seen == [("adam_update", "float32"), ("sgd_update", "float64")]


# ---- state values too small to move a parameter are read as zero --------------------------------------------
def _decaying_cases(n, dt, state):
    """Each update with its decaying state arrays (moments, accumulators, velocities) all set to ``state``."""
    # Parameters of magnitude 0.5-1.5 (a parameter of exactly zero would take the tiny step the state makes)
    p, g = (np.linspace(0.5, 1.5, n) * np.where(np.arange(n) % 2, -1, 1)).astype(dt), np.zeros(n, dt)

    def s():
        return np.full(n, state, dt)

    return {
        "sgd_momentum": ("sgd_update", (p, g, s(), 0.01, 0.9, False, 0.0), [2]),
        "rmsprop_centered_momentum": ("rmsprop_update", (p, g, s(), s(), s(), 1e-3, 0.9, 0.5, 1e-7, True, 0.0),
                                      [2, 3, 4]),
        "adam": ("adam_update", (p, g, s(), s(), None, 1e-3, 0.9, 0.999, 1e-7, 3, 0.0), [2, 3]),
        "adam_amsgrad": ("adam_update", (p, g, s(), s(), s(), 1e-3, 0.9, 0.999, 1e-7, 3, 0.0), [2, 3, 4]),
        "nadam": ("nadam_update", (p, g, s(), s(), 1e-3, 0.9, 0.999, 1e-7, 3, 0.0), [2, 3]),
        "adamax": ("adamax_update", (p, g, s(), s(), 1e-3, 0.9, 0.999, 1e-7, 3, 0.0), [2, 3]),
        "adadelta": ("adadelta_update", (p, g, s(), s(), 1.0, 0.95, 1e-7, 0.0), [2, 3]),
        # Lamb normalises its direction; a weight's negligible moments still make a direction whose square
        # underflows in the dtype, so the parameters come out the same
        "lamb": ("lamb_update", (p, g, s(), s(), _weights(n), 1e-3, 0.9, 0.999, 1e-7, 3, 0.0), [2, 3]),
    }


NEGLIGIBLE = {np.float32: np.finfo(np.float32).tiny / np.finfo(np.float32).eps,   # 1.4e-31
              np.float64: np.finfo(np.float64).tiny / np.finfo(np.float64).eps}   # 1.0e-292


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(_decaying_cases(1, np.float32, 0.0)))
def test_negligible_state_is_read_as_zero_and_moves_no_parameter(case, dtype):
    """A decaying moment would reach subnormal values, each operation on which costs x86 a microcode assist
    (the update ran 6-20x slower): the compiled loops read state below tiny/eps as zero. Where the twin
    keeps computing with it, the parameters come out the same (for any parameter above about 1e-20)."""
    for state, flushed in ((NEGLIGIBLE[dtype] / 4, True), (1e-39 if dtype == np.float32 else 1e-310, True),
                           (NEGLIGIBLE[dtype] * 4, False)):
        step, args, state_at = _decaying_cases(33, dtype, state)[case]
        got = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
        expected = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
        getattr(compiled, step)(*got)
        getattr(twins, step + "_numpy")(*expected)
        np.testing.assert_array_equal(got[0], expected[0])  # the parameters: not a bit apart
        for k in state_at:
            if flushed:
                assert not np.any(got[k]), (case, state, k)
            else:
                np.testing.assert_allclose(got[k], expected[k], rtol=1e-6, err_msg=f"{case} {state} {k}")


@pytest.mark.parametrize("case", ["adam", "sgd_momentum", "adadelta"])
def test_a_nan_state_stays_nan(case):
    step, args, state_at = _decaying_cases(5, np.float32, np.nan)[case]
    getattr(compiled, step)(*args)
    for k in state_at:
        assert np.isnan(args[k]).all()


def test_ftrl_divides_by_a_zero_learning_rate_as_keras_does():
    """The loop is compiled with NumPy's error model: lr = 0 gives Keras's inf and NaN, not ZeroDivisionError."""
    args = (np.ones(3, np.float32), np.array([1.0, 0.0, -2.0], np.float32), np.full(3, 0.1, np.float32),
            np.zeros(3, np.float32))
    expected = tuple(a.copy() for a in args)
    compiled.ftrl_update(*args, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        twins.ftrl_update_numpy(*expected, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert np.isnan(args[0]).all()
    for got, want in zip(args, expected):
        np.testing.assert_array_equal(got, want)


def test_without_numba_lamb_runs_its_twin_whole(monkeypatch):
    """The twins' fallback cuts large buffers into one slice per thread (NumpyOps._flat_update): Lamb's twin must
    run whole, its weights' norms taken over each whole segment, and equal the compiled loop."""
    n = NumpyOps.PARALLEL_MIN_ELEMENTS + 4321
    rng = np.random.default_rng(5)
    p0, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    segments = tuple(tuple(int(x) for x in pair) for pair in _weights(n))
    state = np.array([0.0, 0.01, 0.02])  # step, learning rate, weight decay; the update counts the step itself
    results = []
    for use_numba in (False, True):
        ops = NumpyOps()
        if not use_numba:
            monkeypatch.setattr(ops, "_compiled_updates", lambda: None)  # as without Numba (or GPUNN_CPU_JIT=0)
            ops.set_update_threads(4)
        p, m, v = p0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)
        for step in (1.0, 2.0):
            state[0] = step
            ops.lamb_update(p, g, m, v, state, 0.9, 0.999, 1e-7, segments)
        results.append(p)
    expected, m, v = p0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)
    for step in (1, 2):
        twins.lamb_update_numpy(expected, g, m, v, segments, 0.01, 0.9, 0.999, 1e-7, step, 0.02)
    np.testing.assert_array_equal(results[0], expected)
    np.testing.assert_allclose(results[1], expected, rtol=2e-6, atol=2e-6)


def test_lion_reads_its_moment_as_it_is():
    """Lion steps by the sign of its moment, however small: flushing a tiny moment would change the step."""
    p, g, m = np.ones(4, np.float32), np.zeros(4, np.float32), np.full(4, 1e-39, np.float32)
    expected = (p.copy(), g.copy(), m.copy())
    compiled.lion_update(p, g, m, 1e-3, 0.9, 0.99, 0.0)
    twins.lion_update_numpy(*expected, 1e-3, 0.9, 0.99, 0.0)
    np.testing.assert_array_equal(p, expected[0])
    assert np.all(p == np.float32(1 - 1e-3))
