"""Metrics that are a loss averaged over samples, as Keras's ``MeanMetricWrapper`` of the loss function
(keras/src/metrics/hinge_metrics.py; probabilistic_metrics.py: KLDivergence, Poisson; regression_metrics.py:
LogCoshError, MeanSquaredLogarithmicError, CosineSimilarity): each sample's value is what gpunn's loss computes
for it (gpunn/losses.py), so metric and loss agree to the bit."""
from __future__ import annotations

from .. import losses as losses_module
from .base import dense_labels
from .reduction import PerSampleMean


class LossMean(PerSampleMean):
    """The mean over samples of ``loss_class``'s per-sample value (its gradient is not computed)."""

    direction = "down"
    loss_class = None
    from_logits = False  # the cross-entropy metrics take it as an argument
    flat_batch_is_one_value = True

    def _loss(self):
        loss = getattr(self, "_loss_object", None)
        if loss is None:
            loss = self._loss_object = self.loss_class(**self._loss_arguments())
        return loss

    def _loss_arguments(self) -> dict:
        return {}

    def _targets(self, ops, ws, y_true, predictions):
        return dense_labels(y_true, predictions)

    def per_sample(self, ops, ws, y_true, predictions):
        per_sample, _, _ = self._loss().compute(ops, ws, predictions, self._targets(ops, ws, y_true, predictions),
                                                1.0, self.from_logits, need_grad=False)
        return per_sample


def _loss_mean(class_name: str, loss_class, name: str, doc: str):
    def __init__(self, name=name, dtype=None):
        LossMean.__init__(self, name=name, dtype=dtype)

    return type(class_name, (LossMean,), {"__init__": __init__, "default_name": name, "loss_class": loss_class,
                                          "__doc__": doc, "__module__": __name__})


Hinge = _loss_mean("Hinge", losses_module.Hinge, "hinge", "mean(max(1 - y_true * y_pred, 0)); 0/1 labels as -1/1.")
SquaredHinge = _loss_mean("SquaredHinge", losses_module.SquaredHinge, "squared_hinge",
                          "mean(max(1 - y_true * y_pred, 0)^2); 0/1 labels as -1/1.")
CategoricalHinge = _loss_mean("CategoricalHinge", losses_module.CategoricalHinge, "categorical_hinge",
                              "max(neg - pos + 1, 0) of one-hot labels.")
KLDivergence = _loss_mean("KLDivergence", losses_module.KLDivergence, "kl_divergence",
                          "sum(t log(t / p)), both clipped to [epsilon, 1].")
Poisson = _loss_mean("Poisson", losses_module.Poisson, "poisson", "mean(y_pred - y_true log(y_pred + epsilon)).")
LogCoshError = _loss_mean("LogCoshError", losses_module.LogCosh, "logcosh", "mean(log(cosh(y_pred - y_true))).")
MeanSquaredLogarithmicError = _loss_mean(
    "MeanSquaredLogarithmicError", losses_module.MeanSquaredLogarithmicError, "mean_squared_logarithmic_error",
    "mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2).")


class CosineSimilarity(LossMean):
    """sum(l2_normalize(y_true) * l2_normalize(y_pred)) over ``axis``: the CosineSimilarity loss without its
    minus sign (Keras's metric and loss differ by that sign alone); higher is better."""

    direction = "up"
    default_name = "cosine_similarity"
    loss_class = losses_module.CosineSimilarity

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(name=name, dtype=dtype)
        self.axis = axis
        self._loss()  # the loss checks ``axis`` now, before any work

    def _loss_arguments(self):
        return {"axis": self.axis}

    def per_sample(self, ops, ws, y_true, predictions):
        per_sample = super().per_sample(ops, ws, y_true, predictions)
        return ops.negative(per_sample, per_sample)
    # get_config: name and dtype only, as Keras 3's (its axis, -1 or 1 here, means the same for an MLP's output)


class LossFunctionMean(LossMean):
    """Keras's ``MeanMetricWrapper`` of a loss function that has no metric class of its own (``huber``, the focal
    cross-entropies, the ``cosine_similarity`` loss, negative as the loss is): the mean of ``loss``'s per-sample
    values, under the function's name."""

    def __init__(self, loss, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._loss_object = loss
        self.direction = "up" if isinstance(loss, losses_module.CosineSimilarity) else "down"
