"""``keras.config.set_epsilon`` reaches the built-in losses, metrics, constraints and layers that Keras makes read
``backend.epsilon()``: the MAPE fix for targets of zero (``set_epsilon(1)``) trains as in Keras. Compared with
Keras itself."""
import numpy as np

from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np


def values(module):
    L, M = module.losses, module.metrics
    probabilities = np.array([[0.0, 1.0], [0.97, 0.03]], "float32")
    labels = np.array([[0.0, 1.0], [1.0, 0.0]], "float32")
    t, p = np.array([[0.0], [2.0]], "float32"), np.array([[1.0], [1.0]], "float32")
    out = {
        "bce": L.binary_crossentropy(np.array([[1.0]], "float32"), np.array([[0.0]], "float32")),
        "cce": L.categorical_crossentropy(labels, probabilities),
        "scce": L.sparse_categorical_crossentropy(np.array([1, 0]), probabilities),
        "bce_class": L.BinaryCrossentropy()(labels, probabilities),
        "focal": L.BinaryFocalCrossentropy()(labels, probabilities),
        "categorical_focal": L.CategoricalFocalCrossentropy()(labels, probabilities),
        "mape": L.mean_absolute_percentage_error(t, p),
        "msle": L.mean_squared_logarithmic_error(t, p - 1),
        "kld": L.kl_divergence(labels, probabilities),
        "poisson": L.poisson(t, p - 1),
        "metric_bce": M.binary_crossentropy(labels, probabilities),
        "metric_mape": M.MeanAbsolutePercentageError()(t, p),
        "f1": M.F1Score(threshold=0.5)(labels, probabilities),
        "unit_norm": module.constraints.UnitNorm()(np.array([[0.001], [0.0]], "float32")),
        "max_norm": module.constraints.MaxNorm(0.5)(np.array([[0.01], [0.0]], "float32")),
        "auc": M.AUC(num_thresholds=3)(labels, probabilities),
    }
    return {key: np.asarray(value, dtype="float64").tolist() for key, value in out.items()}


def run(module, folder):
    out = {"default": values(module)}
    try:
        module.config.set_epsilon(0.1)
        out["0.1"] = values(module)
        out["epsilon"] = module.config.epsilon()
        module.config.set_epsilon(1.0)
        x = np.random.RandomState(0).uniform(-1, 1, (16, 3)).astype("float32")
        y = np.where(x[:, :1] > 0, 0.0, x[:, :1] * 3).astype("float32")  # targets of zero: MAPE's case
        model = module.Sequential([module.Input((3,)), module.layers.Dense(1)])
        model.set_weights([np.full((3, 1), 0.2, "float32"), np.zeros(1, "float32")])
        model.compile(module.optimizers.SGD(0.001), "mape", metrics=["mape"])
        out["fit"] = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    finally:
        module.config.set_epsilon(1e-7)
    return out
'''


def test_set_epsilon_reaches_the_built_in_objects_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours["epsilon"] == theirs["epsilon"] == 0.1
    for setting in ("default", "0.1"):
        assert ours[setting].keys() == theirs[setting].keys()
        for name, value in theirs[setting].items():
            np.testing.assert_allclose(ours[setting][name], value, rtol=2e-5, atol=1e-6, err_msg=f"{setting} {name}")
    for name, value in theirs["fit"].items():
        np.testing.assert_allclose(ours["fit"][name], value, rtol=2e-5, err_msg=name)
    assert theirs["fit"]["loss"][0] < 1000  # (with the default epsilon it is 1e8 and more)


def test_set_epsilon_refuses_what_is_not_a_number():
    import pytest

    import gpunn

    with pytest.raises(ValueError, match=r"set_epsilon: expected a finite number >= 0, got 'small'"):
        gpunn.config.set_epsilon("small")
    assert gpunn.config.epsilon() == 1e-7
