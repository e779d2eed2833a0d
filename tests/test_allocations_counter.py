"""The allocation counter itself: it sees temporaries, and nothing when code writes into given buffers."""
import numpy as np

from allocations import count_numpy_allocations, describe


def test_counter_sees_a_temporary_and_nothing_else():
    a = np.ones(1000)
    with count_numpy_allocations() as events:
        _ = (a + a).sum()  # two temporaries: the sum array and the 0-d result
    assert len(events) >= 2 and any(size >= 8000 for size, _ in events), describe(events)


def test_writing_into_given_buffers_allocates_nothing():
    a, out = np.ones((64, 32)), np.empty((64, 32))
    with count_numpy_allocations() as events:
        np.add(a, a, out=out)
        np.matmul(a, a.T[:, :32], out=out)
    assert events == [], describe(events)


def test_arrays_made_under_the_counter_outlive_it():
    with count_numpy_allocations():
        kept = np.arange(10.0)
    kept += 1  # freed later through NumPy's default allocator
    assert kept.sum() == 55.0
