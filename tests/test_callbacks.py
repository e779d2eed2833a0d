"""Callbacks against a small stand-in model and a loop that calls the hooks the way fit does."""
import csv
import math
import re
from collections.abc import Mapping

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn
from gpunn import callbacks as cb


class FakeOptimizer:
    def __init__(self, learning_rate):
        self._lr = float(learning_rate)

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = float(value)


class FakeModel:
    """The surface callbacks may use: stop_training, optimizer.learning_rate, weights, save, is_chief, and the
    compiled metrics (whose direction mode='auto' follows)."""

    def __init__(self, learning_rate=0.01, is_chief=True):
        self.metrics = [gpunn.metrics.Mean(name="loss"), gpunn.metrics.SparseCategoricalAccuracy(name="accuracy")]
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.weights = [np.zeros(3, np.float32)]
        self.saved = []
        self.saved_weights = []
        self.is_chief = is_chief

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, filepath):
        self.saved.append(filepath)

    def save_weights(self, filepath):
        self.saved_weights.append(filepath)


class CountingLogs(Mapping):
    """Batch logs as fit passes them: values computed (here: counted) only when read."""

    def __init__(self, values):
        self._values = dict(values)
        self.reads = 0

    def __getitem__(self, key):
        value = self._values[key]  # KeyError for a missing key, as a Mapping must
        self.reads += 1
        return value

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)


def fake_fit(model, callbacks, epoch_logs, steps=3, verbose=0, batch_logs=None, before_epoch_end=None,
             params_steps="same"):
    """Drive the hooks in fit's order; epoch ``i`` ends with ``epoch_logs[i]``."""
    cbs = cb.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose,
                          epochs=len(epoch_logs), steps=steps if params_steps == "same" else params_steps)
    model.stop_training = False
    cbs.on_train_begin()
    logs = {}
    for epoch, given in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        for step in range(steps):
            cbs.on_train_batch_begin(step)
            cbs.on_train_batch_end(step, batch_logs if batch_logs is not None else {"loss": 1.0})
            if model.stop_training:
                break
        if before_epoch_end is not None:
            before_epoch_end(model, epoch)
        logs = dict(given)
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model.history


def mark_weights(model, epoch):
    model.weights = [np.full(3, epoch, np.float32)]


# ---------------------------------------------------------------- Callback, CallbackList, History


class Recorder(cb.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name.startswith("on_") and callable(attr):
            def record(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)
            return record
        return attr


def test_callback_list_forwards_every_hook():
    rec = Recorder()
    cbs = cb.CallbackList([rec])
    hooks = [name for name in dir(cb.Callback) if name.startswith("on_")]
    for name in hooks:
        args = () if name.endswith(("train_begin", "train_end", "test_begin", "test_end", "predict_begin",
                                    "predict_end")) else (0,)
        getattr(cbs, name)(*args, logs={})
    # on_train_batch_* reach on_batch_* through the base class, so those two appear twice.
    assert sorted(set(rec.calls)) == sorted(hooks)
    assert rec.calls.count("on_batch_end") == 2 and rec.calls.count("on_test_batch_end") == 1


def test_train_batch_hooks_call_legacy_batch_hooks():
    seen = []

    class Legacy(cb.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, logs["loss"]))

    fake_fit(FakeModel(), [Legacy()], [{"loss": 0.5}], steps=2)
    assert seen == [(0, 1.0), (1, 1.0)]


def test_callback_list_defaults_params_and_model():
    model = FakeModel()
    history = cb.History()
    cbs = cb.CallbackList([history], add_history=True, add_progbar=True, model=model, verbose=2, epochs=3,
                          steps=7)
    assert sum(isinstance(c, cb.History) for c in cbs) == 1  # the given one is kept, not duplicated
    assert isinstance(cbs.callbacks[-1], cb.ProgbarLogger)
    assert model.history is history
    assert all(c.model is model for c in cbs)
    assert all(c.params == {"verbose": 2, "epochs": 3, "steps": 7} for c in cbs)
    assert cbs.callbacks[-1].verbose == 2 and cbs.callbacks[-1].target == 7
    assert len(cb.CallbackList(None)) == 0 and len(cb.CallbackList(None, add_history=True)) == 1
    with pytest.raises(TypeError, match="callbacks"):
        cb.CallbackList([object()])


def test_history_records_every_epoch():
    model = FakeModel()
    history = fake_fit(model, [], [{"loss": 0.9, "val_loss": 1.0}, {"loss": 0.5, "val_loss": 0.7}])
    assert isinstance(history, cb.History) and model.history is history
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}


# ---------------------------------------------------------------- EarlyStopping


def test_early_stopping_patience_and_restore_best_weights(capsys):
    model = FakeModel()
    stopper = cb.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True, verbose=1)
    losses = [1.0, 0.8, 0.85, 0.9, 0.95, 0.7]
    history = fake_fit(model, [stopper], [{"val_loss": v} for v in losses], before_epoch_end=mark_weights)
    assert history.epoch == [0, 1, 2, 3]  # two epochs without improvement after epoch 1, then stop
    assert stopper.stopped_epoch == 3 and stopper.best == 0.8 and stopper.best_epoch == 1
    np.testing.assert_array_equal(model.weights[0], [1, 1, 1])  # epoch 1's weights are back
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_mode_min_delta_and_start_from_epoch():
    # 'auto' on an accuracy is 'max'; gains smaller than min_delta do not count.
    model = FakeModel()
    stopper = cb.EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=1)
    history = fake_fit(model, [stopper], [{"val_accuracy": a} for a in [0.5, 0.6, 0.62, 0.63, 0.9]])
    assert history.epoch == [0, 1, 2]  # +0.02 over the best 0.6 is not an improvement
    # Nothing is monitored before start_from_epoch.
    stopper = cb.EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    history = fake_fit(FakeModel(), [stopper], [{"loss": v} for v in [1, 2, 3, 4, 5, 6]])
    assert history.epoch == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_early_stopping_stopped_epoch_matches_keras(patience):
    stopper = cb.EarlyStopping(monitor="loss", patience=patience)
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    fake_fit(FakeModel(), [stopper], [{"loss": v} for v in losses])
    assert stopper.stopped_epoch == max(patience, 1) + 2


def test_early_stopping_baseline():
    # No epoch beats the baseline: patience runs out from the first epoch; best weights still restored.
    model = FakeModel()
    stopper = cb.EarlyStopping(monitor="val_loss", patience=5, baseline=0.5, restore_best_weights=True)
    history = fake_fit(model, [stopper], [{"val_loss": v} for v in [0.9, 0.8, 0.7, 0.71, 0.72, 0.73]],
                       before_epoch_end=mark_weights)
    assert history.epoch == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(model.weights[0], [2, 2, 2])


def test_early_stopping_missing_metric_warns_and_continues():
    stopper = cb.EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match=r"Early stopping conditioned on metric `val_loss` which is not available\. "
                                         r"Available metrics are: loss$"):
        history = fake_fit(FakeModel(), [stopper], [{"loss": v} for v in [1, 2, 3]])
    assert history.epoch == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs, pattern",
    [({"patience": -1}, r"EarlyStopping: patience must be an integer >= 0, got patience=-1"),
     ({"start_from_epoch": -2}, r"start_from_epoch")],
)
def test_early_stopping_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cb.EarlyStopping(**kwargs)


# ---------------------------------------------------------------- ModelCheckpoint


def test_model_checkpoint_best_only_formats_names(tmp_path, capsys):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}.safetensors")
    checkpoint = cb.ModelCheckpoint(pattern, monitor="val_loss", save_best_only=True, verbose=1)
    fake_fit(model, [checkpoint], [{"val_loss": v} for v in [0.5, 0.6, 0.4, 0.45]])
    assert model.saved == [str(tmp_path / "ckpt" / "01-0.50.safetensors"),
                           str(tmp_path / "ckpt" / "03-0.40.safetensors")]
    assert model.saved_weights == []
    assert (tmp_path / "ckpt").is_dir()  # the directory is created for model.save
    out = capsys.readouterr().out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out
    assert "Epoch 3: val_loss improved from 0.50000 to 0.40000, saving model to" in out
    # Keras's messages (keras/src/callbacks/model_checkpoint.py): None before a best, then the save's end
    assert f"Epoch 1: val_loss improved from None to 0.50000, saving model to {model.saved[0]}" in out
    assert f"Epoch 3: finished saving model to {model.saved[1]}" in out


def test_model_checkpoint_every_epoch_weights_only_and_threshold(tmp_path):
    model = FakeModel()
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "w{epoch}.weights"), save_weights_only=True)
    fake_fit(model, [checkpoint], [{"loss": 1.0}] * 3)
    assert model.saved_weights == [str(tmp_path / f"w{i}.weights") for i in (1, 2, 3)]
    assert model.saved == []
    model = FakeModel()
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "best"), monitor="val_accuracy", save_best_only=True,
                                    initial_value_threshold=0.7)
    fake_fit(model, [checkpoint], [{"val_accuracy": a} for a in [0.6, 0.65, 0.8]])
    assert model.saved == [str(tmp_path / "best")]  # 'auto' is max for accuracy; beats 0.7 once


def test_model_checkpoint_batch_frequency_reads_only_named_fields(tmp_path):
    model = FakeModel()
    logs = CountingLogs({"loss": 0.25, "accuracy": 0.5, "mse": 1.0})
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}-{loss:.2f}"), save_freq=2)
    fake_fit(model, [checkpoint], [{"loss": 0.2}] * 2, steps=3, batch_logs=logs)
    names = [p.rsplit("/", 1)[1] for p in model.saved]
    assert names == ["e1-b2-0.25", "e2-b1-0.25", "e2-b3-0.25"]  # every 2 batches, across epochs
    assert logs.reads == 3  # only 'loss', once per save


def test_model_checkpoint_missing_metric_and_bad_save_freq(tmp_path):
    model = FakeModel()
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "m"), monitor="val_loss", save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        fake_fit(model, [checkpoint], [{"loss": 1.0}])
    assert len(model.saved) == 1  # Keras 3 saves after the warning (tf.keras 2 skipped)
    with pytest.raises(ValueError, match=r"save_freq must be 'epoch' or a positive integer, got save_freq='batch'"):
        cb.ModelCheckpoint("x", save_freq="batch")
    with pytest.raises(KeyError, match="val_acc"):
        fake_fit(FakeModel(), [cb.ModelCheckpoint(str(tmp_path / "{val_acc}"))], [{"loss": 1.0}])


# ---------------------------------------------------------------- ReduceLROnPlateau


def test_reduce_lr_patience_cooldown_min_lr(capsys):
    model = FakeModel(learning_rate=1.0)
    reducer = cb.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.2, verbose=1)
    history = fake_fit(model, [reducer], [{"val_loss": 1.0}] * 10)
    # Logged rates are those used during each epoch; reductions after epochs 2, 4 and 6
    # (one epoch of cooldown, then two of patience), the last one clipped to min_lr.
    assert history.history["learning_rate"] == pytest.approx([1, 1, 1, .5, .5, .25, .25, .2, .2, .2])
    assert model.optimizer.learning_rate == pytest.approx(0.2)
    assert "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.5." in capsys.readouterr().out


def test_reduce_lr_improvement_resets_wait():
    model = FakeModel(learning_rate=1.0)
    reducer = cb.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=2)
    fake_fit(model, [reducer], [{"val_loss": v} for v in [1.0, 1.0, 0.5, 0.5, 0.4, 0.4]])
    assert model.optimizer.learning_rate == 1.0
    fake_fit(model, [reducer], [{"val_loss": v} for v in [1.0, 1.0, 1.0]])
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_reduce_lr_on_max_metric_and_min_delta():
    model = FakeModel(learning_rate=1.0)
    reducer = cb.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1, min_delta=0.1)
    fake_fit(model, [reducer], [{"val_accuracy": a} for a in [0.5, 0.55, 0.7]])
    assert model.optimizer.learning_rate == 0.5  # +0.05 is no improvement; +0.2 over best 0.5 is


@pytest.mark.parametrize(
    "kwargs, pattern",
    [({"factor": 1.0}, r"factor must be a number below 1 .*got factor=1.0"),
     ({"factor": float("nan")}, r"factor"),
     ({"patience": -1}, r"patience must be an integer >= 0, got patience=-1"),
     ({"min_lr": -1}, r"min_lr")],
)
def test_reduce_lr_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cb.ReduceLROnPlateau(**kwargs)


# ---------------------------------------------------------------- CSVLogger


def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_writes_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"val_loss": 0.75, "loss": 0.5}, {"val_loss": 0.5, "loss": 0.25}]
    fake_fit(FakeModel(), [cb.CSVLogger(path)], logs)
    assert read_csv(path) == [["epoch", "loss", "val_loss"], ["0", "0.5", "0.75"], ["1", "0.25", "0.5"]]
    fake_fit(FakeModel(), [cb.CSVLogger(path, append=True)], [{"loss": 0.125, "val_loss": 0.25}])
    rows = read_csv(path)
    assert len(rows) == 4 and rows[0] == ["epoch", "loss", "val_loss"] and rows[3] == ["0", "0.125", "0.25"]
    fake_fit(FakeModel(), [cb.CSVLogger(path, separator=";")], [{"loss": 2.0}])
    # append=False overwrites; a first epoch without val_ values gets their columns, as Keras's
    assert read_csv(path, ";") == [["epoch", "loss", "val_loss"], ["0", "2.0", "NA"]]


def test_csv_logger_missing_values_are_na(tmp_path):
    path = tmp_path / "log.csv"
    fake_fit(FakeModel(), [cb.CSVLogger(path)], [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5}])
    assert read_csv(path)[2] == ["1", "0.5", "NA"]


# ---------------------------------------------------------------- TerminateOnNaN, LearningRateScheduler


def test_terminate_on_nan(capsys):
    model = FakeModel()

    class NaNAtSecondBatch(cb.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.loss = math.nan if batch == 1 else 0.5

    source = NaNAtSecondBatch()

    class Logs(Mapping):
        def __getitem__(self, key):
            if key != "loss":
                raise KeyError(key)
            return source.loss

        def __iter__(self):
            return iter(["loss"])

        def __len__(self):
            return 1

    history = fake_fit(model, [source, cb.TerminateOnNaN()], [{"loss": 0.5}] * 3, steps=4, batch_logs=Logs())
    assert model.stop_training is True
    assert history.epoch == [0]
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    model = FakeModel()
    fake_fit(model, [cb.TerminateOnNaN()], [{"loss": 0.5}] * 2, batch_logs={"loss": 0.3})
    assert model.stop_training is False


def test_terminate_on_nan_raising(numpy_backend):
    """Keras 3.15's ``raise_error=True``: a RuntimeError at the batch, no callback's on_train_end after it."""
    import gpunn

    ended = []
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="ones")])
    model.compile(optimizer=gpunn.optimizers.SGD(1e30), loss="mse")  # (4e40 overflows float32 at once)
    x = np.full((8, 2), 1e20, "float32")
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        model.fit(x, np.ones((8, 1), "float32"), batch_size=4, verbose=0, callbacks=[
            cb.TerminateOnNaN(raise_error=True), cb.LambdaCallback(on_train_end=lambda logs: ended.append(1))])
    assert ended == []
    assert cb.TerminateOnNaN().raise_error is False


def test_learning_rate_scheduler_two_and_one_argument_schedules(capsys):
    model = FakeModel(learning_rate=0.1)
    scheduler = cb.LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5, verbose=1)
    history = fake_fit(model, [scheduler], [{"loss": 1.0}] * 4)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out

    def by_epoch(epoch):
        return 1.0 / (epoch + 1)

    model = FakeModel()
    fake_fit(model, [cb.LearningRateScheduler(by_epoch)], [{"loss": 1.0}] * 4)
    assert model.optimizer.learning_rate == pytest.approx(0.25)


def test_learning_rate_scheduler_rejects_bad_schedule_output():
    with pytest.raises(ValueError, match=r"schedule must return a finite float >= 0, got 'fast' for epoch 0"):
        fake_fit(FakeModel(), [cb.LearningRateScheduler(lambda epoch, lr: "fast")], [{"loss": 1.0}])
    with pytest.raises(ValueError, match="schedule"):
        cb.LearningRateScheduler(0.1)


def test_lambda_callback():
    events = []
    lam = cb.LambdaCallback(on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, logs["loss"])),
                            on_train_begin=lambda logs: events.append(("begin",)),
                            on_train_batch_end=lambda batch, logs: events.append(("batch", batch)),
                            on_train_end=lambda logs: events.append(("end",)))
    fake_fit(FakeModel(), [lam], [{"loss": 0.5}], steps=2)
    assert events == [("begin",), ("batch", 0), ("batch", 1), ("epoch", 0, 0.5), ("end",)]
    with pytest.raises(ValueError, match="on_epoch_ends"):
        cb.LambdaCallback(on_epoch_ends=print)
    named = cb.LambdaCallback(on_epoch_end=print, name="printer", every=2)  # as Keras: kept as attributes
    assert (named.name, named.every, named.on_epoch_end) == ("printer", 2, print)


@pytest.mark.parametrize("make", [lambda mode: cb.EarlyStopping(mode=mode),
                                  lambda mode: cb.ReduceLROnPlateau(mode=mode),
                                  lambda mode: cb.ModelCheckpoint("m.keras", mode=mode)])
def test_an_unknown_mode_falls_back_to_auto_with_keras_warning(make):
    with pytest.warns(UserWarning, match=r"^(EarlyStopping|ReduceLROnPlateau|ModelCheckpoint) mode 'Min' is "
                                         r"unknown, fallback to auto mode\.$") as caught:
        callback = make("Min")
    assert callback.mode == "auto" and callback.monitor_op is None  # (None until the first epoch's end, as Keras)
    assert caught[0].filename == __file__  # (the warning points at the line making the callback)


def test_reduce_lr_takes_factor_zero_and_says_which_keywords_it_ignores():
    model = FakeModel()
    with pytest.warns(UserWarning, match=r"ReduceLROnPlateau: ignoring keyword argument\(s\) \['cooldown_epochs'\]"):
        reducer = cb.ReduceLROnPlateau(monitor="loss", factor=0.0, patience=0, cooldown_epochs=2)
    with pytest.warns(UserWarning, match=r"^Learning rate reduction is conditioned on metric `val_mse` which is not "
                                         r"available\. Available metrics are: loss,learning_rate\.$"):
        fake_fit(model, [cb.ReduceLROnPlateau(monitor="val_mse", mode="min")], [{"loss": 1.0}])
    fake_fit(model, [reducer], [{"loss": v} for v in [1.0, 2.0]])
    assert model.optimizer.learning_rate == 0.0 and reducer.monitor_op is np.less


def test_early_stopping_get_monitor_value_as_keras():
    stopper = cb.EarlyStopping(monitor="val_auc", mode="max")
    assert stopper.get_monitor_value({"val_auc": 0.75}) == 0.75 and stopper.monitor_op is None
    fake_fit(FakeModel(), [stopper], [{"val_auc": 0.75}])
    assert stopper.monitor_op is np.greater
    unknown = cb.EarlyStopping(monitor="my_score")  # (mode auto: its direction is decided in training only)
    assert unknown.get_monitor_value({"my_score": 2.0}) == 2.0
    with pytest.warns(UserWarning, match=r"^Early stopping conditioned on metric `val_auc` which is not available\. "
                                         r"Available metrics are: loss,auc$"):
        assert stopper.get_monitor_value({"loss": 1.0, "auc": 0.5}) is None


# ---------------------------------------------------------------- ProgbarLogger


EPOCHS = [{"loss": 0.1234, "accuracy": 0.9876, "val_loss": 0.2, "val_accuracy": 0.95},
          {"loss": 0.0567, "accuracy": 0.99, "val_loss": 0.00012, "val_accuracy": 0.96}]


def test_progbar_verbose_1_draws_bars(capsys):
    fake_fit(FakeModel(), [], EPOCHS, steps=3, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "3/3" in out
    final = [chunk for chunk in re.split(r"[\r\n]+", out) if chunk.startswith("Epoch 2/2") and "/step" in chunk]
    assert final, out
    line = final[-1]
    # the names sorted, as Keras hands them to its callbacks
    assert re.search(r"\[\d+s \d+(us|ms|s)/step, accuracy=0\.9900 loss=0\.0567 val_accuracy=0\.9600 "
                     r"val_loss=1\.2000e-04\]", line), line


def test_progbar_verbose_2_writes_keras_s_lines(capsys):
    """Keras's ProgbarLogger with verbose=2: the epoch's number as it begins, and as it ends the batches, the
    time, the time per step and the logs, their names sorted."""
    fake_fit(FakeModel(), [], EPOCHS, steps=3, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - accuracy: 0\.9876 - loss: 0\.1234 - "
                        r"val_accuracy: 0\.9500 - val_loss: 0\.2000", lines[1]), lines[1]
    # Keras's verbose=2 line tests the value, not its magnitude, against 1e-3
    assert lines[3].endswith(" - val_accuracy: 0.9600 - val_loss: 1.2000e-04"), lines[3]
    fake_fit(FakeModel(), [], EPOCHS[:1], steps=12, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("12/12 - ")  # no "Epoch 1/1" line for a single epoch


def test_progbar_verbose_0_prints_nothing(capsys):
    logger = cb.ProgbarLogger()
    fake_fit(FakeModel(), [logger], EPOCHS, steps=3, verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_reads_lazy_logs_only_when_redrawing(capsys):
    clock = [0.0]
    logger = cb.ProgbarLogger()
    logger._clock = lambda: clock[0]
    logs = CountingLogs({"loss": 0.5, "accuracy": 0.75})

    class Tick(cb.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock[0] += 0.01  # 10 ms per batch: a redraw every 10 batches at most

    fake_fit(FakeModel(), [Tick(), logger], [{"loss": 0.5}], steps=200, verbose=1, batch_logs=logs)
    redraws = logs.reads // 2
    assert 0 < redraws <= 21  # 2 s of batches, one redraw per 0.1 s; never once per batch
    assert "loss=0.5000 accuracy=0.7500" in capsys.readouterr().out  # what a redraw showed
    logs = CountingLogs({"loss": 0.5})
    fake_fit(FakeModel(), [Tick(), cb.ProgbarLogger()], [{"loss": 0.5}], steps=200, verbose=2, batch_logs=logs)
    assert logs.reads == 0


def test_progbar_unknown_steps_learns_them(capsys):
    logger = cb.ProgbarLogger()
    fake_fit(FakeModel(), [logger], EPOCHS, steps=4, verbose=1, params_steps=None)
    out = capsys.readouterr().out
    assert "4/4" in out
    assert logger.target == 4


def test_non_chief_rank_writes_and_prints_nothing(tmp_path, capsys):
    model = FakeModel(learning_rate=1.0, is_chief=False)
    checkpoint = cb.ModelCheckpoint(str(tmp_path / "sub" / "m{epoch}"))
    csv_path = tmp_path / "log.csv"
    stopper = cb.EarlyStopping(monitor="val_loss", patience=0, verbose=1)
    reducer = cb.ReduceLROnPlateau(monitor="val_loss", patience=0, factor=0.5, verbose=1)
    logs = CountingLogs({"loss": 0.5})
    history = fake_fit(model, [checkpoint, cb.CSVLogger(csv_path), stopper, reducer],
                       [{"val_loss": v} for v in [1.0, 2.0, 3.0]], verbose=1, batch_logs=logs)
    assert capsys.readouterr().out == ""
    assert model.saved == [] and not csv_path.exists() and not (tmp_path / "sub").exists()
    assert logs.reads == 0
    # Decisions that keep ranks in step still happen everywhere.
    assert history.epoch == [0, 1] and model.optimizer.learning_rate == 0.5


@pytest.mark.parametrize("metric,expected", [
    ("AUC", "max"), ("Precision", "max"), ("Recall", "max"), ("F1Score", "max"), ("R2Score", "max"),
    ("RootMeanSquaredError", "min"), ("MeanAbsolutePercentageError", "min"), ("BinaryCrossentropy", "min"),
])
def test_auto_mode_follows_the_compiled_metric_as_keras_does(metric, expected):
    """Keras 3 (callbacks/monitor_callback.py): mode='auto' takes the direction the compiled metric declares,
    'val_' or not; a name it cannot place is an error asking for mode, never a guess (a guess from the name
    would have minimised an 'r2_score' or a 'prc' AUC)."""
    model = FakeModel()
    named = getattr(gpunn.metrics, metric)(name="watched")
    model.metrics.append(named)
    for monitor in ("watched", "val_watched"):
        stopper = cb.EarlyStopping(monitor=monitor)
        stopper.set_model(model)
        assert stopper.direction == expected
    stopper = cb.EarlyStopping(monitor="val_tp")
    model.metrics.append(gpunn.metrics.TruePositives(name="tp"))  # Keras declares no direction for counts
    stopper.set_model(model)
    with pytest.raises(ValueError, match="cannot tell whether monitor='val_tp' should be maximized or minimized"):
        stopper.direction
    assert cb.EarlyStopping(monitor="val_tp", mode="max").direction == "max"
    per_output = cb.EarlyStopping(monitor="val_out_1_loss")  # (one output's loss: Keras's auto reads 'loss' only)
    per_output.set_model(model)
    with pytest.raises(ValueError, match=r"monitor='val_out_1_loss'.*\(a loss of one output, as Keras's auto mode "
                                         r"reads only 'loss': mode='min' keeps its lowest\)$"):
        per_output.direction


class _HookLog(cb.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_test_begin(self, logs=None):
        self.events.append("test_begin")

    def on_test_batch_end(self, batch, logs=None):
        self.events.append(("test_batch", batch, round(float(logs["loss"]), 6)))

    def on_test_end(self, logs=None):
        self.events.append(("test_end", sorted(logs)))

    def on_predict_batch_end(self, batch, logs=None):
        self.events.append(("predict_batch", batch, logs["outputs"].shape))

    def on_predict_end(self, logs=None):
        self.events.append("predict_end")


def test_evaluate_predict_and_fit_validation_tell_callbacks_as_keras_does():
    """Keras runs on_test_* in evaluate and in fit's validation, on_predict_* in predict (batch logs: the
    running loss; predict batches: their outputs), for arrays and streamed inputs alike."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 3)).astype("float32"), rng.integers(0, 2, 10)
    gpunn.utils.set_random_seed(0)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), gpunn.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    log = _HookLog()
    loss, _ = model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[log])
    assert log.events[0] == "test_begin" and [e[1] for e in log.events[1:4]] == [0, 1, 2]
    assert log.events[3][2] == pytest.approx(loss, abs=1e-6)  # the last batch's running loss is the result
    assert log.events[4] == ("test_end", ["accuracy", "loss"])

    log = _HookLog()
    model.predict(x, batch_size=4, verbose=0, callbacks=[log])
    assert log.events == [("predict_batch", 0, (4, 2)), ("predict_batch", 1, (4, 2)), ("predict_batch", 2, (2, 2)),
                          "predict_end"]

    log = _HookLog()
    model.predict((x[i:i + 5] for i in (0, 5)), verbose=0, callbacks=[log])
    assert log.events == [("predict_batch", 0, (5, 2)), ("predict_batch", 1, (5, 2)), "predict_end"]

    log = _HookLog()
    model.fit(x, y, batch_size=5, epochs=2, verbose=0, validation_split=0.4, callbacks=[log])
    assert log.events.count("test_begin") == 2 and sum(e[0] == "test_end" for e in log.events
                                                         if isinstance(e, tuple)) == 2


def test_predict_shows_keras_s_progress_unless_verbose_is_0(capsys):
    """Keras's predict draws its progress bar by default ("auto"), one line with verbose=2, nothing with 0."""
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
    x = np.ones((100, 3), np.float32)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    model.predict(x, verbose=2)
    assert re.fullmatch(r"4/4 - \S+ - \S+/step\n", capsys.readouterr().out)
    model.predict(x)
    assert "4/4" in capsys.readouterr().out
    model.predict(x, batch_size=10, steps=3, verbose=2)
    assert capsys.readouterr().out.startswith("3/3 - ")


def test_fit_gives_callbacks_its_verbose_as_keras_does(capsys):
    """Keras keeps fit's default ``verbose="auto"`` in the callbacks' params (its progress bar shows as 1)."""
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 1), np.float32)
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert model.fit(x, y, epochs=1).params == {"verbose": "auto", "epochs": 1, "steps": 1}
    shown = capsys.readouterr()
    assert "1/1" in shown.out + shown.err  # the progress bar, as verbose=1 shows it
    assert model.fit(x, y, epochs=1, verbose=0).params["verbose"] == 0
    batches = (batch for batch in [(x, y)] * 2)  # a generator: the streamed loop
    assert model.fit(batches, epochs=1, steps_per_epoch=2, shuffle=False).params["verbose"] == "auto"


def test_a_monitor_of_a_numbered_metric_names_it_and_the_fix():
    """A k-fold loop making AUC() anew: the second model's metric is auc_1, so monitor='val_auc' has no
    direction; the error lists the metrics and says why the name changed."""
    x, y = np.ones((8, 3), "float32"), np.array([0, 1] * 4)
    gpunn.backend.clear_session()
    for fold in range(2):
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1, activation="sigmoid")])
        model.compile("sgd", "binary_crossentropy", metrics=[gpunn.metrics.AUC()])
        stopping = gpunn.callbacks.EarlyStopping(monitor="val_auc")
        if fold == 0:
            model.fit(x, y, validation_split=0.25, verbose=0, callbacks=[stopping])
            continue
        with pytest.raises(ValueError, match=r"the model's metrics are \['loss', 'auc_1'\] \('auc_1': a metric made "
                                             r"again without a name is numbered; give it name='auc'"):
            model.fit(x, y, validation_split=0.25, verbose=0, callbacks=[stopping])
