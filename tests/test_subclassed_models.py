"""Subclassed models (``class Net(keras.Model)`` with a ``call()``): their graph learned from ``call()`` on the
first data, trained as Keras trains them (checked against Keras 3 on the same weights and batches), and the
cases gpunn refuses named."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import numpy_backend, run_keras, run_script_both_ways  # noqa: F401

NET = '''
def define(keras, layers):
    class Net(keras.Model):
        def __init__(self, units=16, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(units, activation="relu")
            self.norm = layers.BatchNormalization()
            self.skip = layers.Dense(units)
            self.head = layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            hidden = self.norm(self.hidden(inputs), training=training)
            return self.head(hidden + self.skip(inputs))

    return Net

ATTRIBUTES = ["hidden", "norm", "skip", "head"]
'''

KERAS_NET = NET + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"])
model = define(keras, keras.layers)(name="net")
model(x[:2])
for name in ATTRIBUTES:
    getattr(model, name).set_weights([np.array(w, dtype="float32") for w in task["weights"][name]])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_split=0.25)
out = {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
       "weights": {name: [w.tolist() for w in getattr(model, name).get_weights()] for name in ATTRIBUTES},
       "predict": model.predict(x, verbose=0).tolist(), "evaluate": model.evaluate(x, y, verbose=0),
       "count": model.count_params()}
print(json.dumps(out))
'''


def _net(**kwargs):
    gpunn.utils.set_random_seed(5)
    namespace: dict = {}
    exec(NET, namespace)
    return namespace["define"](gpunn, layers)(**kwargs), namespace["ATTRIBUTES"]


def _data(rows=64):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((rows, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)


def test_a_subclassed_model_trains_as_keras_s():
    x, y = _data()
    model, attributes = _net(name="net")
    assert [layer.name for layer in model.layers] == [getattr(model, a).name for a in attributes]  # tracked
    model(x[:2])  # its graph, from a first call
    weights = {name: [w.tolist() for w in getattr(model, name).get_weights()] for name in attributes}
    theirs = run_keras(KERAS_NET, {"x": x.tolist(), "y": y.tolist(), "weights": weights})
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_split=0.25)
    assert set(history.history) == set(theirs["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-4, atol=1e-5, err_msg=key)
    for name in attributes:
        for ours, keras_weight in zip(getattr(model, name).get_weights(), theirs["weights"][name]):
            np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), theirs["evaluate"], rtol=1e-4, atol=1e-5)
    assert model.count_params() == theirs["count"]


@pytest.mark.parametrize("first", ["fit", "predict", "call", "build", "generator"])
def test_the_graph_comes_from_whatever_sees_data_first(first):
    x, y = _data()
    model, _ = _net()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    if first == "fit":
        model.fit(x, y, epochs=1, verbose=0)
    elif first == "predict":
        model.predict(x, verbose=0)
    elif first == "call":
        model(x)
    elif first == "build":
        model.build((None, 6))
    else:
        model.fit(iter([(x[:32], y[:32]), (x[32:], y[32:])]), epochs=1, shuffle=False, verbose=0)
    assert model.built and model.input_shape == (None, 6) and model.output_shape == (None, 3)
    assert [layer.name for layer in model._graph_layers][0].startswith("input_layer")
    assert "InputLayer" not in [type(layer).__name__ for layer in model.layers]  # Keras's: what the model holds
    model.fit(x, y, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (64, 3)


def test_call_branching_on_training_is_refused_by_name():
    class Branching(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(4)
            self.drop = layers.Dropout(0.5)
            self.head = layers.Dense(1)

        def call(self, inputs, training=None):
            hidden = self.hidden(inputs)
            if training:
                hidden = self.drop(hidden)
            return self.head(hidden)

    model = Branching()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="Branching.call: calls other layers when training=True than when training "
                                         "is not given"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    assert not model.built


def test_dropout_given_the_mode_in_call_drops_in_fit_only():
    class Dropping(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.5)
            self.head = layers.Dense(1, kernel_initializer="ones", use_bias=False)

        def call(self, inputs, training=None):
            return self.head(self.drop(inputs, training=training))

    model = Dropping()
    x = np.ones((200, 4), dtype="float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), 4.0)  # inference: no drop
    dropped = np.asarray(model(x, training=True))
    assert set(np.unique(dropped)) <= {0.0, 2.0, 4.0, 6.0, 8.0} and dropped.std() > 0


def test_a_call_that_cannot_run_on_symbolic_inputs_says_why():
    class UsesNumpy(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.head = layers.Dense(1)

        def call(self, inputs):
            return self.head(np.exp(inputs))  # NumPy's function, not gpunn.ops's

    with pytest.raises(TypeError, match=r"UsesNumpy.call: gpunn runs call\(\) once on symbolic inputs .* "
                                        "does not support ufuncs"):
        UsesNumpy().predict(np.ones((2, 3)), verbose=0)


def test_compile_checks_names_before_the_graph_is_known():
    model, _ = _net()
    with pytest.raises(ValueError, match="nope"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["nope"])
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="adam", loss="no_such_loss")
    with pytest.raises(NotImplementedError, match="needs a call"):  # when it runs, as Keras
        type("NoCall", (gpunn.Model,), {})().predict(np.ones((2, 3)), verbose=0)


def test_a_subclass_made_with_the_functional_api_is_functional(tmp_path):
    class Functional(gpunn.Model):
        def __init__(self):
            inputs = gpunn.Input(shape=(3,))
            super().__init__(inputs, layers.Dense(2)(inputs), name="made")

    model = Functional()
    assert model.name == "made" and model.built and isinstance(model, gpunn.Model)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)


def test_files_hold_the_graph_and_weights_load_into_a_new_instance(tmp_path):
    x, y = _data()
    model, attributes = _net()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "net.keras")
    loaded = gpunn.models.load_model(tmp_path / "net.keras")  # the graph, as a functional model
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    model.save_weights(tmp_path / "net.weights.h5")
    again, _ = _net()
    with pytest.raises(ValueError, match="not been built"):
        again.load_weights(tmp_path / "net.weights.h5")
    again.build((None, 6))
    again.load_weights(tmp_path / "net.weights.h5")
    np.testing.assert_array_equal(again.predict(x, verbose=0), expected)


def test_several_outputs_are_named_as_keras_names_them():
    class TwoHeads(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.trunk = layers.Dense(8, activation="relu")
            self.main = layers.Dense(1)
            self.aux = layers.Dense(1)

        def call(self, inputs):
            hidden = self.trunk(inputs)
            return self.main(hidden), self.aux(hidden)

    model = TwoHeads()
    model.compile(optimizer="adam", loss="mse", loss_weights=[0.9, 0.1], metrics=["mae"])
    x = np.random.default_rng(0).standard_normal((32, 4))
    history = model.fit(x, (x[:, :1], x[:, 1:2]), epochs=2, verbose=0)
    # Keras 3: the losses by the name they were given ("mse" twice: one "mse_loss" in the logs, the second
    # output's, listed twice by evaluate), the metrics by theirs, numbered; the metrics come before the losses
    assert list(history.history) == ["loss", "mae", "mae_1", "mse_loss"]
    assert model.metrics_names == ["loss", "mae", "mae_1", "mse_loss", "mse_loss"]
    results = model.evaluate(x, (x[:, :1], x[:, 1:2]), verbose=0)
    assert len(results) == 5 and results[3] == results[4]
    predicted = model.predict(x, verbose=0)
    assert isinstance(predicted, tuple) and [p.shape for p in predicted] == [(32, 1), (32, 1)]
    assert model.output_names == ["output_1", "output_2"]


def test_a_subclass_making_its_layers_in_build_gets_them_built_before_call():
    class Lazy(gpunn.Model):
        def build(self, input_shape):
            self.hidden = layers.Dense(input_shape[-1] * 2, activation="tanh")
            self.head = layers.Dense(1)
            super().build(input_shape)

        def call(self, inputs):
            return self.head(self.hidden(inputs))

    for first in ("fit", "build"):
        model = Lazy()
        model.compile(optimizer="sgd", loss="mse")
        if first == "build":
            model.build((None, 3))
        model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
        assert model.hidden.get_weights()[0].shape == (3, 6)
        assert model.count_params() == 3 * 6 + 6 + 6 + 1


NO_TRAINING = '''
def define(keras, layers):
    class Plain(keras.Model):
        """call() names no `training`: Keras 3's fit passes none, and its layers run in inference."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm = layers.BatchNormalization()
            self.hidden = layers.Dense(8, activation="relu")
            self.drop = layers.Dropout(0.5)
            self.noise = layers.GaussianNoise(1.0)
            self.head = layers.Dense(2)

        def call(self, inputs):
            return self.head(self.drop(self.noise(self.hidden(self.norm(inputs)))))

    return Plain
'''

KERAS_NO_TRAINING = NO_TRAINING + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32")
model = define(keras, keras.layers)()
model(x[:2])
for name in ("norm", "hidden", "head"):
    getattr(model, name).set_weights([np.array(w, dtype="float32") for w in task["weights"][name]])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
print(json.dumps({"loss": history.history["loss"],
                  "weights": {n: [w.tolist() for w in getattr(model, n).get_weights()] for n in ("norm", "hidden", "head")}}))
'''


def test_a_call_without_training_runs_its_layers_in_inference_in_fit_as_keras_3_does():
    """Keras 3's trainers give call() ``training`` only when it names one: Dropout and the noise layers pass their
    inputs and BatchNormalization keeps its moving statistics, in fit too. gpunn does the same, and says so."""
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((32, 5)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    namespace: dict = {}
    exec(NO_TRAINING, namespace)
    model = namespace["define"](gpunn, layers)()
    model(x[:2])
    weights = {name: [w.tolist() for w in getattr(model, name).get_weights()] for name in ("norm", "hidden", "head")}
    theirs = run_keras(KERAS_NO_TRAINING, {"x": x.tolist(), "y": y.tolist(), "weights": weights})
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    with pytest.warns(UserWarning, match=r"Plain.call takes no `training` argument.*inference.*batch_normalization"):
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    for name in ("norm", "hidden", "head"):
        for ours, keras_weight in zip(getattr(model, name).get_weights(), theirs["weights"][name]):
            np.testing.assert_allclose(ours, keras_weight, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(model.norm.get_weights()[2], np.zeros(5, np.float32))  # never updated


class _InnerWithoutTraining(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.norm = layers.BatchNormalization()

    def call(self, inputs):
        return self.norm(inputs)


class _OuterPassingTraining(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.inner = _InnerWithoutTraining()
        self.head = layers.Dense(2)

    def call(self, inputs, training=None):
        return self.head(self.inner(inputs, training=training))


def test_a_model_without_training_called_inside_another_takes_that_one_s_mode():
    """Only the model fit trains runs in inference for lacking ``training``: called inside another model, its
    layers take the mode that model gives them (Keras's call context)."""
    x = np.random.default_rng(3).standard_normal((16, 4)).astype(np.float32) + 1.0
    model = _OuterPassingTraining()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((16, 2), np.float32), batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(model.inner.norm.get_weights()[2], 0.01 * x.mean(axis=0), rtol=1e-5)
    inputs = gpunn.Input((4,))
    inner = _InnerWithoutTraining()
    inner.build((None, 4))
    sequential = gpunn.Sequential([inputs, inner, layers.Dense(2)])  # held by a Sequential: no mode fixed
    sequential.compile(optimizer="sgd", loss="mse")
    sequential.fit(x, np.zeros((16, 2), np.float32), batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(inner.norm.get_weights()[2], 0.01 * x.mean(axis=0), rtol=1e-5)


class _Reassigning(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.a = layers.Dense(4)
        self.a = layers.Dense(5)  # the first one stays tracked (Keras's tracker keeps it), its id is not reused
        self.b = layers.Dense(2)

    def call(self, x):
        return self.b(self.a(x))


def test_a_reassigned_attribute_keeps_keras_s_weight_order():
    model = _Reassigning()
    model.build((None, 3))
    assert [w.shape for w in model.get_weights()] == [(3, 5), (5,), (5, 2), (2,)]


def test_a_call_without_training_keeps_its_inference_when_saved_or_cloned(tmp_path):
    namespace: dict = {}
    exec(NO_TRAINING, namespace)
    model = namespace["define"](gpunn, layers)()
    x = np.random.default_rng(0).standard_normal((16, 5)).astype(np.float32) + 1.0
    model(x[:2])
    model.save(tmp_path / "m.keras")
    for again in (gpunn.models.load_model(tmp_path / "m.keras"), gpunn.models.clone_model(model)):
        again.compile(optimizer="sgd", loss="mse")
        again.fit(x, np.zeros((16, 2), np.float32), verbose=0)
        norm = next(layer for layer in again.layers if isinstance(layer, layers.BatchNormalization))
        np.testing.assert_array_equal(norm.get_weights()[2], np.zeros(5, np.float32))
    assert type(gpunn.models.clone_model(model)) is type(model)  # (as Keras clones a subclassed model)


BATCH_SIZED = '''
def define(keras, layers, ops):
    class Tiled(keras.Model):
        """call() computing with the batch size (keras-io's neural decision forests: ops.zeros([batch_size, n]),
        ops.reshape(x, [batch_size, -1]))."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(8, activation="tanh")
            self.head = layers.Dense(3, activation="softmax")

        def call(self, inputs):
            batch_size = ops.shape(inputs)[0]
            h = ops.reshape(self.hidden(inputs), [batch_size, 4, 2])
            h = ops.reshape(ops.tile(h, (1, 1, 2)), [batch_size, -1])
            outputs = ops.zeros([batch_size, 3])
            for _ in range(2):
                outputs += self.head(h) + ops.ones([batch_size, 1]) * 0.25
            return outputs / 2.5

    return Tiled

ATTRIBUTES = ["hidden", "head"]
'''

KERAS_BATCH_SIZED = BATCH_SIZED + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"])
model = define(keras, keras.layers, keras.ops)(name="tiled")
model(x[:2])
for name in ATTRIBUTES:
    getattr(model, name).set_weights([np.array(w, dtype="float32") for w in task["weights"][name]])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
print(json.dumps({"loss": [float(v) for v in history.history["loss"]],
                  "predict": model.predict(x[:7], batch_size=5, verbose=0).tolist()}))
'''


def test_a_call_computing_with_the_batch_size_trains_as_keras(tmp_path):
    """``ops.shape(x)[0]`` in a subclassed model's call() is the batch size when the model runs (it is unknown
    while gpunn learns the graph): shapes and constants made with it fit every batch, a last one of 7 rows too."""
    x, y = _data()
    gpunn.utils.set_random_seed(5)
    namespace: dict = {}
    exec(BATCH_SIZED, namespace)
    model = namespace["define"](gpunn, layers, gpunn.ops)(name="tiled")
    model(x[:2])
    weights = {name: [w.tolist() for w in getattr(model, name).get_weights()] for name in namespace["ATTRIBUTES"]}
    theirs = run_keras(KERAS_BATCH_SIZED, {"x": x.tolist(), "y": y.tolist(), "weights": weights})
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(model.predict(x[:7], batch_size=5, verbose=0), theirs["predict"], rtol=1e-5,
                               atol=1e-6)
    model.save(tmp_path / "tiled.keras")  # (its graph: the batch size of a shape is None in Keras's layout)
    clone = gpunn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for again in (gpunn.models.load_model(tmp_path / "tiled.keras"), clone):
        np.testing.assert_allclose(again.predict(x[:7], verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_a_model_returning_its_inputs_passes_them_on():
    """The TF time-series tutorial's baselines: ``call()`` returning its inputs as they came (``RepeatBaseline``),
    or in a tuple with a layer's output; gpunn's graph takes them through an Identity layer, as Keras returns them."""

    class RepeatBaseline(gpunn.Model):
        def call(self, inputs):
            return inputs

    class Both(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, inputs):
            return inputs, self.dense(inputs)

    x = np.random.default_rng(0).random((16, 3, 4)).astype("float32")
    baseline = RepeatBaseline()
    baseline.compile(loss="mse", metrics=[gpunn.metrics.MeanAbsoluteError()])
    assert baseline.evaluate(x, x, verbose=0, return_dict=True) == {"loss": 0.0, "mean_absolute_error": 0.0}
    np.testing.assert_array_equal(baseline.predict(x, verbose=0), x)
    np.testing.assert_array_equal(baseline(x), x)
    assert baseline.layers == [] and baseline.count_params() == 0
    both = Both()
    passed, dense = both.predict(x, verbose=0)
    np.testing.assert_array_equal(passed, x)
    assert dense.shape == (16, 3, 2) and [type(layer).__name__ for layer in both.layers] == ["Dense"]


def test_a_subclassed_model_of_a_dict_called_first_in_a_graph_or_on_strings():
    """keras-io's feature_preprocessing_layer: a Model subclass whose call() reads a dict, called on a dict of
    ``keras.Input`` before any data (its graph learnt from them), and on a dict of string columns (which stay
    strings for its StringLookup). Values as Keras 3.15 gives them (on TensorFlow, for the strings)."""
    layers = gpunn.layers
    rng = np.random.default_rng(0)
    data = {"a": rng.normal(5, 2, (100, 1)).astype("float32"), "b": rng.normal(-1, 3, (100, 1)).astype("float32")}

    class Numbers(gpunn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm = {f: layers.Normalization() for f in "ab"}

        def call(self, inputs):
            return layers.concatenate([n(inputs[f]) for f, n in self.norm.items()])

    numbers = Numbers()
    for f, n in numbers.norm.items():
        n.adapt(data[f])
    inputs = {f: gpunn.Input(shape=(1,), name=f) for f in "ab"}
    assert tuple(numbers(inputs).shape) == (None, 2)
    np.testing.assert_allclose(np.asarray(numbers(data))[:2], [[0.0464, 0.5789], [-0.2216, 1.0885]], atol=1e-4)

    class Mixed(gpunn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.lookup = layers.StringLookup(output_mode="one_hot")
            self.norm = layers.Normalization()

        def call(self, inputs):
            return layers.concatenate([self.norm(inputs["x"]), self.lookup(inputs["c"])])

    columns = {"x": np.array([[1.0], [2.0], [3.0], [4.0]]), "c": np.array([[" a"], [" b"], [" a"], [" c"]],
                                                                         dtype=object)}
    mixed = Mixed()
    mixed.lookup.adapt(columns["c"])
    mixed.norm.adapt(columns["x"])
    np.testing.assert_allclose(np.asarray(mixed(columns)),
                               [[-1.3416407, 0, 1, 0, 0], [-0.4472136, 0, 0, 0, 1], [0.4472136, 0, 1, 0, 0],
                                [1.3416407, 0, 0, 1, 0]], atol=1e-6)


ONE_VALUE_PER_SAMPLE = r'''
import json, sys
import numpy as np


def run(keras, folder):
    """TensorFlow's pandas tutorial: a subclassed model fitted on a dict of columns of one value per sample."""
    class Stacked(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, inputs):
            return self.dense(keras.ops.stack([inputs["a"], inputs["b"]], axis=-1))

    class Expanded(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(keras.ops.expand_dims(x, -1))

    rng = np.random.default_rng(0)
    columns = {"a": rng.normal(size=12).astype("float32"), "b": rng.normal(size=12).astype("float32")}
    target = (columns["a"] - 2 * columns["b"]).astype("float32")
    out = {}
    for name, model, x in (("dict", Stacked(), columns), ("array", Expanded(), columns["a"])):
        model.predict(x, verbose=0)  # built by its first call
        model.set_weights([np.full(w.shape, 0.3, "float32") for w in model.get_weights()])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        history = model.fit(x, target, batch_size=4, epochs=2, shuffle=False, verbose=0)
        out[name] = {"loss": history.history["loss"], "predict": model.predict(x, verbose=0).tolist()}
    return out
'''


def test_one_value_per_sample_trains_a_subclassed_model_as_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(ONE_VALUE_PER_SAMPLE, tmp_path_factory)
    for name in ("dict", "array"):
        np.testing.assert_allclose(ours[name]["loss"], theirs[name]["loss"], rtol=1e-5)
        np.testing.assert_allclose(ours[name]["predict"], theirs[name]["predict"], rtol=1e-5, atol=1e-6)
        assert np.shape(ours[name]["predict"]) == (12, 1)


def test_a_random_draw_on_the_symbolic_batch_in_a_subclassed_call_says_where_to_draw():
    """Dive into Deep Learning's DropoutMLPScratch draws its mask with keras.random.uniform(ops.shape(h)) in a
    subclassed model's call(), which gpunn runs once to learn the graph: refused naming Dropout and a layer's call()."""
    ops = gpunn.ops

    class ScratchDropout(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.seed = gpunn.random.SeedGenerator(1)
            self.hidden, self.out = gpunn.layers.Dense(4, activation="relu"), gpunn.layers.Dense(2)

        def call(self, x, training=None):
            h = self.hidden(x)
            mask = gpunn.random.uniform(ops.shape(h), minval=0, maxval=1, seed=self.seed) < 0.5
            return self.out(ops.cast(mask, "float32") * h / 0.5)

    with pytest.raises(ValueError, match=r"shape: keras.random draws of shape \(None, 4\), .*keras.layers.Dropout.*"
                                         r"a keras.layers.Layer subclass"):
        ScratchDropout()(np.ones((2, 3), "float32"))


def test_a_python_loop_on_a_whole_batch_value_in_a_subclassed_call_says_why_it_cannot_run():
    """Dive into Deep Learning's FixedHiddenMLP: ``while ops.sum(ops.abs(x)) > 1: x /= 2`` in call()."""
    ops = gpunn.ops

    class FixedHidden(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.linear = gpunn.layers.Dense(4)

        def call(self, x):
            x = self.linear(x)
            while ops.sum(ops.abs(x)) > 1:
                x /= 2
            return x

    with pytest.raises(TypeError, match=r"an if or while on data values cannot be traced; compute it in the "
                                        r"call\(\) of a layer of your own"):
        FixedHidden()(np.ones((2, 3), "float32"))


def test_a_clone_needing_a_class_not_registered_says_so_rather_than_cloning_the_graph():
    """clone_model of a subclassed model whose get_config serializes a layer of an unregistered class: Keras
    cannot make it again and says so; gpunn names the class (not a silent functional clone)."""
    from gpunn.custom_objects import MissingCustomObjectError

    class Block(gpunn.layers.Layer):  # (not registered)
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units, self.dense = units, gpunn.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class Holder(gpunn.Model):
        def __init__(self, block=None, **kwargs):
            super().__init__(**kwargs)
            self.block = gpunn.layers.deserialize(block) if isinstance(block, dict) else Block()

        def call(self, x):
            return self.block(x)

        def get_config(self):
            return {"block": gpunn.layers.serialize(self.block)}

    model = Holder()
    model(np.ones((2, 3), "float32"))
    with pytest.raises(MissingCustomObjectError, match="could not locate 'Block'"):
        gpunn.models.clone_model(model)
