"""A model of a dict of inputs given a list: matched to the keys in sorted order, as Keras's functional model
flattens a dict; refused where the dict's own order differs (a list written in that order would be swapped), and
warned of otherwise, as in Keras."""
from __future__ import annotations

from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys, warnings
import numpy as np

def run(keras, folder):
    layers = keras.layers
    found = {}
    for keys in (["title", "body"], ["body", "title"]):
        title, body = layers.Input((1,), name="title"), layers.Input((1,), name="body")
        given = {"title": title, "body": body}
        model = keras.Model({key: given[key] for key in keys}, layers.Subtract()([title, body]))
        model.compile(optimizer="sgd", loss="mse")
        xs, y = [np.array([[10.0]]), np.array([[1.0]])], np.array([[9.0]])
        for how in ("predict", "call", "fit", "evaluate", "train_on_batch", "dict"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    if how == "predict":
                        result = model.predict(xs, verbose=0).tolist()
                    elif how == "call":
                        result = np.asarray(model(xs)).tolist()
                    elif how == "fit":
                        result = len(model.fit(xs, y, verbose=0).history["loss"])
                    elif how == "evaluate":
                        result = model.evaluate(xs, y, verbose=0)
                    elif how == "train_on_batch":
                        result = float(model.test_on_batch(xs, y))
                    else:
                        result = model.predict({"title": xs[0], "body": xs[1]}, verbose=0).tolist()
                except ValueError as error:
                    result = ["ValueError", "The structure of `inputs` doesn't match" in str(error)]
            warned = any("The structure of `inputs` doesn't match" in str(w.message) for w in caught)
            found[f"{'-'.join(keys)} {how}"] = [result, warned]
    return found
'''


def test_a_list_for_a_dict_of_inputs_is_refused_or_warned_of_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["title-body predict"] == [["ValueError", True], False]  # not silently swapped
    assert ours["body-title predict"] == [[[-9.0]], True]  # sorted keys: [body, title] as written
    assert ours["title-body dict"] == [[[9.0]], False]


def test_the_dict_s_written_order_survives_files_configs_and_clones(tmp_path):
    import numpy as np
    import pytest

    import gpunn

    inputs = {"b": gpunn.Input((2,), name="b"), "a": gpunn.Input((2,), name="a")}
    model = gpunn.Model(inputs, gpunn.layers.Add()([
        gpunn.layers.Dense(1, kernel_initializer="ones")(inputs["a"]),
        gpunn.layers.Dense(1, kernel_initializer=gpunn.initializers.Constant(10.0))(inputs["b"])]))
    assert list(model.get_config()["input_layers"]) == ["b", "a"]
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.safetensors")
    again = [gpunn.models.load_model(tmp_path / name) for name in ("m.keras", "m.h5", "m.safetensors")]
    again += [gpunn.Model.from_config(model.get_config()), gpunn.models.model_from_json(model.to_json()),
              gpunn.models.clone_model(model)]
    xa, xb = np.ones((1, 2)), np.zeros((1, 2))
    for each in again:
        assert list(each.input) == ["b", "a"]
        with pytest.raises(ValueError, match="not the dict's"):  # a list in the written order is not swapped
            each.predict([xb, xa], verbose=0)
        each.set_weights(model.get_weights())
        np.testing.assert_array_equal(each.predict({"a": xa, "b": xb}, verbose=0), [[2.0]])
