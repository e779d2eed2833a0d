"""The sweep: every case (size x batch, or per-size batch lists) on every contender, validated, then timed.

Per case: the NumPy reference takes one step from the shared initial weights; each contender starts from the
same weights (its model built once per size, reset per case), takes the same step and is compared
(validation.py); the ones that pass are warmed up, calibrated and timed in turns (timing.py), then their host
figures are taken (visits.py). Ratios (speed-up over NumPy, ratio to PyTorch on the same device) come from
figures of the same run. The record is a plain dict (schema.py), ready for report.py.

The run is built to lose nothing it measured: the machine facts are collected (without touching MPI) and
written before any case runs; with an output directory the record is rewritten after every case; a failure
in one contender or case is recorded with its traceback and the others go on; ``time_limit`` stops new cases
once the budget is spent; an interrupt (Ctrl-C, or SIGTERM turned into one by ``gpunn bench``) writes what
was finished before it propagates.
"""
from __future__ import annotations

import dataclasses
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from . import cases as cases_module
from . import contenders as contenders_module
from .environment import (Ranks, blas_thread_limit, blas_threads, facts_summary, machine_facts, start_ranks,
                          usable_cpus)
from .gpunn_step import EPSILON, LEARNING_RATE, GpunnStep
from .peak import measure_peaks, merge_peaks
from .schema import SCHEMA
from .timing import NUMPY_POOL, Settler, calibrate, measure_interleaved
from .validation import ValidationError, compare, tolerances_for
from .visits import host_visit_figures

BETA_2 = 0.999
VALIDATION_BATCHES = 3
run_clock = time.perf_counter  # the run's elapsed time (duration, time limit); replaceable in tests


@dataclass
class BenchConfig:
    """What to run. ``None`` fields take the defaults of the mode (``quick`` or full) and the machine."""

    sizes: list | str | None = None      # preset names or width lists (cases.PRESETS)
    batches: list | str | None = None
    cases: list | str | None = None      # 'SIZE:B1,B2,...' entries, instead of sizes x batches
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
    time_limit: float | None = None      # seconds: no case starts after this much of the run has passed
    host_steps: int | None = None        # steps timed for the host figures (visits.py)
    tf32: bool | None = None             # TF32 matmuls on GPUs; None: as this process is set (gpunn.ops.tf32)
    debug: bool = False                  # print each failure's traceback to stderr
    command: str | None = None           # the command line, recorded with the results

    def resolved(self, gpu: bool) -> "BenchConfig":
        """A copy with every default filled in."""
        from ..ops.tf32 import tf32_enabled

        q = self.quick
        if self.cases:
            if self.sizes or self.batches:
                raise ValueError(f"--case: give batch sizes per model size with --case, or --sizes and --batches, "
                                 f"not both; got --case {self.cases!r} with --sizes {self.sizes!r} and "
                                 f"--batches {self.batches!r}")
            listed = cases_module.parse_cases(self.cases)
            sizes = [name for name, _, _ in listed]
            batches = sorted({b for _, _, bs in listed for b in bs})
            cases = [cases_module.case_text(name, bs) for name, _, bs in listed]
        else:
            sizes = self.sizes or (cases_module.QUICK_SIZES if q else
                                   cases_module.GPU_SIZES if gpu else cases_module.CPU_SIZES)
            sizes = [name for name, _ in cases_module.parse_sizes(sizes)]  # explicit widths are named '784-256-10'
            batches = cases_module.parse_batches(self.batches or (cases_module.QUICK_BATCHES if q else
                                                                  cases_module.DEFAULT_BATCHES))
            cases = None
        return dataclasses.replace(
            self, sizes=sizes, batches=batches, cases=cases,
            backends=contenders_module.expand(self.backends or (contenders_module.QUICK_BACKENDS if q else "all")),
            repeats=self.repeats or (3 if q else 5),
            warmup=self.warmup if self.warmup is not None else (2 if q else 3),
            min_time=self.min_time or (0.03 if q else 0.2),
            host_steps=self.host_steps or (3 if q else 5),
            tf32=tf32_enabled() if self.tf32 is None else self.tf32,
        )

    def case_list(self) -> list:
        """The cases of a resolved config, size by size (the order models are built in)."""
        if self.cases:
            return cases_module.listed(cases_module.parse_cases(self.cases))
        return cases_module.sweep(cases_module.parse_sizes(self.sizes), self.batches)

    def command_line(self) -> str:
        """The command to repeat this run exactly (every option spelled out)."""
        if self.cases:
            parts = ["gpunn", "bench"] + [arg for case in self.cases for arg in ("--case", case)]
        else:
            sizes = ",".join(s if isinstance(s, str) else "-".join(map(str, s)) for s in self.sizes)
            parts = ["gpunn", "bench", "--sizes", sizes, "--batches", ",".join(map(str, self.batches))]
        parts += ["--backends", ",".join(self.backends), "--repeats", str(self.repeats), "--warmup",
                  str(self.warmup), "--min-time", f"{self.min_time:g}", "--settle", f"{self.settle:g}",
                  "--seed", str(self.seed)]
        if self.threads:
            parts += ["--threads", str(self.threads)]
        if not self.validate:
            parts.append("--no-validate")
        if self.peak_n:
            parts += ["--peak-n", str(self.peak_n)]
        if self.time_limit:
            parts += ["--time-limit", f"{self.time_limit:g}"]
        if self.tf32:
            parts.append("--tf32")
        return shlex.join(parts)


class BenchInterrupted(KeyboardInterrupt):
    """The run was interrupted; ``record`` holds every case finished before it (None on non-chief ranks)."""

    def __init__(self, record: dict | None):
        super().__init__("the benchmark was interrupted")
        self.record = record


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


def reference_step() -> GpunnStep:
    """The NumPy backend as the reference every contender must match (one per run: its model is reused)."""
    from ..distributed import LocalCommunicator
    from ..ops import NumpyOps

    return GpunnStep("numpy-reference", NumpyOps(), "cpu", LocalCommunicator())


def reference_snapshot(layers, x, y, weights, step: GpunnStep | None = None):
    """The NumPy backend's state after one step from ``weights`` on (x, y): what every contender must match.
    ``step``: a ``reference_step()`` to reuse (its model is kept for the next batch size); None: a new one."""
    reference = step or reference_step()
    reference.setup(layers, x, y, weights)
    reference.step()
    snap = reference.snapshot()
    if step is None:
        reference.release()
    else:
        reference.close()
    return snap


def _all_ranks_ok(ranks: Ranks, ok: bool) -> bool:
    if ranks.size == 1:
        return ok
    return float(ranks.comm.allreduce_host(np.array([0.0 if ok else 1.0]))[0]) == 0.0


def _validate(c, case, config, ranks, settler, x, y, weights, reference, reference_model) -> dict:
    """One step of ``c`` (set up on the timing batch) against the reference; on a miss, up to two more
    batches from the same weights (see validation.py on ReLU kinks), then ``c`` is set up on (x, y) again."""
    tolerances = tolerances_for(c.device, case.layers, case.batch, bool(config.tf32))
    for attempt in range(VALIDATION_BATCHES):
        if attempt:
            xa, ya = make_batch(case.layers, case.batch, config.seed, stream=attempt)
            settler.before(NUMPY_POOL)
            reference = reference_snapshot(case.layers, xa, ya, weights, reference_model)
            settler.before(c.thread_pool)
            c.setup(case.layers, xa, ya, weights)
        c.validation_step()
        verdict = compare(reference, c.snapshot(), LEARNING_RATE, EPSILON, BETA_2, tolerances)
        if _all_ranks_ok(ranks, verdict.ok):
            if attempt:
                c.setup(case.layers, x, y, weights)
            return {**verdict.to_dict(), "batches_tried": attempt + 1}
    raise ValidationError(f"does not match the NumPy reference on {VALIDATION_BATCHES} batches "
                          f"({tolerances.name} tolerances): {verdict.message or 'on another rank'}")


def failure_entry(case, backend: str, stage: str, exc: BaseException) -> dict:
    """A failure as the record keeps it: the one-line reason for the table, the full traceback for debugging."""
    return {"size": case.name if case is not None else None, "batch": case.batch if case is not None else None,
            "backend": backend, "stage": stage, "reason": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))}


class _Failures:
    """Collects failures, logs their one-line reason and, with ``debug``, prints the traceback to stderr."""

    def __init__(self, log, debug: bool):
        self.log, self.debug = log, debug

    def add(self, into: list, case, backend: str, stage: str, exc: BaseException, consequence: str) -> None:
        entry = failure_entry(case, backend, stage, exc)
        into.append(entry)
        self.log(f"  {backend}: FAILED in {stage}, {consequence} ({entry['reason']})")
        if self.debug:
            where = f" on {case.name} batch {case.batch}" if case is not None else ""
            print(f"--- {backend} failed in {stage}{where}:\n{entry['traceback']}", file=sys.stderr, flush=True)


def _run_case(case, contenders, config, ranks, settler, failures: _Failures, reference_model) -> _CaseResult:
    out = _CaseResult()
    try:
        x, y = make_batch(case.layers, case.batch, config.seed)
        weights = initial_weights(case.layers, config.seed)
        reference = None
        if config.validate:
            settler.before(NUMPY_POOL)
            reference = reference_snapshot(case.layers, x, y, weights, reference_model)
    except Exception as exc:  # without the data or the reference no contender can run this case; the next may
        for c in contenders:
            failures.add(out.failures, case, c.name, "reference", exc, "not run")
        return out
    ready, verdicts = [], {}
    for c in contenders:
        stage = "setup"
        try:
            settler.before(c.thread_pool)
            c.setup(case.layers, x, y, weights)
            if reference is not None:
                stage = "validation"
                verdicts[c.name] = _validate(c, case, config, ranks, settler, x, y, weights, reference,
                                             reference_model)
            stage = "calibration"
            steps = calibrate(c, config.warmup, config.min_time, config.max_steps, ranks.collective, settler)
        except Exception as exc:  # one contender failing (memory, a mismatch) must not end the sweep
            failures.add(out.failures, case, c.name, stage, exc, "not timed")
            c.close()
            continue
        ready.append((c, steps))

    def timing_failed(c, exc):
        failures.add(out.failures, case, c.name, "timing", exc, "not timed")

    stats = measure_interleaved([c for c, _ in ready], {c.name: n for c, n in ready}, config.repeats,
                                ranks.collective, settler, on_error=timing_failed)
    for c, _ in ready:
        if c.name in stats:
            out.rows.append(_row(case, c, stats[c.name], verdicts.get(c.name),
                                 _host_figures(c, case, config, settler, failures, out)))
        c.close()
    return out


def _host_figures(c, case, config, settler, failures: _Failures, out: _CaseResult) -> dict:
    try:
        settler.before(c.thread_pool)
        return host_visit_figures(c, config.host_steps)
    except Exception as exc:  # the timed figures stand without these
        failures.add(out.failures, case, c.name, "host figures", exc, "timed, without host figures")
        return {"host_s_per_step": None, "ops_calls_per_step": None, "host_s_per_ops_call": None}


def _row(case, c, s, verdict, host: dict) -> dict:
    return {
        "size": case.name, "layers": list(case.layers), "batch": case.batch,
        "backend": c.name, "library": c.library, "device": c.device, "ranks": c.ranks,
        "clock": c.clock.kind, "step_s": s.to_dict(), "samples_per_s": case.batch / s.median,
        "flops_per_step": case.flops, "flops_per_s": case.flops / s.median,
        "validation": verdict, **host,
    }


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


def _say_peaks(say, peaks: dict, tf32: bool = False) -> None:
    for device, p in peaks.items():
        precision = "TF32" if tf32 and device != "cpu" else "float32"
        say(f"matmul peak on {device}: {p['peak_flops_per_s'] / 1e9:,.1f} GFLOP/s ({precision}; "
            + ", ".join(f"{m['library']} n={m['n']}: {m['flops_per_s'] / 1e9:,.1f}" for m in p["measurements"]) + ")")
        if p.get("copy_bytes_per_s"):
            say(f"device copy on {device}: {p['copy_bytes_per_s'] / 1e9:,.1f} GB/s (read + write, "
                f"{p['copy_measurements'][0]['bytes'] / 2**20:,.0f} MiB device-to-device)")


def _say_rows(say, rows: list) -> None:
    for row in rows:
        s = row["step_s"]
        host = row.get("host_s_per_step")
        calls = row.get("ops_calls_per_step")
        visits = "" if host is None else f"   host {host * 1e3:.3f} ms" + (f", {calls} ops calls" if calls else "")
        say(f"  {row['backend']:<14} {row['samples_per_s']:>13,.0f} samples/s   step {s['median'] * 1e3:9.3f} ms"
            f" ±{s['spread'] * 100:4.1f}%  ({s['repeats']} x {s['steps_per_repeat']} steps){visits}")


def _apply_tf32(tf32: bool | None) -> None:
    """An explicit ``BenchConfig.tf32`` sets the process-wide switch; None leaves it as it is."""
    if tf32 is not None:
        from ..ops.tf32 import set_tf32, tf32_enabled

        if tf32 != tf32_enabled():
            set_tf32(bool(tf32))


class _Checkpoint:
    """Writes the record after every step of the run (chief rank, with an output directory); see report.py.

    The first write fails loudly (a directory that cannot be written is a usage error, found before anything
    is measured); a later one that fails is reported and the run goes on, its figures kept in memory.
    """

    def __init__(self, directory: str | None, name: str, started: float, log):
        self.directory, self.name, self.started, self.log = directory, name, started, log
        self.written = False

    def __call__(self, record: dict) -> None:
        record["duration_s"] = run_clock() - self.started
        if self.directory is None:
            return
        from .report import write_progress

        try:
            write_progress(record, self.directory, self.name)
        except OSError as exc:
            if not self.written:
                raise
            self.log(f"could not write the results so far to {self.directory} ({type(exc).__name__}: {exc})")
            return
        self.written = True


def _new_record(config: BenchConfig, cases: list, facts: dict, ranks: Ranks, skipped: list) -> dict:
    return {
        "schema": SCHEMA,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": config.command or config.command_line(),
        "reproduce": config.command_line(),
        "config": {"sizes": {name: list(widths) for name, widths in cases_module.parse_sizes(config.sizes)},
                   "batches": config.batches, "cases": config.cases,
                   "backends": config.backends, "repeats": config.repeats, "warmup": config.warmup,
                   "min_time_s": config.min_time, "settle_s": config.settle, "seed": config.seed,
                   "validate": config.validate, "threads": config.threads,
                   "quick": config.quick, "dtype": "float32", "optimizer": "adam", "learning_rate": LEARNING_RATE,
                   "epsilon": EPSILON, "tf32": bool(config.tf32), "time_limit_s": config.time_limit,
                   "host_steps": config.host_steps},
        "machine": facts,
        "threads": {"blas": blas_threads(), "torch": None, "gpunn_update": None},
        "ranks": ranks.size,
        "ranks_note": ranks.note,
        "peaks": {},
        "results": [],
        "failures": [],
        "skipped": skipped,
        "progress": {"state": "running", "cases_done": 0, "cases_total": len(cases)},
        "not_run": [],
        "duration_s": 0.0,
    }


def _not_run(cases, reason: str) -> list[dict]:
    return [{"size": c.name, "batch": c.batch, "reason": reason} for c in cases]


def _out_of_time(config: BenchConfig, started: float, ranks: Ranks) -> bool:
    """Whether the time budget is spent (rank 0 decides for all, so the ranks stop together)."""
    spent = config.time_limit is not None and run_clock() - started >= config.time_limit
    return bool(ranks.collective.agree(int(spent)))


def run(config: BenchConfig, log=print, ranks: Ranks | None = None, output: str | None = None,
        name: str = "bench") -> dict | None:
    """Run the sweep; returns the record on the chief rank (None on the others).

    ``output``: a directory where the chief rank writes ``name``.json, .csv and .md before the first case and
    again after every case (report.write_progress), so an interrupted or killed run keeps what it finished.
    """
    from .. import _compat

    started = run_clock()
    ranks = ranks or start_ranks()
    if not ranks.is_chief and ranks.size == 1:
        return None  # launched under MPI without a process group: rank 0 runs alone (see start_ranks)
    say = log if ranks.is_chief else (lambda *a, **k: None)
    _apply_tf32(config.tf32)
    config = config.resolved(gpu=_compat.has_cupy_gpu())
    cases = config.case_list()
    specs, skipped = contenders_module.resolve(config.backends, ranks.size)
    if not specs:
        raise RuntimeError("no backend can run here: " + "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped))
    facts = machine_facts() if ranks.is_chief else {}
    for line in facts_summary(facts) if ranks.is_chief else []:
        say(line)
    for s in skipped:
        say(f"skipping {s['backend']}: {s['reason']}")
    if ranks.note:
        say(f"MPI: {ranks.note}")
    record = _new_record(config, cases, facts, ranks, skipped)
    checkpoint = _Checkpoint(output if ranks.is_chief else None, name, started, say)
    checkpoint(record)  # the machine facts are on disk before anything is measured
    try:
        peaks = _measure(config, specs, cases, ranks, record, checkpoint, say, started)
    except KeyboardInterrupt as exc:
        _mark_interrupted(record, cases, exc)
        checkpoint(record)
        raise BenchInterrupted(record if ranks.is_chief else None) from exc
    if not ranks.is_chief:
        return None  # every rank took part in the timing; rank 0 reports
    record["peaks"] = peaks
    _add_ratios(record["results"], peaks)
    if record["progress"]["state"] == "running":
        record["progress"]["state"] = "complete"
    checkpoint(record)
    return record


def _measure(config, specs, cases, ranks, record, checkpoint, say, started) -> dict:
    """Contenders, peaks and every case, into ``record``; returns the peaks (merged over both rounds)."""
    from .. import _compat

    if ranks.size > 1 and not config.threads:
        # Ranks sharing a node share its cores: each gets its share of BLAS threads, not all of them.
        local = getattr(ranks.comm, "local_size", ranks.size) or 1
        config = dataclasses.replace(config, threads=max(1, usable_cpus() // local))
        say(f"MPI: {local} ranks on this node, {config.threads} BLAS thread(s) each")
    failures = _Failures(say, config.debug)
    with blas_thread_limit(config.threads):
        # PyTorch always gets NumPy's BLAS thread count; gpunn's own update pool only an explicit limit.
        threads = blas_threads()
        contenders = [spec.create(ranks.comm, config.threads or (threads if spec.library == "torch" else None))
                      for spec in specs]
        torch = _compat.torch() if any(s.library == "torch" for s in specs) else None
        record["threads"] = {  # read inside the BLAS limit
            "blas": threads, "torch": torch.get_num_threads() if torch is not None else None,
            "gpunn_update": max((c.update_threads for c in contenders if getattr(c, "update_threads", None)),
                                default=None)}
        settler = Settler(config.settle)
        peaks = _measure_peaks(contenders, config, ranks, settler, failures, record)
        record["peaks"] = peaks
        checkpoint(record)
        finished = _run_cases(cases, contenders, config, ranks, settler, failures, record, checkpoint, say,
                              started)
        # A second measurement at the end, the better one counting (see peak.py), unless the budget is spent.
        if config.peak and peaks and finished and not _out_of_time(config, started, ranks):
            peaks = merge_peaks(peaks, _measure_peaks(contenders, config, ranks, settler, failures, record))
    return peaks


def _mark_interrupted(record: dict, cases: list, exc: BaseException) -> None:
    """The cases not finished are listed as not run; the figures taken so far stay."""
    if record["progress"]["state"] == "running":
        done = record["progress"]["cases_done"]
        record["not_run"] += _not_run(cases[done:], f"interrupted ({type(exc).__name__})")
        record["progress"]["state"] = "interrupted"
    _add_ratios(record["results"], record["peaks"])


def _measure_peaks(contenders, config, ranks, settler, failures: _Failures, record: dict) -> dict:
    """The peaks, or {} (and a failure) when they cannot be measured: the cases still run, without % peak."""
    if not config.peak:
        return {}
    try:
        peaks = _peaks(contenders, config, ranks, settler)
    except Exception as exc:
        failures.add(record["failures"], None, "matmul peak", "peak", exc, "no % of peak")
        return {}
    _say_peaks(failures.log, peaks, bool(config.tf32))
    return peaks


def _run_cases(cases, contenders, config, ranks, settler, failures, record, checkpoint, say, started) -> bool:
    """Every case in turn, the record written after each; False when the time limit stopped the run early.

    Models are kept across the batch sizes of a size and released before the next size's are built.
    """
    reference_model = reference_step() if config.validate else None
    everyone = contenders + ([reference_model] if reference_model is not None else [])
    layers = None
    try:
        for index, case in enumerate(cases):
            if _out_of_time(config, started, ranks):
                reason = (f"the time limit of {config.time_limit:g} s was spent "
                          f"({run_clock() - started:.0f} s in) before it could start")
                record["not_run"] += _not_run(cases[index:], reason)
                record["progress"]["state"] = "time limit"
                say(f"time limit of {config.time_limit:g} s reached: {len(cases) - index} case(s) not run")
                checkpoint(record)
                return False
            if case.layers != layers:
                for c in everyone:
                    c.release()
                layers = case.layers
            say(f"{case.name} ({'-'.join(map(str, case.layers))}) batch {case.batch}:")
            result = _run_case(case, contenders, config, ranks, settler, failures, reference_model)
            _add_ratios(result.rows, record["peaks"])
            record["results"] += result.rows
            record["failures"] += result.failures
            record["progress"]["cases_done"] = index + 1
            checkpoint(record)  # before anything else can go wrong
            _say_rows(say, result.rows)
    finally:
        for c in everyone:
            c.release()
    return True
