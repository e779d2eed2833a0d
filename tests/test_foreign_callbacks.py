"""Callbacks written for Keras in gpunn's ``fit``: an object with every hook of Keras's ``Callback`` (Keras's own
callbacks, KerasTuner's, a script's ``keras.callbacks.Callback`` subclass) is called as gpunn's callbacks are; other
objects are refused by name. gpunn's own callbacks are deep-copyable, as KerasTuner needs those given to a
search to be."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from helpers import keras_unavailable_reason, numpy_backend, run_keras_script  # noqa: F401  (fixture)

import gpunn
from gpunn import callbacks

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


class KerasShaped:
    """Keras's Callback interface, without being gpunn's Callback: records what it is given."""

    def __init__(self):
        self.calls, self.model, self.params, self.epoch_logs = [], None, None, []

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def __getattr__(self, name):
        if name not in HOOKS:
            raise AttributeError(name)

        def hook(*args, logs=None):
            self.calls.append(name)
            if name == "on_epoch_end":
                self.epoch_logs.append(dict(args[1] if len(args) > 1 else logs))
        return hook


def _model():
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_an_object_with_every_keras_hook_is_called_as_a_callback(numpy_backend):
    x = np.random.default_rng(0).random((16, 3)).astype("float32")
    model, recorder = _model(), KerasShaped()
    history = model.fit(x, x[:, :1], batch_size=8, epochs=2, validation_split=0.25, callbacks=[recorder], verbose=0)
    assert recorder.model is model and recorder.params["epochs"] == 2
    assert recorder.epoch_logs == [{name: values[epoch] for name, values in history.history.items()}
                                   for epoch in range(2)]
    assert recorder.calls.count("on_train_batch_end") == 4 and recorder.calls.count("on_test_begin") == 2
    model.predict(x, callbacks=[recorder], verbose=0)
    assert recorder.calls[-1] == "on_predict_end"


def test_other_objects_are_refused_by_name(numpy_backend):
    model = _model()
    x = np.ones((4, 3), "float32")
    with pytest.raises(TypeError, match=r"got the class EarlyStopping; make one: EarlyStopping\(\.\.\.\)"):
        model.fit(x, x[:, :1], callbacks=[callbacks.EarlyStopping], verbose=0)

    class EpochsOnly:
        def on_epoch_end(self, epoch, logs=None):
            pass

    with pytest.raises(TypeError, match=r"got EpochsOnly, which lacks set_params, set_model, on_train_begin"):
        model.fit(x, x[:, :1], callbacks=[EpochsOnly()], verbose=0)
    kerass = type("BackupAndRestore", (KerasShaped,), {"__module__": "keras.src.callbacks.backup_and_restore"})
    with pytest.raises(TypeError, match=r"Keras's BackupAndRestore .* use gpunn.callbacks.BackupAndRestore"):
        model.fit(x, x[:, :1], callbacks=[kerass()], verbose=0)


def test_gpunn_s_callbacks_are_deep_copyable_before_and_after_training(numpy_backend, tmp_path):
    made = [callbacks.TensorBoard(log_dir=str(tmp_path / "tb")), callbacks.ModelCheckpoint(str(tmp_path / "m.keras")),
            callbacks.EarlyStopping(restore_best_weights=True), callbacks.CSVLogger(str(tmp_path / "log.csv")),
            callbacks.BackupAndRestore(str(tmp_path / "backup")), callbacks.ReduceLROnPlateau(),
            callbacks.LearningRateScheduler(lambda epoch, lr: lr), callbacks.TerminateOnNaN(),
            callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None), callbacks.SwapEMAWeights()]
    copies = copy.deepcopy(made)
    assert [type(c) for c in copies] == [type(c) for c in made]
    assert copies[0].log_dir == made[0].log_dir and copies[0] is not made[0]
    x = np.ones((8, 3), "float32")
    model = _model()
    model.compile(gpunn.optimizers.SGD(use_ema=True), "mse")
    model.fit(x, x[:, :1], epochs=2, validation_split=0.25, callbacks=made, verbose=0)
    again = copy.deepcopy(made)
    again_model = _model()
    again_model.compile(gpunn.optimizers.SGD(use_ema=True), "mse")
    again_model.fit(x, x[:, :1], epochs=1, validation_split=0.25, callbacks=again, verbose=0)  # the copies work


KERAS_CALLBACKS = r'''
import json, os, sys
import numpy as np
import gpunn
folder = sys.argv[1]


def train(cbs):
    gpunn.utils.set_random_seed(4)
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4, activation="relu"), gpunn.layers.Dense(1)])
    model.compile(gpunn.optimizers.SGD(0.3), "mse")
    x = np.random.default_rng(0).random((40, 3)).astype("float32")
    history = model.fit(x, x.sum(1, keepdims=True) ** 2, epochs=30, validation_split=0.25, shuffle=False,
                        callbacks=cbs, verbose=0)
    return {"history": history.history, "weights": [w.tolist() for w in model.get_weights()]}


def made(library):
    return [library.EarlyStopping(monitor="val_loss", min_delta=0.01, patience=2, restore_best_weights=True),
            library.ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5),
            library.LearningRateScheduler(lambda epoch, lr: lr * 0.97),
            library.ModelCheckpoint(os.path.join(folder, library.__name__ + ".keras"), save_best_only=True)]


import keras


class StopAtThree(keras.callbacks.Callback):  # a script's own, as Keras's guides write one
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            self.model.stop_training = True


out = {"keras": train(made(keras.callbacks)), "gpunn": train(made(gpunn.callbacks)),
       "stopped": len(train([StopAtThree()])["history"]["loss"])}
out["checkpoints"] = [[w.tolist() for w in gpunn.models.load_model(os.path.join(folder, f"{name}.keras")).get_weights()]
                      for name in ("keras.callbacks", "gpunn.callbacks")]
print(json.dumps(out))
'''


def test_keras_s_own_callbacks_steer_gpunn_s_training_as_gpunn_s_do(tmp_path):
    if keras_unavailable_reason():
        pytest.skip(keras_unavailable_reason())
    run = run_keras_script(KERAS_CALLBACKS, str(tmp_path))
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    keras_run, gpunn_run = out["keras"], out["gpunn"]
    assert 3 < len(keras_run["history"]["loss"]) < 30  # stopped early, after the rate was cut
    assert keras_run["history"].keys() == gpunn_run["history"].keys()
    assert len(set(keras_run["history"]["learning_rate"])) > 3
    for name, values in gpunn_run["history"].items():
        assert keras_run["history"][name] == pytest.approx(values, rel=1e-6), name
    for mine, theirs in zip(gpunn_run["weights"], keras_run["weights"]):  # best weights restored alike
        np.testing.assert_allclose(theirs, mine, rtol=1e-6)
    for by_keras, by_gpunn in zip(*out["checkpoints"]):  # both ModelCheckpoints saved the same best epoch
        np.testing.assert_allclose(by_keras, by_gpunn, rtol=1e-6)
    assert out["stopped"] == 3


def test_batch_logs_are_a_dict_to_callbacks_that_change_or_copy_them(numpy_backend):
    """tqdm's TqdmCallback copies the batch logs and pops names from the copy; Keras's guides add names to them."""
    import copy as copying

    seen = []

    class Changes(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            shown = copying.copy(logs)
            shown.pop("loss", 0)
            seen.append((type(shown), dict(shown), copying.deepcopy(logs)))
            logs["batch_note"] = batch

    class Reads(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(sorted(logs))

    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    model = _model()
    model.compile("sgd", "mse", metrics=["mae"])
    model.fit(x, x[:, :1], batch_size=4, epochs=1, callbacks=[Changes(), Reads()], verbose=0)
    (kind, shown, whole), after = seen[0], seen[1]
    assert kind is dict and list(shown) == ["mae"] and list(whole) == ["loss", "mae"]
    assert after == ["batch_note", "loss", "mae"]  # the next callback sees the name added


def test_batch_logs_pass_the_dict_checks_and_conversions_callbacks_make(numpy_backend):
    """Callbacks (Keras's TensorBoard among them) record batch logs only ``if isinstance(logs, dict)``, then copy,
    merge, serialize or pickle them: every one of these sees the batch's values, as with Keras's dict."""
    import pickle

    seen = {}

    class Checks(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not isinstance(logs, dict):  # the guard of keras/src/callbacks/tensorboard.py
                return
            values = {"loss": logs["loss"], "mae": logs["mae"]}
            seen[batch] = {
                "copy": logs.copy(), "or": logs | {"b": batch}, "ror": {"b": batch} | logs,
                "json": json.loads(json.dumps(logs)), "pickle": pickle.loads(pickle.dumps(logs)),
                "star": {**logs}, "dict": dict(logs), "items": dict(logs.items()), "equal": logs == values,
            }
            seen[batch]["values"] = values

    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    model = _model()
    model.compile("sgd", "mse", metrics=["mae"])
    model.fit(x, x[:, :1], batch_size=4, epochs=1, callbacks=[Checks()], verbose=0)
    assert sorted(seen) == [0, 1]
    for batch, got in seen.items():
        values = got.pop("values")
        assert values["loss"] > 0 and got.pop("equal") is True
        assert got.pop("or") == got.pop("ror") == {**values, "b": batch}
        for name, converted in got.items():
            assert type(converted) is dict and converted == values, name
    assert seen[0]["copy"] != seen[1]["copy"]  # each batch's own values, not the state read later


def test_batch_logs_read_by_the_c_encoder_or_another_thread_hold_the_values_at_the_first_look(numpy_backend):
    """The C JSON encoder and ``dict.items(logs)`` read a dict's storage without its methods; a thread of the
    callback's may read the logs while the next step runs: each sees the batch's values."""
    import queue
    import threading

    seen, handed = [], queue.Queue()

    class Uploads(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((json.loads(json.dumps(logs)), dict(dict.items(logs))))
            handed.put((batch, logs))

    received = []
    worker = threading.Thread(target=lambda: received.extend(iter(handed.get, None)))
    worker.start()
    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    model = _model()
    model.compile("sgd", "mse", metrics=["mae"])
    model.fit(x, x[:, :1], batch_size=2, epochs=1, callbacks=[Uploads()], verbose=0)
    lambdas = []
    model.fit(x, x[:, :1], batch_size=2, epochs=1, verbose=0, callbacks=[callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: lambdas.append(json.dumps(logs)))])
    handed.put(None)
    worker.join()
    assert len(seen) == 4 and all(sorted(encoded) == ["loss", "mae"] and encoded == raw for encoded, raw in seen)
    assert [sorted(logs) for _, logs in received] == [["loss", "mae"]] * 4
    assert [dict(logs) for _, logs in received] == [raw for _, raw in seen]
    assert len(lambdas) == 4 and all(json.loads(text) for text in lambdas)


TQDM = r'''
import numpy as np
import gpunn
from tqdm.keras import TqdmCallback  # (a keras.callbacks.Callback subclass)

model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
model.compile("sgd", "mse", metrics=["mae"])
x = np.random.default_rng(0).random((64, 3))
model.fit(x, x[:, :1], epochs=2, verbose=0, validation_split=0.25, callbacks=[TqdmCallback(verbose=1)])
print("trained")
'''


def test_tqdm_s_keras_callback_draws_gpunn_s_training():
    if keras_unavailable_reason():
        pytest.skip(keras_unavailable_reason())
    run = run_keras_script(TQDM)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.strip().endswith("trained")
    assert "2/2" in run.stderr and "val_mae=" in run.stderr  # the epochs bar, with the epoch logs


KERAS_CALLBACKS_ON_METRICS = r'''
import json, sys
import numpy as np
import gpunn
import keras


def train(cbs):
    gpunn.utils.set_random_seed(4)
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile(gpunn.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy", "mae"])
    x = np.random.default_rng(0).random((40, 4)).astype("float32")
    history = model.fit(x, (x[:, :1] > 0.5).astype("float32"), epochs=12, validation_split=0.25, shuffle=False,
                        callbacks=cbs, verbose=0)
    return {"history": history.history, "modes": [getattr(cb, "mode", None) for cb in cbs],
            "ops": [getattr(getattr(cb, "monitor_op", None), "__name__", None) for cb in cbs]}


def made(library):
    return [library.EarlyStopping(monitor="val_accuracy", patience=2, restore_best_weights=True),
            library.ReduceLROnPlateau(monitor="val_mae", patience=1, factor=0.5)]


print(json.dumps({"keras": train(made(keras.callbacks)), "gpunn": train(made(gpunn.callbacks))}))
'''


def test_keras_s_own_callbacks_on_a_metric_with_mode_auto_go_its_way_as_gpunn_s_do():
    """Keras's EarlyStopping / ReduceLROnPlateau read an 'auto' direction from Keras's compiled-metrics objects,
    which a gpunn model has none of (their ValueError for 'val_accuracy'): gpunn hands them the direction its own
    callbacks take, accuracy up and errors down."""
    if keras_unavailable_reason():
        pytest.skip(keras_unavailable_reason())
    run = run_keras_script(KERAS_CALLBACKS_ON_METRICS)
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["keras"]["modes"] == ["auto", "auto"] and out["keras"]["ops"] == ["greater", "less"]  # (as Keras's)
    assert out["keras"]["history"].keys() == out["gpunn"]["history"].keys()
    for name, values in out["gpunn"]["history"].items():
        assert out["keras"]["history"][name] == pytest.approx(values, rel=1e-6), name


KERAS_CALLBACK_FORMS = r"""
import json, sys
import numpy as np
import gpunn
import keras

model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1)])
model.compile(gpunn.optimizers.SGD(0.01), "mse")
x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
given = keras.callbacks.History()
returned = model.fit(x, y, epochs=2, verbose=0, callbacks=[given])
same_history = returned is given and model.history is given
model.fit(x, y, epochs=1, verbose=2, callbacks=[keras.callbacks.ProgbarLogger()])
listed = keras.callbacks.CallbackList([keras.callbacks.History()], model=model)
through_list = model.fit(x, y, epochs=1, verbose=0, callbacks=listed)
alone = model.fit(x, y, epochs=2, verbose=0, callbacks=keras.callbacks.EarlyStopping(monitor="loss", patience=5))
try:
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.SwapEMAWeights()])
    refused = ""
except TypeError as error:
    refused = str(error)
print(json.dumps({"same_history": same_history, "epochs": given.epoch,
                  "list_history": type(through_list).__module__, "alone": len(alone.history["loss"]),
                  "refused": refused}))
"""


def test_kerass_history_progbar_callback_list_and_lone_callback_stand_as_in_kerass_fit():
    """Keras's own History given is the one fit returns (and model.history), its ProgbarLogger replaces gpunn's
    (one progress line, not two), its CallbackList is used for the callbacks it holds, a lone callback not in a
    list is taken, and its SwapEMAWeights (a Keras optimizer's moving averages) is refused naming gpunn's."""
    if keras_unavailable_reason():
        pytest.skip(keras_unavailable_reason())
    run = run_keras_script(KERAS_CALLBACK_FORMS)
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["same_history"] and out["epochs"] == [0, 1]
    assert (run.stdout + run.stderr).count("/step - loss") == 1  # (one line: Keras's; on either stream)
    assert out["list_history"].startswith("keras.") and out["alone"] == 2
    assert out["refused"].startswith("callbacks: Keras's SwapEMAWeights") and "gpunn.callbacks.SwapEMAWeights" in \
        out["refused"]
