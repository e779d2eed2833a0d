"""BackupAndRestore (Keras 3's keras/src/callbacks/backup_and_restore.py and its tests): a fit interrupted by an
exception and started again with the same callback resumes from the backup, and ends as the uninterrupted run
would have, bit for bit on the NumPy backend; damaged backups are reported, never skipped; non-chief ranks write
nothing. One test runs Keras itself (in a subprocess, KERAS_BACKEND=jax) and skips when keras or jax is missing.
"""
from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest
from helpers import keras_unavailable_reason, numpy_backend, run_keras_script  # noqa: F401  (fixture)

import gpunn
from gpunn.callbacks.backup_and_restore import BackupAndRestore
from gpunn.utils import set_random_seed

SEED = 3
EPOCHS = 6
FIT = {"batch_size": 8, "epochs": EPOCHS, "verbose": 0, "validation_split": 0.2}  # 32 training rows: 4 batches


def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)


def model(jit_compile="auto", optimizer="adam", units=8, steps_per_execution=1):
    """Built from SEED, as a restarted script builds it: Dropout's seed and the shuffles repeat."""
    set_random_seed(SEED)
    net = gpunn.Sequential([gpunn.Input(shape=(6,)), gpunn.layers.Dense(units, activation="relu"),
                            gpunn.layers.Dropout(0.3), gpunn.layers.Dense(3, activation="softmax")])
    chosen = gpunn.optimizers.Adam(learning_rate=0.01) if optimizer == "adam" else optimizer
    net.compile(optimizer=chosen, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return net


class Interrupt(gpunn.callbacks.Callback):
    """Raises at the end of epoch ``epoch``, or after ``batches`` batches in all."""

    def __init__(self, epoch=None, batches=None):
        super().__init__()
        self.epoch, self.batches, self.seen = epoch, batches, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            raise RuntimeError("interrupted")

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def interrupted(net, backup, **interrupt):
    x, y = data()
    with pytest.raises(RuntimeError, match="interrupted"):
        net.fit(x, y, callbacks=[backup, Interrupt(**interrupt)], **FIT)


def metadata(directory):
    with open(os.path.join(directory, "training_metadata.json")) as handle:
        return json.load(handle)


def assert_same_training_state(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.optimizer.iterations == b.optimizer.iterations
    assert a.optimizer.learning_rate == b.optimizer.learning_rate
    assert sorted(a.optimizer.slots) == sorted(b.optimizer.slots)
    for name, value in a.optimizer.slots.items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(b.optimizer.slots[name]))
    assert a.layers[1].counter == b.layers[1].counter


# ---- resuming equals not being interrupted ----------------------------------------------------------------------


@pytest.mark.parametrize("jit_compile", [False, "auto"])
@pytest.mark.parametrize("save_freq", ["epoch", 2, 4])  # 2 and 4 batches: a backup falls on every epoch's end
def test_a_resumed_run_ends_as_the_uninterrupted_run(jit_compile, save_freq, tmp_path):
    x, y = data()
    straight = model(jit_compile)
    history = straight.fit(x, y, **FIT).history

    backup_dir = tmp_path / "backup"
    interrupted(model(jit_compile), BackupAndRestore(backup_dir, save_freq=save_freq), epoch=2)
    assert metadata(backup_dir)["epoch"] == 3 and metadata(backup_dir)["batch"] == 0

    resumed = model(jit_compile)
    rest = resumed.fit(x, y, callbacks=[BackupAndRestore(backup_dir, save_freq=save_freq)], **FIT)
    assert rest.epoch == [3, 4, 5]
    assert rest.history == {name: values[3:] for name, values in history.items()}
    assert_same_training_state(resumed, straight)
    assert not backup_dir.exists()


@pytest.mark.parametrize("interruption", [{"epoch": 2}, {"batches": 5}])  # an epoch's end; the second epoch's middle
@pytest.mark.parametrize("steps_per_epoch", [None, 3])
def test_the_same_model_fit_again_after_the_interruption_ends_as_the_uninterrupted_run(interruption,
                                                                                       steps_per_epoch, tmp_path):
    """Keras's own recipe: the fit that was interrupted, run again on the same model in the same process. Its
    shuffling goes back to where the interrupted run's began, and draws the orders of the epochs it skips."""
    x, y = data()
    fit = {**FIT, "steps_per_epoch": steps_per_epoch}
    straight = model()
    history = straight.fit(x, y, **fit).history
    backup_dir = tmp_path / "backup"
    again = model()
    with pytest.raises(RuntimeError, match="interrupted"):
        again.fit(x, y, callbacks=[BackupAndRestore(backup_dir), Interrupt(**interruption)], **fit)
    resumed_at = metadata(backup_dir)["epoch"]
    rest = again.fit(x, y, callbacks=[BackupAndRestore(backup_dir)], **fit)
    assert rest.history == {name: values[resumed_at:] for name, values in history.items()}
    assert_same_training_state(again, straight)


def test_a_script_run_again_with_a_fit_before_the_resumed_one_ends_as_the_uninterrupted_run(tmp_path):
    """A two-stage script (a first fit, then the fit with BackupAndRestore), interrupted in its second stage and
    run again: the resumed fit takes up the interrupted run's shuffled orders, which its backup carried."""
    x, y = data()
    first_stage = {**FIT, "epochs": 2, "validation_split": 0.0}

    def after_first_stage():
        net = model()
        net.fit(x, y, **first_stage)
        return net

    straight = after_first_stage()
    history = straight.fit(x, y, **FIT).history
    backup_dir = tmp_path / "backup"
    interrupted(after_first_stage(), BackupAndRestore(backup_dir), batches=10)
    resumed_at = metadata(backup_dir)["epoch"]
    again = after_first_stage()  # (the script run again)
    rest = again.fit(x, y, callbacks=[BackupAndRestore(backup_dir)], **FIT)
    assert rest.history == {name: values[resumed_at:] for name, values in history.items()}
    assert_same_training_state(again, straight)


def test_batches_are_counted_in_runs_of_steps_per_execution(tmp_path):
    # Callbacks see one batch end per 2 steps (indices 1 and 3): a backup every 4 batches falls on epoch ends.
    x, y = data()
    straight = model(steps_per_execution=2)
    history = straight.fit(x, y, **FIT).history
    interrupted(model(steps_per_execution=2), BackupAndRestore(tmp_path / "b", save_freq=4), epoch=1)
    assert metadata(tmp_path / "b") == {**metadata(tmp_path / "b"), "epoch": 2, "batch": 0}
    resumed = model(steps_per_execution=2)
    rest = resumed.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b", save_freq=4)], **FIT)
    assert rest.history == {name: values[2:] for name, values in history.items()}
    assert_same_training_state(resumed, straight)


def test_a_learning_rate_changed_by_a_callback_is_restored(tmp_path):
    x, y = data()
    halve = gpunn.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: setattr(straight.optimizer, "learning_rate", 0.01 / 2 ** epoch))
    straight = model()
    straight.fit(x, y, callbacks=[halve], **{**FIT, "epochs": 3})
    net = model()
    halve_net = gpunn.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: setattr(net.optimizer, "learning_rate", 0.01 / 2 ** epoch))
    with pytest.raises(RuntimeError, match="interrupted"):
        net.fit(x, y, callbacks=[halve_net, BackupAndRestore(tmp_path / "b"), Interrupt(epoch=2)],
                **{**FIT, "epochs": 3})
    resumed = model()  # compiled with 0.01: the backup holds 0.01 / 4
    resumed.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b")], **{**FIT, "epochs": 3})
    assert resumed.optimizer.learning_rate == straight.optimizer.learning_rate == 0.01 / 4
    assert_same_training_state(resumed, straight)


def test_a_backup_in_the_middle_of_an_epoch_resumes_at_the_start_of_that_epoch(tmp_path):
    # Keras's test_best_case_step: interrupted after 2 batches, resumed for 5 epochs of 4 batches.
    net = model()
    backup = BackupAndRestore(tmp_path / "b", save_freq=1)
    interrupted(net, backup, batches=2)
    assert backup._current_epoch == 0 and backup._last_batch_seen == 1
    assert metadata(tmp_path / "b")["epoch"] == 0 and metadata(tmp_path / "b")["batch"] == 1
    x, y = data()
    history = net.fit(x, y, callbacks=[backup], **{**FIT, "epochs": 5})
    assert history.epoch == [0, 1, 2, 3, 4] and backup._current_epoch == 5
    assert net.optimizer.iterations == 2 + 5 * 4


def test_the_resume_epoch_applies_to_one_fit_only(tmp_path):
    x, y = data()
    net = model()
    interrupted(net, BackupAndRestore(tmp_path / "b"), epoch=1)
    assert net.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b")], **FIT).epoch == [2, 3, 4, 5]
    assert net.fit(x, y, **{**FIT, "epochs": 2}).epoch == [0, 1]


def test_fit_on_a_py_dataset_resumes_at_the_backed_up_epoch(tmp_path):
    x, y = data()

    class Batches(gpunn.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return x[index * 8:(index + 1) * 8], y[index * 8:(index + 1) * 8]

    fit = {"epochs": 4, "verbose": 0, "shuffle": False}  # a PyDataset's shuffled order restarts with each fit
    straight = model()
    history = straight.fit(Batches(), **fit).history
    net = model()
    with pytest.raises(RuntimeError, match="interrupted"):
        net.fit(Batches(), callbacks=[BackupAndRestore(tmp_path / "b"), Interrupt(epoch=1)], **fit)
    resumed = model()
    rest = resumed.fit(Batches(), callbacks=[BackupAndRestore(tmp_path / "b")], **fit)
    assert rest.epoch == [2, 3]
    assert rest.history == {name: values[2:] for name, values in history.items()}
    assert_same_training_state(resumed, straight)


# ---- what stays on disk -----------------------------------------------------------------------------------------


def test_an_interruption_leaves_the_backup_and_a_normal_end_deletes_it(tmp_path):
    backup_dir = tmp_path / "backup"
    interrupted(model(), BackupAndRestore(backup_dir), epoch=1)
    assert sorted(os.listdir(backup_dir)) == ["latest.safetensors", "training_metadata.json"]
    x, y = data()
    model().fit(x, y, callbacks=[BackupAndRestore(backup_dir)], **FIT)
    assert not backup_dir.exists()


def test_delete_checkpoint_false_keeps_the_backup_and_the_next_fit_has_nothing_left_to_run(tmp_path):
    x, y = data()
    net = model()
    net.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b", delete_checkpoint=False)], **FIT)
    assert sorted(os.listdir(tmp_path / "b")) == ["latest.safetensors", "training_metadata.json"]
    assert metadata(tmp_path / "b")["epoch"] == EPOCHS
    weights = net.get_weights()
    again = model()
    assert again.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b")], **FIT).epoch == []
    for a, b in zip(weights, again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "b").exists()


def test_deleting_the_backup_leaves_files_that_are_not_the_backups(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    x, y = data()
    model().fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b")], **{**FIT, "epochs": 1})
    assert os.listdir(tmp_path / "b") == ["notes.txt"]


def test_non_chief_ranks_restore_but_write_and_delete_nothing(tmp_path, monkeypatch):
    x, y = data()
    interrupted(model(), BackupAndRestore(tmp_path / "b"), epoch=1)
    files = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    monkeypatch.setattr(gpunn.Sequential, "is_chief", property(lambda self: False))
    net = model()
    assert net.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b", save_freq=1)], **FIT).epoch == [2, 3, 4, 5]
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == files
    model().fit(x, y, callbacks=[BackupAndRestore(tmp_path / "fresh", double_checkpoint=True)], **FIT)
    assert not (tmp_path / "fresh").exists()


# ---- damaged backups --------------------------------------------------------------------------------------------


def test_double_checkpoint_falls_back_to_the_previous_backup_when_the_latest_is_damaged(tmp_path):
    # Keras's test_backup_corrupted: the latest state file overwritten with "0".
    x, y = data()
    straight = model()
    history = straight.fit(x, y, **FIT).history
    backup = BackupAndRestore(tmp_path / "b", double_checkpoint=True)
    interrupted(model(), backup, epoch=2)
    for path in (backup._weights_path, backup._training_metadata_path, backup._prev_weights_path,
                 backup._prev_training_metadata_path):
        assert os.path.exists(path)
    assert json.load(open(backup._prev_training_metadata_path))["epoch"] == 2
    with open(backup._weights_path, "w") as handle:
        handle.write("0")
    resumed = model()
    with pytest.warns(UserWarning, match=r"latest backup cannot be used: .*latest\.safetensors.*SHA-256 differs.*"
                                         r"Resuming from the previous backup .* at epoch 3"):
        rest = resumed.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b", double_checkpoint=True,
                                                             delete_checkpoint=False)], **FIT)
    assert rest.epoch == [2, 3, 4, 5]
    assert rest.history == {name: values[2:] for name, values in history.items()}
    assert_same_training_state(resumed, straight)
    assert metadata(tmp_path / "b")["epoch"] == EPOCHS


def test_a_damaged_latest_backup_never_becomes_the_previous_one(tmp_path):
    backup = BackupAndRestore(tmp_path / "b", double_checkpoint=True)
    interrupted(model(), backup, epoch=2)
    os.remove(backup._training_metadata_path)  # as if stopped between writing its two files
    previous = {path: open(path, "rb").read() for path in (backup._prev_weights_path,
                                                           backup._prev_training_metadata_path)}
    x, y = data()
    with pytest.warns(UserWarning, match="has no 'training_metadata.json' beside it.*at epoch 3"):
        with pytest.raises(RuntimeError, match="interrupted"):
            model().fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b", double_checkpoint=True),
                                         Interrupt(epoch=2)], **FIT)
    # Epoch 2 ran again and was backed up; the backup it resumed from is still the previous one.
    assert metadata(tmp_path / "b")["epoch"] == 3
    assert {path: open(path, "rb").read() for path in previous} == previous


def damage_middle(path):
    data_bytes = bytearray(open(path, "rb").read())
    data_bytes[len(data_bytes) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data_bytes))


@pytest.mark.parametrize("damage, problem", [
    (lambda d: damage_middle(d / "latest.safetensors"), "SHA-256 differs"),
    (lambda d: (d / "latest.safetensors").write_bytes(b""), "SHA-256 differs"),
    (lambda d: (d / "training_metadata.json").write_text("{\"epoch\": 2, \"ba"), "is not readable JSON"),
    (lambda d: (d / "training_metadata.json").write_text('{"epoch": -1, "batch": 0, "state_sha256": ""}'),
     "is damaged: expected"),
    (lambda d: os.remove(d / "training_metadata.json"), "has no 'training_metadata.json' beside it"),
    (lambda d: os.remove(d / "latest.safetensors"), "that is missing"),
])
def test_a_damaged_or_partial_backup_without_a_previous_one_is_an_error(damage, problem, tmp_path):
    backup_dir = tmp_path / "b"
    interrupted(model(), BackupAndRestore(backup_dir), epoch=1)
    damage(backup_dir)
    x, y = data()
    with pytest.raises(ValueError, match=rf"cannot resume from the backup in .*{problem}.*Delete that directory"):
        model().fit(x, y, callbacks=[BackupAndRestore(backup_dir)], **FIT)


def test_a_state_file_from_another_backup_is_refused(tmp_path):
    interrupted(model(), BackupAndRestore(tmp_path / "b"), epoch=1)
    stale = (tmp_path / "b" / "latest.safetensors").read_bytes()
    interrupted(model(), BackupAndRestore(tmp_path / "c"), epoch=2)
    (tmp_path / "c" / "latest.safetensors").write_bytes(stale)  # the metadata file says epoch 3
    x, y = data()
    with pytest.raises(ValueError, match="is not the file that .* describes"):
        model().fit(x, y, callbacks=[BackupAndRestore(tmp_path / "c")], **FIT)


def test_both_backups_damaged_is_an_error_naming_both(tmp_path):
    backup = BackupAndRestore(tmp_path / "b", double_checkpoint=True)
    interrupted(model(), backup, epoch=2)
    damage_middle(backup._weights_path)
    damage_middle(backup._prev_weights_path)
    x, y = data()
    with pytest.raises(ValueError, match=r"latest\.safetensors.*; and the previous backup: .*latest\.safetensors"
                                         r"\.bkp"):
        model().fit(x, y, callbacks=[backup], **FIT)


@pytest.mark.parametrize("other, problem", [
    (lambda: model(units=5), "weight .* has shape"),
    (lambda: model(optimizer=gpunn.optimizers.SGD(0.1)), "compiled with optimizer 'Adam'; this model's .* 'SGD'"),
])
def test_a_backup_of_another_model_is_an_error(other, problem, tmp_path):
    interrupted(model(), BackupAndRestore(tmp_path / "b"), epoch=1)
    x, y = data()
    with pytest.raises(ValueError, match=problem):
        other().fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b")], **FIT)


# ---- arguments --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"backup_dir": ""}, r"Empty `backup_dir` argument passed.*got backup_dir=''"),
    ({"backup_dir": None}, r"Empty `backup_dir` argument passed.*got backup_dir=None"),
    ({"backup_dir": 3}, r"backup_dir must be a directory path \(str or os.PathLike\), got backup_dir=3"),
    ({"save_freq": "batch"}, r"Invalid value for argument `save_freq`. Received: save_freq='batch'. Expected either "
                             r"'epoch' or a positive integer"),
    ({"save_freq": 0.15}, r"Invalid value for argument `save_freq`. Received: save_freq=0.15"),
    ({"save_freq": 0}, r"Invalid value for argument `save_freq`. Received: save_freq=0"),
    ({"save_freq": -2}, r"Invalid value for argument `save_freq`. Received: save_freq=-2"),
    ({"save_freq": True}, r"Invalid value for argument `save_freq`. Received: save_freq=True"),
    ({"save_freq": False}, r"save_freq=False.*preemption checkpointing, which gpunn does not have"),
    ({"double_checkpoint": "yes"}, r"double_checkpoint must be True or False, got double_checkpoint='yes'"),
    ({"delete_checkpoint": None}, r"delete_checkpoint must be True or False, got delete_checkpoint=None"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackupAndRestore(**{"backup_dir": "backup", **kwargs})


def test_a_backup_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match=r"backup_dir must be a directory, got backup_dir=.*f'?, which is a file"):
        BackupAndRestore(tmp_path / "f")


def test_keras_defaults_and_attributes():
    backup = BackupAndRestore(os.path.join("some", "dir"), save_freq=np.int64(3))
    assert (backup.backup_dir, backup.save_freq, backup.double_checkpoint, backup.delete_checkpoint) == (
        os.path.join("some", "dir"), 3, False, True)
    assert backup._prev_weights_path == backup._weights_path + ".bkp"
    assert backup._prev_training_metadata_path == os.path.join("some", "dir", "training_metadata.json.bkp")


# ---- as Keras 3 does ---------------------------------------------------------------------------------------------

SCENARIOS = [  # (save_freq, interruption): at the end of epoch 1, or after 6 batches (in epoch 1 of 4 batches)
    ("epoch", {"epoch": 1}), (3, {"batches": 6}), (1, {"batches": 2}),
]

KERAS_SIDE = textwrap.dedent("""
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np
    import keras

    work = sys.argv[1]
    task = json.load(open(os.path.join(work, "task.json")))
    x, y = np.asarray(task["x"], dtype=np.float32), np.asarray(task["y"])

    class Interrupt(keras.callbacks.Callback):
        def __init__(self, epoch=None, batches=None):
            super().__init__()
            self.epoch, self.batches, self.seen = epoch, batches, 0
        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == self.batches:
                raise RuntimeError("interrupted")
        def on_epoch_end(self, epoch, logs=None):
            if epoch == self.epoch:
                raise RuntimeError("interrupted")

    def model():
        net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                keras.layers.Dense(3, activation="softmax")])
        net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return net

    out = []
    for index, (save_freq, interrupt) in enumerate(task["scenarios"]):
        backup_dir = os.path.join(work, f"keras{index}")
        try:
            model().fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq),
                                         Interrupt(**interrupt)], **task["fit"])
        except RuntimeError:
            pass
        seen = {"interrupted_files": len(os.listdir(backup_dir)),
                "interrupted_metadata": json.load(open(os.path.join(backup_dir, "training_metadata.json")))}
        history = model().fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(
            backup_dir, save_freq=save_freq, delete_checkpoint=False)], **task["fit"])
        seen["resumed_epochs"] = history.epoch
        seen["kept_files"] = len(os.listdir(backup_dir))
        model().fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq)],
                    **task["fit"])
        seen["deleted"] = not os.path.exists(backup_dir)
        out.append(seen)
    json.dump(out, open(os.path.join(work, "out.json"), "w"))
""")


def gpunn_side(work, save_freq, interrupt, index):
    backup_dir = work / f"gpunn{index}"
    x, y = data()
    fit = {**FIT, "epochs": 4}
    with pytest.raises(RuntimeError, match="interrupted"):
        model().fit(x, y, callbacks=[BackupAndRestore(backup_dir, save_freq=save_freq), Interrupt(**interrupt)],
                    **fit)
    seen = {"interrupted_files": len(os.listdir(backup_dir)), "interrupted_metadata": metadata(backup_dir)}
    history = model().fit(x, y, callbacks=[BackupAndRestore(backup_dir, save_freq=save_freq,
                                                            delete_checkpoint=False)], **fit)
    seen["resumed_epochs"] = history.epoch
    seen["kept_files"] = len(os.listdir(backup_dir))
    model().fit(x, y, callbacks=[BackupAndRestore(backup_dir, save_freq=save_freq)], **fit)
    seen["deleted"] = not backup_dir.exists()
    for own in ("state_sha256", "shuffle_run_start"):  # gpunn's own additions
        del seen["interrupted_metadata"][own]
    return seen


@pytest.mark.skipif(keras_unavailable_reason() is not None, reason=str(keras_unavailable_reason()))
def test_resume_epochs_and_files_left_are_keras_3s(tmp_path):
    x, y = data()
    task = {"x": x.tolist(), "y": y.tolist(), "fit": {**FIT, "epochs": 4}, "scenarios": SCENARIOS}
    (tmp_path / "task.json").write_text(json.dumps(task))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KERAS_BACKEND"] = "jax"
    run = run_keras_script(KERAS_SIDE, str(tmp_path), env=env, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    keras_seen = json.loads((tmp_path / "out.json").read_text())
    ours = [gpunn_side(tmp_path, save_freq, interrupt, index)
            for index, (save_freq, interrupt) in enumerate(SCENARIOS)]
    assert ours == keras_seen
