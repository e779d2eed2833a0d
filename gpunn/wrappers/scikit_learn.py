"""``KerasClassifier`` and ``KerasRegressor``: tf.keras 2's ``keras.wrappers.scikit_learn`` (TensorFlow 2.0-2.11;
removed in 2.12, succeeded by SciKeras and Keras 3's ``keras.wrappers.SKLearn*``), which the grid-search and
cross-validation tutorials of those years use: ``KerasClassifier(build_fn=create_model, epochs=150,
batch_size=10, verbose=0)``.

As tf.keras's: ``build_fn`` (a function, an object with a ``__call__``, or None for a subclass whose own
``__call__`` builds) returns a compiled model; the other arguments (``sk_params``) are its arguments and those of
the model's ``fit``, ``predict`` and ``evaluate``, each call taking those its signature names (arguments given to
the call itself come first), and a name none of them takes is refused. ``fit`` builds a new model each time; with
a categorical cross-entropy loss, integer labels are one-hot encoded for it. The classifier's ``score`` is the
model's accuracy metric, the regressor's the negated loss.

Two points follow the wrapper's documentation rather than its code: a binary classifier's ``predict`` returns
shape ``(n_samples,)`` as documented (tf.keras returned a column, which compared with a label vector broadcasts to
a square matrix), and Keras 1's ``nb_epoch`` counts epochs, with a warning (tf.keras accepted it and trained one
epoch). For scikit-learn's tools of today, the estimators are sklearn ``BaseEstimator``s with a classifier's or
regressor's tags.
"""
from __future__ import annotations

import inspect
import types
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ..losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from ..models import Sequential
from ..utils import to_categorical

_KERAS_1_EPOCHS = "nb_epoch"


def _takes(fn, name: str) -> bool:
    """Whether ``fn`` names the argument ``name`` (tf.keras's ``has_arg``: a ``**kwargs`` does not count)."""
    parameter = inspect.signature(fn).parameters.get(name)
    return parameter is not None and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)


class BaseWrapper(BaseEstimator):
    """What the classifier and the regressor share (tf.keras's ``BaseWrapper``)."""

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _build_function(self):
        """What builds the model, and the signature its arguments are taken by."""
        if self.build_fn is None:
            return self.__call__, self.__call__
        if not isinstance(self.build_fn, (types.FunctionType, types.MethodType)):
            return self.build_fn, self.build_fn.__call__
        return self.build_fn, self.build_fn

    def check_params(self, params) -> None:
        """A ``ValueError`` for a name neither ``build_fn`` nor the model's ``fit``, ``predict`` or ``evaluate``
        takes (a typo would otherwise be dropped)."""
        takers = [Sequential.fit, Sequential.predict, Sequential.evaluate, self._build_function()[1]]
        for name in params:
            if name != _KERAS_1_EPOCHS and not any(_takes(fn, name) for fn in takers):
                raise ValueError(f"{name} is not a legal parameter: build_fn and the model's fit, predict and "
                                 "evaluate take no such argument")

    def get_params(self, deep=True):
        """The ``sk_params`` and ``build_fn`` (the values themselves, as sklearn's ``clone`` checks)."""
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params):
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return "model" in vars(self)  # (fit's model; sklearn looks for names ending in "_" otherwise)

    def filter_sk_params(self, fn, override=None) -> dict:
        """The ``sk_params`` ``fn`` takes, updated with ``override``."""
        taken = {name: value for name, value in self.sk_params.items() if _takes(fn, name)}
        return {**taken, **(override or {})}

    def fit(self, x, y, **kwargs):
        """Build a new model with ``build_fn`` and train it on ``(x, y)``; ``kwargs`` go to its ``fit``. Returns
        the History."""
        build, signature = self._build_function()
        self.model = build(**self.filter_sk_params(signature))
        y = np.asarray(y)
        if _categorical_loss(self.model) and y.ndim != 2:
            y = to_categorical(y)
        fit_args = self.filter_sk_params(Sequential.fit)
        if _KERAS_1_EPOCHS in self.sk_params and "epochs" not in self.sk_params:
            warnings.warn("nb_epoch: Keras 1's name for epochs; training for that many epochs", stacklevel=2)
            fit_args["epochs"] = self.sk_params[_KERAS_1_EPOCHS]
        fit_args.update(kwargs)
        return self.model.fit(x, y, **fit_args)


def _categorical_loss(model) -> bool:
    """tf.keras's ``is_categorical_crossentropy``: the one-hot cross-entropy (not the sparse one, which takes the
    integer labels as they are)."""
    return isinstance(model._resolved_loss, CategoricalCrossentropy) and not isinstance(model._resolved_loss,
                                                                             SparseCategoricalCrossentropy)


class KerasClassifier(ClassifierMixin, BaseWrapper):
    """tf.keras's scikit-learn classifier: ``classes_`` are the labels seen by ``fit`` (or the columns of one-hot
    labels), ``predict`` gives the class of the largest output (of a single sigmoid output, above 0.5),
    ``predict_proba`` the outputs (two columns for a single sigmoid), ``score`` the model's accuracy."""

    def fit(self, x, y, **kwargs):
        y = np.array(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif (y.ndim == 2 and y.shape[1] == 1) or y.ndim == 1:
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError(f"y: expected labels of shape (samples,) or (samples, classes), got shape {y.shape}")
        self.n_classes_ = len(self.classes_)
        return super().fit(x, y, **kwargs)

    def predict(self, x, **kwargs):
        proba = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        if proba.shape[-1] > 1:
            classes = proba.argmax(axis=-1)
        else:
            classes = (proba[..., 0] > 0.5).astype("int32")
        return self.classes_[classes]

    def predict_proba(self, x, **kwargs):
        probs = np.asarray(self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs)))
        if probs.shape[1] == 1:  # a single sigmoid: the probabilities of class 0 and class 1, as sklearn's
            probs = np.hstack([1 - probs, probs])
        return probs

    def score(self, x, y, **kwargs):
        y = np.searchsorted(self.classes_, y)
        if _categorical_loss(self.model) and y.ndim != 2:
            y = to_categorical(y, len(self.classes_))
        outputs = self.model.evaluate(x, y, **self.filter_sk_params(Sequential.evaluate, kwargs))
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for name, output in zip(self.model.metrics_names, outputs):
            if name in ("accuracy", "acc"):
                return output
        raise ValueError('The model is not configured to compute accuracy. You should pass `metrics=["accuracy"]` '
                         "to the `model.compile()` method.")


class KerasRegressor(RegressorMixin, BaseWrapper):
    """tf.keras's scikit-learn regressor: ``predict`` gives the outputs (a vector for a single one), ``score`` the
    negated loss (larger is better, as sklearn's searches take it)."""

    def predict(self, x, **kwargs):
        preds = np.asarray(self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs)))
        return np.squeeze(preds, axis=-1) if preds.shape[-1] == 1 else preds

    def score(self, x, y, **kwargs):
        loss = self.model.evaluate(x, y, **self.filter_sk_params(Sequential.evaluate, kwargs))
        return -loss[0] if isinstance(loss, list) else -loss
