"""Layers of the user's, as Keras's guide "Making new layers and models via subclassing" writes them: weights
from add_weight (in __init__ or build), call() with keras.ops. Trained as Keras trains them (one Keras process
for every case, files both ways), their gradients against finite differences in float64, replays against eager
steps (bit for bit), and what they refuse."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, run_keras

SCRIPT = '''
def definitions(keras):
    ops = keras.ops

    class Linear(keras.layers.Layer):  # the guide's, its weights made in build()
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True, name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True, name="b")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class ScaledTanh(keras.layers.Layer):  # weights made in __init__, a penalty, element-wise and broadcasting
        def __init__(self, width=4, **kwargs):
            super().__init__(**kwargs)
            self.width = width
            self.scale = self.add_weight(shape=(width,), initializer="ones", regularizer="l2", name="scale")
            self.shift = self.add_weight(shape=(1, width), initializer="zeros", name="shift")

        def call(self, inputs):
            return ops.tanh(inputs - self.shift) * self.scale + 0.1 * ops.square(inputs)

        def get_config(self):
            return {**super().get_config(), "width": self.width}

    class RunningSum(keras.layers.Layer):  # the guide's ComputeSum: a non-trainable weight assigned in call
        def build(self, input_shape):
            self.total = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False,
                                         name="total")

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return inputs

    return Linear, ScaledTanh, RunningSum


def halve(x):  # a named function for a Lambda layer (files name it; custom_objects finds it)
    return x * 0.5


def run(keras, x, y, initial, tmp):
    Linear, ScaledTanh, RunningSum = definitions(keras)
    inputs = keras.Input(shape=(4,))
    hidden = ScaledTanh(4, name="scaled")(keras.layers.Dense(4, name="dense")(inputs))
    hidden = keras.layers.Lambda(halve, name="halve")(hidden)
    outputs = Linear(1, name="linear")(RunningSum(name="running")(hidden))
    model = keras.Model(inputs, outputs)
    for layer in model.layers:
        if layer.name in initial:
            layer.set_weights(initial[layer.name])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp + "/model.keras")
    return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "weights": {layer.name: [w.tolist() for w in layer.get_weights()] for layer in model.layers},
            "predict": model.predict(x, verbose=0).tolist()}
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32")
initial = {name: [np.array(w, dtype="float32") for w in values] for name, values in task["initial"].items()}
out = run(keras, x, y, initial, task["dir"] + "/keras")
Linear, ScaledTanh, RunningSum = definitions(keras)
mine = keras.saving.load_model(task["dir"] + "/gpunn/model.keras",
                               custom_objects={"Linear": Linear, "ScaledTanh": ScaledTanh, "RunningSum": RunningSum,
                                               "halve": halve})
out["gpunn's file"] = mine.predict(x, verbose=0).tolist()
# a lambda is written as Keras writes it (bytecode), which Keras loads with safe_mode=False
mine = keras.saving.load_model(task["dir"] + "/gpunn/lambda.keras", safe_mode=False)
out["gpunn's lambda"] = mine.predict(x, verbose=0).tolist()
print(json.dumps(out))
'''


def _data(rows=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    return x, (np.sin(x[:, :1]) + x[:, 1:2]).astype("float32")


def test_layers_of_the_user_s_train_and_save_as_in_keras(tmp_path):
    x, y = _data()
    for side in ("gpunn", "keras"):
        (tmp_path / side).mkdir()
    namespace: dict = {}
    exec(SCRIPT, namespace)
    Linear, ScaledTanh, RunningSum = namespace["definitions"](gpunn)
    initial = {"dense": [np.random.default_rng(1).normal(size=(4, 4)).astype("float32"), np.zeros(4, "float32")],
               "scaled": [np.linspace(0.5, 1.5, 4).astype("float32"), np.full((1, 4), 0.1, "float32")],
               "linear": [np.random.default_rng(2).normal(size=(4, 1)).astype("float32"), np.zeros(1, "float32")]}
    ours = namespace["run"](gpunn, x, y, initial, str(tmp_path / "gpunn"))
    tripled = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Lambda(lambda t: t * 3.0 + 1.0)])
    tripled.save(tmp_path / "gpunn" / "lambda.keras")
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                    "initial": {k: [w.tolist() for w in v] for k, v in initial.items()}})
    assert sorted(ours["history"]) == sorted(theirs["history"]) == ["loss"]
    np.testing.assert_allclose(ours["history"]["loss"], theirs["history"]["loss"], rtol=1e-4)
    for name in ("dense", "scaled", "running", "linear"):
        for mine, keras_weight in zip(ours["weights"][name], theirs["weights"][name]):
            np.testing.assert_allclose(mine, keras_weight, rtol=1e-4, atol=1e-5, err_msg=name)
    assert np.any(np.array(ours["weights"]["running"][0]) != 0)  # the non-trainable sum moved, as in Keras
    np.testing.assert_allclose(ours["predict"], theirs["predict"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(theirs["gpunn's file"], ours["predict"], rtol=1e-5, atol=1e-6)  # Keras loads ours
    np.testing.assert_allclose(theirs["gpunn's lambda"], x * 3.0 + 1.0, rtol=1e-6)
    with pytest.raises(gpunn.models.NotAModelFileError, match="saved as Python bytecode, which gpunn never loads"):
        gpunn.models.load_model(tmp_path / "gpunn" / "lambda.keras")
    loaded = gpunn.models.load_model(tmp_path / "keras" / "model.keras",
                                     custom_objects={"Linear": Linear, "ScaledTanh": ScaledTanh,
                                                     "RunningSum": RunningSum, "halve": namespace["halve"]})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers[1:]] == ["Dense", "ScaledTanh", "Lambda", "RunningSum",
                                                                      "Linear"]


def test_a_layer_of_the_user_s_matches_finite_differences():
    """d loss / d (its weights and everything before it), in float64, with its weight penalty."""
    namespace: dict = {}
    exec(SCRIPT, namespace)
    Linear, ScaledTanh, _ = namespace["definitions"](gpunn)
    gpunn.utils.set_random_seed(5)
    model = gpunn.Sequential([gpunn.Input(shape=(3,), dtype="float64"), layers.Dense(4, dtype="float64"),
                              ScaledTanh(4, dtype="float64"), Linear(2, dtype="float64")])
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    model.layers[1].set_weights([np.linspace(0.5, 1.5, 4), np.full((1, 4), 0.2)])

    def objective(_):
        penalty = 0.01 * (model.layers[1].get_weights()[0] ** 2).sum()
        return ((model.predict(x, verbose=0) - y) ** 2).mean() + penalty

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params through a layer of the user's")


def test_layers_of_the_user_s_replay_bit_for_bit():
    namespace: dict = {}
    exec(SCRIPT, namespace)
    Linear, ScaledTanh, RunningSum = namespace["definitions"](gpunn)
    x, y = _data(70)

    def run(jit):
        gpunn.utils.set_random_seed(7)
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), ScaledTanh(4), layers.Dropout(0.1), RunningSum(),
                                  Linear(1)])
        model.compile(optimizer="adam", loss="mae", metrics=["mse"], jit_compile=jit, steps_per_execution=2)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2)
        return model, history.history

    assert_same_training(run(False), run(True))


def test_what_a_layer_of_the_user_s_refuses():
    namespace: dict = {}
    exec(SCRIPT, namespace)
    Linear = namespace["definitions"](gpunn)[0]

    class DropsTheGradient(gpunn.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return inputs * np.asarray(self.w)  # NumPy would drop w's gradient

    class OneRow(gpunn.layers.Layer):
        def call(self, inputs):
            return gpunn.ops.sum(inputs, axis=0, keepdims=True)

    x, y = _data()
    for layer, error, message in ((DropsTheGradient(), TypeError, "would drop its gradient"),
                                  (OneRow(), ValueError, "returned shape .* a layer in a model returns one row per sample")):
        with pytest.raises(error, match=message):
            model = gpunn.Sequential([gpunn.Input(shape=(4,)), layer, layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
            model.fit(x, y, epochs=1, verbose=0)
    layer = Linear(3)
    assert layer(x[:2]).shape == (2, 3) and [w.shape for w in layer.weights] == [(4, 3), (3,)]
    assert layer(gpunn.ops.ones((2, 4))).shape == (2, 3)  # a gpunn.ops result, as the guide calls it

    class ComputeSum(gpunn.layers.Layer):  # the guide's, on its own: its result is not one row per sample
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(gpunn.ops.sum(inputs, axis=0))
            return self.total

    summed = ComputeSum(3)
    np.testing.assert_array_equal(summed(np.ones((2, 3))), [2, 2, 2])
    np.testing.assert_array_equal(summed(np.ones((2, 3))), [4, 4, 4])
    assert len(summed.non_trainable_weights) == 1 and summed.trainable_weights == []
    with pytest.raises(ValueError, match="already has a weight 'w'"):
        layer.add_weight(shape=(2,), name="w")


def test_a_lambda_s_output_shape_must_be_what_its_function_returns():
    """Keras's ``output_shape`` (a sample's shape, or a function of the batch shape) is checked against the shape
    gpunn learns from one call; a wrong one is refused, naming it, rather than kept unused."""
    double = lambda t: t * 2.0  # noqa: E731
    for fine in ((4,), (None,), lambda shape: shape):
        gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Lambda(double, output_shape=fine)])
    for wrong, said in (((3,), r"\(3,\)"), (lambda shape: (shape[0], 7), r"\(7,\)"), ((4, 1), r"\(4, 1\)")):
        with pytest.raises(ValueError, match=rf"output_shape: layer .* was given output_shape={said} .* returns "
                                             r"samples of shape \(4,\)"):
            gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Lambda(double, output_shape=wrong)])


class _ConfiguredDense(layers.Layer):
    """The functional API guide's CustomDense, with the get_config() that makes it serializable."""

    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return gpunn.ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {"units": self.units}


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_from_config_takes_the_user_s_classes_from_custom_objects(kind):
    """``keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})`` (the functional API
    guide): the config names the class, custom_objects gives it."""
    if kind == "functional":
        inputs = gpunn.Input((4,))
        model, cls = gpunn.Model(inputs, _ConfiguredDense(10)(inputs)), gpunn.Model
    else:
        model, cls = gpunn.Sequential([gpunn.Input((4,)), _ConfiguredDense(10)]), gpunn.Sequential
    config = model.get_config()
    with pytest.raises(ValueError, match="_ConfiguredDense.*custom_objects"):
        cls.from_config(config)
    again = cls.from_config(config, custom_objects={"_ConfiguredDense": _ConfiguredDense})
    assert type(again.layers[-1]) is _ConfiguredDense and again.layers[-1].units == 10
    again.set_weights(model.get_weights())  # (its get_config() names no layer: a new name, as in Keras)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="_ConfiguredDense"):  # the scope ends with the call
        cls.from_config(config)


def test_training_reaches_a_call_that_names_it_not_one_taking_only_kwargs():
    """Keras passes ``training`` to a call() whose signature names it (``Layer._call_has_training_arg``), not to
    one taking ``**kwargs``."""
    seen = []

    class Kwargs(gpunn.layers.Layer):
        def call(self, x, **kwargs):
            seen.append(sorted(kwargs))
            return x

    class Named(gpunn.layers.Layer):
        def call(self, x, training=None):
            seen.append(training)
            return x

    x = np.ones((4, 3), np.float32)
    Kwargs()(x, training=True)
    assert seen and all(entry == [] for entry in seen)  # the calls that build it, and this one
    seen.clear()
    Named()(x, training=True)
    assert seen[-1] is True


GATED = '''
class Gated(keras.layers.Layer):
    """keras-io's GatedResidualNetwork pattern: a projection made in __init__, used only when the widths differ."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, activation="elu")
        self.project = keras.layers.Dense(units)

    def build(self):  # (keras-io's VariableSelection: a build taking no shape)
        self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

    def call(self, inputs):
        if inputs.shape[-1] != self.units:
            inputs = self.project(inputs)
        return (inputs + self.dense(inputs)) * self.scale

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def gated_model(width):
    inputs = keras.Input((width,))
    return keras.Model(inputs, keras.layers.Dense(1)(Gated(4)(inputs)))
'''

GATED_KERAS_SIDE = r"""
import json, sys
import numpy as np
import keras
""" + GATED + r"""
task = json.loads(sys.stdin.read())
print(json.dumps({str(width): [list(w.shape) for w in gated_model(width).weights] for width in (4, 3)}))
"""


def test_a_build_taking_no_shape_and_a_sublayer_never_called_are_as_in_keras(tmp_path):
    """A layer's ``build(self)`` is called without a shape; a sublayer made in ``__init__`` that ``call()`` never
    calls is never built and has no weights (the model of width 4 skips the projection), as in Keras."""
    namespace = {"keras": gpunn}
    exec(GATED, namespace)
    theirs = run_keras(GATED_KERAS_SIDE, {})
    x, y = np.random.default_rng(0).normal(size=(32, 4)).astype("float32"), np.zeros((32, 1), "float32")
    for width in (4, 3):
        model = namespace["gated_model"](width)
        assert [list(w.shape) for w in model.weights] == theirs[str(width)], width
        model.compile(optimizer="adam", loss="mse")
        model.fit(x[:, :width], y, epochs=1, verbose=0)
        model.save(tmp_path / f"gated{width}.keras")
        loaded = gpunn.models.load_model(tmp_path / f"gated{width}.keras",
                                         custom_objects={"Gated": namespace["Gated"]})
        np.testing.assert_allclose(loaded.predict(x[:, :width], verbose=0), model.predict(x[:, :width], verbose=0),
                                   rtol=1e-6)


ADD_WEIGHT_CALLS = r'''
class Weighted(keras.layers.Layer):
    def __init__(self, how):
        super().__init__()
        self.how = how

    def build(self, input_shape):
        self.w = eval(self.how, {"self": self})

    def call(self, x):
        return x


def outcome(how):
    """What add_weight made (its shape) or refused (the exception's type and message)."""
    try:
        layer = Weighted(how)
        layer(np.ones((2, 3), "float32"))
        return ["made", list(layer.w.shape), float(np.asarray(layer.w).ravel()[0])]
    except Exception as error:
        return [type(error).__name__, str(error)]


HOWS = ['self.add_weight((3, 2), "ones")', 'self.add_weight((2,), "zeros", "float32")',
        'self.add_variable((4,), "ones")', 'self.add_weight("kernel", (3,))',
        'self.add_weight((3,), "ones", "float32", True)', 'self.add_weight((3,), shape=(3,))',
        'self.add_weight((3,), "ones", initializer="zeros")',
        'self.add_weight((3,), "ones", "float32", dtype="float32")']
'''

ADD_WEIGHT_KERAS_SIDE = r"""
import json, sys
import numpy as np
import keras
""" + ADD_WEIGHT_CALLS + r"""
print(json.dumps([outcome(how) for how in HOWS]))
"""


def test_add_weight_takes_and_refuses_positional_arguments_as_keras_3():
    """Keras 3's ``add_weight(shape, initializer, dtype)`` by position (Keras 2's order) and ``add_variable``, with
    Keras's errors for a name given first, too many positional arguments, or one given twice."""
    namespace = {"keras": gpunn, "np": np}
    exec(ADD_WEIGHT_CALLS, namespace)
    ours = [namespace["outcome"](how) for how in namespace["HOWS"]]
    assert ours == run_keras(ADD_WEIGHT_KERAS_SIDE, {})
    assert [kind for kind, *_ in ours] == ["made"] * 3 + ["ValueError", "TypeError"] + ["ValueError"] * 3


def test_a_model_subclass_owning_a_weight_runs_as_the_layer_class_does():
    """Keras lets a keras.Model subclass own a weight (keras-io's neural decision forests): such a model's call()
    runs as one layer of the user's, and computes what the same class written as a keras.layers.Layer computes
    (tests/test_model_own_weights.py checks it against Keras)."""

    def tree_class(base):
        class Tree(base):
            def __init__(self):
                super().__init__()
                self.pi = self.add_weight(shape=[4, 2], initializer="random_normal")
                self.decide = layers.Dense(4, activation="sigmoid")

            def call(self, x):
                return gpunn.ops.matmul(self.decide(x), gpunn.activations.softmax(self.pi))

        return Tree

    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    predictions = []
    for base in (gpunn.Model, layers.Layer):
        inputs = gpunn.Input((3,))
        model = gpunn.Model(inputs, tree_class(base)()(inputs))
        assert len(model.trainable_weights) == 3
        model.set_weights([np.full(w.shape, 0.1 * (k + 1), "float32") for k, w in enumerate(model.weights)])
        predictions.append(model.predict(x, verbose=0))
    assert predictions[0].shape == (5, 2)
    np.testing.assert_array_equal(predictions[0], predictions[1])


@pytest.mark.parametrize("hook", ["save_own_variables", "load_own_variables", "save_assets", "load_assets"])
def test_a_layer_s_own_saving_hooks_are_refused_by_name(tmp_path, hook):
    """Keras calls a layer's save_own_variables / load_own_variables / save_assets / load_assets (the guide
    "Customizing Saving and Serialization"); gpunn writes the weights itself and would skip them: refused when
    saving and loading, naming the hook, rather than losing the state they carry."""

    class Plain(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.scale = self.add_weight(shape=(3,), initializer="ones", name="scale")

        def call(self, x):
            return x * self.scale

    model = gpunn.Sequential([gpunn.Input((3,)), Plain()])
    model.save(tmp_path / "plain.keras")
    Hooked = type("Plain", (Plain,), {hook: lambda self, store: None})  # (its file paths are Plain's)
    hooked = gpunn.Sequential([gpunn.Input((3,)), Hooked()])
    for action in (lambda: hooked.save(tmp_path / "hooked.keras"),
                   lambda: hooked.save_weights(tmp_path / "hooked.weights.h5"),
                   lambda: hooked.load_weights(tmp_path / "plain.keras"),
                   lambda: gpunn.models.load_model(tmp_path / "plain.keras", custom_objects={"Plain": Hooked})):
        with pytest.raises(gpunn.overrides.OverrideNotSupportedError, match=f"Plain.{hook}: .* in gpunn does not use"):
            action()
    assert not (tmp_path / "hooked.keras").exists()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes (add_note) came with Python 3.11")
def test_an_error_inside_call_names_the_layer_whose_call_it_was():
    """keras.io's debugging tips: an error deep inside an operation (a matmul of mismatched shapes) says which
    layer's call() it came from, as Keras's "Exception encountered when calling MyAntirectifierBug.call()"."""
    class MyAntirectifierBug(gpunn.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1] * 2, 4))

        def call(self, inputs):
            pos, neg = gpunn.ops.relu(inputs), gpunn.ops.relu(-inputs)
            return gpunn.ops.matmul(gpunn.ops.concatenate([pos, neg], axis=0), self.kernel)  # axis=-1 meant

    with pytest.raises(ValueError, match="matmul") as caught:
        gpunn.Sequential([gpunn.Input((5,)), MyAntirectifierBug(name="antirectifier")])
    assert caught.value.__notes__ == [
        "Exception encountered when calling MyAntirectifierBug.call() (layer 'antirectifier'), on an input of shape "
        "(None, 5)"]


def test_build_of_no_shape_is_refused_by_name():
    """Keras builds a layer of scalar weights for build(None); gpunn learns a layer's outputs from the shape."""
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(), initializer="ones")

        def call(self, x):
            return x * self.w

    with pytest.raises(ValueError, match=r"build: gpunn builds layer 'scale\w*' \(Scale\) for the shape .* got None"):
        Scale().build(None)
    assert Scale()(np.ones((2, 3), "float32")).shape == (2, 3)


def test_a_call_that_cuts_the_gradient_warns_once_naming_what_gets_none():
    """A value taken off the gradient in call() (.numpy(), ops.convert_to_numpy): Keras 3 on jax cannot trace it,
    tf.keras 2 warned "Gradients do not exist"; gpunn trains on and says which weights, or the layers before, get
    no gradient through the layer."""
    import warnings

    from gpunn import ops

    class Detached(gpunn.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 2), initializer="ones", name="w")

        def call(self, x):
            return ops.convert_to_tensor(ops.matmul(x, self.w).numpy())

    x, y = np.ones((8, 4), "float32"), np.ones((8, 2), "float32")
    model = gpunn.Sequential([gpunn.Input((4,)), Detached(name="detached"), gpunn.layers.Dense(2)])
    model.compile("sgd", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    lost = [str(w.message) for w in caught if "carries no gradient" in str(w.message)]
    assert len(lost) == 1 and "layer 'detached' (Detached)" in lost[0] and "its weights ['w']" in lost[0]

    through = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3),
                                gpunn.layers.Lambda(lambda t: ops.convert_to_tensor(ops.convert_to_numpy(t)),
                                                    name="cut"), gpunn.layers.Dense(1)])
    through.compile("sgd", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        through.fit(x, y[:, :1], epochs=1, verbose=0)
    lost = [str(w.message) for w in caught if "carries no gradient" in str(w.message)]
    assert len(lost) == 1 and "layer 'cut'" in lost[0] and "the layers before it get none through it" in lost[0]

    whole = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3),  # (and argmax cuts it by design)
                              gpunn.layers.Lambda(lambda t: ops.tanh(t) * 2.0 + ops.cast(ops.argmax(t, axis=-1)[:, None]
                                                                                        > 0, "float32")),
                              gpunn.layers.Dense(1)])
    whole.compile("sgd", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        whole.fit(x, y[:, :1], epochs=1, verbose=0)
    assert not [w for w in caught if "carries no gradient" in str(w.message)]


@pytest.mark.parametrize("read", ["numpy", "get_weights"])
def test_a_weight_read_off_the_gradient_in_call_is_warned_of(read):
    """``self.w.numpy()`` or ``self.get_weights()`` in call() leaves that weight untrained (Keras on jax cannot
    trace it): warned of as a tensor's ``.numpy()`` is."""
    import warnings

    from gpunn import ops

    class Scale(gpunn.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 2), initializer="ones", name="w")

        def call(self, x):
            return ops.matmul(x, self.w.numpy() if read == "numpy" else self.get_weights()[0])

    model = gpunn.Sequential([gpunn.Input((3,)), Scale(name="scale"), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), epochs=2, verbose=0)
    lost = [str(w.message) for w in caught if "carries no gradient" in str(w.message)]
    assert len(lost) == 1 and "layer 'scale' (Scale)" in lost[0] and "took a value off the gradient" in lost[0]


def test_layer_metrics_lists_its_own_then_its_layers_as_keras():
    class Inner(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mean = gpunn.metrics.Mean(name="m")
            self.dense = gpunn.layers.Dense(2)

    class Outer(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Inner()
            self.sums = [gpunn.metrics.Sum(name="s")]

    assert gpunn.layers.Dense(2).metrics == []
    assert [metric.name for metric in Outer().metrics] == ["s", "m"]  # (keras 3.15 gives the same)


def test_a_layer_inheriting_build_from_a_base_without_call_builds_as_in_keras():
    """``class Base(Layer)`` with build() alone, ``class Child(Base)`` with call(): Keras builds Child with
    Base's build (a base class of shared weights); gpunn runs it as Child's own."""
    from gpunn import ops

    class Base(gpunn.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 3), initializer="ones")

    class Child(Base):
        def call(self, x):
            return ops.matmul(x, self.w)

    model = gpunn.Sequential([gpunn.Input((4,)), Child(), gpunn.layers.Dense(1, kernel_initializer="ones")])
    model.compile(gpunn.optimizers.SGD(0.01), "mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 1)), verbose=0, epochs=2)
    # (Keras 3.15 on jax: 0.05306418 for both rows, its weight at 'sequential/child/variable')
    np.testing.assert_allclose(model.predict(np.ones((2, 4)), verbose=0).ravel(), [0.05306418] * 2, rtol=1e-6)
    assert model.weights[0].path == f"{model.name}/child/variable"


def test_a_layer_whose_init_skips_super_init_gets_kerass_error():
    """Keras's "you forgot to call `super().__init__()`" (its serialization guide's older CustomLayer), where
    gpunn failed on a missing attribute."""
    message = r"In layer 'Skipped', you forgot to call `super\(\).__init__\(\)` as the first statement"

    class Skipped(gpunn.layers.Layer):
        def __init__(self, value=None):
            if value is not None:
                self.var = gpunn.Variable(value, name="var_a")

        def call(self, x):
            return x

    with pytest.raises(RuntimeError, match=message):
        Skipped(5)  # (an integer Variable: the error named the layer's missing name)
    with pytest.raises(RuntimeError, match=message):
        Skipped()(np.ones((2, 2), "float32"))

    class LayerFirst(gpunn.layers.Layer):  # (a layer set before super().__init__(): Keras keeps it, as here)
        def __init__(self, **kwargs):
            self.inner = gpunn.layers.Dense(2)
            super().__init__(**kwargs)

        def call(self, x):
            return self.inner(x)

    assert LayerFirst()(np.ones((1, 3), "float32")).shape == (1, 2)
