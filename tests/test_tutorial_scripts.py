"""Scripts in the style of the official TensorFlow tutorials (basic classification, regression, overfit and
underfit, imbalanced data, save and load, transfer learning), written for tf.keras and run after nothing but
the import rename. Their data is made offline in the script (the tutorials download theirs): the digits that
ship with scikit-learn, or NumPy draws shaped like the tutorial's table. Each test checks what the tutorial
checks, and the numbers a user would compare with Keras."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)


def to_gpunn(script: str) -> str:
    """The README's recipe: the imports renamed, nothing else."""
    script = script.replace("import tensorflow as tf", "import gpunn")
    script = script.replace("from tensorflow import keras", "import gpunn as keras")
    return script.replace("tensorflow.keras", "gpunn").replace("tf.keras", "gpunn")


def run_script(script: str, tmp_path, monkeypatch) -> dict:
    converted = to_gpunn(script)
    assert "tensorflow" not in converted and "tf." not in converted
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(converted, "tutorial.py", "exec"), namespace)
    return namespace


DIGITS = '''
from sklearn.datasets import load_digits
digits = load_digits()
images = (digits.images / 16.0).astype("float32")      # 8x8 images in [0, 1], as the tutorial's / 255.0
labels = digits.target
train_images, test_images = images[:1400], images[1400:]
train_labels, test_labels = labels[:1400], labels[1400:]
'''

BASIC_CLASSIFICATION = '''
import numpy as np
import tensorflow as tf
''' + DIGITS + '''
tf.keras.utils.set_random_seed(0)
model = tf.keras.Sequential([
    tf.keras.layers.Flatten(input_shape=(8, 8)),
    tf.keras.layers.Dense(128, activation='relu'),
    tf.keras.layers.Dense(10)
])
model.compile(optimizer='adam',
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=['accuracy'])
model.fit(train_images, train_labels, epochs=10, verbose=0)
test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=2)

probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
predictions = probability_model.predict(test_images)
first_guess = np.argmax(predictions[0])
img = test_images[1]
img = (np.expand_dims(img, 0))
predictions_single = probability_model.predict(img)
'''


def test_basic_classification(tmp_path, monkeypatch, numpy_backend):
    ns = run_script(BASIC_CLASSIFICATION, tmp_path, monkeypatch)
    assert ns["test_acc"] >= 0.85
    predictions = ns["predictions"]
    assert predictions.shape == (len(ns["test_images"]), 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    # accuracy on logits (sparse CE from_logits=True) is the argmax of the logits, as of the probabilities
    assert np.mean(predictions.argmax(axis=1) == ns["test_labels"]) == pytest.approx(ns["test_acc"])
    assert ns["predictions_single"].shape == (1, 10)
    np.testing.assert_allclose(ns["predictions_single"][0], predictions[1], rtol=1e-5)


REGRESSION = '''
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

# A table shaped like the tutorial's Auto MPG data: 9 features, MPG falling with horsepower and weight.
rng = np.random.default_rng(0)
n = 398
horsepower = rng.uniform(46, 230, n)
weight = rng.uniform(1600, 5100, n)
other = rng.normal(size=(n, 7))
features = np.column_stack([other[:, :2], horsepower, weight, other[:, 2:]]).astype("float32")
mpg = (46.0 - 0.09 * horsepower - 0.004 * weight + 0.5 * other[:, 0] + rng.normal(0, 1.5, n)).astype("float32")
train_features, test_features = features[:318], features[318:]
train_labels, test_labels = mpg[:318], mpg[318:]

tf.keras.utils.set_random_seed(1)
normalizer = tf.keras.layers.Normalization(axis=-1)
normalizer.adapt(np.array(train_features))
normalized_first = normalizer(train_features[:1]).numpy()

horsepower_train = train_features[:, 2:3]
horsepower_normalizer = layers.Normalization(input_shape=[1,], axis=None)
horsepower_normalizer.adapt(horsepower_train)
horsepower_model = tf.keras.Sequential([horsepower_normalizer, layers.Dense(units=1)])
horsepower_model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.1), loss='mean_absolute_error')
history = horsepower_model.fit(horsepower_train, train_labels, epochs=100, verbose=0, validation_split=0.2)
horsepower_mae = horsepower_model.evaluate(test_features[:, 2:3], test_labels, verbose=0)

def build_and_compile_model(norm):
    model = keras.Sequential([
        norm,
        layers.Dense(64, activation='relu'),
        layers.Dense(64, activation='relu'),
        layers.Dense(1)
    ])
    model.compile(loss='mean_absolute_error', optimizer=tf.keras.optimizers.Adam(0.001))
    return model

dnn_model = build_and_compile_model(normalizer)
dnn_history = dnn_model.fit(train_features, train_labels, validation_split=0.2, verbose=0, epochs=100)
dnn_mae = dnn_model.evaluate(test_features, test_labels, verbose=0)
test_predictions = dnn_model.predict(test_features).flatten()
dnn_model.save('dnn_model.keras')
reloaded = tf.keras.models.load_model('dnn_model.keras')
reloaded_predictions = reloaded.predict(test_features).flatten()
'''


def test_regression(tmp_path, monkeypatch, numpy_backend):
    ns = run_script(REGRESSION, tmp_path, monkeypatch)
    train = ns["train_features"]
    np.testing.assert_allclose(ns["normalized_first"][0], (train[0] - train.mean(0)) / train.std(0), rtol=1e-3,
                               atol=1e-4)
    assert set(ns["history"].history) == {"loss", "val_loss"}
    spread = float(np.mean(np.abs(ns["test_labels"] - ns["test_labels"].mean())))
    assert ns["horsepower_mae"] < spread  # one feature already beats predicting the mean
    assert ns["dnn_mae"] < 0.6 * spread
    assert ns["test_predictions"].shape == (len(ns["test_labels"]),)
    np.testing.assert_array_equal(ns["reloaded_predictions"], ns["test_predictions"])


OVERFIT_AND_UNDERFIT = '''
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers
from tensorflow.keras import regularizers
''' + DIGITS + '''
x_train = train_images.reshape(-1, 64)
y_train = (train_labels % 2).astype("float32")
x_val = test_images.reshape(-1, 64)
y_val = (test_labels % 2).astype("float32")

N_TRAIN = len(x_train)
BATCH_SIZE = 50
STEPS_PER_EPOCH = N_TRAIN // BATCH_SIZE
lr_schedule = tf.keras.optimizers.schedules.InverseTimeDecay(
    0.001, decay_steps=STEPS_PER_EPOCH * 10, decay_rate=1, staircase=False)

def get_optimizer():
    return tf.keras.optimizers.Adam(lr_schedule)

def get_callbacks(name):
    return [tf.keras.callbacks.EarlyStopping(monitor='val_binary_crossentropy', patience=20)]

def compile_and_fit(model, name, optimizer=None, max_epochs=40):
    if optimizer is None:
        optimizer = get_optimizer()
    model.compile(optimizer=optimizer,
                  loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.BinaryCrossentropy(from_logits=True, name='binary_crossentropy'),
                           'accuracy'])
    model.summary()
    history = model.fit(x_train, y_train, steps_per_epoch=STEPS_PER_EPOCH, epochs=max_epochs,
                        validation_data=(x_val, y_val), callbacks=get_callbacks(name), verbose=0)
    return history

tf.keras.utils.set_random_seed(2)
tiny_model = tf.keras.Sequential([
    layers.Dense(16, activation='elu', input_shape=(64,)),
    layers.Dense(1)
])
size_histories = {}
size_histories['Tiny'] = compile_and_fit(tiny_model, 'sizes/Tiny')

l2_model = tf.keras.Sequential([
    layers.Dense(64, activation='elu', kernel_regularizer=regularizers.l2(0.001), input_shape=(64,)),
    layers.Dense(64, activation='elu', kernel_regularizer=regularizers.l2(0.001)),
    layers.Dense(1)
])
regularizer_histories = {'l2': compile_and_fit(l2_model, "regularizers/l2")}

dropout_model = tf.keras.Sequential([
    layers.Dense(64, activation='elu', input_shape=(64,)),
    layers.Dropout(0.5),
    layers.Dense(64, activation='elu'),
    layers.Dropout(0.5),
    layers.Dense(1)
])
regularizer_histories['dropout'] = compile_and_fit(dropout_model, "regularizers/dropout")
'''


def test_overfit_and_underfit(tmp_path, monkeypatch, numpy_backend):
    ns = run_script(OVERFIT_AND_UNDERFIT, tmp_path, monkeypatch)
    for history in [ns["size_histories"]["Tiny"], *ns["regularizer_histories"].values()]:
        assert {"loss", "binary_crossentropy", "accuracy", "val_loss", "val_binary_crossentropy",
                "val_accuracy"} <= set(history.history)
        assert history.history["val_accuracy"][-1] > 0.8
    # with an l2 penalty the reported loss is the cross-entropy plus the penalty
    l2 = ns["regularizer_histories"]["l2"].history
    assert l2["loss"][-1] > l2["binary_crossentropy"][-1]


IMBALANCED_DATA = '''
import numpy as np
import tensorflow as tf
from tensorflow import keras

# Fraud-like data: about 2% positives, 12 features that separate them partly.
rng = np.random.default_rng(3)
n = 6000
labels = (rng.random(n) < 0.02).astype("int64")
features = rng.normal(size=(n, 12)).astype("float32")
features[labels == 1, :4] += 1.5
train_features, val_features, test_features = features[:4000], features[4000:5000], features[5000:]
train_labels, val_labels, test_labels = labels[:4000], labels[4000:5000], labels[5000:]

neg, pos = np.bincount(train_labels)
total = neg + pos

METRICS = [
    keras.metrics.BinaryCrossentropy(name='cross entropy'),
    keras.metrics.MeanSquaredError(name='Brier score'),
    keras.metrics.TruePositives(name='tp'),
    keras.metrics.FalsePositives(name='fp'),
    keras.metrics.TrueNegatives(name='tn'),
    keras.metrics.FalseNegatives(name='fn'),
    keras.metrics.BinaryAccuracy(name='accuracy'),
    keras.metrics.Precision(name='precision'),
    keras.metrics.Recall(name='recall'),
    keras.metrics.AUC(name='auc'),
    keras.metrics.AUC(name='prc', curve='PR'),
]

def make_model(metrics=METRICS, output_bias=None):
    if output_bias is not None:
        output_bias = tf.keras.initializers.Constant(output_bias)
    model = keras.Sequential([
        keras.layers.Dense(16, activation='relu', input_shape=(train_features.shape[-1],)),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1, activation='sigmoid', bias_initializer=output_bias),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.BinaryCrossentropy(),
                  metrics=metrics)
    return model

EPOCHS = 20
BATCH_SIZE = 256
early_stopping = tf.keras.callbacks.EarlyStopping(monitor='val_prc', verbose=1, patience=10, mode='max',
                                                  restore_best_weights=True)

tf.keras.utils.set_random_seed(4)
initial_bias = np.log([pos / neg])
model = make_model(output_bias=initial_bias)
first_predictions = model.predict(train_features[:10])
results = model.evaluate(train_features, train_labels, batch_size=BATCH_SIZE, verbose=0)

weight_for_0 = (1 / neg) * (total / 2.0)
weight_for_1 = (1 / pos) * (total / 2.0)
class_weight = {0: weight_for_0, 1: weight_for_1}
weighted_model = make_model(output_bias=initial_bias)
weighted_history = weighted_model.fit(train_features, train_labels, batch_size=BATCH_SIZE, epochs=EPOCHS,
                                      callbacks=[early_stopping], validation_data=(val_features, val_labels),
                                      class_weight=class_weight, verbose=0)
weighted_results = weighted_model.evaluate(test_features, test_labels, batch_size=BATCH_SIZE, verbose=0,
                                           return_dict=True)
test_predictions = weighted_model.predict(test_features, batch_size=BATCH_SIZE)
'''


def test_imbalanced_data(tmp_path, monkeypatch, numpy_backend):
    ns = run_script(IMBALANCED_DATA, tmp_path, monkeypatch)
    pos_rate = ns["pos"] / ns["total"]
    # the output bias initialised to log(pos/neg): the first predictions are near the positive rate, and the
    # initial loss near the entropy of the labels (about 0.1), far below log(2) (a zero bias)
    assert np.all(ns["first_predictions"] < 10 * pos_rate)
    assert ns["results"][0] < 0.25
    results = ns["weighted_results"]
    expected_keys = {"loss", "cross entropy", "Brier score", "tp", "fp", "tn", "fn", "accuracy", "precision",
                     "recall", "auc", "prc"}
    assert expected_keys <= set(results)
    labels, p = ns["test_labels"], ns["test_predictions"][:, 0]
    # the confusion counts at Keras's default threshold 0.5, from the model's own predictions
    assert results["tp"] == np.sum((p > 0.5) & (labels == 1))
    assert results["fp"] == np.sum((p > 0.5) & (labels == 0))
    assert results["tn"] == np.sum((p <= 0.5) & (labels == 0))
    assert results["fn"] == np.sum((p <= 0.5) & (labels == 1))
    assert results["tp"] + results["fp"] + results["tn"] + results["fn"] == len(labels)
    assert results["recall"] == pytest.approx(results["tp"] / max(1, results["tp"] + results["fn"]), abs=1e-6)
    assert results["auc"] > 0.8  # the class-weighted model ranks the positives high
    assert {"val_prc", "prc", "val_auc"} <= set(ns["weighted_history"].history)


SAVE_AND_LOAD = '''
import os
import numpy as np
import tensorflow as tf
from tensorflow import keras
''' + DIGITS + '''
train_images = train_images.reshape(-1, 64)[:1000]
test_images = test_images.reshape(-1, 64)
train_labels = train_labels[:1000]

def create_model():
    model = tf.keras.Sequential([
        keras.layers.Dense(512, activation='relu', input_shape=(64,)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10)
    ])
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])
    return model

tf.keras.utils.set_random_seed(5)
model = create_model()
model.summary()

checkpoint_path = "training_1/cp.weights.h5"
checkpoint_dir = os.path.dirname(checkpoint_path)
cp_callback = tf.keras.callbacks.ModelCheckpoint(filepath=checkpoint_path, save_weights_only=True, verbose=1)
model.fit(train_images, train_labels, epochs=10, validation_data=(test_images, test_labels),
          callbacks=[cp_callback], verbose=0)
checkpoint_files = sorted(os.listdir(checkpoint_dir))

fresh = create_model()
untrained_loss, untrained_acc = fresh.evaluate(test_images, test_labels, verbose=2)
fresh.load_weights(checkpoint_path)
restored_loss, restored_acc = fresh.evaluate(test_images, test_labels, verbose=2)

model.save('my_model.keras')
new_model = tf.keras.models.load_model('my_model.keras')
new_model.summary()
keras_loss, keras_acc = new_model.evaluate(test_images, test_labels, verbose=2)

model.save('my_model.h5')
h5_model = tf.keras.models.load_model('my_model.h5')
h5_loss, h5_acc = h5_model.evaluate(test_images, test_labels, verbose=0)
trained_loss, trained_acc = model.evaluate(test_images, test_labels, verbose=0)
'''


def test_save_and_load(tmp_path, monkeypatch, numpy_backend):
    ns = run_script(SAVE_AND_LOAD, tmp_path, monkeypatch)
    assert ns["checkpoint_files"] == ["cp.weights.h5"]
    assert ns["untrained_acc"] < 0.3
    assert ns["restored_acc"] == ns["trained_acc"] >= 0.85
    assert ns["keras_acc"] == ns["h5_acc"] == ns["trained_acc"]
    assert ns["keras_loss"] == ns["h5_loss"] == ns["trained_loss"]


TRANSFER_LEARNING = '''
import numpy as np
import tensorflow as tf
''' + DIGITS + '''
x_train = train_images.reshape(-1, 64)
x_test = test_images.reshape(-1, 64)

# A base model trained on digits 0-4, reused for digits 5-9.
base_train, base_test = train_labels < 5, test_labels < 5
tf.keras.utils.set_random_seed(6)
base_model = tf.keras.Sequential([
    tf.keras.Input(shape=(64,)),
    tf.keras.layers.Dense(64, activation='relu'),
    tf.keras.layers.Dense(32, activation='relu'),
    tf.keras.layers.Dense(5),
])
base_model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=['accuracy'])
base_model.fit(x_train[base_train], train_labels[base_train], epochs=10, verbose=0)
base_accuracy = base_model.evaluate(x_test[base_test], test_labels[base_test], verbose=0)[1]

feature_layers = base_model.layers[:-1]
for layer in feature_layers:
    layer.trainable = False
frozen_weights = [w.copy() for layer in feature_layers for w in layer.get_weights()]
model = tf.keras.Sequential(feature_layers + [tf.keras.layers.Dense(5)])
model.compile(optimizer=tf.keras.optimizers.Adam(),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=['accuracy'])
new_train, new_test = ~base_train, ~base_test
model.fit(x_train[new_train], train_labels[new_train] - 5, epochs=10, verbose=0)
trainable_count = len(model.trainable_weights)
after_weights = [w.copy() for layer in feature_layers for w in layer.get_weights()]
transfer_accuracy = model.evaluate(x_test[new_test], test_labels[new_test] - 5, verbose=0)[1]

# Fine-tuning: unfreeze, recompile with a low learning rate, train a little more.
for layer in feature_layers:
    layer.trainable = True
model.compile(optimizer=tf.keras.optimizers.Adam(1e-5),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
fine_tune_trainable_count = len(model.trainable_weights)
model.fit(x_train[new_train], train_labels[new_train] - 5, epochs=2, verbose=0)
tuned_weights = [w.copy() for layer in feature_layers for w in layer.get_weights()]
base_after = base_model.evaluate(x_test[base_test], test_labels[base_test], verbose=0)[1]
'''


def test_transfer_learning(tmp_path, monkeypatch, numpy_backend):
    ns = run_script(TRANSFER_LEARNING, tmp_path, monkeypatch)
    assert ns["base_accuracy"] >= 0.9
    assert ns["trainable_count"] == 2  # the new head's kernel and bias only
    for before, after in zip(ns["frozen_weights"], ns["after_weights"]):
        np.testing.assert_array_equal(before, after)  # frozen layers did not move
    assert ns["transfer_accuracy"] >= 0.45  # frozen features of 0-4 still separate 5-9 (chance: 0.2)
    assert ns["fine_tune_trainable_count"] == 6
    assert any(not np.array_equal(a, t) for a, t in zip(ns["after_weights"], ns["tuned_weights"]))


# Reviews as keras.datasets.imdb.load_data(num_words=10000) gives them (lists of word ids after the start token 1),
# made here offline: a fifth of each review's words are cue words, ids 4-53 in negative reviews, 54-103 in positive.
IMDB_LIKE = '''
rng = np.random.default_rng(0)

def review(label):
    length = int(rng.integers(20, 300))
    words = rng.integers(4, 10000, size=length)
    cues = rng.integers(4, 54, size=length // 5) + (50 if label else 0)
    words[rng.choice(length, size=length // 5, replace=False)] = cues
    return [1] + words.tolist()

train_labels, test_labels = rng.integers(0, 2, 4000), rng.integers(0, 2, 1000)
train_data = [review(label) for label in train_labels]
test_data = [review(label) for label in test_labels]
word_index = {"<PAD>": 0, "<START>": 1, "<UNK>": 2, "<UNUSED>": 3}
'''

TEXT_CLASSIFICATION = '''
import numpy as np
import tensorflow as tf
from tensorflow import keras
''' + IMDB_LIKE + '''
train_data = keras.preprocessing.sequence.pad_sequences(train_data, value=word_index["<PAD>"], padding='post',
                                                        maxlen=256)
test_data = keras.preprocessing.sequence.pad_sequences(test_data, value=word_index["<PAD>"], padding='post',
                                                       maxlen=256)
vocab_size = 10000
model = keras.Sequential()
model.add(keras.layers.Embedding(vocab_size, 16))
model.add(keras.layers.GlobalAveragePooling1D())
model.add(keras.layers.Dense(16, activation='relu'))
model.add(keras.layers.Dense(1, activation='sigmoid'))
model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
x_val, partial_x_train = train_data[:1000], train_data[1000:]
y_val, partial_y_train = train_labels[:1000], train_labels[1000:]
history = model.fit(partial_x_train, partial_y_train, epochs=40, batch_size=512, validation_data=(x_val, y_val),
                    verbose=0)
results = model.evaluate(test_data, test_labels, verbose=2)
history_dict = history.history
model.summary()
'''


def test_text_classification_with_an_embedding(tmp_path, monkeypatch, numpy_backend, capsys):
    ns = run_script(TEXT_CLASSIFICATION, tmp_path, monkeypatch)
    loss, accuracy = ns["results"]
    assert accuracy >= 0.85
    assert sorted(ns["history_dict"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert ns["history_dict"]["val_loss"][-1] < ns["history_dict"]["val_loss"][0]
    assert ns["model"].layers[0].get_weights()[0].shape == (10000, 16)
    assert "(None, 256, 16)" in capsys.readouterr().out  # summary: the embedding's sequence output


# Deep Learning with Python (Chollet), chapter 6: an embedding learnt with the classifier, flattened.
EMBEDDING_FLATTEN = '''
import numpy as np
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Flatten, Dense, Embedding
from tensorflow.keras import preprocessing
''' + IMDB_LIKE + '''
max_features, maxlen = 10000, 20
x_train = preprocessing.sequence.pad_sequences(train_data, maxlen=maxlen)
x_test = preprocessing.sequence.pad_sequences(test_data, maxlen=maxlen)
model = Sequential()
model.add(Embedding(10000, 8, input_length=maxlen))
model.add(Flatten())
model.add(Dense(1, activation='sigmoid'))
model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['acc'])
history = model.fit(x_train, train_labels, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
test_loss, test_acc = model.evaluate(x_test, test_labels, verbose=0)
'''


def test_embedding_flattened_into_a_classifier(tmp_path, monkeypatch, numpy_backend):
    with pytest.warns(UserWarning, match="input_length"):  # deprecated in Keras 3, with this warning
        ns = run_script(EMBEDDING_FLATTEN, tmp_path, monkeypatch)
    assert ns["test_acc"] >= 0.75
    assert ns["model"].layers[1].output_shape == (160,)
    assert ns["history"].history["val_acc"][-1] > 0.7


# The Keras guide "The Functional API", its first model (MNIST there; the offline digits here, 64 features).
FUNCTIONAL_API = '''
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
''' + DIGITS + '''
inputs = keras.Input(shape=(64,))
dense = layers.Dense(64, activation="relu")
x = dense(inputs)
x = layers.Dense(64, activation="relu")(x)
outputs = layers.Dense(10)(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
model.summary()
x_train = train_images.reshape(1400, 64).astype("float32")
x_test = test_images.reshape(len(test_images), 64).astype("float32")
model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer=keras.optimizers.RMSprop(),
    metrics=["accuracy"],
)
history = model.fit(x_train, train_labels, batch_size=64, epochs=20, validation_split=0.2, verbose=0)
test_scores = model.evaluate(x_test, test_labels, verbose=2)
model.save("my_model.keras")
predictions = model.predict(x_test, verbose=0)
del model
model = keras.models.load_model("my_model.keras")
'''


def test_functional_api_guide(tmp_path, monkeypatch, numpy_backend, capsys):
    ns = run_script(FUNCTIONAL_API, tmp_path, monkeypatch)
    assert ns["test_scores"][1] >= 0.85
    assert "mnist_model" in capsys.readouterr().out
    assert [type(layer).__name__ for layer in ns["model"].layers] == ["InputLayer", "Dense", "Dense", "Dense"]
    np.testing.assert_allclose(ns["model"].predict(ns["x_test"], verbose=0), ns["predictions"], rtol=1e-6)


WIDE_AND_DEEP = '''
import numpy as np
import tensorflow as tf
# Shaped like scikit-learn's California housing table (8 features, a price in units of $100,000), drawn here.
rng = np.random.default_rng(42)
X = rng.normal([3.9, 28.6, 5.4, 1.1, 1425, 3.1, 35.6, -119.6], [1.9, 12.6, 2.5, 0.5, 1132, 10.4, 2.1, 2.0],
               size=(3000, 8)).astype("float32")
y = (0.4 * X[:, 0] + 0.01 * X[:, 1] - 0.1 * (X[:, 6] - 35.6) + rng.normal(0, 0.3, 3000)).astype("float32")
X_train, y_train = X[:2000], y[:2000]
X_valid, y_valid = X[2000:2500], y[2000:2500]
X_test, y_test = X[2500:], y[2500:]

tf.keras.utils.set_random_seed(42)
normalization_layer = tf.keras.layers.Normalization()
hidden_layer1 = tf.keras.layers.Dense(30, activation="relu")
hidden_layer2 = tf.keras.layers.Dense(30, activation="relu")
concat_layer = tf.keras.layers.Concatenate()
output_layer = tf.keras.layers.Dense(1)

input_ = tf.keras.layers.Input(shape=X_train.shape[1:])
normalized = normalization_layer(input_)
hidden1 = hidden_layer1(normalized)
hidden2 = hidden_layer2(hidden1)
concat = concat_layer([normalized, hidden2])
output = output_layer(concat)

model = tf.keras.Model(inputs=[input_], outputs=[output])
model.summary()
optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
model.compile(loss="mse", optimizer=optimizer, metrics=["RootMeanSquaredError"])
normalization_layer.adapt(X_train)
history = model.fit(X_train, y_train, epochs=20, validation_data=(X_valid, y_valid), verbose=0)
mse_test, rmse_test = model.evaluate(X_test, y_test)
X_new = X_test[:3]
y_pred = model.predict(X_new)
'''


def test_wide_and_deep_from_the_functional_api_chapter(tmp_path, monkeypatch, numpy_backend, capsys):
    """Geron's "Hands-On Machine Learning" (3rd ed., chapter 10): the input read again by a Concatenate, the
    Normalization adapted after the model is built (its statistics must reach the model)."""
    ns = run_script(WIDE_AND_DEEP, tmp_path, monkeypatch)
    assert "Connected to" in capsys.readouterr().out
    model, history = ns["model"], ns["history"].history
    np.testing.assert_allclose(np.asarray(ns["normalization_layer"].mean).reshape(-1), ns["X_train"].mean(axis=0), rtol=1e-4)
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    assert ns["rmse_test"] < 0.45 and abs(ns["mse_test"] - ns["rmse_test"] ** 2) < 1e-4
    # The wide path: the output reads the normalized features directly
    normalized = (ns["X_new"] - ns["X_train"].mean(axis=0)) / ns["X_train"].std(axis=0)
    hidden = model.predict(ns["X_new"], verbose=0)
    kernel, bias = ns["output_layer"].get_weights()
    deep = np.maximum(np.maximum(normalized @ ns["hidden_layer1"].get_weights()[0]
                                 + ns["hidden_layer1"].get_weights()[1], 0) @ ns["hidden_layer2"].get_weights()[0]
                      + ns["hidden_layer2"].get_weights()[1], 0)
    np.testing.assert_allclose(hidden, np.concatenate([normalized, deep], axis=1) @ kernel + bias, rtol=2e-3,
                               atol=2e-3)
    np.testing.assert_allclose(ns["y_pred"], hidden, rtol=1e-6)


WIDE_AND_DEEP_TWO_INPUTS = WIDE_AND_DEEP.split("tf.keras.utils.set_random_seed(42)")[0] + '''
tf.keras.utils.set_random_seed(42)
input_wide = tf.keras.layers.Input(shape=[5])  # features 0 to 4
input_deep = tf.keras.layers.Input(shape=[6])  # features 2 to 7
norm_layer_wide = tf.keras.layers.Normalization()
norm_layer_deep = tf.keras.layers.Normalization()
norm_wide = norm_layer_wide(input_wide)
norm_deep = norm_layer_deep(input_deep)
hidden1 = tf.keras.layers.Dense(30, activation="relu")(norm_deep)
hidden2 = tf.keras.layers.Dense(30, activation="relu")(hidden1)
concat = tf.keras.layers.concatenate([norm_wide, hidden2])
output = tf.keras.layers.Dense(1)(concat)
model = tf.keras.Model(inputs=[input_wide, input_deep], outputs=[output])

optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
model.compile(loss="mse", optimizer=optimizer, metrics=["RootMeanSquaredError"])

X_train_wide, X_train_deep = X_train[:, :5], X_train[:, 2:]
X_valid_wide, X_valid_deep = X_valid[:, :5], X_valid[:, 2:]
X_test_wide, X_test_deep = X_test[:, :5], X_test[:, 2:]
X_new_wide, X_new_deep = X_test_wide[:3], X_test_deep[:3]

norm_layer_wide.adapt(X_train_wide)
norm_layer_deep.adapt(X_train_deep)
history = model.fit((X_train_wide, X_train_deep), y_train, epochs=20,
                    validation_data=((X_valid_wide, X_valid_deep), y_valid), verbose=0)
mse_test = model.evaluate((X_test_wide, X_test_deep), y_test)
y_pred = model.predict((X_new_wide, X_new_deep))
'''


def test_wide_and_deep_with_two_inputs(tmp_path, monkeypatch, numpy_backend):
    """The same chapter's next model: the wide and the deep path fed by two inputs, data passed as tuples."""
    ns = run_script(WIDE_AND_DEEP_TWO_INPUTS, tmp_path, monkeypatch)
    history = ns["history"].history
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    assert ns["mse_test"][0] < 0.2 and ns["y_pred"].shape == (3, 1)
    np.testing.assert_allclose(np.asarray(ns["norm_layer_deep"].mean).reshape(-1),
                               ns["X_train_deep"].mean(axis=0), rtol=1e-4)
    model = ns["model"]
    np.testing.assert_allclose(model.predict([ns["X_new_wide"], ns["X_new_deep"]], verbose=0), ns["y_pred"],
                               rtol=1e-6)


# The chapter's lines that split the features for the two inputs and adapt their Normalization layers
_TWO_INPUT_DATA = WIDE_AND_DEEP_TWO_INPUTS[WIDE_AND_DEEP_TWO_INPUTS.index("X_train_wide, X_train_deep ="):
                                           WIDE_AND_DEEP_TWO_INPUTS.index("history = model.fit(")]

WIDE_AND_DEEP_AUXILIARY_OUTPUT = WIDE_AND_DEEP_TWO_INPUTS.split("output = tf.keras.layers.Dense(1)(concat)")[0] + '''
output = tf.keras.layers.Dense(1)(concat)
aux_output = tf.keras.layers.Dense(1)(hidden2)
model = tf.keras.Model(inputs=[input_wide, input_deep], outputs=[output, aux_output])

optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
model.compile(loss=("mse", "mse"), loss_weights=(0.9, 0.1), optimizer=optimizer,
              metrics=["RootMeanSquaredError"])

''' + _TWO_INPUT_DATA + '''history = model.fit(
    (X_train_wide, X_train_deep), (y_train, y_train), epochs=20,
    validation_data=((X_valid_wide, X_valid_deep), (y_valid, y_valid)), verbose=0
)
eval_results = model.evaluate((X_test_wide, X_test_deep), (y_test, y_test))
weighted_sum_of_losses, main_loss, aux_loss, main_rmse, aux_rmse = eval_results
y_pred_main, y_pred_aux = model.predict((X_new_wide, X_new_deep))
y_pred_tuple = model.predict((X_new_wide, X_new_deep))
y_pred = dict(zip(model.output_names, y_pred_tuple))
'''


def test_wide_and_deep_with_an_auxiliary_output(tmp_path, monkeypatch, numpy_backend):
    """The chapter's auxiliary output: two outputs, weighted losses, a flat metrics list for both outputs (as
    tf.keras took it), targets as a tuple, evaluate unpacked into five numbers, predict into two arrays."""
    ns = run_script(WIDE_AND_DEEP_AUXILIARY_OUTPUT, tmp_path, monkeypatch)
    history = ns["history"].history
    main, aux = ns["model"].output_names
    assert set(history) == {f"{prefix}{name}" for prefix in ("", "val_") for name in
                            ("loss", f"{main}_loss", f"{aux}_loss", f"{main}_RootMeanSquaredError",
                             f"{aux}_RootMeanSquaredError")}
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    assert ns["weighted_sum_of_losses"] == pytest.approx(0.9 * ns["main_loss"] + 0.1 * ns["aux_loss"], rel=1e-5)
    assert ns["main_loss"] < 0.25 and ns["main_rmse"] == pytest.approx(np.sqrt(ns["main_loss"]), rel=1e-4)
    assert ns["aux_rmse"] == pytest.approx(np.sqrt(ns["aux_loss"]), rel=1e-4)
    assert ns["y_pred_main"].shape == ns["y_pred_aux"].shape == (3, 1)
    assert sorted(ns["y_pred"]) == sorted([main, aux])
    np.testing.assert_array_equal(ns["y_pred"][main], ns["y_pred_main"])


WIDE_AND_DEEP_SUBCLASSED = WIDE_AND_DEEP_TWO_INPUTS.split("tf.keras.utils.set_random_seed(42)")[0] + '''
tf.keras.utils.set_random_seed(42)
class WideAndDeepModel(tf.keras.Model):
    def __init__(self, units=30, activation="relu", **kwargs):
        super().__init__(**kwargs)  # needed to support naming the model
        self.norm_layer_wide = tf.keras.layers.Normalization()
        self.norm_layer_deep = tf.keras.layers.Normalization()
        self.hidden1 = tf.keras.layers.Dense(units, activation=activation)
        self.hidden2 = tf.keras.layers.Dense(units, activation=activation)
        self.main_output = tf.keras.layers.Dense(1)
        self.aux_output = tf.keras.layers.Dense(1)

    def call(self, inputs):
        input_wide, input_deep = inputs
        norm_wide = self.norm_layer_wide(input_wide)
        norm_deep = self.norm_layer_deep(input_deep)
        hidden1 = self.hidden1(norm_deep)
        hidden2 = self.hidden2(hidden1)
        concat = tf.keras.layers.concatenate([norm_wide, hidden2])
        output = self.main_output(concat)
        aux_output = self.aux_output(hidden2)
        return output, aux_output

model = WideAndDeepModel(30, activation="relu", name="my_cool_model")
optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
model.compile(loss="mse", loss_weights=[0.9, 0.1], optimizer=optimizer,
              metrics=["RootMeanSquaredError"])
''' + _TWO_INPUT_DATA.replace("norm_layer_", "model.norm_layer_") + '''history = model.fit(
    (X_train_wide, X_train_deep), (y_train, y_train), epochs=10,
    validation_data=((X_valid_wide, X_valid_deep), (y_valid, y_valid)), verbose=0)
eval_results = model.evaluate((X_test_wide, X_test_deep), (y_test, y_test))
weighted_sum_of_losses, main_rmse, aux_rmse, main_loss, aux_loss = eval_results  # (Keras 3's order)
y_pred_main, y_pred_aux = model.predict((X_new_wide, X_new_deep))
'''


def test_wide_and_deep_as_a_subclassed_model(tmp_path, monkeypatch, numpy_backend):
    """The chapter's "Using the Subclassing API to Build Dynamic Models": layers made in __init__, wired in
    call(), compiled before the model has seen data (its two outputs known from call() at fit). Keras 3 refuses
    this compile (one loss given with two loss weights); tf.keras 2 ran it, and so does gpunn."""
    ns = run_script(WIDE_AND_DEEP_SUBCLASSED, tmp_path, monkeypatch)
    model, history = ns["model"], ns["history"].history
    assert model.name == "my_cool_model" and model.output_names == ["output_1", "output_2"]
    assert "val_RootMeanSquaredError_1" in history and "val_mse_loss" in history  # (Keras 3's names)
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    # both losses are "mse": Keras 3's logs keep one "mse_loss", the auxiliary output's, which evaluate lists twice
    assert ns["main_loss"] == ns["aux_loss"] and ns["aux_rmse"] == pytest.approx(np.sqrt(ns["aux_loss"]), rel=1e-4)
    assert ns["weighted_sum_of_losses"] > ns["main_rmse"] ** 2 * 0.9
    assert ns["y_pred_main"].shape == ns["y_pred_aux"].shape == (3, 1)
    np.testing.assert_allclose(np.asarray(model.norm_layer_deep.mean).reshape(-1), ns["X_train_deep"].mean(axis=0),
                               rtol=1e-4)
