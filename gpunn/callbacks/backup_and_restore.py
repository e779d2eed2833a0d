"""BackupAndRestore: back up the training state as fit goes, and resume an interrupted fit from the backup.

A backup is two files in ``backup_dir``: the model's state, as ``model.save`` writes it in gpunn's safetensors
format (weights, optimizer state, Dropout counters; SHA-256 digests of its own), and ``training_metadata.json``
(Keras's name and keys: the epoch to resume at and the last batch seen, plus the state file's SHA-256 so that a
state file and a metadata file from different backups are never taken for one). Both are written atomically,
the state file first. With ``double_checkpoint`` the previous backup is kept beside them, under Keras's ``.bkp``
suffix.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np

from ..models.atomic_write import atomic_write_bytes, remove_stale_temporaries
from ..models.load import load_training_state
from ..models.save import save_backup
from ._common import BatchCounter, _bad_arg, _is_chief
from .base import Callback

_OWNER = "BackupAndRestore"
_PREVIOUS_SUFFIX = ".bkp"  # Keras's, for the previous backup's files


class _UnusableBackup(Exception):
    """A backup that is damaged, incomplete or does not fit the model."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _Backup:
    """The state file and metadata file of one backup (the latest, or the previous one)."""

    def __init__(self, state_path: str, metadata_path: str):
        self.state_path, self.metadata_path = state_path, metadata_path

    def exists(self) -> bool:
        return os.path.lexists(self.state_path) or os.path.lexists(self.metadata_path)

    def read(self) -> tuple[dict, bytes]:
        """(metadata, state file bytes), checked to belong together; _UnusableBackup otherwise."""
        if not os.path.lexists(self.metadata_path):
            raise _UnusableBackup(f"{self.state_path!r} has no {os.path.basename(self.metadata_path)!r} beside it "
                                  "(training stopped while the backup was being written?)")
        try:
            metadata = json.loads(_read_bytes(self.metadata_path))
        except (OSError, ValueError) as exc:
            raise _UnusableBackup(f"{self.metadata_path!r} is not readable JSON ({exc})") from exc
        if not (isinstance(metadata, dict) and _is_count(metadata.get("epoch")) and _is_count(metadata.get("batch"))
                and isinstance(metadata.get("state_sha256"), str)):
            raise _UnusableBackup(f"{self.metadata_path!r} is damaged: expected {{'epoch': int >= 0, 'batch': "
                                  f"int >= 0, 'state_sha256': str}}, got {metadata!r}")
        if not os.path.lexists(self.state_path):
            raise _UnusableBackup(f"{self.metadata_path!r} describes a state file {self.state_path!r} that is "
                                  "missing")
        try:
            data = _read_bytes(self.state_path)
        except OSError as exc:
            raise _UnusableBackup(f"{self.state_path!r} is not readable ({exc})") from exc
        if _sha256(data) != metadata["state_sha256"]:
            raise _UnusableBackup(f"{self.state_path!r} is not the file that {self.metadata_path!r} describes (its "
                                  "SHA-256 differs): it is damaged, or training stopped while the backup was being "
                                  "written")
        return metadata, data

    def copy_to(self, other: "_Backup") -> bool:
        """Copy this backup's files over ``other``'s, state file first; False (nothing copied) when this
        backup's files do not belong together: a damaged latest backup never replaces the previous one (Keras
        copies the previous backup over the latest when it falls back, to the same end)."""
        try:
            metadata, data = self.read()
        except _UnusableBackup:
            return False
        atomic_write_bytes(other.state_path, data)
        atomic_write_bytes(other.metadata_path, json.dumps(metadata).encode())
        return True

    def remove(self) -> None:
        for path in (self.state_path, self.metadata_path):
            if os.path.lexists(path):
                os.remove(path)


class BackupAndRestore(Callback):
    """Back up the training state, and resume an interrupted ``fit`` from it (Keras 3's fault tolerance).

    When a backup exists in ``backup_dir`` at the start of ``fit``, the model's weights and optimizer state
    (slots, step count, learning rate) and its Dropout counters are restored, and training goes on at the epoch
    after the last one backed up: the History holds only the epochs run. With the same seed
    (``gpunn.utils.set_random_seed``) and the same ``fit`` arguments, a run interrupted after an epoch and
    started again ends as the uninterrupted run would have, bit for bit on the NumPy backend. Arrays are shuffled
    as they would have been (the skipped epochs' orders are drawn); a PyDataset's shuffled batch order starts over
    with each ``fit``, as in Keras, so pass ``shuffle=False`` for it.

    With ``save_freq`` a number of batches, a backup made in the middle of an epoch resumes, as in Keras, at the
    start of that epoch, from the weights of that batch; one made at an epoch's last batch resumes at the next
    epoch (Keras would run that epoch again).

    The model must be the same one, compiled the same way, as the one backed up; a backup that is damaged,
    incomplete or does not fit the model is an error, or, when the previous backup exists
    (``double_checkpoint``), a warning and a resume from the previous backup.

    Args:
        backup_dir: the directory of the backup files; it should hold nothing else.
        save_freq: ``"epoch"`` (back up at the end of every epoch) or a number of batches between backups.
        double_checkpoint: keep the previous backup too, to fall back on when the latest one cannot be read.
        delete_checkpoint: delete the backup when training ends (not when it is interrupted by an exception);
            ``False`` keeps it, and a later ``fit`` with this callback resumes from it.

    Writes and deletes nothing on non-chief ranks (``model.is_chief`` False), which restore from the chief's
    backup: in a data-parallel run ``backup_dir`` must be visible to every rank.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"{_OWNER}: Empty `backup_dir` argument passed: backup_dir must be a directory path, "
                             f"got backup_dir={backup_dir!r}")
        if not isinstance(backup_dir, (str, bytes, os.PathLike)):
            raise _bad_arg(_OWNER, "backup_dir", "a directory path (str or os.PathLike)", backup_dir)
        self.backup_dir = os.fsdecode(os.fspath(backup_dir))
        if os.path.exists(self.backup_dir) and not os.path.isdir(self.backup_dir):
            raise ValueError(f"{_OWNER}: backup_dir must be a directory, got backup_dir={self.backup_dir!r}, which "
                             "is a file")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer))
                                     or save_freq < 1):
            preemption = (" (save_freq=False is Keras's setting for TensorFlow's preemption checkpointing, which "
                          "gpunn does not have)" if save_freq is False else "")
            raise ValueError(f"{_OWNER}: Invalid value for argument `save_freq`. Received: save_freq={save_freq!r}. "
                             f"Expected either 'epoch' or a positive integer (a number of batches){preemption}")
        for name, value in (("double_checkpoint", double_checkpoint), ("delete_checkpoint", delete_checkpoint)):
            if not isinstance(value, (bool, np.bool_)):
                raise _bad_arg(_OWNER, name, "True or False", value)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        # Keras's attribute names; the "weights" file holds the optimizer state too.
        self._weights_path = os.path.join(self.backup_dir, "latest.safetensors")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = self._weights_path + _PREVIOUS_SUFFIX
        self._prev_training_metadata_path = self._training_metadata_path + _PREVIOUS_SUFFIX
        self._latest = _Backup(self._weights_path, self._training_metadata_path)
        self._previous = _Backup(self._prev_weights_path, self._prev_training_metadata_path)
        self._current_epoch = 0  # the epoch a backup made now resumes at
        self._batches = BatchCounter(save_freq) if save_freq != "epoch" else None
        self._last_batch_seen = 0  # Keras's "batch" in the metadata: 0 at an epoch's end
        self._saved_at_last_batch = False
        self._state_digest = None  # the SHA-256 of the latest state file this callback wrote

    # ---- restore ----------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if _is_chief(self.model):  # a folder it cannot write in is named now, not after the first epoch's work
            try:
                os.makedirs(self.backup_dir, exist_ok=True)
            except OSError as exc:
                raise type(exc)(exc.errno, f"backup_dir: cannot make or use the folder {self.backup_dir!r} "
                                           f"({exc.strerror})") from None
        if self._batches is not None:
            self._batches.since_save = 0
        self._saved_at_last_batch = False
        epoch = self._restore()
        if epoch is not None:
            self._current_epoch = epoch
            self.model._initial_epoch = epoch  # fit starts there (trainer.py ``_start_epoch``)

    def _restore(self) -> int | None:
        """Restore the latest usable backup into the model; the epoch to resume at, or None without a backup."""
        if not self._latest.exists() and not self._previous.exists():
            return None
        try:
            return self._load(self._latest)
        except _UnusableBackup as latest_problem:
            if not self._previous.exists():
                raise self._cannot_resume(str(latest_problem)) from latest_problem
            try:
                epoch = self._load(self._previous)
            except _UnusableBackup as previous_problem:
                raise self._cannot_resume(f"{latest_problem}; and the previous backup: {previous_problem}") \
                    from previous_problem
            warnings.warn(f"{_OWNER}: the latest backup cannot be used: {latest_problem}. Resuming from the previous "
                          f"backup ({self._prev_weights_path!r}), at epoch {epoch + 1}", UserWarning, stacklevel=3)
            return epoch

    def _load(self, backup: _Backup) -> int:
        if not backup.exists():
            raise _UnusableBackup(f"{backup.state_path!r} and {backup.metadata_path!r} are missing")
        metadata, data = backup.read()
        try:
            load_training_state(self.model, backup.state_path, data)
        except (OSError, ValueError) as exc:
            raise _UnusableBackup(str(exc)) from exc
        self._state_digest = metadata["state_sha256"]
        # where the interrupted run's shuffled orders began (trainer/shuffle_orders.py); absent from older backups
        self.model._resumed_shuffle_state = metadata.get("shuffle_run_start")
        return metadata["epoch"]

    def _cannot_resume(self, problem: str) -> ValueError:
        return ValueError(f"{_OWNER}: cannot resume from the backup in {self.backup_dir!r}: {problem}. Delete that "
                          "directory to train from the start")

    # ---- backup -----------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        if self._batches is not None:
            self._batches.epoch_begins()

    def on_train_batch_end(self, batch, logs=None):
        self._saved_at_last_batch = self._should_save_on_batch(batch)
        if self._saved_at_last_batch:
            self._save_model()

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save_model()
        elif self._saved_at_last_batch:
            # The backup of the epoch's last batch holds the epoch's final state. Keras leaves it marked as of this
            # epoch, which a resumed run would train again; marked as of the next one, it resumes exactly.
            self._write_metadata()

    def _should_save_on_batch(self, batch) -> bool:
        if self._batches is None:
            return False
        due = self._batches.due(batch)
        self._last_batch_seen = batch
        return due

    def _save_model(self):
        if not _is_chief(self.model):
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            self._latest.copy_to(self._previous)
        save_backup(self.model, self._weights_path)
        self._state_digest = _sha256(_read_bytes(self._weights_path))
        self._write_metadata()

    def _write_metadata(self):
        if not _is_chief(self.model) or self._state_digest is None:
            return
        metadata = {"epoch": int(self._current_epoch), "batch": int(self._last_batch_seen),
                    "state_sha256": self._state_digest,
                    "shuffle_run_start": self.model.__dict__.get("_shuffle_run_start")}
        atomic_write_bytes(self._training_metadata_path, json.dumps(metadata).encode())

    # ---- end --------------------------------------------------------------------------------------
    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not _is_chief(self.model) or not os.path.isdir(self.backup_dir):
            return
        self._latest.remove()
        self._previous.remove()
        remove_stale_temporaries(self.backup_dir)
        # Keras deletes the whole directory; files that are not the backup's are left, with their directory.
        if not os.listdir(self.backup_dir):
            os.rmdir(self.backup_dir)
