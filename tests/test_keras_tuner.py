"""KerasTuner searching over gpunn's models (``from gpunn import keras_tuner as kt``), against KerasTuner over Keras 3
itself: the TF tutorial "Introduction to the Keras Tuner" (Hyperband, its later rounds loading the checkpoints of
the earlier ones) and keras-io's "Getting started with KerasTuner" (RandomSearch with several executions per
trial, HyperModels of one's own returning a History, a number or a dict, tuners with a run_trial of their own).

Each script runs in a child process of its own on both sides. gpunn's runs without KERAS_BACKEND, as a user without
TensorFlow does: KerasTuner's import of Keras then takes Keras's NumPy backend (``_compat.keras_tuner``).
Hyperparameters are drawn from the same seed, and the models start from the same weights and see their batches in
order, so the trials, their scores and the best models agree with Keras's to float32 rounding."""
from __future__ import annotations

import importlib.util
import json
import os

import pytest
from helpers import keras_unavailable_reason, run_keras_script

pytestmark = pytest.mark.skipif(importlib.util.find_spec("keras_tuner") is None,
                                reason="keras-tuner is not installed (pip install 'gpunn[tuner]')")

HEADER = r'''
import json, sys
import numpy as np
if sys.argv[1] == "keras":
    import keras
    import keras_tuner as kt
else:
    import gpunn as keras
    from gpunn import keras_tuner as kt
layers = keras.layers
folder = sys.argv[2]


def fixed_weights(model):
    """The same starting weights in both libraries (drawn from each weight's size)."""
    model.set_weights([np.random.default_rng(w.size).normal(0, 0.3, w.shape).astype("float32")
                       for w in model.get_weights()])


def trials_of(tuner):
    return [[t.trial_id, t.hyperparameters.values, t.score, t.status] for _, t in sorted(tuner.oracle.trials.items())]
'''

TUTORIAL = HEADER + r'''
rng = np.random.default_rng(0)
img_train = rng.random((150, 6, 6)).astype("float32")
label_train = np.argmax(img_train.reshape(150, 36) @ rng.normal(size=(36, 4)), axis=1)


def model_builder(hp):
    model = keras.Sequential()
    model.add(keras.layers.Flatten(input_shape=(6, 6)))
    hp_units = hp.Int('units', min_value=8, max_value=32, step=8)
    model.add(keras.layers.Dense(units=hp_units, activation='relu'))
    model.add(keras.layers.Dense(4))
    hp_learning_rate = hp.Choice('learning_rate', values=[1e-1, 1e-2, 1e-3])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=hp_learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    fixed_weights(model)
    return model


tuner = kt.Hyperband(model_builder, objective='val_accuracy', max_epochs=4, factor=3, seed=7,
                     directory=folder, project_name='intro_to_kt')
stop_early = keras.callbacks.EarlyStopping(monitor='val_loss', patience=5)
tuner.search(img_train, label_train, epochs=50, validation_split=0.2, callbacks=[stop_early], shuffle=False,
             verbose=0)
best_hps = tuner.get_best_hyperparameters(num_trials=1)[0]
model = tuner.hypermodel.build(best_hps)
history = model.fit(img_train, label_train, epochs=6, validation_split=0.2, shuffle=False, verbose=0)
val_acc_per_epoch = history.history['val_accuracy']
best_epoch = val_acc_per_epoch.index(max(val_acc_per_epoch)) + 1
hypermodel = tuner.hypermodel.build(best_hps)
hypermodel.fit(img_train, label_train, epochs=best_epoch, validation_split=0.2, shuffle=False, verbose=0)
best_model = tuner.get_best_models(1)[0]
print(json.dumps({
    "trials": trials_of(tuner), "best": best_hps.values, "history": history.history, "best_epoch": best_epoch,
    "evaluate": [float(v) for v in hypermodel.evaluate(img_train, label_train, verbose=0)],
    "best_model": [float(v) for v in best_model.evaluate(img_train, label_train, verbose=0)],
    "best_model_class": type(best_model).__module__.split(".")[0]}))
'''

GUIDE = HEADER + r'''
rng = np.random.default_rng(1)
x_train, x_val = rng.random((120, 5, 5)).astype("float32"), rng.random((40, 5, 5)).astype("float32")
labels = lambda x: keras.utils.to_categorical(np.argmax(x.reshape(len(x), 25)[:, :10], axis=1), 10)
y_train, y_val = labels(x_train), labels(x_val)
results = {}


def build_model(hp):  # the guide's, but for the starting weights
    model = keras.Sequential()
    model.add(layers.Flatten())
    model.add(layers.Dense(units=hp.Int("units", min_value=32, max_value=512, step=32),
                           activation=hp.Choice("activation", ["relu", "tanh"])))
    if hp.Boolean("dropout"):
        model.add(layers.Dropout(rate=0.25))
    model.add(layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.build((None, 5, 5))
    fixed_weights(model)
    return model


build_model(kt.HyperParameters())
tuner = kt.RandomSearch(hypermodel=build_model, objective="val_accuracy", max_trials=3, executions_per_trial=2,
                        overwrite=True, directory=folder, project_name="helloworld", seed=11)
tuner.search(x_train, y_train, epochs=2, validation_data=(x_val, y_val), shuffle=False, verbose=0)
models = tuner.get_best_models(num_models=2)
results["random_search"] = {
    # (a trial with Dropout draws its masks from each library's own generator: its score is not compared)
    "trials": [[i, hp, None if hp["dropout"] else score, status] for i, hp, score, status in trials_of(tuner)],
    "best_models": [m.count_params() for m in models],
    "best_hps": len(tuner.get_best_hyperparameters(5))}


class HyperRegressor(kt.HyperModel):
    def __init__(self, returns):
        super().__init__()
        self.returns = returns

    def build(self, hp):
        model = keras.Sequential([layers.Dense(units=hp.Int("units", 32, 128, 32), activation="relu"),
                                  layers.Dense(units=1)])
        model.compile(optimizer="adam", loss="mean_squared_error",
                      metrics=[keras.metrics.MeanAbsoluteError()] if self.returns == "history" else None)
        model.build((None, 10))
        fixed_weights(model)
        return model

    def fit(self, hp, model, x, y, validation_data, **kwargs):
        history = model.fit(x, y, validation_data=validation_data, shuffle=False, verbose=0, **kwargs)
        if self.returns == "history":
            return history
        x_val, y_val = validation_data
        y_pred = model.predict(x_val, verbose=0)
        if self.returns == "float":
            return np.mean(np.abs(y_pred - y_val))
        return {"metric_a": -np.mean(np.abs(y_pred - y_val)), "metric_b": np.mean(np.square(y_pred - y_val))}


x, y = rng.random((100, 10)), rng.random((100, 1))
validation_data = (rng.random((20, 10)), rng.random((20, 1)))
objectives = {"history": kt.Objective("val_mean_absolute_error", direction="min"), "float": None,
              "dict": kt.Objective("metric_a", "max")}
for returns, objective in objectives.items():
    tuner = kt.RandomSearch(hypermodel=HyperRegressor(returns), objective=objective, max_trials=3, overwrite=True,
                            directory=folder, project_name=returns, seed=5)
    tuner.search(x=x, y=y, validation_data=validation_data)
    results[returns] = trials_of(tuner)


class MyTuner(kt.RandomSearch):  # Tuner.run_trial's docstring: build and fit in a run_trial of one's own
    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        model = self.hypermodel.build(hp)
        return model.fit(*args, **kwargs)


def build_regressor(hp):
    model = keras.Sequential([layers.Dense(units=hp.Int("units", 32, 128, 32), activation="relu"),
                              layers.Dense(units=1)])
    model.compile(optimizer=hp.Choice("optimizer", ["adam", "sgd"]), loss="mean_squared_error")
    model.build((None, 10))
    fixed_weights(model)
    return model


tuner = MyTuner(build_regressor, objective="val_loss", max_trials=3, overwrite=True, directory=folder,
                project_name="own_run_trial", seed=3)
tuner.search(x, y, validation_data=validation_data, epochs=2, shuffle=False, verbose=0)
results["own_run_trial"] = trials_of(tuner)


class BlackBox(kt.RandomSearch):  # the guide's "Tune any function"
    def run_trial(self, trial, *args, **kwargs):
        x = trial.hyperparameters.Float("x", min_value=-1.0, max_value=1.0)
        return x * x + 1


def build_classifier(hp):  # compiled with its metrics; the tuner's optimizer replaces the model's
    model = keras.Sequential([layers.Flatten(), layers.Dense(hp.Int("units", 8, 16, 8), activation="relu"),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 5, 5))
    fixed_weights(model)
    return model


tuner = kt.RandomSearch(build_classifier, objective="val_accuracy", max_trials=2, overwrite=True, directory=folder,
                        project_name="overridden", seed=4, optimizer=keras.optimizers.SGD(learning_rate=0.05))
tuner.search(x_train, y_train, epochs=2, validation_data=(x_val, y_val), shuffle=False, verbose=0)
results["overridden"] = trials_of(tuner)
best = tuner.get_best_models(1)[0]
results["overridden_model"] = [type(best.optimizer).__name__, float(best.optimizer.learning_rate),
                               sorted(tuner.oracle.get_best_trials(1)[0].metrics.metrics)]

tuner = BlackBox(max_trials=5, overwrite=True, directory=folder, project_name="tune_anything", seed=2)
tuner.search()
results["black_box"] = tuner.get_best_hyperparameters()[0].get("x")
print(json.dumps(results))
'''


def _run(script: str, side: str, folder) -> dict:
    """The script's JSON result, run by Keras 3 (jax) or by gpunn (without KERAS_BACKEND, as without TensorFlow)."""
    env = {**os.environ, "KERAS_HOME": str(folder / "keras_home")}
    if side == "keras":
        env["KERAS_BACKEND"] = "jax"
    else:
        env.pop("KERAS_BACKEND", None)
    run = run_keras_script(script, side, str(folder / side), env=env, cwd=folder)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _both(script: str, tmp_path) -> tuple[dict, dict]:
    reason = keras_unavailable_reason()
    if reason:
        pytest.skip(reason)
    return _run(script, "gpunn", tmp_path), _run(script, "keras", tmp_path)


def _assert_same_trials(ours: list, theirs: list, where: str) -> None:
    assert [t[:2] for t in ours] == [t[:2] for t in theirs], where  # ids and hyperparameters, drawn alike
    assert [t[3] for t in ours] == [t[3] for t in theirs] == ["COMPLETED"] * len(theirs), where
    for mine, keras_trial in zip(ours, theirs):
        if keras_trial[2] is None:
            assert mine[2] is None, where
        else:
            assert mine[2] == pytest.approx(keras_trial[2], rel=1e-4, abs=1e-6), (where, mine, keras_trial)


def test_the_tf_tutorial_s_hyperband_search_runs_as_with_keras(tmp_path):
    ours, theirs = _both(TUTORIAL, tmp_path)
    _assert_same_trials(ours["trials"], theirs["trials"], "Hyperband trials")
    # later rounds went on from the checkpoints of earlier trials, built from their saved build config
    assert any("tuner/trial_id" in hp for _, hp, _, _ in ours["trials"])
    assert ours["best"] == theirs["best"]
    assert ours["best_epoch"] == theirs["best_epoch"]
    assert ours["history"].keys() == theirs["history"].keys()
    for name, values in theirs["history"].items():
        assert ours["history"][name] == pytest.approx(values, rel=1e-4, abs=1e-6), name
    assert ours["evaluate"] == pytest.approx(theirs["evaluate"], rel=1e-4, abs=1e-6)
    # get_best_models: the best trial's model, its weights loaded from the best epoch's checkpoint
    assert ours["best_model"] == pytest.approx(theirs["best_model"], rel=1e-4, abs=1e-6)
    assert ours["best_model_class"] == "gpunn"


def test_the_getting_started_guide_s_searches_run_as_with_keras(tmp_path):
    ours, theirs = _both(GUIDE, tmp_path)
    _assert_same_trials(ours["random_search"]["trials"], theirs["random_search"]["trials"], "RandomSearch")
    assert ours["random_search"]["best_hps"] == theirs["random_search"]["best_hps"] == 3
    assert len(ours["random_search"]["best_models"]) == 2
    for returns in ("history", "float", "dict", "own_run_trial", "overridden"):
        _assert_same_trials(ours[returns], theirs[returns], returns)
    assert ours["black_box"] == theirs["black_box"]
    # the tuner's optimizer, the model's own metrics kept
    (name, rate, logged), (keras_name, keras_rate, keras_logged) = ours["overridden_model"], theirs["overridden_model"]
    assert (name, logged) == (keras_name, keras_logged) and rate == pytest.approx(keras_rate)
    assert name == "SGD" and "val_accuracy" in logged


GPUNN_ONLY = r'''
import json, os, sys
import numpy as np
from gpunn import keras_tuner as kt
import gpunn as keras
import keras as the_keras

folder = sys.argv[1]
out = {"keras_backend": the_keras.backend.backend(), "env": os.environ.get("KERAS_BACKEND")}


def build(hp):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(hp.Int("units", 2, 4)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


x, y = np.random.default_rng(0).random((32, 3)), np.random.default_rng(1).random((32, 1))
tuner = kt.RandomSearch(build, objective="val_loss", max_trials=2, directory=folder, project_name="logs", seed=1)
tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0,
             callbacks=[keras.callbacks.TensorBoard(log_dir=os.path.join(folder, "tb"))])
out["logs"] = sorted(os.path.relpath(os.path.join(root), folder) for root, dirs, files in os.walk(folder)
                     if root.endswith("train"))
out["best_class"] = type(tuner.get_best_models(1)[0]).__name__
from gpunn.keras_tuner.tuners import Hyperband
out["tuners"] = Hyperband is kt.Hyperband

tuner = kt.RandomSearch(lambda hp: "not a model", objective="val_loss", max_trials=1, directory=folder,
                        project_name="bad")
try:
    tuner.search(x, y, validation_split=0.25)
except kt.errors.FatalTypeError as exc:
    out["refused"] = str(exc)
print(json.dumps(out))
'''


def test_gpunn_s_tuners_take_keras_s_numpy_backend_log_each_trial_and_refuse_other_results(tmp_path):
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed: Keras imports it as its backend, not its NumPy one")
    env = {name: value for name, value in os.environ.items() if name != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path / "keras_home")
    run = run_keras_script(GPUNN_ONLY, str(tmp_path), env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    # Keras's NumPy backend, for KerasTuner's import only; the variable is not left to the script's children
    assert out["keras_backend"] == "numpy" and out["env"] is None
    # a TensorBoard callback writes each trial's logs apart, as KerasTuner has Keras's do
    assert out["logs"] == [os.path.join("tb", "0", "execution0", "train"),
                           os.path.join("tb", "1", "execution0", "train")]
    assert out["best_class"] == "Sequential" and out["tuners"]
    assert "to return a gpunn model" in out["refused"] and "'str'" in out["refused"]


def test_a_keras_backend_the_user_named_is_given_back(tmp_path):
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed: Keras imports it as its backend")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "KERAS_HOME": str(tmp_path / "keras_home")}
    script = ("import os\nfrom gpunn import keras_tuner\nimport keras\n"
              "print(keras.backend.backend(), os.environ['KERAS_BACKEND'])")
    run = run_keras_script(script, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.split()[-2:] == ["numpy", "tensorflow"]
