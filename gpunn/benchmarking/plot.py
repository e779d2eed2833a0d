"""The benchmark PNG: training throughput against batch size, one panel per model size, one line per backend."""
from __future__ import annotations

import math
import os

from ..plotting import _pyplot

# One colour and marker per backend in every panel; gpunn's fused and unfused variants share a colour family.
STYLES = {
    "numpy": ("tab:blue", "o", "-"), "numpy-unfused": ("tab:blue", "o", ":"),
    "cupy": ("tab:green", "s", "-"), "cupy-unfused": ("tab:green", "s", ":"),
    "torch-cpu": ("tab:red", "^", "--"), "torch-cuda": ("tab:orange", "^", "--"),
}


def plot_throughput(record: dict, path: str) -> str:
    """Samples/s (median, bars: min-max over repeats) against batch size; returns the path."""
    plt = _pyplot()
    from matplotlib.ticker import NullLocator
    sizes = list(dict.fromkeys(r["size"] for r in record["results"])) or ["(no results)"]
    columns = min(3, len(sizes))
    rows = math.ceil(len(sizes) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    for ax, size in zip(axes.flat, sizes):
        results = [r for r in record["results"] if r["size"] == size]
        for backend in dict.fromkeys(r["backend"] for r in results):
            points = sorted((r for r in results if r["backend"] == backend), key=lambda r: r["batch"])
            batches = [r["batch"] for r in points]
            median = [r["samples_per_s"] for r in points]
            # the bar spans the slowest and fastest repeat
            low = [m - r["batch"] / r["step_s"]["max"] for m, r in zip(median, points)]
            high = [r["batch"] / r["step_s"]["min"] - m for m, r in zip(median, points)]
            color, marker, line = STYLES.get(backend, (None, "x", "-"))
            ranks = points[0]["ranks"]
            ax.errorbar(batches, median, yerr=[low, high], color=color, marker=marker, linestyle=line, capsize=3,
                        markerfacecolor="none" if backend.endswith("-unfused") else color,
                        label=backend + (f" x{ranks} ranks" if ranks > 1 else ""))
        layers = "-".join(map(str, results[0]["layers"])) if results else ""
        ax.set_title(f"{size} ({layers})" if layers and layers != size else size)
        ax.set_xscale("log", base=2)
        ticks = sorted({r["batch"] for r in results})
        if ticks:  # label the batch sizes run, not powers of two
            ax.set_xticks(ticks, [str(b) for b in ticks])
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("training samples/s")
        ax.grid(alpha=0.3, which="both")
        if results:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(sizes):]:
        ax.set_visible(False)
    machine = record.get("machine", {})
    devices = ", ".join(sorted({r["device"] for r in record["results"]})) or "no device"
    fig.suptitle(f"gpunn bench: training-step throughput ({devices}; {machine.get('cpu_model', '')})", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
