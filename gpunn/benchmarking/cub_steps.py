"""The ``cupy-cub`` contender: gpunn's CuPy backend with CuPy's CUB reductions left on in its eager steps.

CupyOps runs every training step, eager or recorded, with CuPy's accelerators off (``CupyOps.step_conditions``),
so that an eager step computes what its CUDA graphs compute (CUB sums in another order and takes temporary
storage from the memory pool, which a capture must not). Beside ``cupy`` in one run, this contender measures
what that costs an eager step.
"""
from __future__ import annotations

import contextlib


def cub_cupy_ops():
    from ..ops.cupy_ops import CupyOps

    class CubCupyOps(CupyOps):
        name = "cupy-cub"

        def step_conditions(self):
            return contextlib.nullcontext()  # CuPy's accelerators as the process set them (CUB by default)

    return CubCupyOps()
