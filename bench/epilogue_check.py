"""Does Dense's forward GEMM with cuBLASLt's bias + ReLU epilogue run here, and give the right numbers? One
line and an exit status, in a process of its own: the GPU visit runs it before the benchmark stages and times
the epilogue contenders (``cupy-graph-lt``, ``step_parts.py --epilogues``) only when it passed, so that a
broken cuBLASLt call cannot take the other contenders' figures down with it.

    python bench/epilogue_check.py        exit 0: fused and right; 1: wrong, or nothing fused; 2: no GPU here
"""
from __future__ import annotations

import sys

import numpy as np


def main() -> int:
    from gpunn import _compat

    cp = _compat.cupy()
    if cp is None or not _compat.has_cupy_gpu():
        print(f"epilogues: skipped, no GPU ({_compat.cupy_unavailable_reason()})")
        return 2
    from gpunn.ops.cupy_ops import CupyOps

    ops = CupyOps(matmul_epilogues=True)
    if not ops.fuses_bias_act_into_matmul("relu", np.float32):
        print("epilogues: cuBLASLt could not be opened")
        return 1
    rng = np.random.default_rng(7)
    worst = 0.0
    for activation in ("relu", "linear"):
        for m, k, n in ((256, 512, 384), (33, 17, 9)):
            a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
            bias = rng.standard_normal(n).astype(np.float32)
            expected = a.astype(np.float64) @ b.astype(np.float64) + bias
            expected = np.maximum(expected, 0) if activation == "relu" else expected
            for left in (cp.asarray(a), cp.asarray(np.ascontiguousarray(a.T)).T):
                out = cp.full((m, n), cp.nan, np.float32)
                ops.matmul_bias_act(left, cp.asarray(b), cp.asarray(bias), activation, out)
                got = cp.asnumpy(out)
                error = float(np.linalg.norm(got - expected) / np.linalg.norm(expected))
                if not np.isfinite(got).all() or error > 1e-5:
                    print(f"epilogues: wrong for {activation} {m}x{k}x{n}: relative error {error:.2e}")
                    return 1
                worst = max(worst, error)
    plans = ops._epilogue_engine()._plans.values()
    if not any(plan is not False for plan in plans):
        print("epilogues: cuBLASLt offered no algorithm: nothing was fused")
        return 1
    print(f"epilogues: fused and right (worst relative error {worst:.1e}, {len(plans)} plans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
