"""A built-in layer's ``activation`` attribute as Keras scripts use it: compared with Keras's functions by ``==``,
and set anew (Keras's Grad-CAM example removes the last layer's softmax with ``layer.activation = None``)."""
import numpy as np

from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np


def run(module, folder):
    x = np.random.RandomState(0).rand(3, 4).astype("float32")
    out = {}
    model = module.Sequential([module.Input((4,)), module.layers.Dense(4, activation="softmax", name="top")])
    model.set_weights([np.eye(4, dtype="float32") * 2, np.zeros(4, "float32")])
    out["is_softmax"] = bool(model.layers[-1].activation == module.activations.softmax)
    out["is_relu"] = bool(model.layers[-1].activation == module.activations.relu)
    model.layers[-1].activation = None  # (before any predict, as the example does it on a model just loaded)
    out["logits"] = model.predict(x, verbose=0).tolist()
    for name, activation in (("tanh", module.activations.tanh), ("linear", module.activations.linear)):
        layer = module.layers.Dense(2, activation="relu")
        layer.build((None, 4))
        layer.set_weights([np.full((4, 2), -0.3, "float32"), np.zeros(2, "float32")])
        layer.activation = activation
        out[name] = np.asarray(layer(x)).tolist()
    return out
'''


def test_a_layers_activation_compares_and_is_set_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    assert theirs["is_softmax"] and not theirs["is_relu"]
    for key, value in theirs.items():
        if isinstance(value, list):
            np.testing.assert_allclose(ours[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
        else:
            assert ours[key] == value, key
