"""gather_rows.py: the CUDA gather at a device cursor against its NumPy twin (tiny, odd shapes), the cursor
advanced on the device, argument checks."""
import numpy as np
import pytest

from gpunn.kernels.gather_rows import (
    advance_cursor_cuda,
    advance_cursor_numpy,
    gather_rows_cuda,
    gather_rows_numpy,
)


@pytest.mark.parametrize("dtype,sample_shape", [(np.float32, (5,)), (np.float64, (3, 2)), (np.int64, ()),
                                                (np.int32, (7,)), (np.float32, (1,))])
@pytest.mark.parametrize("cursor_at,offset,rows", [(0, 0, 3), (4, 1, 2), (6, 0, 5)])
def test_gather_matches_twin_and_definition(dev, dtype, sample_shape, cursor_at, offset, rows):
    rng = np.random.default_rng(3)
    n = 11
    source = (rng.standard_normal((n,) + sample_shape) * 100).astype(dtype)
    order = rng.permutation(n).astype(np.int64)
    cursor = np.array([cursor_at], dtype=np.int64)
    expected = source[order[cursor_at + offset:cursor_at + offset + rows]]

    twin_out = np.zeros((rows,) + sample_shape, dtype)
    gather_rows_numpy(source, order, cursor, offset, twin_out)
    np.testing.assert_array_equal(twin_out, expected)

    out = dev.to_device(np.zeros((rows,) + sample_shape, dtype))
    gather_rows_cuda(dev.to_device(source), dev.to_device(order), dev.to_device(cursor), offset, out)
    np.testing.assert_array_equal(dev.to_host(out), expected)


def test_cursor_advances_on_the_device_and_the_next_gather_follows(dev):
    source = np.arange(20, dtype=np.float32).reshape(10, 2)
    order = np.arange(10)[::-1].copy()
    cursor = dev.to_device(np.zeros(1, np.int64))
    d_source, d_order = dev.to_device(source), dev.to_device(order)
    out = dev.to_device(np.zeros((3, 2), np.float32))
    seen = []
    for _ in range(3):
        gather_rows_cuda(d_source, d_order, cursor, 0, out)
        advance_cursor_cuda(cursor, 3)
        seen.append(dev.to_host(out))
    assert int(dev.to_host(cursor)[0]) == 9
    np.testing.assert_array_equal(np.concatenate(seen), source[order[:9]])

    host_cursor = np.zeros(1, np.int64)
    advance_cursor_numpy(host_cursor, 4)
    advance_cursor_numpy(host_cursor, 4)
    assert host_cursor[0] == 8


def test_twin_refuses_rows_past_the_order():
    source = np.zeros((4, 2), np.float32)
    with pytest.raises(IndexError, match="cursor"):
        gather_rows_numpy(source, np.arange(4), np.array([3]), 0, np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("change,match", [
    (dict(cursor=np.zeros(2, np.int64)), "cursor"),
    (dict(order=np.arange(5, dtype=np.int32)), "order"),
    (dict(out=np.zeros((2, 3), np.float32)), "out"),
    (dict(out=np.zeros((2, 2), np.float64)), "source"),
    (dict(offset=-1), "offset"),
])
def test_cuda_launcher_names_the_bad_argument(dev, change, match):
    args = dict(source=np.zeros((5, 2), np.float32), order=np.arange(5, dtype=np.int64),
                cursor=np.zeros(1, np.int64), offset=0, out=np.zeros((2, 2), np.float32))
    args.update(change)
    device_args = {k: (dev.to_device(v) if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    with pytest.raises(ValueError, match=match):
        gather_rows_cuda(**device_args)
