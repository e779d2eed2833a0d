"""The targets as a model sees them: classes one-hot encoded, a 1-D target as one column, and back."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted


class TargetReshaper(TransformerMixin, BaseEstimator):
    """A 1-D target as a column (the model's outputs are 2-D), and a one-column prediction back to 1-D."""

    def fit(self, y):
        self.ndim_ = y.ndim
        return self

    def transform(self, y):
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def inverse_transform(self, y):
        check_is_fitted(self)
        if self.ndim_ == 1 and y.ndim == 2:
            return np.squeeze(y, axis=1)
        return y


def checked_target_type(y) -> str:
    """sklearn's name for the kind of target ``y`` is ("binary", "continuous", ...); an error for one it cannot
    name (objects of mixed kinds, say)."""
    kind = type_of_target(y, input_name="y")
    if kind == "unknown":
        raise ValueError(f"y: Unknown label type (expected a target sklearn can name: binary, multiclass, "
                         f"continuous, ...): {y!r}")
    return kind


def class_encoder(y):
    """Fitted on ``y``: one-hot columns in the order of ``np.unique(y)``; its ``inverse_transform`` takes each row's
    largest column (a probability or a logit) back to its class label."""
    return make_pipeline(TargetReshaper(), OneHotEncoder(sparse_output=False)).fit(y)
