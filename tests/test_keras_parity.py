"""The numbers users compare with Keras: gpunn and Keras 3 train the same model from the same weights on the
same batches (no shuffling), and end with the same weights and report the same History, to float32 rounding.

Each case is a compiled gpunn model saved as ``.keras``; Keras 3 (a subprocess on its jax backend) loads it,
fits it exactly as gpunn does, and writes its weights and History. The cases cover what decides the numbers:
the loss's reduction with sample or class weights, an L2 penalty added to the reported loss, BatchNormalization
in training and inference, every optimizer's update formula (SGD with Nesterov momentum, RMSprop centered, Adam,
AdamW with a schedule, Nadam, Adamax, Adadelta, Adagrad, Lion), the losses (cross-entropies, MSE, Huber, hinge,
categorical hinge, Poisson, KL divergence), the metrics (accuracy on probabilities and on logits, Precision,
Recall, AUC, RMSE, R2, MAPE, F1, top-k), the activation layers and activations (PReLU, LeakyReLU, ELU, SELU,
mish, softplus), Rescaling and an adapted Normalization, validation_split's rows and validation metrics.
Skipped when keras or jax is not installed.
"""
from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest
from helpers import keras_unavailable_reason, run_keras_script

import gpunn
from gpunn import layers, metrics, optimizers, regularizers
from gpunn.optimizers import schedules


def _classification(n=96, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = (x[:, :classes] + 0.5 * rng.standard_normal((n, classes))).argmax(axis=1)
    return x, y


def _binary(n=96, features=6, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = ((x[:, 0] - x[:, 1] + 0.5 * rng.standard_normal(n)) > 0.3).astype("float32")
    return x, y


def _regression(n=96, features=6, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = (x @ rng.standard_normal((features, 1)) + 0.1 * rng.standard_normal((n, 1))).astype("float32")
    return x, y


def _case_softmax_adam():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)),
                              layers.Dense(8, activation="relu", kernel_regularizer=regularizers.l2(1e-3)),
                              layers.BatchNormalization(),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = _classification()
    return model, x, y, dict(batch_size=16, epochs=3, validation_split=0.25)


def _case_logits_class_weight_sgd():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
                  loss=gpunn.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy", metrics.Precision(), metrics.Recall(), metrics.AUC()])
    x, y = _binary()
    return model, x, y, dict(batch_size=16, epochs=3, class_weight={0: 0.7, 1: 1.8})


def _case_regression_adamw_schedule():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(16, activation="gelu"),
                              layers.LayerNormalization(), layers.Dense(1)])
    schedule = schedules.ExponentialDecay(0.02, decay_steps=4, decay_rate=0.7)
    model.compile(optimizer=optimizers.AdamW(learning_rate=schedule, weight_decay=0.01), loss="mse",
                  metrics=["mae", metrics.RootMeanSquaredError()])
    x, y = _regression()
    weights = np.linspace(0.5, 1.5, len(x)).astype("float32")
    return model, x, y, dict(batch_size=12, epochs=3, sample_weight=weights, validation_split=0.2)


def _case_rmsprop_categorical():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(10, activation="elu"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.005, momentum=0.5, centered=True),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    x, labels = _classification(seed=3)
    return model, x, gpunn.utils.to_categorical(labels, 3), dict(batch_size=32, epochs=2)


def _case_nadam_huber_r2_mape_prelu():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Rescaling(0.5, offset=0.1), layers.Dense(12),
                              layers.PReLU(), layers.Dense(1)])
    model.compile(optimizer=optimizers.Nadam(learning_rate=0.01), loss=gpunn.losses.Huber(delta=0.5),
                  metrics=[metrics.R2Score(), metrics.MeanAbsolutePercentageError()])
    x, y = _regression(seed=4)
    return model, x, y + 3.0, dict(batch_size=16, epochs=3)


def _case_adamax_hinge_f1_leaky_relu():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(10), layers.LeakyReLU(negative_slope=0.2),
                              layers.Dense(1, activation="tanh")])
    model.compile(optimizer=optimizers.Adamax(learning_rate=0.02), loss="hinge",
                  metrics=[metrics.F1Score(threshold=0.5)])
    x, y = _binary(seed=5)
    return model, x, y.reshape(-1, 1), dict(batch_size=16, epochs=3)


def _case_adadelta_poisson_elu():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(8), layers.ELU(alpha=0.7),
                              layers.Dense(1, activation="softplus")])
    model.compile(optimizer=optimizers.Adadelta(learning_rate=1.0), loss="poisson", metrics=["mse"])
    x, y = _regression(seed=6)
    return model, x, np.abs(y), dict(batch_size=24, epochs=3)


def _case_lion_categorical_hinge_top_k():
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(10, activation="selu"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Lion(learning_rate=0.003), loss="categorical_hinge",
                  metrics=[metrics.TopKCategoricalAccuracy(k=2)])
    x, labels = _classification(seed=7)
    return model, x, gpunn.utils.to_categorical(labels, 3), dict(batch_size=16, epochs=3)


def _case_adagrad_kld_normalization():
    norm = layers.Normalization()
    x, labels = _classification(seed=8)
    norm.adapt(x)
    model = gpunn.Sequential([gpunn.Input(shape=(6,)), norm, layers.Dense(8, activation="mish"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adagrad(learning_rate=0.1), loss="kl_divergence",
                  metrics=["categorical_accuracy"])
    return model, x, gpunn.utils.to_categorical(labels, 3), dict(batch_size=16, epochs=3)


CASES = {
    "nadam-huber-r2-mape-prelu-rescaling": _case_nadam_huber_r2_mape_prelu,
    "adamax-hinge-f1-leaky-relu": _case_adamax_hinge_f1_leaky_relu,
    "adadelta-poisson-elu-softplus": _case_adadelta_poisson_elu,
    "lion-categorical-hinge-top-k-selu": _case_lion_categorical_hinge_top_k,
    "adagrad-kld-normalization-mish": _case_adagrad_kld_normalization,
    "softmax-adam-l2-batchnorm-validation": _case_softmax_adam,
    "logits-class-weight-sgd-nesterov-precision-recall-auc": _case_logits_class_weight_sgd,
    "regression-adamw-schedule-sample-weight-layernorm": _case_regression_adamw_schedule,
    "rmsprop-centered-categorical": _case_rmsprop_categorical,
}

KERAS_FIT = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import keras

    work = sys.argv[1]
    out = {}
    for name in json.load(open(os.path.join(work, "cases.json"))):
        data = np.load(os.path.join(work, name + ".npz"))
        kwargs = json.load(open(os.path.join(work, name + ".json")))
        if "sample_weight" in data:
            kwargs["sample_weight"] = data["sample_weight"]
        if "class_weight" in kwargs:
            kwargs["class_weight"] = {int(k): v for k, v in kwargs["class_weight"].items()}
        model = keras.saving.load_model(os.path.join(work, name + ".keras"))
        history = model.fit(data["x"], data["y"], shuffle=False, verbose=0, **kwargs)
        out[name] = {"weights": [np.asarray(w).tolist() for w in model.get_weights()],
                     "history": {k: [np.asarray(v).tolist() for v in vs] for k, vs in history.history.items()},
                     "predictions": np.asarray(model.predict(data["x"], verbose=0)).tolist()}
    json.dump(out, open(os.path.join(work, "keras.json"), "w"))
""")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """{case: (gpunn's weights, History, predictions), Keras's (the same)} after the same fit."""
    reason = keras_unavailable_reason()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("parity")
    ours = {}
    with gpunn.use_backend("numpy"):
        for name, make in CASES.items():
            gpunn.utils.set_random_seed(0)
            model, x, y, fit_kwargs = make()
            model.build()
            model.save(work / f"{name}.keras")  # before training: Keras starts from these weights
            arrays = {"x": x, "y": y}
            if "sample_weight" in fit_kwargs:
                arrays["sample_weight"] = fit_kwargs["sample_weight"]
            np.savez(work / f"{name}.npz", **arrays)
            (work / f"{name}.json").write_text(json.dumps({k: v for k, v in fit_kwargs.items()
                                                           if k != "sample_weight"}))
            history = model.fit(x, y, shuffle=False, verbose=0, **fit_kwargs)
            ours[name] = {"weights": model.get_weights(), "history": history.history,
                          "predictions": model.predict(x, verbose=0)}
    (work / "cases.json").write_text(json.dumps(list(CASES)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KERAS_BACKEND"] = "jax"
    run = run_keras_script(KERAS_FIT, str(work), env=env, timeout=600, cwd=work)
    assert run.returncode == 0, run.stderr[-4000:]
    theirs = json.loads((work / "keras.json").read_text())
    return ours, theirs


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_fit_ends_with_keras_weights_and_history(compared, name):
    ours, theirs = compared[0][name], compared[1][name]
    assert set(ours["history"]) == set(theirs["history"]), (sorted(ours["history"]), sorted(theirs["history"]))
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(np.asarray(ours["history"][key], dtype=np.float64), np.asarray(values), rtol=2e-4,
                                   atol=2e-5, err_msg=f"{name}: {key}")
    assert len(ours["weights"]) == len(theirs["weights"])
    for index, (got, want) in enumerate(zip(ours["weights"], theirs["weights"])):
        np.testing.assert_allclose(got, np.asarray(want, dtype=got.dtype), rtol=2e-4, atol=2e-5,
                                   err_msg=f"{name}: weight {index}")
    np.testing.assert_allclose(ours["predictions"], theirs["predictions"], rtol=2e-4, atol=2e-5,
                               err_msg=f"{name}: predictions")
