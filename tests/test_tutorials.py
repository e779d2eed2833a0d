"""The shapes of the classic tf.keras tutorials, on the shipped (offline) digits data, and a literal tf.keras
script run after nothing but the import rename."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import digits, numpy_backend  # noqa: F401

import gpunn
from gpunn import layers
from gpunn.utils import set_random_seed, to_categorical


def test_digits_data_as_documented():
    (x_train, y_train), (x_test, y_test) = gpunn.datasets.digits.load_data()
    assert x_train.shape[1:] == (8, 8) and x_test.shape[1:] == (8, 8)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert len(x_train) + len(x_test) == 1797
    assert set(np.unique(y_train)) == set(range(10))


def test_mlp_with_input_and_sparse_labels():
    """keras.io's basic classifier: Input, Dense 64-64-10, adam, sparse CE, accuracy, validation_split=0.2."""
    (x_train, y_train), (x_test, y_test) = digits(flat=True)
    set_random_seed(0)
    model = gpunn.Sequential([
        gpunn.Input(shape=(64,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=12, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["val_accuracy"][-1] >= 0.85
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.9
    predictions = model.predict(x_test, verbose=0)
    assert np.mean(predictions.argmax(axis=1) == y_test) == pytest.approx(accuracy)


def test_flatten_with_one_hot_labels():
    """The Flatten(input_shape=(28, 28)) tutorial, on 8x8 images: 128-128-10 and categorical CE."""
    (x_train, y_train), (x_test, y_test) = digits(flat=False)
    set_random_seed(1)
    model = gpunn.Sequential([
        layers.Flatten(input_shape=(8, 8)),
        layers.Dense(128, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, to_categorical(y_train), batch_size=32, epochs=8, verbose=0)
    loss, accuracy = model.evaluate(x_test, to_categorical(y_test, 10), verbose=0)
    assert accuracy >= 0.9
    assert model.predict(x_test[:3], verbose=0).shape == (3, 10)


def test_binary_classifier_with_sigmoid():
    """A sigmoid binary classifier: even vs odd digits (balanced, so 0.9 is far above the majority class)."""
    (x_train, y_train), (x_test, y_test) = digits(flat=True)
    t_train, t_test = (y_train % 2 == 0).astype("float32"), (y_test % 2 == 0).astype("float32")
    assert 0.4 < t_test.mean() < 0.6
    set_random_seed(2)
    model = gpunn.Sequential([
        gpunn.Input(shape=(64,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, t_train, batch_size=32, epochs=15, validation_split=0.1, verbose=0)
    loss, accuracy = model.evaluate(x_test, t_test, verbose=0)
    assert accuracy >= 0.9
    p = model.predict(x_test, verbose=0)
    assert p.shape == (len(x_test), 1) and ((p >= 0) & (p <= 1)).all()
    assert np.mean((p[:, 0] > 0.5) == (t_test > 0.5)) == pytest.approx(accuracy)


TF_KERAS_SCRIPT = '''
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers
from tensorflow.keras.utils import to_categorical

tf.keras.utils.set_random_seed(7)
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
y_train_1h = to_categorical(y_train, 10)
y_test_1h = to_categorical(y_test, 10)

model = tf.keras.Sequential([
    tf.keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu", kernel_regularizer=tf.keras.regularizers.l2(1e-4)),
    layers.Dropout(0.1),
    layers.Dense(64, activation=tf.keras.activations.relu),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3),
              loss=tf.keras.losses.CategoricalCrossentropy(),
              metrics=["accuracy"])
model.summary()
history = model.fit(x_train, y_train_1h, batch_size=64, epochs=12, validation_split=0.1, verbose=0,
                    callbacks=[tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)])
test_loss, test_acc = model.evaluate(x_test, y_test_1h, verbose=0)
predictions = model.predict(x_test, verbose=0)
predicted_labels = np.argmax(predictions, axis=1)
model.save("tutorial_model.h5")
restored = tf.keras.models.load_model("tutorial_model.h5")
restored_acc = restored.evaluate(x_test, y_test_1h, verbose=0)[1]
'''


def to_gpunn(script: str) -> str:
    """The README's recipe: rename the imports, nothing else (here also the data set: digits is offline)."""
    script = script.replace("import tensorflow as tf", "import gpunn")
    script = script.replace("tensorflow.keras", "gpunn").replace("tf.keras", "gpunn")
    # MNIST needs a download; digits ships with scikit-learn: 8x8 images already scaled to [0, 1].
    return script.replace("mnist", "digits").replace("784", "64").replace("255.0", "1.0")


def test_literal_tf_keras_script_runs_after_the_rename(tmp_path, monkeypatch):
    script = to_gpunn(TF_KERAS_SCRIPT)
    assert "tensorflow" not in script and "tf." not in script
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(script, "tutorial.py", "exec"), namespace)
    assert namespace["test_acc"] >= 0.9
    assert namespace["predictions"].shape == (len(namespace["x_test"]), 10)
    np.testing.assert_allclose(namespace["predictions"].sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(namespace["predicted_labels"] == namespace["y_test"]) == pytest.approx(namespace["test_acc"])
    assert namespace["restored_acc"] == namespace["test_acc"]
    assert (tmp_path / "tutorial_model.h5").is_file()
    assert 1 <= len(namespace["history"].epoch) <= 12
