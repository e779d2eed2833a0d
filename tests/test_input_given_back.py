"""A model input given back as one of the model's outputs (``keras.Model(inp, [inp, out])``, the feature
extractor ``[layer.output for layer in model.layers]`` of a functional model, whose layers start with its
InputLayer): named, listed, summarized, logged and saved as Keras does, though gpunn's graph reads it through an
Identity layer."""

import numpy as np

from helpers import read_in_keras, run_script_both_ways

SCRIPT = '''
import io, json, os, sys, contextlib
import numpy as np

def run(keras, folder):
    inp = keras.Input((3,), name="inp")
    dense = keras.layers.Dense(2, name="d", kernel_initializer="ones")(inp)
    model = keras.Model(inp, [inp, dense])
    model.compile("sgd", loss=["mse", "mse"])
    x, y = np.linspace(0, 1, 12, dtype="float32").reshape(4, 3), np.ones((4, 2), "float32")
    history = model.fit(x, [x, y], epochs=2, verbose=0).history
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        model.summary()
    rows = [line.split()[1] for line in text.getvalue().splitlines() if line.startswith("\\u2502")]
    model.save(os.path.join(folder, "m.keras"))
    loaded = keras.models.load_model(os.path.join(folder, "m.keras"))
    remade = keras.Model.from_config(model.get_config())
    clones = [keras.models.clone_model(made) for made in (model, loaded)]
    extractor_base = keras.Model(inp, keras.layers.Dense(1, name="top")(dense))
    extractor = keras.Model(extractor_base.inputs, [layer.output for layer in extractor_base.layers])
    return {
        "output_names": model.output_names, "layers": [layer.name for layer in model.layers],
        "operations": len(model.operations), "history": {k: np.round(v, 5).tolist() for k, v in history.items()},
        "summary_rows": rows, "connected_to_column": "Connected to" in text.getvalue(),
        "output_layers": model.get_config()["output_layers"],
        "config_layers": [entry["name"] for entry in model.get_config()["layers"]],
        "loaded": [loaded.output_names, [layer.name for layer in loaded.layers]],
        "loaded_predictions": [np.round(p, 5).tolist() for p in loaded.predict(x, verbose=0)],
        "remade": [remade.output_names, [layer.name for layer in remade.layers]],
        "clones": [[clone.output_names, [layer.name for layer in clone.layers], len(clone.operations)]
                   for clone in clones],
        "extractor": [extractor.output_names, [layer.name for layer in extractor.layers],
                      [list(p.shape) for p in extractor.predict(x, verbose=0)]],
        "evaluate": {k: round(v, 5) for k, v in loaded.evaluate(x, [x, y], verbose=0, return_dict=True).items()},
    }
'''

READ = '''
import json, os, sys
import numpy as np

def read(keras, folder):
    model = keras.models.load_model(os.path.join(folder, "m.keras"))
    x = np.linspace(0, 1, 12, dtype="float32").reshape(4, 3)
    return [model.output_names, [layer.name for layer in model.layers],
            [np.round(p, 5).tolist() for p in model.predict(x, verbose=0)]]
'''


def test_an_input_given_back_as_an_output_is_named_listed_logged_and_saved_as_keras_does(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_keras_reads_the_file_of_a_model_giving_its_input_back(tmp_path):
    import gpunn

    inp = gpunn.Input((3,), name="inp")
    dense = gpunn.layers.Dense(2, name="d", kernel_initializer="ones")(inp)
    model = gpunn.Model(inp, [inp, dense])
    model.save(tmp_path / "m.keras")
    x = np.linspace(0, 1, 12, dtype="float32").reshape(4, 3)
    names, layers, predictions = read_in_keras(READ, tmp_path)
    assert (names, layers) == (["inp", "d"], ["inp", "d"])
    for theirs, ours in zip(predictions, model.predict(x, verbose=0)):
        np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-6)
