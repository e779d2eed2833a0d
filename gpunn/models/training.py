"""compile / fit / evaluate / predict and the *_on_batch methods, with Keras's signatures and return values.

One training step: forward through the layers (the output activation left to the loss when it can be fused),
the loss's fused forward+gradient, backprop in reverse into the flat gradient buffer, a sum over ranks when
data-parallel, and one optimizer update over the flat parameter buffer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import distributed
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import random as gpunn_random
from ..data import (DeviceDataset, as_numeric_array, check_inputs, check_positive_int, check_same_length,
                    check_sample_weight, check_targets, class_weight_to_sample_weight, split_validation)
from ..layers.activation import Activation
from ..layers.dense import Dense
from ..layers.dropout import Dropout
from .running_metrics import RunningMetrics


@dataclass
class TrainPlan:
    """What the step needs to know about this model + loss, worked out once per build/compile."""

    layers: list               # the layers run in training (a fused trailing Activation layer left out)
    dense_tail_fused: bool     # the last Dense returns logits; the loss applies its activation
    loss_takes_logits: bool
    need_dx: list              # per layer: does any earlier layer have trainable weights?
    has_regularizers: bool


def _check_verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def shard_bounds(start: int, stop: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous share of rows [start, stop): sizes differ by at most one, lower ranks first.

    With n rows and N ranks, the first n % N ranks get n // N + 1 rows and the others n // N, in rank order
    (10 rows over 4 ranks: 3, 3, 2, 2). A share may be empty when n < N; that rank still joins the sum.
    """
    n = stop - start
    base, extra = divmod(n, size)
    lo = start + rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


class _OutOfMemoryGuard:
    """Turns a device out-of-memory error into one that names the batch size and the memory asked for."""

    def __init__(self, ops, batch_size: int):
        self.ops, self.batch_size = ops, batch_size

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, self.ops.out_of_memory_errors):
            raise MemoryError(
                f"batch_size: out of {self.ops.device_description} memory with batch_size={self.batch_size} "
                f"({exc}); try a smaller batch_size"
            ) from exc
        return False


class TrainingMixin:
    def _init_training_state(self) -> None:
        self.optimizer = None
        self.loss = None
        self.compiled_metrics: list = []
        self._metric_identifiers: list = []
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._train_plan = None
        self._synced_comm = None

    # ---- compile ----------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, run_eagerly=None,
                steps_per_execution=1, jit_compile=None, **kwargs):
        """Configure training. ``run_eagerly``, ``jit_compile`` and ``steps_per_execution`` are accepted for
        tf.keras compatibility and change nothing."""
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {sorted(kwargs)}")
        if loss_weights is not None:
            raise ValueError("loss_weights: a Sequential model has one output; leave loss_weights as None")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss) if loss is not None else None
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics: expected a list of metric names or objects, got {type(metrics).__name__}")
        self._metric_identifiers = list(metrics or [])
        for identifier in self._metric_identifiers:  # unknown names fail here, before any work
            metrics_module.get(identifier, self.loss, 2, True)
        self.compiled = True
        self._train_plan = None
        self._optimizer_built = False
        self._reducer_for = None  # its layer segments follow the plan

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [m.name for m in self.compiled_metrics]

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{what}: the model must be compiled first; call model.compile(optimizer=..., loss=...)")
        if self.loss is None:
            raise RuntimeError(f"{what}: the model was compiled without a loss; call model.compile(loss=...)")

    def _plan(self, sparse_labels: bool) -> TrainPlan:
        if self._train_plan is not None:
            return self._train_plan
        layers = list(self.layers)
        last = layers[-1]
        fusable = self.loss.fusable_activation
        tail_act = getattr(getattr(last, "activation", None), "name", None)
        fused = (not self.loss.from_logits and fusable is not None and tail_act == fusable
                 and isinstance(last, (Dense, Activation)))
        if fused and isinstance(last, Activation):
            layers = layers[:-1]
        need_dx, seen_weights = [], False
        for layer in layers:
            need_dx.append(seen_weights)
            seen_weights = seen_weights or bool(layer.bound.grads)
        units = self.layers[-1].output_shape[-1]
        self.compiled_metrics = [metrics_module.get(m, self.loss, units, sparse_labels)
                                 for m in self._metric_identifiers]
        self._train_plan = TrainPlan(
            layers=layers, dense_tail_fused=fused and isinstance(last, Dense),
            loss_takes_logits=fused or self.loss.from_logits, need_dx=need_dx,
            has_regularizers=any(s.regularizer is not None for layer in layers for s in layer.weight_specs()),
        )
        return self._train_plan

    def _ensure_optimizer(self) -> None:
        if not getattr(self, "_optimizer_built", False) or self.optimizer.ops is not self.ops:
            self.optimizer.build(self.ops, self.params, self._segments)
            self._optimizer_built = True

    # ---- the steps --------------------------------------------------------------------------------
    def _forward(self, plan: TrainPlan, x, training: bool):
        backprops = []
        last = len(plan.layers) - 1
        for i, layer in enumerate(plan.layers):
            if i == last and plan.dense_tail_fused:
                x, backprop = layer.forward(x, training, apply_activation=False)
            else:
                x, backprop = layer.forward(x, training)
            backprops.append(backprop)
        return x, backprops

    def _penalty(self, plan: TrainPlan):
        if not plan.has_regularizers:
            return None
        return sum(layer.regularization_penalty() for layer in plan.layers)

    @staticmethod
    def _weigh(per_sample, dy, wb):
        """Keras's sample weights: each sample's loss, and so its gradient row, scaled by its weight."""
        if wb is None:
            return per_sample
        if dy is not None:
            dy *= wb.reshape((-1,) + (1,) * (dy.ndim - 1))
        return per_sample * wb

    def _train_step(self, plan: TrainPlan, xb, yb, grad_scale: float, comm, wb=None):
        output, backprops = self._forward(plan, xb, training=True)
        per_sample, dy, predictions = self.loss.compute(self.ops, output, yb, grad_scale, plan.loss_takes_logits)
        per_sample = self._weigh(per_sample, dy, wb)
        reducer = self._gradient_reducer(comm)
        for index in range(len(backprops) - 1, -1, -1):
            if dy is not None:  # None: no layer below has trainable weights (e.g. a frozen first layer)
                dy = backprops[index](dy, plan.need_dx[index])
            if reducer is not None:
                reducer.layer_done(index)
        if reducer is not None:
            reducer.wait()
        if plan.has_regularizers:
            for layer in plan.layers:
                layer.add_regularization_gradients()
        self.optimizer.apply(self.params, self.grads)
        return per_sample, predictions

    def _gradient_reducer(self, comm):
        """The communicator's per-model gradient reducer (None alone): told as each layer's gradients are
        final, so a bucketed implementation can overlap communication with the rest of the backward pass."""
        if comm.size == 1:
            return None
        if getattr(self, "_reducer_for", None) is not comm:
            plan = self._train_plan
            layer_segments = []
            for layer in plan.layers:
                ids = {id(g) for g in layer.bound.grads.values()}
                layer_segments.append([seg for seg, g in zip(self._segments, self._grad_views()) if id(g) in ids])
            self._reducer = comm.gradient_reducer(self.grads, layer_segments)
            self._reducer_for = comm
        return self._reducer

    def _grad_views(self):
        return [layer.bound.grads[s.name] for layer in self.layers for s in layer.weight_specs()
                if s.name in layer.bound.grads]

    def _test_step(self, plan: TrainPlan, xb, yb, wb=None):
        output, _ = self._forward(plan, xb, training=False)
        per_sample, _, predictions = self.loss.compute(self.ops, output, yb, 1.0, plan.loss_takes_logits,
                                                       need_grad=False)
        return self._weigh(per_sample, None, wb), predictions

    def _step_guard(self, batch_size: int) -> "_OutOfMemoryGuard":
        return _OutOfMemoryGuard(self.ops, batch_size)

    # ---- data checks ------------------------------------------------------------------------------
    def _prepare(self, x, y, x_argument="x", y_argument="y"):
        x = as_numeric_array(x_argument, x)
        self._ensure_built(x.shape)
        x = check_inputs(x_argument, x, self.layers[0].input_shape, self.dtype)
        if y is None:
            return x, None
        y = as_numeric_array(y_argument, y)
        check_same_length(x, y, y_argument)
        y = check_targets(y_argument, y, self.loss, self.layers[-1].output_shape, self.dtype)
        return x, y

    def _sample_weights(self, y, sample_weight, class_weight, argument="sample_weight"):
        """Per-sample weights (float64, host) from ``sample_weight`` or ``class_weight``, or None."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError("sample_weight, class_weight: give at most one of them")
        if class_weight is not None:
            weights = class_weight_to_sample_weight(class_weight, y, self.loss)
        elif sample_weight is not None:
            weights = check_sample_weight(argument, sample_weight, len(y))
        else:
            return None
        return weights.astype(self.dtype)  # the model's precision, so weighting never widens a step

    def _sync_replicas(self, comm) -> None:
        """Same weights on every rank (rank 0's), once per communicator; different models fail loudly here."""
        if comm.size == 1 or self._synced_comm is comm:
            return
        signature = (f"{[type(l).__name__ + str(l.output_shape) for l in self.layers]} dtype={self.dtype} "
                     f"parameters={self.params.size}")
        comm.check_same("the model definition", signature)
        comm.broadcast_(self.params)
        if self.states.size:
            comm.broadcast_(self.states)
        # Each rank drops out different units of its own samples (same seed everywhere would repeat masks).
        for layer in self.layers:
            if isinstance(layer, Dropout) and comm.rank:
                layer.seed = (layer.seed + 7919 * comm.rank) % (2**31 - 1)
        self._synced_comm = comm

    def _agree_on_stop(self, comm) -> None:
        """Stop on every rank when a callback stopped any: one may look at its own rank's batch loss
        (TerminateOnNaN), and a rank leaving the loop alone would leave the others waiting in the next sum."""
        self.stop_training = bool(comm.allreduce_host([float(self.stop_training)])[0] > 0)

    # ---- fit --------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns the History. ``batch_size`` (default 32) is the global batch.

        ``sample_weight`` (one weight per sample) or ``class_weight`` ({class id: weight}) scale each sample's
        loss as in Keras: the reported loss is sum(weight * loss) / samples; metrics stay unweighted."""
        from ..callbacks import CallbackList

        self._require_compiled("fit")
        if y is None:
            raise ValueError("y: fit needs targets; got None")
        batch_size = check_positive_int("batch_size", 32 if batch_size is None else batch_size)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs: expected a non-negative integer, got {epochs!r}")
        epochs = int(epochs)
        if not 0 <= initial_epoch <= epochs:
            raise ValueError(f"initial_epoch: expected 0 <= initial_epoch <= epochs={epochs}, got {initial_epoch!r}")
        verbose = _check_verbose(verbose)
        validation_freq = check_positive_int("validation_freq", validation_freq)
        steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch, allow_none=True)
        x, y = self._prepare(x, y)
        weights = self._sample_weights(y, sample_weight, class_weight)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
            val = list(self._prepare(validation_data[0], validation_data[1], "validation_data[0]",
                                     "validation_data[1]"))
            if len(validation_data) == 3 and validation_data[2] is not None:
                val.append(self._sample_weights(val[1], validation_data[2], None, "validation_data[2]"))
        else:
            arrays, val = split_validation([x, y] + ([weights] if weights is not None else []), validation_split)
            x, y = arrays[:2]
            weights = arrays[2] if weights is not None else None
        plan = self._plan(sparse_labels=self.loss.sparse_labels or y.ndim == 1)
        self._ensure_optimizer()
        comm = distributed.current()
        self._sync_replicas(comm)

        ops, n = self.ops, len(x)
        train = DeviceDataset(ops, [x, y] + ([weights] if weights is not None else []))
        val_data = None
        steps = math.ceil(n / batch_size) if steps_per_epoch is None else min(steps_per_epoch,
                                                                             math.ceil(n / batch_size))
        running = RunningMetrics(ops, self.compiled_metrics, comm)
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self, verbose=verbose,
                           epochs=epochs, steps=steps)
        self.stop_training = False
        agree_on_stop = comm.size > 1 and bool(callbacks)
        # Every rank draws the same shuffles: the seed comes from rank 0.
        shuffle_rng = np.random.default_rng(comm.broadcast_object(gpunn_random.new_seed()))
        logs: dict = {}
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            running.reset()
            order_host = shuffle_rng.permutation(n) if shuffle else None
            order_dev = ops.asarray(order_host) if shuffle and train.on_device else None
            for step in range(steps):
                start, stop = step * batch_size, min((step + 1) * batch_size, n)
                lo, hi = shard_bounds(start, stop, comm.rank, comm.size)
                cbs.on_train_batch_begin(step)
                if shuffle:
                    xb, yb, *wb = train.gather(order_host[lo:hi], None if order_dev is None else order_dev[lo:hi])
                else:
                    xb, yb, *wb = train.slice(lo, hi)
                penalty = self._penalty(plan)  # of the weights the batch's loss is computed with, before the update
                with self._step_guard(batch_size):
                    per_sample, predictions = self._train_step(plan, xb, yb, 1.0 / (stop - start), comm,
                                                               wb[0] if wb else None)
                running.add(per_sample, penalty, predictions, yb)
                cbs.on_train_batch_end(step, running.lazy_logs())
                if agree_on_stop:
                    self._agree_on_stop(comm)
                if self.stop_training:
                    break
            logs = running.result()
            if val is not None and (epoch + 1) % validation_freq == 0:
                if val_data is None:  # on the device once per fit, not once per validation
                    val_data = DeviceDataset(ops, val)
                val_logs = self._evaluate_arrays(val, validation_batch_size or batch_size, val_data)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, logs)
            if agree_on_stop:
                self._agree_on_stop(comm)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    # ---- evaluate / predict -----------------------------------------------------------------------
    def _evaluate_arrays(self, arrays: list, batch_size: int, data: DeviceDataset | None = None) -> dict:
        """Loss and metrics over ``arrays`` = [x, y] or [x, y, sample_weight] (host arrays, already checked)."""
        x, y = arrays[0], arrays[1]
        plan = self._plan(sparse_labels=self.loss.sparse_labels or y.ndim == 1)
        comm = distributed.current()
        self._sync_replicas(comm)
        data = data if data is not None else DeviceDataset(self.ops, list(arrays))
        running = RunningMetrics(self.ops, self.compiled_metrics, comm)
        for start in range(0, len(x), batch_size):
            stop = min(start + batch_size, len(x))
            lo, hi = shard_bounds(start, stop, comm.rank, comm.size)
            if hi == lo:
                continue
            xb, yb, *wb = data.slice(lo, hi)
            with self._step_guard(batch_size):
                per_sample, predictions = self._test_step(plan, xb, yb, wb[0] if wb else None)
            running.add(per_sample, self._penalty(plan), predictions, yb)
        return running.result()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, return_dict=False,
                 callbacks=None, steps=None):
        """Loss and metrics over (x, y): a float when there are no metrics, else [loss, *metrics] (or a dict)."""
        self._require_compiled("evaluate")
        verbose = _check_verbose(verbose)
        batch_size = check_positive_int("batch_size", 32 if batch_size is None else batch_size)
        x, y = self._prepare(x, y)
        weights = self._sample_weights(y, sample_weight, None)
        results = self._evaluate_arrays([x, y] + ([weights] if weights is not None else []), batch_size)
        if verbose and getattr(self, "is_chief", True):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in results.items()))
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def _predict_arrays(self, x, batch_size: int):
        outputs = []
        for start in range(0, len(x), batch_size):
            xb = self.ops.asarray(x[start:start + batch_size])
            with self._step_guard(batch_size):
                y = xb
                for layer in self.layers:
                    y, _ = layer.forward(y, False)
            outputs.append(y)
        return self.ops.to_numpy(self.ops.xp.concatenate(outputs) if len(outputs) > 1 else outputs[0])

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x`` as a NumPy array (probabilities after a softmax/sigmoid output layer)."""
        _check_verbose(verbose)
        if not self.layers:
            raise ValueError("predict: the model has no layers")
        batch_size = check_positive_int("batch_size", 32 if batch_size is None else batch_size)
        x, _ = self._prepare(x, None)
        comm = distributed.current()
        if comm.size == 1:
            return self._predict_arrays(x, batch_size)
        # Data-parallel: each rank predicts its contiguous share (shard_bounds), gathered in rank order so
        # every rank returns the whole array.
        self._sync_replicas(comm)
        lo, hi = shard_bounds(0, len(x), comm.rank, comm.size)
        if hi > lo:
            local = self._predict_arrays(x[lo:hi], batch_size)
        else:
            local = np.zeros((0,) + tuple(self.layers[-1].output_shape), dtype=self.dtype)
        return comm.allgather_rows(local)

    def __call__(self, x, training=False):
        x, _ = self._prepare(x, None)
        return self._predict_arrays(x, len(x))

    # ---- single batches ---------------------------------------------------------------------------
    def _batch_results(self, running: RunningMetrics, return_dict: bool):
        results = running.result()
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on exactly this batch; returns its loss (and metrics)."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare(x, y)
        weights = self._sample_weights(y, sample_weight, class_weight)
        plan = self._plan(sparse_labels=self.loss.sparse_labels or y.ndim == 1)
        self._ensure_optimizer()
        comm = distributed.current()
        self._sync_replicas(comm)
        running = RunningMetrics(self.ops, self.compiled_metrics, comm)
        lo, hi = shard_bounds(0, len(x), comm.rank, comm.size)
        xb, yb = self.ops.asarray(x[lo:hi]), self.ops.asarray(y[lo:hi])
        wb = None if weights is None else self.ops.asarray(weights[lo:hi])
        penalty = self._penalty(plan)  # of the weights the batch's loss is computed with, before the update
        with self._step_guard(len(x)):
            per_sample, predictions = self._train_step(plan, xb, yb, 1.0 / len(x), comm, wb)
        running.add(per_sample, penalty, predictions, yb)
        return self._batch_results(running, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        x, y = self._prepare(x, y)
        weights = self._sample_weights(y, sample_weight, None)
        results = self._evaluate_arrays([x, y] + ([weights] if weights is not None else []), len(x))
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def predict_on_batch(self, x):
        x, _ = self._prepare(x, None)
        return self._predict_arrays(x, len(x))

    # ---- files ------------------------------------------------------------------------------------
    @property
    def is_chief(self) -> bool:
        return distributed.current().is_chief

    def save(self, filepath, overwrite=True, include_optimizer=True) -> None:
        """One file (any name, e.g. 'model.h5'): config, weights and optimizer state; written atomically."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True) -> None:
        from .saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        from .saving import load_weights

        load_weights(self, filepath)
