"""A benchmark record as a text table, JSON, CSV and a markdown summary (the PNG is plot.py's)."""
from __future__ import annotations

import csv
import json
import os

from . import schema

COLUMNS = ("size", "batch", "backend", "samples/s", "step ms", "spread", "vs numpy", "vs torch", "GFLOP/s",
           "% peak")


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _cells(row: dict) -> list[str]:
    step = row["step_s"]
    peak = row.get("peak_fraction")
    backend = row["backend"] + (f" x{row['ranks']}" if row["ranks"] > 1 else "")
    return [row["size"], str(row["batch"]), backend, f"{row['samples_per_s']:,.0f}",
            f"{step['median'] * 1e3:.4g}", f"±{step['spread'] * 100:.1f}%", _ratio(row.get("speedup_vs_numpy")),
            _ratio(row.get("ratio_vs_torch")), f"{row['flops_per_s'] / 1e9:,.1f}",
            "-" if peak is None else f"{peak * 100:.1f}%"]


def format_table(record: dict) -> str:
    """The results as an aligned text table, with the peaks, failures and skipped backends under it."""
    rows = [list(COLUMNS)] + [_cells(r) for r in record["results"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    left = {0, 2}  # text columns; numbers are right-aligned
    lines = ["  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += _notes(record)
    return "\n".join(lines)


def _notes(record: dict) -> list[str]:
    notes = []
    for device, peak in record["peaks"].items():
        notes.append(f"matmul peak on {device}: {peak['peak_flops_per_s'] / 1e9:,.1f} GFLOP/s "
                     "(float32 sgemm, measured)")
    for f in record["failures"]:
        notes.append(f"FAILED {f['backend']} on {f.get('size')} batch {f.get('batch')}: {f['reason']}")
    for s in record["skipped"]:
        notes.append(f"skipped {s['backend']}: {s['reason']}")
    return notes


def format_markdown_table(record: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" if i in (0, 2) else "---:"
                                                                for i in range(len(COLUMNS))) + "|"]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in record["results"]]
    return "\n".join(lines)


def write_json(record: dict, path: str) -> str:
    schema.check(record)
    with open(path, "w") as fh:
        json.dump(record, fh, indent=1, default=str)
        fh.write("\n")
    return path


CSV_FIELDS = ("size", "layers", "batch", "backend", "library", "device", "ranks", "samples_per_s", "step_median_s",
              "step_min_s", "step_max_s", "step_q1_s", "step_q3_s", "spread", "repeats", "steps_per_repeat",
              "flops_per_step", "flops_per_s", "peak_fraction", "speedup_vs_numpy", "ratio_vs_torch", "validated",
              "loss_error", "grad_error", "clock")


def write_csv(record: dict, path: str) -> str:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in record["results"]:
            s, v = r["step_s"], r.get("validation") or {}
            writer.writerow({
                "size": r["size"], "layers": "-".join(map(str, r["layers"])), "batch": r["batch"],
                "backend": r["backend"], "library": r["library"], "device": r["device"], "ranks": r["ranks"],
                "samples_per_s": r["samples_per_s"], "step_median_s": s["median"], "step_min_s": s["min"],
                "step_max_s": s["max"], "step_q1_s": s["q1"], "step_q3_s": s["q3"], "spread": s["spread"],
                "repeats": s["repeats"], "steps_per_repeat": s["steps_per_repeat"],
                "flops_per_step": r["flops_per_step"], "flops_per_s": r["flops_per_s"],
                "peak_fraction": r.get("peak_fraction"), "speedup_vs_numpy": r.get("speedup_vs_numpy"),
                "ratio_vs_torch": r.get("ratio_vs_torch"), "validated": bool(v.get("ok")) if v else "",
                "loss_error": v.get("loss_error", ""), "grad_error": v.get("grad_error", ""), "clock": r["clock"],
            })
    return path


def write_markdown(record: dict, path: str) -> str:
    """A human summary: command, machine, versions, peaks, the table, and how the figures were taken."""
    m = record["machine"]
    versions = ", ".join(f"{k} {m[k]}" for k in ("gpunn", "python", "numpy", "torch", "cupy-cuda12x", "cupy-cuda13x",
                                                  "numba", "numba-cuda") if m.get(k) not in (None, "not installed"))
    threads = record["threads"]
    lines = [
        "# gpunn bench", "",
        f"- date: {record['date']}",
        f"- command: `{record['command']}`",
        f"- every option spelled out: `{record['reproduce']}`",
        f"- machine: {m.get('cpu_model')}, {m.get('cpu_count')} CPUs ({m.get('cpus_usable')} usable), "
        f"{m.get('platform')}",
        f"- GPUs: {'; '.join(m.get('gpus', [])) or 'none'}",
        f"- versions: {versions}",
        f"- BLAS: {'; '.join(m.get('blas', []))}; threads: BLAS {threads.get('blas')}, PyTorch {threads.get('torch')}, "
        f"gpunn's optimizer-update pool {threads.get('gpunn_update')}",
        f"- ranks: {record['ranks']}" + (f" ({record['ranks_note']})" if record.get("ranks_note") else ""),
        f"- run time: {record['duration_s']:.0f} s",
        "",
        "## Results", "",
        format_markdown_table(record), "",
    ]
    notes = _notes(record)
    if notes:
        lines += [f"- {n}" for n in notes] + [""]
    lines += [
        "## How the figures are taken", "",
        "- One step = a full training step (forward, sparse softmax cross-entropy, backward, Adam) of a Dense-relu "
        "MLP on a batch already on the device; gpunn through the model's own training step, PyTorch as the usual "
        "zero_grad/forward/backward/step loop.",
        "- Each contender is first checked against the NumPy backend: same initial weights, one step on the "
        "same batch, same loss, gradients and updated parameters within float32 tolerance. Failing contenders "
        "are not timed.",
        "- Warm-up and calibration steps are not timed; the device is synchronised before each clock read (CUDA "
        "events on GPUs); each repeat runs enough steps to last the minimum time; contenders take turns repeat by "
        "repeat, and on the CPU a contender using another library's thread pool starts after a short idle pause.",
        "- step ms is the median over repeats, spread is half the min-max range relative to it; vs numpy and vs "
        "torch are throughput ratios within the same run (vs torch: PyTorch on the same device).",
        "- GFLOP/s counts matmul work only, 6 x batch x sum(in x out) less the first layer's skipped input "
        "gradient; % peak is against a float32 sgemm measured on that device at the start and end of the run "
        "(the better of the two).",
        "",
    ]
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    return path


def write_all(record: dict, directory: str, name: str = "bench", plot: bool = True) -> dict:
    """``name``.json, .csv, .md and (unless ``plot`` is False) .png in ``directory``; returns {kind: path}."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, name)
    paths = {"json": write_json(record, base + ".json"), "csv": write_csv(record, base + ".csv"),
             "markdown": write_markdown(record, base + ".md")}
    if plot:
        from .plot import plot_throughput

        paths["png"] = plot_throughput(record, base + ".png")
    return paths
