"""Training callbacks, as ``keras.callbacks`` (Keras 3 semantics and signatures).

A callback sees the model through a small surface: ``model.stop_training``,
``model.optimizer.learning_rate`` (a settable float), ``model.get_weights()`` /
``model.set_weights()``, ``model.save()`` / ``model.save_weights()`` and ``model.is_chief``
(False on the non-zero ranks of a data-parallel run, where callbacks that write files or print
stay silent). ``fit`` passes ``params = {'epochs': ..., 'steps': ..., 'verbose': ...}``.

About ``logs``: epoch-end logs are plain dicts of floats. Batch-level logs are a read-only
Mapping whose values are computed when read; on a GPU each read waits for the device, so a
callback should read batch logs only when it needs them.
"""
from .backup_and_restore import BackupAndRestore
from .base import Callback
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .progbar import ProgbarLogger
from .swap_ema_weights import SwapEMAWeights
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .remote_monitor import RemoteMonitor
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN


__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "LearningRateScheduler", "LambdaCallback", "TensorBoard",
    "BackupAndRestore", "SwapEMAWeights", "RemoteMonitor",
]


def __dir__():
    from ..api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
