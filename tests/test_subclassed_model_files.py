"""A subclassed model's ``.keras`` file as Keras 3 writes one ("Hands-On Machine Learning" chapters 10 and 12: a
WideAndDeepModel, a ResidualRegressor saved and loaded with ``custom_objects``): its class, its ``get_config()``
and its build shape, the weights under its attributes. Each library loads the other's file into an instance of
the class, with its weights and optimizer state (training goes on alike); gpunn loads its own file without the
class as the functional model of the traced graph."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from helpers import numpy_backend, read_in_keras, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

CLASSES = r'''
import json, sys
import numpy as np


def define(keras):
    layers = keras.layers

    class WideAndDeepModel(keras.Model):  # the book's chapter 10, two inputs, a units argument
        def __init__(self, units=30, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.hidden1 = layers.Dense(units, activation=activation)
            self.hidden2 = layers.Dense(units, activation=activation)
            self.main_output = layers.Dense(1)

        def call(self, inputs):
            input_wide, input_deep = inputs
            hidden2 = self.hidden2(self.hidden1(input_deep))
            return self.main_output(layers.concatenate([input_wide, hidden2]))

    class Regressor(keras.Model):  # a get_config of its own, as chapter 12's ResidualRegressor
        def __init__(self, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.output_dim = output_dim
            self.hidden = layers.Dense(6, activation="relu")
            self.out = layers.Dense(output_dim)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

        def get_config(self):
            return {**super().get_config(), "output_dim": self.output_dim}

    return WideAndDeepModel, Regressor


def data():
    rng = np.random.default_rng(3)
    wide, deep = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 4)).astype("float32")
    return wide, deep, (wide[:, :1] - deep[:, 1:2]).astype("float32")


def drawn(model):
    model.set_weights([np.random.default_rng(k).normal(0, 0.4, w.shape).astype("float32")
                       for k, w in enumerate(model.get_weights())])


def run(keras, folder):
    WideAndDeepModel, Regressor = define(keras)
    wide, deep, y = data()
    out = {"folder": folder}
    # (Keras 3.15 records a subclassed model's default arguments, not those it was given: given here as default)
    model = WideAndDeepModel(units=30, activation="relu", name="my_cool_model")
    model((wide[:1], deep[:1]))
    drawn(model)
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(0.01))
    model.fit((wide, deep), y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    out["wide_config"] = model.get_config()
    model.save(f"{folder}/wide.keras")
    out["wide_predict"] = model.predict((wide[:3], deep[:3]), verbose=0).tolist()
    out["wide_go_on"] = model.fit((wide, deep), y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]

    model = Regressor(output_dim=2)
    model(deep[:1])
    drawn(model)
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(deep, np.hstack([y, -y]), epochs=2, batch_size=8, shuffle=False, verbose=0)
    out["regressor_config"] = model.get_config()
    model.save(f"{folder}/regressor.keras")
    out["regressor_predict"] = model.predict(deep[:3], verbose=0).tolist()
    out["regressor_go_on"] = model.fit(deep, np.hstack([y, -y]), epochs=2, batch_size=8, shuffle=False,
                                       verbose=0).history["loss"]
    return out


def read(keras, folder):
    """The files of ``run`` loaded with their classes: the class, its arguments, predictions, training on."""
    WideAndDeepModel, Regressor = define(keras)
    wide, deep, y = data()
    out = {}
    model = keras.models.load_model(f"{folder}/wide.keras", custom_objects={"WideAndDeepModel": WideAndDeepModel})
    out["wide"] = [type(model).__name__, model.name, model.predict((wide[:3], deep[:3]), verbose=0).tolist(),
                   model.fit((wide, deep), y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]]
    with keras.saving.custom_object_scope({"Regressor": Regressor}):
        model = keras.models.load_model(f"{folder}/regressor.keras")
    out["regressor"] = [type(model).__name__, model.output_dim, model.predict(deep[:3], verbose=0).tolist(),
                        model.fit(deep, np.hstack([y, -y]), epochs=2, batch_size=8, shuffle=False,
                                  verbose=0).history["loss"]]
    return out
'''

@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(CLASSES, tmp_path_factory)


def test_get_config_is_keras_s(both):
    ours, theirs = both
    assert ours["wide_config"] == theirs["wide_config"]
    assert ours["regressor_config"] == theirs["regressor_config"]


def test_get_config_holds_the_arguments_the_model_was_made_with(numpy_backend):
    """Keras's auto-config: the arguments of the constructor, defaults included (Keras 3.15's Model.__new__ drops
    those given, so its config holds the defaults and its file builds another model; gpunn keeps those given)."""
    namespace: dict = {}
    exec(compile(CLASSES, "subclassed_files.py", "exec"), namespace)
    WideAndDeepModel, _ = namespace["define"](gpunn)
    config = WideAndDeepModel(5, activation="tanh", name="m").get_config()
    assert {key: config[key] for key in ("name", "units", "activation", "trainable")} == {
        "name": "m", "units": 5, "activation": "tanh", "trainable": True}
    again = WideAndDeepModel.from_config(config)
    assert type(again) is WideAndDeepModel and again.get_config() == config


def _config_member(folder, name):
    with zipfile.ZipFile(f"{folder}/{name}") as archive:
        config = json.loads(archive.read("config.json"))
    config.pop("compile_config", None)
    return config


@pytest.mark.parametrize("name", ["wide.keras", "regressor.keras"])
def test_the_file_names_the_class_as_keras_s_does(both, name):
    ours, theirs = both
    mine, kerass = _config_member(ours["folder"], name), _config_member(theirs["folder"], name)
    # (Keras records the shape of the first batch it was built on; gpunn the batch axis as None)
    for entry in (mine, kerass):
        entry.pop("module")  # (a class made in exec'd code: 'builtins' here, '__main__' in Keras's process)
        shape = entry.pop("build_config")["input_shape"]
        entry["features"] = [s[1:] for s in shape] if isinstance(shape[0], list) else shape[1:]
    assert mine == kerass


def test_each_library_loads_the_other_s_file_into_the_class(both, numpy_backend):
    ours, theirs = both
    namespace: dict = {}
    exec(compile(CLASSES, "subclassed_files.py", "exec"), namespace)
    gpunn.backend.clear_session()
    read_by_gpunn = namespace["read"](gpunn, theirs["folder"])
    read_by_keras = read_in_keras(CLASSES, ours["folder"])
    for read_by, wrote in ((read_by_gpunn, theirs), (read_by_keras, ours)):
        assert read_by["wide"][:2] == ["WideAndDeepModel", "my_cool_model"]
        assert read_by["regressor"][:2] == ["Regressor", 2]
        np.testing.assert_allclose(read_by["wide"][2], wrote["wide_predict"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(read_by["regressor"][2], wrote["regressor_predict"], rtol=1e-5, atol=1e-6)
        # the optimizer state came too: training goes on as it did in the model that was saved
        np.testing.assert_allclose(read_by["wide"][3], wrote["wide_go_on"], rtol=1e-4)
        np.testing.assert_allclose(read_by["regressor"][3], wrote["regressor_go_on"], rtol=1e-4)


def test_without_its_class_gpunn_s_file_loads_as_the_traced_graph(both, numpy_backend):
    ours, _ = both
    namespace: dict = {}
    exec(compile(CLASSES, "subclassed_files.py", "exec"), namespace)
    wide, deep, _ = namespace["data"]()
    with pytest.warns(UserWarning, match="its optimizer starts afresh"):
        model = gpunn.models.load_model(f"{ours['folder']}/wide.keras")
    assert type(model).__name__ == "Functional"
    np.testing.assert_allclose(model.predict([wide[:3], deep[:3]], verbose=0), ours["wide_predict"], rtol=1e-6)


def test_without_its_class_keras_s_file_names_the_class(both, numpy_backend):
    _, theirs = both
    with pytest.raises(gpunn.custom_objects.MissingCustomObjectError, match="'WideAndDeepModel'"):
        gpunn.models.load_model(f"{theirs['folder']}/wide.keras")


def test_clone_model_makes_the_class_again_as_keras_does(numpy_backend):
    """Keras's clone of a subclassed model: the class from its config, built, compiled, with new weights."""
    namespace: dict = {}
    exec(compile(CLASSES, "subclassed_files.py", "exec"), namespace)
    _, Regressor = namespace["define"](gpunn)
    model = Regressor(output_dim=2, name="regressor")
    model(np.ones((2, 4), "float32"))
    model.compile(optimizer="adam", loss="mse")
    clone = gpunn.models.clone_model(model)
    assert type(clone) is Regressor and clone.output_dim == 2 and clone.built and clone.compiled
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])


HELD_SUBCLASSES = r'''
import json, os, sys
import numpy as np


def define(keras):
    @keras.saving.register_keras_serializable(package="held_subclass_test")
    class Tree(keras.Model):
        """keras.io's neural decision tree, reduced: weights of its own beside a layer."""
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.leaves = self.add_weight(shape=(4, units), initializer="ones", name="leaves")
            self.head = keras.layers.Dense(2, kernel_initializer="ones")

        def call(self, inputs):
            return self.head(keras.ops.matmul(inputs, self.leaves))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @keras.saving.register_keras_serializable(package="held_subclass_test")
    class Tower(keras.Model):
        def __init__(self, width=3, **kwargs):
            super().__init__(**kwargs)
            self.width = width
            self.hidden = keras.layers.Dense(width, activation="relu")
            self.out = keras.layers.Dense(2)

        def call(self, inputs):
            return self.out(self.hidden(inputs)) + inputs[:, :1]  # (an operation of the held model's)

        def get_config(self):
            return {**super().get_config(), "width": self.width}

    inner_input = keras.Input((4,))  # a held functional model with an operation of its own
    residual = keras.Model(inner_input, keras.layers.Dense(4)(inner_input) * 0.5 + inner_input, name="residual")
    inputs = keras.Input((4,))
    joined = keras.layers.Concatenate()([Tree(3)(inputs), Tower(5)(residual(inputs))])
    return keras.Model(inputs, keras.layers.Dense(1)(joined))


X = np.arange(8, dtype="float32").reshape(2, 4) / 8


def run(keras, folder):
    model = define(keras)
    model.set_weights([np.full(w.shape, 0.1 * (k + 1), "float32") for k, w in enumerate(model.get_weights())])
    model.save(os.path.join(folder, "held.keras"))
    loaded = keras.models.load_model(os.path.join(folder, "held.keras"))
    return {"predicted": model.predict(X, verbose=0).tolist(), "loaded": loaded.predict(X, verbose=0).tolist()}


def read(keras, folder):
    define(keras)  # (registers the classes)
    return {"loaded": keras.models.load_model(os.path.join(folder, "held.keras")).predict(X, verbose=0).tolist()}
'''


def test_a_functional_model_holding_subclassed_models_saves_and_loads_as_keras_s(tmp_path_factory):
    """keras.io's neural decision forest holds its trees, keras.Model subclasses (one with weights of its own), in
    a functional model: the .keras file names their classes as Keras's does, and loads both ways."""
    from helpers import FOLDER_MAIN, read_in_keras, run_keras, run_script_both_ways

    ours, theirs = run_script_both_ways(HELD_SUBCLASSES, tmp_path_factory)
    np.testing.assert_allclose(ours["predicted"], theirs["predicted"], rtol=1e-6)
    np.testing.assert_allclose(ours["loaded"], ours["predicted"], rtol=1e-6)
    np.testing.assert_allclose(theirs["loaded"], theirs["predicted"], rtol=1e-6)
    folder = tmp_path_factory.mktemp("written_by_gpunn")
    namespace: dict = {}
    exec(compile(HELD_SUBCLASSES, "held.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        namespace["run"](gpunn, str(folder))
    np.testing.assert_allclose(read_in_keras(HELD_SUBCLASSES, folder)["loaded"], ours["predicted"], rtol=1e-6)
    written_by_keras = tmp_path_factory.mktemp("written_by_keras")
    run_keras(HELD_SUBCLASSES + FOLDER_MAIN, {"folder": str(written_by_keras)})
    with gpunn.use_backend("numpy"):
        np.testing.assert_allclose(namespace["read"](gpunn, str(written_by_keras))["loaded"], theirs["predicted"],
                                   rtol=1e-6)


def test_a_subclassed_model_with_dropout_loads_in_the_process_that_saved_it_and_resumes_its_masks(numpy_backend,
                                                                                                   tmp_path):
    """Made again from its class in the same process, its layers get other generated names ('dropout_1'): the
    Dropout's draw counter is found by its attribute path, so training resumes with the masks it would have drawn."""
    @gpunn.saving.register_keras_serializable(package="dropout_counter_test")
    class Dropped(gpunn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = gpunn.layers.Dense(4)
            self.dropout = gpunn.layers.Dropout(0.5, seed=3)
            self.out = gpunn.layers.Dense(1)

        def call(self, inputs, training=None):
            return self.out(self.dropout(self.hidden(inputs), training=training))

    x = np.linspace(0, 1, 24, dtype=np.float32).reshape(8, 3)
    model = Dropped()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], epochs=3, verbose=0)
    model.save(tmp_path / "dropped.keras")
    loaded = gpunn.models.load_model(tmp_path / "dropped.keras")
    assert loaded.dropout.name != model.dropout.name and loaded.dropout.counter == model.dropout.counter > 0
    resumed = [m.fit(x, x[:, :1], epochs=2, shuffle=False, verbose=0).history for m in (model, loaded)]
    assert resumed[0] == resumed[1]
