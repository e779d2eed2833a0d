"""A subclass of a built-in layer whose call() hands its inputs to super().call() in a training mode of its own
(``gpunn/layers/training_override.py``): Monte Carlo dropout as *Hands-On Machine Learning* (ch. 11) writes it, a
BatchNormalization kept in inference; any other call() over a built-in layer is refused when the layer is made."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, ops
from gpunn.overrides import OverrideNotSupportedError

from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)


class MCDropout(layers.Dropout):
    def call(self, inputs, training=False):
        return super().call(inputs, training=True)


class FrozenBatchNormalization(layers.BatchNormalization):
    def call(self, inputs, training=None):
        return super().call(inputs, training=False)


class PassedOn(layers.Dropout):
    def call(self, inputs, training=None):
        return super().call(inputs, training=training)


_KERAS_MC_DROPOUT = """
import json, sys, numpy as np, keras
class MCDropout(keras.layers.Dropout):
    def call(self, inputs, training=False):
        return super().call(inputs, training=True)
model = keras.Sequential([keras.Input((50,)), MCDropout(0.25, seed=1)])
out = model.predict(np.ones((400, 50), "float32"), verbose=0)
values = sorted(set(np.round(out.astype("float64"), 5).ravel().tolist()))
print(json.dumps({"values": values, "dropped": float((out == 0).mean())}))
"""


def test_mc_dropout_drops_at_predict_as_in_keras():
    model = gpunn.Sequential([layers.Input((50,)), MCDropout(0.25, seed=1)])
    first, second = (model.predict(np.ones((400, 50), np.float32), verbose=0) for _ in range(2))
    keras = run_keras(_KERAS_MC_DROPOUT, None)
    assert sorted(set(np.round(first.astype(np.float64), 5).ravel().tolist())) == keras["values"] == [0.0, 1.33333]
    assert abs((first == 0).mean() - 0.25) < 0.01 and abs(keras["dropped"] - 0.25) < 0.01
    assert not np.array_equal(first, second)  # a new mask at every call, as Monte Carlo dropout needs


def test_mc_dropout_masks_are_the_built_in_dropout_s_in_training():
    """Same seed, same draws: the subclass at predict gives what Dropout gives when called with training=True."""
    x = np.random.default_rng(0).normal(size=(16, 12)).astype(np.float32)
    mc = gpunn.Sequential([layers.Input((12,)), MCDropout(0.4, seed=5)])
    plain = gpunn.Sequential([layers.Input((12,)), layers.Dropout(0.4, seed=5)])
    np.testing.assert_array_equal(mc.predict(x, verbose=0), plain(x, training=True))
    np.testing.assert_array_equal(mc(x), plain(x, training=True))  # and called directly, in inference


def test_the_hands_on_ml_monte_carlo_recipe_runs():
    """Train with Dropout, rebuild the model with MCDropout in its place, copy the weights, average predictions."""
    x, y = _classes()
    gpunn.utils.set_random_seed(2)
    model = gpunn.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, verbose=0)
    mc_model = gpunn.Sequential([MCDropout(layer.rate) if isinstance(layer, layers.Dropout) else layer
                                 for layer in model.layers])
    mc_model.build((None, 8))
    mc_model.set_weights(model.get_weights())
    y_probas = np.stack([mc_model.predict(x[:10], verbose=0) for _ in range(20)])
    assert y_probas.shape == (20, 10, 3)
    np.testing.assert_allclose(y_probas.sum(axis=-1), 1.0, rtol=1e-5)
    assert y_probas.std(axis=0).max() > 1e-3  # the predictions vary from one pass to the next
    deterministic = model.predict(x[:10], verbose=0)
    assert not np.allclose(y_probas[0], deterministic)


def test_a_call_passing_its_mode_on_is_the_built_in_layer():
    x = np.ones((8, 5), np.float32)
    model = gpunn.Sequential([layers.Input((5,)), PassedOn(0.5, seed=3)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)  # inference: nothing dropped
    assert (np.asarray(model(x, training=True)) == 0).any()


def test_a_batch_normalization_kept_in_inference_trains_with_its_moving_statistics(numpy_backend):
    x, y = _classes()
    gpunn.utils.set_random_seed(4)
    model = gpunn.Sequential([layers.Input((8,)), layers.Dense(6), FrozenBatchNormalization(),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    norm = model.layers[1]
    norm.moving_mean.assign(np.full(6, 0.5))
    norm.moving_variance.assign(np.full(6, 4.0))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(norm.moving_mean.numpy(), np.full(6, 0.5, np.float32))  # never updated
    np.testing.assert_array_equal(norm.moving_variance.numpy(), np.full(6, 4.0, np.float32))
    dense = np.asarray(model.layers[0](x[:4]))
    gamma, beta = norm.gamma.numpy(), norm.beta.numpy()
    np.testing.assert_allclose(np.asarray(norm(dense, training=True)),
                               (dense - 0.5) / np.sqrt(4.0 + norm.epsilon) * gamma + beta, rtol=1e-5, atol=1e-6)


def test_a_recorded_step_with_mc_dropout_equals_the_eager_one_bit_for_bit(numpy_backend):
    x, y = _classes()
    weights = []
    for jit in (False, True):
        gpunn.utils.set_random_seed(6)
        model = gpunn.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"), MCDropout(0.3),
                                  layers.Dense(3)])
        model.compile(optimizer="adam", loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        weights.append(model.get_weights() + [model.predict(x, verbose=0)])
    for eager, replayed in zip(*weights):
        np.testing.assert_array_equal(eager, replayed)


def test_subclasses_of_the_subclass_and_files_keep_the_mode(tmp_path):
    class Deeper(MCDropout):
        def __init__(self, rate, tag="t", **kwargs):
            super().__init__(rate, **kwargs)
            self.tag = tag

        def get_config(self):
            return {**super().get_config(), "tag": self.tag}

    model = gpunn.Sequential([layers.Input((30,)), Deeper(0.5, seed=2)])
    x = np.ones((50, 30), np.float32)
    assert (model.predict(x, verbose=0) == 0).any()
    model.save(tmp_path / "mc.keras")
    loaded = gpunn.models.load_model(tmp_path / "mc.keras", custom_objects={"Deeper": Deeper})
    assert type(loaded.layers[0]) is Deeper and loaded.layers[0].tag == "t"
    assert (loaded.predict(x, verbose=0) == 0).any()


def test_a_built_in_layer_s_call_is_the_layer():
    dense = layers.Dense(2, kernel_initializer="ones")
    np.testing.assert_array_equal(np.asarray(dense.call(np.ones((1, 3), np.float32))), [[3.0, 3.0]])


class _Scaled(layers.Dropout):
    def call(self, inputs, training=None):
        return super().call(inputs * 2, training=True)


class _Twice(layers.Dropout):
    def call(self, inputs, training=None):
        return super().call(super().call(inputs, training=True), training=True)


class _Clipped(layers.Dense):
    def call(self, x):
        return ops.clip(super().call(x), 0, 1)


class _Masked(layers.Dropout):
    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=True, mask=np.ones(3, bool))


class _Moded(layers.Dropout):
    def call(self, inputs, training=None):
        return super().call(inputs, training="yes")


@pytest.mark.parametrize("cls, why", [
    (_Scaled, r"this one does more \(run on a stand-in input, it raised TypeError"),
    (_Twice, r"this one calls super\(\)\.call\(\) 2 times, not once"),
    (_Clipped, r"this one does more"),
    (_Masked, r"this one gives super\(\)\.call\(\) the argument\(s\) \['mask'\]"),
    (_Moded, r"this one gives super\(\)\.call\(\) training='yes', not True, False or None"),
])
def test_any_other_call_over_a_built_in_layer_is_refused_when_the_layer_is_made(cls, why):
    with pytest.raises(OverrideNotSupportedError, match=rf"^{cls.__name__}\.call: gpunn runs a call\(\) of your own "
                                                        rf"over its built-in (Dropout|Dense) only when .*: {why}"):
        cls(0.5) if issubclass(cls, layers.Dropout) else cls(2)


def _classes(n=64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)


class _Switchable(layers.Dropout):
    """Monte Carlo dropout behind a flag, set after the layer is made (or by from_config after construction)."""

    def __init__(self, rate, **kwargs):
        super().__init__(rate, **kwargs)
        self.mc = False

    def call(self, inputs, training=None):
        return super().call(inputs, training=True if self.mc else training)


def test_the_mode_follows_what_call_reads_at_each_run():
    layer = _Switchable(0.5, seed=4)
    model = gpunn.Sequential([layers.Input((50,)), layer])
    x = np.ones((10, 50), np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    layer.mc = True
    assert (model.predict(x, verbose=0) == 0).any()


def test_a_from_config_setting_attributes_after_construction_loads():
    class Flagged(layers.Dropout):
        def call(self, inputs, training=None):
            return super().call(inputs, training=self.always or training)  # self.always: set by from_config

        def get_config(self):
            return {**super().get_config(), "always": self.always}

        @classmethod
        def from_config(cls, config):
            always = config.pop("always")
            layer = cls(**config)
            layer.always = always
            return layer

    layer = Flagged.from_config({**layers.Dropout(0.5, seed=1).get_config(), "always": True})
    model = gpunn.Sequential([layers.Input((50,)), layer])
    assert (model.predict(np.ones((10, 50), np.float32), verbose=0) == 0).any()


def test_training_reaches_a_call_that_names_it_not_one_taking_kwargs_as_in_keras():
    class KwargsOnly(layers.Dropout):
        def call(self, inputs, **kwargs):
            return super().call(inputs, **kwargs)  # Keras passes no training here: Dropout's default, inference

    class NumpyTrue(layers.Dropout):
        def call(self, inputs, training=None):
            return super().call(inputs, training=np.True_)

    x = np.ones((10, 50), np.float32)
    np.testing.assert_array_equal(np.asarray(KwargsOnly(0.5)(x, training=True)), x)
    assert (np.asarray(NumpyTrue(0.5)(x)) == 0).any()


def test_a_dunder_call_over_a_built_in_layer_is_refused_even_with_a_call():
    class Scaled(layers.Dropout):
        def call(self, inputs, training=None):
            return super().call(inputs, training=training)

        def __call__(self, *args, **kwargs):
            return super().__call__(*args, **kwargs)

    with pytest.raises(OverrideNotSupportedError, match=r"^Scaled\.__call__: gpunn does not run a __call__\(\) of "
                                                        r"your own over its built-in Dropout"):
        Scaled(0.5)
