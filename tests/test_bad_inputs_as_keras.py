"""Wrong or unusual arguments of an MLP script, as Keras 3 takes them: refused before any work where Keras refuses
them (naming the argument), warned where Keras warns, accepted where Keras accepts them (NumPy scalars as
hyperparameters); and what gpunn refuses beyond Keras because Keras would train on nonsense."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn
from gpunn import layers

SCRIPT = r'''
import json, sys, warnings
import numpy as np

def run(keras, folder):
    out = {}
    layers = keras.layers
    for shape in [(2.5,), ("4",)]:
        try:
            keras.Input(shape)
            out[f"input {shape}"] = "accepted"
        except (TypeError, ValueError):
            out[f"input {shape}"] = "refused"

    # weights whose shapes would follow an axis of any length
    for name, make in (("dense_on_any_length", lambda: keras.Sequential([keras.Input((None,)), layers.Dense(3)])),
                       ("dense_on_the_features_of_any_length_steps",
                        lambda: keras.Sequential([keras.Input((None, 5)), layers.Dense(3)]))):
        try:
            out[name] = [list(w.shape) for w in make().get_weights()]
        except ValueError:
            out[name] = "refused"

    # numpy float32 hyperparameters, as arithmetic on a NumPy array gives them
    rate = np.float32(0.2)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4), layers.Dropout(rate), layers.GaussianNoise(rate),
                              layers.LeakyReLU(negative_slope=rate), layers.Dense(1)])
    schedule = keras.optimizers.schedules.ExponentialDecay(np.float32(0.01), np.int64(10), np.float32(0.9))
    model.compile(keras.optimizers.SGD(schedule, clipnorm=np.float32(1.0)), "mse")
    history = model.fit(np.ones((10, 3), "float32"), np.ones((10, 1), "float32"), validation_split=rate, epochs=1,
                        verbose=0)
    out["float32_hyperparameters"] = sorted(history.history)
    model.save(f"{folder}/float32.keras")
    out["float32_saved"] = keras.models.load_model(f"{folder}/float32.keras").layers[1].get_config()["rate"]

    # Flatten's data_format: channels_first samples read channels last first
    x = np.arange(2 * 3 * 4 * 2, dtype="float32").reshape(2, 3, 4, 2)
    for data_format in (None, "channels_first"):
        flat = keras.Sequential([keras.Input((3, 4, 2)), layers.Flatten(data_format=data_format)])
        out[f"flatten {data_format}"] = [flat.predict(x, verbose=0)[0, :6].tolist(),
                                         flat.layers[0].get_config()["data_format"]]
    try:
        layers.Flatten(data_format="x")
        out["flatten bad"] = "accepted"
    except ValueError:
        out["flatten bad"] = "refused"

    # 'accuracy' of a one-unit output is binary, whatever the loss
    one = keras.Sequential([keras.Input((2,)), layers.Dense(1, activation="sigmoid")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        one.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
        one.fit(np.array([[0.0, 1], [1, 0], [1, 1], [0, 0]], "float32"), np.array([[1.0], [0], [1], [0]], "float32"),
                epochs=1, verbose=0)
    out["one_unit_accuracy"] = [type(m).__name__ for m in one.metrics if "ccuracy" in type(m).__name__] or \
        [type(m).__name__ for inner in one.metrics for m in getattr(inner, "metrics", [])
         if "ccuracy" in type(m).__name__]
    out["one_unit_cce_warned"] = any("num_classes > 1" in str(w.message) for w in caught)

    try:
        keras.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
        out["clipnorm and clipvalue"] = "accepted"
    except ValueError:
        out["clipnorm and clipvalue"] = "refused"
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("case", ["input (2.5,)", "input ('4',)", "dense_on_any_length",
                                  "dense_on_the_features_of_any_length_steps", "float32_hyperparameters",
                                  "float32_saved",
                                  "flatten None", "flatten channels_first", "flatten bad", "one_unit_accuracy",
                                  "one_unit_cce_warned", "clipnorm and clipvalue"])
def test_as_in_keras(both, case):
    ours, theirs = both
    if case == "one_unit_accuracy":  # Keras lists its compiled metrics inside one container
        assert ours[case] == theirs[case] == ["BinaryAccuracy"]
        return
    assert ours[case] == theirs[case]


def test_a_non_integer_dimension_names_the_shape(numpy_backend):
    with pytest.raises(ValueError, match=r"shape: .*2\.5 is a float"):
        gpunn.Input((2.5,))


def test_flatten_channels_first_trains_the_same_replayed(numpy_backend):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 3, 4, 2)).astype("float32"), rng.normal(size=(24, 1)).astype("float32")
    runs = []
    for jit in (False, True):
        model = gpunn.Sequential([gpunn.Input((3, 4, 2)), layers.Flatten(data_format="channels_first"),
                                  layers.Dense(1, kernel_initializer="ones")])
        model.compile("sgd", "mse", jit_compile=jit)
        runs.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"])
        runs.append(model.get_weights()[0])
    assert runs[0] == runs[2]
    np.testing.assert_array_equal(runs[1], runs[3])


def test_integers_beyond_the_floats_exact_range_are_refused_above_2_to_the_53(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((1,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="exact up to 16,777,216"):
        model.predict(np.array([[2 ** 62 + 1]], "int64"), verbose=0)
    model.predict(np.array([[20_000_000]], "int64"), verbose=0)  # a float32 exactly


def _model():
    model = gpunn.Sequential([gpunn.Input((2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_a_checkpoint_of_weights_into_a_keras_file_is_refused_before_training(numpy_backend, tmp_path):
    with pytest.raises(ValueError, match=r"\.keras file holds a whole model"):
        gpunn.callbacks.ModelCheckpoint(str(tmp_path / "w.keras"), save_weights_only=True)


def test_a_misspelt_monitor_of_the_best_checkpoint_is_refused_not_saved_each_epoch(numpy_backend, tmp_path):
    path = tmp_path / "best.keras"
    checkpoint = gpunn.callbacks.ModelCheckpoint(str(path), monitor="val_los", save_best_only=True)
    with pytest.raises(ValueError, match="monitor='val_los'"):
        _model().fit(np.ones((8, 2)), np.ones((8, 1)), validation_split=0.25, epochs=2, verbose=0,
                     callbacks=[checkpoint])
    assert not path.exists()


def test_class_weight_on_targets_that_are_not_classes_is_refused(numpy_backend):
    with pytest.raises(ValueError, match=r"class_weight: the targets of a one-unit output are its classes.*-1\.0"):
        _model().fit(np.zeros((4, 2)), np.array([[-1.0], [0.3], [0.7], [1.6]]), class_weight={0: 5.0}, verbose=0)
    _model().fit(np.zeros((4, 2)), np.array([[0.0], [1], [0.2], [1]]), class_weight={0: 5.0}, verbose=0)


def test_a_softmax_over_one_unit_and_logits_after_an_activation_are_warned(numpy_backend):
    with pytest.warns(UserWarning, match="softmax over axis -1 of a tensor of shape \\(None, 1\\)"):
        gpunn.Sequential([gpunn.Input((2,)), layers.Dense(1, activation="softmax")])
    model = gpunn.Sequential([gpunn.Input((2,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", gpunn.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="received `from_logits=True`, but the `output` argument was produced by a "
                                         "Softmax activation"):
        model.fit(np.ones((4, 2)), np.array([0, 1, 2, 1]), verbose=0)


def test_legacy_optimizers_take_clipvalue_beside_a_norm_as_tf_keras_2_did():
    optimizer = gpunn.optimizers.legacy.SGD(clipnorm=1.0, clipvalue=0.5)
    assert (optimizer.clipnorm, optimizer.clipvalue) == (1.0, 0.5)


@pytest.mark.parametrize("error", [OverflowError("Python int too large to convert to C ssize_t"),
                                   UnicodeEncodeError("utf-8", "\udcc5", 0, 1, "surrogates not allowed")])
def test_damage_h5py_trips_on_is_reported_as_a_damaged_file(numpy_backend, tmp_path, monkeypatch, error):
    from gpunn.models import NotAModelFileError, hdf5_io

    path = str(tmp_path / "w.weights.h5")
    model = _model()
    model.save_weights(path)

    def damaged(*args, **kwargs):
        raise error

    monkeypatch.setattr(hdf5_io, "damage_in", damaged)
    with pytest.raises(NotAModelFileError, match=f"{type(error).__name__}"):
        _model().load_weights(path)


def test_a_directory_that_cannot_be_written_is_named_not_the_temporary(numpy_backend, tmp_path, monkeypatch):
    from gpunn.models import atomic_write

    real_open = os.open

    def refusing(path, *args, **kwargs):
        if str(path).endswith(atomic_write.TEMP_SUFFIX):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(atomic_write.os, "open", refusing)
    target = str(tmp_path / "model.keras")
    with pytest.raises(PermissionError) as caught:
        _model().save(target)
    assert caught.value.filename == target and "cannot write in" in str(caught.value)
    assert atomic_write.TEMP_SUFFIX not in str(caught.value)


def test_numpy_scalars_pass_the_checks_and_configs_stay_json(numpy_backend):
    import json

    schedule = gpunn.optimizers.schedules.PolynomialDecay(np.float32(0.1), np.int64(100))
    assert json.dumps(schedule.get_config())
    assert layers.Dropout(np.float32(0.5)).get_config()["rate"] == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpunn.regularizers.L1L2(np.float32(0.01), np.float64(0.02))


def test_an_initializer_seeded_by_a_seed_generator_draws_anew_at_each_call(numpy_backend):
    """Keras's random initializers take ``seed=keras.random.SeedGenerator(n)`` (new values at each call, repeatable
    from n), as its reproducibility recipe shows."""
    def draws(seed):
        init = gpunn.initializers.GlorotNormal(seed=gpunn.random.SeedGenerator(seed))
        return init((3, 5)), init((3, 5)), init

    first, second, init = draws(1)
    again, _, _ = draws(1)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)
    assert init.get_config()["seed"] is None  # (a generator's state is no config)
    with pytest.raises(ValueError, match="`seed` argument should be an instance of `keras.random.SeedGenerator"):
        gpunn.initializers.RandomNormal(seed="a")  # refused when made, as Keras refuses it


def test_a_metrics_result_has_the_dtype_and_shape_of_a_tensor(numpy_backend):
    metric = gpunn.metrics.Mean()
    metric.update_state(np.array([0.2, 0.4]))
    result = metric.result()
    assert (result.dtype, result.shape, result.ndim) == (np.dtype("float64"), (), 0)
    assert result == pytest.approx(0.3)


def test_inputs_in_a_structure_the_model_does_not_take_say_so(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((4,), name="features"), layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"x: the model's one input is \['features'\]; got a dict with keys "
                                         r"\['featurs'\]"):
        model.fit({"featurs": np.ones((8, 4))}, np.ones((8, 1)), verbose=0)
    with pytest.raises(ValueError, match="x: the model has one input; got a list of 2 arrays of samples"):
        model.fit([np.ones((8, 4)), np.ones((8, 4))], np.ones((8, 1)), verbose=0)
    assert model.predict({"features": np.ones((2, 4))}, verbose=0).shape == (2, 1)  # by the Input's name
    assert model.predict([np.arange(4.0), np.arange(4.0)], verbose=0).shape == (2, 1)  # a list of rows is data
    assert model.fit([np.ones((8, 4))], np.ones((8, 1)), verbose=0).history["loss"]  # one array in a list


def test_weights_that_would_follow_an_axis_of_any_length_are_refused_by_name(numpy_backend):
    with pytest.raises(ValueError, match=r"layer 'dense.*' \(Dense\) is called on samples of shape \(None,\), whose "
                                         "axes of any length"):
        gpunn.Model(*(lambda x: (x, layers.Dense(3)(x)))(gpunn.Input((None,))))
