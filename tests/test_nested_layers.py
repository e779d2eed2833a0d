"""Layers of the user's that hold and call other layers, as Keras's guide "Making new layers and models via
subclassing" composes them ("Layers are recursively composable": MLPBlock of Linear layers), and blocks of
built-in layers (Dense with a penalty, BatchNormalization, LayerNormalization) in attributes and lists.

Trained as Keras trains them from the same weights (one Keras process; files of the three formats both ways),
their gradients against finite differences in float64, replays against eager steps (bit for bit), Keras's
``trainable`` rules, and what gpunn refuses."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, run_keras

SCRIPT = '''
def definitions(keras):
    ops, layers = keras.ops, keras.layers

    class Linear(layers.Layer):  # the guide's, with a non-trainable weight made between the two trainable ones
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
            self.s = self.add_weight(shape=(self.units,), initializer="zeros", trainable=False, name="s")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b + self.s

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class MLPBlock(layers.Layer):  # the guide's, with a weight of its own and a list of built-in layers
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
            self.linear_1 = Linear(8)
            self.blocks = [layers.Dense(6, kernel_regularizer=keras.regularizers.L2(0.01)),
                           layers.Dense(6, activation="tanh")]
            self.linear_3 = Linear(3)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = keras.activations.relu(x)
            for block in self.blocks:
                x = block(x)
            return self.linear_3(x) * self.scale

    class Residual(layers.Layer):  # normalization layers inside: batch statistics and moving averages
        def __init__(self, width, **kwargs):
            super().__init__(**kwargs)
            self.width = width
            self.norm = layers.BatchNormalization(momentum=0.8)
            self.dense = layers.Dense(width, activation="gelu")
            self.add = layers.Add()
            self.layer_norm = layers.LayerNormalization()

        def call(self, inputs, training=None):
            return self.layer_norm(self.add([inputs, self.dense(self.norm(inputs, training=training))]))

        def get_config(self):
            return {**super().get_config(), "width": self.width}

    class Aliased(layers.Layer):  # a layer held twice; layers made in build(), one in a list made in __init__
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = None
            self.late = []
            self.zz = layers.Dense(3)
            self.aa = self.zz

        def build(self, input_shape):
            self.late.append(layers.Dense(2))
            self.proj = layers.Dense(2)

        def call(self, inputs):
            return self.proj(self.late[0](self.aa(inputs)))

    return Linear, MLPBlock, Residual, Aliased


def build(keras):
    Linear, MLPBlock, Residual, _ = definitions(keras)
    return keras.Sequential([keras.Input(shape=(5,)), MLPBlock(name="mlp"), Residual(3, name="residual"),
                             keras.layers.Dense(1, name="head")])


def aliased(keras):
    return keras.Sequential([keras.Input(shape=(5,)), definitions(keras)[3]()])


def describe(model):
    block = model.get_layer("mlp")
    counts = [len(block.weights), len(block.trainable_weights), len(block.non_trainable_weights)]
    block.trainable = False
    counts += [len(block.trainable_weights), len(block.non_trainable_weights), block.linear_1.trainable,
               block.blocks[1].trainable]
    block.trainable = True
    block.linear_1.trainable = False  # alone: its weights leave the block's trainable ones
    counts += [len(block.trainable_weights), len(block.non_trainable_weights)]
    block.linear_1.trainable = True
    return counts


def run(keras, x, y, initial, tmp):
    import numpy as np

    model = build(keras)
    model.set_weights(initial)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp + "/model.keras")
    model.save(tmp + "/model.h5")
    model.save_weights(tmp + "/model.weights.h5")
    other = aliased(keras)
    other.set_weights([np.full(w.shape, 0.1 * (index + 1), "float32") for index, w in enumerate(other.weights)])
    other.save_weights(tmp + "/aliased.weights.h5")
    return {"aliased": [list(w.shape) for w in other.weights],
            "history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "weights": [w.tolist() for w in model.get_weights()],
            "shapes": [list(w.shape) for w in model.weights],
            "evaluate": float(model.evaluate(x, y, verbose=0)),
            "predict": model.predict(x, verbose=0).tolist(),
            "counts": describe(model)}
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32")
initial = [np.array(w, dtype="float32") for w in task["initial"]]
out = run(keras, x, y, initial, task["dir"] + "/keras")
Linear, MLPBlock, Residual, _ = definitions(keras)
objects = {"Linear": Linear, "MLPBlock": MLPBlock, "Residual": Residual}
out["gpunn's files"] = {}
for name in ("model.keras", "model.h5"):
    mine = keras.saving.load_model(task["dir"] + "/gpunn/" + name, custom_objects=objects)
    out["gpunn's files"][name] = mine.predict(x, verbose=0).tolist()
mine = build(keras)
mine.load_weights(task["dir"] + "/gpunn/model.weights.h5")
out["gpunn's files"]["model.weights.h5"] = mine.predict(x, verbose=0).tolist()
mine = aliased(keras)
mine.load_weights(task["dir"] + "/gpunn/aliased.weights.h5")
out["gpunn's aliased"] = [w.tolist() for w in mine.get_weights()]
print(json.dumps(out))
'''


class Noisy(gpunn.layers.Layer):
    """A Dropout inside a block: its masks drawn again in each replay as in eager steps, its counter in files."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(4, activation="relu")
        self.dropout = layers.Dropout(0.3, seed=3)

    def call(self, inputs, training=None):
        return self.dropout(self.dense(inputs), training=training)


def _namespace() -> dict:
    namespace: dict = {}
    exec(SCRIPT, namespace)
    return namespace


def _data(rows=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 5)).astype("float32")
    return x, (np.sin(x[:, :1]) + x[:, 1:2] * x[:, 2:3]).astype("float32")


def test_blocks_of_layers_train_and_save_as_in_keras(tmp_path):
    """The same weights (set through ``model.set_weights``, so in Keras's order of ``model.weights``), the same
    batches: the same history, weights, predictions; each side loads the other's .keras, .h5 and .weights.h5."""
    x, y = _data()
    for side in ("gpunn", "keras"):
        (tmp_path / side).mkdir()
    namespace = _namespace()
    gpunn.utils.set_random_seed(1)
    initial = [w + 0.05 for w in namespace["build"](gpunn).get_weights()]  # nonzero biases and s, too
    ours = namespace["run"](gpunn, x, y, initial, str(tmp_path / "gpunn"))
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                    "initial": [w.tolist() for w in initial]})
    assert ours["shapes"] == theirs["shapes"]
    # 1 + 3 + 2 + 2 + 3 weights; 9 trainable (the two s kept); frozen: every one kept, flags down; linear_1 alone
    assert ours["counts"] == theirs["counts"] == [11, 9, 2, 0, 11, False, False, 7, 4]
    # in the order Keras tracks them: zz when assigned, then the Dense appended to late, then proj
    assert ours["aliased"] == theirs["aliased"] == [[5, 3], [3], [3, 2], [2], [2, 2], [2]]
    np.testing.assert_allclose(ours["history"]["loss"], theirs["history"]["loss"], rtol=1e-4)
    for index, (mine, keras_weight) in enumerate(zip(ours["weights"], theirs["weights"])):
        np.testing.assert_allclose(mine, keras_weight, rtol=2e-4, atol=2e-5, err_msg=f"weight #{index}")
    np.testing.assert_allclose(ours["evaluate"], theirs["evaluate"], rtol=1e-4)
    # LayerNormalization over 3 features magnifies the weights' float32 differences (a few 1e-6) about 50 times
    np.testing.assert_allclose(ours["predict"], theirs["predict"], rtol=1e-4, atol=5e-4)
    for name, predicted in theirs["gpunn's files"].items():  # Keras reads gpunn's files
        np.testing.assert_allclose(predicted, ours["predict"], rtol=1e-5, atol=1e-6, err_msg=name)
    # a layer held under two names, and one assigned late: each side reads the other's file, weight for weight
    written = [np.full(shape, 0.1 * (index + 1), "float32") for index, shape in enumerate(theirs["aliased"])]
    for mine, value in zip(theirs["gpunn's aliased"], written):
        np.testing.assert_array_equal(mine, value)
    other = namespace["aliased"](gpunn)
    other.load_weights(tmp_path / "keras" / "aliased.weights.h5")
    for mine, value in zip(other.get_weights(), written):
        np.testing.assert_array_equal(mine, value)
    Linear, MLPBlock, Residual, _ = namespace["definitions"](gpunn)
    objects = {"Linear": Linear, "MLPBlock": MLPBlock, "Residual": Residual}
    for name in ("model.keras", "model.h5"):  # and gpunn reads Keras's
        loaded = gpunn.models.load_model(tmp_path / "keras" / name, custom_objects=objects)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    model = namespace["build"](gpunn)
    model.load_weights(tmp_path / "keras" / "model.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_a_block_s_weights_are_its_sublayers_own():
    """``block.weights`` holds the Variables the sublayers give; a weight set through either is the model's."""
    Linear, MLPBlock, _, _ = _namespace()["definitions"](gpunn)
    block = MLPBlock()
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), block])
    assert block.weights[1] is block.linear_1.w and block.weights[4] is block.blocks[0].kernel
    assert [w.name for w in block.weights[:4]] == ["scale", "w", "b", "s"]  # the trainable kind first, as Keras
    block.linear_1.w.assign(np.full((5, 8), 0.5, "float32"))
    assert np.all(model.get_weights()[1] == 0.5)
    x = np.random.default_rng(3).normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(block(x), model.predict(x, verbose=0), rtol=1e-6)  # on its own, the same


def test_a_block_matches_finite_differences():
    """d loss / d every weight (the block's own, its sublayers', those of the sublayers' sublayers) and d loss /
    d x through the block, in float64, with the sublayer's weight penalty."""
    Linear, MLPBlock, Residual, _ = _namespace()["definitions"](gpunn)
    gpunn.utils.set_random_seed(5)
    model = gpunn.Sequential([gpunn.Input(shape=(4,), dtype="float64"), layers.Dense(5, dtype="float64"),
                              MLPBlock(dtype="float64"), Residual(3, dtype="float64")])
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(7, 3))
    model.set_weights([w + rng.normal(scale=0.1, size=w.shape) for w in model.get_weights()])
    block = model.layers[1]

    def objective(_):
        # BatchNormalization on the batch's statistics, as in training (evaluate would take the moving ones)
        predictions = gpunn.ops.convert_to_numpy(model(x, training=True))
        return ((predictions - y) ** 2).mean() + 0.01 * (block.blocks[0].get_weights()[0] ** 2).sum()

    moving = [w.copy() for w in model.layers[2].norm.get_weights()]
    numeric = numerical_gradient(objective, model.params)
    for w, kept in zip(model.layers[2].norm.weights, moving):
        w.assign(kept)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params through blocks of layers")


def test_blocks_replay_bit_for_bit():
    Linear, MLPBlock, Residual, _ = _namespace()["definitions"](gpunn)

    x, y = _data(70)

    def run(jit):
        gpunn.utils.set_random_seed(7)
        model = gpunn.Sequential([gpunn.Input(shape=(5,)), MLPBlock(), Noisy(), Residual(4), layers.Dense(1)])
        model.compile(optimizer="adam", loss="mae", metrics=["mse"], jit_compile=jit, steps_per_execution=2)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2)
        return model, history.history

    eager, replayed = run(False), run(True)
    assert sum(len(state.recordings) for state in replayed[0].train_function._states.values()) > 0
    assert_same_training(eager, replayed)


def test_trainable_goes_down_and_a_sublayer_frozen_alone_is_refused():
    Linear, MLPBlock, _, _ = _namespace()["definitions"](gpunn)
    x, y = _data()
    block = MLPBlock()
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), block, layers.Dense(1)])
    block.trainable = False
    assert not block.linear_1.trainable and not block.blocks[1].trainable
    model.compile(optimizer="adam", loss="mse")
    before = block.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for old, new in zip(before, block.get_weights()):
        np.testing.assert_array_equal(old, new)
    block.trainable = True
    block.blocks[0].trainable = False
    with pytest.raises(ValueError, match=r"layer 'dense\S*' \(at 'blocks/dense' inside layer 'mlp_block\S*'\) has "
                                         r"trainable=False.*set mlp_block\S*\.trainable instead"):
        model.compile(optimizer="adam", loss="mse")
    block.blocks[0].trainable = True
    model.compile(optimizer="adam", loss="mse")
    block.linear_3.trainable = False  # before the first fit: taken there, as in Keras, so refused there too
    with pytest.raises(ValueError, match=r"at 'linear_3' inside layer 'mlp_block\S*'\) has trainable=False"):
        model.fit(x, y, epochs=1, verbose=0)
    block.linear_3.trainable = True
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    block.linear_3.trainable = False  # after training: Keras's warning, and training goes on as compiled
    with pytest.warns(UserWarning, match="trainable` state has changed.*linear"):
        model.fit(x, y, epochs=1, verbose=0)


def test_what_a_block_refuses():
    x, y = _data()

    class CalledTwice(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(5)

        def call(self, inputs):
            return self.dense(self.dense(inputs))

    class OnlyInTraining(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(5)
            self.noise = layers.GaussianNoise(0.1)

        def call(self, inputs, training=None):
            x = self.dense(inputs)
            return self.noise(x, training=training) if training else x

    class Regularized(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(5, activity_regularizer="l2")

        def call(self, inputs):
            return self.dense(inputs)

    model = gpunn.Sequential([gpunn.Input(shape=(5,)), CalledTwice(), layers.Dense(1)])  # the same weights twice
    model.compile(optimizer="sgd", loss="mse")  # (tests/test_repeated_sublayer_calls.py)
    model.fit(x, y, epochs=1, verbose=0)
    for layer, message in ((Regularized(), "has an activity_regularizer"),):
        with pytest.raises(ValueError, match=message):
            model = gpunn.Sequential([gpunn.Input(shape=(5,)), layer, layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
            model.fit(x, y, epochs=1, verbose=0)
    # a layer called in training only is built by a second call learning shapes, in training mode
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), OnlyInTraining(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="without '/'"):
        gpunn.layers.Layer().add_weight(shape=(2,), name="a/b")


def test_activations_on_tensors_inside_call_are_differentiated_as_in_a_dense_layer():
    """``keras.activations.gelu(x)`` inside call() runs the fused step a Dense layer runs, forward and back."""
    class Activated(gpunn.layers.Layer):
        def __init__(self, name_of_activation, **kwargs):
            super().__init__(**kwargs)
            self.activation = getattr(gpunn.activations, name_of_activation)

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="glorot_uniform")

        def call(self, inputs):
            return self.activation(gpunn.ops.matmul(inputs, self.w))

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    for name in ("gelu", "relu", "mish", "softmax", "linear"):
        gpunn.utils.set_random_seed(9)
        ours = gpunn.Sequential([gpunn.Input(shape=(4,), dtype="float64"), Activated(name, dtype="float64")])
        gpunn.utils.set_random_seed(9)
        dense = gpunn.Sequential([gpunn.Input(shape=(4,), dtype="float64"),
                                  layers.Dense(3, activation=name, use_bias=False, dtype="float64")])
        dense.set_weights(ours.get_weights())
        for model in (ours, dense):
            model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.train_on_batch(x, y)
        np.testing.assert_allclose(np.array(ours.grads), np.array(dense.grads), rtol=1e-12, atol=1e-14,
                                   err_msg=name)


@pytest.mark.parametrize("filename", ["model.gpunn", "model.keras", "model.h5"])
def test_training_resumed_from_a_file_ends_as_the_uninterrupted_run(tmp_path, filename):
    """Weights, optimizer slots and the mask counter of a Dropout inside a block all come back from the file."""
    namespace = _namespace()
    Linear, MLPBlock, Residual, _ = namespace["definitions"](gpunn)

    objects = {"Linear": Linear, "MLPBlock": MLPBlock, "Residual": Residual, "Noisy": Noisy}
    x, y = _data(48)

    def fresh():
        gpunn.utils.set_random_seed(11)
        model = gpunn.Sequential([gpunn.Input(shape=(5,)), MLPBlock(), Noisy(), Residual(4), layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return model

    whole = fresh()
    whole.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    first = fresh()
    first.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / filename)
    resumed = gpunn.models.load_model(tmp_path / filename, custom_objects=objects)
    resumed.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_block_made_frozen_trains_nothing_inside_and_reloads(tmp_path):
    """``Block(trainable=False)`` sets the flag before its layers exist, as in Keras (and as a file's config makes
    it again): everything inside is frozen all the same."""
    Linear, MLPBlock, _, _ = _namespace()["definitions"](gpunn)
    x, y = _data()
    block = MLPBlock(trainable=False)
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), block, layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    before = block.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, block.get_weights()))
    assert block.trainable_weights == [] and len(model.trainable_weights) == 2
    model.save(tmp_path / "frozen.keras")
    loaded = gpunn.models.load_model(tmp_path / "frozen.keras", custom_objects={"Linear": Linear, "MLPBlock": MLPBlock})
    loaded.fit(x, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, loaded.layers[0].get_weights()))


def test_a_layer_inside_a_block_is_held_there_alone():
    class Holding(gpunn.layers.Layer):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, inputs):
            return self.inner(inputs)

    shared = layers.Dense(5, name="shared")
    with pytest.raises(ValueError, match=r"layer 'shared' is used inside layer 'first' \(at 'inner'\) and inside "
                                         r"layer 'second'.*give each place a layer of its own"):
        gpunn.Sequential([gpunn.Input(shape=(5,)), Holding(shared, name="first"), Holding(shared, name="second")])
    direct = layers.Dense(5, name="direct")
    with pytest.raises(ValueError, match="layer 'direct' is used as a layer of the model and inside layer"):
        gpunn.Sequential([gpunn.Input(shape=(5,)), direct, Holding(direct)])

    # a layer taken from another model (transfer learning): its values come along, and either model sees the
    # other's training, as for any layer two models share
    x, y = _data()
    taken = layers.Dense(5)
    source = gpunn.Sequential([gpunn.Input(shape=(5,)), taken])
    values = [w.copy() for w in taken.get_weights()]
    target = gpunn.Sequential([gpunn.Input(shape=(5,)), Holding(taken), layers.Dense(1)])
    for got, want in zip(target.layers[0].get_weights(), values):
        np.testing.assert_array_equal(got, want)
    target.compile(optimizer="adam", loss="mse")
    target.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(source.predict(x, verbose=0), x @ taken.get_weights()[0] + taken.get_weights()[1],
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(taken.get_weights()[0], values[0])


def test_a_layer_of_the_user_s_called_twice_in_a_model_sums_both_gradients():
    """A siamese use of a layer of the user's (each call on buffers of its own): d loss / d its weights is the sum
    over both calls (float64 finite differences), a block holding layers (and a penalized Dense) too."""
    Linear, MLPBlock, _, _ = _namespace()["definitions"](gpunn)
    gpunn.utils.set_random_seed(12)
    linear = Linear(3, dtype="float64")
    left, right = gpunn.Input(shape=(4,), dtype="float64"), gpunn.Input(shape=(4,), dtype="float64")
    merged = layers.Subtract()([linear(left), linear(right)])
    model = gpunn.Model([left, right], layers.Dense(1, dtype="float64")(merged))
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(13)
    a, b, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 1))
    numeric = numerical_gradient(lambda _: ((model.predict([a, b], verbose=0) - y) ** 2).mean(), model.params)
    model.train_on_batch([a, b], y)
    assert_gradients_close(np.array(model.grads), numeric, what="a layer of the user's called twice")
    block = MLPBlock(dtype="float64")
    model = gpunn.Model([left, right], layers.Add()([block(left), block(right)]))
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    y = rng.normal(size=(6, 3))
    numeric = numerical_gradient(lambda _: model.evaluate([a, b], y, batch_size=6, verbose=0), model.params)
    model.train_on_batch([a, b], y)
    assert_gradients_close(np.array(model.grads), numeric, what="a block holding layers called twice")


def test_what_a_call_cannot_hold():
    class Subclassed(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3)

        def call(self, inputs):
            return self.dense(inputs)

    class HoldsAModel(gpunn.layers.Layer):  # (a Sequential or functional model is held: test_held_sequentials.py)
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.net = Subclassed()

        def call(self, inputs):
            return self.net(inputs)

    class ClippedRelu(gpunn.layers.Layer):
        def call(self, inputs):
            return gpunn.activations.relu(inputs, threshold=0.5)

    class Masked(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(3)

        def call(self, inputs):
            return self.dense(inputs, mask=inputs > 0)

    with pytest.raises(TypeError, match="mask: layer 'dense.*' \\(Dense\\) takes no mask"):  # (as Keras)
        gpunn.Sequential([gpunn.Input(shape=(5,)), Masked()])
    with pytest.raises(TypeError, match="is called inside a layer's call"):
        gpunn.Sequential([gpunn.Input(shape=(5,)), HoldsAModel()])
    clipped = gpunn.Sequential([gpunn.Input(shape=(5,)), ClippedRelu()])  # (relu's arguments compute as ops)
    np.testing.assert_array_equal(clipped.predict(np.array([[-1.0, 0.25, 0.5, 0.75, 2.0]], "float32"), verbose=0),
                                  [[0.0, 0.0, 0.0, 0.75, 2.0]])


OVERRIDDEN_LIST_SCRIPT = '''
import io, json, sys, contextlib
import numpy as np

def run(keras, folder):
    class MixtureHead(keras.layers.Layer):  # keras.io's mixture density network lists some weights itself
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mus = keras.layers.Dense(2)
            self.sigmas = keras.layers.Dense(2)

        def build(self, shape):
            self.mus.build(shape)
            self.sigmas.build(shape)

        @property
        def trainable_weights(self):
            return self.mus.trainable_weights

        def call(self, x):
            return keras.layers.concatenate([self.mus(x), self.sigmas(x)])

    model = keras.Sequential([keras.Input((3,)), MixtureHead()])
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        model.summary()
    return {"counts": [len(model.weights), len(model.trainable_weights), len(model.non_trainable_weights)],
            "params": model.count_params(),
            "totals": [line.strip() for line in text.getvalue().splitlines() if "params:" in line][:3],
            "layer_list": len(model.layers[0].trainable_weights)}
'''


def test_a_layer_s_own_trainable_weights_list_does_not_change_the_model_s(tmp_path_factory):
    """Keras's model reads its variables' flags, not a layer's ``trainable_weights`` property of the user's."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(OVERRIDDEN_LIST_SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["counts"] == [4, 4, 0] and ours["layer_list"] == 2
