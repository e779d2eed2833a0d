"""gaussian_noise.py: the twin against a plain-Python rendering of the documented draw, statistics of the
draws, the CUDA kernel against the twin (on a GPU, or on the simulator), and the counter read on the device."""
import math

import numpy as np
import pytest
from kernels_testing import FLOATS

from gpunn.kernels.gaussian_noise import NormalScratch, random_normal_cuda, random_normal_numpy

M32 = 0xFFFFFFFF


def hash32(x):
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    x ^= x >> 16
    return x


def reference(n, seed, counter, mean, stddev):
    """The module docstring's definition, one element at a time: Python ints for the hash, float64 math."""
    key_a = hash32(hash32(counter & M32) ^ (seed & M32))
    key_b = hash32(key_a ^ 0x9E3779B9)
    values = []
    for i in range(n):
        h1 = hash32((hash32((2 * i) ^ key_a) + key_b) & M32) >> 8
        h2 = hash32((hash32((2 * i + 1) ^ key_a) + key_b) & M32) >> 8
        z = math.sqrt(-2.0 * math.log((h1 + 1) * 2.0 ** -24)) * math.cos(2.0 * math.pi * h2 * 2.0 ** -24)
        values.append(z * stddev + mean)
    return np.array(values)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("seed,counter,mean,stddev", [(0, 0, 0.0, 1.0), (1234, 7, 1.0, 0.3),
                                                      (2**40 + 5, 2**33 + 1, -2.0, 0.05)])
def test_twin_matches_the_definition(dtype, seed, counter, mean, stddev):
    out = np.empty((25, 17), dtype)
    random_normal_numpy(seed, counter, mean, stddev, out)
    want = reference(out.size, seed, counter, mean, stddev).reshape(out.shape)
    # computed in the dtype: a few ulps of each step, relative to the size of the draw
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, want, rtol=rtol, atol=rtol * 8 * stddev)


def test_twin_statistics_counters_and_determinism():
    n = 200_000
    a = random_normal_numpy(42, 0, 0.0, 1.0, np.empty(n))
    assert abs(a.mean()) < 5 / math.sqrt(n) and abs(a.std() - 1.0) < 0.01
    # the normal's quantiles, within a few standard errors
    for q, z in ((0.5, 0.0), (0.8413447, 1.0), (0.9772499, 2.0), (0.0227501, -2.0)):
        assert abs((a < z).mean() - q) < 5 * math.sqrt(q * (1 - q) / n), (q, z)
    assert np.abs(a).max() <= math.sqrt(2 * math.log(2.0 ** 24)) + 1e-9
    b = random_normal_numpy(42, 1, 0.0, 1.0, np.empty(n))
    c = random_normal_numpy(43, 0, 0.0, 1.0, np.empty(n))
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01 and abs(np.corrcoef(a, c)[0, 1]) < 0.01
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.01  # neighbours independent
    np.testing.assert_array_equal(a, random_normal_numpy(42, 0, 0.0, 1.0, np.empty(n)))
    shifted = random_normal_numpy(42, 0, 1.0, 0.5, np.empty(n))
    np.testing.assert_allclose(shifted, a * 0.5 + 1.0, rtol=1e-15)


def test_twin_dtypes_draw_the_same_numbers_and_take_the_counter_array():
    wide = random_normal_numpy(9, 3, 0.0, 1.0, np.empty(1000))
    narrow = random_normal_numpy(9, np.array([3], np.int64), 0.0, 1.0, np.empty(1000, np.float32))
    np.testing.assert_allclose(narrow, wide, rtol=1e-5, atol=1e-5)


def test_twin_with_scratch_allocates_nothing():
    from allocations import count_numpy_allocations, describe

    out = np.empty((8, 5), np.float32)
    scratch = NormalScratch(out.size, out.dtype)
    counter = np.array([0], np.int64)
    random_normal_numpy(1, counter, 0.0, 1.0, out, scratch)
    with count_numpy_allocations() as events:
        for value in range(1, 4):
            counter[0] = value
            random_normal_numpy(1, counter, 0.5, 2.0, out, scratch)
    assert events == [], describe(events)


def test_twin_rejects_bad_arguments():
    cases = [
        (lambda: random_normal_numpy(0, 0, 0.0, 1.0, np.empty(4, np.int32)), "out"),
        (lambda: random_normal_numpy(0, 0, 0.0, 1.0, np.empty((4, 4))[:, ::2]), "out"),
        (lambda: random_normal_numpy(0, 0, 0.0, 1.0, np.empty(4), NormalScratch(5, np.float64)), "scratch"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()


# ---------------------------------------------------------------- CUDA against the twin


@pytest.mark.parametrize("dtype", FLOATS)
def test_cuda_matches_twin(dev, dtype):
    want = random_normal_numpy(11, 4, 1.0, 0.4, np.empty((7, 13), dtype))
    out = dev.to_device(np.zeros((7, 13), dtype))
    random_normal_cuda(11, dev.to_device(np.array([4], np.int64)), 1.0, 0.4, out)
    # libm against CUDA's (or the simulator's Python math): a few ulps of each step
    rtol = 3e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(dev.to_host(out), want, rtol=rtol, atol=rtol * 8 * 0.4)


def test_cuda_reads_the_device_counter_at_each_launch(dev):
    """The counter is read on the device, so bumping it (as the layer does after each step) draws new noise
    without a new argument: what a recorded step relies on."""
    out = dev.to_device(np.zeros(300, np.float32))
    draws = []
    for value in (5, 6):
        random_normal_cuda(9, dev.to_device(np.array([value], np.int64)), 0.0, 1.0, out)
        draws.append(dev.to_host(out).copy())
        np.testing.assert_allclose(draws[-1], random_normal_numpy(9, value, 0.0, 1.0, np.empty(300, np.float32)),
                                   rtol=3e-6, atol=3e-5)
    assert (draws[0] != draws[1]).any()


def test_cuda_launcher_rejects_bad_arguments(dev):
    out = dev.to_device(np.zeros((3, 4), np.float32))
    counter = dev.to_device(np.zeros(1, np.int64))
    cases = [
        (lambda: random_normal_cuda(0, dev.to_device(np.zeros(1, np.int32)), 0.0, 1.0, out), "counter"),
        (lambda: random_normal_cuda(0, counter, 0.0, 1.0, dev.to_device(np.zeros((3, 4), np.int32))), "out"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
