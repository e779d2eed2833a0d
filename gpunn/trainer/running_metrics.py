"""The loss tracker's and every metric's state, kept on the device during an epoch; read back only when asked.

One float64 device buffer holds all of it, cut per owner by ``metrics/state.py``: the loss tracker (a Mean
named "loss": total and count) and each metric's declared state (per-threshold counts, totals, sums of
squares...). A step adds its batch into it through Ops primitives (no allocation after the first batch of a
size, no host read, so it records and replays); reading it is one device copy, plus one host allreduce across
ranks at epoch ends (every state variable is a sum), then each metric's ``finalize`` on the host.

The metric objects are bound to their part of the buffer (``Metric._bind``) when it is made and at every
``reset``, so ``model.metrics[i].result()`` reads the state of the last ``fit`` epoch or ``evaluate``, as
Keras's compiled metrics hold it.
"""
from __future__ import annotations

import sys

import numpy as np

from .. import overrides
from ..metrics.base import StateBinding
from ..metrics.reduction import Mean
from ..metrics.state import StateLayout
from ..metrics import user_metric
from ..ops.workspace import Workspaces
from .attribute_metrics import attribute_metrics
from .compiled_outputs import in_listed_order
from .lazy_logs import LazyLogs, read_by_the_script


def _log_value(value):
    """A float for a single value, an array for several (thresholds, classes), as Keras's logs hold them: a copy,
    never a view of the running state (History keeps each epoch's value, and a later batch must not change it)."""
    return float(value) if np.ndim(value) == 0 else np.array(value, dtype=np.float64)


class RunningMetrics:
    """The loss (a per-sample mean, weight penalty included) and each metric over the batches since ``reset``.

    Owned by a step, so its buffer stays where a recorded step writes. ``output_width``: the model's output
    width, which sizes per-class state (F1Score, R2Score); None: taken from the first batch.

    A model of several outputs (``trainer/output_losses.py``) also tracks each output's own loss (``loss_parts``:
    a Mean of that output's per-sample loss per output, named as in the logs), and each metric reads its own
    output (``metric_outputs``: per metric, the output's position; ``metric_names``: the metrics' names in the
    logs; ``output_widths``: per output, its width). The logs list the loss, the outputs' losses, then the
    metrics, as Keras's ``evaluate`` orders them.
    """

    def __init__(self, ops, metrics, comm, loss_name="loss", loss_tracker=None, output_width=None,
                 loss_parts=(), metric_outputs=None, metric_names=None, output_widths=None, metric_weighted=None,
                 labels_as_column=False, losses_last=False, shown_part_names=None, listed_part_order=None,
                 host_metrics=()):
        self.ops, self.metrics, self.comm = ops, list(metrics), comm
        # metrics the model holds as attributes, which the script's code updates on the host (its compute_loss):
        # logged after the others, reset with them (attribute_metrics.py)
        self.host_metrics = list(host_metrics)
        self.loss_tracker = loss_tracker if loss_tracker is not None else Mean(name=loss_name)
        self.part_trackers = list(loss_parts)
        self.metric_outputs = list(metric_outputs) if metric_outputs is not None else [0] * len(self.metrics)
        self.metric_names = list(metric_names) if metric_names is not None else [m.name for m in self.metrics]
        self.metric_weighted = list(metric_weighted) if metric_weighted is not None else [False] * len(self.metrics)
        self._owner_names = [self.loss_tracker.name] + [t.name for t in self.part_trackers] + self.metric_names
        # the outputs' losses as the logs name them: as their trackers, but for outputs without names, where two
        # losses of one name share a key, the last one's value in it (Keras's logs dict keeps one)
        parts = list(shown_part_names) if shown_part_names is not None else [t.name for t in self.part_trackers]
        self._shown = [self.loss_tracker.name] + parts + self.metric_names
        # the order evaluate lists them in: the outputs' losses after the metrics where the outputs have no names
        # (Keras's ``metrics`` then puts its CompileLoss trackers last), else before them, in the order of the
        # loss dict given for a dict of outputs (``listed_part_order``: compiled_outputs.listed_loss_order)
        listed = in_listed_order(parts, listed_part_order)
        self.names = [self.loss_tracker.name] + (self.metric_names + listed if losses_last
                                                 else listed + self.metric_names)
        self.names += [metric.name for metric in self.host_metrics]
        self._output_widths = output_widths
        self.labels_as_column = labels_as_column
        self._workspaces = Workspaces(ops)  # per (batch rows, metric): each metric's scratch buffers
        self.layout = self.state = self._views = None
        self.count = 0  # samples and batches since reset, on the host (the loss's count is on the device)
        self.batches = 0
        if output_width is not None or output_widths is not None:
            self._allocate(output_widths or [output_width])

    @property
    def _owners(self) -> list:
        return [self.loss_tracker] + self.part_trackers + self.metrics

    def _allocate(self, widths: list) -> None:
        first = 1 + len(self.part_trackers)
        shapes = [owner.state_shapes(widths[0]) for owner in self._owners[:first]]
        shapes += [metric.state_shapes(widths[k]) for metric, k in zip(self.metrics, self.metric_outputs)]
        self.layout = StateLayout(shapes)
        self.state = self.ops.zeros(self.layout.size, dtype="float64")
        self._views = self.layout.views(self.state)
        self._own_layouts = [StateLayout([s]) for s in shapes]
        self._restore(self._kept_states())
        self._bind()
        self._reset_users_metrics()

    def _reset_users_metrics(self) -> None:
        """A metric of the user's starts where its own reset_state puts it (Keras calls it before every epoch
        and evaluation), on its variables bound to this buffer."""
        for metric in self.metrics:
            if metric.resets_itself:
                metric.reset_state()

    def _kept_states(self) -> list:
        """(span, host copy of the state) of each metric whose reset_state is the script's. Keras calls only that
        reset_state, on the one state a metric has for fit and evaluate alike, so such a metric starts from what it
        holds, wherever it is bound now (this buffer, another step's, or its own host state)."""
        kept = []
        first = 1 + len(self.part_trackers)
        for index, metric in enumerate(self.metrics, start=first):
            binding = metric._state
            if (overrides.user_definition(type(metric), "reset_state") is None or binding is None
                    or binding.layout.fields != self._own_layouts[index].fields):
                continue
            kept.append((self.layout.spans[index], np.array(binding.ops.to_numpy(binding.flat), dtype=np.float64)))
        return kept

    def _restore(self, kept: list) -> None:
        for (start, stop), values in kept:
            self.ops.upload(values, self.state[start:stop])

    def _bind(self) -> None:
        for index, owner in enumerate(self._owners):
            start, stop = self.layout.spans[index]
            owner._bind(StateBinding(self.ops, self.state[start:stop], self._views[index], self._own_layouts[index],
                                 owner=self))

    # Whether a ``*_on_batch`` call with tf.keras 2's reset_metrics=True was the last to add here (trainer.py)
    reset_after_batch = False

    def bind(self) -> None:
        """Let the model's metric objects read this state as it is (``reset`` binds them to it zeroed)."""
        if self.state is not None:
            self._bind()

    def reset(self) -> None:
        if self.state is not None:
            kept = self._kept_states()
            self.ops.fill(0, self.state)
            self._restore(kept)
            self._bind()
            self._reset_users_metrics()
        for metric in self.host_metrics:
            metric.reset_state()
        self.count = 0
        self.batches = 0

    def accumulate(self, per_sample_loss, penalty, predictions, y_true, parts=None, sample_weight=None,
                   mask=None) -> None:
        """Add one batch on the device (``penalty``: a 0-d weight penalty, or None). Metrics are unweighted:
        ``per_sample_loss`` carries the sample weights, the metrics see only labels and predictions; the weighted
        metrics (compile's ``weighted_metrics``) also take ``sample_weight`` when the batch has weights (for
        several outputs, a list of each output's weights, or None).
        ``predictions`` / ``y_true``: the model's output and targets, or lists of them per output; ``parts``:
        per output, its own per-sample loss (several outputs); ``mask``: a per-step output's padding mask, which
        the unweighted metrics take as their weights (Keras masks every metric)."""
        several = isinstance(predictions, list)
        if self.state is None:
            self._allocate([p.shape[-1] for p in predictions] if several else [predictions.shape[-1]])
        ops = self.ops
        n = per_sample_loss.shape[0]
        # The metrics that run the script's code first, then the built-in ones, then the loss: one that raises
        # leaves the built-in metrics' and the loss's sums as they were before the step (train_step.py: before any
        # weight moves); a metric of the script's listed before it has counted the batch
        for i, (metric, k, weighted) in self._accumulation_order():
            predicted, labels = (predictions[k], y_true[k]) if several else (predictions, y_true)
            weights = mask if not weighted else sample_weight[k] if isinstance(sample_weight, list) else sample_weight
            if self.labels_as_column and metric.takes_labels_as_given:
                labels = labels.reshape(-1, 1)
            metric.step_accumulate(ops, self._workspaces((n, i, weights is not None)), labels, predicted,
                                   self._views[i], weights)
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
        samples = ws.constant("running.samples", float(n), np.float64)
        loss = self._views[0]
        ops.add(loss["total"], batch_total, loss["total"])
        ops.add(loss["count"], samples, loss["count"])
        for k, part in enumerate(parts or []):  # Keras tracks each output's loss without the weight penalty
            part_total = ws.buffer(f"running.part_total{k}", (), np.float64)
            ops.sum(part, None, part_total)
            view = self._views[1 + k]
            ops.add(view["total"], part_total, view["total"])
            ops.add(view["count"], samples, view["count"])

    def _accumulation_order(self) -> list:
        """(state index, (metric, output, weighted)) of each metric, those running the script's code first; made once
        (the metrics of a RunningMetrics do not change)."""
        order = self.__dict__.get("_order")
        if order is None:
            first = 1 + len(self.part_trackers)
            entries = list(enumerate(zip(self.metrics, self.metric_outputs, self.metric_weighted), start=first))
            order = self.__dict__["_order"] = sorted(entries, key=lambda entry: not _runs_script_code(entry[1][0]))
        return order

    def count_batch(self, rows: int) -> None:
        """The host's share of a batch: how many samples and batches the state now covers (kept out of any
        recording; the loss's own count is added on the device)."""
        self.count += rows
        self.batches += 1

    def result(self, across_ranks: bool = True) -> dict:
        """Each value so far (a float, or an array for a metric with several): one device read, plus one host
        allreduce across ranks when asked.

        ``across_ranks`` is collective, so every rank must ask at the same point (epoch ends); batch-level
        logs, read by rank 0's progress bar alone, use the rank's own values.
        """
        if self.state is None:  # nothing seen yet (e.g. an empty epoch before the first batch)
            return {name: 0.0 for name in self.names}
        host = np.asarray(self.ops.to_numpy(self.state), dtype=np.float64)
        if across_ranks and self.comm.size > 1:
            host = user_metric.combine_across_ranks(self._owners, self.layout.fields, host, self.comm)
        views = self.layout.views(host)
        found = {name: _log_value(owner.value_of(view)) for name, owner, view in zip(self._shown, self._owners,
                                                                                     views)}
        for metric in self.host_metrics:
            found[metric.name] = _log_value(np.asarray(self.ops.to_numpy(metric.result()), dtype=np.float64))
        return found if self.names == self._owner_names else {name: found[name] for name in self.names}

    def lazy_logs(self) -> LazyLogs:
        return LazyLogs(lambda: self.result(across_ranks=False), self.names)


def running_metrics_for(plan, ops, comm, model) -> RunningMetrics:
    """The running sums a step of ``plan`` keeps: the model's loss tracker, its outputs' losses and metrics."""
    return RunningMetrics(ops, plan.metrics, comm, loss_tracker=getattr(model, "_loss_tracker", None),
                          loss_parts=model._loss_part_trackers(plan.loss_names), metric_outputs=plan.metric_outputs,
                          metric_names=plan.metric_names, output_widths=[o.width for o in plan.outputs],
                          metric_weighted=plan.metric_weighted, labels_as_column=plan.labels_as_column,
                          losses_last=plan.losses_last, shown_part_names=plan.shown_loss_names,
                          listed_part_order=plan.listed_loss_order,
                          host_metrics=attribute_metrics(model, besides=[
                              getattr(model, "_loss_tracker", None), *getattr(model, "_part_trackers", {}).values(),
                              *model.compiled_metrics, *plan.metrics]))


def hand_batch_logs(running: RunningMetrics, hook, batch: int) -> None:
    """``hook(batch, logs)`` with lazy batch logs (``lazy_logs.py``): filled first where a callback of the
    script's has the hook; else read when a callback looks, or, when a callback keeps them to read after the batch
    (a list of each batch's logs), read now, at this batch's values, since the next step moves the state they
    would read: Keras hands each hook a dict of that batch's values. Logs nobody looked at or kept are never read."""
    logs = running.lazy_logs()
    if read_by_the_script(hook):
        hook(batch, logs._resolve())
        return
    unheld = sys.getrefcount(logs)  # (counted before the hook: the count an interpreter gives is its own)
    hook(batch, logs)
    if sys.getrefcount(logs) > unheld:
        logs._resolve()


def _runs_script_code(metric) -> bool:
    """Whether a step's update of ``metric`` calls code of the script's (a function, a Metric of its own, a
    subclass's ``update_state``), which may raise."""
    from ..metrics.function_metric import MeanMetricWrapper

    return isinstance(metric, MeanMetricWrapper) or metric.takes_labels_as_given
