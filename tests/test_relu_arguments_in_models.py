"""``activations.relu`` with ``max_value`` (other than 6), ``threshold`` or several arguments, and
``activations.threshold``, inside a model: as a Dense's activation, an Activation layer's, and on a functional
model's symbolic values (the bounded ReLU of custom-activation scripts). Trained against Keras itself."""
import numpy as np

from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np

FORMS = {
    "max_value": lambda m: lambda t: m.activations.relu(t, max_value=1.0),
    "threshold": lambda m: lambda t: m.activations.relu(t, threshold=0.5),
    "all": lambda m: lambda t: m.activations.relu(t, negative_slope=0.1, max_value=2.0, threshold=0.3),
    "threshold_function": lambda m: lambda t: m.activations.threshold(t, 0.2, -1.0),
}


def run(module, folder):
    x = np.linspace(-2, 3, 12).reshape(4, 3).astype("float32")
    y = np.sin(x).sum(axis=1, keepdims=True).astype("float32")
    out = {}
    for name, form in FORMS.items():
        f = form(module)
        for where in ("dense", "layer", "graph"):
            if where == "dense":
                model = module.Sequential([module.Input((3,)), module.layers.Dense(3, activation=f),
                                           module.layers.Dense(1)])
            elif where == "layer":
                model = module.Sequential([module.Input((3,)), module.layers.Dense(3), module.layers.Activation(f),
                                           module.layers.Dense(1)])
            else:
                inputs = module.Input((3,))
                model = module.Model(inputs, module.layers.Dense(1)(f(module.layers.Dense(3)(inputs))))
            model.set_weights([np.full(w.shape, 0.5 * (k + 1) - 0.8, "float32")
                               for k, w in enumerate(model.get_weights())])
            model.compile(module.optimizers.SGD(0.01), "mse")
            history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
            out[f"{name} {where}"] = [history.history["loss"], [w.tolist() for w in model.get_weights()],
                                      model.predict(x, verbose=0).tolist()]
    return out
'''


def test_relu_arguments_train_in_every_place_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for case, (losses, weights, predictions) in theirs.items():
        np.testing.assert_allclose(ours[case][0], losses, rtol=2e-5, err_msg=case)
        for got, want in zip(ours[case][1], weights):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=case)
        np.testing.assert_allclose(ours[case][2], predictions, rtol=2e-5, atol=1e-6, err_msg=case)
