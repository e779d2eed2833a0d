"""sample_weight and class_weight, with Keras's meaning: each sample's loss (and so its gradient) is scaled by
its weight; the reported loss is sum(weight * loss) / samples; metrics stay unweighted."""
import numpy as np
import pytest

import gpunn
from gpunn import layers


def _model(seed=3, optimizer=None):
    gpunn.utils.set_random_seed(seed)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(5, activation="tanh"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer or gpunn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture
def data(rng):
    return rng.standard_normal((24, 4)), rng.integers(0, 3, 24)


def test_unit_weights_change_nothing(data):
    x, y = data
    with gpunn.use_backend("numpy"):
        a, b = _model(), _model()
        ha = a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        hb = b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=np.ones(24))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-6)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)


def test_doubling_every_weight_doubles_the_step(data):
    """Plain SGD: weights 2 everywhere with lr equal weights 1 with lr * 2."""
    x, y = data
    with gpunn.use_backend("numpy"):
        a = _model(optimizer=gpunn.optimizers.SGD(0.2))
        b = _model(optimizer=gpunn.optimizers.SGD(0.1))
        a.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        hb = b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, sample_weight=np.full(24, 2.0))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-7)
    assert "accuracy" in hb.history


def test_reported_loss_is_the_weighted_sum_over_samples(data, rng):
    x, y = data
    w = rng.uniform(0.0, 3.0, 24)
    with gpunn.use_backend("numpy"):
        model = _model()
        probs = model.predict(x, verbose=0).astype(np.float64)
        loss, accuracy = model.evaluate(x, y, sample_weight=w, batch_size=7, verbose=0)
        unweighted_accuracy = model.evaluate(x, y, verbose=0)[1]
    per_sample = -np.log(np.clip(probs[np.arange(24), y], 1e-7, 1))
    assert loss == pytest.approx(float((w * per_sample).sum() / 24), rel=1e-5)
    assert accuracy == pytest.approx(unweighted_accuracy)


def test_class_weight_is_sample_weight_by_class(data):
    x, y = data
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    with gpunn.use_backend("numpy"):
        a, b = _model(), _model()
        a.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, class_weight=class_weight)
        b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
              sample_weight=np.array([class_weight[c] for c in y]))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_weights_follow_validation_split_and_validation_data(data, rng):
    x, y = data
    w = rng.uniform(0.5, 2.0, 24)
    with gpunn.use_backend("numpy"):
        model = _model()
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, sample_weight=w, validation_split=0.25)
        assert len(history.history["val_loss"]) == 1
        history = model.fit(x[:18], y[:18], epochs=1, verbose=0, validation_data=(x[18:], y[18:], w[18:]))
        expected = model.evaluate(x[18:], y[18:], sample_weight=w[18:], verbose=0)[0]
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-6)


def test_class_weight_weighs_the_training_rows_only_not_those_validation_split_keeps(data):
    """Keras's fit splits the samples with their sample_weight, and applies class_weight in its training iterator:
    the validation loss of a class-weighted fit is the unweighted loss of the last rows."""
    x, y = data
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    with gpunn.use_backend("numpy"):
        model, reference = _model(), _model()
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, validation_split=0.25,
                            class_weight=class_weight)
        expected = model.evaluate(x[18:], y[18:], verbose=0)[0]
        reference.fit(x[:18], y[:18], batch_size=8, epochs=1, shuffle=False, verbose=0,
                      sample_weight=np.array([class_weight[c] for c in y[:18]]))
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-12)
    weighted = model.evaluate(x[18:], y[18:], sample_weight=np.array([class_weight[c] for c in y[18:]]), verbose=0)
    assert abs(weighted[0] - expected) > 1e-3  # the weights would have shown
    for ours, theirs in zip(model.get_weights(), reference.get_weights()):  # the training rows weighed by class
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("kwargs, match", [
    ({"sample_weight": np.ones(23)}, r"sample_weight: expected one weight per sample, shape \(24,\)"),
    ({"sample_weight": -np.ones(24)}, "sample_weight: expected non-negative weights"),
    ({"sample_weight": np.full(24, np.nan)}, "sample_weight: expected finite values"),
    ({"class_weight": [1.0, 2.0, 3.0]}, "class_weight: expected a dict"),
    ({"class_weight": {0: 1, 1: 1, 2: 1}, "sample_weight": np.ones(24)}, "give at most one of them"),
])
def test_bad_weights_are_refused_before_any_work(data, kwargs, match):
    x, y = data
    with gpunn.use_backend("numpy"):
        model = _model()
        before = model.get_weights()
        with pytest.raises((ValueError, TypeError), match=match):
            model.fit(x, y, epochs=1, verbose=0, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_class_class_weight_leaves_out_weighs_one(data):
    """Keras's class_weight_to_sample_weights: ``class_weight.get(c, 1.0)``."""
    x, y = data
    with gpunn.use_backend("numpy"):
        model = _model()
        partial = model.test_on_batch(x, y, sample_weight=np.where(y == 1, 2.0, 1.0))
        weights = model.get_weights()
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, class_weight={1: 2.0})
        by_class = model.get_weights()
        model.set_weights(weights)
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, sample_weight=np.where(y == 1, 2.0, 1.0))
    assert np.isfinite(partial[0])
    for a, b in zip(by_class, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_train_and_test_on_batch_take_weights(data):
    x, y = data
    with gpunn.use_backend("numpy"):
        model = _model()
        weighted = model.test_on_batch(x, y, sample_weight=np.full(24, 2.0))[0]
        plain = model.test_on_batch(x, y)[0]
        assert weighted == pytest.approx(2 * plain, rel=1e-6)
        loss = model.train_on_batch(x, y, class_weight={0: 2.0, 1: 2.0, 2: 2.0})[0]
    assert loss == pytest.approx(2 * plain, rel=1e-6)
