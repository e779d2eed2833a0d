"""The weights file of a Sequential that holds one layer twice (Dive into Deep Learning's shared-parameters
example): Keras names every entry of the model's layer list, the repeated one included, before it skips the one
already saved, so the layer after the repeat is 'dense_2'; gpunn's files name them so and each side loads the
other's."""
import json
import os

import numpy as np

import gpunn
from helpers import numpy_backend, read_in_keras, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = '''
import json, sys
import numpy as np


def make(keras):
    shared = keras.layers.Dense(4, activation="relu")
    return keras.Sequential([keras.Input((4,)), keras.layers.Flatten(), shared, shared, keras.layers.Dense(1)])


def run(keras, folder):
    import h5py

    model = make(keras)
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    path = f"{folder}/shared.weights.h5"
    model.save_weights(path)
    with h5py.File(path) as f:
        groups = sorted(f["layers"])
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    return {"groups": groups, "file": path, "x": x.tolist(), "prediction": model.predict(x, verbose=0).tolist()}


def read(keras, folder):
    model = make(keras)
    model.load_weights(f"{folder}/shared.weights.h5")
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    return model.predict(x, verbose=0).tolist()
'''


def test_a_layer_held_twice_is_named_in_the_file_as_keras_names_it_and_each_side_loads_the_other(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours["groups"] == theirs["groups"] == ["dense", "dense_2", "flatten"]
    namespace: dict = {}
    exec(compile(SCRIPT, "script.py", "exec"), namespace)
    model = namespace["make"](gpunn)
    model.load_weights(theirs["file"])
    np.testing.assert_allclose(model.predict(np.asarray(theirs["x"], "float32"), verbose=0), theirs["prediction"],
                               rtol=1e-6)
    np.testing.assert_allclose(read_in_keras(SCRIPT, os.path.dirname(ours["file"])), ours["prediction"], rtol=1e-6)
    json.dumps(ours)  # (JSON-ready, as the helper requires)
