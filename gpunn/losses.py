"""Losses with tf.keras names: MSE, MAE, the binary / categorical / sparse categorical cross-entropies, the binary
and categorical focal cross-entropies, and MSLE, cosine similarity, Huber, log-cosh, KL divergence, Poisson and the
hinge losses.

Each loss computes, in one pass, the per-sample loss, the gradient with respect to the model output and the
predictions the metrics see: what the model outputs, as in Keras (``y_pred``), so raw logits when the loss is
built with ``from_logits=True``. Cross-entropy after a softmax or sigmoid output layer is fused by the model:
the layer hands over logits and the loss runs the stable ``softmax_xent`` / ``sigmoid_bce`` step, whose
gradient is simply (probabilities - targets) / batch.

Everything is written through Ops primitives into buffers of the caller's workspace (one per batch size), with
every scalar held there as a 0-d constant: after the first call of a given batch size a loss allocates nothing,
and the calls can be recorded and replayed. Each step follows Keras's formula in Keras's order of operations,
so the numbers are those of the plain array expressions.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from . import custom_objects, fuzz_factor, keras_objects, loss_tensors, overrides, step_calls
from . import custom_objects as custom_objects_lookup  # ``deserialize`` has an argument of that name
from ._registry import lookup
from .autodiff import user_functions
from .layers.call_result import host_result
from .naming import snake_case, uniquify
from .ops.workspace import Workspace



# Keras 3's (keras/src/losses/loss.py), and tf.keras's "auto" (the default)
REDUCTIONS = ("sum_over_batch_size", "auto", "sum", "none", None, "mean", "mean_with_sample_weight")


class Loss:
    """Base class. ``fusable_activation`` names the output activation this loss can absorb."""

    fusable_activation: str | None = None
    sparse_labels = False

    def __init_subclass__(cls, **kwargs):
        """Each class's ``get_config`` also writes a ``reduction`` other than Keras's default."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("get_config")
        if own is None or getattr(own, "_writes_reduction", False):
            return

        @functools.wraps(own)
        def get_config(self):
            config = own(self)
            reduction = getattr(self, "reduction", "sum_over_batch_size")
            if reduction != "sum_over_batch_size" and "reduction" not in config:
                config = {**config, "reduction": reduction}
            return config

        get_config._writes_reduction = True
        cls.get_config = get_config

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, from_logits=False):
        """Keras's ``Loss(name=None, reduction=..., dtype=None)`` (a subclass of the user's passes these on);
        ``dtype``: None or a float dtype (gpunn computes a loss in the model's dtype)."""
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
        # Keras's reductions apply to a loss called on its own; a model trains on the mean over the batch
        # (compile refuses another: trainer/compiled_outputs.py)
        self.reduction = "sum_over_batch_size" if reduction == "auto" else reduction
        if dtype is not None and np.dtype(dtype).kind != "f":
            raise ValueError(f"dtype: expected a floating dtype or None, got {dtype!r}")
        if from_logits and not _takes_from_logits(type(self)):  # (Keras's Loss takes none: MSE's would be ignored)
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument 'from_logits'")
        self.from_logits = bool(from_logits)
        self.name = name or _snake_name(type(self))
        self._dtype = None if dtype is None else np.dtype(dtype).name

    @property
    def dtype(self) -> str:
        """Keras's ``loss.dtype``: the given dtype, else ``floatx()``; in a model a loss computes in the model's
        dtype."""
        from .backend import floatx

        return getattr(self, "_dtype", None) or floatx()

    @property
    def takes_sample_weights(self) -> bool:
        """Whether ``compute`` applies the sample weights itself: a loss written as a function (``call``), whose
        values need not be one per sample, so that its gradient rows cannot simply be scaled by them."""
        return type(self).call is not Loss.call

    def call(self, y_true, y_pred):
        """Keras's way of writing a loss: a subclass computes it here from ``gpunn.ops`` (``keras.ops``) functions,
        per sample or as one value; gpunn differentiates it (``gpunn/autodiff``). A built-in loss's ``call`` is its
        per-sample values (Keras's ``LossFunctionWrapper.call``), so a subclass may build on ``super().call``."""
        if type(self).compute is Loss.compute:
            raise NotImplementedError(f"{type(self).__name__}: a Loss subclass computes its values in call(y_true, "
                                      "y_pred)")
        if loss_tensors.involves_tensors(y_true, y_pred):
            return loss_tensors.builtin_per_sample(self, y_true, y_pred)
        return self._builtin_per_sample(y_true, y_pred)

    def compute(self, ops, ws, output, y_true, grad_scale, logits: bool, need_grad: bool = True,
                sample_weight=None):
        """(per-sample loss (B,), d loss / d output or None, predictions for the metrics), written into ``ws``.

        ``logits``: ``output`` holds logits, either because the loss was built with ``from_logits=True`` (the
        metrics then see those logits, the model's output) or because the model fused its softmax / sigmoid
        output layer into this loss (the metrics then see the probabilities that layer would have output).

        ``ws`` is the caller's workspace for this batch size; ``grad_scale`` (a host float, typically 1 / batch)
        must be the same on every call with a given ``ws``, which holds it as a constant. ``sample_weight``: the
        batch's (B,) weights, given only to a loss that ``takes_sample_weights``."""
        if not self.takes_sample_weights:
            raise NotImplementedError
        return self.weighted_compute(ops, ws, output, y_true, grad_scale, logits, need_grad, sample_weight)

    def weighted_compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad, sample_weight):
        """``compute`` of a loss that ``takes_sample_weights``: its ``call`` (even in a subclass of a built-in
        loss, whose own ``compute`` it replaces), run and differentiated by ``gpunn/autodiff``."""
        return _run_function(self, self.call, False, ops, ws, output, y_true, grad_scale, need_grad, sample_weight)

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        """The loss of each sample (float64, on the host), as Keras's loss functions return it; on Tensors (in a
        function of the user's being differentiated), a Tensor carrying the gradient (``loss_tensors.py``)."""
        from .ops import NumpyOps

        if loss_tensors.involves_tensors(y_true, y_pred):
            return loss_tensors.per_sample(self, y_true, y_pred)
        if self.takes_sample_weights:  # a loss written as a function takes y_true as given
            y_pred = np.asarray(y_pred, dtype=np.float64)
            ops = NumpyOps()
            per_sample, _, _ = self.weighted_compute(ops, Workspace(ops), y_pred,
                                                     np.asarray(y_true).astype(np.float64),
                                                     1.0 / max(len(y_pred), 1), False, False, None)
            return per_sample
        return self._builtin_per_sample(y_true, y_pred)

    def _written_function(self):
        """(the function, whether its arguments are brought to the same rank) of a loss written as a ``call`` of a
        subclass; None for a loss gpunn computes itself."""
        if self.takes_sample_weights and type(self).weighted_compute is Loss.weighted_compute:
            return self.call, False
        return None

    def _builtin_per_sample(self, y_true, y_pred) -> np.ndarray:
        """The per-sample values of host arrays through the loss's ``compute``."""
        from .ops import NumpyOps

        if any(getattr(value, "_is_symbolic", False) or type(value).__name__ == "InputLayer"
               for value in (y_true, y_pred)):
            # (Keras 2's VAE: binary_crossentropy(inputs, outputs) * 784 between a functional model's values)
            raise ValueError(f"{type(self).__name__}: called on a functional model's symbolic values, which hold no "
                             "numbers yet; compute the loss in a layer of your own whose call() does "
                             "self.add_loss(value) (the VAE's loss layer), or give it to compile")
        y_pred = np.asarray(y_pred)
        # in the predictions' float dtype, as Keras computes (its clips of probabilities round there)
        y_pred = y_pred.astype(y_pred.dtype if y_pred.dtype in (np.float32, np.float64) else np.float32)
        y_true = np.asarray(y_true)
        if not self.sparse_labels:
            y_true, y_pred = user_functions.same_rank(y_true, y_pred)  # (Keras's loss functions call it)
        if getattr(self, "axis", -1) == 1 and y_pred.ndim > 2:
            raise ValueError(f"axis: {type(self).__name__}(axis=1) on predictions of shape {y_pred.shape}: gpunn's "
                             "losses reduce over the last (features) axis, which axis=1 is only for (samples, "
                             "features) inputs; use axis=-1")
        one_sample = y_pred.ndim == 1  # Keras reduces the last axis: a vector is one sample, its loss a scalar
        if one_sample:
            y_pred = y_pred.reshape(1, -1)
        leading = y_pred.shape[:-1]  # (samples, steps...): one value per step, as Keras's loss functions give
        y_pred = np.ascontiguousarray(y_pred.reshape(-1, y_pred.shape[-1]))
        if self.sparse_labels:
            y_true = _checked_labels(y_true.astype(np.int64).reshape(-1), y_pred.shape[-1])
        else:
            if y_true.size != y_pred.size:
                y_true = loss_tensors.broadcast_targets(self, np, y_true, tuple(leading) + y_pred.shape[-1:])
            y_true = y_true.astype(y_pred.dtype).reshape(y_pred.shape)
        ops = NumpyOps()
        per_sample, _, _ = self.compute(ops, Workspace(ops), y_pred, y_true, 1.0 / len(y_pred), self.from_logits,
                                        False)
        return per_sample.reshape(()) if one_sample else per_sample.reshape(leading)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The mean loss over the batch, as ``keras.losses.Loss.__call__`` returns it: on arrays a 0-d array with
        ``.numpy()`` (of the loss's dtype when it was given one, else as ``keras_values`` says); on Tensors a Tensor,
        carrying the gradient."""
        if loss_tensors.involves_tensors(y_true, y_pred, sample_weight):
            return loss_tensors.mean_loss(self, y_true, y_pred, sample_weight)
        mask = getattr(y_pred, "_keras_mask", None)  # an eager layer's output with a padding mask
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        written = self._written_function()
        reduction = getattr(self, "reduction", "sum_over_batch_size")
        if written is not None:
            # Keras's Loss.__call__: the values as the function returns them (per element, per sample or one for
            # the batch), weighted (a padding mask the predictions carry among the weights: ``apply_mask``) and
            # reduced as they come (``reduce_weighted_values``)
            function, match_ranks = written
            values = user_functions.loss_values(function, np.asarray(y_true).astype(np.float64),
                                                np.asarray(y_pred, dtype=np.float64), match_ranks)
            if mask is not None:
                mask = np.asarray(mask, dtype=bool)
                if weights is not None and 0 < weights.ndim < mask.ndim:  # a weight per sample, over its steps
                    weights = weights.reshape(weights.shape + (1,) * (mask.ndim - weights.ndim))
                weights = _masked_weights(mask, weights, reduction)
            return keras_values(reduce_weighted_values(values, weights, reduction), y_pred,
                                getattr(self, "_dtype", None))
        per_sample = self.per_sample(y_true, y_pred)
        if weights is not None and weights.ndim == 0 and mask is None:
            # one weight for every sample, as Keras broadcasts it; its mean_with_sample_weight divides by the
            # weight as given (its reduce_values), not by its sum over the samples
            return keras_values(reduce_values(per_sample * weights, weights,
                                              getattr(self, "reduction", "sum_over_batch_size")),
                                y_pred, getattr(self, "_dtype", None))
        if weights is not None and weights.ndim == 0:
            weights = np.full(np.shape(per_sample), weights)
        elif weights is not None:
            # a weight per sample over each of its steps (Keras's squeeze_or_expand_to_same_rank)
            weights = weights.reshape(weights.shape[:1] + (1,) * (np.ndim(per_sample) - 1)) \
                if weights.ndim == 1 and np.ndim(per_sample) > 1 else weights.reshape(np.shape(per_sample))
        if mask is not None and np.shape(mask) == np.shape(per_sample):
            weights = _masked_weights(np.asarray(mask, dtype=bool), weights,
                                      getattr(self, "reduction", "sum_over_batch_size"))
        if weights is not None:
            per_sample = per_sample * weights
        # Keras's: a 0-d tensor with .numpy() (the TF quickstart's loss_fn(...).numpy())
        return keras_values(reduce_values(per_sample, weights, getattr(self, "reduction", "sum_over_batch_size")),
                            y_pred, getattr(self, "_dtype", None))

    def get_config(self) -> dict:
        reduction = getattr(self, "reduction", "sum_over_batch_size")
        if self.takes_sample_weights:  # a loss written with call(): Keras's Loss.get_config
            return {"name": self.name, "reduction": reduction}
        config = {"from_logits": self.from_logits, "name": self.name}
        return config if reduction == "sum_over_batch_size" else {**config, "reduction": reduction}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        """The loss ``get_config`` describes (Keras's ``Loss.from_config``)."""
        return cls(**config)

    def _model_output(self, logits, probabilities):
        """What the metrics see after a logits step: Keras hands them the model's output (``y_pred``), which is
        the logits themselves with ``from_logits=True`` and the fused output layer's probabilities otherwise."""
        return logits if self.from_logits else probabilities


def _masked_weights(mask, weights, reduction):
    """Keras's ``apply_mask``: the padding's weight 0; for a mean, each kept value's total / kept (the mean over
    the values kept); times the sample weights, when given."""
    masked = mask.astype(np.float64)
    if reduction in ("mean", "sum_over_batch_size") and mask.sum():
        masked *= mask.size / mask.sum()
    return masked if weights is None else masked * weights


def reduce_weighted_values(values, sample_weight, reduction):
    """Keras's ``reduce_weighted_values`` on host arrays: the weights brought to the values' rank (a trailing axis
    of size 1 added or dropped, as ``squeeze_or_expand_to_same_rank`` does), multiplied in, then reduced."""
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is not None:
        values, weights = user_functions.same_rank(values, np.asarray(sample_weight, dtype=np.float64))
        if 0 < weights.ndim < values.ndim and weights.shape == values.shape[:weights.ndim]:
            # a weight per sample for values per sample and unit: each sample's (Keras would broadcast it against
            # the last axis, and fail, or weigh the units where there are as many as samples)
            weights = weights.reshape(weights.shape + (1,) * (values.ndim - weights.ndim))
        values, sample_weight = values * weights, weights
    return reduce_values(values, sample_weight, reduction)


def reduce_values(values, sample_weight, reduction):
    """Keras's ``reduce_values``: the losses as they are ("none", None), their sum, or their mean (over the
    values; "mean_with_sample_weight": over the sum of the weights)."""
    if reduction in (None, "none") or np.ndim(values) == 0:
        return values
    total = np.sum(values)
    if reduction == "sum":
        return total
    divisor = np.sum(sample_weight) if reduction == "mean_with_sample_weight" and sample_weight is not None \
        else np.size(values)
    return total / divisor if divisor else np.zeros_like(total)


def _run_function(loss, function, match_ranks, ops, ws, output, y_true, grad_scale, need_grad, sample_weight):
    """A loss written as a Python function, run as one host call of the step (``autodiff/user_functions.py``)."""
    per_sample = _per_sample(ws, output)
    gradient = _like_output(ws, "gradient", output) if need_grad else None
    what = f"loss {loss.name!r}"
    step = functools.partial(user_functions.loss_step, what, function, y_true, output, grad_scale, sample_weight,
                             per_sample, gradient, match_ranks)
    ops.run_python(step_calls.in_the_steps_loss(step, what))  # (step_calls.py)
    return per_sample, gradient, output


class FunctionLoss(Loss):
    """A loss given as a function ``fn(y_true, y_pred)`` written with ``gpunn.ops`` / ``gpunn.backend`` functions
    (Keras's ``LossFunctionWrapper``): y_true and y_pred brought to the same rank, the values averaged per sample
    (or one value for the batch), and the gradient taken by ``gpunn/autodiff``."""

    # A loss class of Keras's written as a function here (overlap_losses.py) is saved as its class and config
    serialized_as_class = False

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction, dtype=dtype)
        self.fn = fn

    @property
    def takes_sample_weights(self) -> bool:
        return True

    def weighted_compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad, sample_weight):
        return _run_function(self, self.fn, True, ops, ws, output, y_true, grad_scale, need_grad, sample_weight)

    def _written_function(self):
        if type(self).weighted_compute is FunctionLoss.weighted_compute and type(self).call is Loss.call:
            return self.fn, True  # (Keras's LossFunctionWrapper: the arguments at the same rank)
        return super()._written_function()

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": getattr(self, "reduction", "sum_over_batch_size")}


def _snake_name(cls) -> str:
    """A Loss's default name: Keras's for its classes; for a class of the user's, as Keras's ``auto_name`` makes
    it: the class's name in snake case, numbered among the names made so far (``huber_loss``, ``huber_loss_1``)."""
    builtin = {"MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
               "BinaryCrossentropy": "binary_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
               "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy"}.get(cls.__name__)
    if builtin is not None or cls.__module__.split(".")[0] == "gpunn":
        return builtin or cls.__name__
    return uniquify(snake_case(cls.__name__))


def _checked_labels(labels, classes: int):
    """Class ids for the host API; a step gathers one-hot rows without bounds checks (fit checks its labels)."""
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels: expected class ids in [0, {classes}), got values from {labels.min()} "
                         f"to {labels.max()}")
    return labels


# ---- workspace buffers shared by the losses -------------------------------------------------------------------
# Names carry a "loss." prefix so that a caller may share one workspace between the loss and other users.

def _like_output(ws, name, output):
    """A buffer shaped like the model output (B, C), of its dtype."""
    return ws.buffer("loss." + name, output.shape, output.dtype)


def _per_sample(ws, output):
    return ws.buffer("loss.per_sample", output.shape[:1], output.dtype)


def _row_buffer(ws, name, output):
    """A (B, 1) buffer: one value per sample, broadcast along the row."""
    return ws.buffer("loss." + name, (output.shape[0], 1), output.dtype)


def _constant(ws, name, value, like):
    """A 0-d constant of ``like``'s dtype (ufuncs given a host scalar allocate on every call)."""
    return ws.constant("loss." + name, value, like.dtype)


def _row_mean(ops, ws, elementwise, out):
    """out (B,) = the mean of ``elementwise`` over its last axis, as NumPy's mean computes it: the sum, then a
    division by the count (``np.mean`` with ``out=`` allocates; this does not)."""
    ops.sum(elementwise, -1, out)
    return ops.divide(out, _constant(ws, "width", elementwise.shape[-1], out), out)


def _clip_probabilities(ops, ws, probabilities, out):
    """out = clip(probabilities, eps, 1 - eps), eps Keras's epsilon (``fuzz_factor``), with 0-d bounds (``np.clip``
    with scalars allocates)."""
    ops.maximum(probabilities, _constant(ws, "epsilon", fuzz_factor.epsilon(), out), out)
    return ops.minimum(out, _constant(ws, "one_minus_epsilon", 1.0 - fuzz_factor.epsilon(), out), out)


class MeanSquaredError(Loss):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None, **kwargs):
        # (Keras's order: reduction first, so that a positional one is the reduction, not the name)
        super().__init__(name=name, reduction=reduction, dtype=dtype, **kwargs)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        diff = ops.subtract(output, y_true, _like_output(ws, "diff", output))
        squared = ops.multiply(diff, diff, _like_output(ws, "elementwise", output))
        per_sample = _row_mean(ops, ws, squared, _per_sample(ws, output))
        grad = None
        if need_grad:
            factor = _constant(ws, "grad_factor", 2.0 * grad_scale / output.shape[-1], output)
            grad = ops.multiply(diff, factor, _like_output(ws, "grad", output))
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None, **kwargs):
        # (Keras's order: reduction first, so that a positional one is the reduction, not the name)
        super().__init__(name=name, reduction=reduction, dtype=dtype, **kwargs)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        diff = ops.subtract(output, y_true, _like_output(ws, "diff", output))
        absolute = ops.abs(diff, _like_output(ws, "elementwise", output))
        per_sample = _row_mean(ops, ws, absolute, _per_sample(ws, output))
        grad = None
        if need_grad:
            grad = ops.sign(diff, _like_output(ws, "grad", output))
            ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class MeanAbsolutePercentageError(Loss):
    """100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|) over the last axis (Keras's
    ``mean_absolute_percentage_error``, in its order of operations). The gradient is
    100 * sign((y_true - y_pred) / s) * (-1 / s) / n, s = max(|y_true|, eps): 0 where the prediction is exact."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None, **kwargs):
        # (Keras's order: reduction first, so that a positional one is the reduction, not the name)
        super().__init__(name=name, reduction=reduction, dtype=dtype, **kwargs)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        scale = ops.abs(y_true, _like_output(ws, "scale", output))
        ops.maximum(scale, _constant(ws, "epsilon", fuzz_factor.epsilon(), output), scale)
        ratio = ops.subtract(y_true, output, _like_output(ws, "diff", output))
        ops.divide(ratio, scale, ratio)
        absolute = ops.abs(ratio, _like_output(ws, "elementwise", output))
        per_sample = _row_mean(ops, ws, absolute, _per_sample(ws, output))
        ops.multiply(per_sample, _constant(ws, "hundred", 100.0, output), per_sample)
        grad = None
        if need_grad:
            grad = ops.sign(ratio, _like_output(ws, "grad", output))
            ops.divide(grad, scale, grad)
            ops.multiply(grad, _constant(ws, "grad_factor", -100.0 * grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


def _smoothed_targets(ops, ws, y_true, output, keep, spread):
    """y_true * keep + spread (Keras's label smoothing; ``keep`` = 1 - label_smoothing), in the output's dtype."""
    targets = ops.multiply(y_true, _constant(ws, "label_keep", keep, output), _like_output(ws, "smoothed", output))
    return ops.add(targets, _constant(ws, "label_spread", spread, output), targets)


class _LabelSmoothing:
    """Keras's ``label_smoothing`` of a cross-entropy's targets: y_true * (1 - label_smoothing) + spread, where
    the subclass's ``_label_spread(classes, dtype)`` says what every target gains."""

    label_smoothing = 0.0

    def _targets(self, ops, ws, y_true, output):
        if not self.label_smoothing:  # Keras smooths only when label_smoothing is not 0
            return y_true
        spreads = self.__dict__.setdefault("_spreads", {})  # per (classes, dtype), worked out once on the host
        key = (output.shape[-1], output.dtype)
        spread = spreads.get(key)
        if spread is None:
            spread = spreads[key] = self._label_spread(*key)
        return _smoothed_targets(ops, ws, y_true, output, 1.0 - self.label_smoothing, spread)

    def _label_spread(self, classes: int, dtype) -> float:
        raise NotImplementedError


def _binary_spread(loss, classes, dtype) -> float:
    return 0.5 * loss.label_smoothing  # Keras squeezes binary targets towards 0.5


def _categorical_spread(loss, classes, dtype) -> float:
    # label_smoothing / num_classes, with num_classes a tensor of the output's dtype: divided in that dtype
    return float(np.asarray(loss.label_smoothing, dtype) / np.asarray(classes, dtype))


def _fused_buffers(ws, output, need_grad):
    """(per-sample, probabilities, gradient or None) buffers for a fused logits step."""
    grad = _like_output(ws, "grad", output) if need_grad else None
    return _per_sample(ws, output), _like_output(ws, "probabilities", output), grad


class BinaryCrossentropy(_LabelSmoothing, Loss):
    fusable_activation = "sigmoid"
    _label_spread = _binary_spread

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None,
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)
        self.label_smoothing = _checked_number("label_smoothing", label_smoothing, 0, 1)
        self.axis = _checked_features_axis(axis)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "axis": self.axis}

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        y_true = self._targets(ops, ws, y_true, output)
        if logits:
            per_sample, probs, grad = _fused_buffers(ws, output, need_grad)
            ops.sigmoid_bce(output, y_true, probs, grad, per_sample, grad_scale / output.shape[-1])
            return per_sample, grad, self._model_output(output, probs)
        p = _clip_probabilities(ops, ws, output, _like_output(ws, "clipped", output))
        per_sample = self._per_sample_loss(ops, ws, p, y_true, _per_sample(ws, output))
        grad = self._gradient(ops, ws, output, p, y_true, grad_scale) if need_grad else None
        return per_sample, grad, output

    @staticmethod
    def _per_sample_loss(ops, ws, p, y_true, out):
        """out = mean(-(t log p + (1 - t) log(1 - p))) over the last axis."""
        one = _constant(ws, "one", 1.0, p)
        total = ops.log(p, _like_output(ws, "elementwise", p))
        ops.multiply(y_true, total, total)  # t log p
        other = ops.subtract(one, y_true, _like_output(ws, "complement", p))
        log_q = ops.subtract(one, p, _like_output(ws, "scratch", p))
        ops.log(log_q, log_q)
        ops.multiply(other, log_q, other)  # (1 - t) log(1 - p)
        ops.add(total, other, total)
        _row_mean(ops, ws, total, out)
        # mean(-e) is -mean(e) exactly (rounding is symmetric), so the sign is applied to the B means
        return ops.negative(out, out)

    @staticmethod
    def _gradient(ops, ws, output, p, y_true, grad_scale):
        """(p - t) / (p (1 - p)), zero where the clip is active (Keras's clip has no gradient there), scaled."""
        one = _constant(ws, "one", 1.0, p)
        denominator = ops.subtract(one, p, _like_output(ws, "scratch", p))
        ops.multiply(p, denominator, denominator)
        grad = ops.subtract(p, y_true, _like_output(ws, "grad", p))
        ops.divide(grad, denominator, grad)
        ops.multiply(grad, _inside_clip_range(ops, ws, output), grad)
        return ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], p), grad)


def _inside_clip_range(ops, ws, output):
    """A bool buffer: eps < output < 1 - eps, eps Keras's epsilon."""
    inside = ws.buffer("loss.inside", output.shape, np.bool_)
    below_top = ws.buffer("loss.below_top", output.shape, np.bool_)
    ops.greater(output, _constant(ws, "epsilon", fuzz_factor.epsilon(), output), inside)
    ops.greater(_constant(ws, "one_minus_epsilon", 1.0 - fuzz_factor.epsilon(), output), output, below_top)
    return ops.logical_and(inside, below_top, inside)


class CategoricalCrossentropy(_LabelSmoothing, Loss):
    fusable_activation = "softmax"
    _label_spread = _categorical_spread

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None,
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)
        self.label_smoothing = _checked_number("label_smoothing", label_smoothing, 0, 1)
        self.axis = _checked_features_axis(axis)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "axis": self.axis}

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        if logits:
            per_sample, probs, grad = _fused_buffers(ws, output, need_grad)
            if not self.sparse_labels:  # class ids go to the kernel as they are; Keras smooths one-hot targets only
                y_true = self._targets(ops, ws, y_true, output)
            ops.softmax_xent(output, y_true, probs, grad, per_sample, grad_scale)
            return per_sample, grad, self._model_output(output, probs)
        # Keras: rescale the probabilities to sum to one, clip, then -sum(t * log p).
        total = ops.sum(output, -1, _row_buffer(ws, "row_total", output), keepdims=True)
        p = ops.divide(output, total, _like_output(ws, "clipped", output))
        inside = _inside_clip_range(ops, ws, p) if need_grad else None  # where the clip passes a gradient
        _clip_probabilities(ops, ws, p, p)
        targets = self._dense_targets(ops, ws, y_true, output)
        if not self.sparse_labels:
            targets = self._targets(ops, ws, targets, output)
        log_p = ops.log(p, _like_output(ws, "elementwise", output))
        ops.multiply(targets, log_p, log_p)
        per_sample = ops.sum(log_p, -1, _per_sample(ws, output))
        ops.negative(per_sample, per_sample)
        grad = self._gradient(ops, ws, output, p, total, targets, inside, grad_scale) if need_grad else None
        return per_sample, grad, output

    @staticmethod
    def _gradient(ops, ws, output, p, total, targets, inside, grad_scale):
        """d/d output of -sum(t * log(clip(output / total))): -t' / output + sum(t') / total (output = p * total),
        computed as sum(t') / total - t' / (p * total), which is the same number (x + (-y) is x - y); t' is t
        where the clip passes a gradient and 0 where it is active (Keras's clip has no gradient there)."""
        targets = ops.multiply(targets, inside, _like_output(ws, "passing_targets", output))
        denominator = ops.multiply(p, total, _like_output(ws, "scratch", output))
        grad = ops.divide(targets, denominator, _like_output(ws, "grad", output))
        target_total = ops.sum(targets, -1, _row_buffer(ws, "target_total", output), keepdims=True)
        ops.divide(target_total, total, target_total)
        ops.subtract(target_total, grad, grad)
        return ops.multiply(grad, _constant(ws, "grad_scale", grad_scale, output), grad)

    def _dense_targets(self, ops, ws, y_true, output):
        return y_true


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    sparse_labels = True

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1, name=None,
                 dtype=None):  # Keras's order, which puts axis after reduction here
        if ignore_class is not None:
            raise ValueError(f"ignore_class: gpunn does not support ignoring a class (got {ignore_class!r}); give "
                             "those samples a sample_weight of 0 instead")
        super().__init__(from_logits=from_logits, axis=axis, reduction=reduction, name=name, dtype=dtype)

    def get_config(self):
        return {**Loss.get_config(self), "ignore_class": None, "axis": self.axis}

    def _dense_targets(self, ops, ws, y_true, output):
        """One-hot rows of the labels, gathered from an identity matrix: the gather writes into the buffer
        without allocating, which NumPy's scatter (put_along_axis) does not. The identity's zeros are made once;
        its diagonal is set on every call, a (classes,)-element write, so a replayed step needs no set-up."""
        classes = output.shape[-1]
        identity = ws.zeros("loss.identity", (classes, classes), output.dtype)
        ops.fill(1, identity.reshape(-1)[::classes + 1])
        return ops.take_rows(identity, y_true, out=_like_output(ws, "targets", output))


# ---- the other Keras losses: regression, probabilistic and hinge ------------------------------------------------
# keras/src/losses/losses.py: each ``compute`` follows the function of the same name there, in its order of
# operations, with its clip bounds in the output's dtype (as the existing losses do). Where an expression has a
# kink (a maximum, a clip, a branch), the gradient passes where TensorFlow's does: to the first argument of a
# tied maximum, inside a clip's closed range, to every tied entry of a max reduction in equal shares.


def _no_logits(loss, logits):
    if logits:  # no output activation is fused into these losses, and they take no from_logits
        raise ValueError(f"{type(loss).__name__}: expected the model's output, not logits")


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2) over the last axis (Keras's
    ``mean_squared_logarithmic_error``: log of the value plus one, after clipping below at epsilon)."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        epsilon, one = _constant(ws, "epsilon", fuzz_factor.epsilon(), output), _constant(ws, "one", 1.0, output)
        shifted = ops.maximum(output, epsilon, _like_output(ws, "clipped", output))
        ops.add(shifted, one, shifted)  # max(y_pred, eps) + 1, kept for the gradient
        first_log = ops.log(shifted, _like_output(ws, "elementwise", output))
        second_log = ops.maximum(y_true, epsilon, _like_output(ws, "complement", output))
        ops.add(second_log, one, second_log)
        ops.log(second_log, second_log)
        diff = ops.subtract(first_log, second_log, _like_output(ws, "diff", output))
        squared = ops.multiply(diff, diff, first_log)
        per_sample = _row_mean(ops, ws, squared, _per_sample(ws, output))
        grad = None
        if need_grad:  # 2 diff / (max(y_pred, eps) + 1), where y_pred >= eps (the maximum's own gradient)
            grad = ops.divide(diff, shifted, _like_output(ws, "grad", output))
            passes = ops.greater_equal(output, epsilon, ws.buffer("loss.passes", output.shape, np.bool_))
            ops.multiply(grad, passes, grad)
            ops.multiply(grad, _constant(ws, "grad_factor", 2.0 * grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) over ``axis`` (Keras's ``cosine_similarity``): between
    -1 and 1, 0 when either vector is zero. Keras normalises as ``x * rsqrt(max(sum(x^2), eps^2))``
    (keras/src/ops/nn.py ``_normalize``), computed here as ``x * (1 / sqrt(...))``."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(axis, bool) or axis not in (-1, 1):
            raise ValueError(f"axis: gpunn's models output (samples, features), so the similarity is taken over "
                             f"the features axis, -1 (or 1); got {axis!r}")
        self.axis = int(axis)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        floor = _constant(ws, "squared_epsilon", fuzz_factor.epsilon() * fuzz_factor.epsilon(), output)
        one = _constant(ws, "one", 1.0, output)
        unit_true, _, _ = self._normalize(ops, ws, y_true, "true", floor, one, output)
        unit_pred, inverse_norm, unclamped = self._normalize(ops, ws, output, "pred", floor, one, output)
        product = ops.multiply(unit_true, unit_pred, _like_output(ws, "elementwise", output))
        per_sample = _per_sample(ws, output)
        similarity = per_sample.reshape(-1, 1)  # a view, for broadcasting along the rows
        ops.sum(product, -1, similarity, keepdims=True)
        ops.negative(similarity, similarity)
        grad = None
        if need_grad:
            # loss = -t^ . p r with r = 1 / sqrt(max(|p|^2, eps^2)): d loss / dp = -r (t^ + loss p^), the second
            # term only where the maximum passes its gradient to |p|^2 (TF: at a tie too)
            grad = ops.multiply(unit_pred, similarity, _like_output(ws, "grad", output))
            ops.multiply(grad, unclamped, grad)
            ops.add(grad, unit_true, grad)
            ops.multiply(grad, inverse_norm, grad)
            ops.multiply(grad, _constant(ws, "negative_grad_scale", -grad_scale, output), grad)
        return per_sample, grad, output

    @staticmethod
    def _normalize(ops, ws, x, which, floor, one, like):
        """(x / max(|x|, eps) row-wise, 1 / max(|x|, eps) (B, 1), |x|^2 >= eps^2 (B, 1) bool)."""
        squares = ops.multiply(x, x, _like_output(ws, "squares_" + which, like))
        square_sum = ops.sum(squares, -1, _row_buffer(ws, "square_sum_" + which, like), keepdims=True)
        unclamped = ops.greater_equal(square_sum, floor, ws.buffer("loss.unclamped_" + which, square_sum.shape,
                                                                   np.bool_))
        inverse_norm = ops.maximum(square_sum, floor, _row_buffer(ws, "inverse_norm_" + which, like))
        ops.sqrt(inverse_norm, inverse_norm)
        ops.divide(one, inverse_norm, inverse_norm)
        return ops.multiply(x, inverse_norm, squares), inverse_norm, unclamped

    def get_config(self):
        return {"name": self.name, "axis": self.axis}


class Huber(Loss):
    """mean(0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2) over the last axis, e = y_pred - y_true
    (Keras's ``huber``). The gradient is e clipped to [-delta, delta]."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.integer, np.floating)) or not delta >= 0:
            raise ValueError(f"delta: expected a number >= 0 (where the loss turns from quadratic to linear), got "
                             f"{delta!r}")
        self.delta = float(delta)
        self._half_delta_squared = {}  # per dtype: 0.5 * square(delta) computed in that dtype, as Keras does

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        delta_c = _constant(ws, "delta", self.delta, output)
        error = ops.subtract(output, y_true, _like_output(ws, "diff", output))
        abs_error = ops.abs(error, _like_output(ws, "abs_error", output))
        quadratic = ops.multiply(error, error, _like_output(ws, "quadratic", output))
        ops.multiply(_constant(ws, "half", 0.5, output), quadratic, quadratic)  # half * square(error)
        linear = ops.multiply(delta_c, abs_error, _like_output(ws, "elementwise", output))
        ops.subtract(linear, _constant(ws, "half_delta_squared", self._offset(output.dtype), output), linear)
        small = ops.greater_equal(delta_c, abs_error, ws.buffer("loss.small", output.shape, np.bool_))
        ops.copy_where(quadratic, small, linear)  # where(abs_error <= delta, quadratic, linear)
        per_sample = _row_mean(ops, ws, linear, _per_sample(ws, output))
        grad = None
        if need_grad:
            minus_delta = _constant(ws, "minus_delta", -self.delta, output)
            grad = ops.maximum(error, minus_delta, _like_output(ws, "grad", output))
            ops.minimum(grad, delta_c, grad)
            ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def _offset(self, dtype) -> float:
        """0.5 * delta^2 rounded as Keras computes it in ``dtype`` (a host float, worked out once per dtype)."""
        value = self._half_delta_squared.get(dtype)
        if value is None:
            delta = np.asarray(self.delta, dtype)
            value = self._half_delta_squared[dtype] = float(np.asarray(0.5, dtype) * (delta * delta))
        return value

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


class LogCosh(Loss):
    """mean(log(cosh(e))) over the last axis, e = y_pred - y_true, computed as Keras's ``log_cosh`` does:
    e + softplus(-2 e) - log(2), with softplus(x) = logaddexp(x, 0). The gradient is tanh(e). Keras converts
    log(2) to a float32 tensor whatever the dtype; here it is log(2) in the output's dtype."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        error = ops.subtract(output, y_true, _like_output(ws, "diff", output))
        terms = ops.multiply(error, _constant(ws, "minus_two", -2.0, output), _like_output(ws, "elementwise", output))
        ops.logaddexp(terms, _constant(ws, "zero", 0.0, output), terms)
        ops.add(error, terms, terms)
        ops.subtract(terms, _constant(ws, "log2", np.log(2.0), output), terms)
        per_sample = _row_mean(ops, ws, terms, _per_sample(ws, output))
        grad = None
        if need_grad:
            grad = ops.tanh(error, _like_output(ws, "grad", output))
            ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class KLDivergence(Loss):
    """sum(t log(t / p)) over the last axis with t = clip(y_true, eps, 1) and p = clip(y_pred, eps, 1) (Keras's
    ``kl_divergence``: both clipped, so a zero target contributes eps log(eps / p))."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        epsilon, one = _constant(ws, "epsilon", fuzz_factor.epsilon(), output), _constant(ws, "one", 1.0, output)
        t = ops.maximum(y_true, epsilon, _like_output(ws, "clipped_true", output))
        ops.minimum(t, one, t)
        p = ops.maximum(output, epsilon, _like_output(ws, "clipped", output))
        ops.minimum(p, one, p)
        terms = ops.divide(t, p, _like_output(ws, "elementwise", output))
        ops.log(terms, terms)
        ops.multiply(t, terms, terms)
        per_sample = ops.sum(terms, -1, _per_sample(ws, output))
        grad = None
        if need_grad:  # -t / p inside [eps, 1], the range where TF's clip passes the gradient
            grad = ops.divide(t, p, _like_output(ws, "grad", output))
            ops.multiply(grad, _inside_closed_clip_range(ops, ws, output, epsilon, one), grad)
            ops.multiply(grad, _constant(ws, "negative_grad_scale", -grad_scale, output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


def _inside_closed_clip_range(ops, ws, output, low, high):
    """A bool buffer: low <= output <= high."""
    inside = ws.buffer("loss.inside", output.shape, np.bool_)
    below_top = ws.buffer("loss.below_top", output.shape, np.bool_)
    ops.greater_equal(output, low, inside)
    ops.greater_equal(high, output, below_top)
    return ops.logical_and(inside, below_top, inside)


class Poisson(Loss):
    """mean(y_pred - y_true log(y_pred + eps)) over the last axis (Keras's ``poisson``)."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        shifted = ops.add(output, _constant(ws, "epsilon", fuzz_factor.epsilon(), output),
                          _like_output(ws, "clipped", output))
        terms = ops.log(shifted, _like_output(ws, "elementwise", output))
        ops.multiply(y_true, terms, terms)
        ops.subtract(output, terms, terms)
        per_sample = _row_mean(ops, ws, terms, _per_sample(ws, output))
        grad = None
        if need_grad:  # 1 - y_true / (y_pred + eps)
            grad = ops.divide(y_true, shifted, _like_output(ws, "grad", output))
            ops.subtract(_constant(ws, "one", 1.0, output), grad, grad)
            ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


def _hinge_labels(ops, ws, y_true, output):
    """Keras's ``convert_binary_labels_to_hinge``: labels that are all 0 or 1 (over the whole batch) become -1 or
    1, others stay as they are. The test runs on the device and the choice is arithmetic, t + all01 (t - 1), so
    no host branch decides a step: 2t - 1 for 0/1 labels (exactly), t otherwise."""
    zeros = ops.equal(y_true, _constant(ws, "zero", 0.0, output), ws.buffer("loss.label_is_0", output.shape, np.bool_))
    ones = ops.equal(y_true, _constant(ws, "one", 1.0, output), ws.buffer("loss.label_is_1", output.shape, np.bool_))
    ops.logical_or(zeros, ones, zeros)
    binary = ops.all(zeros, None, ws.buffer("loss.labels_binary", (), np.bool_))
    flag = ops.copy_into(binary, ws.buffer("loss.labels_binary_value", (), output.dtype))
    labels = ops.subtract(y_true, _constant(ws, "one", 1.0, output), _like_output(ws, "hinge_labels", output))
    ops.multiply(labels, flag, labels)
    return ops.add(y_true, labels, labels)


def _hinge_margin(ops, ws, labels, output):
    """max(1 - t y_pred, 0), and the bool 1 - t y_pred >= 0 (where TF's maximum passes the gradient to it)."""
    margin = ops.multiply(labels, output, _like_output(ws, "margin", output))
    ops.subtract(_constant(ws, "one", 1.0, output), margin, margin)
    active = ops.greater_equal(margin, _constant(ws, "zero", 0.0, output),
                               ws.buffer("loss.active", output.shape, np.bool_))
    ops.maximum(margin, _constant(ws, "zero", 0.0, output), margin)
    return margin, active


class Hinge(Loss):
    """mean(max(1 - t y_pred, 0)) over the last axis, t the labels as -1/1 (0/1 labels are converted; Keras's
    ``hinge``)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        labels = _hinge_labels(ops, ws, y_true, output)
        margin, active = _hinge_margin(ops, ws, labels, output)
        per_sample = _row_mean(ops, ws, margin, _per_sample(ws, output))
        grad = None
        if need_grad:  # -t where the margin is active
            grad = ops.multiply(labels, active, _like_output(ws, "grad", output))
            ops.multiply(grad, _constant(ws, "grad_factor", -grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class SquaredHinge(Loss):
    """mean(max(1 - t y_pred, 0)^2) over the last axis, t as for Hinge (Keras's ``squared_hinge``)."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        labels = _hinge_labels(ops, ws, y_true, output)
        margin, _ = _hinge_margin(ops, ws, labels, output)
        squared = ops.multiply(margin, margin, _like_output(ws, "elementwise", output))
        per_sample = _row_mean(ops, ws, squared, _per_sample(ws, output))
        grad = None
        if need_grad:  # -2 t max(1 - t y_pred, 0)
            grad = ops.multiply(labels, margin, _like_output(ws, "grad", output))
            ops.multiply(grad, _constant(ws, "grad_factor", -2.0 * grad_scale / output.shape[-1], output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


class CategoricalHinge(Loss):
    """max(neg - pos + 1, 0) with pos = sum(t y_pred) and neg = max((1 - t) y_pred) over the last axis (Keras's
    ``categorical_hinge``; labels one-hot, 0/1 or -1/1, used as they are)."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        _no_logits(self, logits)
        one, zero = _constant(ws, "one", 1.0, output), _constant(ws, "zero", 0.0, output)
        positive = ops.multiply(y_true, output, _like_output(ws, "elementwise", output))
        pos = ops.sum(positive, -1, _row_buffer(ws, "pos", output), keepdims=True)
        complement = ops.subtract(one, y_true, _like_output(ws, "complement", output))
        others = ops.multiply(complement, output, _like_output(ws, "others", output))
        neg = ops.max(others, -1, _row_buffer(ws, "neg", output), keepdims=True)
        margin = ops.subtract(neg, pos, _row_buffer(ws, "margin", output))
        ops.add(margin, one, margin)
        per_sample = _per_sample(ws, output)
        ops.maximum(margin, zero, per_sample.reshape(-1, 1))
        grad = None
        if need_grad:
            # (1 - t) [others == neg] / (number of ties) - t, in rows whose margin is >= 0 (TF: a max reduction
            # shares its gradient between tied entries; a maximum passes it to its first argument at a tie)
            picked = ops.equal(others, neg, ws.buffer("loss.picked", output.shape, np.bool_))
            grad = ops.copy_into(picked, _like_output(ws, "grad", output))
            ties = ops.sum(grad, -1, _row_buffer(ws, "ties", output), keepdims=True)
            ops.divide(grad, ties, grad)
            ops.multiply(grad, complement, grad)
            ops.subtract(grad, y_true, grad)
            active = ops.greater_equal(margin, zero, ws.buffer("loss.active", margin.shape, np.bool_))
            ops.multiply(grad, active, grad)
            ops.multiply(grad, _constant(ws, "grad_scale", grad_scale, output), grad)
        return per_sample, grad, output

    def get_config(self):
        return {"name": self.name}


# ---- focal cross-entropies ------------------------------------------------------------------------------------
# keras/src/losses/losses.py ``binary_focal_crossentropy`` and ``categorical_focal_crossentropy``: the cross-
# entropy of each element times a focal factor (1 - p_t)^gamma that shrinks the loss of well-classified elements.
# Unlike BinaryCrossentropy / CategoricalCrossentropy they absorb no output activation: Keras computes them from
# probabilities even with from_logits=True (a sigmoid / softmax first, then the clipped formula), so a logits step
# would compute the same thing; the model's sigmoid / softmax layer runs as it is. The gradient passes through
# the clip inside its closed range, as TensorFlow's does (jax halves it on the bounds themselves); at gamma = 0 the
# focal factor is the constant 1 and has no slope (jax's pow gives NaN for it where 1 - p_t = 0).

_CHAINED_POWERS = 8  # integer exponents up to this are multiplied out, within an ulp or two of pow


def _power(ops, ws, base, exponent: float, name: str):
    """x ** exponent of every element (Keras's ``ops.power`` with a number as the exponent), into the buffer
    ``name``. There is no power primitive: a small positive integer exponent (gamma = 2, the default) multiplies,
    rounding as pow does within an ulp or two; any other is exp(exponent * log(x)). Where x is 0 the log is not
    taken (log(1) instead, a warning-free 0) and the result is pow's: 0 for a positive exponent, inf for a
    negative one. A negative x gives NaN there, as pow does with a non-integer exponent."""
    out = _like_output(ws, name, base)
    if exponent == 0:
        return ops.fill(1, out)  # x ** 0 is 1, for x = 0 too
    if float(exponent).is_integer() and 0 < exponent <= _CHAINED_POWERS:
        ops.copy_into(base, out)
        for _ in range(int(exponent) - 1):
            ops.multiply(out, base, out)
        return out
    at_zero = ops.equal(base, _constant(ws, "zero", 0.0, base), ws.buffer(f"loss.{name}_at_zero", base.shape,
                                                                           np.bool_))
    ops.copy_into(base, out)
    ops.copy_where(_constant(ws, "one", 1.0, base), at_zero, out)
    ops.log(out, out)
    ops.multiply(out, _constant(ws, f"{name}_exponent", exponent, base), out)
    ops.bias_act_forward(out, None, "exponential", out)  # exp, through the activation primitive (no bias)
    zero_power = 0.0 if exponent > 0 else np.inf
    return ops.copy_where(_constant(ws, f"{name}_at_zero_value", zero_power, base), at_zero, out)


def _checked_number(argument, value, low=None, high=None):
    """A finite real number (bools refused: True is not a weight), optionally within [low, high], as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or (low is not None and not low <= value <= high):
        within = f" in [{low}, {high}]" if low is not None else ""
        raise ValueError(f"{argument}: expected a finite number{within}, got {value!r}")
    return float(value)


def _checked_flag(argument, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{argument}: expected True or False, got {value!r}")
    return bool(value)


def _checked_features_axis(axis):
    if isinstance(axis, bool) or axis not in (-1, 1):
        raise ValueError(f"axis: gpunn's models output (samples, features), so the cross-entropy is taken over the "
                         f"features axis, -1 (or 1); got {axis!r}")
    return int(axis)


class _FocalCrossentropy(_LabelSmoothing, Loss):
    """What the two focal losses share: arguments, label smoothing, the probabilities of logits."""

    activation = None  # "sigmoid" / "softmax": what from_logits applies first

    def __init__(self, alpha, gamma, from_logits, label_smoothing, axis, reduction, name, dtype=None):
        super().__init__(from_logits=from_logits, name=name, reduction=reduction, dtype=dtype)
        self.gamma = _checked_number("gamma", gamma)
        self.label_smoothing = _checked_number("label_smoothing", label_smoothing, 0, 1)
        self.axis = _checked_features_axis(axis)
        self.alpha = alpha

    def _probabilities(self, ops, ws, output, logits):
        """The output itself, or the sigmoid / softmax of logits, computed as the model's activation layer does."""
        if not logits:
            return output
        probabilities = _like_output(ws, "probabilities", output)
        if self.activation == "softmax":
            return ops.softmax(output, probabilities)
        return ops.bias_act_forward(output, None, self.activation, probabilities)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "alpha": self.alpha, "gamma": self.gamma}


class BinaryFocalCrossentropy(_FocalCrossentropy):
    """mean(w (1 - p_t)^gamma bce) over the last axis (Keras's ``binary_focal_crossentropy``, in its order of
    operations): bce = -(t log o + (1 - t) log(1 - o)) with o = clip(p, eps, 1 - eps), p_t = t p + (1 - t)(1 - p)
    of the unclipped p, and w = t alpha + (1 - t)(1 - alpha) with apply_class_balancing (else 1). Labels smoothed
    to t (1 - s) + s / 2; with from_logits, p = sigmoid(y_pred) first.

    The gradient with respect to p: w [gamma (1 - p_t)^(gamma - 1) (1 - 2t) bce + (1 - p_t)^gamma (o - t) /
    (o (1 - o))], the second term inside the clip's range only; times p (1 - p) with from_logits."""

    activation = "sigmoid"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(_checked_number("alpha", alpha), gamma, from_logits, label_smoothing, axis, reduction,
                         name, dtype)
        self.apply_class_balancing = _checked_flag("apply_class_balancing", apply_class_balancing)

    _label_spread = _binary_spread

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        one = _constant(ws, "one", 1.0, output)
        targets = self._targets(ops, ws, y_true, output)
        p = self._probabilities(ops, ws, output, logits)
        clipped = _clip_probabilities(ops, ws, p, _like_output(ws, "clipped", output))
        complement = ops.subtract(one, targets, _like_output(ws, "complement", output))  # 1 - t
        # Keras's binary_crossentropy: bce = t log o; bce += (1 - t) log(1 - o); -bce
        bce = ops.log(clipped, _like_output(ws, "bce", output))
        ops.multiply(targets, bce, bce)
        scratch = ops.subtract(one, clipped, _like_output(ws, "scratch", output))
        ops.log(scratch, scratch)
        ops.multiply(complement, scratch, scratch)
        ops.add(bce, scratch, bce)
        ops.negative(bce, bce)
        # 1 - p_t, p_t = t p + (1 - t)(1 - p)
        base = ops.subtract(one, p, _like_output(ws, "focal_base", output))
        ops.multiply(complement, base, base)
        ops.add(ops.multiply(targets, p, scratch), base, base)
        ops.subtract(one, base, base)
        factor = _power(ops, ws, base, self.gamma, "focal_factor")
        elementwise = ops.multiply(factor, bce, _like_output(ws, "elementwise", output))
        weight = self._class_weight(ops, ws, targets, complement, output) if self.apply_class_balancing else None
        if weight is not None:
            ops.multiply(weight, elementwise, elementwise)
        per_sample = _row_mean(ops, ws, elementwise, _per_sample(ws, output))
        grad = None
        if need_grad:
            grad = self._gradient(ops, ws, output, p, clipped, targets, complement, bce, base, factor, weight,
                                  logits)
            ops.multiply(grad, _constant(ws, "grad_factor", grad_scale / output.shape[-1], output), grad)
        predictions = self._model_output(output, p) if logits else output
        return per_sample, grad, predictions

    def _class_weight(self, ops, ws, targets, complement, output):
        """t alpha + (1 - t)(1 - alpha), alpha and 1 - alpha rounded to the output's dtype as Keras's are."""
        weight = ops.multiply(targets, _constant(ws, "alpha", self.alpha, output),
                              _like_output(ws, "class_weight", output))
        other = ops.multiply(complement, _constant(ws, "one_minus_alpha", 1.0 - self.alpha, output),
                             _like_output(ws, "class_weight_other", output))
        return ops.add(weight, other, weight)

    def _gradient(self, ops, ws, output, p, clipped, targets, complement, bce, base, factor, weight, logits):
        """d loss / d output of each element, before the 1 / C of the mean and grad_scale."""
        one = _constant(ws, "one", 1.0, output)
        scratch = _like_output(ws, "scratch", output)
        # (1 - p_t)^gamma (o - t) / (o (1 - o)), where the clip passes its gradient
        grad = ops.subtract(clipped, targets, _like_output(ws, "grad", output))
        ops.subtract(one, clipped, scratch)
        ops.multiply(clipped, scratch, scratch)
        ops.divide(grad, scratch, grad)
        epsilon = _constant(ws, "epsilon", fuzz_factor.epsilon(), output)
        top = _constant(ws, "one_minus_epsilon", 1.0 - fuzz_factor.epsilon(), output)
        ops.multiply(grad, _inside_closed_clip_range(ops, ws, p, epsilon, top), grad)
        ops.multiply(grad, factor, grad)
        if self.gamma != 0:  # + gamma (1 - p_t)^(gamma - 1) (1 - 2t) bce: the focal factor's own slope
            slope = _power(ops, ws, base, self.gamma - 1.0, "focal_slope")
            ops.multiply(slope, bce, slope)
            ops.multiply(slope, ops.subtract(complement, targets, scratch), slope)  # (1 - t) - t
            ops.multiply(slope, _constant(ws, "gamma", self.gamma, output), slope)
            ops.add(grad, slope, grad)
        if weight is not None:
            ops.multiply(grad, weight, grad)
        if logits:  # through the sigmoid: times p (1 - p)
            ops.subtract(one, p, scratch)
            ops.multiply(scratch, p, scratch)
            ops.multiply(grad, scratch, grad)
        return grad

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing}


class CategoricalFocalCrossentropy(_FocalCrossentropy):
    """sum(alpha (1 - o)^gamma (-t log o)) over the last axis (Keras's ``categorical_focal_crossentropy``, in its
    order of operations), o = clip(p / sum(p), eps, 1 - eps): the probabilities rescaled to sum to one, then
    clipped. ``alpha`` is one weight for every class or a list of one per class. Labels smoothed to
    t (1 - s) + s / classes; with from_logits, p = softmax(y_pred) first.

    The gradient with respect to o: g = -alpha [gamma (1 - o)^(gamma - 1) (-t log o) + (1 - o)^gamma t / o] inside
    the clip's range; with respect to p: (g - sum(g p) / sum(p)) / sum(p); through the softmax with from_logits."""

    activation = "softmax"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(self._checked_alpha(alpha), gamma, from_logits, label_smoothing, axis, reduction, name,
                         dtype)

    @staticmethod
    def _checked_alpha(alpha):
        """A number, or a sequence of numbers (one weight per class, as Keras's docstring allows): kept as a float
        or a list of floats, as Keras's config keeps it."""
        if isinstance(alpha, (list, tuple, np.ndarray)):
            values = np.asarray(alpha, dtype=object).reshape(-1) if np.ndim(alpha) <= 1 else None
            if values is None or len(values) == 0:
                raise ValueError(f"alpha: expected a number or a flat list of one weight per class, got {alpha!r}")
            return [_checked_number("alpha", value) for value in values.tolist()]
        return _checked_number("alpha", alpha)

    _label_spread = _categorical_spread

    def _alpha(self, ws, output):
        if not isinstance(self.alpha, list):
            return _constant(ws, "alpha", self.alpha, output)
        classes = output.shape[-1]
        if len(self.alpha) not in (1, classes):
            raise ValueError(f"alpha: {len(self.alpha)} class weights for an output of {classes} classes")
        return ws.constant("loss.class_alpha", tuple(self.alpha), output.dtype)  # (classes,), broadcast per row

    def compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad=True):
        alpha = self._alpha(ws, output)
        targets = self._targets(ops, ws, y_true, output)
        p = self._probabilities(ops, ws, output, logits)
        total = ops.sum(p, -1, _row_buffer(ws, "row_total", output), keepdims=True)
        clipped = ops.divide(p, total, _like_output(ws, "clipped", output))
        inside = None
        if need_grad:  # where the clip passes its gradient, found before clipping in place
            eps = fuzz_factor.epsilon()
            inside = _inside_closed_clip_range(ops, ws, clipped, _constant(ws, "epsilon", eps, output),
                                               _constant(ws, "one_minus_epsilon", 1.0 - eps, output))
        _clip_probabilities(ops, ws, clipped, clipped)
        cross_entropy = ops.negative(targets, _like_output(ws, "cross_entropy", output))
        log_o = ops.log(clipped, _like_output(ws, "log_p", output))
        ops.multiply(cross_entropy, log_o, cross_entropy)  # -t * log(o)
        base = ops.subtract(_constant(ws, "one", 1.0, output), clipped, _like_output(ws, "focal_base", output))
        weighting = _power(ops, ws, base, self.gamma, "focal_factor")
        ops.multiply(weighting, alpha, weighting)
        elementwise = ops.multiply(weighting, cross_entropy, _like_output(ws, "elementwise", output))
        per_sample = ops.sum(elementwise, -1, _per_sample(ws, output))
        grad = None
        if need_grad:
            grad = self._gradient(ops, ws, output, p, total, clipped, targets, cross_entropy, base, weighting,
                                  alpha, inside, logits)
            ops.multiply(grad, _constant(ws, "grad_scale", grad_scale, output), grad)
        predictions = self._model_output(output, p) if logits else output
        return per_sample, grad, predictions

    def _gradient(self, ops, ws, output, p, total, clipped, targets, cross_entropy, base, weighting, alpha, inside,
                  logits):
        """d loss / d output of each element, before grad_scale."""
        grad = ops.divide(targets, clipped, _like_output(ws, "grad", output))
        ops.multiply(grad, weighting, grad)  # alpha (1 - o)^gamma t / o
        if self.gamma != 0:  # + alpha gamma (1 - o)^(gamma - 1) (-t log o): the focal factor's own slope
            slope = _power(ops, ws, base, self.gamma - 1.0, "focal_slope")
            ops.multiply(slope, cross_entropy, slope)
            ops.multiply(slope, alpha, slope)
            ops.multiply(slope, _constant(ws, "gamma", self.gamma, output), slope)
            ops.add(grad, slope, grad)
        ops.negative(grad, grad)
        ops.multiply(grad, inside, grad)
        # through o = p / sum(p): (g - sum(g p) / sum(p)) / sum(p)
        scratch = ops.multiply(grad, p, _like_output(ws, "scratch", output))
        row = ops.sum(scratch, -1, _row_buffer(ws, "row_dot", output), keepdims=True)
        ops.divide(row, total, row)
        ops.subtract(grad, row, grad)
        ops.divide(grad, total, grad)
        if logits:
            ops.softmax_backward(p, grad, grad, scratch, _row_buffer(ws, "softmax_rows", output))
        return grad


_BY_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    # keras/src/losses/__init__.py ALL_OBJECTS_DICT: the function names and the short aliases
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "cosine_similarity": CosineSimilarity, "huber": Huber, "log_cosh": LogCosh,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "poisson": Poisson,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    # tf.keras 2 spellings that Keras 3 keeps as legacy exports
    "logcosh": LogCosh, "kullback_leibler_divergence": KLDivergence,
}
_BY_CLASS = {c.__name__: c for c in set(_BY_NAME.values())}


def get(identifier):
    """Keras's ``keras.losses.get``: a function's name gives that function (``"mse"``: ``mean_squared_error``,
    a loss per sample), a class name an instance (``"Huber"``), a config dict the object it describes; a Loss
    class gives an instance, a Loss or any other callable itself, None None. (``compile`` makes a Loss of
    whatever it is given: ``as_loss``.)"""
    if identifier is None:
        return None
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":  # a function, by its name
        found = custom_objects.lookup(identifier.get("config"))
        return found if found is not None else get(str(identifier.get("config")))
    if isinstance(identifier, str):
        name = identifier.strip().lower().replace("-", "_")
        if identifier not in _BY_CLASS and name in _BY_NAME:
            function = globals().get(_FUNCTION_ALIASES.get(name, name))
            if callable(function) and not isinstance(function, type):
                return function
        if identifier not in _BY_CLASS and name not in _BY_NAME:
            custom = custom_objects.lookup(identifier)
            if custom is not None:  # the user's function or Loss class, by its registered name
                return custom() if isinstance(custom, type) else custom
    elif callable(identifier) and not isinstance(identifier, (type, Loss)) and \
            not keras_objects.is_keras_object(identifier):
        return identifier
    return as_loss(identifier)


_FUNCTION_ALIASES = {"bce": "binary_crossentropy"}  # (Keras's alias; gpunn has no function of that name)


def as_loss(identifier) -> Loss:
    """A Loss from a name, class, instance, config dict or function (what ``compile`` makes of its ``loss``). A
    function of the user's becomes a FunctionLoss; a name or config dict gpunn does not have is looked up among
    the user's own objects (``gpunn.custom_objects``: load_model's ``custom_objects``,
    ``register_keras_serializable``)."""
    if keras_objects.is_keras_object(identifier):  # (Keras's own: tf.losses.BinaryCrossentropy(from_logits=True))
        return keras_objects.as_gpunn(identifier, "loss")
    from . import chosen_crossentropy

    if chosen_crossentropy.is_chosen_from_shapes(identifier):  # compile(loss="crossentropy"): Keras's get_loss
        return chosen_crossentropy.ShapeChosenCrossentropy(name=identifier)
    if isinstance(identifier, Loss) or isinstance(identifier, type) and issubclass(identifier, Loss):
        cls = identifier if isinstance(identifier, type) else type(identifier)
        if overrides.user_definition(cls, "__call__") is not None:
            overrides.refuse(cls, "__call__", "a compiled model", "gpunn's steps run a loss's call(y_true, y_pred) "
                             "and apply the sample weights and the mean over the batch themselves, as Keras's "
                             "Loss.__call__ does; write the loss in call() instead")
        return identifier if isinstance(identifier, Loss) else identifier()
    if isinstance(identifier, dict):
        class_name = identifier["class_name"]
        if class_name == "function":  # a function, by the name it was saved under
            return as_loss(_custom_object(identifier.get("config"), identifier.get("config")))
        cls = custom_objects.resolve(identifier, "loss", {k.lower(): v for k, v in _BY_CLASS.items()}, Loss)
        if cls not in _BY_CLASS.values():  # a Loss class of the user's
            return cls.from_config(identifier.get("config", {}))
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, str) and identifier in _BY_CLASS:  # Keras also takes class names: "Huber"
        return _BY_CLASS[identifier]()
    if callable(identifier) and getattr(identifier, "__name__", None) in _BY_NAME and _library_function(identifier):
        return _BY_NAME[identifier.__name__]()
    if callable(identifier) and not isinstance(identifier, str):
        return FunctionLoss(identifier)  # a function of the user's, differentiated by gpunn/autodiff
    if isinstance(identifier, str) and identifier.strip().lower().replace("-", "_") not in _BY_NAME:
        custom = custom_objects.lookup(identifier)
        if custom is not None:
            return as_loss(custom)
        with custom_objects.hint_on_unknown():
            return lookup("loss", identifier, _BY_NAME)()
    return lookup("loss", identifier, _BY_NAME)()


def _custom_object(name, fallback):
    """The user's object saved as ``name``, else gpunn's function of that name, else a clear error."""
    found = custom_objects.lookup(name)
    if found is not None:
        return found
    if isinstance(name, str) and name.strip().lower().replace("-", "_") in _BY_NAME:
        return fallback
    raise custom_objects.missing("loss", str(name))


def _library_function(function) -> bool:
    """Whether ``function`` is a loss function of gpunn's, Keras's or TensorFlow's (known by its name), not one
    of the user's that happens to share a name."""
    module = getattr(function, "__module__", None) or ""
    return module.split(".")[0] in ("gpunn", "keras", "tensorflow", "tf_keras")


def deserialize(name, custom_objects=None):
    """Keras's ``deserialize``: the loss ``name`` describes (a config dict, or a name), the user's classes and
    functions taken from ``custom_objects`` too."""
    with custom_objects_lookup.custom_object_scope(custom_objects):
        return get(name)


def as_compiled(loss):
    """The loss ``compile`` was given: for a model whose own compute_loss is its loss (own_compute_loss.py), the
    one that wraps (None when compile had none), as Keras's compile config holds it."""
    return loss.compiled if getattr(loss, "takes_inputs", False) else loss


def serialize(loss: Loss) -> dict | None:
    """{"class_name", "config"}: a function of the user's as Keras writes one ("function", its registered
    name), a Loss class of the user's with its module and registered name too."""
    loss = as_compiled(loss)
    if loss is None:
        return None
    if callable(loss) and not isinstance(loss, (Loss, type)):  # a function (what get("mse") gives): by its name
        return {"class_name": "function", "config": custom_objects.get_registered_name(loss)}
    if isinstance(loss, FunctionLoss) and not loss.serialized_as_class:
        return {"class_name": "function", "config": custom_objects.get_registered_name(loss.fn)}
    cls = type(loss)
    if cls.__module__.split(".")[0] != "gpunn":
        return {"module": cls.__module__, "class_name": cls.__name__, "config": loss.get_config(),
                "registered_name": custom_objects.get_registered_name(cls)}
    return {"class_name": cls.__name__, "config": loss.get_config()}


def keras_values(values, y_pred, dtype=None):
    """What a ``keras.losses`` function or loss object returns for arrays: the losses (computed in float64 here) as
    an array with ``.numpy()``, in ``dtype`` if given, else in the predictions' float dtype (float32 for float32
    ones, as Keras; float64 ones keep their precision, where Keras narrows them to its float32 policy), else
    ``floatx()`` (integers, lists: as Keras converts them). Tensors (a function of the user's being
    differentiated) as they are."""
    if loss_tensors.involves_tensors(values):
        return values
    if dtype is None:
        from .backend import floatx

        given = _dtype_of(y_pred)
        dtype = given.name if given is not None and given.kind == "f" else floatx()
    return host_result(np.asarray(values, dtype=dtype))


def _takes_from_logits(cls) -> bool:
    """Whether a loss class below Loss names ``from_logits`` in an ``__init__`` of its own (the cross-entropies,
    and a user's subclass of one)."""
    return any("from_logits" in inspect.signature(vars(klass)["__init__"]).parameters
               for klass in cls.__mro__ if klass is not Loss and "__init__" in vars(klass))


def _dtype_of(value) -> np.dtype | None:
    """The NumPy dtype of an array, a CuPy array or a framework's tensor (TensorFlow's ``tf.float32`` is no NumPy
    dtype: read from its array), None for lists and numbers."""
    given = getattr(value, "dtype", None)
    if given is None:
        return None
    try:
        return np.dtype(given)
    except TypeError:
        return np.asarray(value).dtype


def _plain_function(cls, name):
    """The function of a loss that takes neither from_logits nor an argument of its own (two arguments, as
    Keras's: a third, a sample weight given by position, is refused rather than ignored)."""
    def fn(y_true, y_pred):
        """Per-sample losses, as the function of the same name in ``keras.losses``."""
        return keras_values(cls().per_sample(y_true, y_pred), y_pred)

    fn.__name__ = fn.__qualname__ = name  # (pickle finds it by name in this module, as Keras's functions)
    return fn


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber losses, as ``keras.losses.huber``."""
    return keras_values(Huber(delta=delta).per_sample(y_true, y_pred), y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample negative cosine similarities, as ``keras.losses.cosine_similarity``."""
    return keras_values(CosineSimilarity(axis=axis).per_sample(y_true, y_pred), y_pred)


# (the upper-case names are tf.keras 2's, which Keras 3 keeps in its tf.keras namespace)
mean_squared_error = mse = MSE = _plain_function(MeanSquaredError, "mean_squared_error")
mean_absolute_error = mae = MAE = _plain_function(MeanAbsoluteError, "mean_absolute_error")
mean_absolute_percentage_error = mape = MAPE = _plain_function(MeanAbsolutePercentageError,
                                                               "mean_absolute_percentage_error")


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary cross-entropies, as ``keras.losses.binary_crossentropy``."""
    loss = BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    return keras_values(loss.per_sample(y_true, y_pred), y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical cross-entropies, as ``keras.losses.categorical_crossentropy``."""
    loss = CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    return keras_values(loss.per_sample(y_true, y_pred), y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample cross-entropies of class ids, as ``keras.losses.sparse_categorical_crossentropy``."""
    loss = SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class, axis=axis)
    return keras_values(loss.per_sample(y_true, y_pred), y_pred)


mean_squared_logarithmic_error = msle = MSLE = _plain_function(MeanSquaredLogarithmicError,
                                                               "mean_squared_logarithmic_error")
log_cosh = logcosh = _plain_function(LogCosh, "log_cosh")
kl_divergence = kld = KLD = kullback_leibler_divergence = _plain_function(KLDivergence, "kl_divergence")
poisson = _plain_function(Poisson, "poisson")
hinge = _plain_function(Hinge, "hinge")
squared_hinge = _plain_function(SquaredHinge, "squared_hinge")
categorical_hinge = _plain_function(CategoricalHinge, "categorical_hinge")


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Per-sample binary focal cross-entropies, as ``keras.losses.binary_focal_crossentropy``."""
    loss = BinaryFocalCrossentropy(apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                                   from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    return keras_values(loss.per_sample(y_true, y_pred), y_pred)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Per-sample categorical focal cross-entropies, as ``keras.losses.categorical_focal_crossentropy``."""
    loss = CategoricalFocalCrossentropy(alpha=alpha, gamma=gamma, from_logits=from_logits,
                                        label_smoothing=label_smoothing, axis=axis)
    return keras_values(loss.per_sample(y_true, y_pred), y_pred)


from .loss_reduction import Reduction  # noqa: E402,F401  (tf.keras 2's gpunn.losses.Reduction.SUM...)

# Keras's overlap losses, written with gpunn.ops in a module of their own (which builds on FunctionLoss above)
from .overlap_losses import Dice, Tversky, dice, tversky  # noqa: E402,F401  (gpunn.losses.dice...)

_BY_NAME.update(dice=Dice, tversky=Tversky)
_BY_CLASS.update(Dice=Dice, Tversky=Tversky)
# and the noise-robust cross-entropy
from .robust_losses import (CategoricalGeneralizedCrossEntropy,  # noqa: E402,F401
                            categorical_generalized_cross_entropy)

_BY_NAME.update(categorical_generalized_cross_entropy=CategoricalGeneralizedCrossEntropy)
_BY_CLASS.update(CategoricalGeneralizedCrossEntropy=CategoricalGeneralizedCrossEntropy)
# and the metric-learning loss over a batch's pairs of rows
from .pair_losses import Circle, circle  # noqa: E402,F401

_BY_NAME.update(circle=Circle)
_BY_CLASS.update(Circle=Circle)


def __dir__():
    from .api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())


def __getattr__(name: str):
    from .beyond_mlps import stand_in  # Keras's names gpunn leaves out say so (beyond_mlps.py)

    return stand_in(__name__, name)
