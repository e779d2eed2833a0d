"""A benchmark record as a text table, JSON, CSV and a markdown summary (the PNG is plot.py's).

Files are replaced atomically (written to a temporary file in the same directory, then renamed over the
old one), so a run killed while writing leaves the previous complete file, never half of one.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile

from . import schema

COLUMNS = ("size", "batch", "backend", "samples/s", "step ms", "spread", "vs numpy", "vs torch", "GFLOP/s",
           "% peak")
# Shown when a result ran on a GPU, where the host's share of a step decides small cases (see visits.py).
HOST_COLUMNS = ("host ms", "ops calls", "us/call")


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _host_columns_shown(record: dict) -> bool:
    return any(not r["device"].startswith("cpu") for r in record["results"])


def _columns(record: dict) -> tuple:
    return COLUMNS + (HOST_COLUMNS if _host_columns_shown(record) else ())


def _cells(row: dict, host_columns: bool = False) -> list[str]:
    step = row["step_s"]
    peak = row.get("peak_fraction")
    backend = row["backend"] + (f" x{row['ranks']}" if row["ranks"] > 1 else "")
    cells = [row["size"], str(row["batch"]), backend, f"{row['samples_per_s']:,.0f}",
             f"{step['median'] * 1e3:.4g}", f"±{step['spread'] * 100:.1f}%", _ratio(row.get("speedup_vs_numpy")),
             _ratio(row.get("ratio_vs_torch")), f"{row['flops_per_s'] / 1e9:,.1f}",
             "-" if peak is None else f"{peak * 100:.1f}%"]
    if host_columns:
        host, calls, per_call = (row.get(k) for k in ("host_s_per_step", "ops_calls_per_step", "host_s_per_ops_call"))
        cells += ["-" if host is None else f"{host * 1e3:.4g}", "-" if calls is None else str(calls),
                  "-" if per_call is None else f"{per_call * 1e6:.3g}"]
    return cells


def format_table(record: dict) -> str:
    """The results as an aligned text table, with the peaks, failures and skipped backends under it."""
    columns = _columns(record)
    host = _host_columns_shown(record)
    rows = [list(columns)] + [_cells(r, host) for r in record["results"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
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
                     f"({'TF32' if record['config'].get('tf32') and device != 'cpu' else 'float32'} sgemm, measured)")
        if peak.get("copy_bytes_per_s"):
            notes.append(f"device copy on {device}: {peak['copy_bytes_per_s'] / 1e9:,.1f} GB/s "
                         "(device-to-device, read + write, measured)")
    tolerances = sorted({(r.get("validation") or {}).get("tolerance", {}).get("name", "float32")
                         for r in record["results"] if r.get("validation")})
    if "tf32" in tolerances:
        notes.append("validated with TF32 tolerances where TF32 matmuls ran (see gpunn.benchmarking.validation)")
    for f in record["failures"]:
        stage = f" in {f['stage']}" if f.get("stage") else ""
        where = f" on {f.get('size')} batch {f.get('batch')}" if f.get("size") is not None else ""
        notes.append(f"FAILED {f['backend']}{where}{stage}: {f['reason']}")
    not_run = record.get("not_run") or []
    if not_run:
        cases = ", ".join(f"{c['size']} batch {c['batch']}" for c in not_run)
        notes.append(f"NOT RUN ({not_run[0]['reason']}): {cases}")
    for s in record["skipped"]:
        notes.append(f"skipped {s['backend']}: {s['reason']}")
    return notes


def format_markdown_table(record: dict) -> str:
    columns = _columns(record)
    host = _host_columns_shown(record)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" if i in (0, 2) else "---:"
                                                               for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(_cells(r, host)) + " |" for r in record["results"]]
    return "\n".join(lines)


def atomic_write_text(path: str, text: str) -> str:
    """Replace ``path`` with ``text`` in one step: a temporary file in the same directory, renamed over it."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; results get the usual permissions
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def write_json(record: dict, path: str) -> str:
    schema.check(record)
    return atomic_write_text(path, json.dumps(record, indent=1, default=str) + "\n")


CSV_FIELDS = ("size", "layers", "batch", "backend", "library", "device", "ranks", "samples_per_s", "step_median_s",
              "step_min_s", "step_max_s", "step_q1_s", "step_q3_s", "spread", "repeats", "steps_per_repeat",
              "flops_per_step", "flops_per_s", "peak_fraction", "speedup_vs_numpy", "ratio_vs_torch", "validated",
              "loss_error", "grad_error", "tolerance", "host_s_per_step", "ops_calls_per_step",
              "host_s_per_ops_call", "clock")


def _optional(value):
    return "" if value is None else value


def write_csv(record: dict, path: str) -> str:
    with io.StringIO(newline="") as fh:
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
                "loss_error": v.get("loss_error", ""), "grad_error": v.get("grad_error", ""),
                "tolerance": (v.get("tolerance") or {}).get("name", ""),
                "host_s_per_step": _optional(r.get("host_s_per_step")),
                "ops_calls_per_step": _optional(r.get("ops_calls_per_step")),
                "host_s_per_ops_call": _optional(r.get("host_s_per_ops_call")), "clock": r["clock"],
            })
        return atomic_write_text(path, fh.getvalue())


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
        f"- MPI: {m.get('mpi')}",
        f"- TF32 matmuls on GPUs: {'on' if record['config'].get('tf32') else 'off'}",
        f"- run time: {record['duration_s']:.0f} s" + _progress_text(record),
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
        "gradient; % peak is against a float32 sgemm (TF32 with --tf32) measured on that device at the start "
        "and end of the run (the better of the two). On GPUs the device copy rate (a large device-to-device "
        "copy, bytes read plus written per second) is measured beside it.",
        "- With TF32 on, GPU contenders are validated with TF32 tolerances (loss within sqrt(K) x 2^-11, "
        "gradients norm-wise; K the longest dot product of the step); each result's validation records the "
        "tolerances used.",
        "- host ms (GPU runs): median host time to issue one step on an idle device, without synchronising; "
        "ops calls: calls into the backend's Ops methods in one step, a lower bound of kernel launches "
        "(allocation-only helpers not counted); us/call: the one over the other.",
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
    return path


def _progress_text(record: dict) -> str:
    progress = record.get("progress")
    if not progress:
        return ""
    state = progress["state"]
    return f" ({state}: {progress['cases_done']} of {progress['cases_total']} cases)"


def write_progress(record: dict, directory: str, name: str = "bench") -> dict:
    """``name``.json, .csv and .md in ``directory``, each replaced atomically; returns {kind: path}. Cheap
    enough to call after every case."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, name)
    return {"json": write_json(record, base + ".json"), "csv": write_csv(record, base + ".csv"),
            "markdown": write_markdown(record, base + ".md")}


def write_all(record: dict, directory: str, name: str = "bench", plot: bool = True) -> dict:
    """``name``.json, .csv, .md and (unless ``plot`` is False) .png in ``directory``; returns {kind: path}."""
    base = os.path.join(directory, name)
    paths = write_progress(record, directory, name)
    if plot:
        from .plot import plot_throughput

        paths["png"] = plot_throughput(record, base + ".png")
    return paths
