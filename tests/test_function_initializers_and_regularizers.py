"""Functions given as initializers (``f(shape, dtype=None)``, or an array of the values) and as regularizers
(``f(weight)``, the penalty), as Keras's ``initializers.get`` and ``Regularizer`` docstrings use them, against
Keras 3 itself: the same weights, penalties, training and files (a registered function is written by its name,
as Keras writes it, and read back in both libraries)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    ops, layers = keras.ops, keras.layers

    @keras.saving.register_keras_serializable(package="FunctionObjects")
    def l1_reg(weight_matrix):
        return 0.01 * ops.sum(ops.absolute(weight_matrix))

    @keras.saving.register_keras_serializable(package="FunctionObjects")
    def ramp(shape, dtype=None):
        return ops.reshape(ops.arange(int(np.prod(shape)), dtype="float32") / 10.0 - 0.45, shape)  # (no 0: a kink)

    out = {}
    layer = layers.Dense(5, kernel_initializer="ones", kernel_regularizer=l1_reg)
    layer(np.ones((5, 5), "float32"))
    out["losses"] = [round(float(np.asarray(loss)), 6) for loss in layer.losses]
    out["array_initializer"] = np.asarray(keras.initializers.get(np.full((2, 3), 0.5, "float32"))((2, 3))).tolist()

    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, kernel_initializer=ramp, kernel_regularizer=l1_reg),
                              layers.Dense(1, kernel_initializer=lambda shape, dtype=None: ops.ones(shape, dtype))])
    out["initial"] = [np.round(w, 6).tolist() for w in model.get_weights()]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)).astype("float32"), rng.normal(size=(12, 1)).astype("float32")
    out["history"] = np.round(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
                              .history["loss"], 5).tolist()
    saved = keras.Sequential([keras.Input((3,)), layers.Dense(2, kernel_initializer=ramp, kernel_regularizer=l1_reg)])
    saved.save(f"{folder}/functions.keras")
    config = saved.get_config()["layers"][-1]["config"]
    out["config"] = [config["kernel_initializer"], config["kernel_regularizer"]]
    loaded = keras.models.load_model(f"{folder}/functions.keras")
    out["loaded"] = [np.round(w, 6).tolist() for w in loaded.get_weights()]
    loaded.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    out["loaded_loss"] = round(float(loaded.evaluate(x, y[:, :1].repeat(2, axis=1), verbose=0)), 5)
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("case", ["losses", "array_initializer", "initial", "history", "config", "loaded",
                                  "loaded_loss"])
def test_as_in_keras(both, case):
    ours, theirs = both
    assert ours[case] == theirs[case]


def test_a_lambda_is_refused_when_saved_and_a_function_of_the_wrong_shape_by_name(numpy_backend, tmp_path):
    import gpunn

    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2, kernel_regularizer=lambda w: 0.0 * w.sum())])
    with pytest.raises(ValueError, match="a lambda cannot be saved"):
        model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="returned values of shape \\(2,\\) for a weight of shape \\(3, 2\\)"):
        gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2, kernel_initializer=lambda shape, dtype=None:
                                                                 gpunn.ops.ones((2,)))]).get_weights()


def test_a_model_of_function_objects_predicts_samples_of_another_length(numpy_backend):
    """An input of any length: predictions on another length run on a copy of the model made from its config,
    which finds the functions again (named or not registered)."""
    import numpy as np

    import gpunn
    from gpunn import layers, ops

    def half(shape, dtype=None):
        return ops.full(shape, 0.5, dtype=dtype)

    def l1_reg(weight):
        return 0.01 * ops.sum(ops.absolute(weight))

    model = gpunn.Sequential([gpunn.Input((None, 3)), layers.Dense(2, kernel_initializer=half,
                                                                     kernel_regularizer=l1_reg)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 2, 3), "float32"), np.ones((4, 2, 2), "float32"), verbose=0)
    assert model.predict(np.ones((4, 5, 3), "float32"), verbose=0).shape == (4, 5, 2)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_a_regularizer_function_runs_once_a_step_and_trains_as_the_built_in_one(numpy_backend, jit):
    """Keras computes the penalty once a step and differentiates it; gpunn keeps the gradient of the penalty's call
    for the step's gradients, rather than calling the script's function again."""
    calls = []

    def penalty(weight):
        calls.append(1)
        return 0.01 * gpunn.ops.sum(gpunn.ops.square(weight))

    runs = []
    for regularizer in (penalty, gpunn.regularizers.L2(0.01)):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2, kernel_regularizer=regularizer),
                                  gpunn.layers.Dense(1)])
        model.compile("sgd", "mse", jit_compile=jit)
        history = model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=2, shuffle=False, verbose=0)
        runs.append((history.history["loss"], model.get_weights()))
    assert len(calls) == 4  # (2 epochs of 2 steps)
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    for mine, built_in in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(mine, built_in, rtol=1e-6)


def test_a_regularizer_computed_with_numpy_still_gives_its_value_outside_training(numpy_backend):
    """Only a training step keeps the penalty's gradient: evaluate and model.losses call the function on the weight
    as it is, so one written with NumPy gives its value there (as in Keras), and the training step says whose it was."""
    def numpy_penalty(weight):
        return gpunn.ops.convert_to_tensor(np.sum(np.abs(np.asarray(weight))))

    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2, kernel_regularizer=numpy_penalty,
                                                                    kernel_initializer="ones")])
    model.compile("sgd", "mse")
    model(np.ones((4, 3), "float32"))
    assert [float(v) for v in model.losses] == [6.0]
    assert model.evaluate(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0) == pytest.approx(6.0)
    with pytest.raises(TypeError) as caught:
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    assert any("regularizer FunctionRegularizer" in note for note in getattr(caught.value, "__notes__", []))


def test_a_random_initializer_refuses_an_integer_dtype_as_keras_does():
    """Truncated to integers, its draws would be mostly zeros; the fixed ones take integers."""
    import gpunn

    for initializer in (gpunn.initializers.RandomNormal(seed=1), gpunn.initializers.GlorotUniform(),
                        gpunn.initializers.Orthogonal()):
        with pytest.raises(ValueError, match="draws floating-point values; expected a float dtype"):
            initializer((3, 3), dtype="int32")
    assert gpunn.initializers.Constant(3)((2,), dtype="int32").tolist() == [3, 3]
