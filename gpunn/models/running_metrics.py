"""Loss and metric sums kept on the device during an epoch; read back to the host only when asked."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class RunningMetrics:
    """Per-sample means of the loss and each metric over the batches seen since ``reset``."""

    def __init__(self, ops, metrics, comm, loss_name="loss"):
        self.ops, self.metrics, self.comm = ops, list(metrics), comm
        self.names = [loss_name] + [m.name for m in self.metrics]
        self.sums = ops.zeros(len(self.names), dtype="float64")
        self._slices = [self.sums[i:i + 1] for i in range(len(self.names))]
        self.count = 0
        self.batches = 0

    def reset(self) -> None:
        self.sums[...] = 0.0
        self.count = 0
        self.batches = 0

    def add(self, per_sample_loss, penalty, predictions, y_true) -> None:
        n = per_sample_loss.shape[0]
        self._accumulate(0, per_sample_loss.sum())
        if penalty is not None:
            self._accumulate(0, penalty * n)
        for i, metric in enumerate(self.metrics, start=1):
            self._accumulate(i, metric.batch_sum(self.ops, y_true, predictions))
        self.count += n
        self.batches += 1

    def _accumulate(self, index: int, value) -> None:
        # Into a 1-element slice with out=: one kernel on the GPU, where `sums[i] += value` on a 0-d view
        # takes two (a read, then a write back).
        view = self._slices[index]
        self.ops.xp.add(view, value, out=view)

    def result(self, across_ranks: bool = True) -> dict[str, float]:
        """The means so far as floats: one device read, plus one host allreduce across ranks when asked.

        ``across_ranks`` is collective, so every rank must ask at the same point (epoch ends); batch-level
        logs, read by rank 0's progress bar alone, use the rank's own values.
        """
        host = np.append(self.ops.to_numpy(self.sums), float(self.count))
        if across_ranks and self.comm.size > 1:
            host = self.comm.allreduce_host(host)
        count = host[-1] if host[-1] > 0 else 1.0
        return {name: float(total / count) for name, total in zip(self.names, host[:-1])}

    def lazy_logs(self) -> "LazyLogs":
        return LazyLogs(self)


class LazyLogs(Mapping):
    """Batch-end ``logs`` whose values are read from the device only if a callback looks at them."""

    def __init__(self, running: RunningMetrics):
        self._running = running
        self._values: dict | None = None

    def _resolve(self) -> dict:
        if self._values is None:
            self._values = self._running.result(across_ranks=False)
        return self._values

    def __getitem__(self, key):
        return self._resolve()[key]

    def __iter__(self):
        return iter(self._running.names)

    def __len__(self):
        return len(self._running.names)

    def __contains__(self, key):
        return key in self._running.names
