"""Losses and metrics against Keras's definitions: values (clipping, rescaling, stable logits), names, the
'accuracy' resolution, and per-sample means kept across batches."""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import numpy_backend, sigmoid, softmax  # noqa: F401

import gpunn
from gpunn import distributed, layers, losses, metrics
from gpunn.ops.workspace import Workspace
from gpunn.trainer.running_metrics import RunningMetrics

EPS = 1e-7  # Keras's backend epsilon


# ---- loss values ---------------------------------------------------------------------------------------------


def test_mean_squared_and_absolute_error(rng):
    y, p = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    assert losses.MeanSquaredError()(y, p) == pytest.approx(((y - p) ** 2).mean(axis=-1).mean(), rel=1e-12)
    assert losses.MeanAbsoluteError()(y, p) == pytest.approx(np.abs(y - p).mean(axis=-1).mean(), rel=1e-12)
    # The functions, as keras.losses.mean_squared_error etc., return the loss of each sample.
    np.testing.assert_allclose(losses.mse(y, p), ((y - p) ** 2).mean(axis=-1), rtol=1e-12)
    np.testing.assert_array_equal(losses.mean_squared_error(y, p), losses.mse(y, p))
    np.testing.assert_allclose(losses.mae(y, p), np.abs(y - p).mean(axis=-1), rtol=1e-12)


def test_binary_crossentropy_on_probabilities(rng):
    t = rng.integers(0, 2, (5, 3)).astype(float)
    p = rng.uniform(0.01, 0.99, (5, 3))
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=-1).mean()
    assert losses.BinaryCrossentropy()(t, p) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(losses.binary_crossentropy(t, p),
                               -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=-1), rtol=1e-12)


def test_binary_crossentropy_clips_like_keras():
    """Probabilities are clipped to [eps, 1 - eps]: a confident wrong answer costs -log(eps), not inf."""
    value = losses.BinaryCrossentropy()(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert value == pytest.approx(-math.log(EPS), rel=1e-6)
    assert losses.BinaryCrossentropy()(np.array([[1.0]]), np.array([[1.0]])) == pytest.approx(-math.log(1 - EPS))


def test_binary_crossentropy_from_logits(rng):
    t = rng.uniform(0, 1, (5, 3))
    x = rng.standard_normal((5, 3)) * 3
    s = sigmoid(x)
    expected = -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean(axis=-1).mean()
    assert losses.BinaryCrossentropy(from_logits=True)(t, x) == pytest.approx(expected, rel=1e-10)
    # Stable far from 0: max(x, 0) - x t + log(1 + exp(-|x|)).
    big = losses.BinaryCrossentropy(from_logits=True)(np.array([[0.0, 1.0]]), np.array([[1000.0, -1000.0]]))
    assert big == pytest.approx(1000.0, rel=1e-12)


def test_categorical_crossentropy(rng):
    t = np.eye(4)[rng.integers(0, 4, 6)]
    p = softmax(rng.standard_normal((6, 4)))
    expected = -(t * np.log(p)).sum(axis=-1).mean()
    assert losses.CategoricalCrossentropy()(t, p) == pytest.approx(expected, rel=1e-12)
    # Keras rescales each row to sum to one before the log.
    q = p * rng.uniform(0.5, 3.0, (6, 1))
    assert losses.CategoricalCrossentropy()(t, q) == pytest.approx(expected, rel=1e-12)
    soft = softmax(rng.standard_normal((6, 4)))
    np.testing.assert_allclose(losses.categorical_crossentropy(soft, p), -(soft * np.log(p)).sum(-1), rtol=1e-12)


def test_categorical_crossentropy_from_logits_is_stable(rng):
    t = softmax(rng.standard_normal((5, 3)))
    x = rng.standard_normal((5, 3)) * 4
    log_softmax = x - x.max(-1, keepdims=True) - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
    expected = -(t * log_softmax).sum(-1).mean()
    assert losses.CategoricalCrossentropy(from_logits=True)(t, x) == pytest.approx(expected, rel=1e-10)
    assert losses.CategoricalCrossentropy(from_logits=True)(np.array([[0.0, 1.0]]),
                                                            np.array([[1000.0, 0.0]])) == pytest.approx(1000.0)


def test_sparse_categorical_crossentropy(rng):
    labels = rng.integers(0, 5, 7)
    p = softmax(rng.standard_normal((7, 5)))
    expected = -np.log(p[np.arange(7), labels]).mean()
    assert losses.SparseCategoricalCrossentropy()(labels, p) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels.reshape(-1, 1), p),
                               -np.log(p[np.arange(7), labels]), rtol=1e-12)
    logits = np.log(p) + 3.0  # softmax is shift-invariant
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits) == pytest.approx(expected,
                                                                                                   rel=1e-10)
    dense = losses.CategoricalCrossentropy()(np.eye(5)[labels], p)
    assert dense == pytest.approx(expected, rel=1e-12)


def test_sample_weight_sums_over_the_batch_size(rng):
    y, p = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    w = np.array([1.0, 0.0, 2.0, 0.5])
    per_sample = ((y - p) ** 2).mean(axis=-1)
    assert losses.MeanSquaredError()(y, p, sample_weight=w) == pytest.approx((per_sample * w).sum() / 4, rel=1e-12)


def test_loss_names_and_lookup():
    for name, cls in [("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
                      ("mae", losses.MeanAbsoluteError), ("binary_crossentropy", losses.BinaryCrossentropy),
                      ("categorical_crossentropy", losses.CategoricalCrossentropy),
                      ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy)]:
        assert type(losses.as_loss(name)) is cls
    assert type(losses.as_loss(losses.binary_crossentropy)) is losses.BinaryCrossentropy
    assert type(losses.as_loss(losses.CategoricalCrossentropy)) is losses.CategoricalCrossentropy
    assert losses.CategoricalCrossentropy().name == "categorical_crossentropy"
    restored = losses.get(losses.serialize(losses.BinaryCrossentropy(from_logits=True)))
    assert type(restored) is losses.BinaryCrossentropy and restored.from_logits


def test_loss_objects_work_in_compile(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(3,), dtype="float64"), layers.Dense(4)])
    model.compile(optimizer="sgd", loss=losses.CategoricalCrossentropy(from_logits=True))
    x = rng.standard_normal((6, 3))
    t = np.eye(4)[rng.integers(0, 4, 6)]
    logits = model.predict(x, verbose=0)
    assert model.evaluate(x, t, verbose=0) == pytest.approx(
        losses.CategoricalCrossentropy(from_logits=True)(t, logits), rel=1e-10)


# ---- metrics -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss, units, sparse, expected", [
    ("sparse_categorical_crossentropy", 10, True, metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", 10, False, metrics.CategoricalAccuracy),
    ("binary_crossentropy", 1, False, metrics.BinaryAccuracy),
    ("binary_crossentropy", 5, False, metrics.BinaryAccuracy),
    ("mse", 1, False, metrics.BinaryAccuracy),
    ("mse", 10, True, metrics.SparseCategoricalAccuracy),
    ("mse", 10, False, metrics.CategoricalAccuracy),
])
def test_accuracy_resolves_as_keras_does(loss, units, sparse, expected):
    for alias in ("accuracy", "acc"):
        metric = metrics.get(alias, losses.as_loss(loss), units, sparse)
        assert type(metric) is expected and metric.name == alias


def _batch_sum(metric, y, p, ops):
    out = np.zeros((), dtype=np.float64)
    metric.batch_sum(ops, Workspace(ops), y, p, out)
    return float(out)


def test_metric_values(rng, numpy_backend):
    ops = numpy_backend
    labels = rng.integers(0, 4, 9)
    p = softmax(rng.standard_normal((9, 4)))
    hits = (p.argmax(1) == labels).sum()
    assert _batch_sum(metrics.SparseCategoricalAccuracy(), labels, p, ops) == hits
    assert _batch_sum(metrics.CategoricalAccuracy(), np.eye(4)[labels], p, ops) == hits
    t = rng.integers(0, 2, (9, 3)).astype(float)
    q = rng.uniform(0, 1, (9, 3))
    assert _batch_sum(metrics.BinaryAccuracy(), t, q, ops) == pytest.approx(((q > 0.5) == t).mean(-1).sum())
    assert _batch_sum(metrics.BinaryAccuracy(threshold=0.8), t, q, ops) == pytest.approx(
        ((q > 0.8) == t).mean(-1).sum())
    y = rng.standard_normal((9, 2))
    assert _batch_sum(metrics.MeanAbsoluteError(), y, q[:, :2], ops) == pytest.approx(
        np.abs(y - q[:, :2]).mean(-1).sum())
    assert _batch_sum(metrics.MeanSquaredError(), y, q[:, :2], ops) == pytest.approx(
        ((y - q[:, :2]) ** 2).mean(-1).sum())


def test_running_metrics_are_per_sample_means_over_uneven_batches(rng, numpy_backend):
    ops = numpy_backend
    running = RunningMetrics(ops, [metrics.SparseCategoricalAccuracy(name="accuracy")], distributed.current())
    labels = rng.integers(0, 3, 10)
    p = softmax(rng.standard_normal((10, 3)))
    per_sample = rng.uniform(0, 2, 10)
    for lo, hi in [(0, 7), (7, 10)]:  # 7 then 3 samples
        running.accumulate(per_sample[lo:hi], None, p[lo:hi], labels[lo:hi])
        running.count_batch(hi - lo)
    result = running.result()
    assert result["loss"] == pytest.approx(per_sample.mean(), rel=1e-12)
    assert result["accuracy"] == pytest.approx(np.mean(p.argmax(1) == labels))
    running.accumulate(per_sample[:2], np.array(0.5), p[:2], labels[:2])  # a penalty counts once per sample
    running.count_batch(2)
    assert running.result()["loss"] == pytest.approx((per_sample.sum() + per_sample[:2].sum() + 1.0) / 12)
    running.reset()
    assert running.result() == {"loss": 0.0, "accuracy": 0.0}


def test_metric_objects_and_names_in_history(rng):
    x = rng.standard_normal((40, 5))
    y = rng.integers(0, 3, 40)
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["acc", metrics.SparseCategoricalAccuracy()])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert list(history.history) == ["acc", "loss", "sparse_categorical_accuracy"]  # sorted, as Keras's
    assert model.metrics_names == ["loss", "acc", "sparse_categorical_accuracy"]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert result["acc"] == pytest.approx(np.mean(p.argmax(1) == y))
    assert result["sparse_categorical_accuracy"] == pytest.approx(result["acc"])


def test_binary_accuracy_through_evaluate(rng):
    x = rng.standard_normal((30, 4))
    t = (rng.uniform(0, 1, (30, 2)) > 0.5).astype(float)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(x, t, batch_size=7, verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)
    assert acc == pytest.approx(((p > 0.5) == t).mean(), rel=1e-6)
    pc = np.clip(p, EPS, 1 - EPS)
    assert loss == pytest.approx(-(t * np.log(pc) + (1 - t) * np.log(1 - pc)).mean(), rel=1e-5)


def test_a_loss_called_on_arrays_returns_kerass_dtype_with_numpy():
    """The TF beginner quickstart prints ``loss_fn(y_train[:1], predictions).numpy()``: a loss object's value on
    arrays is a 0-d array with ``.numpy()`` (a NumPy scalar), float32 for float32 predictions as in Keras; the
    functions (``keras.losses.mae``) return per-sample values the same way. float64 predictions keep float64."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 10)).astype("float32")
    value = losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([3], "uint8"), logits)
    scalar = value.numpy()
    assert type(scalar) is np.float32 and value.shape == () and float(value) == pytest.approx(
        -np.log(np.exp(logits[0, 3]) / np.exp(logits).sum()), rel=1e-6)
    a = rng.random((4, 140)).astype("float32")
    per_sample = losses.mae(a, a * 0.5)
    assert per_sample.dtype == np.float32 and per_sample.shape == (4,) and type(per_sample.numpy()) is np.ndarray
    np.testing.assert_allclose(per_sample.numpy(), np.abs(a * 0.5).mean(axis=-1), rtol=1e-6)
    assert losses.mse([[1.0, 2.0]], [[1.0, 3.0]]).dtype == np.float32  # lists: floatx, as Keras converts them
    assert losses.MeanSquaredError()(a, a * 0.5).dtype == np.float32
    assert losses.MeanSquaredError()(a, a.astype("float64")).dtype == np.float64
    assert losses.MeanSquaredError(dtype="float64")(a, a * 0.5).dtype == np.float64
    assert losses.MeanSquaredError().dtype == "float32" and losses.Huber(dtype="float64").dtype == "float64"

    class Tensorish:  # a framework's tensor: its dtype no NumPy dtype (tf.float32), its values an array
        dtype = object()

        def __init__(self, value):
            self.value = value

        def __array__(self, dtype=None, copy=None):
            return self.value if dtype is None else self.value.astype(dtype)

    assert losses.mae(a, Tensorish(a * 0.5)).dtype == np.float32  # (the TF autoencoder tutorial's losses.mae)


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "poisson", "kl_divergence"])
def test_per_sample_metrics_line_1d_targets_up_as_their_losses_do(name):
    """Targets of shape (samples,) against a one-unit output: the metric equals the loss of the same name (Keras
    3.15's metric broadcasts them to a (samples, samples) grid instead: README, differences)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.uniform(0.1, 1.0, size=8).astype("float32") if name in ("poisson", "kl_divergence") else \
        np.where(rng.uniform(size=8) > 0.5, 1.0, -1.0).astype("float32")
    activation = "softplus" if name in ("poisson", "kl_divergence") else None
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1, activation=activation)])
    model.compile(optimizer="sgd", loss=name, metrics=[name])
    loss, metric = model.evaluate(x, y, verbose=0)
    assert metric == pytest.approx(loss, rel=1e-6)
