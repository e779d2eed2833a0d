"""``gpunn bench``: training-step throughput of every backend here, against NumPy and PyTorch.

Sweeps MLP sizes (launch-bound to matmul-bound) and batch sizes over the available backends (NumPy, CuPy,
each with and without the fused kernels; N ranks under mpiexec) and PyTorch on the same device when it is
installed. Every contender is validated against the NumPy backend before it is timed. Prints a table and
writes JSON, CSV, a markdown summary and a PNG (throughput against batch size) into ``--output``.

    gpunn bench --quick --output bench-out          # under a minute on a laptop CPU
    gpunn bench --sizes small,large --batches 64,512 --backends numpy,torch --repeats 7
    gpunn bench --case 784-256-256-10:64,128,256 --case xlarge:4096 --time-limit 500
    mpiexec -n 2 gpunn bench --backends numpy        # data-parallel over 2 ranks

The JSON, CSV and markdown are rewritten after every case, so a run that is stopped (Ctrl-C, or SIGTERM from
``timeout``) keeps every case it finished; the PNG is drawn at the end.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys


def add_parser(sub) -> None:
    from ..benchmarking import cases, contenders

    presets = ", ".join(f"{name}={'-'.join(map(str, widths))}" for name, widths in cases.PRESETS.items())
    p = sub.add_parser("bench", help="benchmark training throughput of every backend (and PyTorch)",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--quick", action="store_true",
                   help=f"a short run: sizes {','.join(cases.QUICK_SIZES)}, batches "
                        f"{','.join(map(str, cases.QUICK_BATCHES))}, backends {','.join(contenders.QUICK_BACKENDS)}, "
                        "3 repeats, short repeats and a smaller peak matmul")
    p.add_argument("--sizes", default=None,
                   help=f"model sizes, comma-separated: presets ({presets}) "
                        f"or widths such as 784-256-10 (default: {','.join(cases.CPU_SIZES)}; xlarge too on a GPU)")
    p.add_argument("--batches", default=None,
                   help=f"batch sizes, comma-separated (default {','.join(map(str, cases.DEFAULT_BATCHES))})")
    p.add_argument("--case", dest="cases", action="append", default=None, metavar="SIZE:B1,B2,...",
                   help="a model size and its own batch sizes, e.g. 784-256-256-10:64,128,256 or xlarge:4096; "
                        "repeatable; instead of --sizes x --batches")
    p.add_argument("--backends", default=None,
                   help=f"some of {', '.join(contenders.NAMES)}, or {', '.join(contenders.ALIASES)} "
                        "(default all; those this machine cannot run are skipped with the reason)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per case and backend (default 5; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps before calibration (default 3; quick 2)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds one timed repeat should last; steps per repeat follow (default 0.2; quick 0.03)")
    p.add_argument("--settle", type=float, default=0.25,
                   help="idle seconds before a CPU backend whose thread pool differs from the last one's, so "
                        "spinning BLAS/OpenMP threads of the other library are asleep (default 0.25)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads; PyTorch and gpunn's optimizer-update pool are given the same "
                        "(default: as configured, usually every core)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and batch data (default 0)")
    p.add_argument("--no-validate", dest="validate", action="store_false",
                   help="time without checking each backend against the NumPy reference first")
    p.add_argument("--no-peak", dest="peak", action="store_false", help="skip the matmul peak measurement")
    p.add_argument("--peak-n", type=int, default=None,
                   help="matrix size of the peak sgemm (default 2048 CPU, 8192 GPU; quick 1024, 4096)")
    p.add_argument("--output", default="gpunn-bench", help="directory for the JSON, CSV, markdown and PNG "
                                                           "(default gpunn-bench)")
    p.add_argument("--name", default="bench", help="file name stem of the outputs (default bench)")
    p.add_argument("--no-plot", dest="plot", action="store_false", help="write no PNG")
    p.add_argument("--tf32", action="store_true",
                   help="TF32 matmuls for float32 on GPUs, for gpunn, PyTorch and the peak alike (GPUNN_TF32=1); "
                        "GPU results are then validated with TF32 tolerances")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="start no case after this many seconds of the run; the cases not run are listed in the "
                        "record, and the run ends normally with its files written (default: no limit)")
    p.add_argument("--debug", action="store_true",
                   help="print the full traceback of every failure to stderr (the JSON keeps them anyway)")
    p.set_defaults(run=run)


def _typed_command() -> str | None:
    """The command line as typed, when this process was started as ``gpunn bench ...``."""
    argv = sys.argv
    if len(argv) > 1 and argv[1] == "bench" and os.path.basename(argv[0]) in ("gpunn", "cli.py", "__main__.py"):
        return shlex.join(["gpunn"] + argv[1:])
    return None


def _check_positive(name: str, value) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value}")


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (what ``timeout`` sends) raises KeyboardInterrupt, so the run writes what it finished."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals stay as they are
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args) -> int:
    from ..benchmarking import BenchConfig, format_table, run as run_bench, write_all
    from ..benchmarking.runner import BenchInterrupted

    for name in ("repeats", "min_time", "threads", "peak_n", "time_limit"):
        _check_positive("--" + name.replace("_", "-"), getattr(args, name))
    for name in ("warmup", "settle"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise ValueError(f"--{name}: expected 0 or more, got {getattr(args, name)}")
    if args.tf32:
        from ..ops.tf32 import set_tf32

        os.environ["GPUNN_TF32"] = "1"  # for child processes; this one follows set_tf32
        set_tf32(True)
    config = BenchConfig(sizes=args.sizes, batches=args.batches, cases=args.cases, backends=args.backends,
                         repeats=args.repeats, warmup=args.warmup, min_time=args.min_time, settle=args.settle,
                         threads=args.threads, seed=args.seed, validate=args.validate, quick=args.quick,
                         peak=args.peak, peak_n=args.peak_n, time_limit=args.time_limit,
                         tf32=True if args.tf32 else None, debug=args.debug, command=_typed_command())
    try:
        with _sigterm_as_interrupt():
            record = run_bench(config, output=args.output, name=args.name)
    except BenchInterrupted as stopped:
        if stopped.record is not None:
            print()
            print(format_table(stopped.record))
            print(f"\ninterrupted: the {stopped.record['progress']['cases_done']} finished case(s) are in "
                  f"{os.path.join(args.output, args.name)}.json, .csv and .md", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # before the record existed: nothing was measured yet
        print("\ninterrupted before any measurement", file=sys.stderr)
        return 130
    if record is None:  # a non-chief MPI rank: rank 0 reports
        return 0
    print()
    print(format_table(record))
    paths = write_all(record, args.output, args.name, plot=args.plot)
    print(f"\nwrote {', '.join(paths.values())} ({record['duration_s']:.0f} s)")
    return 1 if record["failures"] else 0
