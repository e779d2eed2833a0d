"""Which weight penalties the loss holds, as in Keras. A layer frozen after build adds none, in ``evaluate`` and
``test_on_batch`` before any training too (Keras's penalties are those of ``trainable_weights``): the fine-tuning
baseline. A regularizer set on a built layer counts only once the model is made again from its config. Compared
with Keras."""
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
                       model.fit(x, y, epochs=1, batch_size=20, verbose=0).history["loss"],
                       model.evaluate(x, y, verbose=0)]
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


AFTER_BUILD = r'''
import json, sys
import numpy as np


def run(module, folder):
    rng = np.random.RandomState(0)
    x, y = rng.rand(20, 4).astype("float32"), rng.rand(20, 2).astype("float32")
    layers = module.layers
    model = module.Sequential([module.Input((4,)), layers.Dense(3, kernel_initializer="ones", name="d1"),
                               layers.Dense(2, kernel_initializer="ones", name="d2")])
    model.compile(module.optimizers.SGD(0.01), "mse")
    model.fit(x, y, epochs=1, verbose=0)
    model.get_layer("d1").kernel_regularizer = module.regularizers.L2(0.5)
    model.get_layer("d1").kernel_constraint = module.constraints.NonNeg()
    out = {"losses": len(model.losses), "evaluate": model.evaluate(x, y, verbose=0)}
    model.get_layer("d2").trainable = False
    model.compile(module.optimizers.SGD(0.01), "mse")  # (a new layout of the trained weights)
    out["after_recompile"] = [model.evaluate(x, y, verbose=0), model.fit(x, y, epochs=1, verbose=0).history["loss"]]
    rebuilt = module.models.model_from_json(model.to_json())  # the classic way to add it
    rebuilt.set_weights(model.get_weights())
    rebuilt.compile(module.optimizers.SGD(0.01), "mse")
    out["rebuilt"] = [len(rebuilt.losses), rebuilt.evaluate(x, y, verbose=0)]
    return out
'''


def test_a_regularizer_set_on_a_built_layer_takes_effect_when_rebuilt_as_in_keras(tmp_path_factory):
    """Keras's variables take their regularizer and constraint at add_weight: set on a built layer, they change
    its config, not its training, whatever the model recompiles."""
    ours, theirs = run_script_both_ways(AFTER_BUILD, tmp_path_factory)
    assert theirs["losses"] == 0 and theirs["rebuilt"][0] == 1
    assert ours["losses"] == theirs["losses"]
    np.testing.assert_allclose(ours["evaluate"], theirs["evaluate"], rtol=1e-6)
    np.testing.assert_allclose(np.hstack(ours["after_recompile"]), np.hstack(theirs["after_recompile"]), rtol=1e-6)
    np.testing.assert_allclose(ours["rebuilt"], theirs["rebuilt"], rtol=1e-6)
