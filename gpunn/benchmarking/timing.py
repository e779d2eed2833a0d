"""Clocks and the measuring loop.

Rules every figure follows:

* warm-up is excluded: kernels compile, memory pools fill and caches warm before the first timed step;
* the device is synchronised before a clock is read: on a GPU the time comes from CUDA events recorded on
  the stream the work runs on (``cupy.cuda.Event`` for CuPy, ``torch.cuda.Event`` for PyTorch), on the CPU
  from ``perf_counter`` after ``synchronize()`` (a no-op there);
* one repeat is ``steps_per_repeat`` back-to-back steps, so a step of a few microseconds is timed over many
  steps and the clock's own cost vanishes; the count is calibrated per contender to last ``min_time``;
* contenders take turns repeat by repeat (in alternating order), so all of them see the same machine
  conditions and their ratios are measured in the same run;
* on the CPU, a contender whose thread pool differs from the last one's starts after a short idle pause:
  OpenBLAS threads keep spinning for about a tenth of a second after their last call, and while they spin
  PyTorch's OpenMP threads (and the other way round) fight them for the cores. On a 2-core machine a
  PyTorch step right after a NumPy matmul measured 100 times slower than after the pause;
* the figure is the median over repeats, reported with min, max and quartiles (the spread).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np


class HostClock:
    """Wall time around the work, the device synchronised at both ends."""

    kind = "perf_counter"

    def __init__(self, synchronize=None):
        self._synchronize = synchronize or (lambda: None)
        self._t0 = 0.0

    def start(self) -> None:
        self._synchronize()
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        self._synchronize()
        return time.perf_counter() - self._t0


class CupyEventClock:
    """CUDA events on CuPy's current stream (gpunn's CuPy backends launch everything there)."""

    kind = "cupy.cuda.Event"

    def __init__(self, cupy):
        self._cp = cupy
        self._start, self._end = cupy.cuda.Event(), cupy.cuda.Event()

    def start(self) -> None:
        self._cp.cuda.get_current_stream().synchronize()  # nothing earlier is still queued
        self._start.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._cp.cuda.get_elapsed_time(self._start, self._end) / 1e3


class TorchEventClock:
    """CUDA events on PyTorch's current stream."""

    kind = "torch.cuda.Event"

    def __init__(self, torch):
        self._torch = torch
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._torch.cuda.synchronize()
        self._start.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1e3


NUMPY_POOL = "numpy-blas"     # NumPy's BLAS threads (OpenBLAS, MKL, ...)
TORCH_POOL = "torch-openmp"   # PyTorch's intra-op threads


class Settler:
    """Idle time before a CPU contender whose thread pool is not the one used last (see the module notes)."""

    UNKNOWN = object()

    def __init__(self, seconds: float = 0.25):
        self.seconds = seconds
        self._last = self.UNKNOWN

    def before(self, pool: str | None) -> None:
        """Call before work (timed or not) that uses ``pool`` (None: no CPU thread pool worth waiting for)."""
        if pool is None:
            return
        if pool != self._last and self.seconds > 0:
            time.sleep(self.seconds)
        self._last = pool


class SingleProcess:
    """The collective hooks of the loop for one process: nothing to agree on."""

    size = 1

    def barrier(self) -> None:
        pass

    def agree(self, value: int) -> int:
        return value

    def slowest(self, seconds: float) -> float:
        return seconds


@dataclass
class Stats:
    """Per-step seconds over the repeats."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    repeats: int
    steps_per_repeat: int

    @property
    def spread(self) -> float:
        """Half the min-max range relative to the median (0.05: ±5%)."""
        return (self.max - self.min) / (2 * self.median) if self.median > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "spread": self.spread}


def summarize(per_step: list[float], steps_per_repeat: int) -> Stats:
    a = np.asarray(per_step, dtype=float)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return Stats(float(med), float(a.min()), float(a.max()), float(q1), float(q3), len(a), steps_per_repeat)


def calibrate(contender, warmup: int, min_time: float, max_steps: int, collective=SingleProcess(),
              settler: Settler | None = None) -> int:
    """Run ``warmup`` untimed steps, then find how many steps last about ``min_time``.

    Calibration doubles the step count from 1 until a run takes a quarter of ``min_time``; all of these
    steps are warm-up too. Under MPI every rank takes rank 0's count, so the ranks stay in step.
    """
    clock = contender.clock
    if settler is not None:
        settler.before(contender.thread_pool)
    for _ in range(max(1, warmup)):  # at least one: the first step compiles kernels and fills memory pools
        contender.step()
    n = 1
    while True:
        collective.barrier()
        clock.start()
        for _ in range(n):
            contender.step()
        elapsed = collective.slowest(clock.stop())
        if elapsed >= min_time / 4 or n >= max_steps:
            break
        n *= 2
    per_step = max(elapsed / n, 1e-9)
    return collective.agree(max(1, min(max_steps, math.ceil(min_time / per_step))))


def measure_interleaved(contenders, steps: dict, repeats: int, collective=SingleProcess(),
                        settler: Settler | None = None, on_error=None) -> dict:
    """{name: Stats}: ``repeats`` timed runs of ``steps[name]`` steps per contender, contenders in turn.

    ``on_error(contender, exc)``: when given, a contender that raises is reported to it and leaves the
    rotation (it has no Stats), and the others go on; without it the exception propagates.
    """
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    running = list(contenders)
    for r in range(repeats):
        order = running if r % 2 == 0 else running[::-1]  # nobody always runs right after the same one
        for c in list(order):
            try:
                samples[c.name].append(_timed_repeat(c, steps[c.name], collective, settler))
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(c, exc)
                running.remove(c)
                del samples[c.name]
    return {name: summarize(times, steps[name]) for name, times in samples.items()}


def _timed_repeat(c, n: int, collective, settler: Settler | None) -> float:
    """Seconds per step over one repeat of ``n`` steps (the slowest rank's)."""
    if settler is not None:
        settler.before(c.thread_pool)
    collective.barrier()
    c.clock.start()
    for _ in range(n):
        c.step()
    return collective.slowest(c.clock.stop()) / (n * getattr(c, "steps_per_call", 1))
