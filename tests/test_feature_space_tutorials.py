"""keras-io's FeatureSpace tutorials run as written (``gpunn/layers/feature_space.py``): "Structured data
classification with FeatureSpace" (the heart-disease table) and "FeatureSpace advanced use cases" (the bank
marketing table), on offline stand-ins of their tables with the tutorials' columns, dtypes and ranges.

Without TensorFlow, the first tutorial's models are made and trained from dicts of columns; where
GPUNN_KERAS_TF_PYTHON names an interpreter with Keras 3.15 and TensorFlow, both tutorials run unchanged but for the
import rename (and seeds, so that runs are repeatable and shuffle alike), by Keras and by gpunn, on TensorFlow's
pipelines, and what they encode is compared.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import numpy_backend, run_keras_with_tensorflow_script  # noqa: E402,F401
from test_feature_space import make_space  # noqa: E402
from test_tutorial_scripts import to_gpunn  # noqa: E402

import gpunn  # noqa: E402
from gpunn import layers  # noqa: E402
from gpunn.utils import FeatureSpace  # noqa: E402


# ---- the functional graph, and keras-io's tutorial -----------------------------------------------------------------


def heart_columns(rows: int, seed: int) -> dict:
    """A stand-in for the tutorial's heart-disease table (its columns, dtypes and ranges), with a target that the
    features decide (up to noise): {column: NumPy array}."""
    rng = np.random.default_rng(seed)
    columns = {
        "age": rng.integers(29, 78, rows), "sex": rng.integers(0, 2, rows), "cp": rng.integers(0, 5, rows),
        "trestbps": rng.integers(94, 200, rows), "chol": rng.integers(126, 564, rows),
        "fbs": rng.integers(0, 2, rows), "restecg": rng.integers(0, 3, rows), "thalach": rng.integers(71, 202, rows),
        "exang": rng.integers(0, 2, rows), "oldpeak": np.round(rng.uniform(0, 6.2, rows), 1),
        "slope": rng.integers(1, 4, rows), "ca": rng.integers(0, 4, rows),
        "thal": rng.choice(["fixed", "normal", "reversible", "1", "2"], rows, p=[0.1, 0.5, 0.36, 0.02, 0.02])}
    risk = (2.0 * (columns["thal"] == "reversible") + 1.5 * (columns["cp"] >= 3) + columns["exang"] - 1.2
            + rng.normal(0, 0.2, rows))
    columns["target"] = (risk > 0).astype(int)
    return columns


def heart_table(rows: int, seed: int):
    """The table as the tutorial reads it: a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(heart_columns(rows, seed))


TUTORIAL_SPACE = dict(
    features={"sex": ["integer_categorical", {"num_oov_indices": 0}],
              "cp": ["integer_categorical", {"num_oov_indices": 0}],
              "fbs": ["integer_categorical", {"num_oov_indices": 0}],
              "restecg": ["integer_categorical", {"num_oov_indices": 0}],
              "exang": ["integer_categorical", {"num_oov_indices": 0}],
              "ca": ["integer_categorical", {"num_oov_indices": 0}],
              "thal": ["string_categorical", {"num_oov_indices": 0}],
              "age": ["float_discretized", {"num_bins": 30}],
              "trestbps": "float_normalized", "chol": "float_normalized", "thalach": "float_normalized",
              "oldpeak": "float_normalized", "slope": "float_normalized"},
    crosses=[{"feature_names": ["sex", "age"], "crossing_dim": 64},
             {"feature_names": ["thal", "ca"], "crossing_dim": 16}],
    options={}, output_mode="concat")


def tutorial_models(feature_space):
    """The tutorial's two models: the training model of the encoded vector, the inference model of the raw
    features, sharing their layers."""
    dict_inputs = feature_space.get_inputs()
    encoded_features = feature_space.get_encoded_features()
    x = layers.Dense(32, activation="relu")(encoded_features)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid")(x)
    training_model = gpunn.Model(inputs=encoded_features, outputs=predictions)
    training_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return training_model, gpunn.Model(inputs=dict_inputs, outputs=predictions)


SAMPLE = {"age": 60, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150,
          "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": "fixed"}


def test_the_tutorials_models_train_and_infer_from_raw_features(numpy_backend):
    """keras-io's FeatureSpace tutorial without tf.data: adapted on the columns, the training model fed the
    encoded vectors, the inference model the raw features (dicts of columns, one sample as arrays of one value)."""
    gpunn.utils.set_random_seed(0)
    frame = heart_table(303, 0)
    val_frame = frame.sample(frac=0.2, random_state=1337)
    train_frame = frame.drop(val_frame.index)
    x_train, x_val = dict(train_frame.drop(columns="target")), dict(val_frame.drop(columns="target"))
    feature_space = make_space(FeatureSpace, layers, TUTORIAL_SPACE)
    feature_space.adapt(x_train)
    encoded_train, encoded_val = np.asarray(feature_space(x_train)), np.asarray(feature_space(x_val))
    width = encoded_train.shape[1]
    assert encoded_train.shape[0] == len(train_frame) and encoded_train.dtype == np.float32
    training_model, inference_model = tutorial_models(feature_space)
    history = training_model.fit(encoded_train, train_frame["target"].to_numpy(), epochs=20, batch_size=32,
                                 validation_data=(encoded_val, val_frame["target"].to_numpy()), verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.75  # (the majority class: 0.63)

    # the inference model computes what the training model does, from the raw features
    np.testing.assert_allclose(inference_model.predict(x_val, verbose=0),
                               training_model.predict(encoded_val, verbose=0), rtol=1e-6, atol=1e-7)
    one = inference_model.predict({name: np.array([value]) for name, value in SAMPLE.items()}, verbose=0)
    np.testing.assert_allclose(one, training_model.predict(np.asarray(feature_space(SAMPLE))[None], verbose=0),
                               rtol=1e-6)
    assert training_model.layers[0].name.endswith("CLONE") and training_model.input.shape == (None, width)
    assert [layer.name for layer in inference_model.layers[-3:]] == [layer.name for layer in
                                                                     training_model.layers[-3:]]


TUTORIAL = r"""
import json, sys
import numpy as np
import pandas as pd
import tensorflow as tf
from tensorflow import keras
from keras.utils import FeatureSpace

keras.utils.set_random_seed(0)  # (the weights' initial values)
tf.random.set_seed(0)  # (the shuffles decide the batches adapt() sees, and so the bins)
task = json.loads(sys.stdin.read())
dataframe = pd.DataFrame(task["table"])

val_dataframe = dataframe.sample(frac=0.2, random_state=1337)
train_dataframe = dataframe.drop(val_dataframe.index)


def dataframe_to_dataset(dataframe):
    dataframe = dataframe.copy()
    labels = dataframe.pop("target")
    ds = tf.data.Dataset.from_tensor_slices((dict(dataframe), labels))
    ds = ds.shuffle(buffer_size=len(dataframe))
    return ds


train_ds = dataframe_to_dataset(train_dataframe)
val_ds = dataframe_to_dataset(val_dataframe)
train_ds = train_ds.batch(32)
val_ds = val_ds.batch(32)

feature_space = FeatureSpace(
    features={
        "sex": FeatureSpace.integer_categorical(num_oov_indices=0),
        "cp": FeatureSpace.integer_categorical(num_oov_indices=0),
        "fbs": FeatureSpace.integer_categorical(num_oov_indices=0),
        "restecg": FeatureSpace.integer_categorical(num_oov_indices=0),
        "exang": FeatureSpace.integer_categorical(num_oov_indices=0),
        "ca": FeatureSpace.integer_categorical(num_oov_indices=0),
        "thal": FeatureSpace.string_categorical(num_oov_indices=0),
        "age": FeatureSpace.float_discretized(num_bins=30),
        "trestbps": FeatureSpace.float_normalized(),
        "chol": FeatureSpace.float_normalized(),
        "thalach": FeatureSpace.float_normalized(),
        "oldpeak": FeatureSpace.float_normalized(),
        "slope": FeatureSpace.float_normalized(),
    },
    crosses=[
        FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64),
        FeatureSpace.cross(
            feature_names=("thal", "ca"),
            crossing_dim=16,
        ),
    ],
    output_mode="concat",
)

train_ds_with_no_labels = train_ds.map(lambda x, _: x)
feature_space.adapt(train_ds_with_no_labels)

for x, _ in train_ds.take(1):
    preprocessed_x = feature_space(x)
    print("preprocessed_x.shape:", preprocessed_x.shape)
    print("preprocessed_x.dtype:", preprocessed_x.dtype)

preprocessed_train_ds = train_ds.map(
    lambda x, y: (feature_space(x), y), num_parallel_calls=tf.data.AUTOTUNE
)
preprocessed_train_ds = preprocessed_train_ds.prefetch(tf.data.AUTOTUNE)

preprocessed_val_ds = val_ds.map(
    lambda x, y: (feature_space(x), y), num_parallel_calls=tf.data.AUTOTUNE
)
preprocessed_val_ds = preprocessed_val_ds.prefetch(tf.data.AUTOTUNE)

dict_inputs = feature_space.get_inputs()
encoded_features = feature_space.get_encoded_features()

x = keras.layers.Dense(32, activation="relu")(encoded_features)
x = keras.layers.Dropout(0.5)(x)
predictions = keras.layers.Dense(1, activation="sigmoid")(x)

training_model = keras.Model(inputs=encoded_features, outputs=predictions)
training_model.compile(
    optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"]
)

inference_model = keras.Model(inputs=dict_inputs, outputs=predictions)

history = training_model.fit(
    preprocessed_train_ds, epochs=20, validation_data=preprocessed_val_ds, verbose=2
)

sample = {
    "age": 60,
    "sex": 1,
    "cp": 1,
    "trestbps": 145,
    "chol": 233,
    "fbs": 1,
    "restecg": 2,
    "thalach": 150,
    "exang": 0,
    "oldpeak": 2.3,
    "slope": 3,
    "ca": 0,
    "thal": "fixed",
}

input_dict = {name: tf.convert_to_tensor([value]) for name, value in sample.items()}
predictions = inference_model.predict(input_dict)

print(
    f"This particular patient had a {100 * predictions[0][0]:.2f}% probability "
    "of having a heart disease, as evaluated by our model."
)
rows = {name: column.to_numpy() for name, column in val_dataframe.drop(columns="target").items()}
encoded = np.asarray(feature_space(rows))
print(json.dumps({"shape": list(preprocessed_x.shape), "dtype": str(preprocessed_x.dtype.name),
                  "encoded": encoded.tolist(), "val_accuracy": float(history.history["val_accuracy"][-1]),
                  "sample": float(predictions[0][0]),
                  "sample_trained": float(np.asarray(training_model.predict(
                      np.asarray(feature_space(sample))[None], verbose=0))[0, 0]),
                  "inference": np.asarray(inference_model.predict(rows, verbose=0)).reshape(-1).tolist(),
                  "training": np.asarray(training_model.predict(encoded, verbose=0)).reshape(-1).tolist()}))
"""


def test_the_tutorial_runs_as_written_with_tf_data_as_keras_runs_it():
    """keras-io's "Structured data classification with FeatureSpace", unchanged but for the import rename (and
    seeds, so that both runs shuffle alike and each run is the same each time), run by Keras and by gpunn on
    TensorFlow's pipelines."""
    table = heart_table(303, 0)
    task = {"table": {name: column.tolist() for name, column in table.items()}}
    theirs = run_keras_with_tensorflow_script(TUTORIAL, task, backend="tensorflow")
    ours = run_keras_with_tensorflow_script(renamed(TUTORIAL), task, backend="tensorflow", gpunn_path=True)
    assert ours["shape"] == theirs["shape"] and ours["dtype"] == theirs["dtype"] == "float32"
    np.testing.assert_allclose(ours["encoded"], theirs["encoded"], rtol=2e-6, atol=1e-6)
    assert ours["val_accuracy"] >= 0.75 and theirs["val_accuracy"] >= 0.75  # (the majority class: 0.63)
    for result in (ours, theirs):
        np.testing.assert_allclose(result["inference"], result["training"], rtol=1e-5, atol=1e-6)
        assert result["sample"] == pytest.approx(result["sample_trained"], rel=1e-5)




@pytest.mark.gpu
def test_the_tutorials_models_are_the_same_on_the_gpu():
    """The FeatureSpace encodes on the host; the GPU trains the training model and runs the inference model (its
    string and integer inputs looked up, crossed and encoded there) as the CPU does."""
    x = heart_columns(303, 0)
    y = x.pop("target")
    results = []
    for backend in ("numpy", "cupy"):
        with gpunn.use_backend(backend):
            gpunn.utils.set_random_seed(0)
            feature_space = make_space(FeatureSpace, layers, TUTORIAL_SPACE)
            feature_space.adapt(x)
            encoded = feature_space(x)
            training_model, inference_model = tutorial_models(feature_space)
            history = training_model.fit(encoded, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
            results.append((np.asarray(gpunn.ops.convert_to_numpy(encoded)), history.history["loss"],
                            inference_model.predict(x, verbose=0)))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-4)
    np.testing.assert_allclose(results[1][2], results[0][2], rtol=1e-4, atol=1e-6)


def renamed(script: str) -> str:
    """A tutorial's script after the README's recipe: the imports renamed (Keras's ``import keras`` and
    ``from keras.utils import ...`` too), nothing else."""
    script = to_gpunn(script).replace("from keras.utils import", "from gpunn.utils import")
    script = script.replace("\nimport keras\n", "\nimport gpunn as keras\n")
    return script.replace("import gpunn\n", "import gpunn\nimport tensorflow as tf\n", 1) \
        if "import tensorflow as tf" not in script else script


# ---- "FeatureSpace advanced use cases" --------------------------------------------------------------------------


def bank_table(rows: int, seed: int):
    """A stand-in for the tutorial's bank-marketing table (its columns, dtypes and values), with a target that the
    features decide (up to noise)."""
    import pandas as pd

    rng = np.random.default_rng(seed)

    def choice(options, p=None):
        return rng.choice(options, rows, p=p)

    frame = pd.DataFrame({
        "age": rng.integers(18, 88, rows),
        "job": choice(["admin.", "blue-collar", "entrepreneur", "housemaid", "management", "retired", "self-employed",
                       "services", "student", "technician", "unemployed", "unknown"]),
        "marital": choice(["married", "single", "divorced", "unknown"], [0.6, 0.28, 0.11, 0.01]),
        "education": choice(["basic.4y", "basic.6y", "basic.9y", "high.school", "professional.course",
                             "university.degree", "unknown"]),
        "default": choice(["no", "unknown"], [0.8, 0.2]),
        "housing": choice(["no", "yes", "unknown"], [0.45, 0.52, 0.03]),
        "loan": choice(["no", "yes", "unknown"], [0.8, 0.17, 0.03]), "contact": choice(["cellular", "telephone"]),
        "month": choice(["mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
        "day_of_week": choice(["mon", "tue", "wed", "thu", "fri"]), "duration": rng.integers(0, 3000, rows),
        "campaign": rng.integers(1, 20, rows),
        "pdays": np.where(rng.random(rows) < 0.9, 999, rng.integers(0, 27, rows)),
        "previous": rng.integers(0, 6, rows), "poutcome": choice(["nonexistent", "failure", "success"],
                                                                 [0.85, 0.1, 0.05]),
        "emp.var.rate": choice([-3.4, -1.8, -0.1, 1.1, 1.4]),
        "cons.price.idx": np.round(rng.uniform(92.2, 94.8, rows), 3),
        "cons.conf.idx": np.round(rng.uniform(-50.8, -26.9, rows), 1),
        "euribor3m": np.round(rng.uniform(0.6, 5.1, rows), 3), "nr.employed": choice([4963.6, 5099.1, 5191.0, 5228.1])})
    score = 2.5 * (frame.poutcome == "success") + 2.0 * (frame["euribor3m"] < 2.5) - 1.0 + rng.normal(0, 0.3, rows)
    frame["y"] = np.where(score > 0, "yes", "no")
    return frame


ADVANCED = r"""
import os

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
from keras.utils import FeatureSpace
import pandas as pd
import tensorflow as tf
from pathlib import Path
from zipfile import ZipFile

import json, sys

keras.utils.set_random_seed(0)  # (the weights' initial values)
tf.random.set_seed(0)  # (the shuffles decide the batches adapt() sees, and so the bins)
task = json.loads(sys.stdin.read())
dataframe = pd.DataFrame(task["table"])  # (the tutorial downloads it)

# Droping `duration` to avoid target leak
dataframe.drop("duration", axis=1, inplace=True)
# Creating the new feature `previously_contacted`
dataframe["previously_contacted"] = dataframe["pdays"].map(
    lambda x: 0 if x == 999 else 1
)

print(f"Dataframe shape: {dataframe.shape}")
print(dataframe.head())

valid_dataframe = dataframe.sample(frac=0.2, random_state=0)
train_dataframe = dataframe.drop(valid_dataframe.index)

print(
    f"Using {len(train_dataframe)} samples for training and "
    f"{len(valid_dataframe)} for validation"
)

label_lookup = keras.layers.StringLookup(
    # the order here is important since the first index will be encoded as 0
    vocabulary=["no", "yes"],
    num_oov_indices=0,
)


def encode_label(x, y):
    encoded_y = label_lookup(y)
    return x, encoded_y


def dataframe_to_dataset(dataframe):
    dataframe = dataframe.copy()
    labels = dataframe.pop("y")
    ds = tf.data.Dataset.from_tensor_slices((dict(dataframe), labels))
    ds = ds.map(encode_label, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.shuffle(buffer_size=len(dataframe))
    return ds


train_ds = dataframe_to_dataset(train_dataframe)
valid_ds = dataframe_to_dataset(valid_dataframe)

for x, y in dataframe_to_dataset(train_dataframe).take(1):
    print(f"Input: {x}")
    print(f"Target: {y}")

train_ds_with_no_labels = train_ds.map(lambda x, _: x)


def example_feature_space(dataset, feature_space, feature_names):
    feature_space.adapt(dataset)
    for x in dataset.take(1):
        inputs = {feature_name: x[feature_name] for feature_name in feature_names}
        preprocessed_x = feature_space(inputs)
        print(f"Input: {[{k:v.numpy()} for k, v in inputs.items()]}")
        print(
            f"Preprocessed output: {[{k:v.numpy()} for k, v in preprocessed_x.items()]}"
        )


feature_space = FeatureSpace(
    features={
        "campaign": FeatureSpace.integer_hashed(num_bins=4, output_mode="one_hot")
    },
    output_mode="dict",
)
example_feature_space(train_ds_with_no_labels, feature_space, ["campaign"])

feature_space = FeatureSpace(
    features={
        "education": FeatureSpace.string_hashed(num_bins=3, output_mode="one_hot")
    },
    output_mode="dict",
)
example_feature_space(train_ds_with_no_labels, feature_space, ["education"])

feature_space = FeatureSpace(
    features={"age": FeatureSpace.float_discretized(num_bins=3, output_mode="one_hot")},
    output_mode="dict",
)
example_feature_space(train_ds_with_no_labels, feature_space, ["age"])

feature_space = FeatureSpace(
    features={
        "default": FeatureSpace.string_categorical(
            num_oov_indices=1, output_mode="one_hot"
        )
    },
    output_mode="dict",
)
example_feature_space(train_ds_with_no_labels, feature_space, ["default"])

feature_space = FeatureSpace(
    features={
        "previously_contacted": FeatureSpace.integer_categorical(
            num_oov_indices=0, output_mode="one_hot"
        )
    },
    output_mode="dict",
)
example_feature_space(train_ds_with_no_labels, feature_space, ["previously_contacted"])

feature_space = FeatureSpace(
    features={
        "age": FeatureSpace.integer_hashed(num_bins=6, output_mode="one_hot"),
        "job": FeatureSpace.string_categorical(
            num_oov_indices=0, output_mode="one_hot"
        ),
    },
    crosses=[
        FeatureSpace.cross(
            feature_names=("age", "job"),
            crossing_dim=8,
            output_mode="one_hot",
        )
    ],
    output_mode="dict",
)
example_feature_space(train_ds_with_no_labels, feature_space, ["age", "job"])

custom_layer = keras.layers.TextVectorization(output_mode="tf_idf")

feature_space = FeatureSpace(
    features={
        "education": FeatureSpace.feature(
            preprocessor=custom_layer, dtype="string", output_mode="float"
        )
    },
    output_mode="dict",
)
example_feature_space(train_ds_with_no_labels, feature_space, ["education"])

feature_space = FeatureSpace(
    features={
        # Categorical features encoded as integers
        "previously_contacted": FeatureSpace.integer_categorical(num_oov_indices=0),
        # Categorical features encoded as string
        "marital": FeatureSpace.string_categorical(num_oov_indices=0),
        "education": FeatureSpace.string_categorical(num_oov_indices=0),
        "default": FeatureSpace.string_categorical(num_oov_indices=0),
        "housing": FeatureSpace.string_categorical(num_oov_indices=0),
        "loan": FeatureSpace.string_categorical(num_oov_indices=0),
        "contact": FeatureSpace.string_categorical(num_oov_indices=0),
        "month": FeatureSpace.string_categorical(num_oov_indices=0),
        "day_of_week": FeatureSpace.string_categorical(num_oov_indices=0),
        "poutcome": FeatureSpace.string_categorical(num_oov_indices=0),
        # Categorical features to hash and bin
        "job": FeatureSpace.string_hashed(num_bins=3),
        # Numerical features to hash and bin
        "pdays": FeatureSpace.integer_hashed(num_bins=4),
        # Numerical features to normalize and bin
        "age": FeatureSpace.float_discretized(num_bins=4),
        # Numerical features to normalize
        "campaign": FeatureSpace.float_normalized(),
        "previous": FeatureSpace.float_normalized(),
        "emp.var.rate": FeatureSpace.float_normalized(),
        "cons.price.idx": FeatureSpace.float_normalized(),
        "cons.conf.idx": FeatureSpace.float_normalized(),
        "euribor3m": FeatureSpace.float_normalized(),
        "nr.employed": FeatureSpace.float_normalized(),
    },
    # Specify feature cross with a custom crossing dim.
    crosses=[
        FeatureSpace.cross(feature_names=("age", "job"), crossing_dim=8),
        FeatureSpace.cross(feature_names=("housing", "loan"), crossing_dim=6),
        FeatureSpace.cross(
            feature_names=("poutcome", "previously_contacted"), crossing_dim=2
        ),
    ],
    output_mode="concat",
)

train_ds = train_ds.batch(32)
valid_ds = valid_ds.batch(32)

train_ds_with_no_labels = train_ds.map(lambda x, _: x)
feature_space.adapt(train_ds_with_no_labels)

for x, _ in train_ds.take(1):
    preprocessed_x = feature_space(x)
    print(f"preprocessed_x shape: {preprocessed_x.shape}")
    print(f"preprocessed_x sample: \n{preprocessed_x[0]}")

feature_space.save("myfeaturespace.keras")

preprocessed_train_ds = train_ds.map(
    lambda x, y: (feature_space(x), y), num_parallel_calls=tf.data.AUTOTUNE
).prefetch(tf.data.AUTOTUNE)

preprocessed_valid_ds = valid_ds.map(
    lambda x, y: (feature_space(x), y), num_parallel_calls=tf.data.AUTOTUNE
).prefetch(tf.data.AUTOTUNE)

encoded_features = feature_space.get_encoded_features()
print(encoded_features)

x = keras.layers.Dense(64, activation="relu")(encoded_features)
x = keras.layers.Dropout(0.5)(x)
output = keras.layers.Dense(1, activation="sigmoid")(x)

model = keras.Model(inputs=encoded_features, outputs=output)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

history = model.fit(
    preprocessed_train_ds, validation_data=preprocessed_valid_ds, epochs=20, verbose=2
)

loaded_feature_space = keras.saving.load_model("myfeaturespace.keras")

dict_inputs = loaded_feature_space.get_inputs()
encoded_features = loaded_feature_space.get_encoded_features()
print(encoded_features)

print(dict_inputs)

outputs = model(encoded_features)
inference_model = keras.Model(inputs=dict_inputs, outputs=outputs)

sample = {
    "age": 30,
    "job": "blue-collar",
    "marital": "married",
    "education": "basic.9y",
    "default": "no",
    "housing": "yes",
    "loan": "no",
    "contact": "cellular",
    "month": "may",
    "day_of_week": "fri",
    "campaign": 2,
    "pdays": 999,
    "previous": 0,
    "poutcome": "nonexistent",
    "emp.var.rate": -1.8,
    "cons.price.idx": 92.893,
    "cons.conf.idx": -46.2,
    "euribor3m": 1.313,
    "nr.employed": 5099.1,
    "previously_contacted": 0,
}

input_dict = {
    name: keras.ops.convert_to_tensor([value]) for name, value in sample.items()
}
predictions = inference_model.predict(input_dict)

print(
    f"This particular client has a {100 * predictions[0][0]:.2f}% probability "
    "of subscribing a term deposit, as evaluated by our model."
)
import numpy as np

rows = {name: column.to_numpy() for name, column in valid_dataframe.drop(columns="y").items()}
encoded = np.asarray(feature_space(rows))
print(json.dumps({"encoded": encoded.tolist(), "val_accuracy": float(history.history["val_accuracy"][-1]),
                  "sample": float(predictions[0][0]),
                  "sample_trained": float(np.asarray(model.predict(
                      np.asarray(feature_space(sample))[None], verbose=0))[0, 0]),
                  "inference": np.asarray(inference_model.predict(rows, verbose=0)).reshape(-1).tolist(),
                  "training": np.asarray(model.predict(encoded, verbose=0)).reshape(-1).tolist()}))
"""


def test_the_advanced_tutorial_runs_as_written_as_keras_runs_it(tmp_path):
    """Its examples of each feature type (dicts of one sample's features), TextVectorization's tf_idf as a feature,
    crosses, the FeatureSpace saved and loaded again, the training model called on the loaded FeatureSpace's
    encoded features to make the inference model; ``keras.ops.convert_to_tensor`` of one sample's values."""
    table = bank_table(600, 0)
    task = {"table": {name: column.tolist() for name, column in table.items()}}
    (tmp_path / "keras").mkdir()
    (tmp_path / "gpunn").mkdir()
    theirs = run_keras_with_tensorflow_script(f"import os; os.chdir({str(tmp_path / 'keras')!r})\n" + ADVANCED, task,
                                              backend="tensorflow")
    ours = run_keras_with_tensorflow_script(f"import os; os.chdir({str(tmp_path / 'gpunn')!r})\n"
                                            + renamed(ADVANCED), task, backend="tensorflow", gpunn_path=True)
    np.testing.assert_allclose(ours["encoded"], theirs["encoded"], rtol=2e-6, atol=1e-6)
    assert ours["val_accuracy"] >= 0.8 and theirs["val_accuracy"] >= 0.8  # (the majority class: 0.55)
    for result in (ours, theirs):
        np.testing.assert_allclose(result["inference"], result["training"], rtol=1e-5, atol=1e-6)
        assert result["sample"] == pytest.approx(result["sample_trained"], rel=1e-5)


LOAD_IN_KERAS = r"""
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = {name: np.array(values, dtype=object if name == "thal" else None) for name, values in task["x"].items()}
print(json.dumps({path: np.asarray(keras.models.load_model(path).predict(x, verbose=0)).tolist()
                  for path in task["files"]}))
"""


def saved_inference_models(directory) -> tuple:
    """(the raw features, the inference model's predictions, its files): the end-to-end model of raw features, as
    deployed, made both tutorials' ways (the shared layers, or the training model called on the encoded
    features), each saved."""
    x = heart_columns(303, 0)
    y = x.pop("target")
    gpunn.utils.set_random_seed(0)
    feature_space = make_space(FeatureSpace, layers, TUTORIAL_SPACE)
    feature_space.adapt(x)
    training_model, inference_model = tutorial_models(feature_space)
    training_model.fit(np.asarray(feature_space(x)), y, epochs=2, verbose=0)
    called = gpunn.Model(feature_space.get_inputs(), training_model(feature_space.get_encoded_features()))
    expected = inference_model.predict(x, verbose=0)
    np.testing.assert_allclose(called.predict(x, verbose=0), expected, rtol=1e-6)
    files = [str(directory / "shared.keras"), str(directory / "called.keras")]
    inference_model.save(files[0])
    called.save(files[1])
    return x, expected, files


def test_the_inference_models_files_load_again(tmp_path, numpy_backend):
    x, expected, files = saved_inference_models(tmp_path)
    for path in files:
        np.testing.assert_allclose(gpunn.models.load_model(path).predict(x, verbose=0), expected, rtol=1e-6,
                                   err_msg=path)


def test_keras_loads_the_inference_models_files(tmp_path, numpy_backend):
    x, expected, files = saved_inference_models(tmp_path)
    theirs = run_keras_with_tensorflow_script(LOAD_IN_KERAS, {"x": {k: v.tolist() for k, v in x.items()},
                                                             "files": files}, backend="tensorflow")
    for path in files:
        np.testing.assert_allclose(theirs[path], expected, rtol=1e-5, atol=1e-6, err_msg=path)
