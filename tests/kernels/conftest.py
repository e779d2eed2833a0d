"""Fixtures for the kernel tests: ``dev`` moves arrays to wherever the CUDA launchers run (a GPU, or
the simulator the root conftest enables when no GPU is present)."""
from __future__ import annotations

import pytest
from kernels_testing import Device


@pytest.fixture(scope="session")
def dev():
    return Device()
