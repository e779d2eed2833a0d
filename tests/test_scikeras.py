"""SciKeras's ``KerasClassifier`` / ``KerasRegressor`` over gpunn's models: the tutorials that grid-search a Keras
model with scikit-learn build it with a function (``KerasClassifier(model=create_model, epochs=..., batch_size=...)``
and ``model__``-routed arguments), which may return it compiled or leave compiling to the wrapper's ``loss=``,
``optimizer=`` and ``optimizer__...`` arguments, given as names, Keras classes or Keras objects. SciKeras imports
Keras, so the script runs in a child process with Keras on jax."""
from __future__ import annotations

import importlib.util
import json

import pytest
from helpers import keras_unavailable_reason, run_keras_script

SCRIPT = r'''
import json
import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from scikeras.wrappers import KerasClassifier, KerasRegressor
import keras
import gpunn
from gpunn.layers import Dense
from gpunn.models import Sequential

rng = np.random.default_rng(7)
X = rng.random((120, 8))
Y = (X.sum(1) > 4).astype(int)
out = {}


def create_model(optimizer="adam"):  # compiled by the function, its optimizer tuned through model__optimizer
    model = Sequential()
    model.add(Dense(12, input_shape=(8,), activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


model = KerasClassifier(model=create_model, epochs=3, batch_size=10, verbose=0, random_state=1)
out["cross_val"] = cross_val_score(model, X, Y, cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=0)).tolist()
grid = GridSearchCV(estimator=model, param_grid={"batch_size": [10, 20], "model__optimizer": ["SGD", "Adam"]}, cv=2)
result = grid.fit(X, Y)
out["best_params"] = result.best_params_
out["grid_model"] = type(result.best_estimator_.model_).__module__.split(".")[0]


def get_model(hidden_layer_dim, meta):  # compiled by the wrapper
    return Sequential([Dense(hidden_layer_dim, input_shape=(meta["n_features_in_"],), activation="relu"),
                       Dense(1, activation="sigmoid")])


clf = KerasClassifier(get_model, loss=keras.losses.BinaryCrossentropy(label_smoothing=0.1),
                      optimizer=keras.optimizers.SGD, optimizer__learning_rate=0.05, optimizer__momentum=0.9,
                      hidden_layer_dim=10, epochs=3, verbose=0, metrics=["accuracy"])
clf.fit(X, Y)
optimizer = clf.model_.optimizer
out["compiled"] = [type(optimizer).__module__.split(".")[0], type(optimizer).__name__,
                   float(optimizer.learning_rate), float(optimizer.momentum),
                   type(clf.model_.loss).__name__, float(clf.model_.loss.label_smoothing)]
proba = clf.predict_proba(X[:5])
out["proba"] = [list(proba.shape), np.allclose(proba.sum(1), 1), clf.classes_.tolist()]
out["score"] = float(clf.score(X, Y))

reg = KerasRegressor(get_model, loss="mse", optimizer="adam", optimizer__learning_rate=0.01, hidden_layer_dim=4,
                     epochs=2, verbose=0)
reg.fit(X, X.sum(1))
out["regressor"] = list(reg.predict(X[:3]).shape)
print(json.dumps(out))
'''


def test_scikeras_wraps_gpunn_models_built_by_a_function():
    if importlib.util.find_spec("scikeras") is None:
        pytest.skip("scikeras is not installed (pip install scikeras)")
    if keras_unavailable_reason():
        pytest.skip(keras_unavailable_reason())
    run = run_keras_script(SCRIPT)
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(out["cross_val"]) == 3 and all(0 <= score <= 1 for score in out["cross_val"])
    assert out["best_params"]["batch_size"] in (10, 20) and out["best_params"]["model__optimizer"] in ("SGD", "Adam")
    assert out["grid_model"] == "gpunn"
    # the wrapper's Keras loss object and optimizer class, with their routed arguments, became gpunn's
    assert out["compiled"] == ["gpunn", "SGD", pytest.approx(0.05), pytest.approx(0.9), "BinaryCrossentropy",
                               pytest.approx(0.1)]
    assert out["proba"] == [[5, 2], True, [0, 1]]
    assert 0 <= out["score"] <= 1
    assert out["regressor"] == [3]
