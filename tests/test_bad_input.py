"""Every bad input fails with a clear error before any work: the exception type, a message that names the
argument, what was expected and what came, and a model left exactly as it was."""
from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401

import gpunn
from gpunn import activations, initializers, layers, losses, metrics, optimizers, regularizers
from gpunn.models import NotAModelFileError, NotBuiltError, load_model

N, FEATURES, CLASSES = 20, 64, 10


@pytest.fixture
def model():
    m = gpunn.Sequential([gpunn.Input(shape=(FEATURES,)), layers.Dense(8, activation="relu"),
                          layers.Dense(CLASSES, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.fixture
def xy(rng):
    return rng.uniform(0, 1, (N, FEATURES)).astype("float32"), rng.integers(0, CLASSES, N)


def expect(exc_type, *fragments):
    """pytest.raises whose message must contain every fragment (each escaped: plain text)."""
    return pytest.raises(exc_type, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


class Untouched:
    """Asserts a model's weights, optimizer step count and history are as they were."""

    def __init__(self, m):
        self.model = m
        self.weights = m.get_weights()
        self.iterations = m.optimizer.iterations if m.optimizer is not None else None
        self.history = m.history

    def check(self):
        for a, b in zip(self.weights, self.model.get_weights()):
            np.testing.assert_array_equal(a, b)
        if self.iterations is not None:
            assert self.model.optimizer.iterations == self.iterations
            assert getattr(self.model.optimizer, "slots", {}) == {} or all(
                not np.any(np.asarray(s)) for s in self.model.optimizer.slots.values())
        assert self.model.history is self.history


# ---- data --------------------------------------------------------------------------------------------------


def _bad_data_cases(x, y):
    nan_x = x.copy()
    nan_x[3, 5] = np.nan
    inf_x = x.copy()
    inf_x[0, 0] = np.inf
    nan_y = y.astype("float64")
    nan_y[7] = np.nan
    return {
        "input_shape": (dict(x=x[:, :63], y=y), ValueError,
                        ["x:", "expected samples of shape (64,)", "got samples of shape (63,)"]),
        "input_rank": (dict(x=x.reshape(N, 8, 8), y=y), ValueError, ["x:", "(64,)", "(8, 8)"]),
        "label_too_high": (dict(x=x, y=np.where(np.arange(N) == 4, 10, y)), ValueError,
                           ["y:", "labels must be integers in [0, 10)", "10 output units", "got 10 at index 4"]),
        "label_negative": (dict(x=x, y=np.where(np.arange(N) == 2, -1, y)), ValueError,
                           ["y:", "[0, 10)", "got -1 at index 2"]),
        "label_not_integer": (dict(x=x, y=np.where(np.arange(N) == 1, 2.5, y)), ValueError,
                              ["y:", "expected integer class ids", "2.5"]),
        "nan_in_x": (dict(x=nan_x, y=y), ValueError, ["x:", "expected finite values", "NaN", "index (3, 5)"]),
        "inf_in_x": (dict(x=inf_x, y=y), ValueError, ["x:", "expected finite values", "inf", "(0, 0)"]),
        "nan_in_y": (dict(x=x, y=nan_y), ValueError, ["y:", "expected finite values", "NaN", "(7,)"]),
        "string_x": (dict(x=np.full((N, FEATURES), "0.5"), y=y), TypeError,
                     ["x:", "expected numeric data", "dtype <U3"]),
        "object_x": (dict(x=np.array([{"a": 1}] * N, dtype=object), y=y), TypeError,
                     ["x:", "expected numeric data", "dtype object"]),
        "ragged_x": (dict(x=[[0.1, 0.2], [0.3]], y=y[:2]), TypeError, ["x:", "expected numeric array-like data"]),
        "string_y": (dict(x=x, y=np.array(["cat"] * N)), TypeError, ["y:", "expected numeric data", "<U3"]),
        "empty_x": (dict(x=np.zeros((0, FEATURES), "float32"), y=np.zeros(0, int)), ValueError,
                    ["x:", "expected at least one sample", "empty array of shape (0, 64)"]),
        "scalar_x": (dict(x=np.float32(1.0), y=y), ValueError, ["x:", "batch dimension", "scalar"]),
        "none_x": (dict(x=None, y=y), ValueError, ["x:", "expected an array of samples", "None"]),
        "length_mismatch": (dict(x=x, y=y[:-1]), ValueError,
                            ["y:", "expected 20 targets (one per sample of x)", "got 19"]),
        "one_hot_for_sparse_loss": (dict(x=x, y=np.eye(CLASSES)[y]), ValueError,
                                    ["y:", "SparseCategoricalCrossentropy expects integer class ids",
                                     "of shape (samples,)", "got shape (20, 10)", "categorical_crossentropy"]),
    }


@pytest.mark.parametrize("case", list(_bad_data_cases(np.zeros((N, FEATURES)), np.zeros(N, int))))
def test_fit_rejects_bad_data_before_any_work(case, model, xy):
    kwargs, exc_type, fragments = _bad_data_cases(*xy)[case]
    before = Untouched(model)
    with expect(exc_type, *fragments):
        model.fit(kwargs["x"], kwargs["y"], epochs=1, verbose=0)
    before.check()
    # evaluate checks the same way.
    with expect(exc_type, *fragments):
        model.evaluate(kwargs["x"], kwargs["y"], verbose=0)
    before.check()


@pytest.mark.parametrize("case", ["label_too_high", "nan_in_x", "one_hot_for_sparse_loss", "input_shape"])
def test_validation_data_is_checked_too(case, model, xy):
    x, y = xy
    kwargs, exc_type, fragments = _bad_data_cases(x, y)[case]
    fragments = [f.replace("x:", "validation_data[0]:").replace("y:", "validation_data[1]:") for f in fragments]
    before = Untouched(model)
    with expect(exc_type, *fragments):
        model.fit(x, y, validation_data=(kwargs["x"], kwargs["y"]), epochs=1, verbose=0)
    before.check()


def test_predict_rejects_bad_inputs(model, xy):
    x, _ = xy
    with expect(ValueError, "x:", "(64,)", "(10,)"):
        model.predict(x[:, :10], verbose=0)
    bad = x.copy()
    bad[1, 1] = np.nan
    with expect(ValueError, "x:", "finite"):
        model.predict(bad, verbose=0)
    with expect(TypeError, "x:", "numeric"):
        model.predict([["a"] * FEATURES], verbose=0)


def test_categorical_loss_rejects_class_ids(xy):
    x, y = xy
    m = gpunn.Sequential([gpunn.Input(shape=(FEATURES,)), layers.Dense(CLASSES, activation="softmax")])
    m.compile(optimizer="sgd", loss="categorical_crossentropy")
    before = Untouched(m)
    with expect(ValueError, "y:", "CategoricalCrossentropy expects one-hot targets of shape (samples, 10)",
                "class ids of shape (20,)", "to_categorical", "sparse_categorical_crossentropy"):
        m.fit(x, y, verbose=0)
    with expect(ValueError, "y:", "expected targets of shape (samples, 10)", "got shape (20, 3)"):
        m.fit(x, np.zeros((N, 3)), verbose=0)
    before.check()


def test_binary_crossentropy_warns_of_targets_outside_0_1_and_computes_them_as_keras(xy):
    x, _ = xy
    m = gpunn.Sequential([gpunn.Input(shape=(FEATURES,)), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    y = np.arange(N) % 3.0
    with pytest.warns(UserWarning, match=r"y: targets outside \[0, 1\] given to binary cross-entropy.*"
                                         "'sparse_categorical_crossentropy'"):
        loss = m.evaluate(x, y, verbose=0)
    p = np.clip(m.predict(x, verbose=0)[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    assert loss == pytest.approx(float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))), rel=1e-5)


def test_regression_target_with_inf(xy):
    x, _ = xy
    m = gpunn.Sequential([gpunn.Input(shape=(FEATURES,)), layers.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    y = np.zeros((N, 2))
    y[5, 1] = -np.inf
    before = Untouched(m)
    with expect(ValueError, "y:", "finite", "(5, 1)"):
        m.fit(x, y, verbose=0)
    before.check()


def test_model_without_input_shape_is_not_built_by_bad_data(xy):
    x, y = xy
    m = gpunn.Sequential([layers.Dense(4), layers.Dense(CLASSES, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    bad = x.copy()
    bad[0, 0] = np.nan
    with expect(ValueError, "x:", "finite"):
        m.fit(bad, y, verbose=0)
    assert not m.built


# ---- fit arguments -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, exc_type, fragments", [
    (dict(batch_size=-1), ValueError, ["batch_size: expected a positive integer, got -1"]),
    (dict(batch_size=0), ValueError, ["batch_size: expected a positive integer, got 0"]),
    (dict(batch_size=2.5), ValueError, ["batch_size: expected a positive integer, got 2.5"]),
    (dict(validation_split=1.0), ValueError, ["validation_split: expected a number in [0, 1), got 1.0"]),
    (dict(validation_split=-0.2), ValueError, ["validation_split: expected a number in [0, 1), got -0.2"]),
    (dict(validation_split=0.99), ValueError, ["validation_split: 0.99 of 20 samples",
                                               "empty training or validation set"]),
    (dict(validation_data=[1, 2, 3, 4]), ValueError, ["validation_data: expected a tuple (x_val, y_val)"]),
    (dict(verbose=3), ValueError, ["verbose: expected 'auto', 0, 1 or 2, got 3"]),
    (dict(epochs=2, initial_epoch=-1), ValueError, ["initial_epoch: expected a non-negative integer, got -1"]),
    (dict(validation_freq=0), ValueError, ["validation_freq: expected a positive integer or a list of epoch numbers, "
                                           "got 0"]),
    (dict(steps_per_epoch=-2), ValueError, ["steps_per_epoch: expected a positive integer, got -2"]),
])
def test_fit_rejects_bad_arguments_before_any_work(kwargs, exc_type, fragments, model, xy):
    x, y = xy
    before = Untouched(model)
    with expect(exc_type, *fragments):
        model.fit(x, y, **{"verbose": 0, **kwargs})
    before.check()


def test_fit_needs_targets(model, xy):
    with expect(ValueError, "y:", "fit needs targets", "None"):
        model.fit(xy[0], verbose=0)


def test_evaluate_and_predict_reject_bad_batch_size(model, xy):
    x, y = xy
    with expect(ValueError, "batch_size: expected a positive integer, got 0"):
        model.evaluate(x, y, batch_size=0, verbose=0)
    with expect(ValueError, "batch_size: expected a positive integer, got -4"):
        model.predict(x, batch_size=-4, verbose=0)


# ---- unknown names, with a close-match suggestion ---------------------------------------------------------


@pytest.mark.parametrize("make, argument, typo, suggestion", [
    (optimizers.get, "optimizer", "adma", "adam"),
    (losses.get, "loss", "categorical_crossentropi", "categorical_crossentropy"),
    (activations.get, "activation", "rellu", "relu"),
    (lambda n: metrics.get(n), "metrics", "acuracy", "accuracy"),
    (initializers.get, "initializer", "glorot_unifrom", "glorot_uniform"),
    (regularizers.get, "regularizer", "l1_l3", "l1_l2"),
])
def test_unknown_names_suggest_the_closest(make, argument, typo, suggestion):
    with expect(ValueError, f"{argument}: unknown name {typo!r}", "expected one of [", suggestion,
                f"Did you mean {suggestion!r}?"):
        make(typo)


def test_unknown_names_through_the_public_api(model):
    with expect(ValueError, "Did you mean 'adam'?"):
        model.compile(optimizer="adma", loss="mse")
    with expect(ValueError, "loss: unknown name 'sparse_categorical_crossentropyy'",
                "Did you mean 'sparse_categorical_crossentropy'?"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropyy")
    with expect(ValueError, "metrics: unknown name 'acuracy'", "Did you mean 'accuracy'?"):
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    with expect(ValueError, "activation: unknown name 'sigmod'", "Did you mean 'sigmoid'?"):
        layers.Dense(3, activation="sigmod")
    with expect(ValueError, "activation: unknown name 'tanhh'", "Did you mean 'tanh'?"):
        layers.Activation("tanhh")
    with expect(ValueError, "initializer: unknown name 'he_normall'", "Did you mean 'he_normal'?"):
        layers.Dense(3, kernel_initializer="he_normall")
    with expect(ValueError, "regularizer: unknown name 'l22'", "Did you mean 'l2'?"):
        layers.Dense(3, kernel_regularizer="l22")
    with expect(ValueError, "backend: expected one of ('auto', 'numpy', 'cupy'), got 'nupmy'",
                "Did you mean 'numpy'?"):
        gpunn.set_backend("nupmy")
    with expect(ValueError, "backend:", "got 'numpy2'", "Did you mean 'numpy'?"):
        with gpunn.use_backend("numpy2"):
            pass


def test_names_are_case_and_dash_tolerant():
    assert type(optimizers.get("Adam")) is optimizers.Adam
    assert activations.get("Leaky-ReLU").name == "leaky_relu"
    assert type(losses.as_loss("Sparse_Categorical_Crossentropy")) is losses.SparseCategoricalCrossentropy


def test_functions_of_the_user_s_become_keras_s_wrappers():
    """A loss or metric function is Keras's LossFunctionWrapper / MeanMetricWrapper of it (gpunn.autodiff
    differentiates it), as an activation function is (test_users_activations.py)."""
    def my_loss(y_true, y_pred):
        return 0.0

    def my_metric(y_true, y_pred):
        return 0.0

    assert isinstance(losses.as_loss(my_loss), losses.FunctionLoss) and losses.as_loss(my_loss).name == "my_loss"
    assert isinstance(metrics.get(my_metric), metrics.MeanMetricWrapper) and metrics.get(my_metric).name == "my_metric"


def test_non_string_names_are_type_errors():
    with expect(TypeError, "optimizer: expected a name (str), got int 3"):
        optimizers.get(3)
    with pytest.raises((TypeError, ValueError), match="metrics"):
        gpunn.Sequential([gpunn.Input(shape=(2,)), layers.Dense(1)]).compile(loss="mse", metrics=3)


# ---- order of use ------------------------------------------------------------------------------------------


def test_fit_and_evaluate_before_compile(xy):
    x, y = xy
    m = gpunn.Sequential([gpunn.Input(shape=(FEATURES,)), layers.Dense(CLASSES, activation="softmax")])
    weights = m.get_weights()
    for call, name in [(lambda: m.fit(x, y, verbose=0), "fit"), (lambda: m.evaluate(x, y, verbose=0), "evaluate"),
                       (lambda: m.train_on_batch(x, y), "train_on_batch"),
                       (lambda: m.test_on_batch(x, y), "test_on_batch")]:
        with expect(RuntimeError, f"{name}: the model must be compiled first", "model.compile("):
            call()
        with pytest.raises(ValueError):  # (what Keras raises: a script's `except ValueError` catches it)
            call()
    m.compile(optimizer="adam")  # no loss
    for kind in (RuntimeError, ValueError):
        with expect(kind, "fit: the model was compiled without a loss", "compile(loss="):
            m.fit(x, y, verbose=0)
    for a, b in zip(weights, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    # predict needs no compile.
    assert m.predict(x, verbose=0).shape == (N, CLASSES)


@pytest.mark.parametrize("what", ["save", "save_weights", "count_params", "input_shape"])
def test_unbuilt_model_raises_not_built_error(what, tmp_path):
    m = gpunn.Sequential([layers.Dense(4), layers.Dense(2)])
    assert m.get_weights() == []  # Keras's: the weights of no layer built yet (test_build_config.py)
    calls = {
        "save": lambda: m.save(tmp_path / "m.h5"),
        "save_weights": lambda: m.save_weights(tmp_path / "w.h5"),
        "count_params": lambda: m.count_params(),
        "input_shape": lambda: m.input_shape,
    }
    with expect(NotBuiltError, f"{what}:", "has not been built yet", "build(input_shape)", "gpunn.Input(shape=...)"):
        calls[what]()
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "w.h5").exists()
    assert issubclass(NotBuiltError, ValueError)  # what Keras raises there


def test_build_without_any_input_shape_says_how():
    m = gpunn.Sequential([layers.Dense(4)])
    with expect(NotBuiltError, "build:", "input shape is unknown", "build(input_shape)"):
        m.build()


def test_model_with_no_layers():
    m = gpunn.Sequential()
    with expect(ValueError, "predict: the model has no layers"):
        m.predict(np.zeros((2, 3)), verbose=0)
    with expect(ValueError, "build:", "no layers"):
        m.build((None, 3))
    with expect(ValueError, "pop: the model has no layers"):
        m.pop()


def test_sequential_rejects_non_layers_and_duplicate_names():
    with expect(ValueError, "Only instances of `keras.Layer` can be added to a Sequential model. Received: 'dense'"):
        gpunn.Sequential(["dense"])  # (Keras's message)
    with expect(ValueError, "layer: the model already has another layer named 'same'"):
        gpunn.Sequential([layers.Dense(2, name="same"), layers.Dense(2, name="same")])
    with expect(ValueError, "Input/InputLayer can only be the first layer"):
        gpunn.Sequential([layers.Dense(2), gpunn.Input(shape=(3,))])


# ---- files that are not gpunn models -----------------------------------------------------------------------


def _not_model_files(tmp_path, rng):
    from safetensors.numpy import save_file

    files = {
        "random_bytes": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "empty": b"",
        "text": b"This is a plain text file, not a model.\n" * 10,
        "hdf5": b"\x89HDF\r\n\x1a\n" + bytes(1024),
        "json": b'{"class_name": "Sequential"}',
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.h5"
        paths[name].write_bytes(content)
    paths["safetensors_plain"] = tmp_path / "plain.safetensors"
    save_file({"w": np.ones((2, 2), np.float32)}, str(paths["safetensors_plain"]))
    paths["safetensors_other_format"] = tmp_path / "other.safetensors"
    save_file({"w": np.ones(3, np.float32)}, str(paths["safetensors_other_format"]), metadata={"format": "pt"})
    return paths


NOT_MODELS = ["random_bytes", "empty", "text", "hdf5", "json", "safetensors_plain", "safetensors_other_format"]


@pytest.mark.parametrize("kind", NOT_MODELS)
def test_files_that_are_not_gpunn_models(kind, tmp_path, rng, model):
    path = _not_model_files(tmp_path, rng)[kind]
    fragments = ["filepath:", str(path), "gpunn model file"]
    if kind == "hdf5":
        fragments.append("HDF5")
    with expect(NotAModelFileError, *fragments):
        load_model(path)
    before = Untouched(model)
    with expect(NotAModelFileError, "filepath:", str(path)):
        model.load_weights(path)
    before.check()
    assert issubclass(NotAModelFileError, ValueError)


def test_missing_file(tmp_path):
    with expect(FileNotFoundError, "filepath: no such file", "nope.h5"):
        load_model(tmp_path / "nope.h5")


# ---- constructor arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make, exc_type, fragments", [
    (lambda: layers.Dense(units=0), ValueError, ["units: expected a positive integer, got 0"]),
    (lambda: layers.Dense(units=-3), ValueError, ["units: expected a positive integer, got -3"]),
    (lambda: layers.Dense(units=2.5), ValueError, ["units: expected a positive integer, got 2.5"]),
    (lambda: layers.Dense(units=True), ValueError, ["units: expected a positive integer, got True"]),
    (lambda: layers.Dropout(rate=1.5), ValueError, ["rate: expected a number in [0, 1), got 1.5"]),
    (lambda: layers.Dropout(rate=1.0), ValueError, ["rate: expected a number in [0, 1), got 1.0"]),
    (lambda: layers.Dropout(rate=-0.1), ValueError, ["rate: expected a number in [0, 1), got -0.1"]),
    (lambda: layers.Dense(3, dtype="int32"), ValueError, ["dtype: expected a floating dtype", "'int32'"]),
    (lambda: layers.Dense(3, bogus=1), TypeError, ["Dense: unexpected keyword argument(s) ['bogus']"]),
    (lambda: gpunn.Input(shape=(0,)), ValueError, ["shape: expected positive dimensions, got (0,)"]),
    (lambda: gpunn.Input(shape="abc"), ValueError, ["shape: expected a tuple of positive ints"]),  # (Keras's type)
    (lambda: layers.InputLayer(), ValueError, ["shape: InputLayer needs the input shape"]),
    (lambda: layers.BatchNormalization(momentum=1.5), ValueError, ["momentum: expected a number in [0, 1], got 1.5"]),
    (lambda: layers.BatchNormalization(axis=1), ValueError, ["axis: only the last axis (-1) is supported, got 1"]),
    (lambda: layers.LayerNormalization(epsilon=0), ValueError, ["epsilon: expected a positive number, got 0"]),
    (lambda: optimizers.SGD(momentum=1.5), ValueError, ["momentum: expected a number in [0", "1.0], got 1.5"]),
    (lambda: optimizers.Adam(beta_1=1.0), ValueError, ["beta_1: expected a number in [0", "1.0), got 1.0"]),
    (lambda: optimizers.Adam(weight_decay=-1), ValueError, ["weight_decay: expected a finite number >= 0", "got -1"]),
    (lambda: optimizers.Adam(foo=1), TypeError, ["Adam: unexpected keyword argument(s) ['foo']"]),
    (lambda: regularizers.l2(-0.1), ValueError, ["l2: expected a finite non-negative number, got -0.1"]),
    (lambda: losses.MeanSquaredError(reduction="total"), ValueError,
     ["reduction: expected one of", "got 'total'"]),
    (lambda: activations.elu(np.zeros(3), alpha="wide"), ValueError, ["alpha: expected a finite number", "'wide'"]),
])
def test_bad_constructor_arguments(make, exc_type, fragments):
    with expect(exc_type, *fragments):
        make()


def test_compile_rejects_unsupported_arguments(model):
    with expect(ValueError, "loss_weights: expected one weight per output (1:", "got 2"):
        model.compile(optimizer="adam", loss="mse", loss_weights=[1.0, 2.0])
    with expect(ValueError, "loss_weights['", "expected a finite number, got nan"):
        model.compile(optimizer="adam", loss="mse", loss_weights=float("nan"))
    with expect(ValueError, "loss: expected one loss per output (1:", "got 2"):
        model.compile(optimizer="adam", loss=["mse", "mae"])
    with expect(TypeError, "compile: unexpected keyword argument(s) ['auto_scale_loss_']"):
        model.compile(optimizer="adam", loss="mse", auto_scale_loss_=False)
    with expect(ValueError, "weighted_metrics", "nope"):
        model.compile(optimizer="adam", loss="mse", weighted_metrics=["nope"])


def test_layers_of_different_dtypes():
    with expect(ValueError, "dtype: all layers of a model must share one dtype", "float32", "float64"):
        gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2, dtype="float32"), layers.Dense(2, dtype="float64")])


@pytest.mark.parametrize("epochs, shown", [(-1, "-1"), (2.5, "2.5"), ("3", "'3'")])
def test_bad_epochs_are_named(epochs, shown, model, xy):
    x, y = xy
    before = Untouched(model)
    with expect(ValueError, "epochs: expected a non-negative integer", f"got {shown}"):
        model.fit(x, y, epochs=epochs, verbose=0)
    before.check()


# ---- Keras forms gpunn does not take, refused by name ---------------------------------------------------------


@pytest.mark.parametrize("make, message", [
    (lambda: gpunn.Input((1,), dtype="object"), r"dtype: expected a numeric dtype or 'string' \(for strings, read by a "
                                                r"StringLookup layer\), got 'object'"),
])
def test_inputs_gpunn_cannot_take_are_refused_when_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_inputs_of_one_name_are_refused_as_keras_refuses_them():
    first = gpunn.Input((4,), name="features")
    output = gpunn.layers.Dense(1)(first)
    second = gpunn.Input((4,), name="features")
    with pytest.raises(ValueError, match="the name 'features' is used 2 times among the model's inputs"):
        gpunn.Model([first, second], output)
    with pytest.raises(ValueError, match="another Input of that name: names must be unique"):
        gpunn.Model(second, output)


def test_a_model_with_a_train_step_and_no_call_is_refused_for_its_train_step():
    class Distiller(gpunn.Model):
        def __init__(self, student):
            super().__init__()
            self.student = student

        def train_step(self, data):
            return {}

    with pytest.raises(gpunn.overrides.OverrideNotSupportedError, match=r"Distiller.train_step: a model without a call"):
        Distiller(gpunn.layers.Dense(1))


def test_an_eager_value_prints_and_formats_its_number():
    loss = gpunn.ops.mean(np.arange(4.0, dtype=np.float32))
    assert f"{loss:.3f}" == "1.500" and str(loss) == "1.5" and "value=" in repr(loss)


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_a_string_for_x_without_targets_names_x_not_y(call):
    """Keras's data adapters: "Unrecognized data type: x=Invalid"; not a complaint about the missing targets."""
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"^x: expected arrays of samples.*got str 'Invalid'"):
        getattr(model, call)("Invalid")


def test_messages_say_how_to_mend_the_common_slips(model, xy):
    """A single sample without its batch axis, 0/1 labels given to a sparse loss over one unit, and pandas
    columns that are not numbers: each message says what to do."""
    x, _ = xy
    with pytest.raises(ValueError, match=re.escape("for one sample, give it a batch axis: x[None] (shape (1, 64))")):
        model.predict(x[0], verbose=0)
    one_unit = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(1, activation="sigmoid")])
    one_unit.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"1 output unit; got 1 .*use 'binary_crossentropy'$"):
        one_unit.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), verbose=0)
    pd = pytest.importorskip("pandas", reason="pandas is not installed (pip install pandas)")
    two = gpunn.Sequential([gpunn.Input((2,)), layers.Dense(1)])
    for column, hint in ((pd.Series([1, 2]).astype(object), "convert it (pd.to_numeric)"),
                         (pd.Categorical(["a", "b"]), "(.cat.codes)")):
        with pytest.raises(TypeError, match=r"^x: column 'd' has dtype .*" + re.escape(hint)):
            two.predict(pd.DataFrame({"a": [1.0, 2.0], "d": column}), verbose=0)


def test_mean_squared_and_absolute_error_take_two_arguments_as_keras_s():
    """A third argument by position (a sample weight, as the migration guide's compute_loss passes one) was taken
    as from_logits and ignored; Keras's functions take two, and its classes no from_logits."""
    y, p = np.ones((4, 2)), np.zeros((4, 2))
    for function in (losses.mean_squared_error, losses.mean_absolute_error, metrics.mean_squared_error):
        with pytest.raises(TypeError, match="takes 2 positional arguments but 3 were given"):
            function(y, p, np.ones(4))
    for cls in (losses.MeanSquaredError, losses.MeanAbsoluteError):
        with pytest.raises(TypeError, match=rf"{cls.__name__}.__init__\(\) got an unexpected keyword argument "
                                            "'from_logits'"):
            cls(from_logits=True)
    assert losses.BinaryCrossentropy(from_logits=True).from_logits  # (the cross-entropies take it)


def test_a_layer_given_a_nested_structure_is_told_to_flatten_it():
    class Pair(gpunn.layers.Layer):
        def call(self, inputs):
            return inputs["foo"] + inputs["bar"]["baz"]

    a = np.ones((2, 1), "float32")
    with pytest.raises(ValueError, match=r"^inputs: layer 'pair' is given a nested structure \(item 'bar' is a "
                                         r"dict\)"):
        Pair(name="pair")({"foo": a, "bar": {"baz": a}})
    with pytest.raises(ValueError, match=r"nested structure \(item 'bar' is a dict\)"):
        Pair(name="pair_graph")({"foo": gpunn.Input((1,)), "bar": {"baz": gpunn.Input((1,))}})
    assert layers.Dense(2)([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)  # (lists of numbers: one array's data)


def test_differentiating_a_model_with_jax_says_to_train_it_with_fit():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(1)])
    with pytest.raises(TypeError, match="not differentiated by jax.grad or jax.jit .* train them with model.fit"):
        jax.grad(lambda x: jax.numpy.sum(model(x)))(jax.numpy.ones((2, 3)))


def test_a_count_of_another_type_is_a_type_error_as_in_keras_and_a_value_error(model, xy):
    """``epochs=np.mean(best_epochs)``: Keras's range() raises TypeError; gpunn's checks raised ValueError. The
    error is both, so either except clause catches it."""
    x, y = xy
    for kwargs in (dict(epochs=np.float64(3.5)), dict(batch_size=2.5), dict(steps_per_epoch="2")):
        for kind in (TypeError, ValueError):
            with pytest.raises(kind, match="expected a (non-negative|positive) integer"):
                model.fit(x, y, verbose=0, **kwargs)


def test_a_name_misspelt_in_compile_gets_no_advice_about_loading_files():
    """The load_model advice fits a name read from a file; a name given to compile gets the closest name, and
    'accuracy' given as the loss is told it is a metric."""
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(2, activation="softmax")])
    for kwargs, expected in ((dict(loss="sparse_categorial_crossentropy"),
                              "Did you mean 'sparse_categorical_crossentropy'?"),
                             (dict(loss="accuracy"), "'accuracy' is a metric: give it in metrics=[...]"),
                             (dict(loss="mse", metrics=["accurcy"]), "Did you mean 'accuracy'?")):
        with pytest.raises(ValueError, match=re.escape(expected)) as raised:
            model.compile("sgd", **kwargs)
            model.fit(np.ones((2, 3)), np.array([0, 1]), verbose=0)
        assert "load_model" not in str(raised.value)
