"""A model subclass's own steps and hooks (Keras's guide "Customizing what happens in fit()").

Keras's ``fit`` calls the model's ``train_step``, which calls ``compute_loss`` and ``compute_metrics`` (which
calls ``get_metrics_result``, which reads ``metrics``), and resets ``reset_metrics()`` at each epoch; ``evaluate``
does the same with ``test_step``; ``predict`` calls ``predict_step``. A subclass may override any of them.

- ``predict_step(data)``: run as Keras's TensorFlow and torch backends run it (``predict_with_own_step``): once per
  batch, ``data`` the batch as Keras 3 hands it over (the array of one input, ``(inputs,)`` for a tuple or list of
  them, a dict as it is, the yielded element of a stream), its outputs (a tensor, or a tuple, list or dict of
  them) brought to the host and concatenated batch after batch.
- ``compute_loss``: the model's loss (``own_compute_loss.py``).
- The other training and evaluation hooks: gpunn's steps are recorded objects computing the compiled loss and
  metrics on the device, which a Python override cannot enter. An override is refused by name when ``fit``,
  ``evaluate``, ``train_on_batch`` or ``test_on_batch`` starts, before any work: running gpunn's step in its place
  would train and report something other than what the script says.
"""
from __future__ import annotations

import numpy as np

from .. import compute_turns, overrides
from ..autodiff.functions import convert_to_numpy
from ..data import keras_batch_size
from .executions import executions

# What each hook does in Keras, and what a script does with gpunn instead.
_INSTEAD = {
    "train_step": "gpunn's fit runs its own recorded step (the compiled loss, weight penalties, add_loss() "
                  "terms, metrics and optimizer); put the model's computation in call(), the loss in a loss "
                  "function of your own given to compile (or self.add_loss() in a layer's call()), and the "
                  "metrics in metrics of your own (a step of several optimizers taking turns, as a GAN's, has "
                  "no gpunn form: one optimizer trains a model's trained weights)",
    "test_step": "gpunn's evaluate runs its own step with the compiled loss and metrics; give compile a loss or "
                 "metrics of your own",
    "compute_metrics": "the logs are those of the compiled metrics; give compile metrics of your own (a function "
                       "metric(y_true, y_pred), or a gpunn.metrics.Metric subclass)",
    "get_metrics_result": "the logs are those of the loss and the compiled metrics, each metric's result(); give "
                          "compile metrics of your own (a gpunn.metrics.Metric subclass's result() is run)",
    "reset_metrics": "gpunn resets the loss tracker, the compiled metrics and the metrics the model holds as "
                     "attributes itself before every epoch and evaluation (a Metric subclass's own reset_state() "
                     "runs then): leave the override out",
    "metrics": "the logs list the loss, the metrics given to compile and the metrics the model holds as attributes "
               "(self.loss_tracker = keras.metrics.Mean(name=...), updated in compute_loss), each reset before "
               "every epoch and evaluation: leave the override out",
}
# compute_loss is not among them: it runs, as the model's loss (own_compute_loss.py)
_SHARED = ("compute_metrics", "get_metrics_result", "reset_metrics", "metrics")
TRAIN_HOOKS = ("train_step",) + _SHARED
TEST_HOOKS = ("test_step",) + _SHARED


def refuse_overridden_hooks(model, where: str, hooks) -> None:
    """Refuse the first of ``hooks`` that ``model``'s class overrides, naming ``where`` (fit, evaluate...)."""
    for name in hooks:
        if overrides.user_definition(type(model), name) is not None:
            if name == "metrics" and _lists_what_gpunn_tracks(model):
                continue
            overrides.refuse(type(model), name, where, _INSTEAD[name])


def _lists_what_gpunn_tracks(model) -> bool:
    """Whether a ``metrics`` property of the user's is keras.io's ``super().metrics + [self.loss_tracker]``: the
    metrics gpunn logs and resets anyway (the loss tracker, the compiled metrics, the metrics held as attributes),
    each at least once and nothing else. Its list holds gpunn's own loss tracker, which only ``super().metrics``
    gives, so the compiled metrics, resolved at the first step, come with it then too."""
    try:
        listed = list(model.metrics)
    except Exception:  # (a property reading what is not there yet: refused as any other override)
        return False
    gpunn_definition = next(vars(klass)["metrics"] for klass in type(model).__mro__
                            if "metrics" in vars(klass) and overrides.is_gpunn_class(klass))
    tracked = gpunn_definition.fget(model)
    loss_tracker = getattr(model, "_loss_tracker", None)
    return loss_tracker is not None and any(metric is loss_tracker for metric in listed) and \
        {id(metric) for metric in listed} == {id(metric) for metric in tracked}


def has_own(model, name: str) -> bool:
    return overrides.user_definition(type(model), name) is not None


def has_own_predict_step(model) -> bool:
    return has_own(model, "predict_step")


# ---- predict_step of the user's ------------------------------------------------------------------------------------

def _rebuilt(like, items: list):
    """A list, tuple or namedtuple of ``items``, of the type of ``like``."""
    return type(like)(*items) if hasattr(like, "_fields") else type(like)(items)


def _map(function, structure):
    if isinstance(structure, dict):
        return {key: _map(function, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return _rebuilt(structure, [_map(function, value) for value in structure])
    return function(structure)


def concatenate_batches(batches: list):
    """Keras's ``map_structure_up_to(batch_outputs, np.concatenate, outputs)``: every batch's outputs, batch
    after batch, in the structure of one batch's."""
    first = batches[0]
    if isinstance(first, dict):
        return {key: concatenate_batches([batch[key] for batch in batches]) for key in first}
    if isinstance(first, (list, tuple)):
        return _rebuilt(first, [concatenate_batches([batch[k] for batch in batches]) for k in range(len(first))])
    return np.concatenate([np.atleast_1d(batch) for batch in batches])


def _leaves(structure) -> list:
    if isinstance(structure, dict):
        return [leaf for value in structure.values() for leaf in _leaves(value)]
    if isinstance(structure, (list, tuple)):
        return [leaf for value in structure for leaf in _leaves(value)]
    return [structure]


def _as_arrays(x, dtype):
    """The inputs given to ``predict`` as host arrays in their structure (an array, or a tuple, list or dict of
    them; a DataFrame as its array; floating point values in the model's ``dtype``, as Keras's data adapters
    cast them to floatx), after checking that they have rows, the same number each: how many."""
    def array(value):
        if hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray):
            value = value.get()  # a CuPy array: its host copy, as predict takes one
        value = np.asarray(value)
        if value.dtype == object or value.ndim == 0:
            raise ValueError(f"x: expected arrays of numbers with one row per sample, got "
                             f"{'a scalar' if value.ndim == 0 else 'an array of Python objects'} from "
                             f"{type(value).__name__}")
        return value.astype(dtype) if value.dtype.kind == "f" and value.dtype != dtype else value

    if isinstance(x, (list, tuple, dict)) and not any(hasattr(leaf, "shape") for leaf in _leaves(x)):
        x = np.asarray(x)  # nested lists of numbers: one array, as NumPy reads them
    arrays = _map(array, x)
    lengths = {len(leaf) for leaf in _leaves(arrays)}
    if len(lengths) != 1:
        raise ValueError(f"x: expected the same number of samples in every array, got {sorted(lengths)}")
    return arrays, lengths.pop()


def run_predict_step(model, data):
    """The model's ``predict_step`` on one batch ``data``, its outputs on the host (read in the step's compute
    turn: the arrays it returns may be the layers' workspaces)."""
    from ..ops import get_ops

    with compute_turns.turn(model.ops or get_ops()):
        return _map(convert_to_numpy, model.predict_step(data))  # backend arrays and Tensors, on the host


def predict_on_batch_with_own_step(model, x):
    """``model.predict_on_batch``: Keras hands the step ``(x,)`` whatever ``x`` is."""
    arrays, _ = _as_arrays(x, model.dtype)
    return run_predict_step(model, (arrays,))


def predict_with_own_step(model, x, batch_size: int | None, steps: int | None, cbs):
    """``model.predict`` of arrays through the model's ``predict_step``: each step gets its batch as Keras hands it
    over (the array of one input, a dict as it is, ``(inputs,)`` for a tuple or list of them), whatever the
    model's inputs (the step may call the model on a part of it, or not at all). Every rank predicts every row
    (the step is the user's, so nothing is shared out)."""
    from ..utils.step_data import pack_x_y_sample_weight

    arrays, rows = _as_arrays(x, model.dtype)
    if rows == 0:
        raise ValueError("x: predict got no samples")
    batch_size = keras_batch_size(batch_size, steps, rows)
    if steps is not None:  # Keras predicts the first `steps` batches only
        rows = min(rows, steps * batch_size)
    outputs = []
    if cbs is not None:
        cbs.on_predict_begin()
    for begin, end, starts in executions(range(0, rows, batch_size), model.steps_per_execution):
        if cbs is not None:
            cbs.on_predict_batch_begin(begin)
        done = len(outputs)
        for start in starts:
            stop = min(start + batch_size, rows)
            batch = _map(lambda array: array[start:stop], arrays)
            outputs.append(run_predict_step(model, pack_x_y_sample_weight(batch)))
        if cbs is not None:
            cbs.on_predict_batch_end(end, {"outputs": concatenate_batches(outputs[done:])})
            if model.stop_predicting:
                break
    if cbs is not None:
        cbs.on_predict_end()
    return concatenate_batches(outputs)


def standardized_batch(batch):
    """A streamed batch as Keras hands it to a step (its data adapters' ``_standardize_batch``): an array alone
    becomes ``(x,)``, a list a tuple; a dict stays as it is."""
    if isinstance(batch, list):
        return tuple(batch)
    if isinstance(batch, (tuple, dict)):
        return batch
    return (batch,)
