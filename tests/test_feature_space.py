"""``keras.utils.FeatureSpace`` (``gpunn/layers/feature_space.py``), checked against Keras 3.15 with TensorFlow:
every feature type, crosses, "concat" and "dict" outputs, adapt on a dict of columns and on tf.data datasets
(batched or not: the batches decide the bins' approximate quantiles), calls on a batch and on one sample, the
functional graph of ``get_inputs()`` / ``get_encoded_features()``, configs, and the ``.keras`` files of each
(Keras's read by gpunn, gpunn's by Keras); and keras-io's "Structured data classification with FeatureSpace"
run as written on the offline stand-in of its table.

Keras's FeatureSpace needs TensorFlow, which is not installed beside the tests: what Keras computed is recorded in
``data/keras_feature_space.json`` (and the Keras-written ``data/keras3_feature_space.keras``), written by this
module run under an interpreter with Keras 3.15 and TensorFlow::

    python tests/test_feature_space.py /path/to/python-with-keras-and-tensorflow

The tests check gpunn against that record, and against Keras run live where GPUNN_KERAS_TF_PYTHON names such an
interpreter (that interpreter also runs the tutorial, tf.data and all, through gpunn).
"""
from __future__ import annotations

import inspect
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import (SymbolicTensor, install_fake_tensorflow, numpy_backend,  # noqa: E402,F401
                     run_keras_with_tensorflow_script, run_with_python)

import gpunn  # noqa: E402
from gpunn import layers  # noqa: E402
from gpunn.utils import FeatureSpace  # noqa: E402

DATA = Path(__file__).parent / "data"
RECORD = DATA / "keras_feature_space.json"
KERAS_FILE = DATA / "keras3_feature_space.keras"
JOBS = ["admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired", "services", "student"]


def make_columns(rows: int, seed: int) -> dict:
    """A table like the tutorials' (heart disease, bank marketing), as lists."""
    rng = np.random.default_rng(seed)
    return {"age": rng.integers(29, 78, rows).astype(float).tolist(), "sex": rng.integers(0, 2, rows).tolist(),
            "cp": rng.integers(0, 5, rows).tolist(), "chol": rng.normal(240, 40, rows).round(2).tolist(),
            "oldpeak": rng.uniform(0, 6.2, rows).round(1).tolist(), "fare": rng.uniform(0, 500, rows).round(2).tolist(),
            "thal": rng.choice(["fixed", "normal", "reversible"], rows, p=[0.2, 0.5, 0.3]).tolist(),
            "job": rng.choice(JOBS, rows).tolist(), "zip": rng.integers(10000, 99999, rows).tolist(),
            "education": rng.choice(["basic 4y", "basic 9y", "high school", "university degree"], rows).tolist()}


def make_cases() -> list[dict]:
    """Each case: the FeatureSpace's arguments (a feature as its type's name or [class method, its arguments]),
    the columns it reads, how adapt gets the data ("dict", "dataset": batches of 32, "single": a dataset of single
    samples), and the rows it is called on."""
    return [
        {"features": {"sex": "integer_categorical", "cp": "integer_categorical", "thal": "string_categorical",
                      "age": "float_discretized", "chol": "float_normalized", "oldpeak": "float",
                      "fare": "float_rescaled", "job": "string_hashed", "zip": "integer_hashed"},
         "crosses": [["sex", "thal"], ["cp", "job"]], "options": {"crossing_dim": 8, "hashing_dim": 16,
                                                                 "num_discretization_bins": 6},
         "output_mode": "concat", "adapt": "dict"},
        {"features": {"sex": ["integer_categorical", {"num_oov_indices": 0}],
                      "cp": ["integer_categorical", {"num_oov_indices": 0}],
                      "thal": ["string_categorical", {"num_oov_indices": 0}],
                      "age": ["float_discretized", {"num_bins": 10}], "chol": ["float_normalized", {}],
                      "fare": ["float_rescaled", {"scale": 0.01, "offset": -1.0}]},
         "crosses": [{"feature_names": ["sex", "age"], "crossing_dim": 64},
                     {"feature_names": ["thal", "cp"], "crossing_dim": 16}],
         "options": {}, "output_mode": "concat", "adapt": "dataset"},
        {"features": {"thal": ["string_categorical", {"output_mode": "int", "max_tokens": 3}],
                      "sex": ["integer_categorical", {"output_mode": "int"}],
                      "age": ["float_discretized", {"num_bins": 4, "output_mode": "int"}],
                      "chol": "float_normalized", "job": ["string_hashed", {"num_bins": 5}],
                      "zip": ["integer_hashed", {"num_bins": 3, "output_mode": "int"}]},
         "crosses": [{"feature_names": ["thal", "sex"], "crossing_dim": 8, "output_mode": "int"},
                     {"feature_names": ["age", "zip"], "crossing_dim": 4}],
         "options": {}, "output_mode": "dict", "adapt": "single"},
        {"features": {"education": ["text_tf_idf", {}], "sex": ["integer_categorical", {"num_oov_indices": 0}],
                      "chol": ["normalization_given", {"mean": 240.0, "variance": 1600.0}]},
         "crosses": [], "options": {}, "output_mode": "dict", "adapt": "dict"},
        {"features": {"sex": ["integer_categorical", {"output_mode": "int"}], "chol": "float_normalized"},
         "crosses": [], "options": {}, "output_mode": "concat", "adapt": "dict"},
        {"features": {"chol": ["normalized_one_hot", {}], "sex": "integer_categorical"},
         "crosses": [], "options": {}, "output_mode": "concat", "adapt": "dict"},
    ]


def make_task() -> dict:
    return {"cases": make_cases(), "adapt_columns": make_columns(100, 0), "call_columns": make_columns(7, 1)}


# The FeatureSpace of a case, from either library (``FS``: its FeatureSpace class, ``L``: its layers module): these
# functions run on Keras's side too (``KERAS_SIDE`` holds their source).
def make_feature(FS, L, spec):
    if isinstance(spec, str):
        return spec
    kind, args = spec
    if kind == "text_tf_idf":
        return FS.feature(preprocessor=L.TextVectorization(output_mode="tf_idf"), dtype="string", output_mode="float")
    if kind == "normalization_given":
        return FS.feature(preprocessor=L.Normalization(**args), dtype="float32", output_mode="float")
    if kind == "normalized_one_hot":
        return FS.feature(preprocessor=L.Normalization(), dtype="float32", output_mode="one_hot")
    return getattr(FS, kind)(**args)


def make_space(FS, L, case):
    crosses = [FS.cross(**cross) if isinstance(cross, dict) else tuple(cross) for cross in case["crosses"]]
    features = {name: make_feature(FS, L, spec) for name, spec in case["features"].items()}
    return FS(features=features, crosses=crosses or None, output_mode=case["output_mode"], **case["options"])


def columns_of(case, columns):
    return {name: np.array(columns[name]) for name in case["features"]}


def strip_names(config):
    """A config without the layers' names (numbered by each library's own counters) and Keras's shared ids."""
    if isinstance(config, dict):
        return {key: strip_names(value) for key, value in config.items() if key not in ("name", "shared_object_id")}
    if isinstance(config, (list, tuple)):
        return [strip_names(value) for value in config]
    return config


def as_lists(out):
    if isinstance(out, dict):
        return {key: as_lists(value) for key, value in out.items()}
    array = np.asarray(out)
    return {"values": array.astype(float).tolist(), "dtype": str(array.dtype)}


BUILD = "\n\n".join(inspect.getsource(f) for f in (make_feature, make_space, columns_of, strip_names, as_lists))

# ---- Keras's side (TensorFlow needed) -----------------------------------------------------------------------------

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
import tensorflow as tf
from keras.utils import FeatureSpace
task = json.loads(sys.stdin.read())

''' + BUILD + r'''


def adapt_data(case, columns):
    data = columns_of(case, columns)
    if case["adapt"] == "dataset":
        return tf.data.Dataset.from_tensor_slices(data).batch(32)
    if case["adapt"] == "single":
        return tf.data.Dataset.from_tensor_slices(data)
    return data


def spec_of(spec):
    if isinstance(spec, dict):
        return {key: spec_of(value) for key, value in spec.items()}
    return {"shape": spec.shape.as_list(), "dtype": spec.dtype.name}


def run_case(case):
    space = make_space(FeatureSpace, keras.layers, case)
    try:
        space.adapt(adapt_data(case, task["adapt_columns"]))
    except ValueError as exc:
        return {"error": str(exc)}
    calls = columns_of(case, task["call_columns"])
    out = {"call": as_lists(space(calls)), "one": as_lists(space({k: v[0] for k, v in calls.items()}))}
    encoded = space.get_encoded_features()
    out["encoded_shape"] = {k: list(v.shape) for k, v in encoded.items()} if isinstance(encoded, dict) \
        else list(encoded.shape)
    out["inputs"] = {name: [list(x.shape), x.dtype] for name, x in space.get_inputs().items()}
    out["config"] = strip_names(space.get_config())
    batched = tf.data.Dataset.from_tensor_slices(calls).batch(4).map(space)
    single = tf.data.Dataset.from_tensor_slices(calls).map(space)
    out["pipeline"] = {"batched": spec_of(batched.element_spec), "single": spec_of(single.element_spec),
                       "first": as_lists(next(iter(batched)))}
    return out


result = {"keras": keras.__version__, "tensorflow": tf.__version__,
          "cases": [run_case(case) for case in task["cases"]]}
if "file" in task:  # Keras's file of the second case's FeatureSpace, for gpunn to read
    case = task["cases"][1]
    space = make_space(FeatureSpace, keras.layers, case)
    space.adapt(adapt_data(case, task["adapt_columns"]))
    space.save(task["file"])
if "gpunn_file" in task:  # gpunn's file, read by Keras
    space = keras.models.load_model(task["gpunn_file"])
    result["gpunn_file"] = as_lists(space(columns_of(task["cases"][1], task["call_columns"])))
print(json.dumps(result))
'''


def run_keras(task) -> dict:
    return run_keras_with_tensorflow_script(KERAS_SIDE, task, backend="tensorflow")


def recorded() -> dict:
    return json.loads(RECORD.read_text())


# ---- gpunn's side -------------------------------------------------------------------------------------------------


class Dataset:
    """A stand-in for a tf.data.Dataset of feature dicts (what ``is_tf_dataset`` recognises: the class's name and
    module): its elements, batched by ``batch`` rows or single samples (``batch=None``)."""

    def __init__(self, columns: dict, batch):
        self.columns, self.batch = columns, batch

    def __iter__(self):
        rows = len(next(iter(self.columns.values())))
        if self.batch is None:
            return iter([{k: v[i] for k, v in self.columns.items()} for i in range(rows)])
        return iter([{k: v[i:i + self.batch] for k, v in self.columns.items()} for i in range(0, rows, self.batch)])


Dataset.__name__ = "DatasetV2"
Dataset.__module__ = "tensorflow.python.data.ops.dataset_ops"


def adapt_data(case, columns):
    data = columns_of(case, columns)
    return {"dataset": Dataset(data, 32), "single": Dataset(data, None)}.get(case["adapt"], data)


def run_case(case) -> dict:
    space = make_space(FeatureSpace, layers, case)
    try:
        space.adapt(adapt_data(case, make_columns(100, 0)))
    except ValueError as exc:
        return {"error": str(exc)}
    calls = columns_of(case, make_columns(7, 1))
    out = {"call": as_lists(space(calls)), "one": as_lists(space({k: v[0] for k, v in calls.items()}))}
    encoded = space.get_encoded_features()
    out["encoded_shape"] = {k: list(v.shape) for k, v in encoded.items()} if isinstance(encoded, dict) \
        else list(encoded.shape)
    out["inputs"] = {name: [list(x.shape), x.input_dtype or x.dtype or "float32"]
                     for name, x in space.get_inputs().items()}
    out["config"] = strip_names(json.loads(json.dumps(space.get_config())))
    return out


def assert_same_outputs(ours, theirs, what):
    if "values" not in theirs:
        assert set(ours) == set(theirs), what
        for key in theirs:
            assert_same_outputs(ours[key], theirs[key], f"{what}[{key!r}]")
        return
    np.testing.assert_allclose(ours["values"], theirs["values"], rtol=2e-6, atol=1e-6, err_msg=what)
    assert ours["dtype"] == theirs["dtype"], what


def assert_same_case(index, ours, theirs):
    what = f"case {index}"
    if "error" in theirs:
        assert "error" in ours, f"{what}: Keras refuses it ({theirs['error']})"
        return
    assert_same_outputs(ours["call"], theirs["call"], f"{what}: a batch")
    assert_same_outputs(ours["one"], theirs["one"], f"{what}: one sample")
    expected = dict(theirs["encoded_shape"]) if isinstance(theirs["encoded_shape"], dict) else theirs["encoded_shape"]
    if index == 3:  # Keras's symbolic TextVectorization (tf_idf) output has an axis its values lack: (n, 8)
        assert expected["education"] == [None, 1, 8]
        expected["education"] = [None, len(theirs["call"]["education"]["values"][0])]
    assert ours["encoded_shape"] == expected, what
    assert ours["inputs"] == theirs["inputs"], what
    assert_same_config(ours["config"], theirs["config"], what)


LEARNED = ("vocabulary", "idf_weights", "has_input_vocabulary")  # (gpunn's lookups keep them in the config)


def assert_same_config(ours, theirs, what):
    def without_learned(config):
        if isinstance(config, dict):
            return {k: without_learned(v) for k, v in config.items() if k not in LEARNED}
        return [without_learned(v) for v in config] if isinstance(config, list) else config

    assert without_learned(ours) == without_learned(theirs), f"config of {what}"


def test_the_record_is_of_these_cases():
    record = recorded()
    assert record["task"] == json.loads(json.dumps(make_task())), \
        "the cases changed: record Keras's results again (see the module docstring)"
    assert record["keras"].startswith("3.15") and len(record["cases"]) == len(make_cases())


@pytest.mark.parametrize("index", range(len(make_cases())))
def test_each_case_equals_kerass(index):
    assert_same_case(index, run_case(make_cases()[index]), recorded()["cases"][index])


def test_the_cases_equal_kerass_run_live():
    theirs = run_keras(make_task())
    for index, (case, result) in enumerate(zip(make_cases(), theirs["cases"])):
        assert_same_case(index, run_case(case), result)


def test_what_keras_refuses_is_refused_in_its_words():
    cases = make_cases()
    assert "Cannot concatenate features because feature 'sex' has not been encoded" in run_case(cases[4])["error"]
    assert "Feature 'chol' has `output_mode='one_hot'`" in run_case(cases[5])["error"]
    assert all("error" in recorded()["cases"][index] for index in (4, 5))


# ---- the pipeline: a FeatureSpace called inside dataset.map ------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_in_a_pipeline_it_gives_kerass_dtypes_shapes_and_values(index, monkeypatch):
    """Inside ``dataset.map``: one numpy_function over the features, of Keras's element spec, batched (4 rows) and
    one sample at a time; the first batch's values are Keras's."""
    install_fake_tensorflow(monkeypatch)
    case, theirs = make_cases()[index], recorded()["cases"][index]["pipeline"]
    space = make_space(FeatureSpace, layers, case)
    space.adapt(adapt_data(case, make_columns(100, 0)))
    calls = columns_of(case, make_columns(7, 1))
    for kind, shape in (("batched", [None]), ("single", [])):
        out = space({name: SymbolicTensor(shape) for name in case["features"]})
        spec = theirs[kind]
        outs, specs = (out, spec) if isinstance(out, dict) else ({"": out}, {"": spec})
        assert list(outs) == list(specs)  # (Keras's order: the features' sorted names, then the crosses')
        for name, tensor in outs.items():
            expected = specs[name]["shape"]
            if index == 3 and name == "education" and kind == "single":
                assert expected == [None, 8]  # (Keras's TextVectorization on one string: a row of its own)
                expected = [8]
            assert (tensor.dtype, tensor.static_shape) == (specs[name]["dtype"], expected), (kind, name)
    out = space({name: SymbolicTensor([None]) for name in case["features"]})
    first = {name: values[:4] for name, values in calls.items()}
    arrays = [first[name] for name in case["features"]]
    ours = {name: as_lists(tensor.run(*arrays)) for name, tensor in out.items()} if isinstance(out, dict) \
        else as_lists(out.run(*arrays))
    assert_same_outputs(ours, theirs["first"], f"case {index} in a pipeline")


# ---- files --------------------------------------------------------------------------------------------------------


def test_kerass_file_loads_and_encodes_as_keras():
    space = gpunn.models.load_model(KERAS_FILE)
    assert isinstance(space, FeatureSpace)
    assert_same_outputs(as_lists(space(columns_of(make_cases()[1], make_columns(7, 1)))),
                        recorded()["cases"][1]["call"], "Keras's file")
    config = json.loads(zipfile.ZipFile(KERAS_FILE).read("config.json"))
    assert_same_config(strip_names(json.loads(json.dumps(space.get_config()))), strip_names(config["config"]),
                       "the loaded FeatureSpace")


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_gpunns_file_round_trips(index, tmp_path):
    case = make_cases()[index]
    space = make_space(FeatureSpace, layers, case)
    space.adapt(adapt_data(case, make_columns(100, 0)))
    space.save(tmp_path / "space.keras")
    loaded = gpunn.models.load_model(tmp_path / "space.keras")
    calls = columns_of(case, make_columns(7, 1))
    assert_same_outputs(as_lists(loaded(calls)), as_lists(space(calls)), "the loaded FeatureSpace")
    assert strip_names(loaded.get_config()) == strip_names(space.get_config())
    members = zipfile.ZipFile(tmp_path / "space.keras").namelist()
    assert members == ["metadata.json", "config.json", "model.weights.h5"]


def weight_groups(path) -> list:
    from gpunn.models.hdf5_io import read_checked

    contents = read_checked(str(path), zipfile.ZipFile(path).read("model.weights.h5"))
    return sorted(name.rsplit("/", 1)[0] for name in contents.datasets) + sorted(contents.groups)


def test_gpunns_file_is_in_kerass_layout(tmp_path):
    case = make_cases()[1]
    space = make_space(FeatureSpace, layers, case)
    space.adapt(adapt_data(case, make_columns(100, 0)))
    space.save(tmp_path / "space.keras")
    ours = json.loads(zipfile.ZipFile(tmp_path / "space.keras").read("config.json"))
    theirs = json.loads(zipfile.ZipFile(KERAS_FILE).read("config.json"))
    assert {k: v for k, v in ours.items() if k != "config"} == {k: v for k, v in theirs.items() if k != "config"}
    assert_same_config(strip_names(ours["config"]), strip_names(theirs["config"]), "gpunn's file")
    assert weight_groups(tmp_path / "space.keras") == weight_groups(KERAS_FILE)


def test_keras_reads_gpunns_file(tmp_path):
    case = make_cases()[1]
    space = make_space(FeatureSpace, layers, case)
    space.adapt(adapt_data(case, make_columns(100, 0)))
    space.save(tmp_path / "space.keras")
    theirs = run_keras(make_task() | {"gpunn_file": str(tmp_path / "space.keras")})
    assert_same_outputs(theirs["gpunn_file"], as_lists(space(columns_of(case, make_columns(7, 1)))),
                        "gpunn's file read by Keras")


def test_serialized_it_is_kerass_entry_and_made_again_from_it():
    case = make_cases()[1]
    space = make_space(FeatureSpace, layers, case)
    space.adapt(adapt_data(case, make_columns(100, 0)))
    entry = gpunn.saving.serialize_keras_object(space)
    theirs = json.loads(zipfile.ZipFile(KERAS_FILE).read("config.json"))
    assert {k: v for k, v in entry.items() if k != "config"} == {k: v for k, v in theirs.items() if k != "config"}
    again = gpunn.saving.deserialize_keras_object(json.loads(json.dumps(entry)))
    assert isinstance(again, FeatureSpace) and strip_names(again.get_config()) == strip_names(space.get_config())
    assert again.get_encoded_features().shape == space.get_encoded_features().shape


def test_a_feature_space_saves_to_keras_files_only(tmp_path):
    space = FeatureSpace({"chol": "float"})
    with pytest.raises(ValueError, match=r"filepath: a FeatureSpace is saved to a .keras file, got '.*space.h5'"):
        space.save(tmp_path / "space.h5")


# ---- arguments and data refused by name --------------------------------------------------------------------------


def test_bad_arguments_and_data_are_refused_by_name():
    with pytest.raises(ValueError, match="features: cannot be None or empty"):
        FeatureSpace({})
    with pytest.raises(ValueError, match=r"features: invalid feature type 'integer' for feature 'sex'; expected one "
                                         r"of \['float', 'float_discretized'"):
        FeatureSpace({"sex": "integer"})
    with pytest.raises(ValueError, match=r"output_mode: expected one of \{'dict', 'concat'\}, got output_mode='list'"):
        FeatureSpace({"chol": "float"}, output_mode="list")
    with pytest.raises(ValueError, match=r"crosses: .* got unknown features \['cp'\] in the cross \('sex', 'cp'\)"):
        FeatureSpace({"sex": "integer_categorical"}, crosses=[("sex", "cp")])
    with pytest.raises(ValueError, match="crossing_dim: when specifying crosses"):
        FeatureSpace({"sex": "integer_categorical", "cp": "integer_categorical"}, crosses=[("sex", "cp")],
                     crossing_dim=None)
    with pytest.raises(ValueError, match=r"output_mode: expected one of \{'int', 'one_hot', 'float'\}"):
        FeatureSpace.feature("float32", layers.Normalization(), "dense")
    with pytest.raises(TypeError, match="preprocessor: expected a preprocessing layer"):
        FeatureSpace.feature("float32", lambda x: x, "float")

    space = FeatureSpace({"sex": "integer_categorical", "chol": "float_normalized"})
    with pytest.raises(ValueError, match=r"You need to call `.adapt\(dataset\)` on the FeatureSpace"):
        space({"sex": [1], "chol": [2.0]})
    with pytest.raises(ValueError, match="dataset: `adapt\\(\\)` can only be called on a tf.data.Dataset or a dict"):
        space.adapt([[1, 2.0]])
    with pytest.raises(ValueError, match=r"dataset: the columns of the dict should have one length, got lengths "
                                         r"\[2, 3\]"):
        space.adapt({"sex": [1, 0], "chol": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"expected a dataset of feature dicts \(no labels\), got elements of type "
                                         r"tuple; map it first: dataset.map\(lambda x, y: x\)"):
        space.adapt(LabeledDataset())
    space.adapt({"sex": [1, 0, 1], "chol": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"data: a FeatureSpace can only be called with a dict of features, got list"):
        space([1, 2.0])
    with pytest.raises(ValueError, match=r"expected a dict of the FeatureSpace's features \['chol', 'sex'\]; "
                                         r"missing \['chol'\]; unknown \['age'\]"):
        space({"sex": [1], "age": [3.0]})
    with pytest.raises(TypeError, match="feature 'sex': inputs: gpunn's IntegerLookup takes numbers"):
        space({"sex": ["one"], "chol": [2.0]})


class LabeledDataset(Dataset):
    def __init__(self):
        super().__init__({}, 1)

    def __iter__(self):
        return iter([({"sex": np.array([1])}, np.array([0]))])


def test_adapted_again_it_keeps_its_encodings_or_says_why_it_cannot():
    space = FeatureSpace({"sex": "integer_categorical", "chol": "float_normalized"})
    space.adapt({"sex": [1, 0, 1], "chol": [1.0, 2.0, 3.0]})
    encoded = space.get_encoded_features()
    space.adapt({"sex": [0, 1, 1, 0], "chol": [5.0, 6.0, 7.0, 9.0]})  # the same vocabulary size: as Keras
    assert space.get_encoded_features() is encoded
    np.testing.assert_allclose(np.asarray(space({"sex": [1], "chol": [6.75]})), [[0.0, 0.0, 1.0, 0.0]], atol=1e-6)
    with pytest.raises(ValueError, match=r"adapted again, feature 'sex' now has 4 values to encode where its "
                                         r"encoded features \(and the models made from them\) were made for 3"):
        space.adapt({"sex": [0, 1, 2], "chol": [1.0, 2.0, 3.0]})


def test_features_needing_no_data_need_no_adapt_and_keras_documented_attributes():
    space = FeatureSpace({"chol": FeatureSpace.float_rescaled(scale=0.5, offset=1.0),
                          "age": FeatureSpace.float_discretized(num_bins=None, bin_boundaries=[30.0, 50.0]),
                          "raw": "float"})
    out = np.asarray(space({"chol": [2.0, 4.0], "age": [20.0, 60.0], "raw": [7.0, 8.0]}))
    # age one-hot over len(bin_boundaries) + 1 bins (Keras cannot encode it: its Discretization has num_bins=None)
    np.testing.assert_array_equal(out, [[1, 0, 0, 2, 7], [0, 0, 1, 3, 8]])
    space = FeatureSpace({"a": "integer_categorical", "b": "string_categorical"}, crosses=[("a", "b")])
    assert isinstance(space.preprocessors["a"], layers.IntegerLookup)
    assert isinstance(space.crossers["a_X_b"], layers.HashedCrossing) and space.crossers["a_X_b"].num_bins == 32
    space.adapt({"a": [1, 2, 2], "b": ["x", "y", "x"]})
    assert space.get_encoded_features().shape == (None, 3 + 3 + 32)


def record(python: str) -> None:
    """Write RECORD and KERAS_FILE with what Keras (run by ``python``, with TensorFlow) computes."""
    task = make_task()
    result = run_with_python(python, KERAS_SIDE, task | {"file": str(KERAS_FILE)}, backend="tensorflow")
    RECORD.write_text(json.dumps({"keras": result["keras"], "tensorflow": result["tensorflow"], "task": task,
                                  "cases": result["cases"]}) + "\n")


if __name__ == "__main__":
    record(sys.argv[1])
