"""Loss and metric sums kept on the device during an epoch; read back to the host only when asked."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ops.workspace import Workspaces


class RunningMetrics:
    """Per-sample means of the loss and each metric over the batches seen since ``reset``.

    Owned by a step, so its sums buffer stays where a recorded step writes; each batch adds into it on the
    device through Ops primitives (no allocation, no host read).
    """

    def __init__(self, ops, metrics, comm, loss_name="loss"):
        self.ops, self.metrics, self.comm = ops, list(metrics), comm
        self.names = [loss_name] + [m.name for m in self.metrics]
        self.sums = ops.zeros(len(self.names), dtype="float64")
        # 0-d views, one per name: a reduction can write into them and an add can accumulate into them
        self._totals = [self.sums[i:i + 1].reshape(()) for i in range(len(self.names))]
        self._workspaces = Workspaces(ops)  # per (batch rows, metric): each metric's scratch buffers
        self.count = 0
        self.batches = 0

    def reset(self) -> None:
        self.sums[...] = 0.0
        self.count = 0
        self.batches = 0

    def accumulate(self, per_sample_loss, penalty, predictions, y_true) -> None:
        """Add one batch's sums on the device (``penalty``: a 0-d weight penalty, or None)."""
        ops = self.ops
        n = per_sample_loss.shape[0]
        ws = self._workspaces((n, "loss"))
        batch_total = ws.buffer("running.batch_total", (), np.float64)
        ops.sum(per_sample_loss, None, batch_total)
        if penalty is not None:
            # Keras adds the weight penalty to the loss of every sample
            scaled = ws.buffer("running.penalty_total", (), penalty.dtype)
            ops.multiply(penalty, ws.constant("running.rows", float(n), penalty.dtype), scaled)
            # widened by a copy (a mixed-dtype ufunc would allocate a casting buffer on the CPU)
            wide = ws.buffer("running.penalty_total64", (), np.float64)
            ops.copy_into(scaled, wide)
            ops.add(batch_total, wide, batch_total)
        ops.add(self._totals[0], batch_total, self._totals[0])
        for i, metric in enumerate(self.metrics, start=1):
            metric.batch_sum(ops, self._workspaces((n, i)), y_true, predictions, batch_total)
            ops.add(self._totals[i], batch_total, self._totals[i])

    def count_batch(self, rows: int) -> None:
        """The host's share of a batch: how many samples the sums now cover (kept out of any recording)."""
        self.count += rows
        self.batches += 1

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
