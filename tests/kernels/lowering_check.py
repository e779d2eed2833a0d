"""Compile every CUDA kernel for a real GPU (H100/H200, sm_90) without needing one, and check its arithmetic.

The simulator runs kernels as Python, so it cannot catch Numba typing errors, float32 kernels that silently
compute in float64 (a 2x-64x slowdown on GPUs), nor a toolchain that cannot build them. Each kernel variant
goes the way the real launch path takes it, stage by stage:

1. Numba's CUDA pipeline lowers it to LLVM IR (numba-cuda needs libNVVM for this already): fails on float64
   arithmetic or conversions in float32 kernels;
2. NVVM compiles the IR to PTX for compute_90a (numba-cuda targets the 'a' variant on Hopper): reports the
   PTX ``.version`` / ``.target``;
3. nvJitLink links the PTX to an sm_90a cubin (the driver is not involved when nvJitLink is installed).

A missing NVVM or nvJitLink skips its stages with the reason. Run as a script with NUMBA_ENABLE_CUDASIM unset:
``python tests/kernels/lowering_check.py [--all] [--only=NAME]`` (--all adds float64 and every bias mode,
--only keeps the variants whose name contains NAME); test_launch.py runs it in a subprocess. Exit status:
0 every stage ran and passed, 1 a kernel failed, 2 run under the simulator, 3 passed but a stage was skipped
(the SKIP lines say why).
"""
from __future__ import annotations

import os
import re
import sys
import time
import types as pytypes

import numpy as np

from gpunn import toolchain

_DOUBLE_OPS = re.compile(
    r"\b(fadd|fsub|fmul|fdiv|frem|fneg|fcmp \w+) (fast )?double\b|\bfpext\b|to double\b"
    r"|call double @")

DEVICE_CC = (9, 0)  # what an H100/H200 reports as its compute capability
BUILD_CC = (9, 0, "a")  # what numba-cuda compiles and links for on such a device (CUDACodeLibrary._ensure_cc)
EXIT_FAILED, EXIT_SIMULATOR, EXIT_SKIPPED = 1, 2, 3


def _cases(full: bool):
    """(name, kernel dispatcher, sample args, dtype) for each kernel variant to lower. The optimizer-state
    kernels compute in float64 by design (one thread, the step's scalars) and are checked as float64."""
    from gpunn.kernels import (bias_act, clip_norm, dropout, embedding, gather_rows, gaussian_noise, optimizer_state,
                               optimizer_updates as opt, sigmoid_bce, softmax_xent,
                               weight_average)
    from gpunn.kernels.activations import ACTIVATIONS
    from gpunn.optimizers import legacy, schedules

    state = np.zeros(3, np.float64)
    yield "optimizer state advance", optimizer_state._advance_kernel(None), (state,), "float64"
    for schedule in (schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True),
                     schedules.CosineDecay(0.1, 5, alpha=0.1, warmup_target=0.2, warmup_steps=2),
                     schedules.PiecewiseConstantDecay([2, 4], [0.3, 0.2, 0.1]),
                     schedules.InverseTimeDecay(0.1, 2, 0.5),
                     schedules.PolynomialDecay(0.1, 3, 0.01, power=0.5, cycle=True),
                     schedules.CosineDecayRestarts(0.1, 3, t_mul=1.5, m_mul=0.5, alpha=0.1)):
        yield (f"optimizer state advance {type(schedule).__name__}",
               optimizer_state._advance_kernel(schedule.formula()), (state,), "float64")
    decayed = legacy.SGD(0.1, decay=0.01).schedule  # tf.keras 2's decay: the rate read from the device
    yield ("optimizer state advance, rate read on the device",
           optimizer_state._advance_kernel(decayed.formula_of_rate()[0], True), (state, np.zeros(1)), "float64")

    yield "cursor advance", gather_rows._advance_kernel(), (np.zeros(1, np.int64), np.int64(4)), "int64"
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
        counter = np.zeros(1, np.int64)
        yield "dropout fwd", dropout._forward_kernel(dt), (flat, flat, mask, counter, u, u, T(2.0)), dt
        yield "dropout bwd", dropout._backward_kernel(dt), (flat, mask, flat, T(2.0)), dt
        yield "random normal", gaussian_noise._normal_kernel(dt), (flat, counter, u, T(0.0), T(1.0)), dt
        yield "gather rows", gather_rows._gather_kernel(), (m, labels, counter, np.int64(0), m), dt
        yield "embedding lookup", embedding._lookup_kernel(), (m, labels, m), dt
        yield "embedding scatter-add", embedding._scatter_add_kernel(), (m, labels, m), dt
        sc = np.zeros(2, dt)  # the update's step size and decay, made on the device from the optimizer state
        for kind, size in opt.STEP_SCALARS.items():
            yield (f"optimizer step scalars {kind} ({dt})", opt._step_scalars_kernel(kind),
                   (state, np.zeros(size, dt), 0.9, 0.999), "float64")
        for mom, nest in ((False, False), (True, False), (True, True)):
            yield (f"sgd momentum={mom} nesterov={nest}", opt._sgd_kernel(mom, nest),
                   (flat, flat, flat, sc, T(0.9)), dt)
        for centered in (False, True):
            for mom in (False, True):
                for outside in (False, True):
                    yield (f"rmsprop centered={centered} momentum={mom} epsilon_outside={outside}",
                           opt._rmsprop_kernel(dt, centered, mom, outside),
                           (flat,) * 5 + (sc, T(0.9), T(0.1), T(0.9), T(1e-7)), dt)
        for outside in (False, True):
            yield (f"adagrad epsilon_outside={outside}", opt._adagrad_kernel(outside),
                   (flat, flat, flat, sc, T(1e-7)), dt)
        for ams in (False, True):
            yield (f"adam amsgrad={ams}", opt._adam_kernel(dt, ams),
                   (flat,) * 5 + (sc, T(0.1), T(0.001), T(1e-7)), dt)
        yield "nadam", opt._nadam_kernel(dt), (flat,) * 4 + (np.zeros(5, dt), T(0.1), T(0.001), T(1e-7)), dt
        yield "adamax", opt._adamax_kernel(dt), (flat,) * 4 + (sc, T(0.1), T(0.999), T(1e-7)), dt
        yield "adadelta", opt._adadelta_kernel(dt), (flat,) * 4 + (sc, T(0.95), T(0.05), T(1e-7)), dt
        yield "lion", opt._lion_kernel(dt), (flat,) * 3 + (sc, T(0.9), T(0.1), T(0.99), T(0.01)), dt
        yield ("schedule-free adamw", opt._schedule_free_adamw_kernel(dt),
               (flat,) * 4 + (np.zeros(5, dt), T(0.9), T(0.1), T(0.001), T(1e-8)), dt)
        for half_power in (True, False):
            yield (f"ftrl half_power={half_power}", opt._ftrl_kernel(dt, half_power),
                   (flat,) * 4 + (np.zeros(3, dt), T(0.5), T(0.01), T(0.1)), dt)
        chunks, partials, lamb_sc = opt.lamb_chunks(((0, 3), (3, 7))), np.zeros((2, 2), dt), np.zeros(4, dt)
        lamb_moments, lamb_apply = opt._lamb_kernels(dt)
        yield ("lamb moments", lamb_moments, (flat,) * 4 + (chunks, partials, lamb_sc, T(0.1), T(0.001), T(1e-7)),
               dt)
        yield "lamb apply", lamb_apply, (flat,) * 3 + (chunks, partials, lamb_sc, T(1e-7)), dt
        yield (f"moving average scalars ({dt})", weight_average._scalars_kernel(),
               (state, np.zeros(weight_average.SCALARS, dt), 0.99, 3.0, 1.0), "float64")
        yield ("moving average", weight_average._average_kernel(dt), (flat, flat, np.zeros(weight_average.SCALARS, dt)),
               dt)
        partial_squares, apply_scale = clip_norm._kernels(dt)
        yield "clip partial squares", partial_squares, (flat, np.zeros(2, dt)), dt
        yield "clip apply scale", apply_scale, (flat, np.zeros(2, dt), np.ones(3, dt)), dt


class Stages:
    """Which of the stages after lowering can run here, and why not when one cannot."""

    def __init__(self):
        self.nvvm = toolchain.fail_soft(toolchain.probe_nvvm)
        self.nvjitlink = toolchain.fail_soft(toolchain.probe_nvjitlink)
        self.linker = toolchain.fail_soft(toolchain.probe_linker)
        self.skipped: dict[str, str] = {}
        if "error" in self.nvvm:
            self.skipped["ptx"] = (f"libNVVM is not usable ({self.nvvm['error']}); install nvidia-nvvm "
                                   "(numba-cuda[cu13]) or nvidia-cuda-nvcc-cu12 (numba-cuda[cu12])")
        if "error" in self.nvjitlink or self.linker.get("backend") != "nvJitLink":
            why = self.nvjitlink.get("error") or f"cuda.core links with {self.linker.get('backend') or '?'}"
            self.skipped["cubin"] = (f"nvJitLink is not usable ({why}); without it linking needs the driver and a "
                                     "GPU: install nvidia-nvjitlink (numba-cuda[cu13]) or nvidia-nvjitlink-cu12")

    def runs(self, stage: str) -> bool:
        return stage not in self.skipped


def compile_kernel(kernel, args):
    """The kernel's code library as the dispatcher builds it for a launch on DEVICE_CC (kernel fixups
    included), without a device."""
    import numba
    from numba.core import types
    from numba.cuda.compiler import compile_cuda, kernel_fixup

    argtypes = tuple(numba.typeof(a) for a in args)
    cres = compile_cuda(kernel.py_func, types.void, argtypes, nvvm_options={"fastmath": False, "opt": 3},
                        cc=DEVICE_CC)
    library = cres.library
    entry = library.get_function(cres.fndesc.llvm_func_name)
    library._entry_name = cres.fndesc.llvm_func_name
    kernel_fixup(entry, False)
    return library


def float64_lines(llvm_ir: str) -> list[str]:
    return [line.strip() for line in llvm_ir.splitlines() if _DOUBLE_OPS.search(line)]


def check_kernel(name, kernel, args, dt, stages: Stages, seen: dict) -> list[str]:
    """Every stage for one kernel variant, noting the PTX header and cubin size in ``seen``; the failures,
    as messages."""
    library = compile_kernel(kernel, args)
    failures = []
    if dt == "float32":
        bad = float64_lines(library.get_llvm_str())
        if bad:
            failures.append(f"float64 arithmetic: {bad[:3]}")
    if stages.runs("ptx"):
        header = toolchain.ptx_header(library.get_asm_str(cc=BUILD_CC))
        seen["ptx"].setdefault((header.get("ptx_isa"), header.get("target")), []).append(name)
    if stages.runs("ptx") and stages.runs("cubin"):
        cubin = library.get_cubin(cc=BUILD_CC)
        code = bytes(getattr(cubin, "code", cubin))
        if code[:4] != b"\x7fELF":
            failures.append("the linker returned something that is not an ELF cubin")
        seen["cubin_bytes"] += len(code)
    return failures


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _message(exc: BaseException, max_lines: int = 12) -> str:
    """The exception's message, indented under its FAIL line (Numba's first line alone names only the stage)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    shown = "\n".join(f"    {line}" for line in lines[1:max_lines])
    return f"{_first_line(exc)}" + (f"\n{shown}" if shown else "")


def main(argv) -> int:
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        print("run with NUMBA_ENABLE_CUDASIM unset: the simulator does not lower kernels")
        return EXIT_SIMULATOR
    import numba.cuda.dispatcher as dispatcher

    # Device functions ask the current device for its compute capability; pretend an H100 is there.
    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=DEVICE_CC)
    stages = Stages()
    for stage, reason in stages.skipped.items():
        print(f"SKIP {stage}: {reason}")
    failures, count, first_error = 0, 0, None
    seen = {"ptx": {}, "cubin_bytes": 0}  # (.version, .target) -> kernel names; bytes of cubin linked
    start = time.perf_counter()
    only = [a.split("=", 1)[1] for a in argv if a.startswith("--only=")]
    for name, kernel, args, dt in _cases("--all" in argv):
        if only and not any(part in name for part in only):
            continue
        try:
            problems = check_kernel(name, kernel, args, dt, stages, seen)
        except Exception as exc:  # report every broken kernel, not just the first
            if "error" in stages.nvvm and count == 0:  # without NVVM nothing lowers: not the kernels' fault
                print(f"SKIP lowering: this numba-cuda needs libNVVM even to lower to LLVM IR ({_first_line(exc)})")
                return EXIT_SKIPPED
            failures += 1
            first_error = first_error or exc
            print(f"FAIL {dt} {name}: {_message(exc)}")
            continue
        count += 1
        for problem in problems:
            failures += 1
            print(f"FAIL {dt} {name}: {problem}")
    elapsed = time.perf_counter() - start
    _print_summary(seen, stages, count)
    backend = stages.linker.get("backend")
    if first_error is not None and toolchain.classify_link_error(toolchain.exception_text(first_error),
                                                                 backend) != "unknown":
        print(toolchain.diagnose_link_error(first_error))
    print(f"compiled {count} kernels in {elapsed:.1f} s, {failures} failures")
    if failures:
        return EXIT_FAILED
    return EXIT_SKIPPED if stages.skipped else 0


def _print_summary(seen: dict, stages: Stages, count: int) -> None:
    for (ptx_isa, target), names in sorted(seen["ptx"].items(), key=str):
        print(f"ptx: .version {ptx_isa} .target {target} ({len(names)} kernels, NVVM of CUDA "
              f"{stages.nvvm.get('release')})")
    if seen["cubin_bytes"]:
        arch = f"sm_{BUILD_CC[0]}{BUILD_CC[1]}{BUILD_CC[2]}"
        print(f"cubin: {count} kernels linked for {arch} by nvJitLink {stages.nvjitlink.get('version')} "
              f"({seen['cubin_bytes']} bytes)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
