"""regularizers.OrthogonalRegularizer as Keras 3's: its penalty and training with it equal Keras's (both modes, by
name and by class, through a .keras file both ways), its gradient equals finite differences (float64), and its
arguments are checked with Keras's messages."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close_to_keras, numerical_gradient, numpy_backend, run_keras  # noqa: F401  (fixture)

import gpunn
from gpunn.autodiff import Tensor, gradients
from gpunn.regularizers import OrthogonalRegularizer

CASE = r'''
import numpy as np


def run(module, mode, path=None):
    regularizer = "orthogonal_regularizer" if mode is None else module.regularizers.OrthogonalRegularizer(0.2, mode)
    model = module.Sequential([module.Input((4,)), module.layers.Dense(5, activation="tanh",
                                                                       kernel_regularizer=regularizer),
                               module.layers.Dense(2)])
    model.set_weights([(np.cos(np.arange(w.size) + k) * 0.5).astype("float32").reshape(w.shape)
                       for k, w in enumerate(model.get_weights())])
    model.compile(module.optimizers.SGD(0.1), "mse")
    x = np.linspace(-1, 1, 32, dtype="float32").reshape(8, 4)
    history = model.fit(x, x[:, :2], batch_size=4, epochs=3, shuffle=False, verbose=0)
    if path:
        model.save(path)
    return {"loss": history.history["loss"], "weights": [w.tolist() for w in model.get_weights()],
            "penalty": float(np.asarray(sum(model.losses)))}
'''
KERAS_MAIN = r'''
import json, sys
import keras
cases, path = json.loads(sys.stdin.read())
out = [run(keras, mode) for mode in cases]
model = keras.models.load_model(path)
out.append(model.layers[0].kernel_regularizer.get_config())
print(json.dumps(out))
'''
MODES = ["rows", "columns", None]


def test_training_with_it_equals_keras_and_files_carry_it(tmp_path, numpy_backend):
    path = str(tmp_path / "orthogonal.keras")
    namespace: dict = {}
    exec(compile(CASE, "orthogonal_case.py", "exec"), namespace)
    ours = [namespace["run"](gpunn, mode, path if mode == "columns" else None) for mode in MODES]
    theirs = run_keras(CASE + KERAS_MAIN, [MODES, path])
    for mode, mine, keras_run in zip(MODES, ours, theirs):
        assert_close_to_keras(mine["loss"], keras_run["loss"], f"loss, mode {mode}", rtol=1e-5, atol=1e-6)
        assert_close_to_keras(mine["penalty"], keras_run["penalty"], f"penalty, mode {mode}", rtol=1e-5, atol=1e-7)
        for k, (w, keras_w) in enumerate(zip(mine["weights"], keras_run["weights"])):
            assert_close_to_keras(w, keras_w, f"weight {k}, mode {mode}", rtol=1e-5, atol=1e-6)
    # Keras reads gpunn's file (its factor is a float32 tensor, so its config gives 0.2 rounded to float32)
    assert theirs[-1] == {"factor": pytest.approx(0.2, rel=1e-7), "mode": "columns"}
    loaded = gpunn.models.load_model(path).layers[0].kernel_regularizer
    assert isinstance(loaded, OrthogonalRegularizer) and loaded.get_config() == {"factor": 0.2, "mode": "columns"}


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_gradient_matches_finite_differences(mode, rng):
    weight = rng.standard_normal((4, 3))
    regularizer = OrthogonalRegularizer(0.7, mode)
    tensor = Tensor(weight, requires_grad=True)
    (analytic,) = gradients(regularizer(tensor), [tensor], np.ones(()))
    numeric = numerical_gradient(lambda w: float(np.asarray(regularizer(Tensor(w)).value)), weight.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("arguments, match", [({"factor": -1.0}, "factor"), ({"factor": float("nan")}, "factor"),
                                              ({"mode": "diagonal"}, "mode"), ({"factor": "0.1"}, "factor")])
def test_arguments_are_checked_with_keras_messages(arguments, match):
    with pytest.raises(ValueError, match=match):
        OrthogonalRegularizer(**arguments)


def test_a_weight_of_another_rank_is_refused_by_name():
    with pytest.raises(ValueError, match="rank 2"):
        OrthogonalRegularizer()(np.zeros(3, np.float32))
