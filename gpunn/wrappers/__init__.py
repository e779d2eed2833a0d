"""scikit-learn estimators around gpunn models (``keras.wrappers``'s counterpart): a compiled model, or a function
building one from the data, becomes a classifier, regressor or transformer that sklearn's pipelines, grid searches
and cross-validation take like any other estimator. ``scikit_learn`` holds tf.keras 2's older wrappers
(``KerasClassifier(build_fn=...)``)."""
from . import scikit_learn
from .sklearn_wrapper import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer", "scikit_learn"]
