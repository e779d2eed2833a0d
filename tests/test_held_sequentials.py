"""A Sequential model held by a layer of the user's and called in its ``call()``, as keras-io's MLP-Mixer, FNet
and gMLP blocks hold theirs (``self.mlp1 = keras.Sequential([Dense, Activation("gelu"), Dense, Dropout])``): its
layers are the block's sublayers, called one after the other; a functional model held so (the functional API
guide's mix-and-match) runs its graph there.

Checked against Keras 3 (one Keras process on jax): the weights' paths, shapes and order, predictions from the
same weights, and ``.keras`` files both ways (Keras's file of such a block names no layer: it loads too); against
the same layers held as a list (bit for bit), finite differences in float64, and a replayed step (bit for bit)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import (assert_gradients_close, assert_same_training, eager_and_replayed, numerical_gradient,
                     run_keras)

MIXER = '''
def definitions(keras, held_as="sequential", rate=0.2):
    layers, ops = keras.layers, keras.ops

    def mlp(units, out):
        parts = [layers.Dense(units), layers.Activation("gelu"), layers.Dense(out), layers.Dropout(rate, seed=1)]
        return keras.Sequential(parts) if held_as == "sequential" else parts

    def run(held, x, training):
        if isinstance(held, list):
            for layer in held:
                x = layer(x, training=training)
            return x
        return held(x, training=training)

    class Mixer(layers.Layer):  # keras-io's MLPMixerLayer (its LayerNormalization called twice)
        def __init__(self, patches=6, dim=5, **kwargs):
            super().__init__(**kwargs)
            self.patches, self.dim = patches, dim
            self.mlp1 = mlp(patches, patches)
            self.mlp2 = mlp(patches, dim)
            self.normalize = layers.LayerNormalization(epsilon=1e-6)

        def call(self, inputs, training=None):
            x = self.normalize(inputs)
            x = ops.transpose(run(self.mlp1, ops.transpose(x, (0, 2, 1)), training), (0, 2, 1)) + inputs
            return x + run(self.mlp2, self.normalize(x), training)

        def get_config(self):
            return {**super().get_config(), "patches": self.patches, "dim": self.dim}

    def model(dtype="float32"):
        inputs = keras.Input((6, 5), dtype=dtype)
        blocks = keras.Sequential([Mixer(dtype=dtype), Mixer(dtype=dtype)])
        pooled = layers.GlobalAveragePooling1D(dtype=dtype)(blocks(inputs))
        return keras.Model(inputs, layers.Dense(3, dtype=dtype)(pooled))

    return Mixer, model
'''

KERAS_SIDE = MIXER + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
Mixer, make = definitions(keras)
model = make()
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
model.save(task["dir"] + "/keras.keras")
mine = keras.saving.load_model(task["dir"] + "/gpunn.keras", custom_objects={"Mixer": Mixer})
print(json.dumps({"paths": [w.path.split("/", 1)[1] for w in model.weights],
                  "shapes": [list(w.shape) for w in model.weights],
                  "predict": model.predict(x, verbose=0).tolist(),
                  "gpunn's file": mine.predict(x, verbose=0).tolist()}))
'''


def _definitions(held_as="sequential", rate=0.2):
    namespace: dict = {}
    exec(MIXER, namespace)
    return namespace["definitions"](gpunn, held_as, rate)


def _data(rows=24):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 6, 5)).astype("float32")
    return x, rng.integers(0, 3, rows)


def test_a_held_sequential_is_kerass_paths_predictions_and_files(tmp_path):
    gpunn.backend.clear_session()  # (names start again, as in the Keras process)
    Mixer, make = _definitions()
    gpunn.utils.set_random_seed(2)
    model = make()
    weights = [w + np.random.default_rng(k).normal(scale=0.1, size=w.shape).astype("float32")
               for k, w in enumerate(model.get_weights())]  # (LayerNormalization's ones and zeros moved)
    model.set_weights(weights)
    model.save(tmp_path / "gpunn.keras")
    x, _ = _data(8)
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "weights": [w.tolist() for w in weights], "dir": str(tmp_path)})
    ours = [w.path.split("/", 1)[1] for w in model.weights]
    assert ours == theirs["paths"] and ours[:2] == ["mixer/sequential/dense/kernel", "mixer/sequential/dense/bias"]
    assert [list(w.shape) for w in model.weights] == theirs["shapes"]
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theirs["gpunn's file"], theirs["predict"], rtol=1e-5, atol=1e-6)
    loaded = gpunn.models.load_model(tmp_path / "keras.keras", custom_objects={"Mixer": Mixer})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_a_held_sequential_trains_as_its_layers_held_in_a_list(jit):
    x, y = _data()

    def trained(held_as, jit):
        _, make = _definitions(held_as)
        gpunn.utils.set_random_seed(4)
        model = make()
        model.compile(optimizer="adam", loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=jit)
        return model, model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history

    held = trained("sequential", jit)
    assert_same_training(held, trained("list", jit))
    if jit:
        assert_same_training(held, trained("sequential", False))


def test_a_held_sequential_matches_finite_differences():
    _, make = _definitions(rate=0.0)  # (no dropout: the step's values are the objective's)
    gpunn.utils.set_random_seed(5)
    model = make("float64")
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(5, 6, 5)), rng.normal(size=(5, 3))
    model.set_weights([w + rng.normal(scale=0.1, size=w.shape) for w in model.get_weights()])

    def objective(_):
        return ((gpunn.ops.convert_to_numpy(model(x)) - y) ** 2).mean()

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params through held Sequentials")


HELD_FUNCTIONAL = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    """The functional API guide's mix-and-match: a layer of the user's holding a functional model (a branching
    graph) and calling it in call()."""
    layers = keras.layers
    inp = keras.Input((6,))
    a = layers.Dense(5, activation="relu")(inp)
    b = layers.Dense(5)(inp)
    classifier = keras.Model(inp, layers.Dense(1)(layers.Concatenate()([a, b])))

    class Wrapper(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = layers.Dense(6, activation="tanh")
            self.classifier = classifier

        def call(self, inputs):
            return self.classifier(self.proj(inputs))

    i = keras.Input((4,))
    model = keras.Model(i, Wrapper()(i))
    rng = np.random.default_rng(0)
    model.set_weights([0.4 * rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", **(extra_compile or {}))
    x, y = rng.normal(size=(20, 4)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    history = model.fit(x, y, epochs=3, batch_size=5, shuffle=False, verbose=0)
    return {"paths": [w.path for w in model.weights], "loss": history.history["loss"],
            "predict": model.predict(x[:3], verbose=0).tolist()}
'''


def test_a_held_functional_model_trains_as_in_keras():
    import json

    from helpers import assert_close_to_keras, run_case_both_ways

    gpunn.backend.clear_session()  # (names start again, as in the Keras process)
    ours, theirs = run_case_both_ways(HELD_FUNCTIONAL, [{}])
    assert ours[0]["paths"] == theirs[0]["paths"]
    assert ours[0]["paths"][:2] == ["wrapper/dense_3/kernel", "wrapper/dense_3/bias"]
    assert_close_to_keras(ours[0]["loss"], theirs[0]["loss"], "held functional", rtol=1e-5, atol=1e-6)
    assert_close_to_keras(ours[0]["predict"], theirs[0]["predict"], "held functional", rtol=1e-5, atol=1e-6)
    eager, replayed = eager_and_replayed(HELD_FUNCTIONAL, {})
    assert json.dumps(eager["loss"]) == json.dumps(replayed["loss"])


def test_a_held_subclassed_model_is_refused_by_name():
    class Inner(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    class Holder(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def call(self, x):
            return self.inner(x)

    inputs = gpunn.Input((3,))
    with pytest.raises(TypeError, match="not a subclassed model"):
        gpunn.Model(inputs, Holder()(inputs))

def test_a_held_functional_model_of_dict_inputs_and_outputs():
    """Keras's: the held model called on a dict by its inputs' keys, its dict of outputs handed back."""
    q, p = gpunn.Input((4,), name="q"), gpunn.Input((4,), name="p")
    dense = layers.Dense(4)
    inner = gpunn.Model({"q": q, "p": p}, {"sum": layers.Add()([p, dense(q)]), "p": layers.Identity()(p)})

    class Holder(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, inputs):
            out = self.inner({"p": inputs, "q": inputs * 2.0})
            return out["sum"] + out["p"]

    inputs = gpunn.Input((4,))
    model = gpunn.Model(inputs, Holder()(inputs))
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * x + (2 * x) @ kernel + bias, rtol=1e-5, atol=1e-6)
