"""Arguments that used to pass their constructors and fail (or silently spoil training) later: NaN and negative
hyperparameters, schedules giving negative rates, callback thresholds and verbosity, initializers' spreads,
file paths. Each is refused by name when the object is made, before any work. Also what Keras takes and gpunn
now takes with it: tf.keras 2's ``epsilon=None``, ``compile(auto_scale_loss=...)``, ``load_weights(by_name=True)``,
bfloat16 data, one output's ``sample_weight`` in a list. And what is reported instead of passing silently: a
validation loss that overflows, weights saved with NaN in them."""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn
from gpunn import callbacks, initializers, layers, optimizers, regularizers
from gpunn.optimizers import legacy, schedules

NAN = math.nan

REFUSED = [
    (lambda: optimizers.SGD(0.01, use_ema=True, ema_momentum=NAN), "ema_momentum"),
    (lambda: optimizers.Adam(epsilon=NAN), "epsilon"),
    (lambda: optimizers.RMSprop(epsilon=-1.0), "epsilon"),
    (lambda: optimizers.AdamW(weight_decay=NAN), "weight_decay"),
    (lambda: optimizers.SGD(weight_decay="a"), "weight_decay"),
    (lambda: optimizers.SGD(clipvalue=NAN), "clipvalue"),
    (lambda: optimizers.SGD(clipnorm=NAN), "clipnorm"),
    (lambda: optimizers.SGD(global_clipnorm=NAN), "global_clipnorm"),
    (lambda: legacy.SGD(0.05, decay=NAN), "decay"),
    (lambda: legacy.SGD(0.05, decay=math.inf), "decay"),
    (lambda: schedules.ExponentialDecay(NAN, 10, 0.9), "initial_learning_rate"),
    (lambda: schedules.ExponentialDecay(0.1, 10, NAN), "decay_rate"),
    (lambda: schedules.InverseTimeDecay(0.1, 1, -1.0), "decay_rate"),
    (lambda: schedules.InverseTimeDecay(0.1, 1, NAN), "decay_rate"),
    (lambda: schedules.PiecewiseConstantDecay([2], [0.01, -0.5]), r"values\[1\]"),
    (lambda: schedules.PiecewiseConstantDecay([2], [0.01, NAN]), r"values\[1\]"),
    (lambda: schedules.PiecewiseConstantDecay([-2], [0.01, 0.1]), r"boundaries\[0\]"),
    (lambda: schedules.CosineDecay(0.0, 4, warmup_target=-0.05, warmup_steps=2), "warmup_target"),
    (lambda: schedules.CosineDecay(0.0, 4, warmup_target=NAN, warmup_steps=2), "warmup_target"),
    (lambda: schedules.CosineDecay(0.1, 4, warmup_target=0.2, warmup_steps=-1), "warmup_steps"),
    (lambda: regularizers.l1(NAN), "l1"),
    (lambda: regularizers.l2(math.inf), "l2"),
    (lambda: layers.LeakyReLU(negative_slope=NAN), "negative_slope"),
    (lambda: layers.ReLU(max_value=NAN), "max_value"),
    (lambda: layers.ReLU(threshold=math.inf), "threshold"),
    (lambda: initializers.Constant(NAN), "value"),
    (lambda: initializers.Constant([1.0, NAN]), "value"),
    (lambda: initializers.RandomNormal(stddev=-1.0), "stddev"),
    (lambda: initializers.RandomNormal(mean=NAN), "mean"),
    (lambda: initializers.TruncatedNormal(stddev=NAN), "stddev"),
    (lambda: initializers.RandomUniform(1.0, -1.0), "maxval"),
    (lambda: initializers.Orthogonal(gain=NAN), "gain"),
    (lambda: layers.Dense(4, dtype="float8"), "dtype"),
    (lambda: callbacks.EarlyStopping(baseline=NAN), "baseline"),
    (lambda: callbacks.EarlyStopping(baseline="a"), "baseline"),
    (lambda: callbacks.EarlyStopping(verbose="x"), "verbose"),
    (lambda: callbacks.ReduceLROnPlateau(verbose=-1), "verbose"),
    (lambda: callbacks.ModelCheckpoint("m.keras", save_best_only=True, initial_value_threshold=NAN),
     "initial_value_threshold"),
    (lambda: callbacks.ModelCheckpoint(5), "filepath"),
    (lambda: callbacks.CSVLogger(5), "filename"),
    (lambda: callbacks.CSVLogger("log.csv", separator=",,"), "separator"),
    (lambda: optimizers.SGD(gradient_accumulation_steps="2"), r"gradient_accumulation_steps='2'"),
]


@pytest.mark.parametrize("make, argument", REFUSED, ids=[argument for _, argument in REFUSED])
def test_refused_by_name_when_made(make, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        make()


def _model(units=1):
    model = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(units, kernel_initializer="ones")])
    return model


def _data(n=12):
    x = np.linspace(-1, 1, 3 * n, dtype="float32").reshape(n, 3)
    return x, x.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "Adagrad", "Adamax", "Adadelta"])
def test_legacy_epsilon_none_is_the_backend_epsilon(numpy_backend, name):
    """tf.keras 2's optimizers took ``epsilon=None`` as the backend's (1e-7); scripts of those years pass it."""
    given, default = (getattr(legacy, name)(epsilon=epsilon) for epsilon in (None, 1e-7))
    assert given.epsilon == default.epsilon == pytest.approx(1e-7)


def test_auto_scale_loss_is_taken(numpy_backend):
    model = _model()
    model.compile("sgd", "mse", auto_scale_loss=False)  # (Keras's: loss scaling under mixed_float16 only)
    with pytest.raises(ValueError, match="auto_scale_loss"):
        model.compile("sgd", "mse", auto_scale_loss="yes")


def test_bfloat16_data_trains_as_its_float32_values(numpy_backend):
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays come from ml_dtypes (JAX's)")
    x, y = _data()
    x16 = x.astype(ml_dtypes.bfloat16)
    histories = []
    for features in (x16, x16.astype(np.float32)):
        model = _model()
        model.compile("sgd", "mse")
        histories.append(model.fit(features, y, batch_size=4, shuffle=False, verbose=0).history)
    assert histories[0] == histories[1]


def test_one_output_s_sample_weight_in_a_list(numpy_backend):
    x, y = _data()
    weights = np.linspace(0.5, 2.0, len(x))
    histories = []
    for sample_weight in ([weights], weights):
        model = _model()
        model.compile("sgd", "mse")
        histories.append(model.fit(x, y, sample_weight=sample_weight, batch_size=4, shuffle=False,
                                   verbose=0).history)
    assert histories[0] == histories[1]


def test_load_weights_by_name_from_a_tf_keras_hdf5_file(numpy_backend, tmp_path):
    """Keras's ``by_name=True``: each layer of the file into the model's layers of its name, the others kept;
    a layer of that name whose weights differ is refused, or skipped with ``skip_mismatch``."""
    source = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(4, name="a"), layers.Dense(2, name="b")])
    source.set_weights([np.arange(w.size, dtype="float32").reshape(w.shape) for w in source.get_weights()])
    path = str(tmp_path / "m.h5")
    source.save(path)
    target = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(4, name="a"), layers.Dense(5, name="c"),
                               layers.Dense(2, name="z")])
    before = target.get_weights()
    target.load_weights(path, by_name=True)
    after = target.get_weights()
    np.testing.assert_array_equal(after[0], source.get_weights()[0])
    for kept, now in zip(before[2:], after[2:]):
        np.testing.assert_array_equal(kept, now)
    other = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(4, name="a"), layers.Dense(3, name="b")])
    first = other.get_weights()[0]
    with pytest.raises(ValueError, match="Shape mismatch in layer #\\d+ \\(named b\\)"):
        other.load_weights(path, by_name=True)
    np.testing.assert_array_equal(other.get_weights()[0], first)  # nothing set before the refusal
    with pytest.warns(UserWarning, match=r"Skipping loading of weights: Shape mismatch in layer #\d+ \(named b\)"):
        other.load_weights(path, by_name=True, skip_mismatch=True)
    np.testing.assert_array_equal(other.get_weights()[0], source.get_weights()[0])
    with_dropout = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(4, name="a"), layers.Dropout(0.5, name="d")])
    with_dropout.save(str(tmp_path / "d.h5"))
    named_like_it = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(4, name="d")])
    with pytest.raises(ValueError, match=r"Weight count mismatch for layer #\d+ \(named d\)"):  # as Keras's
        named_like_it.load_weights(str(tmp_path / "d.h5"), by_name=True)
    source.save_weights(str(tmp_path / "m.weights.h5"))
    with pytest.raises(ValueError, match="by_name: only supports loading legacy"):
        target.load_weights(str(tmp_path / "m.weights.h5"), by_name=True)


def test_an_overflowing_validation_loss_is_reported(numpy_backend):
    x, y = _data()
    model = _model()
    model.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own overflow warning
        warnings.filterwarnings("error", message="fit: the validation loss is inf", category=RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="in epoch 1/2, while the training loss is finite"):
            model.fit(x, y, validation_data=(np.full_like(x, 1e20), y), epochs=2, verbose=0)


def test_weights_saved_with_nan_in_them_are_reported(numpy_backend, tmp_path):
    model = _model()
    weights = model.get_weights()
    weights[0][0, 0] = np.nan
    model.set_weights(weights)
    for name in ("m.keras", "w.weights.h5", "w.safetensors"):
        save = model.save if name.endswith(".keras") else model.save_weights
        with pytest.warns(RuntimeWarning, match=r"the weights of \['dense(_\d+)?'\] hold NaN or inf values"):
            save(str(tmp_path / name))
        assert os.path.exists(tmp_path / name)  # saved all the same, as Keras saves them


def test_a_backup_folder_that_cannot_be_made_is_named_before_training(numpy_backend, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    x, y = _data()
    model = _model()
    model.compile("sgd", "mse")
    with pytest.raises(OSError, match="backup_dir: cannot make or use the folder"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(str(blocker / "backup"))])
    assert model.optimizer.iterations == 0


ACCEPTED = [
    lambda: layers.ReLU(max_value=math.inf),  # no cap
    lambda: initializers.Constant(-math.inf),
    lambda: initializers.RandomNormal(stddev=np.array(0.1)),  # a 0-d array, as NumPy arithmetic gives
    lambda: initializers.RandomUniform(np.float32(-0.1), np.float32(0.1)),
    lambda: callbacks.EarlyStopping(baseline=math.inf),
    lambda: callbacks.ModelCheckpoint("m.keras", save_best_only=True, initial_value_threshold=math.inf),
    lambda: optimizers.Adam(weight_decay=np.float32(0.01), epsilon=np.float32(1e-7), ema_momentum=np.float32(0.9)),
    lambda: schedules.PiecewiseConstantDecay([np.int64(2)], [np.float32(0.1), 0.0]),
    lambda: schedules.CosineDecay(0.0, 4, warmup_target=np.float32(0.1), warmup_steps=np.int64(2)),
    lambda: regularizers.l2(np.float32(0.01)),
]


@pytest.mark.parametrize("make", ACCEPTED)
def test_what_keras_takes_is_still_taken(make):
    make()


def test_validation_batch_size_0_is_the_batch_size_as_in_keras(numpy_backend):
    x, y = _data()
    model = _model()
    model.compile("sgd", "mse")
    history = model.fit(x, y, validation_data=(x, y), validation_batch_size=0, batch_size=4, verbose=0)
    assert len(history.history["val_loss"]) == 1


def test_the_shared_number_check_words_every_refusal_alike():
    from gpunn.number_arguments import finite_number, positive_number

    assert finite_number("a", np.float32(0.5)) == 0.5 and type(finite_number("a", np.asarray(2.0))) is float
    assert finite_number("a", 3, keep_int=True) == 3 and type(finite_number("a", np.int64(3), keep_int=True)) is int
    assert finite_number("a", None, allow_none=True) is None
    assert finite_number("a", math.inf, allow_inf=True) == math.inf
    assert positive_number("a", math.inf, allow_inf=True) == math.inf and positive_number("a", 1) == 1.0
    for value, kwargs, message in [
            (NAN, {}, "a: expected a finite number, got nan"),
            (True, {}, "a: expected a finite number, got True"),
            ("1", {"minimum": 0}, "a: expected a finite number >= 0, got '1'"),
            (-1.0, {"minimum": 0.0, "maximum": 1.0}, "a: expected a finite number >= 0.0 <= 1.0, got -1.0"),
            (-math.inf, {"allow_inf": True}, "a: expected a finite number, got -inf"),
            (None, {}, "a: expected a finite number, got None"),
            (np.zeros(2), {"allow_none": True}, "a: expected a finite number or None, got array"),
    ]:
        with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
            finite_number("a", value, **kwargs)
    for value, kwargs, message in [(0, {}, "b: expected a positive number, got 0"),
                                   (NAN, {"allow_none": True}, "b: expected a positive number or None, got nan"),
                                   (math.inf, {}, "b: expected a positive number, got inf")]:
        with pytest.raises(ValueError, match="^" + message):
            positive_number("b", value, **kwargs)
