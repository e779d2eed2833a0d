"""embedding.py: the CUDA lookup and scatter-add against their NumPy twins (tiny, odd shapes, repeated ids),
the compiled CPU gradient against the twin bit for bit, argument checks."""
import numpy as np
import pytest

from gpunn.kernels.embedding import (
    embedding_grad_cuda,
    embedding_grad_numpy,
    embedding_lookup_cuda,
    embedding_lookup_numpy,
)


def _case(dtype, id_shape, vocabulary=7, width=3, seed=0):
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((vocabulary, width)).astype(dtype)
    ids = rng.integers(0, vocabulary, size=id_shape).astype(np.int64)
    ids.reshape(-1)[:2] = vocabulary - 1  # at least one repeated id: its rows must add up
    dy = rng.standard_normal(id_shape + (width,)).astype(dtype)
    return table, ids, dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_shape,vocabulary,width", [((3, 5), 7, 3), ((1, 1), 1, 1), ((4,), 11, 33), ((2, 3, 2), 5, 2)])
def test_lookup_matches_twin_and_definition(dev, dtype, id_shape, vocabulary, width):
    table, ids, _ = _case(dtype, id_shape, vocabulary, width)
    expected = table[ids]
    twin = np.zeros(id_shape + (width,), dtype)
    embedding_lookup_numpy(table, ids, twin)
    np.testing.assert_array_equal(twin, expected)
    out = dev.to_device(np.zeros(id_shape + (width,), dtype))
    embedding_lookup_cuda(dev.to_device(table), dev.to_device(ids), out)
    np.testing.assert_array_equal(dev.to_host(out), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_shape,vocabulary,width", [((3, 5), 7, 3), ((1, 1), 1, 1), ((4,), 11, 33), ((2, 3, 2), 5, 2)])
def test_gradient_matches_twin_and_definition(dev, dtype, id_shape, vocabulary, width):
    table, ids, dy = _case(dtype, id_shape, vocabulary, width)
    expected = np.zeros((vocabulary, width), np.float64)
    for index in np.ndindex(*id_shape):
        expected[ids[index]] += dy[index]
    twin = np.full((vocabulary, width), 7.0, dtype)  # stale values: the gradient overwrites every row
    embedding_grad_numpy(dy, ids, twin)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(twin, expected, rtol=rtol, atol=rtol)
    grad = dev.to_device(np.full((vocabulary, width), 7.0, dtype))
    embedding_grad_cuda(dev.to_device(dy), dev.to_device(ids), grad)
    np.testing.assert_allclose(dev.to_host(grad), expected, rtol=rtol, atol=rtol)


def test_ids_out_of_range_read_zeros_and_add_nothing_on_the_device(dev):
    table, ids, dy = _case(np.float32, (2, 3))
    ids[0, 0], ids[1, 2] = -1, 7
    out = dev.to_device(np.full((2, 3, 3), 9.0, np.float32))
    embedding_lookup_cuda(dev.to_device(table), dev.to_device(ids), out)
    host = dev.to_host(out)
    assert not host[0, 0].any() and not host[1, 2].any()
    np.testing.assert_array_equal(host[0, 1], table[ids[0, 1]])
    grad = dev.to_device(np.zeros((7, 3), np.float32))
    embedding_grad_cuda(dev.to_device(dy), dev.to_device(ids), grad)
    inside = ids.copy()
    valid = (ids >= 0) & (ids < 7)
    expected = np.zeros((7, 3), np.float64)
    np.add.at(expected, inside[valid], dy[valid])
    np.testing.assert_allclose(dev.to_host(grad), expected, rtol=1e-6)


def test_compiled_cpu_gradient_equals_the_twin_bit_for_bit():
    from gpunn.kernels import cpu_embedding

    compiled = cpu_embedding()
    if compiled is None:
        pytest.skip("the compiled CPU steps are off (GPUNN_CPU_JIT=0 or no Numba)")
    for dtype in (np.float32, np.float64):
        table, ids, dy = _case(dtype, (9, 13), vocabulary=6, width=5)  # many repeats: the order of the sums shows
        twin, ours = np.empty((6, 5), dtype), np.full((6, 5), 3.0, dtype)
        embedding_grad_numpy(dy, ids, twin)
        compiled.embedding_grad(dy, ids, ours)
        np.testing.assert_array_equal(ours, twin)


@pytest.mark.parametrize("change,match", [
    (dict(table=np.zeros((4, 2), np.int64)), "table"),
    (dict(ids=np.zeros((2, 3), np.int32)), "ids"),
    (dict(out=np.zeros((2, 3, 3), np.float32)), "out"),
    (dict(out=np.zeros((2, 3, 2), np.float64)), "out"),
])
def test_lookup_launcher_names_the_bad_argument(dev, change, match):
    args = dict(table=np.zeros((4, 2), np.float32), ids=np.zeros((2, 3), np.int64), out=np.zeros((2, 3, 2), np.float32))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        embedding_lookup_cuda(**{k: dev.to_device(v) for k, v in args.items()})


@pytest.mark.parametrize("change,match", [
    (dict(dy=np.zeros((2, 3, 3), np.float32)), "dy"),
    (dict(ids=np.zeros((2, 3), np.float32)), "ids"),
    (dict(grad_out=np.zeros(4, np.float32)), "grad_out"),
])
def test_gradient_launcher_names_the_bad_argument(dev, change, match):
    args = dict(dy=np.zeros((2, 3, 2), np.float32), ids=np.zeros((2, 3), np.int64), grad_out=np.zeros((4, 2), np.float32))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        embedding_grad_cuda(**{k: dev.to_device(v) for k, v in args.items()})
