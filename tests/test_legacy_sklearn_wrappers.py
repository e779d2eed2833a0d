"""tf.keras 2's ``keras.wrappers.scikit_learn`` (``KerasClassifier(build_fn=..., **sk_params)``), as the
grid-search and cross-validation tutorials of TensorFlow 2.0-2.11 use it, on gpunn models: the arguments routed
to build_fn and to the model's fit / predict / evaluate, a new model per fit, integer labels one-hot encoded for a
categorical cross-entropy, scores (the accuracy metric, the negated loss), and sklearn's cross_val_score,
GridSearchCV, Pipeline and clone over them."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import gpunn
from gpunn.layers import Dense
from gpunn.models import Sequential
from gpunn.wrappers.scikit_learn import KerasClassifier, KerasRegressor

pytestmark = pytest.mark.usefixtures("numpy_backend")

rng = np.random.default_rng(7)
X = rng.random((60, 8)).astype("float32")
Y = (X.sum(1) > 4).astype(int)


def create_model(optimizer="adam", init="glorot_uniform"):  # the grid-search tutorials' pima model
    model = Sequential()
    model.add(Dense(12, input_dim=8, kernel_initializer=init, activation="relu"))
    model.add(Dense(1, kernel_initializer=init, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def test_the_names_a_tf_keras_script_imports():
    assert gpunn.wrappers.scikit_learn.KerasClassifier is KerasClassifier
    assert is_classifier(KerasClassifier(build_fn=create_model))
    assert is_regressor(KerasRegressor(build_fn=create_model))


def test_cross_val_score_fits_a_new_model_per_fold_and_scores_its_accuracy():
    model = KerasClassifier(build_fn=create_model, epochs=3, batch_size=10, verbose=0)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=7)
    gpunn.utils.set_random_seed(1)
    scores = cross_val_score(model, X, Y, cv=folds)
    gpunn.utils.set_random_seed(1)
    by_hand = []
    for train, test in folds.split(X, Y):
        fold = clone(model)
        history = fold.fit(X[train], Y[train])
        assert len(history.history["loss"]) == 3  # epochs went to fit, verbose to fit and evaluate
        by_hand.append(fold.model.evaluate(X[test], Y[test], verbose=0)[1])
        assert fold.score(X[test], Y[test]) == by_hand[-1]
    np.testing.assert_array_equal(scores, by_hand)


def test_grid_search_routes_build_fn_and_fit_arguments():
    built = []

    def recorded(optimizer="adam", init="glorot_uniform"):
        built.append((optimizer, init))
        return create_model(optimizer, init)

    model = KerasClassifier(build_fn=recorded, epochs=2, batch_size=10, verbose=0)
    grid = GridSearchCV(model, {"optimizer": ["SGD", "Adam"], "init": ["uniform", "normal"], "batch_size": [10, 20]},
                        cv=2).fit(X, Y)
    assert set(built) == {(o, i) for o in ("SGD", "Adam") for i in ("uniform", "normal")}
    assert len(built) == 8 * 2 + 1  # every candidate on every fold, then the refit
    assert set(grid.best_params_) == {"optimizer", "init", "batch_size"}
    assert grid.best_estimator_.model.optimizer.name.lower().startswith(grid.best_params_["optimizer"].lower())


def test_binary_predictions_are_a_vector_of_the_labels_seen():
    labels = np.where(Y == 1, "M", "R")  # the sonar tutorial's, before its LabelEncoder
    model = KerasClassifier(build_fn=create_model, epochs=2, batch_size=10, verbose=0)
    model.fit(X, labels)
    outputs = model.model.predict(X, verbose=0)[:, 0]
    assert list(model.classes_) == ["M", "R"] and model.n_classes_ == 2
    predicted = model.predict(X)
    assert predicted.shape == (60,)  # (tf.keras's was a column, which compares with labels as a square matrix)
    np.testing.assert_array_equal(predicted, np.where(outputs > 0.5, "R", "M"))
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, np.stack([1 - outputs, outputs], axis=1), rtol=1e-6)
    assert model.score(X, labels) == model.model.evaluate(X, (labels == "R").astype(int), verbose=0)[1]


def test_a_categorical_loss_gets_one_hot_labels_and_one_hot_labels_stay():
    x = rng.random((45, 4)).astype("float32")
    names = np.array(["setosa", "versicolor", "virginica"])[rng.integers(0, 3, 45)]

    def baseline_model():  # the iris tutorial's
        model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        return model

    estimator = KerasClassifier(build_fn=baseline_model, epochs=2, batch_size=5, verbose=0)
    estimator.fit(x, names)
    assert list(estimator.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(estimator.predict(x)) <= set(names)
    index = np.searchsorted(estimator.classes_, names)
    expected = estimator.model.evaluate(x, gpunn.utils.to_categorical(index, 3), verbose=0)[1]
    assert estimator.score(x, names) == expected
    dummy_y = gpunn.utils.to_categorical(index)  # the tutorial one-hot encodes them itself
    scores = cross_val_score(estimator, x, dummy_y, cv=KFold(n_splits=3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    one_hot = clone(estimator)
    one_hot.fit(x, dummy_y)
    assert list(one_hot.classes_) == [0, 1, 2]  # (the columns of one-hot labels)


def test_a_regressor_in_a_pipeline_scores_the_negated_loss():
    x = rng.random((40, 13)).astype("float32")
    y = x.sum(1)

    def larger_model():  # the Boston housing tutorial's
        model = Sequential([Dense(13, input_shape=(13,), kernel_initializer="normal", activation="relu"),
                            Dense(1, kernel_initializer="normal")])
        model.compile(loss="mean_squared_error", optimizer="adam")
        return model

    pipeline = Pipeline([("standardize", StandardScaler()),
                         ("mlp", KerasRegressor(build_fn=larger_model, epochs=3, batch_size=5, verbose=0))])
    scores = cross_val_score(pipeline, x, y, cv=KFold(n_splits=2))
    assert scores.shape == (2,) and np.all(scores < 0)
    pipeline.fit(x, y)
    regressor = pipeline.named_steps["mlp"]
    scaled = pipeline.named_steps["standardize"].transform(x)
    assert pipeline.predict(x).shape == (40,)
    assert regressor.score(scaled, y) == -regressor.model.evaluate(scaled, y, verbose=0)


def test_build_fn_may_be_an_object_or_the_subclass_s_own_call():
    class Builder:
        def __call__(self, units=4):
            model = Sequential([Dense(units, input_dim=8, activation="relu"), Dense(1, activation="sigmoid")])
            model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
            return model

    class Own(KerasClassifier):
        def __call__(self, units=4):
            return Builder()(units)

    for estimator in (KerasClassifier(build_fn=Builder(), units=6, epochs=1, verbose=0),
                      Own(units=6, epochs=1, verbose=0)):
        estimator.fit(X, Y)
        assert estimator.model.layers[0].units == 6
        assert estimator.get_params()["units"] == 6


def test_unknown_arguments_are_refused_and_keras_1_s_nb_epoch_counts_epochs():
    with pytest.raises(ValueError, match=r"epoch is not a legal parameter"):
        KerasClassifier(build_fn=create_model, epoch=3)
    model = KerasClassifier(build_fn=create_model, verbose=0)
    with pytest.raises(ValueError, match=r"units is not a legal parameter"):
        model.set_params(units=3)
    with pytest.warns(UserWarning, match=r"nb_epoch: Keras 1's name for epochs"):
        history = KerasClassifier(build_fn=create_model, nb_epoch=4, verbose=0).fit(X, Y)
    assert len(history.history["loss"]) == 4


def test_score_needs_the_accuracy_metric():
    def without_accuracy():
        model = Sequential([Dense(4, input_dim=8, activation="relu"), Dense(1, activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer="adam")
        return model

    estimator = KerasClassifier(build_fn=without_accuracy, epochs=1, verbose=0)
    estimator.fit(X, Y)
    with pytest.raises(ValueError, match=r'pass `metrics=\["accuracy"\]`'):
        estimator.score(X, Y)


def test_a_sparse_categorical_loss_takes_the_integer_labels_as_they_are():
    x = rng.random((30, 4)).astype("float32")
    labels = rng.integers(0, 3, 30) * 10  # (classes 0, 10, 20: the wrapper maps them to 0, 1, 2)

    def sparse_model():
        model = Sequential([Dense(5, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        return model

    estimator = KerasClassifier(build_fn=sparse_model, epochs=2, batch_size=10, verbose=0)
    estimator.fit(x, labels)
    assert list(estimator.classes_) == [0, 10, 20]
    ids = np.searchsorted(estimator.classes_, labels)
    assert estimator.score(x, labels) == estimator.model.evaluate(x, ids, verbose=0)[1]
