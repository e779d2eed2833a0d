"""A keras.Model subclass made from its graph (``CustomModel(inputs, outputs)``: no call() of its own; an
``__init__`` taking ``*args, **kwargs`` or none of its own) and a keras.Sequential subclass keep their class through
``from_config``, ``.keras`` files, JSON, ``serialize_keras_object`` and (the former) ``clone_model``, as in Keras:
a ``compute_loss`` of the class's own still trains the loaded model."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, read_in_keras, run_keras, run_script_both_ways  # noqa: F401

import gpunn

CLASSES = r'''
import json, os, sys
import numpy as np

def classes(keras, package):
    register = keras.saving.register_keras_serializable(package=package)

    class CustomModel(keras.Model):
        def __init__(self, *args, param=1, **kwargs):
            super().__init__(*args, **kwargs)
            self.param = param

        def get_config(self):
            return super().get_config() | {"param": self.param}

    class DoubledLoss(keras.Model):  # no __init__ of its own
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, training)

    class MySeq(keras.Sequential):
        pass

    return register(CustomModel), register(DoubledLoss), register(MySeq)


def models(keras, package):
    CustomModel, DoubledLoss, MySeq = classes(keras, package)
    init = keras.initializers.GlorotUniform(seed=1)
    i = keras.Input((3,))
    custom = CustomModel(inputs=i, outputs=keras.layers.Dense(5, kernel_initializer=init)(i), param=3)
    i = keras.Input((3,))
    doubled = DoubledLoss(i, keras.layers.Dense(2, kernel_initializer=init)(i))
    seq = MySeq([keras.Input((3,)), keras.layers.Dense(4, kernel_initializer=init)])
    for model in (custom, doubled, seq):
        model.compile(optimizer="sgd", loss="mse")
    return {"custom": custom, "doubled": doubled, "seq": seq}


X = np.arange(12, dtype="float32").reshape(4, 3) / 10
'''

BOTH_WAYS = CLASSES + r'''
def run(keras, folder):
    found = {}
    for name, model in models(keras, "kept").items():
        rows = found[name] = {}
        made = type(model).from_config(model.get_config())
        rows["from_config"] = [type(made).__name__, getattr(made, "param", None)]
        path = os.path.join(folder, name + ".keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        rows["load"] = [type(loaded).__name__, getattr(loaded, "param", None),
                        bool(np.allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0)))]
        from_json = keras.models.model_from_json(model.to_json())
        rows["json"] = [type(from_json).__name__, getattr(from_json, "param", None)]
        clone = keras.models.clone_model(model)
        rows["clone"] = [type(clone).__name__, getattr(clone, "param", None)]
        entry = keras.saving.serialize_keras_object(model)
        again = keras.saving.deserialize_keras_object(entry)
        rows["serialized"] = [entry["class_name"], type(again).__name__, getattr(again, "param", None)]
    return found
'''


def test_the_class_is_kept_as_keras_keeps_it(tmp_path_factory):
    ours, theirs = run_script_both_ways(BOTH_WAYS, tmp_path_factory)
    assert ours == theirs
    assert ours["custom"]["load"] == ["CustomModel", 3, True]
    assert ours["custom"]["clone"] == ["CustomModel", 1]  # (Keras's clone passes the graph and name alone)
    assert ours["seq"]["load"][0] == "MySeq" and ours["seq"]["clone"][0] == "Sequential"


def test_a_loaded_model_trains_with_its_class_s_compute_loss(tmp_path):
    namespace: dict = {}
    exec(compile(CLASSES, "classes.py", "exec"), namespace)
    model = namespace["models"](gpunn, "kept_training")["doubled"]
    x, y = namespace["X"], np.ones((4, 2), dtype="float32")
    model.save(tmp_path / "doubled.keras")
    loaded = gpunn.saving.load_model(tmp_path / "doubled.keras")
    assert type(loaded) is type(model)
    plain = gpunn.Model.from_config(model.get_config())
    plain.set_weights(model.get_weights())
    plain.compile(optimizer="sgd", loss="mse")
    for each in (model, loaded, plain):
        each.fit(x, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert not np.allclose(plain.get_weights()[0], model.get_weights()[0])  # the doubled loss made a difference
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))


READ_OURS = CLASSES + r'''
def read(keras, folder):
    models(keras, "kept_files")  # (registers the classes)
    found = {}
    for name in ("custom", "doubled", "seq"):
        model = keras.saving.load_model(os.path.join(folder, name + ".keras"))
        found[name] = [type(model).__name__, getattr(model, "param", None),
                       model.predict(X, verbose=0).tolist()]
    return found
'''

WRITE_KERAS = CLASSES + r'''
def run(keras, folder):
    for name, model in models(keras, "kept_files").items():
        model.save(os.path.join(folder, name + ".keras"))
    return {name: model.predict(X, verbose=0).tolist() for name, model in models(keras, "kept_files").items()}
'''


def test_files_of_either_library_load_as_the_class_in_the_other(tmp_path):
    namespace: dict = {}
    exec(compile(CLASSES, "classes.py", "exec"), namespace)
    ours = namespace["models"](gpunn, "kept_files")
    (tmp_path / "ours").mkdir()
    for name, model in ours.items():
        model.save(tmp_path / "ours" / f"{name}.keras")
    read = read_in_keras(READ_OURS, tmp_path / "ours")
    for name, model in ours.items():
        kind, param, predicted = read[name]
        assert kind == type(model).__name__ and param == getattr(model, "param", None)
        np.testing.assert_allclose(predicted, model.predict(namespace["X"], verbose=0), rtol=1e-5, atol=1e-6)

    from helpers import FOLDER_MAIN

    (tmp_path / "keras").mkdir()
    predicted = run_keras(WRITE_KERAS + FOLDER_MAIN, {"folder": str(tmp_path / "keras")})
    for name in ("custom", "doubled", "seq"):
        model = gpunn.saving.load_model(tmp_path / "keras" / f"{name}.keras")
        assert type(model).__name__ == type(ours[name]).__name__
        assert getattr(model, "param", None) == getattr(ours[name], "param", None)
        np.testing.assert_allclose(model.predict(namespace["X"], verbose=0), predicted[name], rtol=1e-5, atol=1e-6)


def test_gpunn_s_own_file_keeps_the_class_and_loads_without_it_as_the_plain_model(tmp_path):
    namespace: dict = {}
    exec(compile(CLASSES, "classes.py", "exec"), namespace)
    for name, model in namespace["models"](gpunn, "kept_safetensors").items():
        path = tmp_path / f"{name}.safetensors"
        model.save(path)
        loaded = gpunn.saving.load_model(path)
        assert type(loaded) is type(model) and getattr(loaded, "param", None) == getattr(model, "param", None)
        np.testing.assert_array_equal(loaded.predict(namespace["X"], verbose=0), model.predict(namespace["X"],
                                                                                              verbose=0))

    class Unregistered(gpunn.Model):
        pass

    i = gpunn.Input((3,))
    model = Unregistered(i, gpunn.layers.Dense(2)(i))
    model.save(tmp_path / "unregistered.safetensors")
    with pytest.warns(UserWarning, match="holds a Unregistered model, loaded as the plain model of its layers"):
        loaded = gpunn.saving.load_model(tmp_path / "unregistered.safetensors")
    assert type(loaded).__name__ == "Functional"
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_a_h5_model_file_of_a_subclass_warns_that_the_class_stays_behind(tmp_path):
    namespace: dict = {}
    exec(compile(CLASSES, "classes.py", "exec"), namespace)
    for name, model in namespace["models"](gpunn, "kept_h5").items():
        with pytest.warns(UserWarning, match=f"loads as a plain model, not as {type(model).__name__}") as record:
            model.save(tmp_path / f"{name}.h5")
        assert record[0].filename == __file__
        assert type(gpunn.saving.load_model(tmp_path / f"{name}.h5")).__name__ in ("Functional", "Sequential")


def test_a_subclassed_model_not_built_yet_serializes_without_a_build_config():
    """Keras's serialize_keras_object and to_json of a model that has seen no data: its class and config alone."""
    @gpunn.saving.register_keras_serializable(package="kept_unbuilt")
    class Later(gpunn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = gpunn.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    model = Later()
    model.compile(optimizer="adam", loss="mse")
    entry = gpunn.saving.serialize_keras_object(model)
    assert entry["class_name"] == "Later" and "build_config" not in entry
    again = gpunn.models.model_from_json(model.to_json())
    assert type(again) is Later and not again.built
    assert again.predict(np.ones((2, 4)), verbose=0).shape == (2, 3)


def test_an_uncompiled_model_s_json_holds_an_empty_compile_config_as_keras_s():
    import json

    i = gpunn.Input((3,))
    model = gpunn.Model(i, gpunn.layers.Dense(1)(i))
    entry = json.loads(model.to_json())
    assert entry["compile_config"] == {} and gpunn.saving.serialize_keras_object(model)["compile_config"] == {}
    assert not gpunn.models.model_from_json(model.to_json()).compiled
