"""Metric identifiers as Keras resolves them (keras/src/metrics/__init__.py ``get``, and
keras/src/trainers/compile_utils.py ``get_metric``): names, classes, instances, config dicts, loss functions.

A name keeps itself as the metric's name (the key in the History: ``metrics=["mse"]`` logs "mse"); a class
is instantiated with its default name; ``'accuracy'`` / ``'acc'`` resolve to the accuracy the loss implies,
failing that to the one the labels and output imply.
"""
from __future__ import annotations

from .._registry import lookup
from . import (accuracy, confusion, confusion_at, correlation, f_score, iou, loss_backed, probabilistic, reduction,
               regression)
from .. import custom_objects, keras_objects
from ..custom_objects import custom_object_scope
from ..naming import snake_case
from .base import Metric
from .function_metric import MeanMetricWrapper

CLASSES = [
    reduction.Mean, reduction.Sum,
    accuracy.Accuracy, accuracy.BinaryAccuracy, accuracy.CategoricalAccuracy, accuracy.SparseCategoricalAccuracy,
    accuracy.TopKCategoricalAccuracy, accuracy.SparseTopKCategoricalAccuracy,
    regression.MeanSquaredError, regression.RootMeanSquaredError, regression.MeanAbsoluteError,
    regression.MeanAbsolutePercentageError, regression.R2Score,
    probabilistic.BinaryCrossentropy, probabilistic.CategoricalCrossentropy,
    probabilistic.SparseCategoricalCrossentropy,
    confusion.TruePositives, confusion.FalsePositives, confusion.TrueNegatives, confusion.FalseNegatives,
    confusion.Precision, confusion.Recall, confusion.AUC,
    f_score.FBetaScore, f_score.F1Score,
    iou.IoU, iou.BinaryIoU, iou.MeanIoU, iou.OneHotIoU, iou.OneHotMeanIoU,
    loss_backed.Hinge, loss_backed.SquaredHinge, loss_backed.CategoricalHinge, loss_backed.KLDivergence,
    loss_backed.Poisson, loss_backed.LogCoshError, loss_backed.MeanSquaredLogarithmicError,
    loss_backed.CosineSimilarity,
    confusion_at.SensitivityAtSpecificity, confusion_at.SpecificityAtSensitivity, confusion_at.PrecisionAtRecall,
    confusion_at.RecallAtPrecision,
    correlation.PearsonCorrelation, correlation.ConcordanceCorrelation,
]

# Keras's ALL_OBJECTS_DICT: class names and their snake-case forms, plus the short aliases. Lookups ignore case.
BY_NAME = {}
for _cls in CLASSES:
    BY_NAME[_cls.__name__.lower()] = _cls
    BY_NAME[snake_case(_cls.__name__)] = _cls
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
    """The accuracy for 'accuracy': binary for a one-unit output (as Keras 3 and tf.keras 2 pick it, whatever the
    loss: a categorical accuracy there is 1.0 whatever the model does), else the loss's (tf.keras 2's rule; Keras 3
    looks at the shapes alone: README, Differences), else the shapes'."""
    if output_units == 1:
        return accuracy.BinaryAccuracy
    for cls in type(loss).__mro__:
        if cls.__name__ in _ACCURACY_BY_LOSS:
            return _ACCURACY_BY_LOSS[cls.__name__]
    return accuracy.SparseCategoricalAccuracy if sparse_labels else accuracy.CategoricalAccuracy


def _function_table() -> dict:
    """Keras's functions (``keras.metrics``'s, and the losses') -> how to make the metric Keras makes of each: the
    class computing the same mean, or a loss to average (functions without a metric class)."""
    from .. import losses
    from . import functions

    classes = {
        functions.binary_accuracy: accuracy.BinaryAccuracy,
        functions.categorical_accuracy: accuracy.CategoricalAccuracy,
        functions.sparse_categorical_accuracy: accuracy.SparseCategoricalAccuracy,
        functions.top_k_categorical_accuracy: accuracy.TopKCategoricalAccuracy,
        functions.sparse_top_k_categorical_accuracy: accuracy.SparseTopKCategoricalAccuracy,
        losses.mean_squared_error: regression.MeanSquaredError,
        losses.mean_absolute_error: regression.MeanAbsoluteError,
        losses.mean_absolute_percentage_error: regression.MeanAbsolutePercentageError,
        losses.mean_squared_logarithmic_error: loss_backed.MeanSquaredLogarithmicError,
        losses.binary_crossentropy: probabilistic.BinaryCrossentropy,
        losses.categorical_crossentropy: probabilistic.CategoricalCrossentropy,
        losses.sparse_categorical_crossentropy: probabilistic.SparseCategoricalCrossentropy,
        losses.hinge: loss_backed.Hinge, losses.squared_hinge: loss_backed.SquaredHinge,
        losses.categorical_hinge: loss_backed.CategoricalHinge, losses.kl_divergence: loss_backed.KLDivergence,
        losses.poisson: loss_backed.Poisson, losses.log_cosh: loss_backed.LogCoshError,
        correlation.pearson_correlation: correlation.PearsonCorrelation,
        correlation.concordance_correlation: correlation.ConcordanceCorrelation,
    }
    table = {fn: (lambda cls=cls, name=fn.__name__: cls(name=name)) for fn, cls in classes.items()}
    for fn, loss_class in ((losses.huber, losses.Huber), (losses.cosine_similarity, losses.CosineSimilarity),
                           (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy),
                           (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy)):
        table[fn] = lambda loss_class=loss_class, name=fn.__name__: loss_backed.LossFunctionMean(loss_class(), name)
    return table


_FUNCTIONS: dict = {}


def function_metric(fn) -> Metric | None:
    """The metric Keras makes of the function ``fn`` (``MeanMetricWrapper(fn)``, named after it), or None when
    ``fn`` is not one of Keras's functions as gpunn has them."""
    if not _FUNCTIONS:
        _FUNCTIONS.update(_function_table())
    try:
        make = _FUNCTIONS.get(fn)
    except TypeError:  # an unhashable callable
        return None
    return None if make is None else make()


def function_by_name(name: str):
    """The function Keras's deserialization finds for ``name``: the user's own (``custom_objects``) first, then
    ``keras.metrics``'s, then the losses'."""
    from .. import losses
    from . import functions

    custom = custom_objects.lookup(name)
    if callable(custom):
        return custom

    for module in (functions, losses, correlation):
        fn = getattr(module, name, None) if isinstance(name, str) and not name.startswith("_") else None
        if callable(fn) and not isinstance(fn, type) and fn in (_FUNCTIONS or _function_table()):
            return fn
    raise custom_objects.MissingCustomObjectError(
        f"metrics: no metric function named {name!r}. A function of the program that wrote the model goes in "
        f"load_model(..., custom_objects={{{name!r}: ...}}) (or custom_object_scope, register_keras_serializable); "
        f"load_model(..., compile=False) skips the compile config. gpunn's metric functions: "
        f"{sorted({f.__name__ for f in _function_table()})}")


def knows_name(name: str) -> bool:
    """Whether ``name`` is one of gpunn's metric names (else it may name a function or class of the user's)."""
    return name.strip().lower().replace("-", "_") in {**BY_NAME, "accuracy": None, "acc": None}


def name_means_function(name: str) -> bool:
    """Whether the metric name ``name`` gives what its function gives (``"mean_squared_error"`` does;
    ``"cosine_similarity"``, the metric, is the loss function's value negated; ``"huber"`` names no metric)."""
    try:
        by_name = get(name, None)
        function = function_by_name(name)
    except ValueError:  # (MissingCustomObjectError among them) a name of no function: the user's ``def precision``
        return False
    return type(by_name) is type(function_metric(function))


def _instantiate(cls) -> Metric:
    # A class given to compile() gets its default name, not a numbered one (Keras numbers the second
    # instance of a class, "precision_1"; resolving the identifiers again must not).
    return cls() if cls.default_name else cls(name=snake_case(cls.__name__))


def deserialize(config: dict, custom_objects=None) -> Metric:
    """A metric from ``{"class_name": ..., "config": {...}}`` (as ``serialize`` writes it); the user's classes and
    functions taken from ``custom_objects`` too, as in Keras."""
    with custom_object_scope(custom_objects):
        return _deserialize(config)


def _deserialize(config: dict) -> Metric:
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"metrics: expected a dict with 'class_name' and 'config', got {config!r}")
    if config["class_name"] == "MeanMetricWrapper":
        return MeanMetricWrapper.from_config(dict(config.get("config", {})))
    if config["class_name"] == "function":  # Keras's entry of a metric function (``serialize``'s)
        return get(function_by_name(config.get("config")), None)
    cls = custom_objects.resolve(config, "metrics", {**BY_NAME, **{k.lower(): v for k, v in BY_CLASS_NAME.items()}},
                                 Metric)
    if cls not in BY_CLASS_NAME.values() and cls not in BY_NAME.values():  # a Metric class of the user's
        return cls.from_config(dict(config.get("config", {})))
    kwargs = dict(config.get("config", {}))
    if kwargs.get("name") is None and not cls.default_name:
        kwargs["name"] = snake_case(cls.__name__)  # as for a class: resolving it again names it the same
    return cls(**kwargs)


def serialize(metric) -> dict:
    """A metric's entry; a metric function's is Keras's entry of a function (its registered name)."""
    if not isinstance(metric, Metric) and callable(metric) and not isinstance(metric, type):
        return {"module": "builtins", "class_name": "function", "config": custom_objects.get_registered_name(metric),
                "registered_name": "function"}
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


_STANDALONE = object()  # ``get(identifier)`` called by a user, not by compile for an output


def get(identifier, loss=_STANDALONE, output_units: int = 0, sparse_labels: bool = False) -> Metric | None:
    """A Metric from a name, class, instance, config dict or loss function; a name is kept as the metric's name
    (the key in the logs), as in Keras. For compile (``loss`` given: the output's, or None), 'accuracy'/'acc'
    resolve from the loss, else the label layout; ``keras.metrics.get("accuracy")`` called on its own is Keras's
    ``Accuracy`` (exact matches), as there (and so is "acc", which Keras's refuses)."""
    if loss is _STANDALONE:
        if identifier is None:  # (Keras's: None for None)
            return None
        if isinstance(identifier, str) and identifier.strip().lower() in ("accuracy", "acc"):
            return accuracy.Accuracy(name="accuracy")
        loss = None
    if isinstance(identifier, Metric):
        return identifier
    if keras_objects.is_keras_object(identifier):  # (Keras's own: tf.metrics.BinaryAccuracy(threshold=0.0))
        return keras_objects.as_gpunn(identifier, "metric")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return _instantiate(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.strip().lower() in ("accuracy", "acc"):
        return accuracy_for(loss, output_units, sparse_labels)(name=identifier)
    if callable(identifier) and not isinstance(identifier, str):
        made = function_metric(identifier)
        if made is not None:
            return made
        name = getattr(identifier, "__name__", None)
        module = (getattr(identifier, "__module__", None) or "").split(".")[0]
        if isinstance(name, str) and name.lower() in BY_NAME and module in ("gpunn", "keras", "tensorflow", "tf_keras"):
            return BY_NAME[name.lower()](name=name)
        # a function of the user's (even one named like a built-in metric): Keras's MeanMetricWrapper of it,
        # named as Keras's get_object_name names it (a Loss object by its name: 'huber_loss')
        if name is None:
            name = getattr(identifier, "name", None) or snake_case(type(identifier).__name__)
        return MeanMetricWrapper(identifier, name=name)
    if isinstance(identifier, str) and identifier.strip().lower().replace("-", "_") not in BY_NAME:
        custom = custom_objects.lookup(identifier)  # a function or class of the user's, saved by name
        if custom is not None:
            return get(custom, loss, output_units, sparse_labels)
        with custom_objects.hint_on_unknown():
            lookup("metrics", identifier, {**BY_NAME, "accuracy": None, "acc": None})
    cls = lookup("metrics", identifier, {**BY_NAME, "accuracy": None, "acc": None})
    return cls(name=identifier)
