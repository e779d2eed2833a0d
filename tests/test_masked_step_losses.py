"""A per-step output carrying a padding mask (Embedding(mask_zero=True) before Dense layers on the steps): its loss
and metrics leave the padding out, as Keras's ``apply_mask`` does (trainer/output_losses.py), checked against Keras
3 itself: the loss is the mean over the steps kept in each batch, the metrics count kept steps only. (Keras's jax
backend loses the mask between its loss and its metrics in ``fit``, so only its loss and ``evaluate`` are
compared; its TensorFlow backend masks fit's metrics too, as gpunn does.)"""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from helpers import assert_close_to_keras, eager_and_replayed, run_case_both_ways

CASE = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    layers = keras.layers
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 30, size=(20, 6))
    ids[:10, 4:] = 0
    ids[10:, 2:] = 0
    y = rng.integers(0, 3, size=(20, 6))
    inputs = keras.Input((6,), dtype="int32")
    if case["masking"]:
        steps = layers.Masking()(layers.Embedding(30, 4)(inputs) * keras.ops.expand_dims(keras.ops.cast(
            keras.ops.not_equal(inputs, 0), "float32"), -1))
    else:
        steps = layers.Embedding(30, 4, mask_zero=True)(inputs)
    out = layers.Dense(3, activation="softmax")(layers.Dense(5, activation="tanh")(steps))
    model = keras.Model(inputs, out)
    model.set_weights([0.4 * rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], **(extra_compile or {}))
    history = model.fit(ids, y, epochs=2, batch_size=6, shuffle=False, verbose=0)
    predicted = np.asarray(model.predict(ids, verbose=0))
    kept = ids != 0
    return {"loss": history.history["loss"], "evaluate": model.evaluate(ids, y, batch_size=7, verbose=0),
            "masked_accuracy": float(((predicted.argmax(-1) == y) * kept).sum() / kept.sum()),
            "fit_accuracy": history.history["accuracy"]}
'''


@pytest.mark.parametrize("masking", [False, True], ids=["mask_zero", "masking"])
def test_a_masked_per_step_loss_and_metrics_are_keras_s(masking):
    ours, theirs = run_case_both_ways(CASE, [{"masking": masking}])
    ours, theirs = ours[0], theirs[0]
    assert_close_to_keras(ours["loss"], theirs["loss"], "fit loss", rtol=1e-5, atol=1e-6)
    assert_close_to_keras(ours["evaluate"], theirs["evaluate"], "evaluate", rtol=1e-5, atol=1e-6)
    assert ours["evaluate"][1] == pytest.approx(ours["masked_accuracy"], rel=1e-6)


def test_fit_s_metrics_count_the_kept_steps_and_a_replay_equals_the_eager_step():
    eager, replayed = eager_and_replayed(CASE, {"masking": False})
    assert json.dumps(eager) == json.dumps(replayed)
    np.testing.assert_allclose(eager["fit_accuracy"], [0.45, 0.46666667], rtol=1e-6)  # Keras 3.15 on TensorFlow


def test_what_a_masked_output_cannot_be_is_refused_by_name():
    inputs = gpunn.Input((6,), dtype="int32")
    steps = gpunn.layers.Embedding(30, 4, mask_zero=True)(inputs)
    model = gpunn.Model(inputs, gpunn.layers.Dense(3)(steps))
    model.compile(optimizer="sgd", loss=lambda t, p: gpunn.ops.mean(gpunn.ops.square(t - p)))
    with pytest.raises(ValueError, match="carries the padding mask"):
        model.fit(np.ones((4, 6), "int32"), np.ones((4, 6, 3), "float32"), verbose=0)


STANDALONE = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    """A model's eager output carrying its padding mask, given to losses and metrics on their own: Keras applies
    the mask there too (``apply_mask``)."""
    layers = keras.layers
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20, size=(3, 6)).astype("int32")
    ids[0, 3:] = 0
    ids[1, 1:] = 0
    inputs = keras.Input((6,), dtype="int32")
    model = keras.Model(inputs, layers.Dense(3)(layers.Embedding(20, 4, mask_zero=True)(inputs)))
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    predicted = model(ids)
    labels = rng.integers(0, 3, size=(3, 6)).astype("int32")
    targets = rng.normal(size=(3, 6, 3)).astype("float32")
    accuracy, mae = keras.metrics.SparseCategoricalAccuracy(), keras.metrics.MeanAbsoluteError()
    accuracy.update_state(labels, predicted)
    mae.update_state(targets, predicted)
    weighted = keras.metrics.MeanAbsoluteError()
    weighted.update_state(targets, predicted, sample_weight=rng.uniform(0.5, 2.0, size=(3, 6)).astype("float32"))
    return {"mask": np.asarray(predicted._keras_mask).tolist(),
            "mse": float(keras.losses.MeanSquaredError()(targets, predicted)),
            "mse_sum": float(keras.losses.MeanSquaredError(reduction="sum")(targets, predicted)),
            "scce": float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, predicted)),
            "accuracy": float(accuracy.result()), "mae": float(mae.result()), "weighted_mae": float(weighted.result())}
'''


def test_losses_and_metrics_on_their_own_apply_a_mask_the_predictions_carry():
    ours, theirs = run_case_both_ways(STANDALONE, [{}])
    assert ours[0]["mask"] == theirs[0]["mask"]
    for key in ("mse", "mse_sum", "scce", "accuracy", "mae", "weighted_mae"):
        assert ours[0][key] == pytest.approx(theirs[0][key], rel=1e-5), key


PER_STEP_METRICS = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    """Metrics of class ids on their own given per-step predictions (samples, steps, classes), unmasked, with and
    without per-step weights: each step a row, as Keras's metrics reduce the last axis."""
    rng = np.random.default_rng(0)
    predicted = rng.normal(size=(3, 5, 4)).astype("float32")
    ids = rng.integers(0, 4, size=(3, 5))
    targets = rng.normal(size=(3, 5, 4)).astype("float32")
    weights = rng.uniform(0.5, 2, size=(3, 5)).astype("float32")
    out = {}
    for name, cls, y in [("acc", keras.metrics.SparseCategoricalAccuracy, ids),
                         ("top2", keras.metrics.SparseTopKCategoricalAccuracy, ids)]:
        for label, sample_weight in (("plain", None), ("weighted", weights)):
            metric = cls()
            metric.update_state(y, predicted, sample_weight=sample_weight)
            out[f"{name} {label}"] = float(metric.result())
    return out
'''


def test_metrics_of_class_ids_on_their_own_take_per_step_predictions():
    ours, theirs = run_case_both_ways(PER_STEP_METRICS, [{}])
    for key, value in theirs[0].items():
        assert ours[0][key] == pytest.approx(value, rel=1e-5), key
