"""keras.saving.serialize_keras_object / deserialize_keras_object, layers.serialize's nested objects, and classes
found by their registered name ("P>Scale") when a config or a model file is read, checked against Keras."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.custom_objects import MissingCustomObjectError
from helpers import numpy_backend, run_keras  # noqa: F401

CLASSES = '''
@keras.saving.register_keras_serializable(package="P")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
    def call(self, x):
        return x * self.factor
    def get_config(self):
        return {**super().get_config(), "factor": self.factor}

@keras.saving.register_keras_serializable(package="P")
class Holder(keras.layers.Layer):
    def __init__(self, inner, reg=None, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.reg = inner, reg
    def call(self, x):
        return self.inner(x)
    def get_config(self):
        return {**super().get_config(), "inner": self.inner, "reg": self.reg}
    @classmethod
    def from_config(cls, config):
        config["inner"] = keras.layers.deserialize(config["inner"])
        config["reg"] = keras.regularizers.get(config["reg"])
        return cls(**config)
'''
keras = gpunn
exec(CLASSES)  # the same classes as the Keras side's, registered in gpunn  # noqa: S102

KERAS_SIDE = "import json, sys, numpy as np, keras\n" + CLASSES + '''
task = json.load(sys.stdin)
s = keras.saving.serialize_keras_object
x = np.asarray(task["x"], dtype="float32")
mine = keras.Sequential([keras.Input((3,)), Scale(3.0, name="scale"), keras.layers.Dense(2, name="out")])
mine.save(task["dir"] + "/k.keras")
theirs = keras.saving.load_model(task["dir"] + "/g.keras")
print(json.dumps({
    "k_predict": mine.predict(x, verbose=0).tolist(),
    "g_types": [type(layer).__name__ for layer in theirs.layers], "g_factor": theirs.layers[0].factor,
    "g_predict": theirs.predict(x, verbose=0).tolist(),
    "l2": s(keras.regularizers.L2(0.5)),
    "dense": s(keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L1(0.25), name="d")),
    "holder": s(Holder(keras.layers.Dense(4, name="inner"), keras.regularizers.L2(0.5), name="h")),
    "function": s(keras.activations.relu),
    "loss": s(keras.losses.MeanSquaredError()),
}))
'''


def _common(theirs, ours, path="config"):
    """Assert ``ours`` equals ``theirs`` on every key both have (Keras writes arguments gpunn lacks); returns how
    many values were compared."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        shared = set(theirs) & set(ours)
        assert shared or theirs == ours == {}, f"{path}: no key in common ({sorted(theirs)} / {sorted(ours)})"
        return 1 + sum(_common(theirs[key], ours[key], f"{path}.{key}") for key in shared)
    assert theirs == ours, f"{path}: Keras {theirs!r}, gpunn {ours!r}"
    return 1


def test_configs_files_and_registered_classes_match_keras(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    mine = gpunn.Sequential([gpunn.Input((3,)), Scale(3.0, name="scale"), layers.Dense(2, name="out")])
    mine.save(tmp_path / "g.keras")
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "dir": str(tmp_path)})

    # gpunn's file, read by Keras: the registered class, found by its registered name
    assert theirs["g_types"] == ["Scale", "Dense"] and theirs["g_factor"] == 3.0
    np.testing.assert_allclose(theirs["g_predict"], mine.predict(x, verbose=0), rtol=1e-6)
    # Keras's file, read by gpunn without custom_objects
    loaded = gpunn.models.load_model(tmp_path / "k.keras")
    assert type(loaded.layers[0]) is Scale and loaded.layers[0].factor == 3.0
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["k_predict"], rtol=1e-6)

    serialize = gpunn.saving.serialize_keras_object
    assert serialize(gpunn.regularizers.L2(0.5)) == theirs["l2"]
    assert serialize(gpunn.activations.relu) == theirs["function"]
    dense = serialize(layers.Dense(3, kernel_regularizer=gpunn.regularizers.L1(0.25), name="d"))
    assert _common(theirs["dense"], dense) >= 15
    holder = serialize(Holder(layers.Dense(4, name="inner"), gpunn.regularizers.L2(0.5), name="h"))
    assert holder["registered_name"] == theirs["holder"]["registered_name"] == "P>Holder"
    assert holder["config"]["inner"]["class_name"] == "Dense" and holder["config"]["reg"] == theirs["holder"]["config"]["reg"]
    assert holder["module"] == __name__  # the class's module (Keras's script defines it in __main__: None)
    assert _common({**theirs["holder"], "module": __name__}, holder) >= 20
    assert _common(theirs["loss"], serialize(gpunn.losses.MeanSquaredError())) >= 4


def test_from_config_finds_a_registered_layer_by_its_registered_name():
    inputs = gpunn.Input((3,))
    model = gpunn.Model(inputs, Holder(layers.Dense(4), name="h")(Scale(3.0)(inputs)))
    config = model.get_config()
    assert [entry["registered_name"] for entry in config["layers"][1:]] == ["P>Scale", "P>Holder"]
    clone = gpunn.Model.from_config(config)
    assert [type(layer) for layer in clone.layers[1:]] == [Scale, Holder]
    assert clone.count_params() == model.count_params() == 16


def test_an_unknown_registered_name_is_refused_by_name():
    entry = gpunn.layers.serialize(layers.Dense(2, name="d"))
    entry["registered_name"] = "Other>Dense"  # a class of the writer's, not gpunn's Dense
    with pytest.raises(MissingCustomObjectError, match="Other>Dense"):
        gpunn.layers.deserialize(entry)
    with pytest.raises(MissingCustomObjectError, match="'Q>Gone'"):
        gpunn.saving.deserialize_keras_object({"module": None, "class_name": "Gone", "config": {},
                                               "registered_name": "Q>Gone"})


def test_layers_serialize_is_recursive_and_deserialize_makes_new_objects():
    inner, reg = layers.Dense(4, name="inner"), gpunn.regularizers.L2(0.5)
    config = layers.serialize(Holder(inner, reg, name="h"))
    json.dumps(config)  # nothing live left in it
    assert config["config"]["inner"]["config"]["units"] == 4
    clone = layers.deserialize(json.loads(json.dumps(config)))
    assert type(clone) is Holder and clone.inner is not inner and clone.reg is not reg
    assert clone.inner.units == 4 and clone.reg.get_config() == {"l2": 0.5}
    assert layers.serialize(clone) == config


@pytest.mark.parametrize("make", [
    lambda: gpunn.regularizers.L1L2(0.1, 0.2), lambda: gpunn.initializers.GlorotUniform(seed=3),
    lambda: gpunn.constraints.MaxNorm(2.0), lambda: gpunn.losses.Huber(delta=2.0),
    lambda: gpunn.metrics.AUC(num_thresholds=50), lambda: gpunn.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9),
    lambda: gpunn.optimizers.Adam(gpunn.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
    lambda: layers.Dense(3, activation="relu", name="d"), lambda: Scale(5.0, name="s"),
])
def test_serialize_then_deserialize_keras_object_round_trips(make):
    obj = make()
    config = gpunn.utils.serialize_keras_object(obj)
    back = gpunn.utils.deserialize_keras_object(json.loads(json.dumps(config)))
    assert type(back) is type(obj) and back is not obj
    assert gpunn.saving.serialize_keras_object(back) == config


def test_functions_plain_values_and_custom_objects():
    def cube(x):
        return x ** 3

    config = gpunn.saving.serialize_keras_object(cube)
    assert config == {"module": "builtins", "class_name": "function", "config": "cube", "registered_name": "function"}
    assert gpunn.saving.deserialize_keras_object(config, custom_objects={"cube": cube}) is cube
    assert gpunn.saving.deserialize_keras_object("SGD") == "SGD"  # a plain value, as Keras returns it
    array = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(gpunn.saving.deserialize_keras_object(gpunn.saving.serialize_keras_object(array)),
                                  array)


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="^config: expected a serialized layer"):
        layers.deserialize("Dense")
    with pytest.raises(TypeError, match="^obj: cannot serialize"):
        gpunn.saving.serialize_keras_object(object())
    with pytest.raises(ValueError, match="^obj: a lambda"):
        gpunn.saving.serialize_keras_object(lambda x: x)
    with pytest.raises(MissingCustomObjectError, match="'nowhere'"):
        gpunn.saving.deserialize_keras_object({"module": "builtins", "class_name": "function", "config": "nowhere",
                                               "registered_name": "function"})


def test_an_unknown_class_of_no_kind_lists_no_empty_choices():
    with pytest.raises(MissingCustomObjectError, match="unknown name 'Nope'") as raised:
        gpunn.saving.deserialize_keras_object({"class_name": "Nope", "config": {}, "module": None,
                                               "registered_name": "Nope"})
    assert "expected one of" not in str(raised.value)
