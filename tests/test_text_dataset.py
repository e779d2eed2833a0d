"""``keras.utils.text_dataset_from_directory`` (``gpunn/utils/text_dataset.py``): Keras's files, order, splits,
labels and messages. Without TensorFlow (as here) it is a PyDataset of NumPy batches; where a script has imported
TensorFlow it is Keras's tf.data.Dataset, compared live with Keras's own where GPUNN_KERAS_TF_PYTHON names an
interpreter with Keras 3.15 and TensorFlow."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import numpy_backend, run_keras_with_tensorflow_script  # noqa: E402,F401

import gpunn  # noqa: E402
from gpunn.utils import PyDataset, text_dataset_from_directory  # noqa: E402

WORDS = ["good", "bad", "film", "plot", "<br />", "déjà", "great"]


def make_corpus(root: Path) -> Path:
    """The IMDB folder's layout: a subdirectory per class (and one the tutorial removes, "unsup"), .txt files
    of reviews, a file of another kind, a nested folder."""
    rng = np.random.default_rng(0)
    for name, count in (("neg", 23), ("pos", 23), ("unsup", 5)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            text = " ".join(rng.choice(WORDS, rng.integers(3, 30)))
            (root / name / f"{i}_{rng.integers(1, 10)}.txt").write_text(text, encoding="utf-8")
    (root / "pos" / "nested").mkdir()
    (root / "pos" / "nested" / "deep.txt").write_text("deep review", encoding="utf-8")
    (root / "readme.md").write_text("not a review")
    (root / "neg" / "notes.csv").write_text("a,b")
    return root


def all_batches(dataset) -> list:
    return [dataset[i] for i in range(len(dataset))]


def test_without_tensorflow_it_is_a_pydataset_of_kerass_files_in_kerass_order(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "train")
    dataset = text_dataset_from_directory(corpus, class_names=["neg", "pos"], batch_size=8, shuffle=False)
    assert "Found 47 files belonging to 2 classes." in capsys.readouterr().out
    assert isinstance(dataset, PyDataset) and dataset.class_names == ["neg", "pos"] and len(dataset) == 6
    files = [p for cls in ("neg", "pos") for p in sorted((corpus / cls).rglob("*.txt"), key=lambda p: (
        str(p.parent), p.name))]
    texts = np.concatenate([x for x, _ in all_batches(dataset)])
    labels = np.concatenate([y for _, y in all_batches(dataset)])
    assert texts.tolist() == [p.read_text(encoding="utf-8") for p in files]
    assert labels.tolist() == [0] * 23 + [1] * 24 and labels.dtype == np.int32
    assert texts.dtype.kind == "U"


def test_splits_are_kerass_and_a_shuffled_one_changes_order_each_epoch(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "train")
    train = text_dataset_from_directory(corpus, batch_size=8, validation_split=0.2, subset="training", seed=42)
    val = text_dataset_from_directory(corpus, batch_size=8, validation_split=0.2, subset="validation", seed=42)
    out = capsys.readouterr().out
    assert "Found 52 files belonging to 3 classes." in out and "Using 42 files for training." in out
    assert "Using 10 files for validation." in out
    # Keras's split: the sorted files shuffled by RandomState(seed), the last 20% for validation
    files = [os.path.join(str(corpus), cls, os.path.relpath(f, corpus / cls)) for cls in ("neg", "pos", "unsup")
             for f in sorted((str(p) for p in (corpus / cls).rglob("*.txt")), key=lambda f: (os.path.dirname(f),
                                                                                              f))]
    np.random.RandomState(42).shuffle(files)
    contents = {Path(f).read_text(encoding="utf-8") for f in files[-10:]}
    epoch1 = np.concatenate([x for x, _ in all_batches(train)])
    train.on_epoch_end()
    epoch2 = np.concatenate([x for x, _ in all_batches(train)])
    assert sorted(epoch1.tolist()) == sorted(epoch2.tolist()) and epoch1.tolist() != epoch2.tolist()
    assert {x for batch, _ in all_batches(val) for x in batch.tolist()} == contents
    both = text_dataset_from_directory(corpus, batch_size=8, validation_split=0.2, subset="both", seed=42)
    assert isinstance(both, list) and [len(d) for d in both] == [len(train), len(val)]


def test_label_modes_max_length_and_no_labels(tmp_path):
    corpus = make_corpus(tmp_path / "train")
    binary = text_dataset_from_directory(corpus, label_mode="binary", class_names=["neg", "pos"], batch_size=4,
                                         shuffle=False, max_length=6, verbose=False)
    x, y = binary[0]
    assert y.dtype == np.float32 and y.shape == (4, 1)
    assert all(len(text.encode("utf-8")) <= 6 for text in x)  # (bytes, as tf.strings.substr counts them)
    categorical = text_dataset_from_directory(corpus, label_mode="categorical", batch_size=None, shuffle=False,
                                              verbose=False)
    x, y = categorical[0]
    assert isinstance(x, str) and y.tolist() == [1.0, 0.0, 0.0] and len(categorical) == 52
    texts_only = text_dataset_from_directory(corpus, labels=None, batch_size=16, shuffle=False, verbose=False)
    assert texts_only.class_names is None and texts_only[0].shape == (16,)
    given = text_dataset_from_directory(corpus, labels=list(range(52)), batch_size=16, shuffle=False, verbose=False)
    assert given[0][1].tolist() == list(range(16)) and given.class_names == [str(k) for k in range(52)]


def test_a_text_model_trains_on_it(tmp_path, numpy_backend):
    """The text-classification tutorial's model (its vectorization inside the model) fit on the dataset."""
    corpus = make_corpus(tmp_path / "train")
    dataset = text_dataset_from_directory(corpus, class_names=["neg", "pos"], batch_size=8, seed=1, verbose=False)
    vectorize = gpunn.layers.TextVectorization(max_tokens=20, output_sequence_length=12)
    vectorize.adapt(np.concatenate([x for x, _ in all_batches(dataset)]))
    inputs = gpunn.Input(shape=(), dtype="string")
    x = gpunn.layers.GlobalAveragePooling1D()(gpunn.layers.Embedding(20, 4)(vectorize(inputs)))
    model = gpunn.Model(inputs, gpunn.layers.Dense(1)(x))
    model.compile(optimizer="adam", loss=gpunn.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_bad_arguments_are_refused_by_name_as_keras_refuses_them(tmp_path):
    corpus = make_corpus(tmp_path / "train")
    cases = [({"label_mode": "sparse"}, "label_mode: expected one of 'int', 'categorical', 'binary' or None"),
             ({"validation_split": 0.2, "subset": "training"}, "seed: with validation_split and shuffling"),
             ({"subset": "training"}, "if subset is set, validation_split must be set"),
             ({"validation_split": 1.5, "subset": "training", "seed": 1}, "validation_split: must be between 0 and 1"),
             ({"labels": [0, 1]}, "expected as many as the files in the target directory; len\\(labels\\) is 2"),
             ({"class_names": ["neg", "maybe"]}, "class_names: should name subdirectories"),
             ({"label_mode": "binary"}, "'binary' needs exactly 2 classes"),
             ({"labels": "folders"}, "labels: should be a list/tuple of integer labels"),
             ({"format": "arrow"}, "format: expected 'tf' or 'grain'")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            text_dataset_from_directory(corpus, verbose=False, **kwargs)
    with pytest.raises(ValueError, match="directory: .* is not a directory"):
        text_dataset_from_directory(tmp_path / "missing")


COMPARE = r'''
import json, sys
import tensorflow as tf
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import keras
    make = keras.utils.text_dataset_from_directory
else:
    import gpunn
    make = gpunn.utils.text_dataset_from_directory


def dump(dataset):
    return [[[t.decode(errors="replace") for t in x.numpy().tolist()], y.numpy().tolist()] for x, y in dataset]


corpus = task["corpus"]
train = make(corpus, batch_size=8, validation_split=0.2, subset="training", seed=42, verbose=False)
val = make(corpus, batch_size=8, validation_split=0.2, subset="validation", seed=42, verbose=False)
binary = make(corpus, label_mode="binary", class_names=["neg", "pos"], batch_size=4, shuffle=False, max_length=12,
              verbose=False)
both = make(corpus, batch_size=8, validation_split=0.3, subset="both", seed=7, label_mode="categorical",
            verbose=False)
print(json.dumps({"type": type(train).__module__.split(".")[0], "class_names": train.class_names,
                  "train": [dump(train), dump(train)], "val": dump(val), "binary": dump(binary),
                  "both": [dump(both[0]), dump(both[1])]}))
'''


def test_with_tensorflow_imported_it_is_kerass_dataset(tmp_path):
    corpus = str(make_corpus(tmp_path / "train"))
    theirs = run_keras_with_tensorflow_script(COMPARE, {"lib": "keras", "corpus": corpus}, backend="tensorflow")
    ours = run_keras_with_tensorflow_script(COMPARE, {"lib": "gpunn", "corpus": corpus}, backend="tensorflow",
                                            gpunn_path=True)
    assert ours["type"] == theirs["type"] == "tensorflow"
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)

