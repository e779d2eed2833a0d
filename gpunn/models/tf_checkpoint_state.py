"""The ``checkpoint`` file TensorFlow keeps beside its checkpoints, written beside weights saved under a TensorFlow
checkpoint's name (``training/cp-0010.ckpt``, tf.keras 2's save_weights format by default). TensorFlow's tutorials
find the newest weights with ``tf.train.latest_checkpoint(folder)``, which reads that file and returns the path it
names when a file is there: gpunn's weights file (safetensors), which ``load_weights`` then reads."""
from __future__ import annotations

import os

from .atomic_write import atomic_write_bytes

SUFFIX = ".ckpt"
STATE_FILE = "checkpoint"  # TensorFlow's name (checkpoint_management.py)


def note_latest(filepath: str) -> None:
    """Name ``filepath`` as the folder's latest checkpoint, as tf.keras 2's ``save_weights`` does (relative
    paths, itself the only one listed), for a name ending in .ckpt; nothing for other names."""
    if not filepath.endswith(SUFFIX):
        return
    folder, name = os.path.split(os.path.abspath(filepath))
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'  # a protobuf text-format string
    text = f"model_checkpoint_path: {quoted}\nall_model_checkpoint_paths: {quoted}\n"
    atomic_write_bytes(os.path.join(folder, STATE_FILE), text.encode("utf-8"))
