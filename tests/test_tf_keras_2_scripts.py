"""Lines of tf.keras 2 scripts (checked against tf-keras 2.21 with TF_USE_LEGACY_KERAS=1) that Keras 3 changed:
metric functions named as Keras's metrics (``def precision``) in an HDF5 file, the feature extractor of a model
whose first layer took ``input_shape=``, the backend's ``K.variable`` / ``K.function`` family, ``period=`` of
ModelCheckpoint, ``batch_input_shape=``, ``predict_classes``, and the names Keras 3 gave logs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn
from gpunn import backend as K

X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
Y = (X[:, :1] > 0).astype("float32")


def precision(y_true, y_pred):  # the Keras 1 metric scripts kept writing, under Keras's metric name
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    return true_positives / (K.sum(K.round(K.clip(y_pred, 0, 1))) + K.epsilon())


def root_mean_squared_error(y_true, y_pred):
    return K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_functions_named_as_keras_s_metrics_save_and_load(numpy_backend, tmp_path, suffix):
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", root_mean_squared_error, metrics=["accuracy", precision])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[gpunn.callbacks.ModelCheckpoint(str(tmp_path / f"best{suffix}"))])
    model.save(tmp_path / f"m{suffix}")
    custom = {"precision": precision, "root_mean_squared_error": root_mean_squared_error}
    for name in ("m", "best"):
        loaded = gpunn.models.load_model(tmp_path / f"{name}{suffix}", custom_objects=custom)
        assert loaded.metrics_names == model.metrics_names
        np.testing.assert_allclose(loaded.evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("first", [
    lambda: gpunn.layers.Dense(8, activation="relu", input_shape=(4,)),
    lambda: gpunn.layers.Dense(8, activation="relu", input_dim=4),
    lambda: gpunn.layers.Dense(8, activation="relu", batch_input_shape=(None, 4)),
], ids=["input_shape", "input_dim", "batch_input_shape"])
def test_the_feature_extractor_of_a_model_whose_first_layer_took_its_shape(numpy_backend, first):
    model = gpunn.Sequential([first(), gpunn.layers.Dense(3), gpunn.layers.Dense(1)])
    assert model.layers[0].input is model.input
    kernel, bias = model.layers[0].get_weights()
    features = gpunn.Model(model.input, model.layers[0].output)
    np.testing.assert_allclose(features.predict(X, verbose=0), np.maximum(X @ kernel + bias, 0), rtol=1e-6)
    every = gpunn.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    np.testing.assert_allclose(every.predict(X, verbose=0)[-1], model.predict(X, verbose=0), rtol=1e-6)


def test_k_variable_in_a_loss_is_read_at_each_step(numpy_backend):
    """The well-known weighted_categorical_crossentropy: class weights in K.variable, changed by K.set_value."""
    class_weights = K.variable([1.0, 2.0, 3.0])

    def weighted_categorical_crossentropy(y_true, y_pred):
        y_pred = K.clip(y_pred / K.sum(y_pred, axis=-1, keepdims=True), K.epsilon(), 1 - K.epsilon())
        return -K.sum(y_true * K.log(y_pred) * class_weights, -1)

    labels = np.eye(3, dtype="float32")[np.arange(16) % 3]
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3, activation="softmax")])
    model.compile("sgd", weighted_categorical_crossentropy)
    plain = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3, activation="softmax")])
    plain.compile("sgd", "categorical_crossentropy")
    plain.set_weights(model.get_weights())
    K.set_value(class_weights, np.ones(3))
    assert model.evaluate(X, labels, verbose=0) == pytest.approx(plain.evaluate(X, labels, verbose=0), rel=1e-6)
    K.set_value(class_weights, [1.0, 1.0, 2.0])
    assert model.evaluate(X, labels, verbose=0) > plain.evaluate(X, labels, verbose=0)


def test_the_backend_s_value_makers_and_k_function(numpy_backend):
    assert K.get_value(K.zeros((2, 3))).shape == (2, 3) and K.get_value(K.ones(2)).tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(K.get_value(K.eye(2)), np.eye(2))
    assert K.count_params(K.ones((3, 4))) == 12
    np.testing.assert_array_equal(np.asarray(K.gather(np.arange(6).reshape(3, 2), [2, 0])), [[4, 5], [0, 1]])
    np.testing.assert_array_equal(np.asarray(K.arange(4)), [0, 1, 2, 3])
    np.testing.assert_array_equal(np.asarray(K.tile(np.array([1.0, 2.0]), 2)), [1, 2, 1, 2])
    np.testing.assert_array_equal(np.asarray(K.repeat_elements(np.array([1.0, 2.0]), 2, axis=0)), [1, 1, 2, 2])
    np.testing.assert_array_equal(np.asarray(K.reverse(np.arange(3.0), 0)), [2, 1, 0])
    # Keras 2's K.repeat is RepeatVector's (samples, n, dim); K.logsumexp reduces as tf.reduce_logsumexp
    np.testing.assert_array_equal(np.asarray(K.repeat(np.array([[1.0, 2.0], [3.0, 4.0]]), 3))[1], [[3, 4]] * 3)
    np.testing.assert_allclose(np.asarray(K.logsumexp(np.log(np.array([[1.0, 3.0]])), axis=1)), [np.log(4.0)])
    assert np.asarray(K.random_normal((5,), seed=1)).shape == (5,)
    assert set(np.asarray(K.random_bernoulli((20,), p=0.5, seed=1)).tolist()) <= {0.0, 1.0}
    model = gpunn.Sequential([gpunn.layers.Dense(5, activation="relu", input_shape=(4,)), gpunn.layers.Dense(2)])
    hidden = K.function([model.input], [model.layers[0].output])
    kernel, bias = model.layers[0].get_weights()
    (values,) = hidden([X])
    np.testing.assert_allclose(values, np.maximum(X @ kernel + bias, 0), rtol=1e-6)


@pytest.mark.parametrize("name, says", [
    ("learning_phase", "gpunn has no learning phase"),
    ("in_train_phase", "has no learning phase: a layer's call\\(\\) takes training=None"),
    ("batch_dot", "keras.ops.matmul multiplies batches of matrices"),
    ("get_session", "no TensorFlow sessions or placeholders"),
    ("gradients", "gpunn builds no graph of symbolic updates or gradients"),
    ("conv2d", "does not provide convolution and pooling operations"),
])
def test_backend_names_gpunn_leaves_out_say_why(name, says):
    from gpunn.beyond_mlps import LeftOutError

    with pytest.raises(LeftOutError, match=f"keras.backend.{name}: .*{says}"):
        getattr(K, name)()


def test_metric_functions_give_values_with_numpy(numpy_backend):
    y_true, y_pred = np.array([[1.0], [0.0]]), np.array([[0.8], [0.7]])
    assert gpunn.metrics.binary_accuracy(y_true, y_pred).numpy().tolist() == [[1.0], [0.0]]
    assert gpunn.metrics.sparse_categorical_accuracy(np.array([1, 0]), np.eye(2)).numpy().tolist() == [0.0, 0.0]


def test_l1_l2_without_factors_warns_that_it_penalizes_nothing():
    with pytest.warns(UserWarning, match=r"l1_l2\(\) without arguments penalizes nothing.*tf.keras 2's l1_l2"):
        assert gpunn.regularizers.l1_l2().get_config() == {"l1": 0.0, "l2": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gpunn.regularizers.l1_l2(l2=0.01).get_config() == {"l1": 0.0, "l2": 0.01}
        assert gpunn.regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}  # tf.keras 2's string


def test_model_checkpoint_s_period(numpy_backend, tmp_path):
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.warns(UserWarning, match="`period` argument is deprecated"):
        checkpoint = gpunn.callbacks.ModelCheckpoint(str(tmp_path / "w{epoch:02d}.weights.h5"), period=2,
                                                     save_weights_only=True)
    model.fit(X, Y, epochs=5, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w02.weights.h5", "w04.weights.h5"]
    with pytest.raises(ValueError, match="period"):
        gpunn.callbacks.ModelCheckpoint(str(tmp_path / "w.h5"), period=0)


def test_predict_classes_and_predict_proba_of_tf_keras_2_5(numpy_backend):
    several = gpunn.Sequential([gpunn.layers.Dense(3, activation="softmax", input_shape=(4,))])
    one = gpunn.Sequential([gpunn.layers.Dense(1, activation="sigmoid", input_shape=(4,))])
    with pytest.warns(UserWarning, match=r"`model.predict_classes\(\)` is deprecated"):
        np.testing.assert_array_equal(several.predict_classes(X), several.predict(X, verbose=0).argmax(axis=-1))
    with pytest.warns(UserWarning, match=r"`model.predict_classes\(\)` is deprecated"):
        classes = one.predict_classes(X)
    assert classes.dtype == np.int32
    np.testing.assert_array_equal(classes, (one.predict(X, verbose=0) > 0.5).astype("int32"))
    with pytest.warns(UserWarning, match=r"`model.predict_proba\(\)` is deprecated"):
        np.testing.assert_array_equal(several.predict_proba(X), several.predict(X, verbose=0))


def test_a_log_asked_by_its_tf_keras_2_name_says_the_name_it_has(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(X, Y, epochs=1, verbose=0).history
    with pytest.raises(KeyError, match="learning rate is logged as 'learning_rate' .tf.keras 2 called it 'lr'"):
        history["lr"]
    with pytest.raises(KeyError, match="'acc': this run logged 'accuracy'"):
        history["acc"]
    with pytest.raises(KeyError, match="^'val_loss'$"):
        history["val_loss"]
    assert history.get("lr") is None and sorted(history) == ["accuracy", "loss"]


def test_an_hdf5_file_s_sparse_crossentropy_is_one_tf_keras_2_reads(numpy_backend, tmp_path):
    """tf.keras 2's SparseCategoricalCrossentropy takes no ``axis``: the HDF5 file leaves the default out (with it,
    tf-keras 2.21's load_model of a legacy-optimizer file failed), and the loss reads back as axis -1."""
    import h5py
    import json

    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3, activation="softmax")])
    model.compile(gpunn.optimizers.legacy.SGD(lr=0.05, momentum=0.9), "sparse_categorical_crossentropy")
    labels = np.arange(16) % 3
    model.fit(X, labels, epochs=1, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        loss = json.loads(f.attrs["training_config"])["loss"]
    assert loss["class_name"] == "SparseCategoricalCrossentropy" and "axis" not in loss["config"]
    loaded = gpunn.models.load_model(tmp_path / "m.h5")
    assert loaded.loss.get_config()["axis"] == -1
    assert loaded.evaluate(X, labels, verbose=0) == pytest.approx(model.evaluate(X, labels, verbose=0), rel=1e-6)


TOKENIZER_SCRIPT = r'''
import json, sys
import numpy as np


def run(text_module):
    T = text_module
    texts = ["The cat sat on the mat.", "The dog ate my homework!", "Cats and dogs, the end", "", "mat mat mat"]
    out = {}
    for kw in [{}, {"num_words": 5}, {"num_words": 5, "oov_token": "<OOV>"}, {"char_level": True},
               {"lower": False}]:
        t = T.Tokenizer(**kw)
        t.fit_on_texts(texts)
        config = json.loads(T.tokenizer_from_json(t.to_json()).to_json())["config"]
        out[json.dumps(kw)] = {
            "word_index": t.word_index, "sequences": t.texts_to_sequences(texts + ["unknown cat"]),
            "texts": t.sequences_to_texts([[1, 2, 3, 99]]),
            "matrices": {mode: t.texts_to_matrix(texts, mode=mode).round(12).tolist()
                         for mode in ["binary", "count", "freq", "tfidf"]},
            "config": {k: json.loads(v) if isinstance(v, str) and v[:1] == "{" else v for k, v in config.items()}}
    t = T.Tokenizer(num_words=6)
    t.fit_on_sequences([[1, 2], [2, 3, 3]])
    out["fit_on_sequences"] = t.sequences_to_matrix([[1, 2, 9], [3, 3]], mode="tfidf").tolist()
    out["words"] = T.text_to_word_sequence("Hello, World! a-b")
    out["md5"] = T.hashing_trick("a b c", 10, "md5")
    return out
'''


def test_tokenizer_is_keras_s(numpy_backend):
    """tf.keras 2's Tokenizer (Keras's reuters_mlp: sequences_to_matrix(x, mode="binary")) against the copy Keras 3
    keeps of it (keras/src/legacy/preprocessing/text.py)."""
    from helpers import run_keras

    from gpunn.preprocessing import text

    theirs = run_keras(TOKENIZER_SCRIPT + '''
from keras.src.legacy.preprocessing import text
print(json.dumps(run(text)))
''', {})
    namespace: dict = {}
    exec(compile(TOKENIZER_SCRIPT, "tokenizer_script.py", "exec"), namespace)
    import json

    assert json.loads(json.dumps(namespace["run"](text))) == theirs


def test_class_weight_with_a_loss_function_of_the_script_s_on_class_ids(numpy_backend):
    """Targets of one value per sample are class ids whatever the loss (Keras's rule); the same run as with
    the built-in sparse cross-entropy, ids given as a vector or a column."""
    labels = np.arange(16) % 3

    def my_scce(y_true, y_pred):
        return gpunn.losses.sparse_categorical_crossentropy(y_true, y_pred)

    histories = []
    for loss in (my_scce, "sparse_categorical_crossentropy"):
        for targets in (labels, labels.reshape(-1, 1)):
            gpunn.utils.set_random_seed(1)
            model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3, activation="softmax")])
            model.compile("sgd", loss)
            histories.append(model.fit(X, targets, class_weight={0: 2.0, 1: 1.0, 2: 0.5}, epochs=2, shuffle=False,
                                       verbose=0).history["loss"])
    for history in histories[1:]:
        np.testing.assert_allclose(history, histories[0], rtol=1e-6)
    model.compile("sgd", my_scce)
    with pytest.raises(ValueError, match="class_weight: targets of one value per sample are class ids.*got 3"):
        model.fit(X, np.full(16, 3), class_weight={0: 2.0}, verbose=0)


def test_a_metric_of_the_script_s_naming_its_weights_first(numpy_backend):
    """tf.keras 2's Metric.add_weight(name, ...), as "Hands-On Machine Learning"'s HuberMetric writes it."""
    class MeanAbsolute(gpunn.metrics.Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.total = self.add_weight("total", initializer="zeros")
            self.count = self.add_weight("count", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(K.sum(K.abs(y_true - y_pred)))
            self.count.assign_add(K.cast(K.shape(y_true)[0], "float32"))

        def result(self):
            return self.total / self.count

    class PerColumn(gpunn.metrics.Metric):  # tf.keras 2's order: name first, shape by keyword
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.sums = self.add_weight("sums", shape=(2,), initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.sums.assign_add(K.sum(y_pred, axis=0))

        def result(self):
            return K.sum(self.sums)

    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=[MeanAbsolute(name="mine"), "mae"])
    _, mine, mae = model.evaluate(X, Y, verbose=0)
    assert mine == pytest.approx(mae, rel=1e-6)
    assert [v.name for v in model.metrics[1].variables] == ["total", "count"]
    columns = PerColumn()
    columns.update_state(np.zeros((2, 2)), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert float(columns.result()) == 10.0 and columns.variables[0].shape == (2,)


def test_train_and_test_on_batch_without_resetting_the_metrics(numpy_backend):
    """reset_metrics=False (tf.keras 2): a hand-written epoch loop's running values are fit's epoch logs."""
    def model():
        gpunn.utils.set_random_seed(3)
        made = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1)])
        made.compile("sgd", "mse", metrics=["mae"])
        return made

    history = model().fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    by_hand, running = model(), []
    for _ in range(2):
        for start in range(0, 16, 4):
            values = by_hand.train_on_batch(X[start:start + 4], Y[start:start + 4], reset_metrics=False)
        running.append(values)
        by_hand.reset_metrics()
    np.testing.assert_allclose(running, np.array([history["loss"], history["mae"]]).T, rtol=1e-12)
    for start in range(0, 16, 4):
        values = by_hand.test_on_batch(X[start:start + 4], Y[start:start + 4], reset_metrics=False)
    np.testing.assert_allclose(values, by_hand.evaluate(X, Y, batch_size=4, verbose=0), rtol=1e-12)


def test_an_activation_registered_by_name(numpy_backend):
    def scaled_tanh(x):
        return 2.0 * K.tanh(x)

    with gpunn.utils.custom_object_scope({"scaled_tanh": scaled_tanh,
                                          "scaled_tanh_layer": gpunn.layers.Activation(scaled_tanh)}):
        for name in ("scaled_tanh", "scaled_tanh_layer"):
            model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(2, activation=name)])
            kernel, bias = model.get_weights()
            np.testing.assert_allclose(model.predict(X, verbose=0), 2 * np.tanh(X @ kernel + bias), rtol=1e-5)
    with pytest.raises(ValueError, match="activation: unknown name 'scaled_tanh'"):
        gpunn.layers.Dense(2, activation="scaled_tanh")


def test_add_loss_of_a_function_in_call(numpy_backend):
    """tf.keras 2's zero-argument form, self.add_loss(lambda: ...): its value at the call."""
    class Scale(gpunn.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, inputs):
            self.add_loss(lambda: 1e-3 * K.sum(K.abs(self.w)))
            return inputs * self.w

    model = gpunn.Sequential([gpunn.Input((4,)), Scale(), gpunn.layers.Dense(1, kernel_initializer="zeros")])
    model.compile("sgd", "mse")
    assert model.evaluate(X, np.zeros((16, 1)), verbose=0) == pytest.approx(4e-3, rel=1e-6)


def test_tf_keras_2_names_gone_or_dropped(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse", experimental_run_tf_function=False, sample_weight_mode=None)  # (tf.keras 2 drops them)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['target_tensors'\]"):
        model.compile("sgd", "mse", target_tensors=[])
    with pytest.raises(RuntimeError, match=r"`model.to_yaml\(\)` has been removed .* Please use `model.to_json\(\)`"):
        model.to_yaml()
    with pytest.raises(RuntimeError, match=r"`model_from_yaml\(\)` has been removed"):
        gpunn.models.model_from_yaml("")
    assert gpunn.callbacks.Callback().validation_data is None
    with pytest.raises(ValueError, match="add_loss: .*a layer of your own whose call.. does self.add_loss"):
        model.add_loss(np.float32(1.0))
    with pytest.raises(NotImplementedError, match="add_metric: .*make it an output of the model"):
        model.add_metric(np.float32(1.0), name="one")


def test_standalone_keras_2_import_paths_and_keras_1_names(numpy_backend):
    """from keras.layers.core import Dense..., keras.constraints.maxnorm: standalone Keras 2's paths; Keras 1's
    argument names (which Keras 2.0-2.3 took with a warning) are refused naming Keras 2's."""
    from gpunn.constraints import maxnorm
    from gpunn.layers.advanced_activations import LeakyReLU
    from gpunn.layers.core import Activation, Dense, Dropout
    from gpunn.layers.merge import concatenate
    from gpunn.layers.normalization import BatchNormalization

    assert (Dense, Dropout, Activation, LeakyReLU, BatchNormalization) == (
        gpunn.layers.Dense, gpunn.layers.Dropout, gpunn.layers.Activation, gpunn.layers.LeakyReLU,
        gpunn.layers.BatchNormalization)
    assert concatenate is gpunn.layers.concatenate and maxnorm is gpunn.constraints.MaxNorm
    assert gpunn.constraints.get("maxnorm").get_config()["max_value"] == 2
    with pytest.raises(TypeError, match=r"Dense: unexpected keyword argument\(s\) \['W_regularizer', 'init'\] \(Keras "
                                        r"1's names; in Keras 2 and 3: W_regularizer is kernel_regularizer, init is "
                                        r"kernel_initializer\)"):
        gpunn.layers.Dense(3, init="uniform", W_regularizer=None)
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"fit: unexpected keyword argument\(s\) \['nb_epoch'\] .*nb_epoch is epochs"):
        model.fit(X, Y, nb_epoch=2, verbose=0)
    with pytest.raises(TypeError, match=r"fit_generator: .*samples_per_epoch is steps_per_epoch \(batches"):
        model.fit_generator(iter([]), samples_per_epoch=16)


def test_callbacks_monitor_a_metric_of_one_value_in_an_array(numpy_backend):
    """F1Score of a one-unit output gives one value in an array: EarlyStopping follows it, as tf.keras 2 did; a
    metric of several values (one per class) is refused by name."""
    labels = (X[:, :1] > 0).astype("float32")
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[gpunn.metrics.F1Score(name="f1", threshold=0.5)])
    stop = gpunn.callbacks.EarlyStopping(monitor="val_f1", mode="max", patience=1, restore_best_weights=True)
    history = model.fit(X, labels, validation_data=(X, labels), epochs=3, verbose=0, callbacks=[stop])
    assert stop.best == pytest.approx(max(float(np.ravel(v)[0]) for v in history.history["val_f1"]))
    several = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3, activation="softmax")])
    several.compile("sgd", "categorical_crossentropy", metrics=[gpunn.metrics.F1Score(name="f1")])
    one_hot = np.eye(3, dtype="float32")[np.arange(16) % 3]
    with pytest.raises(ValueError, match="monitor='val_f1' holds 3 values .* average='macro'"):
        several.fit(X, one_hot, validation_data=(X, one_hot), epochs=1, verbose=0,
                    callbacks=[gpunn.callbacks.EarlyStopping(monitor="val_f1", mode="max")])


def test_model_checkpoint_of_a_metric_in_an_array_saves_every_time_as_keras_3(numpy_backend, tmp_path):
    labels = (X[:, :1] > 0).astype("float32")
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[gpunn.metrics.F1Score(name="f1")])
    checkpoint = gpunn.callbacks.ModelCheckpoint(str(tmp_path / "m{epoch}.keras"), monitor="val_f1", mode="max",
                                                 save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only when `monitor` is a scalar value"):
        model.fit(X, labels, validation_data=(X, labels), epochs=2, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1.keras", "m2.keras"]
