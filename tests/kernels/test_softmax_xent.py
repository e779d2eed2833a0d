"""softmax_xent.py: the twins against definitions (softmax by exp/sum, cross-entropy by -sum t log p,
dlogits by finite differences of the loss), the CUDA launchers against the twins."""
import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.kernels.softmax_xent import softmax_cuda, softmax_numpy, softmax_xent_cuda, softmax_xent_numpy


def reference_softmax(x):
    e = np.exp(x.astype(np.float64))
    return e / e.sum(axis=1, keepdims=True)


def reference_loss(x, targets):
    """Mean-free per-sample cross-entropy from the definition, in float64 (moderate logits only)."""
    return -(targets * np.log(reference_softmax(x))).sum(axis=1)


def one_hot(labels, classes):
    t = np.zeros((labels.size, classes))
    t[np.arange(labels.size), labels] = 1.0
    return t


def soft_targets(rng, rows, classes):
    t = rng.random((rows, classes))
    return t / t.sum(axis=1, keepdims=True)


def run_twin(logits, labels, grad_scale, with_grad=True):
    probs = np.empty_like(logits)
    dlogits = np.empty_like(logits) if with_grad else None
    loss = np.empty(logits.shape[0], logits.dtype)
    softmax_xent_numpy(logits, labels, probs, dlogits, loss, grad_scale)
    return probs, dlogits, loss


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sparse", [True, False])
def test_twin_matches_definition(sparse, dtype, rng):
    x = (rng.standard_normal((6, 9)) * 3).astype(dtype)
    labels = rng.integers(0, 9, size=6)
    targets = one_hot(labels, 9) if sparse else soft_targets(rng, 6, 9)
    given = labels if sparse else targets.astype(dtype)
    probs, dlogits, loss = run_twin(x, given, 0.25)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(probs, reference_softmax(x), rtol=rtol * 4, atol=rtol)
    np.testing.assert_allclose(loss, reference_loss(x, targets), rtol=rtol * 4, atol=rtol * 4)
    np.testing.assert_allclose(dlogits, (reference_softmax(x) - targets) * 0.25, rtol=rtol * 4, atol=rtol)
    np.testing.assert_allclose(softmax_numpy(x, np.empty_like(x)), reference_softmax(x), rtol=rtol * 4,
                               atol=rtol)


def test_twin_gradient_matches_finite_differences(rng):
    """dlogits is d(sum_b loss_b * grad_scale)/dlogits, also for soft targets that do not sum to 1."""
    x = rng.standard_normal((4, 7))
    targets = rng.random((4, 7)) * 0.5
    scale = 0.5
    _, dlogits, _ = run_twin(x, targets, scale)
    h = 1e-6
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        difference = run_twin(plus, targets, 1.0)[2].sum() - run_twin(minus, targets, 1.0)[2].sum()
        numeric[idx] = difference * scale / (2 * h)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", FLOATS)
def test_twin_extreme_logits_stay_finite(dtype):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0], [5.0, 5.0, 5.0]], dtype=dtype)
    labels = np.array([1, 2, 0])
    probs, dlogits, loss = run_twin(x, labels, 1.0)
    assert np.isfinite(probs).all() and np.isfinite(dlogits).all() and np.isfinite(loss).all()
    np.testing.assert_allclose(loss, [2000.0, 0.0, np.log(3.0)], rtol=1e-6)
    _, _, loss_dense = run_twin(x, one_hot(labels, 3).astype(dtype), 1.0)
    np.testing.assert_allclose(loss_dense, [2000.0, 0.0, np.log(3.0)], rtol=1e-6)


def test_twin_probs_may_alias_logits_and_dlogits_is_optional(rng):
    x = rng.standard_normal((3, 5))
    labels = np.array([0, 4, 2])
    probs, _, loss = run_twin(x, labels, 1.0)
    alias = x.copy()
    loss2 = np.empty(3)
    softmax_xent_numpy(alias, labels, alias, None, loss2, 1.0)
    np.testing.assert_array_equal(alias, probs)
    np.testing.assert_array_equal(loss2, loss)


def test_twin_rejects_bad_labels():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="labels"):
        run_twin(x, np.zeros(3), 1.0)  # float class indices


# ---------------------------------------------------------------- CUDA against the twins


def run_cuda(dev, logits, labels, grad_scale, with_grad=True):
    x = dev.to_device(logits)
    probs = dev.to_device(np.zeros_like(logits))
    dlogits = dev.to_device(np.zeros_like(logits)) if with_grad else None
    loss = dev.to_device(np.zeros(logits.shape[0], logits.dtype))
    softmax_xent_cuda(x, dev.to_device(labels), probs, dlogits, loss, grad_scale)
    return dev.to_host(probs), dev.to_host(dlogits), dev.to_host(loss)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("shape", [(3, 5), (5, 13)])
def test_cuda_matches_twin(dev, shape, sparse, dtype, rng):
    rows, classes = shape
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    labels = rng.integers(0, classes, size=rows).astype(np.int32)
    if not sparse:
        labels = soft_targets(rng, rows, classes).astype(dtype)
    for want, got in zip(run_twin(x, labels, 1 / rows), run_cuda(dev, x, labels, 1 / rows)):
        assert_close(got, want, dtype, scale=4)


def test_cuda_wide_rows_without_grad(dev, rng):
    """130 classes: rows wider than a block, so each thread loops; no dlogits (evaluation)."""
    x = rng.standard_normal((2, 130))
    labels = rng.integers(0, 130, size=2)
    want = run_twin(x, labels, 1.0, with_grad=False)
    got = run_cuda(dev, x, labels, 1.0, with_grad=False)
    assert got[1] is None
    assert_close(got[0], want[0], np.float64)
    assert_close(got[2], want[2], np.float64)


def test_cuda_extreme_logits_and_alias(dev):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]], dtype=np.float32)
    labels = np.array([1, 2])
    want = run_twin(x, labels, 1.0)
    xd = dev.to_device(x)
    dl = dev.to_device(np.zeros_like(x))
    loss = dev.to_device(np.zeros(2, np.float32))
    softmax_xent_cuda(xd, dev.to_device(labels), xd, dl, loss, 1.0)  # probs written over the logits
    for want_a, got in zip(want, (xd, dl, loss)):
        got = dev.to_host(got)
        assert np.isfinite(got).all()
        assert_close(got, want_a, np.float32)


@pytest.mark.parametrize("dtype", FLOATS)
def test_cuda_softmax_matches_twin(dev, dtype, rng):
    x = (rng.standard_normal((5, 13)) * 4).astype(dtype)
    out = dev.to_device(np.zeros_like(x))
    softmax_cuda(dev.to_device(x), out)
    assert_close(dev.to_host(out), softmax_numpy(x, np.empty_like(x)), dtype, scale=4)


def test_cuda_launchers_reject_bad_arguments(dev):
    x = dev.to_device(np.zeros((3, 4), np.float32))
    p = dev.to_device(np.zeros((3, 4), np.float32))
    loss = dev.to_device(np.zeros(3, np.float32))
    labels = dev.to_device(np.zeros(3, np.int64))
    cases = [
        (lambda: softmax_xent_cuda(x, dev.to_device(np.zeros(4, np.int64)), p, None, loss, 1.0), "labels"),
        (lambda: softmax_xent_cuda(x, dev.to_device(np.zeros((3, 4))), p, None, loss, 1.0), "labels"),
        (lambda: softmax_xent_cuda(x, dev.to_device(np.zeros(3, np.float32)), p, None, loss, 1.0), "labels"),
        (lambda: softmax_xent_cuda(x, labels, dev.to_device(np.zeros((3, 5), np.float32)), None, loss, 1.0),
         "probs_out"),
        (lambda: softmax_xent_cuda(x, labels, p, dev.to_device(np.zeros((3, 4))), loss, 1.0), "dlogits_out"),
        (lambda: softmax_xent_cuda(x, labels, p, None, dev.to_device(np.zeros(4, np.float32)), 1.0), "loss_out"),
        (lambda: softmax_xent_cuda(dev.to_device(np.zeros(4, np.float32)), labels, p, None, loss, 1.0), "logits"),
        (lambda: softmax_cuda(x, dev.to_device(np.zeros((4, 3), np.float32))), "out"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
