"""Do the GEMMs with cuBLASLt's epilogues run here and give the right numbers (a Dense layer's forward with bias
+ ReLU, and the ReLU-mask pair a recording's backward uses: RELU_AUX_BIAS, then DRELU_BGRAD)? One
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
    engine = ops._epilogue_engine()
    error = _mask_pair_error(cp, engine, rng)
    if error is None or not np.isfinite(error) or error > 1e-5:
        print("epilogues: the ReLU mask pair (RELU_AUX_BIAS, DRELU_BGRAD) "
              + ("has no algorithm" if error is None else f"is wrong: relative error {error:.2e}"))
        return 1
    worst = max(worst, error)
    plans = engine._plans.values()
    if not any(plan is not False for plan in plans):
        print("epilogues: cuBLASLt offered no algorithm: nothing was fused")
        return 1
    print(f"epilogues: fused and right (worst relative error {worst:.1e}, {len(plans)} plans)")
    return 0


def _mask_pair_error(cp, engine, rng):
    """A ReLU layer's forward GEMM writing its mask, then the next layer's input-gradient GEMM applying it and
    summing the bias gradient: the worse relative error of the two results, or None without an algorithm."""
    from gpunn.ops import cublaslt_matmul

    rows, inputs, units, following = 96, 64, 200, 48
    x, w = rng.standard_normal((rows, inputs)), rng.standard_normal((inputs, units))
    bias = rng.standard_normal(units)
    dz, w_next = rng.standard_normal((rows, following)), rng.standard_normal((units, following))
    dev = {name: cp.asarray(value.astype(np.float32)) for name, value in
           (("x", x), ("w", w), ("bias", bias), ("dz", dz), ("w_next", w_next))}
    y, d = cp.empty((rows, units), np.float32), cp.empty((rows, units), np.float32)
    dbias = cp.empty(units, np.float32)
    mask = cp.zeros(cublaslt_matmul.mask_bytes(rows, units), np.uint8)
    forward = (dev["x"], dev["w"], y, dev["bias"], mask)
    backward = (dev["dz"], dev["w_next"].T, d, dbias, mask)
    if not (engine.supports_masked(*forward) and engine.supports_masked(*backward)
            and engine.prepare(*forward, "relu_mask", False) and engine.prepare(*backward, "relu_grad", False)):
        return None
    engine.run_masked(*forward, "relu_mask", False)
    engine.run_masked(*backward, "relu_grad", False)
    expected_y = np.maximum(x @ w + bias, 0)
    # ReLU's derivative where the GPU's own output is positive: an output within rounding of 0 may fall on
    # either side in float32 and float64
    expected_d = (dz @ w_next.T) * (cp.asnumpy(y) > 0)
    return max(float(np.linalg.norm(cp.asnumpy(got) - want) / np.linalg.norm(want)) for got, want in
               ((y, expected_y), (d, expected_d), (dbias, expected_d.sum(axis=0))))


if __name__ == "__main__":
    sys.exit(main())
