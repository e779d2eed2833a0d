"""sigmoid_bce.py: the twin against the definition -t log p - (1-t) log(1-p) and finite differences,
the CUDA launcher against the twin."""
import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.kernels.sigmoid_bce import sigmoid_bce_cuda, sigmoid_bce_numpy


def run_twin(x, t, grad_scale, with_grad=True):
    probs = np.empty_like(x)
    dlogits = np.empty_like(x) if with_grad else None
    loss = np.empty(x.shape[0], x.dtype)
    sigmoid_bce_numpy(x, t, probs, dlogits, loss, grad_scale)
    return probs, dlogits, loss


@pytest.mark.parametrize("dtype", FLOATS)
def test_twin_matches_definition(dtype, rng):
    x = (rng.standard_normal((5, 3)) * 3).astype(dtype)
    t = rng.random((5, 3)).astype(dtype)  # soft targets too
    probs, dlogits, loss = run_twin(x, t, 0.5)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-x64))
    expected_loss = (-(t64 * np.log(p) + (1 - t64) * np.log(1 - p))).mean(axis=1)
    rtol = 3e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(probs, p, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol * 4, atol=rtol)
    np.testing.assert_allclose(dlogits, (p - t64) * 0.5, rtol=rtol * 4, atol=rtol)


def test_twin_gradient_matches_finite_differences(rng):
    x = rng.standard_normal((3, 4)) * 2
    t = (rng.random((3, 4)) > 0.5).astype(np.float64)
    _, dlogits, _ = run_twin(x, t, 1.0 / 3)
    h = 1e-6
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        # loss_out is a mean over the 4 columns; grad_scale 1/3 averages over rows: d(mean of all)
        numeric[idx] = (run_twin(plus, t, 1.0)[2].sum() - run_twin(minus, t, 1.0)[2].sum()) / (2 * h)
    np.testing.assert_allclose(dlogits, numeric * 4 / 3, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", FLOATS)
def test_twin_extreme_logits_stay_finite(dtype):
    x = np.array([[1000.0, -1000.0, 0.0, 40.0]], dtype=dtype)
    t = np.array([[0.0, 0.0, 1.0, 1.0]], dtype=dtype)
    probs, dlogits, loss = run_twin(x, t, 1.0)
    assert np.isfinite(probs).all() and np.isfinite(dlogits).all() and np.isfinite(loss).all()
    np.testing.assert_allclose(probs[0, :3], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(loss, [(1000.0 + 0.0 + np.log(2.0) + np.log1p(np.exp(-40.0))) / 4], rtol=1e-6)


def test_twin_without_grad_matches(rng):
    x = rng.standard_normal((3, 4))
    t = rng.random((3, 4))
    probs, _, loss = run_twin(x, t, 1.0)
    probs2, none, loss2 = run_twin(x, t, 1.0, with_grad=False)
    assert none is None
    np.testing.assert_array_equal(probs2, probs)
    np.testing.assert_array_equal(loss2, loss)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,with_grad", [((7, 1), True), ((3, 5), True), ((2, 130), False)])
def test_cuda_matches_twin(dev, shape, with_grad, dtype, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.flat[0] = 1000.0
    x.flat[-1] = -1000.0
    t = (rng.random(shape) > 0.5).astype(dtype)
    want = run_twin(x, t, 0.25, with_grad)
    probs = dev.to_device(np.zeros_like(x))
    dlogits = dev.to_device(np.zeros_like(x)) if with_grad else None
    loss = dev.to_device(np.zeros(shape[0], dtype))
    sigmoid_bce_cuda(dev.to_device(x), dev.to_device(t), probs, dlogits, loss, 0.25)
    for got, expected in zip((probs, dlogits, loss), want):
        if expected is None:
            assert got is None
            continue
        got = dev.to_host(got)
        assert np.isfinite(got).all()
        assert_close(got, expected, dtype, scale=4)


def test_cuda_launcher_rejects_bad_arguments(dev):
    x = dev.to_device(np.zeros((3, 2), np.float32))
    p = dev.to_device(np.zeros((3, 2), np.float32))
    loss = dev.to_device(np.zeros(3, np.float32))
    cases = [
        (lambda: sigmoid_bce_cuda(x, dev.to_device(np.zeros((3, 2))), p, None, loss, 1.0), "targets"),
        (lambda: sigmoid_bce_cuda(x, x, dev.to_device(np.zeros((2, 3), np.float32)), None, loss, 1.0),
         "probs_out"),
        (lambda: sigmoid_bce_cuda(x, x, p, dev.to_device(np.zeros(6, np.float32)), loss, 1.0), "dlogits_out"),
        (lambda: sigmoid_bce_cuda(x, x, p, None, dev.to_device(np.zeros((3, 1), np.float32)), 1.0), "loss_out"),
        (lambda: sigmoid_bce_cuda(x, x, x, None, loss, 1.0), "probs_out"),
        (lambda: sigmoid_bce_cuda(dev.to_device(np.zeros(3, np.float32)), x, p, None, loss, 1.0), "logits"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
