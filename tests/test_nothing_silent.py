"""Nothing silent: inputs that would quietly train on the wrong thing are refused by name, Keras's
validation_split rows are used, a diverging fit is reported, and the description data-parallel ranks compare
sees every setting that matters (the mpiexec side is tests/distributed/test_distributed_agreement.py)."""
from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401

import gpunn
from gpunn import callbacks, layers, optimizers, regularizers
from gpunn.data import split_validation, training_rows
from gpunn.distributed.agreement import check_agreement, describe
from gpunn.distributed.run_summary import run_summary

N, FEATURES, CLASSES = 20, 6, 10


def expect(exc_type, *fragments):
    """pytest.raises whose message must contain every fragment (each escaped: plain text)."""
    return pytest.raises(exc_type, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def classifier(units=CLASSES, activation="softmax", loss="sparse_categorical_crossentropy", dtype="float32"):
    m = gpunn.Sequential([gpunn.Input(shape=(FEATURES,), dtype=dtype), layers.Dense(8, activation="relu", dtype=dtype),
                          layers.Dense(units, activation=activation, dtype=dtype)])
    m.compile(optimizer="sgd", loss=loss)
    return m


def regressor(dtype="float32", learning_rate=0.01):
    m = gpunn.Sequential([gpunn.Input(shape=(FEATURES,), dtype=dtype), layers.Dense(8, activation="relu", dtype=dtype),
                          layers.Dense(2, dtype=dtype)])
    m.compile(optimizer=optimizers.SGD(learning_rate), loss="mse")
    return m


@pytest.fixture
def xy(rng):
    return rng.normal(size=(N, FEATURES)), np.arange(N) % CLASSES


def assert_untouched(model, weights):
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


# ---- class_weight keys and values ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [-1, 10, 1.5, True, "1", np.float64(9.5), np.bool_(True)], ids=repr)
def test_class_weight_keys_must_name_output_classes(key, xy):
    x, y = xy
    model = classifier()
    weights = model.get_weights()
    # ``key`` stands in for class 1 (1.0 == True == 1 would otherwise just replace the int key 1)
    class_weight = {k: 1.0 for k in range(CLASSES) if k != 1}
    class_weight[key] = 5.0
    with expect(ValueError, "class_weight:", "integer class ids in [0, 10)", "10 classes", f"got key {key!r}"):
        model.fit(x, y, class_weight=class_weight, verbose=0)
    assert_untouched(model, weights)


@pytest.mark.parametrize("key", [1.0, np.float64(1.0), np.float32(1.0)], ids=repr)
def test_a_whole_float_key_is_that_class_id(key, xy):
    """scikit-learn's compute_class_weight on float targets gives {0.0: w0, 1.0: w1}: the ids, as Keras reads them."""
    x, y = xy
    runs, start = [], classifier().get_weights()
    for one in (key, 1):
        model = classifier()
        model.set_weights(start)
        class_weight = {k: 1.0 for k in range(CLASSES) if k != 1}
        class_weight[one] = 5.0
        model.fit(x, y, class_weight=class_weight, epochs=1, shuffle=False, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_negative_key_no_longer_overwrites_another_class(xy):
    """{-1: w} used to land in the last class's slot (table[-1]); now it is an error, not a quiet reweighting."""
    x, y = xy
    with expect(ValueError, "class_weight:", "got key -1"):
        classifier().fit(x, y, class_weight={**{k: 1.0 for k in range(CLASSES)}, -1: 100.0}, verbose=0)


def test_numpy_integer_keys_are_class_ids(xy):
    x, y = xy
    model = classifier()
    model.fit(x, y, class_weight={np.int64(k): 1.0 for k in range(CLASSES)}, epochs=1, verbose=0)
    assert model.optimizer.iterations == 1


def test_one_unit_sigmoid_output_has_classes_0_and_1(xy):
    x, _ = xy
    y = np.arange(N) % 2
    model = classifier(units=1, activation="sigmoid", loss="binary_crossentropy")
    model.fit(x, y, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    with expect(ValueError, "class_weight:", "[0, 2)", "classes 0 and 1", "got key 2"):
        model.fit(x, y, class_weight={0: 1.0, 1: 3.0, 2: 1.0}, verbose=0)


@pytest.mark.parametrize("value", [1e39, float("nan"), float("inf"), -1.0], ids=repr)
def test_class_weight_values_must_be_finite_in_the_model_dtype(value, xy):
    x, y = xy
    model = classifier()
    weights = model.get_weights()
    with expect(ValueError, "class_weight:", "finite, non-negative weight for class 3", "float32"):
        model.fit(x, y, class_weight={**{k: 1.0 for k in range(CLASSES)}, 3: value}, verbose=0)
    assert_untouched(model, weights)


def test_a_float64_model_takes_a_class_weight_that_float32_cannot(xy):
    x, y = xy
    model = classifier(dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a 1e39 weight diverges; that is not the point here
        model.fit(x, y, class_weight={**{k: 1.0 for k in range(CLASSES)}, 3: 1e39}, verbose=0)


# ---- values that overflow the model's dtype -------------------------------------------------------------------


def _overflow_cases(x, y):
    big_x = x.copy()
    big_x[4, 2] = 1e39
    big_y = y.copy()
    big_y[3, 1] = -1e39
    big_w = np.ones(N)
    big_w[6] = 1e39
    return {
        "x": (dict(x=big_x, y=y), ["x:", "float32", "1e+39", "index (4, 2)", "inf"]),
        "y": (dict(x=x, y=big_y), ["y:", "float32", "-1e+39", "index (3, 1)", "-inf"]),
        "sample_weight": (dict(x=x, y=y, sample_weight=big_w), ["sample_weight:", "float32", "1e+39", "(6,)"]),
        "validation_x": (dict(x=x, y=y, validation_data=(big_x, y)), ["validation_data[0]:", "1e+39", "(4, 2)"]),
        "validation_y": (dict(x=x, y=y, validation_data=(x, big_y)), ["validation_data[1]:", "-1e+39"]),
        "validation_weight": (dict(x=x, y=y, validation_data=(x, y, big_w)), ["validation_data[2]:", "1e+39"]),
    }


@pytest.mark.parametrize("case", list(_overflow_cases(np.zeros((N, FEATURES)), np.zeros((N, 2)))))
def test_values_that_become_inf_in_the_model_dtype_are_refused(case, rng):
    x, y = rng.normal(size=(N, FEATURES)), rng.normal(size=(N, 2))
    kwargs, fragments = _overflow_cases(x, y)[case]
    model = regressor()
    weights = model.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the refusal comes without NumPy's own overflow warning
        with expect(ValueError, "expected values that fit the model's dtype", *fragments):
            model.fit(verbose=0, **kwargs)
    assert_untouched(model, weights)
    if case in ("x", "y", "sample_weight"):
        with expect(ValueError, *fragments[:2]):
            model.evaluate(kwargs["x"], kwargs["y"], sample_weight=kwargs.get("sample_weight"), verbose=0)
    if case == "x":
        with expect(ValueError, *fragments[:2]):
            model.predict(kwargs["x"], verbose=0)


def test_the_same_values_fit_a_float64_model(rng):
    x = rng.normal(size=(N, FEATURES))
    x[4, 2] = 1e39
    assert regressor(dtype="float64").predict(x, verbose=0).shape == (N, 2)


# ---- scipy.sparse ---------------------------------------------------------------------------------------------


def test_sparse_input_is_refused_with_how_to_densify(xy):
    sparse = pytest.importorskip("scipy.sparse", reason="scipy is not installed (pip install scipy)")
    x, y = xy
    model = classifier()
    weights = model.get_weights()
    csr = sparse.csr_matrix(x)
    with expect(TypeError, "x:", "scipy.sparse input (csr_matrix of shape (20, 6)) is not supported",
                "x.toarray()"):
        model.fit(csr, y, verbose=0)
    with expect(TypeError, "x:", "scipy.sparse", "x.toarray()"):
        model.predict(csr, verbose=0)
    with expect(TypeError, "validation_data[0]:", "scipy.sparse", "validation_data[0].toarray()"):
        model.fit(x, y, validation_data=(sparse.coo_matrix(x), y), verbose=0)
    assert_untouched(model, weights)
    model.fit(csr.toarray(), y, verbose=0)  # the advice works


def test_masked_arrays_with_masked_values_are_refused_before_any_work(xy):
    """np.asarray hands over the values under a mask: a model would train on what the user hid."""
    x, y = xy
    model = classifier()
    weights = model.get_weights()
    hidden = np.ma.masked_array(x, mask=np.zeros(x.shape, bool))
    hidden.mask[3, 2] = True
    with expect(ValueError, "x: a masked array with 1 masked value(s), the first at index (3, 2)", "x.filled(value)",
                "keep = ~np.ma.getmaskarray(x).any(axis=1); then x[keep], y[keep]"):
        model.fit(hidden, y, verbose=0)
    with expect(ValueError, "x: a masked array"):
        model.predict(hidden, verbose=0)
    with expect(ValueError, "y: a masked array", "y.filled(value)"):
        model.fit(x, np.ma.masked_array(y, mask=np.arange(N) == 5), verbose=0)
    with expect(ValueError, "sample_weight: a masked array"):
        model.fit(x, y, sample_weight=np.ma.masked_array(np.ones(N), mask=np.arange(N) == 0), verbose=0)
    assert_untouched(model, weights)
    unmasked = np.ma.masked_array(x, mask=np.zeros(x.shape, bool))  # nothing hidden: its values are the data
    np.testing.assert_array_equal(model.predict(unmasked, verbose=0), model.predict(x, verbose=0))


def test_importing_gpunn_imports_neither_scipy_nor_pandas():
    code = "import sys, gpunn; print('scipy' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"], out


# ---- pandas ---------------------------------------------------------------------------------------------------


@pytest.fixture
def pd():
    return pytest.importorskip("pandas", reason="pandas is not installed (pip install pandas)")


def test_nullable_pandas_columns_are_converted(pd, xy):
    x, y = xy
    frame = pd.DataFrame({"a": pd.array(x[:, 0], dtype="Float32"),
                          "b": pd.array(np.round(x[:, 1] * 10).astype(int), dtype="Int64"),
                          "c": pd.array(x[:, 2] > 0, dtype="boolean"),
                          "d": x[:, 3], "e": x[:, 4], "f": x[:, 5]})
    expected = np.column_stack([x[:, 0].astype("float32"), np.round(x[:, 1] * 10), x[:, 2] > 0, x[:, 3:]])
    from_frame, from_array = classifier(), classifier()
    from_array.set_weights(from_frame.get_weights())
    labels = pd.Series(pd.array(y, dtype="Int64"), name="label")
    from_frame.fit(frame, labels, shuffle=False, verbose=0)
    from_array.fit(expected, y, shuffle=False, verbose=0)
    for a, b in zip(from_frame.get_weights(), from_array.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["Int64", "Float32", "boolean", "float64"])
def test_pandas_missing_values_are_refused_by_column(pd, xy, dtype):
    x, y = xy
    column = pd.array([None if i in (2, 5) else (i % 2 == 0 if dtype == "boolean" else float(i)) for i in range(N)],
                      dtype=dtype)
    frame = pd.DataFrame({"a": x[:, 0], "bmi": column})
    model = gpunn.Sequential([gpunn.Input(shape=(2,)), layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with expect(ValueError, "x:", "column 'bmi' has 2 missing value(s)", "the first at row 2", "x.fillna(...)"):
        model.fit(frame, y, verbose=0)
    labels = pd.Series(pd.array([None] + list(y[1:]), dtype="Int64"), name="label")
    with expect(ValueError, "y:", "the Series 'label' has 1 missing value(s)", "row 0"):
        model.fit(pd.DataFrame({"a": x[:, 0], "b": x[:, 1]}), labels, verbose=0)


def test_non_numeric_pandas_column_is_named(pd, xy):
    x, y = xy
    frame = pd.DataFrame({"a": x[:, 0], "city": ["Paris"] * N})
    model = gpunn.Sequential([gpunn.Input(shape=(2,)), layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with expect(TypeError, "x:", "column 'city'", "expected numeric columns"):
        model.fit(frame, y, verbose=0)


def test_a_series_as_x_is_one_feature(pd, xy):
    _, y = xy
    feature = pd.Series(np.linspace(-1, 1, N), name="age")
    model = gpunn.Sequential([gpunn.Input(shape=(1,)), layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(feature, y, verbose=0)
    assert model.predict(feature, verbose=0).shape == (N, CLASSES)
    np.testing.assert_array_equal(model.predict(feature, verbose=0),
                                  model.predict(feature.to_numpy().reshape(-1, 1), verbose=0))


# ---- validation_split: Keras 3's rows -------------------------------------------------------------------------


@pytest.mark.parametrize("n, split, train", [(10, 0.25, 7), (10, 0.15, 8), (7, 0.5, 3), (7, 0.3, 4), (50, 0.33, 33)])
def test_validation_split_takes_keras_rows(n, split, train, rng):
    # Cases where Keras's floor(n * (1 - split)) and n - floor(n * split) disagree.
    assert train == math.floor(n * (1.0 - split)) != n - math.floor(n * split)
    x, y = rng.normal(size=(n, FEATURES)), np.arange(n) % CLASSES
    split_model, explicit = classifier(), classifier()
    explicit.set_weights(split_model.get_weights())
    history = split_model.fit(x, y, batch_size=1, validation_split=split, shuffle=False, verbose=0)
    reference = explicit.fit(x[:train], y[:train], batch_size=1, validation_data=(x[train:], y[train:]),
                             shuffle=False, verbose=0)
    assert split_model.optimizer.iterations == train
    assert history.history == reference.history


def test_split_validation_matches_keras_formula_on_a_grid():
    arrays = [np.arange(200)]
    for n in (3, 7, 10, 33, 101, 200):
        for split in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.33, 0.5, 0.7):
            split_at = int(math.floor(n * (1.0 - split)))
            if split_at in (0, n):
                continue
            train, val = split_validation([a[:n] for a in arrays], split)
            assert training_rows(n, split) == split_at
            np.testing.assert_array_equal(train[0], np.arange(split_at))
            np.testing.assert_array_equal(val[0], np.arange(split_at, n))


# ---- a diverging fit is reported ------------------------------------------------------------------------------


def divergence_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "training loss became" in str(w.message)]


def diverging_fit(rng, **kwargs):
    x, y = rng.normal(size=(64, FEATURES)), rng.normal(size=(64, 2)) * 10
    model = regressor(learning_rate=1e3)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            history = model.fit(x, y, batch_size=16, verbose=0, **kwargs)
    return history, divergence_warnings(record)


def test_a_diverging_fit_warns_once_naming_the_epoch(rng):
    history, messages = diverging_fit(rng, epochs=4)
    assert all(not math.isfinite(v) for v in history.history["loss"])  # every epoch diverged; one warning
    assert len(messages) == 1, messages
    for fragment in ("fit: the training loss became NaN in epoch 1/4", "lower learning rate", "TerminateOnNaN"):
        assert fragment in messages[0], messages[0]


def test_a_diverging_fit_warns_with_its_own_words_alone(rng):
    """NumPy's overflow and invalid-value warnings from gpunn's internals (a matmul overflowing) are not shown:
    the one warning is the trainer's, as Keras shows none of its backend's; the script's own settings stay."""
    x, y = rng.normal(size=(64, FEATURES)), rng.normal(size=(64, 2)) * 10
    before = np.geterr()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        regressor(learning_rate=1e3).fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert [str(w.message)[:33] for w in record] == ["fit: the training loss became NaN"]
    assert np.geterr() == before
    with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="overflow"):  # the script's wish holds
        regressor(learning_rate=1e3).fit(x, y, batch_size=16, epochs=3, verbose=0)
    with np.errstate(all="raise"):  # but for underflow, routine in a softmax of small values
        wide = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(16, activation="relu"),
                                 layers.Dense(3, activation="softmax")])
        wide.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        wide.fit(rng.normal(0, 30, size=(64, 4)), rng.integers(0, 3, 64), epochs=2, verbose=0)


def test_the_warning_points_at_the_fit_call(rng):
    x, y = rng.normal(size=(64, FEATURES)), rng.normal(size=(64, 2)) * 10
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="training loss became") as record:
        regressor(learning_rate=1e3).fit(x, y, batch_size=16, epochs=2, verbose=0)
    ours = [w for w in record if "training loss became" in str(w.message)]
    assert ours[0].filename == __file__


def test_terminate_on_nan_reports_instead(rng, capsys):
    history, messages = diverging_fit(rng, epochs=4, callbacks=[callbacks.TerminateOnNaN()])
    assert messages == []
    assert len(history.epoch) == 1 and "Invalid loss, terminating training" in capsys.readouterr().out


def test_a_healthy_fit_does_not_warn(rng):
    x, y = rng.normal(size=(64, FEATURES)), rng.normal(size=(64, 2))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        regressor().fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert divergence_warnings(record) == []


def test_the_check_reads_nothing_more_from_the_device(rng, monkeypatch):
    """One read of the running sums per epoch, diverging or not: the check rides on the epoch-end read."""
    reads = []
    ops = gpunn.get_ops()
    original = type(ops).to_numpy
    monkeypatch.setattr(ops, "to_numpy", lambda array: reads.append(1) or original(ops, array))
    for learning_rate in (0.01, 1e3):
        reads.clear()
        x, y = rng.normal(size=(64, FEATURES)), rng.normal(size=(64, 2)) * 10
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            regressor(learning_rate=learning_rate).fit(x, y, batch_size=16, epochs=3, verbose=0)
        assert len(reads) == 3, (learning_rate, len(reads))


# ---- what data-parallel ranks compare -------------------------------------------------------------------------


def _summary(**changes):
    """run_summary of a small model; ``changes`` alter one thing."""
    c = {"activation": "relu", "units": 8, "use_bias": True, "dtype": "float32", "regularizer": None,
         "name": "hidden", "initializer": "glorot_uniform", "seed": 1, "learning_rate": 0.01, "loss": "mse",
         "metrics": ["mae"], "jit_compile": False, **changes}
    model = gpunn.Sequential([
        gpunn.Input(shape=(FEATURES,), dtype=c["dtype"]),
        layers.Dense(c["units"], activation=c["activation"], use_bias=c["use_bias"], name=c["name"],
                     kernel_initializer=c["initializer"], kernel_regularizer=c["regularizer"], dtype=c["dtype"]),
        layers.Dropout(0.1, seed=c["seed"], dtype=c["dtype"]),
        layers.Dense(2, dtype=c["dtype"])])
    model.compile(optimizer=optimizers.Adam(c["learning_rate"]), loss=c["loss"], metrics=c["metrics"],
                  jit_compile=c["jit_compile"])
    return run_summary("fit", model, {"samples": 10})


def test_names_initializers_and_dropout_seeds_are_not_compared():
    base = _summary()
    assert _summary(name="other", initializer="he_normal", seed=7) == base


@pytest.mark.parametrize("change", [{"activation": "tanh"}, {"units": 9}, {"use_bias": False}, {"dtype": "float64"},
                                    {"regularizer": regularizers.l2(0.01)}, {"learning_rate": 0.02},
                                    {"loss": "mae"}, {"metrics": ["mse"]}, {"jit_compile": True}],
                         ids=lambda change: next(iter(change)))  # ids without object addresses (stable across runs)
def test_every_setting_that_matters_is_compared(change):
    assert _summary(**change) != _summary()


def test_the_message_names_the_first_difference_and_groups_ranks():
    summaries = [{"call": "fit", "data": {"batch_size": 16, "epochs": 2}},
                 {"call": "fit", "data": {"batch_size": 32, "epochs": 2}},
                 {"call": "fit", "data": {"batch_size": 16, "epochs": 3}}]
    message = describe(summaries, [1, 2])
    lines = message.splitlines()
    assert lines[0] == ("gpunn.distributed: ranks disagree on the data schedule: rank(s) [1, 2] differ from "
                        "rank 0 (checked before fit started)")
    assert lines[1] == "  data.batch_size: 16 on rank(s) [0, 2]; 32 on rank(s) [1]"
    assert lines[2] == "  data.epochs: 2 on rank(s) [0, 1]; 3 on rank(s) [2]"


def test_one_process_compares_nothing():
    class NoCollectives:
        size = 1

        def __getattr__(self, name):
            raise AssertionError(f"a lone process called {name}")

    check_agreement(NoCollectives(), {"anything": 1})


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_all_finite_is_exact_even_when_the_sum_overflows(dtype):
    from gpunn.data import all_finite

    big = np.finfo(dtype).max
    values = np.full((64, 3), big, dtype=dtype)  # finite values whose sum overflows to inf
    assert all_finite(values)
    values[-1, 1] = np.inf
    assert not all_finite(values)
    values[-1, 1] = np.nan
    assert not all_finite(values)
    mixed = np.array([[big, -big], [np.inf, -np.inf]], dtype=dtype)  # inf - inf: the sum is NaN
    assert not all_finite(mixed)
    assert all_finite(np.zeros((5, 0), dtype=dtype))


def test_inputs_missing_or_adding_a_last_axis_of_one_are_adjusted_as_keras_does(numpy_backend):
    """Keras 3's Functional._adjust_input_rank: a 1-D x for an input of shape (1,) gets the axis; an x with an
    extra trailing axis of 1 loses it; any other shape is still refused."""
    gpunn.utils.set_random_seed(0)
    model = gpunn.Sequential([gpunn.Input(shape=(1,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.linspace(-1, 1, 20).astype("float32")
    y = 3 * x
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x[:, None], verbose=0))
    np.testing.assert_array_equal(model.predict(x[:, None, None], verbose=0), model.predict(x[:, None], verbose=0))
    with pytest.raises(ValueError, match="expected samples of shape"):
        model.predict(np.zeros((4, 2), "float32"), verbose=0)
