"""dropout.py: the mask against a plain-Python rendering of the documented hash, the same mask from
the twin and the kernel, statistics of the mask, forward/backward values."""
import numpy as np
import pytest
from kernels_testing import FLOATS

from gpunn.kernels.dropout import (
    dropout_backward_cuda,
    dropout_backward_numpy,
    dropout_forward_cuda,
    dropout_forward_numpy,
    keep_mask_cuda,
    keep_mask_numpy,
)

M32 = 0xFFFFFFFF


def hash32(x):
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    x ^= x >> 16
    return x


def reference_mask(n, rate, seed, counter):
    """The module docstring's definition, one element at a time, with Python ints and floats."""
    key_a = hash32(hash32(counter & M32) ^ (seed & M32))
    key_b = hash32(key_a ^ 0x9E3779B9)
    mask = []
    for i in range(n):
        h = hash32((hash32(i ^ key_a) + key_b) & M32)
        mask.append(1 if (h >> 8) * 2.0 ** -24 >= rate else 0)
    return np.array(mask, dtype=np.uint8)


@pytest.mark.parametrize("seed,counter,rate", [(0, 0, 0.5), (1234, 7, 0.3), (2**40 + 5, 2**33 + 1, 0.9)])
def test_twin_mask_matches_definition(seed, counter, rate):
    np.testing.assert_array_equal(keep_mask_numpy(1000, rate, seed, counter),
                                  reference_mask(1000, rate, seed, counter))


def test_twin_mask_statistics_and_counters():
    n = 200_000
    for rate in (0.1, 0.5, 0.8):
        kept = keep_mask_numpy(n, rate, 42, 0).mean()
        assert abs(kept - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n), (rate, kept)
    a = keep_mask_numpy(n, 0.5, 42, 0)
    b = keep_mask_numpy(n, 0.5, 42, 1)
    c = keep_mask_numpy(n, 0.5, 43, 0)
    # independent masks agree on about half the elements
    assert abs((a == b).mean() - 0.5) < 0.01 and abs((a == c).mean() - 0.5) < 0.01
    np.testing.assert_array_equal(a, keep_mask_numpy(n, 0.5, 42, 0))  # deterministic
    assert keep_mask_numpy(n, 0.0, 42, 3).all()


def test_twin_rejects_bad_rate():
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="rate"):
            keep_mask_numpy(10, rate, 0, 0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_twin_forward_backward_values(dtype, rng):
    x = rng.standard_normal((4, 9)).astype(dtype)
    out = np.empty_like(x)
    mask = np.empty(x.shape, np.uint8)
    dropout_forward_numpy(x, 0.25, 5, 2, out, mask)
    np.testing.assert_array_equal(mask.ravel(), reference_mask(36, 0.25, 5, 2))
    np.testing.assert_allclose(out, np.where(mask == 1, x.astype(np.float64) / 0.75, 0.0), rtol=1e-6)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dx = np.empty_like(dy)
    dropout_backward_numpy(dy, mask, 0.25, dx)
    np.testing.assert_allclose(dx, np.where(mask == 1, dy.astype(np.float64) / 0.75, 0.0), rtol=1e-6)
    kept_all = np.empty_like(x)
    dropout_forward_numpy(x, 0.0, 5, 2, kept_all, mask)
    np.testing.assert_array_equal(kept_all, x)


# ---------------------------------------------------------------- CUDA against the twin


@pytest.mark.parametrize("counter", [0, 1])
def test_cuda_mask_is_the_twins(dev, counter):
    n = 130
    got = dev.to_host(keep_mask_cuda(n, 0.4, 99, counter))
    np.testing.assert_array_equal(got, keep_mask_numpy(n, 0.4, 99, counter))


@pytest.mark.parametrize("dtype", FLOATS)
def test_cuda_forward_backward_match_twin(dev, dtype, rng):
    x = rng.standard_normal((7, 13)).astype(dtype)
    want_out, want_mask = np.empty_like(x), np.empty(x.shape, np.uint8)
    dropout_forward_numpy(x, 0.3, 11, 4, want_out, want_mask)
    out = dev.to_device(np.zeros_like(x))
    mask = dev.to_device(np.zeros(x.shape, np.uint8))
    dropout_forward_cuda(dev.to_device(x), 0.3, 11, dev.to_device(np.array([4], np.int64)), out, mask)
    np.testing.assert_array_equal(dev.to_host(mask), want_mask)
    np.testing.assert_array_equal(dev.to_host(out), want_out)
    dy = rng.standard_normal(x.shape).astype(dtype)
    want_dx = np.empty_like(dy)
    dropout_backward_numpy(dy, want_mask, 0.3, want_dx)
    dyd = dev.to_device(dy)
    dropout_backward_cuda(dyd, mask, 0.3, dyd)  # in place
    np.testing.assert_array_equal(dev.to_host(dyd), want_dx)


def test_cuda_reads_the_device_counter_at_each_launch(dev, rng):
    """The counter is read on the device, so bumping it (as the layer does after each step) changes the mask
    without a new argument: what a recorded step relies on."""
    x = dev.to_device(np.ones(4096, np.float32))
    out, mask = dev.to_device(np.zeros(4096, np.float32)), dev.to_device(np.zeros(4096, np.uint8))
    counter = np.array([5], np.int64)
    counter_dev = dev.to_device(counter)
    masks = []
    for value in (5, 6):
        dev_counter = dev.to_device(np.array([value], np.int64)) if value != 5 else counter_dev
        dropout_forward_cuda(x, 0.5, 9, dev_counter, out, mask)
        masks.append(dev.to_host(mask).copy())
        np.testing.assert_array_equal(masks[-1], keep_mask_numpy(4096, 0.5, 9, value))
    assert (masks[0] != masks[1]).any()


def test_cuda_rate_zero_keeps_all_and_1d_works(dev, rng):
    x = rng.standard_normal(37).astype(np.float32)
    out = dev.to_device(np.zeros_like(x))
    mask = dev.to_device(np.zeros(37, np.uint8))
    dropout_forward_cuda(dev.to_device(x), 0.0, 1, dev.to_device(np.array([1], np.int64)), out, mask)
    assert dev.to_host(mask).all()
    np.testing.assert_array_equal(dev.to_host(out), x)


def test_cuda_launchers_reject_bad_arguments(dev):
    x = dev.to_device(np.zeros((3, 4), np.float32))
    out = dev.to_device(np.zeros((3, 4), np.float32))
    mask = dev.to_device(np.zeros((3, 4), np.uint8))
    counter = dev.to_device(np.zeros(1, np.int64))
    cases = [
        (lambda: dropout_forward_cuda(x, 0.5, 0, dev.to_device(np.zeros(1, np.int32)), out, mask), "counter"),
        (lambda: dropout_forward_cuda(x, 0.5, 0, counter, out, dev.to_device(np.zeros((3, 4), np.int8))), "mask_out"),
        (lambda: dropout_forward_cuda(x, 0.5, 0, counter, dev.to_device(np.zeros((4, 3), np.float32)), mask), "out"),
        (lambda: dropout_forward_cuda(dev.to_device(np.zeros((3, 4), np.int32)), 0.5, 0, counter, out, mask), "x"),
        (lambda: dropout_forward_cuda(x, 1.0, 0, counter, out, mask), "rate"),
        (lambda: dropout_backward_cuda(x, dev.to_device(np.zeros((3, 5), np.uint8)), 0.5, out), "mask"),
        (lambda: dropout_backward_cuda(x, mask, 0.5, dev.to_device(np.zeros((3, 4)))), "dx_out"),
        (lambda: keep_mask_cuda(5, 0.5, 0, 0, out=dev.to_device(np.zeros(4, np.uint8))), "out"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
