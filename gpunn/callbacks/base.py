"""Callback: the hooks fit, evaluate and predict call; every one a no-op to override."""
from __future__ import annotations



class Callback:
    """Base class of callbacks: every hook is a no-op to override.

    Attributes:
        model: the model being trained, set by ``set_model``.
        params: the training parameters (``epochs``, ``steps``, ``verbose``), set by ``set_params``.
    """

    # Class-level defaults keep subclasses that skip ``super().__init__()`` working.
    model = None
    params: dict = {}

    # tf.keras 2's, None since TensorFlow 2.0 (a callback's `if self.validation_data is not None:` reads it);
    # Keras 3 has no such attribute
    validation_data = None

    def __init__(self):
        self.model = None
        self.params = {}

    def set_params(self, params):
        """Receive the training parameters dict."""
        self.params = params

    def set_model(self, model):
        """Receive the model being trained."""
        self.model = model

    def on_train_begin(self, logs=None):
        """Called at the start of training."""

    def on_train_end(self, logs=None):
        """Called at the end of training, with the last epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of epoch ``epoch``; ``logs`` holds its metrics, with ``val_`` ones."""

    def on_batch_begin(self, batch, logs=None):
        """Alias of ``on_train_batch_begin`` kept for older code: that hook calls this one."""

    def on_batch_end(self, batch, logs=None):
        """Alias of ``on_train_batch_end`` kept for older code: that hook calls this one."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before training batch ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after training batch ``batch``; ``logs`` holds the running metrics."""
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        """Called at the start of evaluation (also validation inside ``fit``)."""

    def on_test_end(self, logs=None):
        """Called at the end of evaluation, with its metrics."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before evaluation batch ``batch``."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after evaluation batch ``batch``."""

    def on_predict_begin(self, logs=None):
        """Called at the start of prediction."""

    def on_predict_end(self, logs=None):
        """Called at the end of prediction."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before prediction batch ``batch``."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after prediction batch ``batch``."""
