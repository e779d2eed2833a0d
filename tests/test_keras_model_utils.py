"""Keras 3's model utilities: clone_model, to_json / model_from_json, get_config / from_config in Keras's layout
(old gpunn configs and files still load), clear_session, utils.normalize and summary()'s table.

Where keras is installed, Keras itself reads what gpunn writes (in a subprocess, KERAS_BACKEND=jax)."""
from __future__ import annotations

import importlib.util
import json
import os
import textwrap

import numpy as np
import pytest

import gpunn
from gpunn import layers, optimizers
from gpunn.models import clone_model, model_from_json

from helpers import numpy_backend, run_keras_script  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("numpy_backend")

KERAS_3_JSON = (  # keras.Sequential([...], name='keras_mlp').to_json(), Keras 3.15, the jax backend
    '{"module": "keras", "class_name": "Sequential", "config": {"name": "keras_mlp", "trainable": true, "dtype"'
    ': {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}'
    ', "layers": [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 6], "'
    'dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registere'
    'd_name": null}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "trainable":'
    ' true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registere'
    'd_name": null}, "units": 5, "activation": "tanh", "use_bias": true, "kernel_initializer": {"module": "kera'
    's.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes"'
    ': null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zer'
    'os", "config": {}, "registered_name": null}, "kernel_regularizer": {"module": "keras.regularizers", "class'
    '_name": "L2", "config": {"l2": 0.01}, "registered_name": null}, "bias_regularizer": null, "kernel_constrai'
    'nt": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config":'
    ' {"input_shape": [null, 6]}}, {"module": "keras.layers", "class_name": "BatchNormalization", "config": {"n'
    'ame": "batch_normalization", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", '
    '"config": {"name": "float32"}, "registered_name": null}, "axis": -1, "momentum": 0.99, "epsilon": 0.001, "'
    'center": true, "scale": true, "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", '
    '"config": {}, "registered_name": null}, "gamma_initializer": {"module": "keras.initializers", "class_name"'
    ': "Ones", "config": {}, "registered_name": null}, "moving_mean_initializer": {"module": "keras.initializer'
    's", "class_name": "Zeros", "config": {}, "registered_name": null}, "moving_variance_initializer": {"module'
    '": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": null}, "beta_regularizer":'
    ' null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null, "synchronized": false'
    ', "renorm": false, "renorm_clipping": null, "renorm_momentum": 0.99}, "registered_name": null, "build_conf'
    'ig": {"input_shape": [null, 5]}}, {"module": "keras.layers", "class_name": "Dropout", "config": {"name": "'
    'dropout", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": '
    '"float32"}, "registered_name": null}, "rate": 0.25, "seed": null, "noise_shape": null}, "registered_name":'
    ' null}, {"module": "keras.layers", "class_name": "LayerNormalization", "config": {"name": "layer_normaliza'
    'tion", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "fl'
    'oat32"}, "registered_name": null}, "axis": [-1], "epsilon": 0.001, "center": true, "scale": true, "rms_sca'
    'ling": false, "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "r'
    'egistered_name": null}, "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones", "confi'
    'g": {}, "registered_name": null}, "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": '
    'null, "gamma_constraint": null}, "registered_name": null, "build_config": {"input_shape": [null, 5]}}, {"m'
    'odule": "keras.layers", "class_name": "Dense", "config": {"name": "dense_1", "trainable": true, "dtype": {'
    '"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "'
    'units": 3, "activation": "softmax", "use_bias": true, "kernel_initializer": {"module": "keras.initializers'
    '", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "regi'
    'stered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config":'
    ' {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": '
    'null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"in'
    'put_shape": [null, 5]}}], "build_input_shape": [null, 6]}, "registered_name": null, "build_config": {"inpu'
    't_shape": [null, 6]}, "compile_config": {}}'
)

# What gpunn's model files held as the model config before Keras's layout (gpunn 0.1.0 get_config()).
OLD_GPUNN_CONFIG = {
    "name": "old_model",
    "layers": [
        {"class_name": "InputLayer", "config": {"name": "input_layer", "trainable": True, "shape": [6]}},
        {"class_name": "Dense", "config": {
            "name": "dense", "trainable": True, "units": 5, "activation": "relu", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.01}}, "bias_regularizer": None}},
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "rate": 0.2, "seed": 788603132}},
        {"class_name": "BatchNormalization", "config": {
            "name": "batch_normalization", "trainable": True, "epsilon": 0.001, "center": True, "scale": True,
            "beta_initializer": {"class_name": "Zeros", "config": {}},
            "gamma_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": None,
            "gamma_regularizer": None, "axis": -1, "momentum": 0.99,
            "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
            "moving_variance_initializer": {"class_name": "Ones", "config": {}}}},
        {"class_name": "Dense", "config": {
            "name": "dense_1", "trainable": True, "units": 3, "activation": "softmax", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
            "bias_regularizer": None}},
    ],
    "build_input_shape": [None, 6],
}

# A tf.keras 2 model's to_json() (TensorFlow 2.x layout: no "module", dtypes as names, batch_input_shape).
TF_KERAS_2_JSON = json.dumps({
    "class_name": "Sequential", "keras_version": "2.15.0", "backend": "tensorflow",
    "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                 "sparse": False, "ragged": False, "name": "dense_input"}},
        {"class_name": "Dense", "config": {
            "name": "dense", "trainable": True, "dtype": "float32", "units": 3, "activation": "relu",
            "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}},
        {"class_name": "Dense", "config": {
            "name": "dense_1", "trainable": True, "dtype": "float32", "units": 2, "activation": "softmax",
            "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}}]}})


def _model(name="mlp", dtype=None, compiled=False):
    model = gpunn.Sequential([gpunn.Input(shape=(6,), dtype=dtype),
                              layers.Dense(5, activation="tanh", kernel_regularizer=gpunn.regularizers.L2(0.01)),
                              layers.BatchNormalization(), layers.Dropout(0.25), layers.LayerNormalization(),
                              layers.Dense(3, activation="softmax")], name=name)
    if compiled:
        model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)), rng.integers(0, 3, n)


def _same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


# ---- get_config / from_config -------------------------------------------------------------------------------


def test_get_config_has_keras_3_layout():
    config = _model().get_config()
    assert list(config) == ["name", "trainable", "dtype", "layers", "build_input_shape"]
    assert config["dtype"] == {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                               "registered_name": None}
    assert config["build_input_shape"] == [None, 6]
    entries = config["layers"]
    assert [e["class_name"] for e in entries] == ["InputLayer", "Dense", "BatchNormalization", "Dropout",
                                                   "LayerNormalization", "Dense"]
    for entry in entries:
        assert entry["module"] == "keras.layers" and entry["registered_name"] is None
    assert entries[0]["config"] == {"batch_shape": [None, 6], "dtype": "float32", "sparse": False,
                                    "name": entries[0]["config"]["name"]}
    dense = entries[1]
    assert dense["build_config"] == {"input_shape": [None, 6]}
    assert dense["config"]["dtype"] == config["dtype"]
    assert dense["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert dense["config"]["kernel_regularizer"] == {"module": "keras.regularizers", "class_name": "L2",
                                                     "config": {"l2": 0.01}, "registered_name": None}
    json.dumps(config)  # plain JSON types only


@pytest.mark.parametrize("dtype", [None, "float64"])
def test_from_config_round_trip(dtype):
    model = _model(dtype=dtype)
    model.trainable = False
    clone = gpunn.Sequential.from_config(model.get_config())
    assert clone.name == model.name and clone.built and clone.dtype == model.dtype
    # Keras's Sequential.from_config leaves the model's own flag out; its layers keep theirs, so nothing trains
    assert clone.trainable and not any(layer.trainable for layer in clone.layers) and clone.trainable_weights == []
    assert [layer.get_config() for layer in clone.layers] == [layer.get_config() for layer in model.layers]
    assert clone.get_config() == {**model.get_config(), "trainable": True}
    clone.set_weights(model.get_weights())
    x, _ = _data()
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_built_without_an_input_layer_round_trips():
    model = gpunn.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    config = model.get_config()
    assert config["layers"][0]["class_name"] == "InputLayer"  # Keras turns input_shape into an InputLayer
    assert "input_shape" not in config["layers"][1]["config"]
    clone = gpunn.Sequential.from_config(config)
    assert clone.built and clone.input_shape == (None, 3) and clone.count_params() == model.count_params()
    unbuilt = gpunn.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not gpunn.Sequential.from_config(unbuilt.get_config()).built


def test_config_of_gpunn_0_1_still_builds():
    model = gpunn.Sequential.from_config(OLD_GPUNN_CONFIG)
    assert model.name == "old_model" and model.built and model.dtype == "float32"
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "BatchNormalization", "Dense"]
    assert model.layers[1].seed == 788603132 and model.layers[0].kernel_regularizer.get_config() == {"l2": 0.01}
    assert model.count_params() == 6 * 5 + 5 + 4 * 5 + 5 * 3 + 3


def test_model_file_with_a_gpunn_0_1_config_still_loads(tmp_path):
    from gpunn.models.file_format import MODEL_FORMAT, read_file, write_file

    trained = gpunn.Sequential.from_config(OLD_GPUNN_CONFIG)
    trained.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    trained.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "old.safetensors"
    trained.save(path)
    metadata, tensors = read_file(path, (MODEL_FORMAT,))
    metadata = {k: v for k, v in metadata.items() if k != "gpunn_sha256"}
    metadata["model_config"] = json.dumps({"class_name": "Sequential", "config": OLD_GPUNN_CONFIG})
    write_file(path, tensors, metadata)
    restored = gpunn.models.load_model(path)
    assert _same_weights(restored.get_weights(), trained.get_weights())
    np.testing.assert_array_equal(restored.predict(x, verbose=0), trained.predict(x, verbose=0))


# ---- to_json / model_from_json ------------------------------------------------------------------------------


def test_to_json_is_keras_serialize_keras_object():
    model = _model()
    entry = json.loads(model.to_json())
    assert entry["module"] == "keras" and entry["class_name"] == "Sequential" and entry["registered_name"] is None
    assert entry["config"] == model.get_config()
    assert entry["build_config"] == {"input_shape": [None, 6]}
    assert "compile_config" not in entry or not entry["compile_config"]
    assert json.loads(model.to_json(indent=2)) == entry  # kwargs go to json.dumps


def test_model_from_json_round_trip():
    model = _model(compiled=True)
    restored = model_from_json(model.to_json())
    assert restored.get_config() == model.get_config() and restored.built
    assert not _same_weights(restored.get_weights(), model.get_weights())  # newly initialised
    # As Keras's deserialize_keras_object: a compile_config compiles the model (a new optimizer).
    assert restored.compiled and restored.optimizer is not model.optimizer
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    assert restored.metric_identifiers == ["accuracy"]
    unbuilt = gpunn.Sequential([layers.Dense(4), layers.Dense(2)])
    again = model_from_json(unbuilt.to_json())
    assert not again.built and not again.compiled and [type(l) for l in again.layers] == [layers.Dense] * 2


def test_reads_the_json_keras_3_writes():
    model = model_from_json(KERAS_3_JSON)
    assert model.name == "keras_mlp" and model.built and model.input_shape == (None, 6)
    assert [layer.name for layer in model.layers] == ["dense", "batch_normalization", "dropout",
                                                      "layer_normalization", "dense_1"]
    dense, _, dropout, norm, out = model.layers
    assert dense.units == 5 and dense.activation.name == "tanh" and dense.kernel_regularizer.get_config() == {
        "l2": 0.01}
    assert dropout.rate == 0.25 and norm.axis == -1 and out.activation.name == "softmax"
    assert model.dtype == "float32" and model.count_params() == 35 + 20 + 10 + 18
    again = gpunn.Sequential.from_config(json.loads(KERAS_3_JSON)["config"])
    assert again.get_config()["layers"][1] == model.get_config()["layers"][1]  # the same translation
    assert again.layers[2].seed != model.layers[2].seed  # Keras's seed None: a new one drawn for each model
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)


def test_reads_the_json_tf_keras_2_writes():
    model = model_from_json(TF_KERAS_2_JSON)
    assert model.built and model.input_shape == (None, 4) and model.output_shape == (None, 2)
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"] and model.dtype == "float32"


@pytest.mark.parametrize("change, words", [
    (lambda c: c["layers"][1]["config"].update(kernel_constraint={"module": "keras.constraints",
                                                                  "class_name": "ClipNorm", "config": {}}),
     ["kernel_constraint", "ClipNorm"]),
    (lambda c: c["layers"][1]["config"].update(dtype={"module": "keras", "class_name": "DTypePolicy",
                                                      "config": {"name": "mixed_float16"}}),
     ["mixed_float16"]),
    (lambda c: c["layers"][1].update(class_name="Conv2D"), ["Conv2D"]),
])
def test_keras_features_gpunn_lacks_are_refused_by_name(change, words):
    entry = json.loads(KERAS_3_JSON)
    change(entry["config"])
    with pytest.raises(ValueError) as info:
        model_from_json(json.dumps(entry))
    for word in words:
        assert word in str(info.value)


def test_model_from_json_refuses_what_is_not_a_sequential_model():
    with pytest.raises(ValueError, match="json_string: not valid JSON"):
        model_from_json("{not json")
    # a class of the user's, named: made again where it is given, else the error says how to give it
    with pytest.raises(ValueError, match="could not locate 'Subclassed'.*custom_objects"):
        model_from_json(json.dumps({"class_name": "Subclassed", "config": {}}))
    with pytest.raises(TypeError, match="json_string: expected a JSON string"):
        model_from_json({"class_name": "Sequential"})


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed")
def test_keras_reads_the_json_gpunn_writes():
    """Keras 3 builds gpunn's to_json() (and compiles it), and gives the same outputs with gpunn's weights."""
    model = _model(compiled=True)
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    code = textwrap.dedent("""
        import json, sys, warnings
        import numpy as np
        warnings.simplefilter("error", UserWarning)
        import keras
        data = np.load(sys.argv[1])
        model = keras.models.model_from_json(open(sys.argv[2]).read())
        model.set_weights([data[f"w{i}"] for i in range(len(data.files) - 1)])
        print(json.dumps({"compiled": bool(model.compiled), "optimizer": type(model.optimizer).__name__,
                          "names": [layer.name for layer in model.layers],
                          "out": np.asarray(model.predict(data["x"], verbose=0)).tolist()}))
    """)
    _run_keras(model, x, code)


def _run_keras(model, x, code):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        arrays = {f"w{i}": w.astype(np.float32) for i, w in enumerate(model.get_weights())}
        np.savez(os.path.join(tmp, "data.npz"), x=x.astype(np.float32), **arrays)
        with open(os.path.join(tmp, "model.json"), "w") as handle:
            handle.write(model.to_json())
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["KERAS_BACKEND"] = "jax"
        run = run_keras_script(code, os.path.join(tmp, "data.npz"), os.path.join(tmp, "model.json"), env=env,
                               timeout=300, cwd=tmp)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["compiled"] and result["optimizer"] == "Adam"
    assert result["names"] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(result["out"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# ---- clone_model --------------------------------------------------------------------------------------------


def test_clone_model_same_architecture_new_weights_nothing_shared():
    model = _model(name="original")
    clone = clone_model(model)
    assert clone.name == "original" and clone.built and not clone.compiled
    assert clone.get_config() == model.get_config()
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    assert not _same_weights(clone.get_weights(), model.get_weights())  # freshly initialised
    before = model.get_weights()
    clone.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    clone.fit(*_data(), epochs=1, verbose=0)
    assert _same_weights(model.get_weights(), before)


def test_clone_of_a_compiled_model_is_compiled_anew():
    model = _model(compiled=True)
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=True, steps_per_execution=2)
    model.fit(*_data(), epochs=1, verbose=0)
    clone = clone_model(model)
    assert clone.compiled and clone.optimizer is not model.optimizer and clone.optimizer.iterations == 0
    assert clone.optimizer.get_config() == model.optimizer.get_config()
    assert type(clone.loss) is type(model.loss) and clone.metric_identifiers == ["accuracy"]
    assert clone.jit_compile and clone.steps_per_execution == 2
    clone.fit(*_data(), epochs=1, verbose=0)


def test_clone_keeps_seeded_initializers_and_the_trainable_flag():
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(4, kernel_initializer=gpunn.initializers.
                                                                   GlorotUniform(seed=7))])
    model.trainable = False
    clone = clone_model(model)
    np.testing.assert_array_equal(clone.get_weights()[0], model.get_weights()[0])  # as Keras: same seed
    assert not clone.trainable


def test_clone_function_and_unbuilt_models():
    model = gpunn.Sequential([layers.Dense(4), layers.Dense(2)])
    shared = clone_model(model, clone_function=lambda layer: layer)  # Keras's way to share layers
    assert all(a is b for a, b in zip(shared.layers, model.layers)) and not shared.built
    wider = clone_model(model, clone_function=lambda layer: layers.Dense(layer.units * 2, name=layer.name))
    assert [layer.units for layer in wider.layers] == [8, 4]


@pytest.mark.parametrize("kwargs, words", [
    ({"input_tensors": [object()]}, "input_tensors"),
    ({"call_function": lambda layer, x: layer(x)}, "call_function"),
    ({"clone_function": 3}, "clone_function"),
    ({"bogus": 1}, "bogus"),
])
def test_clone_model_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        clone_model(_model(), **kwargs)
    with pytest.raises(ValueError, match="model: expected a gpunn Sequential model"):
        clone_model(layers.Dense(2))


# ---- clear_session ------------------------------------------------------------------------------------------


def test_clear_session_restarts_generated_names():
    gpunn.backend.clear_session()
    first = [layers.Dense(2).name for _ in range(3)]
    assert first == ["dense", "dense_1", "dense_2"]
    assert gpunn.Sequential().name == "sequential"
    assert [gpunn.metrics.AUC().name for _ in range(2)] == ["auc", "auc_1"]
    gpunn.backend.clear_session(free_memory=False)
    assert layers.Dense(2).name == "dense" and gpunn.Sequential().name == "sequential"
    assert gpunn.metrics.AUC().name == "auc"  # Keras's metric names start again too (its global state)
    assert gpunn.utils.clear_session is gpunn.backend.clear_session


def test_clear_session_reseeds_as_keras_does():
    def weights():
        return gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3)]).get_weights()[0]

    gpunn.utils.set_random_seed(5)
    gpunn.backend.clear_session()
    a, b = weights(), None
    gpunn.utils.set_random_seed(5)
    gpunn.backend.clear_session()
    b = weights()
    np.testing.assert_array_equal(a, b)  # seeded from Python's random, which set_random_seed seeded
    gpunn.backend.clear_session()
    assert not np.array_equal(weights(), a)
    with pytest.raises(TypeError, match="free_memory"):
        gpunn.backend.clear_session(free_memory="yes")


# ---- utils.normalize ----------------------------------------------------------------------------------------


def test_normalize_follows_keras_numpy_branch():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(gpunn.utils.normalize(x), [[0.6, 0.8], [0, 0], [2 ** -0.5, -2 ** -0.5]])
    np.testing.assert_allclose(gpunn.utils.normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0], [0.5, -0.5]])
    np.testing.assert_allclose(gpunn.utils.normalize(x, axis=0),
                               x / np.linalg.norm(x, axis=0, keepdims=True))
    # axis=None: the norm of the whole array, divided along the last axis with Keras's expand_dims
    np.testing.assert_allclose(gpunn.utils.normalize(x[0], axis=None), [[0.6, 0.8]])
    ints = gpunn.utils.normalize([[3, 4]])
    assert ints.dtype == np.float64 and np.allclose(ints, [[0.6, 0.8]])
    assert np.array_equal(x, [[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])  # a copy: the input is left alone
    with pytest.raises(ValueError, match="axis"):
        gpunn.utils.normalize(x, axis=2)
    with pytest.raises(TypeError, match="x: expected a numeric array"):
        gpunn.utils.normalize(["a", "b"])


# ---- summary ------------------------------------------------------------------------------------------------

# keras.Sequential(<the same layers>, name="keras_mlp").summary(line_length=80) after compile("adam") and a fit.
KERAS_3_SUMMARY = """\
Model: "keras_mlp"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                      ┃ Output Shape             ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                     │ (None, 5)                │            35 │
├───────────────────────────────────┼──────────────────────────┼───────────────┤
│ batch_normalization               │ (None, 5)                │            20 │
│ (BatchNormalization)              │                          │               │
├───────────────────────────────────┼──────────────────────────┼───────────────┤
│ dropout (Dropout)                 │ (None, 5)                │             0 │
├───────────────────────────────────┼──────────────────────────┼───────────────┤
│ layer_normalization               │ (None, 5)                │            10 │
│ (LayerNormalization)              │                          │               │
├───────────────────────────────────┼──────────────────────────┼───────────────┤
│ dense_1 (Dense)                   │ (None, 3)                │            18 │
└───────────────────────────────────┴──────────────────────────┴───────────────┘
 Total params: 231 (924.00 B)
 Trainable params: 73 (292.00 B)
 Non-trainable params: 10 (40.00 B)
 Optimizer params: 148 (592.00 B)
"""


def test_summary_prints_keras_3_table():
    model = model_from_json(KERAS_3_JSON)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(*_data(), epochs=1, verbose=0)
    texts = []
    model.summary(line_length=80, print_fn=texts.append)
    assert len(texts) == 1  # as Keras: the whole table in one call
    assert texts[0] == KERAS_3_SUMMARY + f" Backend: {model.ops!r}\n"


def test_summary_options(capsys):
    model = _model(name="opts")
    model.layers[0].trainable = False
    texts = []
    model.summary(print_fn=texts.append, show_trainable=True, line_length=120)
    lines = texts[0].splitlines()
    assert "┃ Trainable ┃" in lines[2] and all(len(line) == 120 for line in lines[1:-4])
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.split("│")[1:-1]] for line in lines)
            if cells and cells[0]}
    assert rows[f"{model.layers[0].name} (Dense)"][-1] == "N"
    assert rows[f"{model.layers[2].name} (Dropout)"][-1] == "-"
    assert " Optimizer params" not in texts[0]  # not compiled: Keras prints no optimizer line
    texts.clear()
    model.summary(print_fn=texts.append, layer_range=["batch.*", "drop.*"])
    assert "(Dense)" not in texts[0] and "(BatchNormalization)" in texts[0] and "(Dropout)" in texts[0]
    long = gpunn.Sequential([gpunn.Input(shape=(2,)), layers.Dense(1, name="a_name_far_longer_than_its_cell")])
    texts.clear()
    long.summary(print_fn=texts.append, line_length=60)
    # rich (Keras's table) cuts a word too long for its cell with an ellipsis, and wraps at spaces
    assert "│ a_name_far_longer_than_… │" in texts[0] and "│ (Dense)                  │" in texts[0]
    model.summary()
    assert capsys.readouterr().out.startswith('Model: "opts"\n┏')
    with pytest.raises(ValueError, match="line_length"):
        model.summary(line_length=0)
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(layer_range=["nothing_matches", "x"])


def test_custom_objects_name_only_what_gpunn_can_use(tmp_path):
    """Keras's custom_objects map names to user classes; gpunn takes the user's losses and metrics
    (test_custom_losses_and_metrics.py) but builds its own layers only, so a user layer would be silently
    ignored: it is refused by name, while built-in ones (as tf.keras scripts pass) are fine."""
    gpunn.utils.set_random_seed(0)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), gpunn.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "m.keras"
    model.save(path)

    class MyLayer:
        pass

    assert gpunn.models.load_model(path, custom_objects={"LeakyReLU": gpunn.layers.LeakyReLU}) is not None
    for call in (lambda c: gpunn.models.load_model(path, custom_objects=c),
                 lambda c: gpunn.models.model_from_json(model.to_json(), custom_objects=c),
                 lambda c: gpunn.Sequential.from_config(model.get_config(), custom_objects=c)):
        with pytest.raises(ValueError, match=r"custom_objects: .* cannot build \['MyLayer'\]"):
            call({"MyLayer": MyLayer})
    with pytest.raises(TypeError, match="custom_objects: expected a dict"):
        gpunn.models.load_model(path, custom_objects=[MyLayer])


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".safetensors"])
def test_jit_compile_and_steps_per_execution_come_back_from_a_file_as_in_keras(tmp_path, suffix):
    """Keras keeps both in compile_config and compiles with them on load (tf.keras's .h5 keeps neither: its
    training_config has no place for them, so compile's defaults come back)."""
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), gpunn.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse", jit_compile=True, steps_per_execution=4)
    model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
    expected = ("auto", 1) if suffix == ".h5" else (True, 4)
    assert (loaded._jit_compile, loaded.steps_per_execution) == expected
    clone = gpunn.models.clone_model(model)
    assert (clone.jit_compile, clone.steps_per_execution) == (True, 4)
