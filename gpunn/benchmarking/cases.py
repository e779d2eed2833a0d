"""What is benchmarked: MLP sizes (presets or explicit layer lists), batch sizes, and the FLOPs of one step.

Every model is a Sequential MLP: Dense relu hidden layers, a softmax output, sparse categorical
cross-entropy and Adam. Sizes are written as layer widths from the input to the classes, ``784-128-128-10``.
The presets run from launch-bound (a few microseconds of math per step, where per-call overheads decide)
to matmul-bound (where the achieved FLOP/s against the device's matmul peak decides).

A run takes either every size at every batch size (``--sizes`` x ``--batches``) or, per size, its own batch
sizes (``--case 784-256-256-10:64,128,256 --case xlarge:4096``): a large model at the batches that fill a GPU,
a small one where launches decide, without the corners of the product nobody asked for.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

# name -> layer widths (inputs, hidden..., classes)
PRESETS: dict[str, tuple[int, ...]] = {
    "tiny": (32, 64, 64, 10),              # launch-bound everywhere
    "small": (784, 128, 128, 10),          # the classic MNIST MLP
    "medium": (784, 512, 512, 10),
    "large": (784, 2048, 2048, 10),        # matmul-bound on a CPU
    "xlarge": (1024, 4096, 4096, 4096, 10),  # matmul-bound on a GPU; slow on a CPU
}
CPU_SIZES = ("tiny", "small", "medium", "large")
GPU_SIZES = ("tiny", "small", "medium", "large", "xlarge")
DEFAULT_BATCHES = (32, 128, 512, 2048)
QUICK_SIZES = ("tiny", "small")
QUICK_BATCHES = (32, 256)


@dataclass(frozen=True)
class Case:
    """One model size at one batch size."""

    name: str                 # the preset name, or the widths joined by '-'
    layers: tuple[int, ...]   # (inputs, hidden..., classes)
    batch: int

    @property
    def flops(self) -> int:
        return flops_per_step(self.layers, self.batch)


def flops_per_step(layers, batch: int) -> int:
    """Matmul FLOPs of one training step (multiply and add counted as 2).

    Per Dense layer of ``n_in x n_out``: forward ``x @ W`` is 2·B·n_in·n_out, backward ``x.T @ dz`` (dW) and
    ``dz @ W.T`` (dX) are the same again each: 6·B·Σ n_in·n_out in all. The first layer's dX is never
    computed (nothing before it needs it), so its 2·B·n_in·n_out is taken off. Element-wise work (bias,
    activation, loss, the optimizer) is O(B·units) and not counted: the figure is the matmul work only.
    """
    pairs = list(zip(layers[:-1], layers[1:]))
    total = sum(6 * batch * a * b for a, b in pairs)
    return total - 2 * batch * pairs[0][0] * pairs[0][1]


def parse_size(text: str, option: str = "--sizes") -> tuple[str, tuple[int, ...]]:
    """'small' or '784-256-10' -> (name, widths); ``option`` names the argument in errors."""
    text = text.strip().lower()
    if text in PRESETS:
        return text, PRESETS[text]
    try:
        widths = tuple(int(w) for w in text.split("-"))
    except ValueError:
        raise ValueError(f"{option}: expected a preset ({', '.join(PRESETS)}) or widths such as 784-256-10, "
                         f"got {text!r}") from None
    if len(widths) < 2 or any(w <= 0 for w in widths):
        raise ValueError(f"{option}: expected at least two positive widths (inputs-...-classes), got {text!r}")
    if widths[-1] < 2:
        raise ValueError(f"{option}: a softmax output needs at least 2 classes, got {text!r}")
    return "-".join(map(str, widths)), widths


def parse_sizes(items) -> list[tuple[str, tuple[int, ...]]]:
    """A comma-separated string or a list of size names/width lists -> [(name, widths)], duplicates dropped."""
    if isinstance(items, str):
        items = [s for s in items.split(",") if s.strip()]
    sizes = [parse_size(s) if isinstance(s, str) else ("-".join(map(str, s)), tuple(int(w) for w in s))
             for s in items]
    if not sizes:
        raise ValueError("--sizes: no model size given")
    return list(dict(sizes).items())


def parse_batches(items, option: str = "--batches") -> list[int]:
    """'32,128' or [32, 128] -> [32, 128] (positive, sorted, unique); ``option`` names the argument in errors."""
    if isinstance(items, str):
        items = [s for s in items.split(",") if s.strip()]
    try:
        batches = sorted({int(b) for b in items})
    except (TypeError, ValueError):
        raise ValueError(f"{option}: expected comma-separated positive integers, got {items!r}") from None
    if not batches or batches[0] <= 0:
        raise ValueError(f"{option}: expected positive integers, got {items!r}")
    return batches


def parse_case(text: str) -> tuple[str, tuple[int, ...], list[int]]:
    """'784-256-10:64,256' or 'small:32' -> (name, widths, batches)."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f"--case: expected SIZE:B1,B2,... such as 784-256-256-10:64,128 or small:32, got {text!r}")
    size, _, batches = text.partition(":")
    name, widths = parse_size(size, option="--case")
    return name, widths, parse_batches(batches, option=f"--case {text.strip()}")


def parse_cases(items) -> list[tuple[str, tuple[int, ...], list[int]]]:
    """``--case`` entries -> [(name, widths, batches)], one per size in the order given (a size given twice gets
    the union of its batch lists)."""
    if isinstance(items, str):
        items = [items]
    merged: dict = {}
    for text in items:
        name, widths, batches = parse_case(text)
        merged.setdefault(name, (widths, set()))[1].update(batches)
    if not merged:
        raise ValueError("--case: no case given")
    return [(name, widths, sorted(batches)) for name, (widths, batches) in merged.items()]


def case_text(name: str, batches) -> str:
    """(name, batches) -> the ``--case`` argument that asks for them."""
    return f"{name}:{','.join(map(str, batches))}"


def listed(cases) -> list[Case]:
    """Each size at its own batch sizes (``parse_cases``'s output), size by size."""
    return [Case(name, widths, batch) for name, widths, batches in cases for batch in batches]


def sweep(sizes, batches) -> list[Case]:
    """Every size at every batch size, smallest model first."""
    return [Case(name, widths, batch) for (name, widths), batch in itertools.product(sizes, batches)]
