"""``evaluate``'s list for a model whose outputs are a dict, against Keras 3's: the outputs' losses in the order of
the loss dict given to ``compile`` (Keras's CompileLoss keeps it), else (one loss for all, a list of outputs) in
the outputs' order; the metrics after them by name. Code that unpacks the list by position (the functional API
guides') reads the same quantities in both."""
from __future__ import annotations

import pytest
from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    rng = np.random.default_rng(0)
    x = rng.random((16, 3)).astype("float32")
    targets = {"zeta": rng.random((16, 1)).astype("float32") * 5, "alpha": rng.random((16, 1)).astype("float32")}
    cases = [("dict", {"zeta": "mse", "alpha": "mae"}, None), ("dict", {"alpha": "mae", "zeta": "mse"}, None),
             ("dict", {"zeta": "mse", "alpha": "mae"}, {"alpha": ["mae"], "zeta": ["mse"]}),
             ("dict", "mse", None), ("list", {"alpha": "mae", "zeta": "mse"}, None), ("list", ["mse", "mae"], None)]
    out = []
    for kind, loss, metrics in cases:
        inputs = keras.Input((3,))
        zeta, alpha = keras.layers.Dense(1, name="zeta")(inputs), keras.layers.Dense(1, name="alpha")(inputs)
        model = keras.Model(inputs, {"zeta": zeta, "alpha": alpha} if kind == "dict" else [zeta, alpha])
        model.set_weights([np.full(w.shape, 0.1 * (i + 1), "float32") for i, w in enumerate(model.get_weights())])
        model.compile("sgd", loss=loss, metrics=metrics)
        y = targets if kind == "dict" or isinstance(loss, dict) else [targets["zeta"], targets["alpha"]]
        listed = model.evaluate(x, y, verbose=0)
        by_name = model.evaluate(x, y, verbose=0, return_dict=True)
        out.append({"listed": [float(v) for v in listed], "by_name": {k: float(v) for k, v in by_name.items()},
                    "train_on_batch": [float(v) for v in model.train_on_batch(x, y)]})
    return out
'''


def test_evaluate_lists_a_dict_model_s_losses_in_the_loss_dict_s_order(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert len(ours) == len(theirs) == 6
    for index, (mine, keras_case) in enumerate(zip(ours, theirs)):
        assert mine["by_name"].keys() == keras_case["by_name"].keys(), index
        for name, value in keras_case["by_name"].items():
            assert mine["by_name"][name] == pytest.approx(value, rel=1e-5), (index, name)
        assert mine["listed"] == pytest.approx(keras_case["listed"], rel=1e-5), index
        assert mine["train_on_batch"] == pytest.approx(keras_case["train_on_batch"], rel=1e-5), index
    zeta_first = ours[0]["listed"]
    assert zeta_first[1] == pytest.approx(ours[0]["by_name"]["zeta_loss"])  # the loss dict's first key first
    assert ours[1]["listed"][1] == pytest.approx(ours[1]["by_name"]["alpha_loss"])
