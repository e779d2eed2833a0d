"""Clipping by norm on the device (kernels/clip_norm.py) against its NumPy twin, on tiny odd shapes: one block, and
two (the partials added up by every block of the second launch); scaled down, left alone (norm under the clip),
and a zero gradient (the norm's floor). The twin against the formula in float64."""
import numpy as np
import pytest
from kernels_testing import FLOATS, assert_close

from gpunn.kernels import clip_norm
from gpunn.kernels._row_reduce import BLOCK_THREADS

TWO_BLOCKS = BLOCK_THREADS * clip_norm.ITEMS_PER_THREAD + 3


def _limits(clip, dtype):
    return np.array(clip_norm.limits(clip), dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", [1, 5, 37, TWO_BLOCKS])
@pytest.mark.parametrize("clip_of_norm", [0.3, 2.0], ids=["clipped", "under"])
def test_cuda_matches_twin(dev, n, dtype, clip_of_norm, rng):
    g = rng.standard_normal(n).astype(dtype)
    clip = float(np.linalg.norm(g.astype(np.float64))) * clip_of_norm
    want = clip_norm.scale_to_norm_numpy(g.copy(), _limits(clip, dtype), np.empty(n + 1, dtype))
    got = dev.to_device(g)
    clip_norm.scale_to_norm_cuda(got, dev.to_device(_limits(clip, dtype)),
                                 dev.to_device(np.full(n + 1, np.nan, dtype)))
    assert_close(dev.to_host(got), want, dtype, scale=10)
    if clip_of_norm > 1:
        np.testing.assert_array_equal(dev.to_host(got), g)  # a scale of exactly 1


def test_the_partials_span_blocks():
    assert clip_norm.partial_blocks(1) == 1
    assert clip_norm.partial_blocks(TWO_BLOCKS) == 2
    assert clip_norm.partial_blocks(10 ** 9) == clip_norm.MAX_BLOCKS


@pytest.mark.parametrize("dtype", FLOATS)
def test_a_zero_gradient_stays_zero(dev, dtype):
    g = dev.to_device(np.zeros(7, dtype))
    clip_norm.scale_to_norm_cuda(g, dev.to_device(_limits(1.0, dtype)), dev.to_device(np.zeros(8, dtype)))
    np.testing.assert_array_equal(dev.to_host(g), np.zeros(7, dtype))


def test_twin_follows_the_formula(rng):
    g = rng.standard_normal(11)
    want = g * min(1.0, 0.5 / max(np.sqrt(np.sum(g * g)), 1e-12))
    got = clip_norm.scale_to_norm_numpy(g.copy(), _limits(0.5, np.float64), np.empty(12))
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_bad_arguments_are_named(dev):
    g = dev.to_device(np.ones(5, np.float32))
    limits = dev.to_device(_limits(1.0, np.float32))
    for args, name in (((g, limits, dev.to_device(np.ones(5, np.float32))), "scratch: expected at least 6"),
                       ((g, limits, dev.to_device(np.ones(6, np.float64))), "scratch: expected dtype"),
                       ((g, dev.to_device(_limits(1.0, np.float64)), dev.to_device(np.ones(6, np.float32))),
                        "limits: expected dtype float32"),
                       ((dev.to_device(np.ones((2, 3), np.float32)), limits, dev.to_device(np.ones(7, np.float32))),
                        "g: expected 1-D")):
        with pytest.raises(ValueError, match=name):
            clip_norm.check_clip(*args)
    for clip in (-1.0, "1", True, float("nan")):
        with pytest.raises(ValueError, match="clip: expected a non-negative number"):
            clip_norm.limits(clip)
