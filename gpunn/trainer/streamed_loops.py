"""fit / evaluate / predict over streamed inputs (``streamed_data.py``): each batch is checked as arrays are,
copied into the step's batch slot for its size (a batch of another size gets its own slot, as the last
partial batch of arrays does) and run by the same ``TrainStep`` / ``TestStep``; so ``jit_compile=True`` records
a step per batch size and replays it, and ``steps_per_execution=N`` groups N batches per callback batch.

Followed: keras/src/backend/jax/trainer.py (``fit``, ``evaluate``, ``predict``), keras/src/trainers/
data_adapters/__init__.py (``get_data_adapter``: the arguments a generator or PyDataset refuses and the
warnings it gives).

Data-parallel training needs every rank to read its own share of every batch, which a generator cannot be
asked for: with several ranks, streamed inputs are refused with a clear error.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import compute_turns, distributed
from ..data import check_epochs, check_positive_int, check_steps, keras_batch_size
from . import custom_steps
from .divergence import DivergenceWarning
from .epoch_iterator import weights_shape
from .executions import executions
from .running_metrics import hand_batch_logs
from .streamed_data import (RAN_OUT_WARNING, BatchStream, is_py_dataset, is_streamed, is_tf_dataset, source_kind,
                           stands_for_tf_data, unpack_batch)
from .test_step import predict_rows
from .validation_schedule import check_validation_freq, validates_after
from ..user_stacklevel import user_stacklevel

__all__ = ["fit_streamed", "evaluate_streamed", "predict_streamed", "StreamedValidation", "is_streamed"]


def _single_rank(argument: str) -> None:
    comm = distributed.current()
    if comm.size > 1:
        raise ValueError(
            f"{argument}: streamed inputs (a generator, iterator or PyDataset) are not supported with several "
            f"ranks ({comm.size} ranks): every rank would have to read its own share of every batch. Pass arrays "
            "(each rank then takes its share of each batch), or run one process")


def _refuse_with_stream(data, **arguments) -> None:
    """Keras's ``raise_unsupported_arg``: what a generator or PyDataset must carry in its batches."""
    kind = source_kind(data)
    for name, value in arguments.items():
        if value is not None:
            what = {"y": "the targets", "sample_weight": "the sample weights"}[name]
            raise ValueError(f"{name}: when x is a {kind}, {name} must not be passed; {what} are part of each "
                             f"batch the {kind} yields: (x, y) or (x, y, sample_weight)")


def checked_batch(model, stream: BatchStream, raw, index: int, targets: bool, class_weight=None):
    """The arrays of one yielded batch after the checks arrays get: [x, y] or [x, y, sample_weight] (targets),
    or [x]. Builds an unbuilt model from the first batch."""
    where = stream.describe(index)
    x, y, weight = unpack_batch(where, raw)
    if not targets:
        try:
            return [model._prepare(x, None, f"{where}, its x")[0]]
        except ValueError as exc:
            if len(getattr(model, "inputs", None) or ()) > 1 and isinstance(raw, tuple) and len(raw) in (2, 3):
                # (Keras's rule: a batch of two or three is (x, y) or (x, y, sample_weight), in predict too)
                raise ValueError(f"{exc}; a batch of {len(raw)} arrays is read as (x, y"
                                 f"{', sample_weight' if len(raw) == 3 else ''}): for a model of several inputs, "
                                 "yield the inputs as one tuple, ((a, b),), or a dict by input name") from None
            raise
    if y is None and not (model._without_loss() or custom_steps.has_own(model, "compute_loss")):
        raise ValueError(f"{where}: expected a tuple (x, y) or (x, y, sample_weight) with targets, got a batch "
                         f"without y ({type(raw).__name__})")
    x, y = model._prepare_with_targets(x, y, f"{where}, its x", f"{where}, its y")
    weights = model._sample_weights(y, weight, class_weight, f"{where}, its sample_weight")
    return [x, y] + ([weights] if weights is not None else [])


def _next_checked(model, stream: BatchStream, class_weight=None):
    raw = stream.next_batch()
    return None if raw is None else checked_batch(model, stream, raw, stream.read - 1, True, class_weight)


def _until_none(read):
    """What ``read()`` returns, until it returns None (``iter(read, None)`` would compare arrays with ==)."""
    while (item := read()) is not None:
        yield item


def _run_in_slot(step, arrays) -> None:
    """Copy one checked batch into the step's slot for its shape, then run the step on it."""
    x, y = arrays[0], arrays[1]
    slot = step.slot(len(x), len(x), y.shape[1:], y.dtype, weights_shape(arrays))
    for source, out in zip(arrays, slot.arrays):
        step.ops.upload(source, out)
    step(slot)


def run_test(model, stream: BatchStream, class_weight=None, cbs=None) -> dict | None:
    """Loss and metrics over one epoch of ``stream`` (evaluate, validation); None when it yielded no batch.
    ``cbs``: a CallbackList told of the test as Keras tells it."""
    model.stop_evaluating = False
    if cbs is not None:  # (Keras's callbacks read the metrics of the training there: reset after it)
        cbs.on_test_begin()
    with compute_turns.model_calls(model, "test"):  # (the model's evaluations one at a time: compute_turns.py)
        first = checked_batch(model, stream, stream.peek(), stream.read, True, class_weight)
        step = model.make_test_function().prepare(model._sparse_labels(first[1]))
        stream.begin_epoch()
        step.metrics.reset()
        batches = _until_none(lambda: _next_checked(model, stream, class_weight))
        for begin, end, run in executions(batches, model.steps_per_execution):
            if cbs is not None:
                cbs.on_test_batch_begin(begin)
            for arrays in run:
                _run_in_slot(step, arrays)
            if cbs is not None:
                hand_batch_logs(step.metrics, cbs.on_test_batch_end, end)
                if model.stop_evaluating:
                    break
        stream.end_epoch()
        results = step.metrics.result() if stream.epoch_batches else None
    if cbs is not None:
        cbs.on_test_end(results or {})
    return results


class StreamedValidation:
    """``validation_data`` given as a generator or PyDataset, read with ``validation_steps`` batches per
    validation. As Keras's ``evaluate`` resets its iterator, each validation reads a PyDataset (or an iterable)
    from its first batch; a generator, which cannot start over, runs on from one validation to the next."""

    def __init__(self, model, data, validation_steps):
        _single_rank("validation_data")
        self.model = model
        self.stream = BatchStream(data, "validation_data", check_steps("validation_steps", validation_steps),
                                  "validation_steps")
        self._warned = False

    def evaluate(self, cbs=None) -> dict:
        self.stream.restart()
        self.stream.keras_reset(peek=False)
        logs = run_test(self.model, self.stream, cbs=cbs) if self.stream.has_batch() else None
        if logs is None:
            if not self._warned:
                self._warned = True
                warnings.warn(f"validation_data: the {self.stream.kind} has no batches left; the epochs from now "
                              f"on have no val_ logs. {RAN_OUT_WARNING}", UserWarning, stacklevel=user_stacklevel())
            return {}
        return logs

    def close(self) -> None:
        self.stream.close()


def checked_validation_arrays(model, validation_data, other_kinds: str = "") -> list:
    """[x, y] or [x, y, sample_weight] of array ``validation_data``, checked and converted as ``fit`` checks its
    own (``other_kinds``: what else the message says ``validation_data`` may be)."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (1, 2, 3):
        raise ValueError(f"validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, sample_weight)"
                         f"{other_kinds}")
    # ((x_val,): Keras's y=None, which a model's own compute_loss may take)
    targets = validation_data[1] if len(validation_data) > 1 else None
    val = list(model._prepare_with_targets(validation_data[0], targets, "validation_data[0]", "validation_data[1]"))
    if len(validation_data) == 3 and validation_data[2] is not None:
        val.append(model._sample_weights(val[1], validation_data[2], None, "validation_data[2]"))
    return val


def validation_arrays(model, validation_data, validation_steps, batch_size: int | None):
    """(array ``validation_data`` checked as ``fit`` checks it, cut to ``validation_steps`` batches (Keras reads
    only that many); its batch size: ``batch_size``, else Keras's rule for arrays (``keras_batch_size``))."""
    val = checked_validation_arrays(model, validation_data, ", or a generator or PyDataset")
    batch_size = keras_batch_size(batch_size, validation_steps, len(val[0]))
    if validation_steps is not None:
        val = [a[:validation_steps * batch_size] for a in val]
    return val, batch_size


def fit_streamed(model, x, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
                 validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
                 steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
                 first_since_compile=False):
    """``model.fit`` when ``x`` is a generator, iterator or PyDataset (``verbose`` already checked: 0, 1, 2 or
    "auto"; ``first_since_compile``: Keras builds its losses and metrics from a batch of this fit)."""
    from ..callbacks import CallbackList

    _refuse_with_stream(x, y=y, sample_weight=sample_weight)
    if class_weight is not None and not is_py_dataset(x):  # Keras: generators take no class_weight
        raise ValueError(f"class_weight: is not supported when x is a {source_kind(x)}; yield (x, y, "
                         "sample_weight) batches instead (a PyDataset takes class_weight)")
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real):
        raise ValueError(f"validation_split: expected a number in [0, 1), got {validation_split!r}")
    if validation_split and validation_data is None:
        raise ValueError(f"validation_split: is only supported for arrays; x is a {source_kind(x)}. Pass "
                         "validation_data=... (arrays, a generator or a PyDataset) instead")
    epochs = check_epochs(epochs)
    if not 0 <= initial_epoch:  # (past epochs: no epoch runs, as in Keras)
        raise ValueError(f"initial_epoch: expected a non-negative integer, got {initial_epoch!r}")
    validation_freq = check_validation_freq(validation_freq)
    steps_per_epoch = check_steps("steps_per_epoch", steps_per_epoch)
    validation_steps = check_steps("validation_steps", validation_steps)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)  # sizes array validation only, as in Keras
    _single_rank("x")
    if shuffle and is_tf_dataset(x):
        warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was provided as a "
                      "tf.data.Dataset. The Dataset is expected to already be shuffled (via `.shuffle(buffer_size)`).",
                      UserWarning, stacklevel=user_stacklevel())  # Keras's warning
    elif shuffle and source_kind(x) == "torch DataLoader":
        warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was provided as a torch "
                      "DataLoader. The DataLoader is expected to already be shuffled.", UserWarning,
                      stacklevel=user_stacklevel())  # Keras's warning
    elif shuffle and not is_py_dataset(x):
        warnings.warn(f"`shuffle=True` was passed, but will be ignored since the data `x` was provided as a "
                      f"{source_kind(x)}. The {source_kind(x)} is expected to yield already-shuffled data.",
                      UserWarning, stacklevel=user_stacklevel())  # Keras's warning

    # (a dataset standing for Keras's tf.data one keeps its order, as fit leaves a tf.data dataset's)
    stream = BatchStream(x, "x", steps_per_epoch, "steps_per_epoch",
                         shuffle=bool(shuffle) and is_py_dataset(x) and not stands_for_tf_data(x))
    stream.keras_reset(peek=first_since_compile)
    if shuffle and is_py_dataset(x) and stream.num_batches is None:
        warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was provided as an "
                      "infinite PyDataset. The PyDataset is expected to already be shuffled.", UserWarning,
                      stacklevel=user_stacklevel())
    first = checked_batch(model, stream, stream.peek(), stream.read, True, class_weight)  # builds the model
    val_stream = val = None
    if validation_data is not None:
        if is_streamed(validation_data):
            val_stream = StreamedValidation(model, validation_data, validation_steps)
        else:
            val, val_batch = validation_arrays(model, validation_data, validation_steps,
                                               validation_batch_size or batch_size)

    step = model.make_train_function().prepare(model._sparse_labels(first[1]))
    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose,
                       epochs=epochs, steps=stream.steps)
    model.stop_training = False
    divergence = DivergenceWarning(cbs, True)
    logs: dict = {}
    model._initial_epoch = None  # only this fit's callbacks may move its start (trainer.py _start_epoch)
    cbs.on_train_begin()
    try:
        for epoch in range(model._start_epoch(initial_epoch, distributed.current()), epochs):
            step.metrics.reset()  # (before on_epoch_begin, as Keras: a callback reads the new epoch's zeros)
            cbs.on_epoch_begin(epoch)
            stream.begin_epoch()
            batches = _until_none(lambda: _next_checked(model, stream, class_weight))
            for begin, end, run in executions(batches, model.steps_per_execution):
                cbs.on_train_batch_begin(begin)  # (Keras's numbering: executions.py)
                for arrays in run:
                    _run_in_slot(step, arrays)
                hand_batch_logs(step.metrics, cbs.on_train_batch_end, end)
                if model.stop_training:
                    break
            stream.end_epoch()
            if stream.epoch_batches == 0:  # a generator read to its end in an earlier epoch
                warnings.warn(f"fit: the {stream.kind} yielded no batch in epoch {epoch + 1}/{epochs}. "
                              f"{RAN_OUT_WARNING}", UserWarning, stacklevel=user_stacklevel())
                model.stop_training = True
                break
            logs = step.metrics.result()
            divergence.epoch_end(epoch, epochs, logs)
            if validates_after(epoch, validation_freq):
                if val_stream is not None:
                    val_logs = val_stream.evaluate(cbs)
                elif val is not None:
                    val_logs = model._evaluate_arrays(val, val_batch, cbs=cbs)
                else:
                    val_logs = {}
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            divergence.validation_end(epoch, epochs, logs)
            cbs.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    finally:
        stream.close()
        if val_stream is not None:
            val_stream.close()
        # Keras: with use_ema, the weights become their moving average, before on_train_end, and also when the
        # fit was stopped by an exception (its fit's ``finally``)
        if epochs > 0:
            model.optimizer.finalize_variable_values()
    cbs.on_train_end(logs)
    return model.history


def evaluate_streamed(model, x, y=None, sample_weight=None, steps=None, cbs=None, first_since_compile=False) -> dict:
    """``model.evaluate``'s results over a generator, iterator or PyDataset (``steps`` batches, or all)."""
    _refuse_with_stream(x, y=y, sample_weight=sample_weight)
    _single_rank("x")
    stream = BatchStream(x, "x", check_steps("steps", steps), "steps")
    stream.keras_reset(peek=first_since_compile)
    if cbs is not None:  # the progress bar's length, where the source tells it
        cbs.set_params({**cbs.params, "steps": stream.steps})
    try:
        results = run_test(model, stream, cbs=cbs)
    finally:
        stream.close()
    return results or {}


def predict_streamed(model, x, steps=None, cbs=None) -> np.ndarray:
    """``model.predict`` over a generator, iterator or PyDataset yielding ``x``, ``(x,)`` or ``(x, y, ...)``
    batches (targets ignored, as in Keras): the outputs of every batch, concatenated (each output's, for a model
    of several)."""
    _single_rank("x")
    stream = BatchStream(x, "x", check_steps("steps", steps), "steps")
    own_step = custom_steps.has_own_predict_step(model)  # it gets each element as yielded, as in Keras
    outputs = []
    try:
        stream.peek()  # an empty source is an error
        stream.begin_epoch()
        if cbs is not None:
            cbs.on_predict_begin()
        # each batch checked as it is read, so that a message names the batch that was read last
        batches = (custom_steps.standardized_batch(raw) if own_step
                   else checked_batch(model, stream, raw, stream.read - 1, False)[0]
                   for raw in _until_none(stream.next_batch))
        for begin, end, run in executions(batches, model.steps_per_execution):
            if cbs is not None:
                cbs.on_predict_batch_begin(begin)
            done = len(outputs)
            for batch in run:
                outputs.append(custom_steps.run_predict_step(model, batch) if own_step
                               else predict_rows(model, batch, len(batch)))
            if cbs is not None:
                cbs.on_predict_batch_end(end, {"outputs": custom_steps.concatenate_batches(outputs[done:])})
                if model.stop_predicting:
                    break
        stream.end_epoch()
        if cbs is not None:
            cbs.on_predict_end()
    finally:
        stream.close()
    # each output's batches concatenated (a model's outputs as a dict, list or tuple keep that structure)
    return custom_steps.concatenate_batches(outputs)
