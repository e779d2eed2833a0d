"""A keras.Model subclass holding weights of its own (``self.add_weight`` in ``__init__`` or ``build``, a
``keras.Variable`` attribute), used in its call() beside its layers: keras-io's "Deep Neural Decision Forests"
trees and forest inside functional models, and a model called on its own. Run by Keras 3 and by gpunn from one
script (weights drawn alike in both), and their weights files read by each other."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import numpy_backend, read_in_keras, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

MODELS = r'''
import json, re, sys
import numpy as np


def define(keras):
    ops, layers = keras.ops, keras.layers

    class NeuralDecisionTree(keras.Model):  # keras-io's, as written there
        def __init__(self, depth, num_features, used_features_rate, num_classes):
            super().__init__()
            self.depth = depth
            self.num_leaves = 2**depth
            self.num_classes = num_classes
            num_used_features = int(num_features * used_features_rate)
            one_hot = np.eye(num_features)
            sampled_feature_indices = np.random.default_rng(num_features).choice(
                np.arange(num_features), num_used_features, replace=False)
            self.used_features_mask = ops.convert_to_tensor(one_hot[sampled_feature_indices], dtype="float32")
            self.pi = self.add_weight(initializer="random_normal", shape=[self.num_leaves, self.num_classes],
                                      dtype="float32", trainable=True)
            self.decision_fn = layers.Dense(units=self.num_leaves, activation="sigmoid", name="decision")

        def call(self, features):
            batch_size = ops.shape(features)[0]
            features = ops.matmul(features, ops.transpose(self.used_features_mask))
            decisions = ops.expand_dims(self.decision_fn(features), axis=2)
            decisions = layers.concatenate([decisions, 1 - decisions], axis=2)
            mu = ops.ones([batch_size, 1, 1])
            begin_idx = 1
            end_idx = 2
            for level in range(self.depth):
                mu = ops.reshape(mu, [batch_size, -1, 1])
                mu = ops.tile(mu, (1, 1, 2))
                level_decisions = decisions[:, begin_idx:end_idx, :]
                mu = mu * level_decisions
                begin_idx = end_idx
                end_idx = begin_idx + 2 ** (level + 1)
            mu = ops.reshape(mu, [batch_size, self.num_leaves])
            probabilities = keras.activations.softmax(self.pi)
            return ops.matmul(mu, probabilities)

    class NeuralDecisionForest(keras.Model):
        def __init__(self, num_trees, depth, num_features, used_features_rate, num_classes):
            super().__init__()
            self.num_classes = num_classes
            self.ensemble = []
            for _ in range(num_trees):
                self.ensemble.append(NeuralDecisionTree(depth, num_features, used_features_rate, num_classes))

        def call(self, inputs):
            batch_size = ops.shape(inputs)[0]
            outputs = ops.zeros([batch_size, self.num_classes])
            for tree in self.ensemble:
                outputs += tree(inputs)
            outputs /= len(self.ensemble)
            return outputs

    class Scaled(keras.Model):  # a Variable attribute, a weight made in build(), a training argument
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(4, activation="relu")
            self.scale = keras.Variable(np.full((1,), 0.5, "float32"), name="scale")
            self.out = layers.Dense(2)

        def build(self, input_shape):
            self.shift = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="shift")

        def call(self, x, training=None):
            return self.out(self.hidden(x + self.shift)) * self.scale

    class Leaf(keras.Model):  # a penalized weight, add_loss, Dropout given the mode, a Sequential held
        def __init__(self):
            super().__init__()
            self.pi = self.add_weight(shape=(4, 2), initializer="random_normal",
                                      regularizer=keras.regularizers.L2(0.1))
            self.decide = layers.Dense(4, activation="sigmoid")
            self.drop = layers.Dropout(0.5, seed=1)
            self.head = keras.Sequential([layers.Dense(3), layers.Dense(2)])

        def call(self, x, training=None):
            h = self.drop(self.decide(x), training=training)
            self.add_loss(0.01 * ops.mean(h))
            return ops.matmul(h, keras.activations.softmax(self.pi)) + self.head(x)

    class Grove(keras.Model):  # models holding weights of their own, held in a list, saved whole
        def __init__(self):
            super().__init__()
            self.leaves = [Leaf(), Leaf()]

        def call(self, x):
            return self.leaves[0](x) + self.leaves[1](x)

    return NeuralDecisionTree, NeuralDecisionForest, Scaled, Grove


def drawn(model):
    """The same starting weights in both libraries."""
    drawn = [np.random.default_rng(k).normal(0, 0.5, w.shape).astype("float32") for k, w in enumerate(model.weights)]
    model.set_weights([np.abs(value) + 0.5 if "variance" in w.path else value
                       for w, value in zip(model.weights, drawn)])


def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(60, 6)).astype("float32"), rng.integers(0, 3, 60)


def forest_model(keras, kind):
    NeuralDecisionTree, NeuralDecisionForest, *_ = define(keras)
    inputs = keras.Input(shape=(6,))
    features = keras.layers.BatchNormalization()(inputs)
    inner = NeuralDecisionTree(3, 6, 1.0, 3) if kind == "tree" else NeuralDecisionForest(2, 2, 6, 0.5, 3)
    return keras.Model(inputs=inputs, outputs=inner(features)), inner


def run(keras, folder):
    out = {"folder": folder}
    x, y = data()
    for kind in ("tree", "forest"):
        model, inner = forest_model(keras, kind)
        drawn(model)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()])
        history = model.fit(x, y, epochs=3, batch_size=20, shuffle=False, verbose=0)
        out[kind] = {
            "shapes": [list(w.shape) for w in model.weights],
            # (Keras numbers the unnamed weights of all its models in one count: 'variable_1'; gpunn per layer)
            "paths": [re.sub("/variable(_[0-9]+)?$", "/variable", w.path) for w in model.weights],
            # (gpunn's trace of a subclassed model's call() names an Input of its own: the next is input_layer_2)
            "layers": [layer.name for layer in model.layers if not layer.name.startswith("input_layer")],
            "inner_layers": [layer.name for layer in inner.layers],
            "inner_weights": len(inner.weights),
            "trainable": len(model.trainable_weights),
            "loss": history.history["loss"],
            "accuracy": history.history["sparse_categorical_accuracy"],
            "predict": model.predict(x[:5], verbose=0).tolist(),
            "evaluate": model.evaluate(x, y, verbose=0),
        }
        model.save_weights(f"{folder}/{kind}.weights.h5")

    _, _, Scaled, Grove = define(keras)
    model = Scaled()
    model(x[:2, :3])
    drawn(model)
    out["scaled_weights"] = [[w.name, list(w.shape), w.trainable] for w in model.weights]
    out["scaled_layers"] = [layer.name for layer in model.layers]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    targets = np.stack([x[:, 3], x[:, 4] * x[:, 5]], axis=1)
    out["scaled_loss"] = model.fit(x[:, :3], targets, epochs=3, batch_size=16, shuffle=False,
                                   verbose=0).history["loss"]
    out["scaled_predict"] = model.predict(x[:4, :3], verbose=0).tolist()
    out["scaled_variables"] = [model.scale.numpy().tolist(), model.shift.numpy().tolist()]
    model.save_weights(f"{folder}/scaled.weights.h5")
    model.trainable = False
    out["frozen"] = [len(model.trainable_weights), len(model.non_trainable_weights)]

    model = Grove()
    model(x[:2, :3])
    drawn(model)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    out["grove"] = {
        "paths": [re.sub("/variable(_[0-9]+)?$", "/variable", w.path) for w in model.weights],
        "losses": len(model.losses),
        "evaluate": model.evaluate(x[:, :3], targets, verbose=0),
        "predict": model.predict(x[:4, :3], verbose=0).tolist(),
        "train": model.train_on_batch(x[:8, :3], targets[:8]),
    }
    model.save_weights(f"{folder}/grove.weights.h5")
    return out
'''

READ = MODELS + r'''
def read(keras, folder):
    """Each model of ``run`` made again, its weights read from ``folder``'s files: their predictions."""
    x, _ = data()
    out = {}
    for kind in ("tree", "forest"):
        model, _ = forest_model(keras, kind)
        model.load_weights(f"{folder}/{kind}.weights.h5")
        out[kind] = model.predict(x[:5], verbose=0).tolist()
    _, _, Scaled, Grove = define(keras)
    model = Scaled()
    model(x[:2, :3])
    model.load_weights(f"{folder}/scaled.weights.h5")
    out["scaled"] = model.predict(x[:4, :3], verbose=0).tolist()
    model = Grove()
    model(x[:2, :3])
    model.load_weights(f"{folder}/grove.weights.h5")
    out["grove"] = model.predict(x[:4, :3], verbose=0).tolist()
    return out
'''

@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(MODELS, tmp_path_factory)


@pytest.mark.parametrize("kind", ["tree", "forest"])
def test_decision_forests_train_as_in_keras(both, kind):
    ours, theirs = both
    ours, theirs = ours[kind], theirs[kind]
    for key in ("shapes", "paths", "layers", "inner_layers", "inner_weights", "trainable"):
        assert ours[key] == theirs[key], key
    for key in ("loss", "accuracy", "predict", "evaluate"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, atol=2e-6, err_msg=key)


def test_a_model_with_a_variable_and_a_weight_made_in_build_trains_as_in_keras(both):
    ours, theirs = both
    for key in ("scaled_weights", "scaled_layers", "frozen"):
        assert ours[key] == theirs[key], key
    for key in ("scaled_loss", "scaled_predict"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, atol=2e-6, err_msg=key)
    for mine, kerass in zip(ours["scaled_variables"], theirs["scaled_variables"]):
        np.testing.assert_allclose(mine, kerass, rtol=2e-5, atol=2e-6)


def test_models_of_weights_of_their_own_held_in_a_model_evaluate_as_in_keras(both):
    ours, theirs = both
    ours, theirs = ours["grove"], theirs["grove"]
    assert ours["paths"] == theirs["paths"]
    assert ours["losses"] == theirs["losses"] == 4  # each leaf's penalty, and what its call() added
    for key in ("evaluate", "predict", "train"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, atol=2e-6, err_msg=key)


def test_weights_files_are_read_by_the_other_library(both, numpy_backend):
    ours, theirs = both
    namespace: dict = {}
    exec(compile(READ, "own_weights_read.py", "exec"), namespace)
    gpunn.backend.clear_session()
    read_by_gpunn = namespace["read"](gpunn, theirs["folder"])
    read_by_keras = read_in_keras(READ, ours["folder"])
    for kind in ("tree", "forest"):
        np.testing.assert_allclose(read_by_gpunn[kind], theirs[kind]["predict"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(read_by_keras[kind], ours[kind]["predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(read_by_gpunn["scaled"], theirs["scaled_predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(read_by_keras["scaled"], ours["scaled_predict"], rtol=1e-5, atol=1e-6)
    # (saved after a training step: the file holds the weights that step left)
    np.testing.assert_allclose(read_by_gpunn["grove"], read_by_keras["grove"], rtol=1e-4, atol=1e-5)


def _scaled_model():
    namespace: dict = {}
    exec(compile(MODELS, "own_weights_models.py", "exec"), namespace)
    _, _, Scaled, _ = namespace["define"](gpunn)
    return Scaled()


def test_build_called_by_the_script_learns_the_graph(numpy_backend):
    """model.build(shape) with a build() of the user's: the user's build runs once, and the model then knows its
    layers and weights (it used to run the user's build again on the first data, adding 'shift' twice)."""
    model = _scaled_model()
    model.build((None, 3))
    assert model.built
    assert [w.name for w in model.weights] == ["scale", "shift", "kernel", "bias", "kernel", "bias"]
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 2), "float32"), verbose=0)
    assert len(model.weights) == 6


def test_a_model_with_weights_of_its_own_saves_as_its_class(numpy_backend, tmp_path):
    """Its .keras file names its class, as Keras's does: load_model given the class makes it again, with its
    weights and optimizer state; without the class the error names it (there is no graph of layers alone to load);
    to_json names its class too, and model_from_json makes it again given the class."""
    namespace: dict = {}
    exec(compile(MODELS, "own_weights_models.py", "exec"), namespace)
    _, _, Scaled, _ = namespace["define"](gpunn)
    x = np.random.default_rng(2).normal(size=(16, 3)).astype("float32")
    model = Scaled()
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse")
    model.fit(x, x[:, :2], epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "scaled.keras")
    loaded = gpunn.models.load_model(tmp_path / "scaled.keras", custom_objects={"Scaled": Scaled})
    assert type(loaded) is Scaled and loaded.optimizer.iterations == model.optimizer.iterations == 8
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded.scale.numpy(), model.scale.numpy())
    ran = [m.fit(x, x[:, :2], epochs=1, batch_size=4, shuffle=False, verbose=0).history["loss"] for m in (model, loaded)]
    assert ran[0] == ran[1]
    with pytest.raises(gpunn.custom_objects.MissingCustomObjectError, match="'Scaled'"):
        gpunn.models.load_model(tmp_path / "scaled.keras")
    entry = json.loads(model.to_json())
    assert entry["class_name"] == "Scaled" and entry["build_config"] == {"input_shape": [None, 3]}
    again = gpunn.models.model_from_json(model.to_json(), custom_objects={"Scaled": Scaled})
    assert type(again) is Scaled and again.built and again.compiled
    assert model.get_config()["trainable"] is True


def test_the_model_s_dtype_is_its_own_weights_and_its_config_s(numpy_backend):
    class Scale(gpunn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = self.add_weight(shape=(3,), initializer="ones")

        def call(self, x):
            return x * self.w

    model = Scale(dtype="float64", name="scale")
    assert model.predict(np.ones((2, 3)), verbose=0).dtype == np.float64
    assert model.get_config() == {"name": "scale", "trainable": True, "dtype": {
        "module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}, "registered_name": None}}


def test_no_inference_mode_warning_for_a_call_with_nothing_that_depends_on_the_mode():
    """A model holding only weights of its own (Python Machine Learning ch13's ``w * x + b``) computes the same in
    training and inference: fit does not warn that its call() takes no ``training``; with a Dropout it does."""
    import warnings

    class Line(gpunn.Model):
        def __init__(self, dropout=False):
            super().__init__()
            self.w, self.b = gpunn.Variable(0.5, name="w"), gpunn.Variable(0.0, name="b")
            self.drop = gpunn.layers.Dropout(0.5) if dropout else None

        def call(self, x):
            y = self.w * x + self.b
            return self.drop(y) if self.drop is not None else y

    x = np.linspace(0, 1, 16, dtype="float32").reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = Line()
        model.compile("sgd", "mse")
        model.fit(x, 2 * x + 1, epochs=1, verbose=0)
    model = Line(dropout=True)
    model.compile("sgd", "mse")
    with pytest.warns(UserWarning, match=r"Line.call takes no `training` argument"):
        model.fit(x, 2 * x + 1, epochs=1, verbose=0)


FOREIGN_VARIABLE = r'''
import keras  # Keras itself: its Variable, as a script mixing imports would make one (tf.Variable alike)
import gpunn


class MyModel(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.w = keras.Variable(0.0, name="weight")

    def call(self, x):
        return self.w * x


for make in (MyModel, lambda: gpunn.layers.Dense(2).__setattr__("k", keras.Variable(1.0)),
             lambda: gpunn.layers.Dense(2).__setattr__("ks", [keras.Variable(1.0)])):
    try:
        make()
    except TypeError as exc:
        print(exc)
'''


def test_a_variable_of_keras_or_tensorflow_set_on_a_model_or_layer_is_refused_by_name():
    from helpers import keras_unavailable_reason, run_keras_script

    if keras_unavailable_reason():
        pytest.skip(keras_unavailable_reason())
    run = run_keras_script(FOREIGN_VARIABLE)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()[-3:]
    assert lines[0].startswith("MyModel.w: a keras Variable, which gpunn neither trains nor computes with; make it "
                               "gpunn.Variable(...)")
    assert lines[1].startswith("Dense.k: a keras Variable") and lines[2].startswith("Dense.ks: a keras Variable")
