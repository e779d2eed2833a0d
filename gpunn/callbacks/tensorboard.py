"""TensorBoard: Keras 3's callback, writing the event files TensorBoard reads without TensorFlow.

Keras writes them through ``tf.summary`` (its callback needs TensorFlow installed); gpunn writes the same
records through the ``tensorboard`` package's own event-file writer and summary protos
(``pip install 'gpunn[tensorboard]'``), so ``tensorboard --logdir logs`` shows what it shows for Keras:
``log_dir/train`` and ``log_dir/validation``, ``epoch_<metric>`` per epoch (with ``epoch_learning_rate``),
``batch_<metric>`` every ``update_freq`` batches, ``evaluation_<metric>_vs_iterations`` after each
evaluation, weight histograms (and images) every ``histogram_freq`` epochs, and the model's Keras JSON for the
graph dashboard's conceptual graph.
"""
from __future__ import annotations

import io
import os
import time
import warnings

import numpy as np

from .. import _compat
from ._common import _is_chief
from .base import Callback


def _check_frequency(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected a non-negative integer (epochs between writes, 0: never), got {value!r}")
    return int(value)


def _update_frequency(value):
    if value == "batch":
        return 1
    if value == "epoch":
        return "epoch"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"update_freq: expected 'epoch', 'batch' or a positive integer (batches), got {value!r}")
    return int(value)


def _no_profiling(profile_batch) -> None:
    """Keras profiles batches through TensorFlow's or JAX's profiler (``profile_batch=(100, 200)``, as "Hands-On
    Machine Learning" asks); gpunn has neither: it says so once and writes the other logs (Keras's torch backend
    stops instead, which would stop the script). A value Keras refuses is refused, with Keras's message
    (``TensorBoard._init_profile_batch``; a string "start" or "start,stop" as Keras documents it)."""
    message = ("profile_batch must be a non-negative integer or 2-tuple of positive integers. A pair of positive "
               f"integers signifies a range of batches to profile. Found: {profile_batch}")
    value = profile_batch
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",")]
        except ValueError:
            raise ValueError(message) from None
        value = value[0] if len(value) == 1 else value
    if isinstance(value, (int, np.integer)):
        start = stop = int(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(part, (int, np.integer)) for part in value):
        start, stop = (int(part) for part in value)
    else:
        raise ValueError(message)
    if start < 0 or stop < start:
        raise ValueError(message)
    if start or stop:
        warnings.warn(f"profile_batch={profile_batch!r}: gpunn has no trace profiler; TensorBoard gets the other logs "
                      "but no profile", stacklevel=3)


class TensorBoard(Callback):
    """Write training logs for TensorBoard (Keras 3's arguments and defaults).

    Args:
        log_dir: where the event files go (``train/`` and ``validation/`` below it).
        histogram_freq: epochs between weight histograms (0: none).
        write_graph: write the model's Keras JSON (TensorBoard's graph dashboard draws its layers).
        write_images: write each kernel and bias as an image with the histograms.
        write_steps_per_second: also log training steps per second (per epoch, and per batch with
            ``update_freq``).
        update_freq: ``"epoch"``, ``"batch"`` or a number of batches between batch-level logs.
        profile_batch: taken, and warned about when not 0: gpunn has no trace profiler.
        embeddings_freq, embeddings_metadata: 0 / None only: gpunn writes no embedding projector data.

    Writes nothing on non-chief ranks (``model.is_chief`` False). Batch-level logs are read from the
    device only at the batches that write them.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir: expected a path, got {type(log_dir).__name__} {log_dir!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _check_frequency("histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = _update_frequency(update_freq)
        _no_profiling(profile_batch)
        if _check_frequency("embeddings_freq", embeddings_freq) or embeddings_metadata is not None:
            raise ValueError(f"embeddings_freq / embeddings_metadata: gpunn does not write TensorBoard's embedding "
                             f"projector data; "
                             f"expected 0 / None, got {embeddings_freq!r} / {embeddings_metadata!r}")
        self.embeddings_freq, self.embeddings_metadata = 0, None
        if _compat.tensorboard_writing() is None:
            raise ImportError("TensorBoard: writing TensorBoard logs needs the tensorboard package: "
                              "pip install 'gpunn[tensorboard]' (or pip install tensorboard)")
        self._writers: dict = {}
        self._global_train_batch = 0
        self._global_test_batch = 0
        self._epoch_start = (0.0, 0)  # (time, optimizer iterations) at the epoch's start
        self._batch_start_time = 0.0

    @property
    def _tb(self):
        """The tensorboard package's writing parts (looked up, not held: the callback stays deep-copyable, as
        KerasTuner needs the callbacks given to its searches to be)."""
        return _compat.tensorboard_writing()

    # ---- writers ----------------------------------------------------------------------------------
    def _writer(self, which: str):
        writer = self._writers.get(which)
        if writer is None:
            writer = self._writers[which] = self._tb.EventFileWriter(os.path.join(self.log_dir, which))
        return writer

    def _write(self, which: str, summary, step: int) -> None:
        event = self._tb.event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        self._writer(which).add_event(event)

    def _scalar(self, which: str, tag: str, value, step: int) -> None:
        self._write(which, self._tb.scalar_pb(tag, np.float32(value)), step)

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _writing(self) -> bool:
        return self.model is not None and _is_chief(self.model)

    # ---- hooks ------------------------------------------------------------------------------------
    def set_model(self, model):
        super().set_model(model)
        self._close_writers()
        if self.write_graph and self._writing():
            self._write_model_json()

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start = (time.time(), self._iterations())

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if self.update_freq == "epoch" or step % self.update_freq or not self._writing():
            return
        if self.write_steps_per_second:
            self._scalar("train", "batch_steps_per_second", 1.0 / max(time.time() - self._batch_start_time, 1e-9),
                         step)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, step)

    def on_test_batch_begin(self, batch, logs=None):
        self._global_test_batch += 1

    def on_test_end(self, logs=None):
        """Keras: the evaluation's metrics against the optimizer's step count, in the validation log."""
        if not self._writing() or getattr(self.model, "optimizer", None) is None:
            return
        step = self._iterations()
        for name, value in (logs or {}).items():
            self._scalar("validation", f"evaluation_{name}_vs_iterations", value, step)
        self._writer("validation").flush()

    def on_epoch_end(self, epoch, logs=None):
        if not self._writing():
            return
        self._log_epoch_metrics(epoch, logs or {})
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    # ---- what is written --------------------------------------------------------------------------
    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        return int(getattr(optimizer, "iterations", 0) or 0)

    def _log_epoch_metrics(self, epoch: int, logs: dict) -> None:
        if not logs:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            started, iterations = self._epoch_start
            train["steps_per_second"] = (self._iterations() - iterations) / max(time.time() - started, 1e-9)
        for name, value in train.items():
            self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in validation.items():
            self._scalar("validation", f"epoch_{name}", value, epoch)

    def _log_weights(self, epoch: int) -> None:
        """Keras's tags: ``<weight path with ':' as '_'>/histogram`` (and ``/image``), in the train log."""
        for layer in self.model._layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                values = np.asarray(weight.numpy(), dtype=np.float64)
                self._write("train", self._tb.histogram_pb(f"{name}/histogram", values), epoch)
                if self.write_images:
                    image = _weight_image(values)
                    if image is not None:
                        self._write("train", self._image_summary(f"{name}/image", image), epoch)

    def _image_summary(self, tag: str, image: np.ndarray):
        """One grayscale image as TensorBoard's image plugin stores it: [width, height, PNG]."""
        from PIL import Image  # Pillow comes with matplotlib, a gpunn dependency

        png = io.BytesIO()
        Image.fromarray(image, mode="L").save(png, format="PNG")
        height, width = image.shape
        tensor = self._tb.make_tensor_proto(np.array([str(width).encode(), str(height).encode(), png.getvalue()],
                                                     dtype=object))
        summary = self._tb.summary_pb2.Summary()
        summary.value.add(tag=tag, metadata=self._tb.image_metadata.create_summary_metadata(None, None),
                          tensor=tensor)
        return summary

    def _write_model_json(self) -> None:
        """Keras's ``keras_model_summary("keras", model, step=0)``: the model's JSON under the
        graph_keras_model plugin, which TensorBoard's graph dashboard draws."""
        try:
            json_string = self.model.to_json()
        except Exception as exc:  # noqa: BLE001 - an unbuilt or unserializable model: Keras warns and goes on
            import warnings

            warnings.warn(f"TensorBoard: the model's graph is not written ({type(exc).__name__}: {exc})",
                          stacklevel=3)
            return
        summary = self._tb.summary_pb2.Summary()
        metadata = self._tb.summary_pb2.SummaryMetadata(
            plugin_data=self._tb.summary_pb2.SummaryMetadata.PluginData(plugin_name="graph_keras_model",
                                                                       content=b"1"))
        summary.value.add(tag="keras", metadata=metadata,
                          tensor=self._tb.make_tensor_proto(np.array(json_string.encode(), dtype=object)))
        self._write("train", summary, 0)


def _weight_image(values: np.ndarray) -> np.ndarray | None:
    """Keras's ``_log_weight_as_image`` for the weights an MLP has: a bias as a 1-pixel-wide column, a kernel
    wider than tall (transposed when taller), float values scaled to 8 bits as ``tf.summary.image`` does
    (``convert_image_dtype(saturate=True)``: x * 255.5, clipped to [0, 255], truncated)."""
    image = np.squeeze(values)
    if image.ndim == 1:
        image = image.reshape(image.shape[0], 1)
    elif image.ndim == 2:
        if image.shape[0] > image.shape[1]:
            image = image.T
    else:
        return None  # Keras writes no image for these either (beyond 3-D convolution kernels)
    return np.clip(image * 255.5, 0.0, 255.0).astype(np.uint8)
