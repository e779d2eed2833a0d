"""Test-wide set-up.

Kernel tests run on a real GPU when the driver sees one, else on Numba's CUDA simulator. The choice must
be made before numba is imported anywhere, hence here, at the top of the root conftest.
"""
import os

from gpunn._compat import cuda_driver_device_count

if "NUMBA_ENABLE_CUDASIM" not in os.environ and cuda_driver_device_count() == 0:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gpunn import _compat  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if _compat.has_cupy_gpu():
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU: {_compat.cupy_unavailable_reason()}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def device_segments_checked():
    """Fails the test when a NumPy replay ran Python of the test's own (the user's code) or an allocating Ops
    call inside a device run of a recorded step: work a CUDA graph would freeze (``graph_segments.py``)."""
    from graph_segments import watch_device_segments

    with watch_device_segments() as watch:
        yield watch
    assert not watch.found, f"inside what a CUDA graph would capture: {watch.report()}"
