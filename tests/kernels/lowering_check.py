"""Lower every CUDA kernel for a real GPU (sm_90) without needing one, and check its arithmetic.

The simulator runs kernels as Python, so it cannot catch Numba typing errors or float32 kernels that
silently compute in float64 (a 2x-64x slowdown on GPUs). This compiles each kernel to LLVM IR with
Numba's CUDA pipeline (no driver, no NVVM needed) and fails on float64 arithmetic or conversions in
float32 kernels. Run as a script (``python tests/kernels/lowering_check.py [--all]``) with
NUMBA_ENABLE_CUDASIM unset; test_lowering.py runs it in a subprocess.
"""
from __future__ import annotations

import os
import re
import sys
import time
import types as pytypes

import numpy as np

_DOUBLE_OPS = re.compile(
    r"\b(fadd|fsub|fmul|fdiv|frem|fneg|fcmp \w+) (fast )?double\b|\bfpext\b|to double\b"
    r"|call double @")


def _cases(full: bool):
    """(name, kernel dispatcher, sample args, dtype) for each kernel variant to lower."""
    from gpunn.kernels import bias_act, dropout, optimizer_updates as opt, sigmoid_bce, softmax_xent
    from gpunn.kernels.activations import ACTIVATIONS

    dtypes = ("float32", "float64") if full else ("float32",)
    for dt in dtypes:
        T = np.dtype(dt).type
        m = np.zeros((3, 5), dt)
        v = np.zeros(5, dt)
        flat = np.zeros(7, dt)
        labels = np.zeros(3, np.int64)
        loss = np.zeros(3, dt)
        for act in ACTIVATIONS:
            for has_bias in ((False, True) if full else (True,)):
                yield (f"bias_act fwd {act} bias={has_bias}", bias_act._forward_kernel(act, dt, has_bias),
                       (m, v, m, T(0.2)), dt)
            for mode in (("none", "store", "atomic") if full else ("atomic",)):
                yield (f"bias_act bwd {act} {mode}", bias_act._backward_kernel(act, dt, mode),
                       (m, m, m, m, v, T(0.2)), dt)
        yield "zero", bias_act._zero_kernel(), (v,), dt
        for sparse in (True, False):
            for grad in (True, False):
                lab = labels if sparse else m
                yield (f"softmax_xent sparse={sparse} grad={grad}", softmax_xent._xent_kernel(dt, sparse, grad),
                       (m, lab, m, m, loss, T(1.0)), dt)
        yield "softmax", softmax_xent._softmax_kernel(dt), (m, m), dt
        for grad in (True, False):
            yield f"sigmoid_bce grad={grad}", sigmoid_bce._bce_kernel(dt, grad), (m, m, m, m, loss, T(1.0)), dt
        u = np.uint64(1)
        mask = np.zeros(7, np.uint8)
        yield "dropout mask", dropout._mask_kernel(), (mask, u, u, u), dt
        yield "dropout fwd", dropout._forward_kernel(dt), (flat, flat, mask, u, u, u, T(2.0)), dt
        yield "dropout bwd", dropout._backward_kernel(dt), (flat, mask, flat, T(2.0)), dt
        for mom, nest in ((False, False), (True, False), (True, True)):
            yield (f"sgd momentum={mom} nesterov={nest}", opt._sgd_kernel(mom, nest),
                   (flat, flat, flat, T(0.1), T(0.9), T(1.0)), dt)
        for centered in (False, True):
            for mom in (False, True):
                yield (f"rmsprop centered={centered} momentum={mom}", opt._rmsprop_kernel(dt, centered, mom),
                       (flat,) * 5 + (T(0.1), T(0.9), T(0.1), T(0.9), T(1e-7), T(1.0)), dt)
        yield "adagrad", opt._adagrad_kernel(), (flat, flat, flat, T(0.1), T(1e-7), T(1.0)), dt
        for ams in (False, True):
            yield (f"adam amsgrad={ams}", opt._adam_kernel(dt, ams),
                   (flat,) * 5 + (T(0.1), T(0.1), T(0.001), T(1e-7), T(1.0)), dt)


def main(argv) -> int:
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        print("run with NUMBA_ENABLE_CUDASIM unset: the simulator does not lower kernels")
        return 2
    import numba
    import numba.cuda.dispatcher as dispatcher
    from numba.core import types
    from numba.cuda.compiler import compile_cuda

    # Device functions ask the current device for its compute capability; pretend an H100 is there.
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))
    failures = 0
    start = time.perf_counter()
    count = 0
    for name, kernel, args, dt in _cases("--all" in argv):
        argtypes = tuple(numba.typeof(a) for a in args)
        try:
            cres = compile_cuda(kernel.py_func, types.void, argtypes, cc=(9, 0))
        except Exception as exc:  # report every broken kernel, not just the first
            failures += 1
            print(f"FAIL {dt} {name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            continue
        count += 1
        if dt == "float32":
            ir = cres.library.get_llvm_str()
            bad = [line.strip() for line in ir.splitlines() if _DOUBLE_OPS.search(line)]
            if bad:
                failures += 1
                print(f"FAIL float32 {name}: float64 arithmetic: {bad[:3]}")
    print(f"lowered {count} kernels in {time.perf_counter() - start:.1f} s, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
