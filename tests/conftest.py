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


@pytest.fixture(autouse=True)
def device_segments_checked(request):
    """Fails a test when a NumPy replay ran Python of the tests' own (the user's code of a test) or an allocating
    Ops call inside a device run of a recorded step: work a CUDA graph would freeze (``graph_segments.py``). Not
    for the kernel tests, whose simulated backends are Python of the tests' own, nor the GPU suite (its graphs
    are the real check)."""
    if request.node.path.parent.name == "kernels" or "gpu" in request.keywords:
        yield None
        return
    from graph_segments import watch_device_segments

    with watch_device_segments() as watch:
        yield watch
    assert not watch.found, f"inside what a CUDA graph would capture: {watch.report()}"
