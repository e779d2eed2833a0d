"""A model called on samples of another shape than it was built for (the TF time-series tutorial trains Linear and
Dense models on windows of one step and calls them on its 24-step wide window): calls, predict and evaluate run
a variant of the model built for that shape with the model's weights, as Keras's models take any shape their
layers take. Checked against Keras 3 on the same weights, against the model built for the wide shape, and
for what stays the model's (weights set or trained later, moving statistics)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import run_keras

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
model = keras.Sequential([keras.Input((1, 5)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.BatchNormalization(), keras.layers.Dense(1)])
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
model.compile(loss="mse", metrics=[keras.metrics.MeanAbsoluteError()])
wide, targets = np.array(task["wide"], dtype="float32"), np.array(task["targets"], dtype="float32")
print(json.dumps({"call": np.asarray(model(wide)).tolist(), "predict": model.predict(wide, verbose=0).tolist(),
                  "evaluate": model.evaluate(wide, targets, verbose=0, return_dict=True)}))
'''


def _trained(seed=0):
    gpunn.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = gpunn.Sequential([gpunn.Input((1, 5)), layers.Dense(4, activation="relu"), layers.BatchNormalization(),
                              layers.Dense(1)])
    model.compile(loss="mse", metrics=[gpunn.metrics.MeanAbsoluteError()])
    model.fit(rng.normal(size=(32, 1, 5)).astype("float32"), rng.normal(size=(32, 1, 1)).astype("float32"),
              epochs=2, verbose=0)
    wide = rng.normal(size=(6, 24, 5)).astype("float32")
    return model, wide, rng.normal(size=(6, 24, 1)).astype("float32")


def test_calls_predict_and_evaluate_on_a_wider_window_are_kerass():
    model, wide, targets = _trained()
    theirs = run_keras(KERAS_SIDE, {"weights": [w.tolist() for w in model.get_weights()], "wide": wide.tolist(),
                                    "targets": targets.tolist()})
    for ours, kerass in ((model(wide), theirs["call"]), (model.predict(wide, verbose=0), theirs["predict"]),
                         (model.predict_on_batch(wide), theirs["predict"])):
        assert np.shape(ours) == (6, 24, 1)
        np.testing.assert_allclose(ours, kerass, rtol=1e-5, atol=1e-6)
    ours = model.evaluate(wide, targets, verbose=0, return_dict=True)
    assert sorted(ours) == sorted(theirs["evaluate"]) == ["loss", "mean_absolute_error"]
    for key, value in theirs["evaluate"].items():
        assert ours[key] == pytest.approx(value, rel=1e-5)
    assert model.test_on_batch(wide, targets) == pytest.approx(model.evaluate(wide, targets, verbose=0), rel=1e-6)


def test_a_variant_computes_as_the_model_built_for_that_shape_and_each_step_as_the_model():
    model, wide, targets = _trained()
    built_wide = gpunn.Sequential([gpunn.Input((24, 5)), layers.Dense(4, activation="relu"),
                                   layers.BatchNormalization(), layers.Dense(1)])
    built_wide.compile(loss="mse", metrics=[gpunn.metrics.MeanAbsoluteError()])
    built_wide.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(wide, verbose=0), built_wide.predict(wide, verbose=0))
    assert model.evaluate(wide, targets, verbose=0) == built_wide.evaluate(wide, targets, verbose=0)
    np.testing.assert_allclose(np.asarray(model(wide))[:, 7:8], model(wide[:, 7:8]), rtol=1e-6, atol=1e-7)


def test_the_weights_stay_the_models():
    model, wide, targets = _trained()
    before = model.predict(wide, verbose=0)
    model.set_weights([w * 0.5 for w in model.get_weights()])  # set after the variant was made
    halved = model.predict(wide, verbose=0)
    assert not np.allclose(halved, before)
    model.fit(np.ones((8, 1, 5), "float32"), np.ones((8, 1, 1), "float32"), epochs=1, verbose=0)  # trains the model
    built_wide = gpunn.Sequential([gpunn.Input((24, 5)), layers.Dense(4, activation="relu"),
                                   layers.BatchNormalization(), layers.Dense(1)])
    built_wide.set_weights(model.get_weights())
    np.testing.assert_array_equal(model(wide), built_wide(wide))
    moving = model.layers[1].get_weights()[2:]
    model(wide, training=True)  # as in Keras, a call in training mode moves the model's moving statistics
    assert all(not np.allclose(after, kept) for after, kept in zip(model.layers[1].get_weights()[2:], moving))
    with pytest.raises(ValueError, match=r"expected samples of shape \(1, 5\)"):  # fit trains on the model's shape
        model.fit(wide, targets, verbose=0)


def test_a_subclassed_baseline_slices_any_window():
    """The tutorial's Baseline: ``inputs[:, :, i][:, :, tf.newaxis]``, evaluated on one-step windows, then called on
    the wide window."""

    class Baseline(gpunn.Model):
        def __init__(self, label_index=None):
            super().__init__()
            self.label_index = label_index

        def call(self, inputs):
            return inputs[:, :, self.label_index][:, :, None]

    model, wide, _ = _trained()
    baseline = Baseline(3)
    baseline.compile(loss="mse")
    baseline.evaluate(wide[:, :1], wide[:, :1, 3:4], verbose=0)
    np.testing.assert_array_equal(baseline(wide), wide[:, :, 3:4])


def test_layers_that_cannot_take_the_shape_say_so():
    model = gpunn.Sequential([gpunn.Input((1, 5)), layers.Flatten(), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"inputs: expected samples of shape \(1, 5\) .* got samples of shape "
                                         r"\(24, 5\); for those its layers would need weights of other shapes"):
        model(np.ones((2, 24, 5), "float32"))
    dense = gpunn.Sequential([gpunn.Input((1, 5)), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"x: expected samples of shape \(1, 5\) .* got samples of shape \(1, 6\)"):
        dense.predict(np.ones((2, 1, 6), "float32"), verbose=0)


def test_a_recompile_alternating_shapes_and_the_random_stream():
    """A recompile reaches the variant (its metrics); two shapes in turn keep their variants; making one draws
    nothing from the random streams (a seeded run goes on as without it)."""
    model, wide, targets = _trained()
    model.compile(loss="mse", metrics=[gpunn.metrics.MeanAbsoluteError()])
    assert sorted(model.evaluate(wide, targets, verbose=0, return_dict=True)) == ["loss", "mean_absolute_error"]
    model.compile(loss="mse", metrics=[gpunn.metrics.MeanSquaredError()])
    assert sorted(model.evaluate(wide, targets, verbose=0, return_dict=True)) == ["loss", "mean_squared_error"]
    narrow = wide[:, :12]
    model(wide), model(narrow)
    made = dict(model._shape_variants)
    model(wide), model(narrow)
    assert sorted(model._shape_variants) == [(12, 5), (24, 5)] and all(
        model._shape_variants[shape][0] is made[shape][0] for shape in made)

    def draws(call_on_other_shape):
        model, wide, _ = _trained(seed=3)
        gpunn.utils.set_random_seed(11)
        if call_on_other_shape:
            model(wide[:, :7])
        return gpunn.random.generator().random(3), np.random.random(3)

    for ours, plain in zip(draws(True), draws(False)):
        np.testing.assert_array_equal(ours, plain)


def test_what_a_variant_would_compute_otherwise_is_refused():
    """A subclassed model whose call() read its inputs' shape when traced (Keras runs call() again for another
    shape), and a model with a step or loss of its own (a copy of its layers would skip it)."""

    class ReadsShape(gpunn.Model):
        def call(self, x):
            return x[:, -1:, :] * float(x.shape[1])

    class OwnLoss(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return gpunn.ops.mean(gpunn.ops.square(y_pred - y)) * 2.0

    reads = ReadsShape()
    np.testing.assert_array_equal(reads(np.ones((2, 1, 5), "float32")), 1.0)
    with pytest.raises(ValueError, match=r"ReadsShape.call\(\) read its inputs' shape when gpunn traced it"):
        reads(np.ones((2, 24, 5), "float32"))
    own = OwnLoss()
    own.compile(optimizer="sgd")
    own.evaluate(np.ones((4, 1, 5), "float32"), np.ones((4, 1, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match="without the compute_loss of OwnLoss's own"):
        own.evaluate(np.ones((4, 3, 5), "float32"), np.ones((4, 3, 1), "float32"), verbose=0)


def test_a_resizing_model_takes_images_of_many_sizes_keeping_the_last_variants():
    from gpunn.models import shape_variants

    resize_and_rescale = gpunn.Sequential([layers.Resizing(6, 5), layers.Rescaling(1 / 255)])
    sizes = [(9 + k, 7 + (k % 3)) for k in range(shape_variants.KEPT_VARIANTS + 4)]
    for height, width in sizes:
        image = np.random.default_rng(height).uniform(0, 255, (height, width, 3)).astype(np.float32)
        out = np.asarray(resize_and_rescale(image))
        alone = np.asarray(layers.Resizing(6, 5)(image)) / 255
        assert out.shape == (6, 5, 3)
        np.testing.assert_allclose(out, alone, rtol=1e-5, atol=1e-6)
    kept = resize_and_rescale.__dict__["_shape_variants"]
    assert len(kept) == shape_variants.KEPT_VARIANTS
    assert list(kept) == [size + (3,) for size in sizes[-shape_variants.KEPT_VARIANTS:]]  # the last ones used


def test_samples_of_another_rank_are_refused_as_keras_refuses_them():
    """``x[:, None, :]`` to a model of samples (8,): Keras's input check refuses it; running a variant gave
    predictions of shape (n, 1, 10), whose argmax(axis=1) is silently all zeros."""
    model = gpunn.Sequential([gpunn.Input((8,)), gpunn.layers.Dense(4, activation="relu"),
                              gpunn.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.ones((6, 8), "float32"), np.zeros(6)
    for call in (lambda: model.predict(x[:, None, :], verbose=0), lambda: model.evaluate(x[:, None, :], y, verbose=0),
                 lambda: model(x[:2, None, :])):
        with pytest.raises(ValueError, match=r"got samples of shape \(1, 8\), of another rank; Keras refuses them"):
            call()
    assert model.predict(x[:, :, None], verbose=0).shape == (6, 3)  # (a trailing axis of 1 is dropped, as Keras)
    with pytest.raises(ValueError, match=r"x.squeeze\(axis=1\) drops its axis of 1"):
        model.predict(x[:, None, :], verbose=0)
    flat = gpunn.Sequential([gpunn.Input((2, 3)), gpunn.layers.Flatten(), gpunn.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"of another rank.*\(x.reshape\(len\(x\), 2, 3\)\)"):
        flat.predict(np.ones((4, 6)), verbose=0)
    with pytest.raises(ValueError, match=r"reshape the data to samples of 2 axes$"):
        flat.predict(np.ones((4, 5)), verbose=0)


def test_a_trailing_axis_of_1_is_added_or_dropped_for_variable_widths_as_keras_does():
    """Keras's ``_adjust_input_rank`` adds or drops a trailing axis of 1 before anything else: (n, 5, 1) to an
    Input((None,)) is (n, 5); (n, 5) to an Input((None, 1)) is (n, 5, 1)."""
    ids = gpunn.Sequential([gpunn.Input((None,), dtype="int32"), gpunn.layers.Embedding(10, 2),
                            gpunn.layers.GlobalAveragePooling1D(), gpunn.layers.Dense(1)])
    tokens = np.arange(10, dtype="int32").reshape(2, 5) % 7
    np.testing.assert_array_equal(ids.predict(tokens[..., None], verbose=0), ids.predict(tokens, verbose=0))
    steps = gpunn.Sequential([gpunn.Input((None, 1)), gpunn.layers.Dense(2), gpunn.layers.GlobalAveragePooling1D(),
                              gpunn.layers.Dense(1)])
    series = np.linspace(-1, 1, 10, dtype="float32").reshape(2, 5)
    np.testing.assert_array_equal(steps.predict(series, verbose=0), steps.predict(series[..., None], verbose=0))
