"""A layer frozen after build adds no weight penalty to the loss, in ``evaluate`` and ``test_on_batch`` before any
training too (Keras's penalties are those of ``trainable_weights``): the fine-tuning baseline. Compared with Keras."""
import numpy as np

from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np


def run(module, folder):
    rng = np.random.RandomState(0)
    x, y = rng.rand(20, 4).astype("float32"), rng.rand(20, 2).astype("float32")
    layers = module.layers
    base = module.Sequential([module.Input((4,)), layers.Dense(3, kernel_regularizer=module.regularizers.L2(0.5),
                                                               kernel_initializer="ones", name="d1")], name="base")
    model = module.Sequential([module.Input((4,)), base, layers.Dense(2, kernel_initializer="ones",
                                                                       kernel_regularizer="l1")])
    out = {}
    for frozen in ("base", "model"):
        (base if frozen == "base" else model).trainable = False
        model.compile(module.optimizers.SGD(0.01), "mse")
        out[frozen] = [model.evaluate(x, y, verbose=0), float(model.test_on_batch(x, y)),
                       model.fit(x, y, epochs=1, batch_size=20, verbose=0).history["loss"], model.evaluate(x, y, verbose=0)]
        (base if frozen == "base" else model).trainable = True
        model.compile(module.optimizers.SGD(0.01), "mse")
        out[frozen].append(model.evaluate(x, y, verbose=0))
    return out
'''


def test_a_layer_frozen_before_training_adds_no_penalty_in_evaluate_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for case, values in theirs.items():
        np.testing.assert_allclose(np.hstack(ours[case]), np.hstack(values), rtol=1e-6, err_msg=case)
