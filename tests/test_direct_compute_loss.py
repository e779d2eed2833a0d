"""``model.compute_loss(x, y, y_pred, sample_weight)`` called directly, as a custom training loop or a check of some
predictions calls it: Keras's default sums the compiled losses (times ``loss_weights``, for every output) and
``model.losses`` (weight penalties, activity terms of the last call). Compared with Keras itself."""
import numpy as np
import pytest

from tests.helpers import numpy_backend, run_script_both_ways  # noqa: F401

SCRIPT = r'''
import json, sys
import numpy as np


def fixed(model):
    model.set_weights([np.full(w.shape, 0.3 - 0.1 * k, "float32") for k, w in enumerate(model.get_weights())])


def run(module, folder):
    layers = module.layers
    x = np.random.RandomState(0).uniform(0, 1, (6, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    ids = np.array([0, 1, 0, 1, 1, 0])
    weight = np.arange(6, dtype="float32")
    out = {}
    model = module.Sequential([module.Input((3,)), layers.Dense(2, kernel_regularizer="l2", activity_regularizer="l1"),
                               layers.Dense(1)])
    fixed(model)
    model.compile("sgd", "mse")
    predicted = model(x)
    out["single"] = float(model.compute_loss(x, y, predicted))
    out["single_weighted"] = float(model.compute_loss(x, y, predicted, sample_weight=weight))
    out["single_evaluate"] = model.evaluate(x, y, verbose=0)

    inputs = module.Input((3,))
    hidden = layers.Dense(2, kernel_regularizer="l2", name="hidden")(inputs)
    value = layers.Dense(1, name="value")(hidden)
    classes = layers.Dense(2, activation="softmax", name="classes")(hidden)
    model = module.Model(inputs, [value, classes])
    fixed(model)
    model.compile("sgd", ["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5])
    predicted = model(x)
    out["two"] = float(model.compute_loss(x, [y, ids], predicted))
    out["two_weighted"] = float(model.compute_loss(x, [y, ids], predicted, sample_weight=weight))
    out["two_weighted_each"] = float(model.compute_loss(x, [y, ids], predicted, sample_weight=[weight, weight[::-1]]))
    out["two_evaluate"] = model.evaluate(x, [y, ids], verbose=0)

    model = module.Model(inputs, {"value": value, "classes": classes})
    model.compile("sgd", {"classes": "sparse_categorical_crossentropy", "value": "mae"})
    predicted = model(x)
    out["dict"] = float(model.compute_loss(x, {"value": y, "classes": ids}, predicted))
    return out
'''


def test_compute_loss_sums_the_compiled_losses_and_model_losses_as_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for case, value in theirs.items():
        np.testing.assert_allclose(ours[case], value, rtol=1e-6, err_msg=case)
    assert ours["single"] == pytest.approx(ours["single_evaluate"], rel=1e-6)  # evaluate computes the same sum
    assert ours["two"] == pytest.approx(ours["two_evaluate"][0], rel=1e-6)


def test_compute_loss_without_any_loss_is_refused(numpy_backend):  # noqa: F811
    import gpunn

    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile("sgd")
    with pytest.raises(ValueError, match="No loss to compute"):
        model.compute_loss(None, np.zeros((2, 1)), model(np.zeros((2, 3), "float32")))
