"""``keras.utils.image_dataset_from_directory`` and the image file utilities (``load_img``, ``img_to_array``,
``array_to_img``, ``save_img``, ``keras.preprocessing.image.smart_resize``).

Without TensorFlow (as here) the dataset is a PyDataset of NumPy batches, compared with Keras's own pieces run in a
Keras child: its ``index_directory`` and split (the files, their order and labels) and its TensorFlow-free image
loader (``_load_image_grain``: Pillow, then ``ops.image.resize``). Where a script has imported TensorFlow it is
Keras's tf.data.Dataset, compared live where GPUNN_KERAS_TF_PYTHON names an interpreter with Keras and TensorFlow.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gpunn
from gpunn.preprocessing.image import smart_resize
from gpunn.utils import (PyDataset, array_to_img, image_dataset_from_directory, img_to_array, load_img,
                         save_img)
from helpers import numpy_backend, run_keras, run_keras_with_tensorflow_script  # noqa: F401

Image = pytest.importorskip("PIL.Image", reason="Pillow reads and writes the image files (pip install pillow)")


def make_folder(root: Path) -> Path:
    """Two classes of images of several sizes and kinds (RGB PNG, greyscale PNG, RGBA PNG, palette GIF, BMP,
    JPEG), a nested folder, and files of other kinds."""
    rng = np.random.default_rng(0)
    kinds = [("png", "RGB"), ("png", "L"), ("png", "RGBA"), ("gif", "P"), ("bmp", "RGB"), ("jpg", "RGB")]
    for label, count in (("cats", 7), ("dogs", 6)):
        (root / label).mkdir(parents=True)
        for i in range(count):
            extension, mode = kinds[(i + len(label)) % len(kinds)]
            height, width = int(rng.integers(5, 12)), int(rng.integers(5, 12))
            pixels = rng.integers(0, 256, (height, width, 4 if mode == "RGBA" else 3), dtype=np.uint8)
            image = Image.fromarray(pixels[..., :4] if mode == "RGBA" else pixels, "RGBA" if mode == "RGBA" else "RGB")
            if mode in ("L", "P"):
                image = image.convert(mode)
            image.save(root / label / f"{i}.{extension.upper() if i == 2 else extension}")
    (root / "dogs" / "nested").mkdir()
    Image.fromarray(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)).save(root / "dogs" / "nested" / "deep.png")
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "readme.md").write_text("the folder")
    return root


KERAS_PIECES = r'''
import json, sys
import numpy as np
import keras
from keras.src.utils import dataset_utils, image_dataset_utils as utils

task = json.loads(sys.stdin.read())
results = []
for case in task["cases"]:
    options = case["options"]
    labels = options.get("labels", "inferred")
    paths, labels, class_names = dataset_utils.index_directory(
        task["folder"], labels, formats=utils.ALLOWLIST_FORMATS, class_names=options.get("class_names"),
        shuffle=options.get("shuffle", True), seed=options.get("seed"), follow_links=False, verbose=False)
    if options.get("validation_split"):
        paths, labels = dataset_utils.get_training_or_validation_split(
            paths, labels, options["validation_split"], options["subset"])
    channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[options.get("color_mode", "rgb")]
    size = options.get("image_size", (256, 256))
    images = [np.asarray(utils._load_image_grain(
        path, tuple(size), channels, options.get("interpolation", "bilinear"),
        options.get("data_format", "channels_last"), options.get("crop_to_aspect_ratio", False),
        options.get("pad_to_aspect_ratio", False))).tolist() for path in paths]
    results.append({"paths": list(paths), "labels": None if labels is None else np.asarray(labels).tolist(),
                    "class_names": class_names, "images": images})
print(json.dumps(results))
'''

CASES = [
    {"image_size": (6, 5), "shuffle": False},
    {"image_size": (8, 8), "color_mode": "grayscale", "interpolation": "nearest", "seed": 3},
    {"image_size": (7, 4), "color_mode": "rgba", "crop_to_aspect_ratio": True, "shuffle": False,
     "class_names": ["dogs", "cats"]},
    {"image_size": (5, 9), "pad_to_aspect_ratio": True, "interpolation": "bicubic", "seed": 11,
     "data_format": "channels_first"},
    {"image_size": (6, 6), "validation_split": 0.3, "subset": "training", "seed": 42},
    {"image_size": (6, 6), "validation_split": 0.3, "subset": "validation", "seed": 42},
]


@pytest.fixture(scope="module")
def folder_and_keras(tmp_path_factory):
    folder = make_folder(tmp_path_factory.mktemp("images") / "train")
    return folder, run_keras(KERAS_PIECES, {"folder": str(folder), "cases": [{"options": c} for c in CASES]})


def _options(case: dict) -> dict:
    return {key: value for key, value in case.items()}


@pytest.mark.parametrize("k", range(len(CASES)))
def test_files_labels_and_images_are_kerass(folder_and_keras, k, numpy_backend):
    folder, theirs = folder_and_keras
    case, expected = CASES[k], theirs[k]
    dataset = image_dataset_from_directory(folder, batch_size=4, verbose=False, **_options(case))
    assert isinstance(dataset, PyDataset)
    assert dataset.file_paths == expected["paths"] and dataset.class_names == expected["class_names"]
    assert len(dataset) == -(-len(expected["paths"]) // 4)
    images = np.concatenate([x for x, _ in (dataset[i] for i in range(len(dataset)))])
    labels = np.concatenate([y for _, y in (dataset[i] for i in range(len(dataset)))])
    reference = np.asarray(expected["images"], np.float32)
    if case.get("shuffle", True):  # a shuffled dataset draws its own order: the same pairs, as a set
        order = np.argsort([round(float(v), 3) for v in images.reshape(len(images), -1).sum(axis=1)])
        ref_order = np.argsort([round(float(v), 3) for v in reference.reshape(len(reference), -1).sum(axis=1)])
        images, labels = images[order], labels[order]
        reference, expected_labels = reference[ref_order], np.asarray(expected["labels"])[ref_order]
    else:
        expected_labels = np.asarray(expected["labels"])
    assert images.dtype == np.float32 and images.shape == reference.shape
    np.testing.assert_allclose(images, reference, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(labels, expected_labels)
    assert labels.dtype == np.int32


def test_a_shuffled_dataset_changes_order_each_epoch_and_label_modes(tmp_path, numpy_backend):
    folder = make_folder(tmp_path / "train")
    dataset = image_dataset_from_directory(folder, image_size=(4, 4), batch_size=20, seed=1, verbose=False)
    first = dataset[0][1].copy()
    dataset.on_epoch_end()
    assert sorted(first.tolist()) == sorted(dataset[0][1].tolist()) and first.tolist() != dataset[0][1].tolist()
    binary = image_dataset_from_directory(folder, image_size=(4, 4), label_mode="binary", shuffle=False,
                                          verbose=False)
    assert binary[0][1].shape == (14, 1) and binary[0][1].dtype == np.float32
    categorical = image_dataset_from_directory(folder, image_size=(4, 4), label_mode="categorical", shuffle=False,
                                               verbose=False)
    assert categorical[0][1].shape == (14, 2) and categorical[0][1].sum() == 14
    unlabelled = image_dataset_from_directory(folder, image_size=(4, 4), labels=None, batch_size=None,
                                              shuffle=False, verbose=False)
    assert unlabelled[0].shape == (4, 4, 3) and len(unlabelled) == 14
    train, val = image_dataset_from_directory(folder, image_size=(4, 4), validation_split=0.25, subset="both",
                                              seed=5, verbose=False)
    assert sorted(train.file_paths + val.file_paths) == sorted(binary.file_paths)


def test_a_model_trains_on_it(tmp_path, numpy_backend, capsys):
    folder = make_folder(tmp_path / "train")
    dataset = image_dataset_from_directory(folder, image_size=(8, 8), batch_size=5, seed=2)
    assert "Found 14 files belonging to 2 classes." in capsys.readouterr().out
    model = gpunn.Sequential([gpunn.Input((8, 8, 3)), gpunn.layers.Rescaling(1 / 255),
                              gpunn.layers.RandomFlip("horizontal"), gpunn.layers.Flatten(),
                              gpunn.layers.Dense(2)])
    model.compile(optimizer="adam", loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(dataset, epochs=2, verbose=0)
    assert history.params["steps"] == 3 and np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize("arguments, message", [
    ({"color_mode": "cmyk"}, "`color_mode` must be one of"),
    ({"image_size": (3, 4, 5)}, "Invalid `image_size` value"),
    ({"interpolation": "sharp"}, "Argument `interpolation` should be one of"),
    ({"format": "torch"}, '`format` should be either "tf" or "grain"'),
    ({"label_mode": "sparse"}, "label_mode: expected one of"),
    ({"labels": "folders"}, "labels: should be a list/tuple of integer labels"),
    ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "Only one of `pad_to_aspect_ratio`"),
    ({"validation_split": 0.2}, "subset, validation_split"),
    ({"interpolation": "gaussian"}, "resizes images in TensorFlow only"),
])
def test_bad_arguments_are_refused_by_name(tmp_path, arguments, message):
    folder = make_folder(tmp_path / "train")
    with pytest.raises(ValueError, match=message):
        image_dataset_from_directory(folder, verbose=False, **arguments)


KERAS_FILES = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
out = {}
for name, options in task["loads"].items():
    img = keras.utils.load_img(task["path"], **options)
    out[name] = [img.mode, list(img.size), keras.utils.img_to_array(img).tolist()]
x = np.asarray(task["array"], "float32")
for name, options in task["arrays"].items():
    img = keras.utils.array_to_img(x if "first" not in name else x.transpose(2, 0, 1), **options)
    out[name] = [img.mode, np.asarray(img).tolist()]
out["loaded_first"] = keras.utils.img_to_array(keras.utils.load_img(task["path"]), data_format="channels_first").tolist()
out["smart"] = keras.preprocessing.image.smart_resize(x, (3, 7)).tolist()
out["smart_batch"] = keras.preprocessing.image.smart_resize(np.stack([x, x + 1]), (6, 2)).tolist()
print(json.dumps(out))
'''

LOADS = {"plain": {}, "gray": {"color_mode": "grayscale"}, "rgba": {"color_mode": "rgba"},
         "sized": {"target_size": (4, 6)}, "bilinear": {"target_size": (7, 3), "interpolation": "bilinear"},
         "aspect": {"target_size": (4, 4), "interpolation": "bicubic", "keep_aspect_ratio": True}}
ARRAYS = {"scaled": {}, "raw": {"scale": False}, "first": {"data_format": "channels_first"}}


def test_image_file_utilities_are_kerass(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "picture.png"
    Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).save(path)
    array = rng.uniform(0, 200, (5, 8, 3)).astype(np.float32)
    theirs = run_keras(KERAS_FILES, {"path": str(path), "loads": LOADS, "arrays": ARRAYS, "array": array.tolist()})
    for name, options in LOADS.items():
        img = load_img(path, **options)
        assert [img.mode, list(img.size)] == theirs[name][:2], name
        np.testing.assert_array_equal(img_to_array(img), np.asarray(theirs[name][2], np.float32))
    for name, options in ARRAYS.items():
        img = array_to_img(array if "first" not in name else array.transpose(2, 0, 1), **options)
        assert img.mode == theirs[name][0]
        np.testing.assert_array_equal(np.asarray(img), np.asarray(theirs[name][1]))
    np.testing.assert_array_equal(img_to_array(load_img(path), data_format="channels_first"), theirs["loaded_first"])
    np.testing.assert_allclose(smart_resize(array, (3, 7)), theirs["smart"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(smart_resize(np.stack([array, array + 1]), (6, 2)), theirs["smart_batch"],
                               rtol=1e-5, atol=1e-4)
    saved = tmp_path / "saved.jpg"
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        save_img(saved, np.concatenate([array, np.ones((5, 8, 1), np.float32)], axis=-1))
    assert Image.open(saved).mode == "RGB" and Image.open(saved).size == (8, 5)
    save_img(tmp_path / "raw.png", array, scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "raw.png")), array.astype(np.uint8))


def test_image_file_utilities_refuse_bad_input(tmp_path):
    with pytest.raises(TypeError, match="path should be path-like or io.BytesIO"):
        load_img(3)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "p.png")
    with pytest.raises(ValueError, match='color_mode must be "grayscale", "rgb", or "rgba"'):
        load_img(tmp_path / "p.png", color_mode="cmyk")
    with pytest.raises(ValueError, match="Invalid interpolation method sharp"):
        load_img(tmp_path / "p.png", target_size=(2, 2), interpolation="sharp")
    with pytest.raises(ValueError, match="Expected image array to have rank 3"):
        array_to_img(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="Unsupported image shape"):
        img_to_array(np.zeros((2, 2, 2, 2)))


COMPARE = r'''
import json, sys
import numpy as np
import tensorflow as tf
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import keras
else:
    import gpunn as keras
make = keras.utils.image_dataset_from_directory
train, val = make(task["folder"], image_size=(6, 7), batch_size=4, validation_split=0.25, subset="both", seed=3,
                  verbose=False)
dump = lambda ds: [[x.numpy().round(3).tolist(), y.numpy().tolist()] for x, y in ds]
print(json.dumps({"type": type(train).__module__.split(".")[0], "class_names": train.class_names,
                  "train": dump(train), "val": dump(val), "paths": train.file_paths}))
'''


def test_with_tensorflow_imported_it_is_kerass_dataset(tmp_path):
    folder = str(make_folder(tmp_path / "train"))
    theirs = run_keras_with_tensorflow_script(COMPARE, {"lib": "keras", "folder": folder}, backend="tensorflow")
    ours = run_keras_with_tensorflow_script(COMPARE, {"lib": "gpunn", "folder": folder}, backend="tensorflow",
                                            gpunn_path=True)
    assert ours["type"] == theirs["type"] == "tensorflow"
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
