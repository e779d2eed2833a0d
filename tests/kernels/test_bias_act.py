"""bias_act.py and activations.py: the NumPy twins against definitions (finite differences for every
backward), the CUDA launchers against the twins."""
import math

import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.kernels import bias_act
from gpunn.kernels.activations import ACTIVATIONS, NEEDS_PREACTIVATION
from gpunn.kernels.bias_act import (
    act_backward_bias_grad_cuda,
    act_backward_bias_grad_numpy,
    bias_act_forward_cuda,
    bias_act_forward_numpy,
)

ALPHA = 0.2
_erf = np.vectorize(math.erf, otypes=[np.float64])


def reference_activation(name, z):
    """Each activation straight from its definition, in float64."""
    z = np.asarray(z, dtype=np.float64)
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z >= 0, z, ALPHA * z)
    if name == "elu":
        return np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1.0)
    if name == "gelu":
        return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "silu":
        return z / (1.0 + np.exp(-z))
    if name == "selu":  # Keras 3's constants
        return 1.0507009873554804934193349852946 * np.where(
            z > 0, z, 1.6732632423543772848170429916717 * (np.exp(np.minimum(z, 0)) - 1.0))
    if name == "softplus":
        return np.log(1.0 + np.exp(z))
    if name == "softsign":
        return z / (1.0 + np.abs(z))
    if name == "hard_sigmoid":  # Keras 3: relu6(z + 3) / 6
        return np.minimum(np.maximum(z + 3.0, 0.0), 6.0) / 6.0
    if name == "exponential":
        return np.exp(z)
    if name == "mish":
        return z * np.tanh(np.log(1.0 + np.exp(z)))
    # Keras 3's third group (jax.nn); ALPHA is celu's alpha, the shrinks' threshold and squareplus's b here
    if name == "relu6":
        return np.clip(z, 0.0, 6.0)
    if name == "hard_silu":
        return z * np.clip(z + 3.0, 0.0, 6.0) / 6.0
    if name == "log_sigmoid":
        return -np.log(1.0 + np.exp(-z))
    if name == "celu":
        return np.where(z > 0, z, ALPHA * (np.exp(np.minimum(z, 0) / ALPHA) - 1.0))
    if name == "hard_tanh":
        return np.clip(z, -1.0, 1.0)
    if name == "soft_shrink":
        return np.where(z > ALPHA, z - ALPHA, np.where(z < -ALPHA, z + ALPHA, 0.0))
    if name == "hard_shrink":
        return np.where(np.abs(z) > ALPHA, z, 0.0)
    if name == "tanh_shrink":
        return z - np.tanh(z)
    if name == "squareplus":
        return (z + np.sqrt(z * z + ALPHA)) / 2.0
    if name == "sparse_plus":
        return np.where(z <= -1.0, 0.0, np.where(z >= 1.0, z, (z + 1.0) ** 2 / 4.0))
    if name == "sparse_sigmoid":
        return np.clip(z + 1.0, 0.0, 2.0) / 2.0
    raise AssertionError(name)


def reference_derivative(name, z, h=1e-6):
    """Central finite difference of the reference activation."""
    return (reference_activation(name, z + h) - reference_activation(name, z - h)) / (2 * h)


def sample_z(rng, shape, dtype):
    z = rng.standard_normal(shape) * 2.0
    z[np.abs(z) < 0.02] += 0.05  # keep finite differences off the kinks of relu/leaky_relu/elu
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_twin_forward_matches_definition(activation, dtype, rng):
    z = sample_z(rng, (6, 11), dtype)
    bias = rng.standard_normal(11).astype(dtype)
    expected_pre = z.astype(np.float64) + bias
    out = np.empty_like(z)
    bias_act_forward_numpy(z, bias, activation, out, alpha=ALPHA)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(z, expected_pre, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(out, reference_activation(activation, z.astype(np.float64)),
                               rtol=rtol * 2, atol=rtol)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_twin_backward_matches_finite_differences(activation, dtype, rng):
    z = sample_z(rng, (5, 9), dtype)
    y = np.empty_like(z)
    bias_act_forward_numpy(z, None, activation, y, alpha=ALPHA)
    dy = rng.standard_normal(z.shape).astype(dtype)
    dz = np.empty_like(z)
    dbias = np.empty(9, dtype)
    act_backward_bias_grad_numpy(dy, y, z, activation, dz, dbias, alpha=ALPHA)
    expected = dy.astype(np.float64) * reference_derivative(activation, z.astype(np.float64))
    rtol, atol = (2e-5, 2e-6) if dtype == np.float32 else (1e-7, 1e-8)
    np.testing.assert_allclose(dz, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dbias, expected.sum(axis=0), rtol=rtol, atol=atol * 10)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_twin_in_place_and_scratch_variants_agree(activation, rng):
    z0 = sample_z(rng, (4, 7), np.float64)
    bias = rng.standard_normal(7)
    z = z0.copy()
    y = np.empty_like(z)
    bias_act_forward_numpy(z, bias, activation, y)
    if activation not in NEEDS_PREACTIVATION:  # out may alias z
        z_alias = z0.copy()
        bias_act_forward_numpy(z_alias, bias, activation, z_alias)
        np.testing.assert_array_equal(z_alias, y)
    dy = rng.standard_normal(z.shape)
    dz = np.empty_like(z)
    act_backward_bias_grad_numpy(dy, y, z, activation, dz, None)
    dy_alias = dy.copy()  # dz_out may alias dy
    act_backward_bias_grad_numpy(dy_alias, y, z, activation, dy_alias, None)
    np.testing.assert_array_equal(dy_alias, dz)
    dz_scratch = np.empty_like(z)
    act_backward_bias_grad_numpy(dy, y, z, activation, dz_scratch, None, scratch=np.empty_like(z))
    np.testing.assert_array_equal(dz_scratch, dz)


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"exponential"}))  # exp(1000) is inf, as in Keras
def test_twin_extreme_inputs_stay_finite(activation):
    z = np.array([[-1000.0, -60.0, -1.0, 0.0, 1.0, 60.0, 1000.0]], dtype=np.float32)
    y = np.empty_like(z)
    bias_act_forward_numpy(z, None, activation, y)
    dz = np.empty_like(z)
    act_backward_bias_grad_numpy(np.ones_like(z), y, z, activation, dz, None)
    assert np.isfinite(y).all() and np.isfinite(dz).all(), (y, dz)


# ---------------------------------------------------------------- CUDA against the twins


def run_both(dev, activation, dtype, z, bias, dy, with_dbias=True):
    """Forward then backward through the twin and the launcher; returns both results."""
    n = z.shape[1]
    results = []
    for forward, backward, move, back in (
        (bias_act_forward_numpy, act_backward_bias_grad_numpy, np.copy, np.asarray),
        (bias_act_forward_cuda, act_backward_bias_grad_cuda, dev.to_device, dev.to_host),
    ):
        zz, bb, dd = move(z), (None if bias is None else move(bias)), move(dy)
        out = move(np.zeros_like(z))
        forward(zz, bb, activation, out, ALPHA)
        dz = move(np.zeros_like(z))
        dbias = move(np.full(n, 7.0, dtype)) if with_dbias else None  # garbage: must be overwritten
        backward(dd, out, zz if activation in NEEDS_PREACTIVATION else None, activation, dz, dbias, ALPHA)
        results.append([back(a) for a in (zz, out, dz)] + [back(dbias) if with_dbias else None])
    return results


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_cuda_matches_twin(dev, activation, dtype, rng):
    z = sample_z(rng, (7, 13), dtype)
    bias = rng.standard_normal(13).astype(dtype)
    dy = rng.standard_normal((7, 13)).astype(dtype)
    twin, cuda = run_both(dev, activation, dtype, z, bias, dy)
    for name, a, b in zip(("z", "out", "dz", "dbias"), cuda, twin):
        assert_close(a, b, dtype, scale=4, err_msg=name)


@pytest.mark.parametrize("activation", ["relu", "gelu", "sigmoid"])
def test_cuda_without_bias_and_without_dbias(dev, activation, rng):
    z = sample_z(rng, (3, 5), np.float32)
    dy = rng.standard_normal((3, 5)).astype(np.float32)
    twin, cuda = run_both(dev, activation, np.float32, z, None, dy, with_dbias=False)
    for a, b in zip(cuda[:3], twin[:3]):
        assert_close(a, b, np.float32, scale=4)


@pytest.mark.parametrize("activation,dtype", [("tanh", np.float32), ("silu", np.float64)])
def test_cuda_dbias_split_over_block_rows_uses_atomics(dev, activation, dtype, rng, monkeypatch):
    monkeypatch.setattr(bias_act, "ROWS_PER_BLOCK", 2)  # 7 rows -> 4 block rows adding atomically
    z = sample_z(rng, (7, 37), dtype)
    bias = rng.standard_normal(37).astype(dtype)
    dy = rng.standard_normal((7, 37)).astype(dtype)
    twin, cuda = run_both(dev, activation, dtype, z, bias, dy)
    for name, a, b in zip(("z", "out", "dz", "dbias"), cuda, twin):
        assert_close(a, b, dtype, scale=4, err_msg=name)


def test_cuda_in_place_aliases(dev, rng):
    z = sample_z(rng, (3, 5), np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    expected = z.copy()
    bias_act_forward_numpy(expected, bias, "relu", expected)
    zd = dev.to_device(z)
    bias_act_forward_cuda(zd, dev.to_device(bias), "relu", zd)
    np.testing.assert_array_equal(dev.to_host(zd), expected)
    dy = rng.standard_normal((3, 5)).astype(np.float32)
    dz_expected = np.empty_like(dy)
    act_backward_bias_grad_numpy(dy, expected, None, "relu", dz_expected, None)
    dyd = dev.to_device(dy)
    act_backward_bias_grad_cuda(dyd, zd, None, "relu", dyd, None)
    np.testing.assert_array_equal(dev.to_host(dyd), dz_expected)


def test_cuda_extreme_inputs_stay_finite(dev):
    z = np.array([[-1000.0, -60.0, 0.0, 60.0, 1000.0]], dtype=np.float32)
    for activation in ("gelu", "sigmoid", "silu", "elu"):
        zd, out = dev.to_device(z), dev.to_device(np.zeros_like(z))
        bias_act_forward_cuda(zd, None, activation, out)
        dz = dev.to_device(np.zeros_like(z))
        act_backward_bias_grad_cuda(dev.to_device(np.ones_like(z)), out, zd, activation, dz, None)
        assert np.isfinite(dev.to_host(out)).all() and np.isfinite(dev.to_host(dz)).all(), activation


# ---------------------------------------------------------------- argument checks


def test_cuda_launchers_reject_bad_arguments(dev):
    z = dev.to_device(np.zeros((3, 5), np.float32))
    out = dev.to_device(np.zeros((3, 5), np.float32))
    bias = dev.to_device(np.zeros(5, np.float32))
    cases = [
        (lambda: bias_act_forward_cuda(z, dev.to_device(np.zeros(4, np.float32)), "relu", out), "bias"),
        (lambda: bias_act_forward_cuda(z, bias, "relu", dev.to_device(np.zeros((3, 4), np.float32))), "out"),
        (lambda: bias_act_forward_cuda(z, bias, "relu", dev.to_device(np.zeros((3, 5)))), "out"),
        (lambda: bias_act_forward_cuda(dev.to_device(np.zeros((3, 5), np.int32)), None, "relu", out), "z"),
        (lambda: bias_act_forward_cuda(dev.to_device(np.zeros(5, np.float32)), None, "relu", out), "z"),
        (lambda: bias_act_forward_cuda(z, bias, "swish", out), "activation"),
        (lambda: bias_act_forward_cuda(z, bias, "gelu", z), "out"),
        (lambda: act_backward_bias_grad_cuda(z, out, None, "gelu", out, None), "z"),
        (lambda: act_backward_bias_grad_cuda(z, out, None, "relu", out, dev.to_device(np.zeros(3, np.float32))),
         "dbias_out"),
        (lambda: act_backward_bias_grad_cuda(z, dev.to_device(np.zeros((5, 3), np.float32)), None, "relu", out,
                                             None), "y"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()


def test_the_kernels_fuse_exactly_the_activations_the_front_end_names():
    from gpunn import activations

    assert set(ACTIVATIONS) == set(activations.ELEMENTWISE)
    assert NEEDS_PREACTIVATION == activations.NEEDS_PREACTIVATION
