"""``gpunn train --dataset PATH``: a user's own .csv or .npz file, and a one-line error for each way it can be wrong."""
from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401

import gpunn
from gpunn.cli import main
from gpunn.commands import data_files

SPECIES = np.array(["setosa", "versicolor", "virginica"])


def three_classes(n=1000, seed=0):
    """Features on very different scales (Normalization matters) and a class that follows from them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 100.0, 0.01] + [0.0, 500.0, 2.0]
    y = (x[:, 0] > 0.4).astype(int) + (x[:, 1] > 530.0).astype(int)
    return x, y


def write_csv(path, x, labels, header=("petal", "width", "species", "depth"), delimiter=","):
    lines = [delimiter.join(header)] if header else []
    lines += [delimiter.join([repr(float(r[0])), repr(float(r[1])), str(label), repr(float(r[2]))])
              for r, label in zip(x, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def printed_accuracy(out):
    match = re.search(r"^test accuracy: ([0-9.]+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


def train(argv, tmp_path):
    return main(["train", *argv, "--epochs", "40", "--layers", "32", "--output-dir", str(tmp_path / "run"),
                 "--verbose", "0", "--backend", "numpy", "--seed", "1"])


def test_csv_with_word_labels_trains_and_saves_a_model_of_the_raw_features(tmp_path, capsys):
    x, y = three_classes()
    path = write_csv(tmp_path / "flowers.csv", x, SPECIES[y])
    rc = train(["--dataset", str(path), "--target", "species"], tmp_path)
    out = capsys.readouterr().out
    assert rc == 0, out
    accuracy = printed_accuracy(out)
    assert accuracy >= 0.85
    run = tmp_path / "run"
    assert (run / "class_names.txt").read_text().splitlines() == list(SPECIES)
    model = gpunn.models.load_model(run / "model.safetensors")
    # The features are standardized inside the model, by a Normalization layer adapted to the training rows.
    assert [type(l).__name__ for l in model.layers] == ["Normalization", "Dense", "Dense"]
    data = data_files.load(str(path), target="species", test_split=0.2, seed=1)
    x_train, _ = data.train
    np.testing.assert_allclose(np.asarray(model.layers[0].mean).ravel(), x_train.mean(axis=0), rtol=1e-5)
    # The held-out rows are the seeded 20%: the saved model reproduces the printed accuracy on them, raw.
    x_test, y_test = data.test
    assert len(x_test) == 200 and len(x_train) == 800
    assert set(map(tuple, x_test)).isdisjoint(map(tuple, x_train))
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert f"{test_accuracy:.4f}" == f"{accuracy:.4f}"
    assert SPECIES[y_test].tolist() == [SPECIES[label] for label in y_test]


def test_csv_without_header_takes_the_last_column_and_whole_number_labels(tmp_path):
    x, y = three_classes(50)
    path = tmp_path / "plain.csv"
    path.write_text("".join(f"{a};{b};{c};{label}\n" for (a, b, c), label in zip(x, y)))
    data = data_files.load(str(path), test_split=0.1, seed=0)
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    assert data.class_names is None
    assert x_train.shape == (45, 3) and x_test.shape == (5, 3)
    rows = {tuple(np.float32(r)): label for r, label in zip(x, y)}
    assert all(rows[tuple(r)] == label for r, label in zip(np.concatenate([x_train, x_test]),
                                                           np.concatenate([y_train, y_test])))
    assert data_files.load(str(path), target="3", test_split=0.1, seed=0).train[1].tolist() == y_train.tolist()


def test_npz_with_its_own_test_arrays_keeps_them_and_scales_bytes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(120, 4, 4), dtype=np.uint8)
    labels = (images.reshape(120, -1).mean(axis=1) > 127).astype(int)
    one_hot = np.eye(2, dtype="float32")[labels]
    path = tmp_path / "images.npz"
    np.savez(path, x_train=images[:100], y_train=one_hot[:100], x_test=images[100:], y_test=one_hot[100:])
    data = data_files.load(str(path))
    np.testing.assert_array_equal(data.test[0], images[100:])
    np.testing.assert_array_equal(data.train[1], labels[:100])
    rc = train(["--dataset", str(path)], tmp_path)
    assert rc == 0
    model = gpunn.models.load_model(tmp_path / "run" / "model.safetensors")
    # Bytes are scaled to [0, 1] as for the built-in image sets, not standardized in the model.
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Dense"]
    assert model.input_shape == (None, 16)
    _, accuracy = model.evaluate(images[100:].reshape(20, -1) / 255.0, labels[100:], verbose=0)
    assert f"{accuracy:.4f}" == f"{printed_accuracy(capsys.readouterr().out):.4f}"


def test_trailing_delimiters_leave_an_empty_column_out_and_old_class_names_go(tmp_path, capsys):
    x, y = three_classes(60)
    path = tmp_path / "trailing.csv"
    path.write_text("a,b,c,label,\n" + "".join(f"{a},{b},{c},{label},\n" for (a, b, c), label in zip(x, y)))
    data = data_files.load(str(path), test_split=0.1)
    assert data.train[0].shape[1] == 3 and data.task == "classification"
    assert sorted(set(data.train[1]) | set(data.test[1])) == [0, 1, 2]
    headless = tmp_path / "headless.csv"
    headless.write_text("".join(f"{a},{b},{c},{label},\n" for (a, b, c), label in zip(x, y)))
    data = data_files.load(str(headless), test_split=0.1)
    assert len(data.train[0]) + len(data.test[0]) == 60  # the first row is data, not a header
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "class_names.txt").write_text("cat\ndog\n")  # an earlier run's, of word labels
    assert train(["--dataset", str(path)], tmp_path) == 0
    assert not (tmp_path / "run" / "class_names.txt").exists()


def test_npz_of_x_and_y_is_split_at_random(tmp_path):
    x, y = three_classes(40)
    path = tmp_path / "xy.npz"
    np.savez(path, x=x, y=y[:, None])
    first, again = data_files.load(str(path), seed=3), data_files.load(str(path), seed=3)
    np.testing.assert_array_equal(first.test[0], again.test[0])
    assert len(first.test[0]) == 8
    other = data_files.load(str(path), seed=4)
    assert not np.array_equal(first.test[0], other.test[0])


def test_csv_of_prices_trains_a_regression_model_in_their_units(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 3)) * [1.0, 100.0, 0.01] + [0.0, 500.0, 2.0]
    price = 3000.0 * x[:, 0] + 20.0 * (x[:, 1] - 500.0) + 1e5 * (x[:, 2] - 2.0) + 250000.5
    path = tmp_path / "houses.csv"
    path.write_text("a,b,c,price\n" + "".join(f"{a},{b},{c},{p}\n" for (a, b, c), p in zip(x, price)))
    rc = train(["--dataset", str(path)], tmp_path)
    out = capsys.readouterr().out
    assert rc == 0, out
    mae = float(re.search(r"^test MAE: ([0-9.e+]+)", out, re.MULTILINE).group(1))
    assert mae < 0.2 * price.std()  # a linear target: far below the 0.8 std of predicting the mean
    model = gpunn.models.load_model(tmp_path / "run" / "model.safetensors")
    assert [type(l).__name__ for l in model.layers] == ["Normalization", "Dense", "Dense", "Rescaling"]
    assert model.output_shape == (None, 1)
    data = data_files.load(str(path), seed=1)
    assert data.task == "regression" and data.class_names is None
    x_test, y_test = data.test
    predicted = model.predict(x_test, verbose=0)[:, 0]
    assert abs(np.mean(np.abs(predicted - y_test)) - mae) <= 1e-4 * mae  # the printed MAE, in dollars
    assert not (tmp_path / "run" / "class_names.txt").exists()


@pytest.mark.parametrize("labels, task, expected", [
    (np.array([0.0, 1.0, 2.0]), "auto", "classification"),
    (np.array([0.5, 1.0, 2.0]), "auto", "regression"),
    (np.array([-1.0, 1.0, 2.0]), "auto", "regression"),
    (np.array([0, 1, 2]), "regression", "regression"),
    (np.array(["a", "b"]), "auto", "classification"),
    (np.array([0, 1, 999]), "auto", "classification"),
])
def test_the_task_follows_the_labels_unless_told(labels, task, expected):
    y, resolved, _ = data_files.targets(labels, task, "labels")
    assert resolved == expected
    assert y.dtype == (np.float32 if expected == "regression" else np.int64)


def test_built_in_house_prices_train_a_regression_model(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 13)) * np.geomspace(0.01, 100, 13)
    (tmp_path / "data" / "boston_housing").mkdir(parents=True)
    np.savez(tmp_path / "data" / "boston_housing" / "boston_housing.npz", x=x, y=rng.uniform(5, 50, 120))
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    rc = train(["--dataset", "boston_housing"], tmp_path)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert re.search(r"^test MAE: [0-9.e+]+  test loss \(MSE\): ", out, re.MULTILINE), out
    model = gpunn.models.load_model(tmp_path / "run" / "model.safetensors")
    assert [type(l).__name__ for l in model.layers] == ["Normalization", "Dense", "Dense", "Rescaling"]


BAD_CSV_ROWS = {
    "word_feature.csv": ("a,b,label\n1,2,0\nx,3,1\n", ["line 3", "column 'a'", "'x'", "encode or drop"]),
    "missing.csv": ("a,b,label\n1,2,0\n1,,1\n", ["line 3", "column 'b'", "''", "missing values"]),
    "nan.csv": ("a,b,label\n1,2,0\n1,nan,1\n", ["line 3", "column 'b'", "'nan'"]),
    "ragged.csv": ("a,b,label\n1,2,0\n1,2\n", ["line 3", "2 fields", "first line has 3"]),
    "nan_label.csv": ("a,b,price\n1,2,0.5\n1,3,nan\n", ["column 'price'", "line 3 holds a label of NaN"]),
    "big_whole.csv": ("a,b,price\n1,2,250000\n1,3,1500\n", ["--task", "whole numbers up to 250000",
                                                             "--task regression or --task classification"]),
    "one_column.csv": ("label\n1\n0\n", ["feature columns and a label column", "1 column"]),
    "no_label.csv": ("a,b,label\n1,2,0\n3,4,1\n5,6,\n", ["column 'label'", "line 4 has no label"]),
    "nan_label_line.csv": ("a,b,label\n1,2,0\n\n3,4,nan\n", ["column 'label'", "line 4", "NaN"]),
    "blank_lines.csv": ("a,b,label\n1,2,0\n\n\n3,x,1\n", ["line 5", "column 'b'", "got 'x'"]),
    "pandas_index.csv": (",a,b,label\n0,1,2,0\n1,3,4,1\n", ["column 0 has values but no name", "index=False"]),
    "header_only.csv": ("a,b,label\n", ["header and no rows"]),
    "empty.csv": ("\n\n", ["is empty"]),
}


@pytest.mark.parametrize("name", sorted(BAD_CSV_ROWS))
def test_a_damaged_csv_is_one_line_naming_where(name, tmp_path, capsys):
    text, fragments = BAD_CSV_ROWS[name]
    (tmp_path / name).write_text(text)
    assert_one_line_error(["--dataset", str(tmp_path / name)], fragments, tmp_path, capsys)


def npz_files(tmp_path):
    np.savez(tmp_path / "keys.npz", features=np.ones((4, 2)), labels=np.zeros(4))
    np.savez(tmp_path / "lengths.npz", x=np.ones((4, 2)), y=np.zeros(3))
    np.savez(tmp_path / "one_hot.npz", x=np.ones((4, 2)), y=np.full((4, 3), 0.5))
    np.savez(tmp_path / "words_x.npz", x=np.array([["a", "b"]] * 4), y=np.zeros(4))
    np.savez(tmp_path / "shapes.npz", x_train=np.ones((4, 2)), y_train=np.zeros(4), x_test=np.ones((2, 3)),
             y_test=np.zeros(2))
    np.savez(tmp_path / "own_test.npz", x_train=np.ones((4, 2)), y_train=np.zeros(4), x_test=np.ones((2, 2)),
             y_test=np.zeros(2))
    np.savez(tmp_path / "objects.npz", x=np.ones((4, 2)), y=np.array([0, "a", None, 1], dtype=object))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.save(tmp_path / "single.npy", np.ones(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")


@pytest.mark.parametrize("argv, fragments", [
    (["--dataset", "{tmp}/keys.npz"], ["x_train and y_train", "or x and y", "['features', 'labels']"]),
    (["--dataset", "{tmp}/lengths.npz"], ["x has 4 rows but y has 3"]),
    (["--dataset", "{tmp}/one_hot.npz"], ["one-hot", "(4, 3)"]),
    (["--dataset", "{tmp}/words_x.npz"], ["x: expected numbers", "<U1"]),
    (["--dataset", "{tmp}/shapes.npz"], ["x_test has samples of shape (3,)", "x_train of shape (2,)"]),
    (["--dataset", "{tmp}/objects.npz"], ["object arrays", "pickle"]),
    (["--dataset", "{tmp}/broken.npz"], ["not a readable .npz file"]),
    (["--dataset", "{tmp}/single.npz"], ["single array", "np.savez"]),
    (["--dataset", "{tmp}/absent.csv"], ["no such file", "absent.csv"]),
    (["--dataset", "{tmp}/good.txt"], ["good.txt' is a file gpunn train cannot read", ".npz or .csv file"]),
    (["--dataset", "{tmp}/absent.txt"], ["expected one of 'digits'", "Or a path to a .npz or .csv file"]),
    (["--dataset", "{tmp}/lengths.npz", "--target", "y"], ["--target", "names a column of a .csv file"]),
    (["--dataset", "digits", "--target", "label"], ["--target", "'digits' is not one"]),
    (["--dataset", "{tmp}/good.csv", "--target", "colour"], ["--target", "['a', 'b', 'label']", "'colour'"]),
    (["--dataset", "{tmp}/fractions.csv", "--task", "classification"],
     ["--task classification", "column 'price'", "class labels", "got 0.5"]),
    (["--dataset", "{tmp}/words.csv", "--task", "regression"], ["--task regression", "column 'label'", "'cat'"]),
    (["--dataset", "digits", "--test-split", "0.3"], ["--test-split", "'digits' comes with its own"]),
    (["--dataset", "{tmp}/own_test.npz", "--test-split", "0.3"], ["--test-split", "holds its own x_test"]),
    (["--dataset", "{tmp}/good.csv", "--test-split", "1"], ["--test-split", "(0, 1)", "1.0"]),
    (["--dataset", "{tmp}/good.csv", "--test-split", "0.01"], ["--test-split", "0.01 of 3 rows", "no test"]),
])
def test_a_wrong_npz_or_option_is_one_line_naming_it(argv, fragments, tmp_path, capsys):
    npz_files(tmp_path)
    (tmp_path / "good.csv").write_text("a,b,label\n1,2,0\n1,3,1\n0,1,1\n")
    (tmp_path / "good.txt").write_text("a,b,label\n1,2,0\n")
    (tmp_path / "fractions.csv").write_text("a,b,price\n1,2,0.5\n1,3,1.5\n0,1,1\n")
    (tmp_path / "words.csv").write_text("a,b,label\n1,2,cat\n1,3,dog\n0,1,cat\n")
    assert_one_line_error([a.replace("{tmp}", str(tmp_path)) for a in argv], fragments, tmp_path, capsys)


def assert_one_line_error(argv, fragments, tmp_path, capsys):
    rc = main(["train", *argv, "--epochs", "1", "--output-dir", str(tmp_path / "run"), "--verbose", "0",
               "--backend", "numpy"])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpunn train: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "run").exists()
