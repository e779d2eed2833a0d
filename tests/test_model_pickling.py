"""Models through pickle, ``copy.deepcopy`` and joblib (as Keras 3's, by way of their ``.keras`` bytes): the same
predictions, and training that goes on exactly where it stopped (weights, optimizer state, seeded Dropout)."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.models.sequential import NotBuiltError


def _data(rows=48):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 5)).astype("float32")
    return x, np.stack([x[:, 0] * x[:, 1], np.tanh(x[:, 2])], axis=1).astype("float32")


def _trained_model():
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3, seed=2),
                              layers.Dense(2)])
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model


def _assert_same_training(first, second):
    x, y = _data()
    np.testing.assert_array_equal(first.predict(x, verbose=0), second.predict(x, verbose=0))
    ran = [model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history for model in (first, second)]
    assert ran[0] == ran[1]
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_trained_model_comes_back_and_trains_on_exactly(how):
    model = _trained_model()
    again = pickle.loads(pickle.dumps(model)) if how == "pickle" else copy.deepcopy(model)
    assert type(again) is type(model) and again is not model and again.name == model.name
    assert again.optimizer.iterations == model.optimizer.iterations == 6
    _assert_same_training(model, again)


def test_a_copy_is_independent_of_its_original():
    model = _trained_model()
    before = [w.copy() for w in model.get_weights()]
    again = copy.deepcopy(model)
    x, y = _data()
    again.fit(x, y, epochs=1, verbose=0)
    for weight, kept in zip(model.get_weights(), before):
        np.testing.assert_array_equal(weight, kept)


def test_a_functional_model_and_a_model_referred_to_twice():
    inputs = gpunn.Input(shape=(5,))
    model = gpunn.Model(inputs, layers.Dense(2)(layers.Dense(4, activation="tanh")(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    history = gpunn.callbacks.History()
    history.set_model(model)
    restored_model, restored_history = pickle.loads(pickle.dumps((model, history)))
    assert isinstance(restored_model, gpunn.Model) and restored_history.model is restored_model  # one copy, shared
    x, _ = _data()
    np.testing.assert_array_equal(restored_model.predict(x, verbose=0), model.predict(x, verbose=0))


@gpunn.saving.register_keras_serializable(package="pickling_test")
class Doubling(layers.Layer):
    def call(self, inputs):
        return inputs * 2.0


class Unregistered(layers.Layer):
    def call(self, inputs):
        return inputs + 1.0


def test_layers_of_the_users_come_back_when_registered_and_are_named_when_not():
    x, _ = _data()
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(3), Doubling()])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(x, verbose=0), model.predict(x, verbose=0))
    data = pickle.dumps(gpunn.Sequential([gpunn.Input(shape=(5,)), Unregistered()]))
    with pytest.raises(ValueError, match=r"Unregistered.*custom_objects.*custom_object_scope around pickle.loads"):
        pickle.loads(data)
    with gpunn.saving.custom_object_scope({"Unregistered": Unregistered}):
        assert isinstance(pickle.loads(data).layers[0], Unregistered)


def test_an_unbuilt_model_cannot_be_pickled_and_says_why():
    with pytest.raises(NotBuiltError, match="pickle: this model has not been built yet"):
        pickle.dumps(gpunn.Sequential([layers.Dense(2)]))


class Subclassed(gpunn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_subclassed_model_comes_back_as_its_class_and_trains_on_exactly(how):
    """The class travels by reference beside the file, which names it: the model comes back an instance of it."""
    gpunn.utils.set_random_seed(1)
    model = Subclassed(name="net")
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    again = pickle.loads(pickle.dumps(model)) if how == "pickle" else copy.deepcopy(model)
    assert type(again) is Subclassed and again.name == "net" and again.optimizer.iterations == 6
    _assert_same_training(model, again)
