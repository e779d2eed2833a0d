"""The sweep: every case (size x batch) on every contender, validated, then timed; one record out.

Per case: the NumPy reference takes one step from the shared initial weights; each contender is built from
the same weights, takes the same step and is compared (validation.py); the ones that pass are warmed up,
calibrated and timed in turns (timing.py). Ratios (speed-up over NumPy, ratio to PyTorch on the same device)
come from figures of the same run. The record is a plain dict (schema.py), ready for report.py.
"""
from __future__ import annotations

import dataclasses
import shlex
import time
from dataclasses import dataclass, field

import numpy as np

from . import cases as cases_module
from . import contenders as contenders_module
from .environment import Ranks, blas_thread_limit, blas_threads, machine_facts, start_ranks, usable_cpus
from .gpunn_step import EPSILON, LEARNING_RATE, GpunnStep
from .peak import measure_peaks, merge_peaks
from .schema import SCHEMA
from .timing import NUMPY_POOL, Settler, calibrate, measure_interleaved
from .validation import ValidationError, compare

BETA_2 = 0.999
VALIDATION_BATCHES = 3


@dataclass
class BenchConfig:
    """What to run. ``None`` fields take the defaults of the mode (``quick`` or full) and the machine."""

    sizes: list | str | None = None      # preset names or width lists (cases.PRESETS)
    batches: list | str | None = None
    backends: list | str | None = None   # contender names or aliases (contenders.NAMES / ALIASES)
    repeats: int | None = None           # timed repeats per contender and case (the median is reported)
    warmup: int | None = None            # untimed steps before calibration
    min_time: float | None = None        # seconds one timed repeat should last
    settle: float = 0.25                 # idle seconds between CPU contenders of different thread pools
    max_steps: int = 10_000              # at most this many steps per repeat
    threads: int | None = None           # BLAS (and PyTorch) threads; None: as configured
    seed: int = 0
    validate: bool = True
    quick: bool = False
    peak: bool = True                    # measure the matmul peak (for the %-of-peak column)
    peak_n: int | None = None            # its matrix size; None: the device default
    command: str | None = None           # the command line, recorded with the results

    def resolved(self, gpu: bool) -> "BenchConfig":
        """A copy with every default filled in."""
        q = self.quick
        sizes = self.sizes or (cases_module.QUICK_SIZES if q else
                               cases_module.GPU_SIZES if gpu else cases_module.CPU_SIZES)
        return dataclasses.replace(
            self,
            sizes=[name for name, _ in cases_module.parse_sizes(sizes)],  # explicit widths are named '784-256-10'
            batches=cases_module.parse_batches(self.batches or (cases_module.QUICK_BATCHES if q else
                                                                cases_module.DEFAULT_BATCHES)),
            backends=contenders_module.expand(self.backends or (contenders_module.QUICK_BACKENDS if q else "all")),
            repeats=self.repeats or (3 if q else 5),
            warmup=self.warmup if self.warmup is not None else (2 if q else 3),
            min_time=self.min_time or (0.03 if q else 0.2),
        )

    def command_line(self) -> str:
        """The command to repeat this run exactly (every option spelled out)."""
        sizes = ",".join(s if isinstance(s, str) else "-".join(map(str, s)) for s in self.sizes)
        parts = ["gpunn", "bench", "--sizes", sizes, "--batches", ",".join(map(str, self.batches)),
                 "--backends", ",".join(self.backends), "--repeats", str(self.repeats), "--warmup",
                 str(self.warmup), "--min-time", f"{self.min_time:g}", "--settle", f"{self.settle:g}",
                 "--seed", str(self.seed)]
        if self.threads:
            parts += ["--threads", str(self.threads)]
        if not self.validate:
            parts.append("--no-validate")
        if self.peak_n:
            parts += ["--peak-n", str(self.peak_n)]
        return shlex.join(parts)


@dataclass
class _CaseResult:
    rows: list = field(default_factory=list)
    failures: list = field(default_factory=list)


def initial_weights(layers, seed: int) -> list[np.ndarray]:
    """Glorot-uniform kernels and zero biases (Keras's Dense defaults), from a generator of their own."""
    rng = np.random.default_rng(seed)
    weights = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        weights += [rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32), np.zeros(n_out, np.float32)]
    return weights


def make_batch(layers, batch: int, seed: int, stream: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A standard-normal batch and uniform labels; ``stream`` > 0 gives other batches of the same case."""
    rng = np.random.default_rng([seed, batch, layers[0], stream])
    return rng.standard_normal((batch, layers[0]), dtype=np.float32), rng.integers(0, layers[-1], batch)


def reference_snapshot(layers, x, y, weights):
    """The NumPy backend's state after one step from ``weights`` on (x, y): what every contender must match."""
    from ..distributed import LocalCommunicator
    from ..ops import NumpyOps

    reference = GpunnStep("numpy-reference", NumpyOps(), "cpu", LocalCommunicator())
    reference.setup(layers, x, y, weights)
    reference.step()
    snap = reference.snapshot()
    reference.close()
    return snap


def _all_ranks_ok(ranks: Ranks, ok: bool) -> bool:
    if ranks.size == 1:
        return ok
    return float(ranks.comm.allreduce_host(np.array([0.0 if ok else 1.0]))[0]) == 0.0


def _validate(c, case, config, ranks, settler, x, y, weights, reference) -> dict:
    """One step of ``c`` (set up on the timing batch) against the reference; on a miss, up to two more
    batches from the same weights (see validation.py on ReLU kinks), then ``c`` is set up on (x, y) again."""
    for attempt in range(VALIDATION_BATCHES):
        if attempt:
            xa, ya = make_batch(case.layers, case.batch, config.seed, stream=attempt)
            settler.before(NUMPY_POOL)
            reference = reference_snapshot(case.layers, xa, ya, weights)
            settler.before(c.thread_pool)
            c.setup(case.layers, xa, ya, weights)
        c.step()
        verdict = compare(reference, c.snapshot(), LEARNING_RATE, EPSILON, BETA_2)
        if _all_ranks_ok(ranks, verdict.ok):
            if attempt:
                c.setup(case.layers, x, y, weights)
            return {**verdict.to_dict(), "batches_tried": attempt + 1}
    raise ValidationError(f"does not match the NumPy reference on {VALIDATION_BATCHES} batches: "
                          f"{verdict.message or 'on another rank'}")


def _run_case(case, contenders, config, ranks, settler, log) -> _CaseResult:
    out = _CaseResult()
    x, y = make_batch(case.layers, case.batch, config.seed)
    weights = initial_weights(case.layers, config.seed)
    reference = None
    if config.validate:
        settler.before(NUMPY_POOL)
        reference = reference_snapshot(case.layers, x, y, weights)
    ready, verdicts = [], {}
    for c in contenders:
        try:
            settler.before(c.thread_pool)
            c.setup(case.layers, x, y, weights)
            if reference is not None:
                verdicts[c.name] = _validate(c, case, config, ranks, settler, x, y, weights, reference)
            steps = calibrate(c, config.warmup, config.min_time, config.max_steps, ranks.collective, settler)
        except Exception as exc:  # one contender failing (memory, a mismatch) must not end the sweep
            reason = f"{type(exc).__name__}: {exc}"
            out.failures.append({"size": case.name, "batch": case.batch, "backend": c.name, "reason": reason})
            log(f"  {c.name}: FAILED, not timed ({reason})")
            c.close()
            continue
        ready.append((c, steps))
    stats = measure_interleaved([c for c, _ in ready], {c.name: n for c, n in ready}, config.repeats,
                                ranks.collective, settler)
    for c, _ in ready:
        s = stats[c.name]
        out.rows.append({
            "size": case.name, "layers": list(case.layers), "batch": case.batch,
            "backend": c.name, "library": c.library, "device": c.device, "ranks": c.ranks,
            "clock": c.clock.kind, "step_s": s.to_dict(), "samples_per_s": case.batch / s.median,
            "flops_per_step": case.flops, "flops_per_s": case.flops / s.median,
            "validation": verdicts.get(c.name),
        })
        c.close()
    return out


def _add_ratios(rows: list, peaks: dict) -> None:
    """Speed-up over NumPy and ratio to PyTorch on the same device, within each case; share of the peak."""
    by_case: dict = {}
    for row in rows:
        by_case.setdefault((row["size"], row["batch"]), {})[row["backend"]] = row
    for group in by_case.values():
        numpy_row = group.get("numpy")
        for row in group.values():
            torch_row = group.get("torch-cuda" if row["device"].startswith("cuda") else "torch-cpu")
            row["speedup_vs_numpy"] = row["samples_per_s"] / numpy_row["samples_per_s"] if numpy_row else None
            row["ratio_vs_torch"] = row["samples_per_s"] / torch_row["samples_per_s"] if torch_row else None
            peak = peaks.get(row["device"], {}).get("peak_flops_per_s")
            row["peak_fraction"] = row["flops_per_s"] / peak if peak else None


def _peaks(contenders, config, ranks, settler) -> dict:
    devices: dict = {}
    for c in contenders:
        library = "torch" if c.library == "torch" else ("numpy" if c.device == "cpu" else "cupy")
        devices.setdefault(c.device, set()).add(library)
    ranks.collective.barrier()  # every rank measures at once: the peak of the device as the ranks share it
    peaks = measure_peaks({d: sorted(libs) for d, libs in devices.items()}, config.quick, config.peak_n, settler)
    if ranks.size > 1:  # data-parallel figures are compared with the peak of all ranks together
        total = ranks.comm.allreduce_host(np.array([p["peak_flops_per_s"] for p in peaks.values()]))
        for p, value in zip(peaks.values(), total):
            p["peak_flops_per_s"], p["ranks"] = float(value), ranks.size
    return peaks


def _say_peaks(say, peaks: dict) -> None:
    for device, p in peaks.items():
        say(f"matmul peak on {device}: {p['peak_flops_per_s'] / 1e9:,.1f} GFLOP/s (float32; "
            + ", ".join(f"{m['library']} n={m['n']}: {m['flops_per_s'] / 1e9:,.1f}" for m in p["measurements"]) + ")")


def run(config: BenchConfig, log=print, ranks: Ranks | None = None) -> dict | None:
    """Run the sweep; returns the record on the chief rank (None on the others)."""
    from .. import _compat

    started = time.perf_counter()
    ranks = ranks or start_ranks()
    if not ranks.is_chief and ranks.size == 1:
        return None  # launched under MPI without a process group: rank 0 runs alone (see start_ranks)
    say = log if ranks.is_chief else (lambda *a, **k: None)
    config = config.resolved(gpu=_compat.has_cupy_gpu())
    sizes = cases_module.parse_sizes(config.sizes)
    specs, skipped = contenders_module.resolve(config.backends, ranks.size)
    if not specs:
        raise RuntimeError("no backend can run here: " + "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped))
    for s in skipped:
        say(f"skipping {s['backend']}: {s['reason']}")
    if ranks.note:
        say(f"MPI: {ranks.note}")

    if ranks.size > 1 and not config.threads:
        # Ranks sharing a node share its cores: each gets its share of BLAS threads, not all of them.
        local = getattr(ranks.comm, "local_size", ranks.size) or 1
        config = dataclasses.replace(config, threads=max(1, usable_cpus() // local))
        say(f"MPI: {local} ranks on this node, {config.threads} BLAS thread(s) each")
    with blas_thread_limit(config.threads):
        threads = blas_threads()
        # PyTorch always gets NumPy's BLAS thread count; gpunn's own update pool only an explicit limit.
        contenders = [spec.create(ranks.comm, config.threads or (threads if spec.library == "torch" else None))
                      for spec in specs]
        settler = Settler(config.settle)
        peaks = _peaks(contenders, config, ranks, settler) if config.peak else {}
        _say_peaks(say, peaks)
        rows, failures = [], []
        for case in cases_module.sweep(sizes, config.batches):
            say(f"{case.name} ({'-'.join(map(str, case.layers))}) batch {case.batch}:")
            result = _run_case(case, contenders, config, ranks, settler, say)
            rows += result.rows
            failures += result.failures
            for row in result.rows:
                s = row["step_s"]
                say(f"  {row['backend']:<14} {row['samples_per_s']:>13,.0f} samples/s   "
                    f"step {s['median'] * 1e3:9.3f} ms"
                    f" ±{s['spread'] * 100:4.1f}%  ({s['repeats']} x {s['steps_per_repeat']} steps)")
        if config.peak:  # a second measurement at the end; the better one counts (see peak.py)
            peaks = merge_peaks(peaks, _peaks(contenders, config, ranks, settler))
            _say_peaks(say, peaks)
        torch = _compat.torch() if any(s.library == "torch" for s in specs) else None
        torch_threads = torch.get_num_threads() if torch is not None else None  # read inside the BLAS limit
    if not ranks.is_chief:
        return None  # every rank took part in the timing; rank 0 reports
    _add_ratios(rows, peaks)
    return {
        "schema": SCHEMA,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": config.command or config.command_line(),
        "reproduce": config.command_line(),
        "config": {"sizes": {name: list(widths) for name, widths in sizes}, "batches": config.batches,
                   "backends": config.backends, "repeats": config.repeats, "warmup": config.warmup,
                   "min_time_s": config.min_time, "settle_s": config.settle, "seed": config.seed,
                   "validate": config.validate, "threads": config.threads,
                   "quick": config.quick, "dtype": "float32", "optimizer": "adam", "learning_rate": LEARNING_RATE,
                   "epsilon": EPSILON},
        "machine": machine_facts(),
        "threads": {"blas": threads, "torch": torch_threads,
                    "gpunn_update": max((c.update_threads for c in contenders
                                         if getattr(c, "update_threads", None)), default=None)},
        "ranks": ranks.size,
        "ranks_note": ranks.note,
        "peaks": peaks,
        "results": rows,
        "failures": failures,
        "skipped": skipped,
        "duration_s": time.perf_counter() - started,
    }
