"""Where one training step's device time goes: each backend call of the recorded step timed on its own, grouped
by primitive (matmul, the fused bias+activation steps, the loss, the optimizer update, ...), beside the whole
step replayed as a CUDA graph.

The step is gpunn's recorded training step (``jit_compile=True``) of a Dense-relu MLP with Adam and sparse
softmax cross-entropy on a batch already on the device, as ``gpunn bench`` runs it. Its calls are run in order,
call by call, with a CUDA event before and after each (on the CPU, the host clock): the device time of each call,
with the queue kept full (no synchronisation between calls). The median over ``--repeats`` runs is reported per
call, then summed per primitive. The graph's step time is the median of ``--repeats`` blocks of ``--steps``
replays. What the matmuls take of the step, against the measured matmul peak, says how much the memory-bound
steps leave to win.

Each matmul of the step is listed too (its shapes, ``T`` marking an operand passed as a transposed view), with
the same product timed through the array library's own matmul and, where PyTorch is installed, through
``torch.matmul`` on the same memory, and for a forward product ``torch._addmm_activation`` (cuBLASLt's
bias + ReLU epilogue on a GPU) beside gpunn's matmul followed by its bias+ReLU kernel, and on a GPU through
cuBLASLt with the algorithm its heuristic picks and with the fastest of its first few (timed): whether another
GEMM path, folding the bias and activation into the GEMM, or choosing GEMM algorithms by timing would pay.

    python bench/step_parts.py --layers 4096-4096-4096-10 --batch 4096 [--tf32]      (on a GPU)
    python bench/step_parts.py --backend numpy --layers 64-32-10 --batch 16           (the same on the CPU)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


# The calls that are GEMMs: plain, or with a bias, an activation or ReLU's derivative folded in (cuBLASLt).
GEMM_PRIMITIVES = ("matmul", "matmul_bias_act", "matmul_bias_relu_mask", "matmul_relu_backward")
LT_ALGORITHMS = 8  # cuBLASLt algorithms timed per product, the heuristic's first ones
LT_HEURISTIC, LT_BEST = "cuBLASLt heuristic's", f"cuBLASLt best of {LT_ALGORITHMS}"


def _ops(backend: str, epilogues: bool = False):
    from gpunn.ops import NumpyOps

    if backend == "numpy":
        return NumpyOps()
    from gpunn.ops.cupy_ops import CupyOps

    return CupyOps(matmul_epilogues=epilogues)


class _Clock:
    """Marks on the device's queue (CUDA events) or the host's clock; ``elapsed(a, b)`` in seconds."""

    def __init__(self, ops):
        self.ops = ops
        self.cp = None if ops.xp is np else ops.xp

    def mark(self):
        if self.cp is None:
            return time.perf_counter()
        event = self.cp.cuda.Event()
        event.record()
        return event

    def elapsed(self, a, b) -> float:
        if self.cp is None:
            return b - a
        b.synchronize()
        return self.cp.cuda.get_elapsed_time(a, b) / 1e3


def _recorded_calls(step) -> list:
    """The recorded step's bound calls (the contender has run its recording step)."""
    recordings = [recorded for state in step.train_step._states.values() for recorded in state.recordings.values()]
    if len(recordings) != 1:
        raise RuntimeError(f"expected one recorded step, found {len(recordings)}")
    return [bound for bound, _kind in recordings[0].tape.calls]


def _call_name(bound) -> str:
    function = getattr(bound, "func", bound)
    return getattr(function, "__name__", None) or repr(function)


def _layout(x) -> str:
    shape = f"{x.shape[0]}x{x.shape[1]}"
    return shape if x.flags.c_contiguous else shape + " (T)"


def _median_time(clock, run, repeats: int) -> float:
    for _ in range(2):  # warm-up: the library picks its kernel
        run()
    times = []
    for _ in range(repeats):
        start = clock.mark()
        run()
        times.append(clock.elapsed(start, clock.mark()))
    return statistics.median(times)


def _torch_view(torch, x):
    """A torch tensor on ``x``'s memory, strides included (a transposed view stays one)."""
    return torch.as_tensor(x, device="cuda") if hasattr(x, "__cuda_array_interface__") else torch.from_numpy(x)


def _reference_matmuls(ops, clock, products: list, repeats: int) -> dict:
    """{(a layout, b layout): {reference: seconds}} for each distinct product: the array library's matmul,
    torch.matmul, for a forward product (both operands row-major) torch's matmul + bias + ReLU in one call, and on
    a GPU cuBLASLt's algorithms (``lt_algorithm_times``)."""
    from gpunn import _compat

    torch = _compat.torch()
    lt_engine = None
    if ops.xp is not np:  # the references in the step's precision
        from gpunn.ops import cublaslt_matmul
        from gpunn.ops import tf32 as tf32_setting

        tf32_setting.apply_to_cupy()
        if torch is not None:
            tf32_setting.apply_to_torch(torch)
        lt_engine = cublaslt_matmul.make(ops.xp)
    references: dict = {}
    for a, b in products:
        key = (_layout(a), _layout(b))
        if key in references:
            continue
        out = ops.xp.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        found = {f"{ops.xp.__name__}.matmul": _median_time(clock, lambda: ops.xp.matmul(a, b, out=out), repeats)}
        if torch is not None:
            ta, tb, tout = (_torch_view(torch, x) for x in (a, b, out))
            found["torch.matmul"] = _median_time(clock, lambda: torch.matmul(ta, tb, out=tout), repeats)
            if a.flags.c_contiguous and b.flags.c_contiguous:
                bias = torch.zeros(b.shape[1], dtype=ta.dtype, device=ta.device)
                found["torch addmm+relu"] = _median_time(
                    clock, lambda: torch._addmm_activation(bias, ta, tb, use_gelu=False), repeats)
        if lt_engine is not None:
            found.update(lt_algorithm_times(lt_engine, ops.xp, clock, a, b, out, ops.allow_tf32,
                                            ops.xp.cuda.get_current_stream().ptr, repeats))
        references[key] = found
    return references


def lt_algorithm_times(engine, xp, clock, a, b, out, tf32: bool, stream_ptr: int, repeats: int,
                       count: int = LT_ALGORITHMS) -> dict:
    """The product through cuBLASLt, a zero bias folded in as a Dense layer's would be: {reference: seconds} for
    the algorithm its heuristic ranks first (what gpunn's epilogue GEMMs run) and for the fastest of the first
    ``count`` it offers (what timing the candidates once per shape, at plan time, would run); {} when cuBLASLt
    takes no such call."""
    bias = xp.zeros(b.shape[1], dtype=a.dtype)
    if not engine.supports(a, b, out, bias, "linear"):
        return {}
    plans = engine.candidate_plans(a, b, out, bias, "linear", tf32, count)
    times = [_median_time(clock, lambda plan=plan: plan.run(a.data.ptr, b.data.ptr, out.data.ptr, bias.data.ptr,
                                                             None, stream_ptr, a.dtype), repeats) for plan in plans]
    if not times:
        return {}
    return {LT_HEURISTIC: times[0], LT_BEST: min(times)}


def measure(backend: str, layers: tuple, batch: int, repeats: int, steps: int, tf32: bool,
            epilogues: bool = False) -> dict:
    from gpunn.benchmarking.gpunn_step import GpunnStep
    from gpunn.benchmarking.runner import initial_weights, make_batch
    from gpunn.distributed import LocalCommunicator
    from gpunn.ops import tf32 as tf32_setting
    from gpunn.ops.recording import describe_call

    ops = _ops(backend, epilogues)
    if backend != "numpy":
        tf32_setting.set_tf32(tf32)
    step = GpunnStep(f"{backend}-replay", ops, backend, LocalCommunicator(), jit=True)
    x, y = make_batch(layers, batch, 0)
    step.setup(layers, x, y, initial_weights(layers, 0))
    for _ in range(3):  # the recording step, the capture, a replay
        step.step()
    step.synchronize()
    clock = _Clock(ops)

    whole = []
    for _ in range(repeats):
        start = clock.mark()
        for _ in range(steps):
            step.step()
        whole.append(clock.elapsed(start, clock.mark()) / steps)

    calls = _recorded_calls(step)
    per_call = [[] for _ in calls]
    for _ in range(repeats):
        marks = [clock.mark()]
        with ops.step_conditions():  # the kernels the graph holds (on CuPy: its own reductions, not CUB's)
            for bound in calls:
                bound()
                marks.append(clock.mark())
        for i in range(len(calls)):
            per_call[i].append(clock.elapsed(marks[i], marks[i + 1]))
    by_name: dict = {}
    for bound, times in zip(calls, per_call):
        name = _call_name(bound)
        count, seconds = by_name.get(name, (0, 0.0))
        by_name[name] = (count + 1, seconds + statistics.median(times))
    matmuls = []
    for bound, times in zip(calls, per_call):
        name, arguments = describe_call(bound)
        if name == "matmul":
            a, b = arguments["a"], arguments["b"]
            matmuls.append({"a": _layout(a), "b": _layout(b), "ms": statistics.median(times) * 1e3,
                            "gflop": 2 * a.shape[0] * a.shape[1] * b.shape[1] / 1e9, "operands": (a, b)})
    references = _reference_matmuls(ops, clock, [m.pop("operands") for m in matmuls], repeats)
    for m in matmuls:
        m["references_ms"] = {name: seconds * 1e3 for name, seconds in references[m["a"], m["b"]].items()}
    matmul_flops = 6 * batch * sum(a * b for a, b in zip(layers[:-1], layers[1:])) - 2 * batch * layers[0] * layers[1]
    return {"backend": backend, "layers": "-".join(map(str, layers)), "batch": batch, "tf32": tf32,
            "epilogues": epilogues,
            "step_ms": statistics.median(whole) * 1e3, "calls": len(calls),
            "by_primitive": {name: {"calls": count, "ms": seconds * 1e3} for name, (count, seconds) in
                             sorted(by_name.items(), key=lambda item: -item[1][1])},
            "matmul_gflop": matmul_flops / 1e9, "matmuls": matmuls}


def report(result: dict) -> str:
    total = sum(part["ms"] for part in result["by_primitive"].values())
    lines = [f"## step parts: {result['layers']} at batch {result['batch']}, {result['backend']}"
             f"{', TF32' if result['tf32'] else ''}{', cuBLASLt epilogues' if result.get('epilogues') else ''}",
             "",
             f"replayed step {result['step_ms']:.3f} ms; its {result['calls']} calls one by one {total:.3f} ms; "
             f"matmul work {result['matmul_gflop']:.1f} GFLOP",
             "",
             "| primitive | calls | ms | share of the calls |",
             "|---|---:|---:|---:|"]
    for name, part in result["by_primitive"].items():
        lines.append(f"| {name} | {part['calls']} | {part['ms']:.4f} | {100 * part['ms'] / total:.1f}% |")
    matmul = sum(part["ms"] for name, part in result["by_primitive"].items() if name in GEMM_PRIMITIVES)
    if matmul:
        with_epilogues = " (with the epilogues folded into them)" if result.get("epilogues") else ""
        lines += ["", f"matmuls{with_epilogues}: {result['matmul_gflop'] / matmul:.1f} TFLOP/s over their own "
                      f"time; {result['matmul_gflop'] / result['step_ms']:.1f} TFLOP/s over the replayed step"]
    lines += _matmul_table(result.get("matmuls", []))
    return "\n".join(lines)


def _matmul_table(matmuls: list) -> list:
    """Each matmul of the step in order, its TFLOP/s, and the same product through the reference paths."""
    if not matmuls:
        return []
    names = list(dict.fromkeys(name for m in matmuls for name in m["references_ms"]))
    lines = ["", "| matmul | a | b | GFLOP | ms | TFLOP/s | " + " | ".join(f"{n} ms" for n in names) + " |",
             "|---:|---|---|---:|---:|---:|" + "---:|" * len(names)]
    for i, m in enumerate(matmuls, 1):
        cells = [f"{m['references_ms'][n]:.4f}" if n in m["references_ms"] else "-" for n in names]
        lines.append(f"| {i} | {m['a']} | {m['b']} | {m['gflop']:.2f} | {m['ms']:.4f} | "
                     f"{m['gflop'] / m['ms']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "(T): the operand is a transposed view. torch addmm+relu: the product with a bias added and ReLU "
                  "applied in the same call (cuBLASLt's epilogue on a GPU), beside gpunn's matmul plus "
                  "bias_act_forward. cuBLASLt: the product with a zero bias folded in, through the algorithm "
                  "cuBLASLt's heuristic ranks first, and through the fastest of its first "
                  f"{LT_ALGORITHMS}."]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("cupy", "numpy"), default="cupy")
    parser.add_argument("--layers", default="4096-4096-4096-10")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="graph replays per timed block")
    parser.add_argument("--tf32", action="store_true", help="also with TF32 matmuls")
    parser.add_argument("--epilogues", action="store_true",
                        help="also with Dense's bias + ReLU in cuBLASLt's GEMM epilogue (CuPy)")
    args = parser.parse_args(argv)
    layers = tuple(int(width) for width in args.layers.split("-"))
    for tf32 in ((False, True) if args.tf32 else (False,)):
        for epilogues in ((False, True) if args.epilogues and args.backend == "cupy" else (False,)):
            print(report(measure(args.backend, layers, args.batch, args.repeats, args.steps, tf32, epilogues)))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
