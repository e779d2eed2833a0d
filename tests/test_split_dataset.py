"""``keras.utils.split_dataset``: NumPy arrays split as Keras 3 splits them (the same samples on each side, the
same shuffle for a seed, Keras's checks and messages), compared with results recorded from Keras 3.15 on
TensorFlow (Keras's split needs TensorFlow even for arrays), and live where GPUNN_KERAS_TF_PYTHON names such an
interpreter; where TensorFlow is imported, the parts are Keras's own tf.data datasets, which fit trains on.

Record again: ``python tests/test_split_dataset.py <python with Keras 3.15 and TensorFlow>``.
"""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest

from helpers import run_keras_with_tensorflow_script, run_with_python

RECORD = pathlib.Path(__file__).parent / "data" / "keras_split_dataset.json"

OUTCOMES = r'''
import json, sys
import numpy as np
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import keras
    split_dataset = keras.utils.split_dataset
else:
    from gpunn.utils import split_dataset


def rows(part):
    """The samples of one part, whatever its type: a tf.data dataset of samples, an array, a tuple of arrays."""
    if isinstance(part, np.ndarray):
        return part.tolist()
    if isinstance(part, tuple):
        return [list(sample) for sample in zip(*[column.tolist() for column in part])]
    return [[np.asarray(t).tolist() for t in s] if isinstance(s, tuple) else np.asarray(s).tolist() for s in part]


def outcome(data, **kwargs):
    try:
        left, right = split_dataset(data, **kwargs)
        return ["split", rows(left), rows(right)]
    except Exception as error:
        return [type(error).__name__, str(error)]


x = np.arange(50, dtype="float32").reshape(25, 2)
y = np.arange(25)
cases = []
for kwargs in [dict(left_size=0.8), dict(right_size=5, shuffle=True, seed=3), dict(left_size=0.5, shuffle=True, seed=0),
               dict(left_size=10, right_size=0.2, shuffle=True, seed=1), dict(left_size=0.3, right_size=0.3),
               dict(left_size=7, right_size=0.6)]:
    for data in (x, (x, y), [x, y]):
        cases.append(outcome(data, **kwargs))
for kwargs in [dict(), dict(left_size=0), dict(left_size=1.5), dict(left_size="a"), dict(right_size=25),
               dict(left_size=0.9, right_size=0.3), dict(left_size=20, right_size=10), dict(left_size=0.01),
               dict(left_size="a", right_size="b"), dict(left_size=0.2, right_size=[1])]:
    cases.append(outcome(x, **kwargs))
for data in ([], (x, y[:3]), (x, [1, 2]), np.zeros((0, 2)), "text"):
    cases.append(outcome(data, left_size=0.5))
print(json.dumps(cases))
'''


def _ours() -> list:
    return run_with_python(sys.executable, OUTCOMES, {"lib": "gpunn"}, gpunn_path=True)


def test_arrays_split_as_kerass_recorded_splits():
    """Without TensorFlow, each case (an array, a tuple and a list of arrays; fractions, counts, seeds; every
    refusal) gives Keras's samples on each side, or Keras's error type and message."""
    ours, theirs = _ours(), json.loads(RECORD.read_text())
    assert len(ours) == len(theirs) == 33
    for k, (mine, kerass) in enumerate(zip(ours, theirs)):
        assert mine == kerass, k
    assert sum(case[0] == "split" for case in ours) == 18


def test_arrays_split_as_keras_live():
    theirs = run_keras_with_tensorflow_script(OUTCOMES, {"lib": "keras"}, backend="tensorflow")
    assert _ours() == theirs


def test_the_arrays_of_a_split_train():
    import gpunn
    from gpunn.utils import split_dataset

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype("float32"), rng.integers(0, 2, 40).astype("float32")
    (x_train, y_train), (x_val, y_val) = split_dataset((x, y), left_size=0.75, shuffle=True, seed=5)
    assert x_train.shape == (30, 3) and y_val.shape == (10,) and x_train.dtype == np.float32
    assert sorted(map(tuple, np.concatenate([x_train, x_val]).tolist())) == sorted(map(tuple, x.tolist()))
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    with pytest.raises(TypeError, match="Unsupported dataset type: <class 'dict'>"):
        split_dataset({"x": x}, left_size=0.5)


WITH_TENSORFLOW = r'''
import json, sys
import numpy as np
import tensorflow as tf
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import keras
    split_dataset = keras.utils.split_dataset
else:
    import gpunn
    split_dataset = gpunn.utils.split_dataset
x = np.arange(60, dtype="float32").reshape(30, 2)
y = (np.arange(30) % 2).astype("float32")
batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
left, right = split_dataset(batched, left_size=0.8, shuffle=True, seed=4)
arrays = split_dataset(x, right_size=6)
result = {"types": [type(part).__module__.split(".")[0] for part in (left, right, arrays[0])],
          "left": [[t.numpy().tolist() for t in batch] for batch in left],
          "right": [[t.numpy().tolist() for t in batch] for batch in right],
          "arrays": [[t.numpy().tolist() for t in arrays[0]], [t.numpy().tolist() for t in arrays[1]]]}
if task["lib"] == "gpunn":
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    result["epochs"] = len(model.fit(left, validation_data=right, epochs=2, verbose=0).history["val_loss"])
print(json.dumps(result))
'''


def test_with_tensorflow_the_parts_are_kerass_datasets():
    theirs = run_keras_with_tensorflow_script(WITH_TENSORFLOW, {"lib": "keras"}, backend="tensorflow")
    ours = run_keras_with_tensorflow_script(WITH_TENSORFLOW, {"lib": "gpunn"}, backend="tensorflow",
                                            gpunn_path=True)
    assert ours.pop("epochs") == 2
    assert ours == theirs and theirs["types"] == ["tensorflow"] * 3
    assert [len(batch[0]) for batch in theirs["left"]] == [4] * 6  # batched as the dataset it split


def record(python: str) -> None:
    RECORD.write_text(json.dumps(run_with_python(python, OUTCOMES, {"lib": "keras"}, backend="tensorflow")) + "\n")


if __name__ == "__main__":
    record(sys.argv[1])
