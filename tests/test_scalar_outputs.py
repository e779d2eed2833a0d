"""Models whose output is one value per sample, shape (samples,) (``Reshape(())`` after ``Dense(1)``): they train
as the same model with a (samples, 1) column output, targets of shape (samples,) or (samples, 1) alike, and predict
(samples,). Keras agrees where its rank handling does (the unweighted loss, metrics over equal batches); the
README's differences list where it does not (sample weights, 'accuracy', a partial last batch)."""
import numpy as np
import pytest

from tests.helpers import numpy_backend, run_script_both_ways  # noqa: F401

SCRIPT = r'''
import json, sys
import numpy as np


def weights_for(model):
    rng = np.random.RandomState(3)
    return [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in model.get_weights()]


def train(module, model, loss, metrics, y, sample_weight=None):
    model.set_weights(weights_for(model))
    model.compile(module.optimizers.SGD(0.05), loss, metrics=metrics)
    x = np.random.RandomState(0).uniform(-1, 1, (24, 3)).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, sample_weight=sample_weight)
    predicted = model.predict(x[:5], verbose=0)
    if isinstance(predicted, dict):
        predicted = [predicted[key] for key in sorted(predicted)]
    elif not isinstance(predicted, list):
        predicted = [predicted]
    return {"history": history.history, "evaluate": model.evaluate(x, y, verbose=0, return_dict=True),
            "predict": [p.tolist() for p in predicted], "shapes": [list(p.shape) for p in predicted],
            "weights": [w.tolist() for w in model.get_weights()]}


def scalar_model(module, activation=None):
    layers = module.layers
    return module.Sequential([module.Input((3,)), layers.Dense(4, activation="tanh"),
                              layers.Dense(1, activation=activation), layers.Reshape(())])


def run(module, folder):
    x = np.random.RandomState(0).uniform(-1, 1, (24, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], "float32")).astype("float32")
    labels = (y > 0).astype("float32")
    out = {
        "regression": train(module, scalar_model(module), "mse", ["mae"], y),
        "column_targets": train(module, scalar_model(module), "mse", ["mae"], y[:, None]),
        "binary": train(module, scalar_model(module, "sigmoid"), "binary_crossentropy", ["auc"], labels),
    }
    inputs = module.Input((3,))
    hidden = module.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    value = module.layers.Reshape((), name="value")(module.layers.Dense(1)(hidden))
    classes = module.layers.Dense(2, activation="softmax", name="classes")(hidden)
    model = module.Model(inputs, {"value": value, "classes": classes})
    out["two_outputs"] = train(module, model, {"value": "mse", "classes": "sparse_categorical_crossentropy"},
                               {"value": ["mae"], "classes": ["accuracy"]},
                               {"value": y, "classes": labels.astype("int32")})
    return out
'''


def test_scalar_outputs_train_evaluate_and_predict_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for case in theirs:
        assert ours[case]["shapes"] == theirs[case]["shapes"], case
        assert ours[case]["history"].keys() == theirs[case]["history"].keys(), case
        for name, values in theirs[case]["history"].items():
            np.testing.assert_allclose(ours[case]["history"][name], values, rtol=2e-5, atol=1e-6, err_msg=case + name)
        assert ours[case]["evaluate"].keys() == theirs[case]["evaluate"].keys(), case
        for name, value in theirs[case]["evaluate"].items():
            np.testing.assert_allclose(ours[case]["evaluate"][name], value, rtol=2e-5, atol=1e-6, err_msg=case + name)
        for got, want in zip(ours[case]["predict"], theirs[case]["predict"]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=case)
        for got, want in zip(ours[case]["weights"], theirs[case]["weights"]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=case)


def test_a_scalar_output_replays_its_step_as_it_runs_it(numpy_backend):  # noqa: F811
    import gpunn

    x = np.random.RandomState(0).uniform(-1, 1, (24, 3)).astype("float32")
    y = x.sum(axis=1)
    runs = []
    for steps in (1, 3):
        gpunn.utils.set_random_seed(5)
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4, activation="relu"),
                                  gpunn.layers.Dense(1), gpunn.layers.Reshape(())])
        model.compile(gpunn.optimizers.Adam(0.01), "mse", metrics=["mae"], steps_per_execution=steps)
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        runs.append((history.history, model.get_weights()))
    assert runs[0][0] == runs[1][0]
    for eager, replayed in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(eager, replayed)


def test_class_ids_for_a_scalar_output_are_refused_by_name(numpy_backend):  # noqa: F811
    import gpunn

    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1), gpunn.layers.Reshape(())])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"y: SparseCategoricalCrossentropy needs an output with a class axis"):
        model.fit(np.zeros((4, 3), "float32"), np.zeros(4, "int32"), verbose=0)


def _fit(gpunn, scalar: bool, activation, loss, metrics, y, sample_weight, class_weight):
    x = np.random.RandomState(0).uniform(-1, 1, (21, 3)).astype("float32")
    layers = [gpunn.Input((3,)), gpunn.layers.Dense(4, activation="tanh"), gpunn.layers.Dense(1, activation=activation)]
    # (a trailing Reshape on both: a sigmoid the loss cannot fuse, so the two compute the same operations)
    model = gpunn.Sequential(layers + [gpunn.layers.Reshape(() if scalar else (1,))])
    model.set_weights([np.random.RandomState(k).uniform(-0.5, 0.5, w.shape).astype("float32")
                       for k, w in enumerate(model.get_weights())])
    model.compile(gpunn.optimizers.SGD(0.05, momentum=0.9), loss, metrics=metrics)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        sample_weight=None if class_weight else sample_weight, class_weight=class_weight)
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True, sample_weight=sample_weight)
    return history.history, evaluated, model.get_weights(), model.predict(x, verbose=0)


@pytest.mark.parametrize("activation, loss, metrics, targets", [
    (None, "huber", ["mse", "mae"], "values"),
    ("sigmoid", "binary_crossentropy", ["accuracy", "auc", "precision"], "labels"),
])
def test_a_scalar_output_trains_as_the_same_model_with_a_column_output(
        numpy_backend, activation, loss, metrics, targets):  # noqa: F811
    import gpunn

    x = np.random.RandomState(0).uniform(-1, 1, (21, 3)).astype("float32")
    values = x @ np.array([1.0, -2.0, 0.5], "float32")
    y = values if targets == "values" else (values > 0).astype("float32")
    weight = np.random.RandomState(1).uniform(0.5, 2, 21).astype("float32")
    class_weight = {0: 0.5, 1: 2.0} if targets == "labels" else None
    for sample_weight in (None, weight):
        scalar = _fit(gpunn, True, activation, loss, metrics, y, sample_weight, class_weight)
        column = _fit(gpunn, False, activation, loss, metrics, y[:, None], sample_weight, class_weight)
        assert scalar[0] == column[0] and scalar[1] == column[1]
        for got, want in zip(scalar[2], column[2]):
            np.testing.assert_array_equal(got, want)
        assert scalar[3].shape == (21,) and column[3].shape == (21, 1)
        np.testing.assert_array_equal(scalar[3], column[3][:, 0])
