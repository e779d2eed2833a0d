"""``SKLearnClassifier``, ``SKLearnRegressor`` and ``SKLearnTransformer``: Keras 3's ``keras.wrappers``, names,
arguments and behaviour, on gpunn models.

Three things Keras 3.15 documents but does not do are done here as documented: ``warm_start=True`` goes on
training the model of the previous fit (Keras clones a new one each time), ``epoch_`` counts the epochs trained
(Keras's raises), and ``sklearn.clone`` keeps ``fit_kwargs`` (Keras's clones drop them, so a grid search trained
its candidates for one epoch). ``set_fit_request`` asks for metadata at fit (Keras's asked for it at score).
Regressors and transformers also take a 2-D target (several outputs), as the docstrings say.
"""
from __future__ import annotations

import copy

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..models import Model, clone_model
from .targets import TargetReshaper, checked_target_type, class_encoder


class SKLBase(BaseEstimator):
    """What the three estimators share. Arguments (Keras's):

    - ``model``: a compiled gpunn model (cloned, new weights, at each fit unless ``warm_start``), or a callable
      returning one, called as ``model(X=X, y=y, **model_kwargs)`` with the validated data (classes one-hot
      encoded), so it can size the input and output layers from them.
    - ``warm_start``: reuse the model and weights of the previous fit (the given model itself at the first).
    - ``model_kwargs``: keyword arguments for a callable ``model``.
    - ``fit_kwargs``: keyword arguments for ``model.fit`` (epochs, batch_size, callbacks, ...); those given to this
      estimator's ``fit`` take precedence.

    Fitted attributes: ``model_`` (the trained model), ``history_`` (``model.fit``'s History), ``epoch_``,
    ``n_features_in_``.
    """

    _multi_output = False  # whether y may be 2-D (several outputs)

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # initial weights and shuffling are random unless seeded
        tags.target_tags.multi_output = self._multi_output
        return tags

    def __sklearn_clone__(self):
        """An unfitted estimator with the same arguments. A model given as an object is copied (architecture,
        compile settings, weights and optimizer state), so clones trained in a search never share one; the
        dictionaries are new dictionaries with the same values (callbacks in ``fit_kwargs`` are the objects given).
        """
        model = self.model
        if isinstance(model, Model):
            model = _copy_of_model(model)
        return type(self)(model=model, warm_start=self.warm_start,
                          model_kwargs=None if self.model_kwargs is None else dict(self.model_kwargs),
                          fit_kwargs=None if self.fit_kwargs is None else dict(self.fit_kwargs))

    @property
    def epoch_(self) -> int:
        """Epochs the model has trained under this estimator (adding up across warm-started fits)."""
        return getattr(self, "_epochs_trained", 0)

    def set_fit_request(self, **requests):
        """With sklearn's metadata routing on (``sklearn.set_config(enable_metadata_routing=True)``): which
        arguments of ``fit`` (``sample_weight=True``, say) a pipeline or search passes on to this estimator, as
        sklearn's ``set_{method}_request`` does; each then reaches ``model.fit``."""
        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError("set_fit_request: is only available when metadata routing is enabled; enable it "
                               "with sklearn.set_config(enable_metadata_routing=True)")
        metadata = self._get_metadata_request()
        for param, alias in requests.items():
            metadata.fit.add_request(param=param, alias=alias)
        self._metadata_request = metadata
        return self

    def fit(self, X, y, **kwargs):
        """Train on ``X`` (n_samples, n_features) and ``y`` (n_samples,) or (n_samples, n_outputs); ``kwargs``
        go to ``model.fit`` over ``fit_kwargs``. Returns the estimator."""
        X, y = validate_data(self, X, y, multi_output=self._multi_output)
        continuing = self.warm_start and hasattr(self, "model_")
        y = self._process_target(y, reset=not continuing)
        model = self._model_for(X, y, continuing)
        _check_compiled(model)
        history = model.fit(X, y, **{**(self.fit_kwargs or {}), **kwargs})
        self._epochs_trained = (self.epoch_ if continuing else 0) + len(history.epoch)
        self.history_ = history
        self.model_ = model
        return self

    def predict(self, X):
        """The model's predictions for ``X``, as targets (class labels for a classifier)."""
        return self._reverse_process_target(self._raw_outputs(X))

    def _raw_outputs(self, X):
        check_is_fitted(self)
        return self.model_.predict(validate_data(self, X, reset=False))

    def _model_for(self, X, y, continuing):
        if continuing:
            return self.model_
        if isinstance(self.model, Model):
            return self.model if self.warm_start else clone_model(self.model)
        if not callable(self.model):
            raise TypeError(f"model: expected a compiled gpunn Model or a callable returning one; got "
                            f"{type(self.model).__name__} {self.model!r}")
        model = self.model(X=X, y=y, **(self.model_kwargs or {}))
        if not isinstance(model, Model):
            raise TypeError(f"model: the callable {self.model!r} returned {type(model).__name__}, expected a compiled "
                            "gpunn Model")
        return model

    def _process_target(self, y, reset):
        """The target as the model trains on it (a column for a 1-D target)."""
        checked_target_type(y)
        if reset:
            self._target_encoder = TargetReshaper().fit(y)
        return self._target_encoder.transform(y)

    def _reverse_process_target(self, outputs):
        return self._target_encoder.inverse_transform(outputs)


def _check_compiled(model) -> None:
    if not model.compiled or not model.loss or not model.optimizer:
        raise RuntimeError(f"model: needs to be compiled, with a loss and an optimizer (Keras: 'Given model needs to "
                           f"be compiled, and have a loss and an optimizer.'); got {model!r}")


def _copy_of_model(model):
    # a built model as pickle carries it (weights and optimizer state); an unbuilt one has only its configuration
    return copy.deepcopy(model) if model.built else clone_model(model)


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A classifier: the classes are one-hot encoded for training (so the model has one output per class,
    softmax or logits, under a categorical loss); ``predict`` gives each row's class of the largest output,
    ``decision_function`` the outputs themselves. ``classes_``: the class labels, sorted."""

    def _process_target(self, y, reset):
        # y is 1-D here (validate_data refuses a multilabel one): binary or multiclass, or an error for labels of
        # mixed kinds or a regression target ("Unknown label type: continuous ...")
        checked_target_type(y)
        check_classification_targets(y)
        if not reset:  # a warm start: the model's outputs are the classes of its first fit
            new = np.setdiff1d(y, self.classes_)
            if new.size:
                raise ValueError(f"y: warm_start=True goes on training the model of the first fit, whose outputs are "
                                 f"its classes {self.classes_.tolist()}; got new class(es) {new.tolist()} (set "
                                 "warm_start=False to train a new model on them)")
        else:
            classes = np.unique(y)
            if len(classes) == 1:
                raise ValueError("Classifier can't train when only one class is present.")
            self._target_encoder = class_encoder(y)
            self.classes_ = classes
        return self._target_encoder.transform(y)

    def decision_function(self, X):
        """The model's outputs for ``X``, one column per class."""
        return self._raw_outputs(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a few epochs on sklearn's check data sets
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A regressor: the model trains on ``y`` as given (a column for a 1-D target); ``predict`` returns the shape
    of target it was fitted on."""

    _multi_output = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A transformer in sklearn's sense (a step of a pipeline): fitted like the regressor, ``transform(X)``
    gives the model's outputs (an embedding, say) for the next step."""

    _multi_output = True

    def transform(self, X):
        """The model's outputs for ``X``."""
        return self._raw_outputs(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True  # fit needs y: the model trains on it
        tags.transformer_tags.preserves_dtype = []  # outputs come in the model's dtype
        return tags
