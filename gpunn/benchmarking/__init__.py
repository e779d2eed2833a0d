"""The engine behind ``gpunn bench``: training-step throughput of every backend, side by side.

    cases.py        model-size presets, the size x batch sweep, FLOPs per training step
    unfused.py      Ops variants whose fused steps are plain ``xp`` expression chains (the "unfused" backends)
    contenders.py   what can be timed (gpunn backends, the PyTorch reference) and which are available here
    gpunn_step.py   one gpunn training step on a pre-staged device batch
    torch_step.py   the same step in PyTorch, started from gpunn's initial weights
    validation.py   one step of each contender checked against the NumPy reference before it is timed
                    (float32 tolerances, or TF32 ones for GPU matmuls in TF32)
    timing.py       clocks (host, CUDA events), warm-up, calibration, interleaved repeats, median and spread
    visits.py       the host's share of a step: time to issue it, calls into the backend's Ops
    peak.py         the device's float32 matmul peak and (GPUs) copy bandwidth, measured
    environment.py  BLAS/PyTorch threads, MPI ranks, machine facts (collected without initialising MPI)
    runner.py       the sweep itself: one record (a dict) with every result and ratio, written as it goes
    schema.py       the record's JSON layout, checked
    report.py       the table, JSON, CSV and markdown summary (files replaced atomically)
    plot.py         the PNG: throughput against batch size per backend

Typical use is the command line (``gpunn bench --quick --output DIR``); from Python::

    from gpunn.benchmarking import BenchConfig, run, write_all
    record = run(BenchConfig(cases=["small:64,256"], backends=["numpy", "torch"]), output="bench-out")
    write_all(record, "bench-out")   # the JSON, CSV and markdown again, and the PNG
"""
from .cases import PRESETS, Case, flops_per_step, parse_batches, parse_sizes
from .report import format_table, write_all
from .runner import BenchConfig, run

__all__ = ["PRESETS", "Case", "BenchConfig", "flops_per_step", "format_table", "parse_batches", "parse_sizes",
           "run", "write_all"]
