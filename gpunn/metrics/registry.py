"""Metric identifiers as Keras resolves them (keras/src/metrics/__init__.py ``get``, and
keras/src/trainers/compile_utils.py ``get_metric``): names, classes, instances, config dicts, loss functions.

A name keeps itself as the metric's name (the key in the History: ``metrics=["mse"]`` logs "mse"); a class
is instantiated with its default name; ``'accuracy'`` / ``'acc'`` resolve to the accuracy the loss implies,
failing that to the one the labels and output imply.
"""
from __future__ import annotations

from .._registry import lookup
from . import accuracy, confusion, confusion_at, f_score, loss_backed, probabilistic, reduction, regression
from .base import Metric, to_snake_case

CLASSES = [
    reduction.Mean,
    accuracy.Accuracy, accuracy.BinaryAccuracy, accuracy.CategoricalAccuracy, accuracy.SparseCategoricalAccuracy,
    accuracy.TopKCategoricalAccuracy, accuracy.SparseTopKCategoricalAccuracy,
    regression.MeanSquaredError, regression.RootMeanSquaredError, regression.MeanAbsoluteError,
    regression.MeanAbsolutePercentageError, regression.R2Score,
    probabilistic.BinaryCrossentropy, probabilistic.CategoricalCrossentropy,
    probabilistic.SparseCategoricalCrossentropy,
    confusion.TruePositives, confusion.FalsePositives, confusion.TrueNegatives, confusion.FalseNegatives,
    confusion.Precision, confusion.Recall, confusion.AUC,
    f_score.FBetaScore, f_score.F1Score,
    loss_backed.Hinge, loss_backed.SquaredHinge, loss_backed.CategoricalHinge, loss_backed.KLDivergence,
    loss_backed.Poisson, loss_backed.LogCoshError, loss_backed.MeanSquaredLogarithmicError,
    loss_backed.CosineSimilarity,
    confusion_at.SensitivityAtSpecificity, confusion_at.SpecificityAtSensitivity, confusion_at.PrecisionAtRecall,
    confusion_at.RecallAtPrecision,
]

# Keras's ALL_OBJECTS_DICT: class names and their snake-case forms, plus the short aliases. Lookups ignore case.
BY_NAME = {}
for _cls in CLASSES:
    BY_NAME[_cls.__name__.lower()] = _cls
    BY_NAME[to_snake_case(_cls.__name__)] = _cls
BY_NAME.update({"mse": regression.MeanSquaredError, "mae": regression.MeanAbsoluteError,
                "mape": regression.MeanAbsolutePercentageError, "bce": probabilistic.BinaryCrossentropy,
                "msle": loss_backed.MeanSquaredLogarithmicError})
BY_CLASS_NAME = {cls.__name__: cls for cls in CLASSES}

_ACCURACY_BY_LOSS = {
    "SparseCategoricalCrossentropy": accuracy.SparseCategoricalAccuracy,
    "CategoricalCrossentropy": accuracy.CategoricalAccuracy,
    "BinaryCrossentropy": accuracy.BinaryAccuracy,
}


def accuracy_for(loss, output_units: int, sparse_labels: bool) -> type[Metric]:
    """The accuracy Keras would pick for this loss, or else for these shapes."""
    for cls in type(loss).__mro__:
        if cls.__name__ in _ACCURACY_BY_LOSS:
            return _ACCURACY_BY_LOSS[cls.__name__]
    if output_units == 1:
        return accuracy.BinaryAccuracy
    return accuracy.SparseCategoricalAccuracy if sparse_labels else accuracy.CategoricalAccuracy


def _instantiate(cls) -> Metric:
    # A class given to compile() gets its default name, not a numbered one (Keras numbers the second
    # instance of a class, "precision_1"; resolving the identifiers again must not).
    return cls() if cls.default_name else cls(name=to_snake_case(cls.__name__))


def deserialize(config: dict) -> Metric:
    """A metric from ``{"class_name": ..., "config": {...}}`` (as ``serialize`` writes it)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"metrics: expected a dict with 'class_name' and 'config', got {config!r}")
    cls = BY_CLASS_NAME.get(config["class_name"]) or lookup("metrics", config["class_name"], BY_NAME)
    kwargs = dict(config.get("config", {}))
    if kwargs.get("name") is None and not cls.default_name:
        kwargs["name"] = to_snake_case(cls.__name__)  # as for a class: resolving it again names it the same
    return cls(**kwargs)


def serialize(metric: Metric) -> dict:
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def get(identifier, loss=None, output_units: int = 0, sparse_labels: bool = False) -> Metric:
    """A Metric from a name, class, instance, config dict or loss function; a name is kept as the metric's name
    (the key in the logs), as in Keras. 'accuracy'/'acc' resolve from the loss, else the label layout."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return _instantiate(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.strip().lower() in ("accuracy", "acc"):
        return accuracy_for(loss, output_units, sparse_labels)(name=identifier)
    if callable(identifier) and not isinstance(identifier, str):
        name = getattr(identifier, "__name__", None)
        if isinstance(name, str) and name.lower() in BY_NAME:
            return BY_NAME[name.lower()](name=name)
        raise ValueError(f"metrics: unsupported callable {name or identifier!r}; gpunn runs its own metrics on the "
                         f"device: use a gpunn.metrics class or one of {sorted(set(BY_NAME))}")
    cls = lookup("metrics", identifier, {**BY_NAME, "accuracy": None, "acc": None})
    return cls(name=identifier)
