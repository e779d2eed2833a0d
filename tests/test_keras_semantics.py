"""Keras behaviours that decide the numbers a user gets, each checked against Keras's documented semantics:

- ``trainable`` changed after building or training takes effect at the next ``compile()``, both ways, with the
  weights kept (Keras ``trainers/trainer.py`` compile docstring; BatchNormalization's ``training and
  self.trainable``); without a recompile the compiled state stays, with Keras's warning.
- Built layers reused in a new model keep their weights, and layers shared by two models share them.
- ``'accuracy'`` with a loss built with ``from_logits=True`` is Keras's BinaryAccuracy on the model's output:
  ``logit > 0.5`` (``metrics/accuracy_metrics.py`` ``binary_accuracy``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpunn
from gpunn import callbacks, layers, losses, metrics, optimizers
from gpunn.ops.workspace import Workspace

from helpers import numpy_backend, run_keras, run_script_both_ways  # noqa: F401  (fixture)

FEATURES, CLASSES = 6, 3


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, FEATURES)), rng.integers(0, CLASSES, n)


def _model(seed=5, batchnorm=False):
    gpunn.utils.set_random_seed(seed)
    middle = [layers.BatchNormalization(name="norm")] if batchnorm else []
    return gpunn.Sequential([gpunn.Input(shape=(FEATURES,), dtype="float64"),
                             layers.Dense(8, activation="relu", name="base")] + middle
                            + [layers.Dense(CLASSES, activation="softmax", name="head")])


def _compile(model, jit=False, optimizer="adam"):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)


def _fit(model, epochs=2, **kwargs):
    x, y = _data()
    return model.fit(x, y, batch_size=10, epochs=epochs, verbose=0, shuffle=False, **kwargs)


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def _assert_same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def _clone(model):
    """A separate model with ``model``'s config and current weights (nothing shared)."""
    clone = gpunn.Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


# ---- trainable ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_freezing_after_fit_takes_effect_at_the_next_compile(jit):
    model = _model()
    _compile(model, jit)
    _fit(model)
    base, head = model.get_layer("base"), model.get_layer("head")
    base.trainable = False
    _compile(model, jit)
    frozen, head_before = base.get_weights(), head.get_weights()
    _fit(model)
    _assert_same(base.get_weights(), frozen)  # bit for bit
    assert not _same(head.get_weights(), head_before)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_unfreezing_trains_again_from_the_kept_weights(jit):
    model = _model()
    base = model.get_layer("base")
    base.trainable = False
    _compile(model, jit)
    _fit(model)
    kept = base.get_weights()
    base.trainable = True
    _compile(model, jit)
    _assert_same(base.get_weights(), kept)  # re-packing keeps the values
    _fit(model)
    assert not _same(base.get_weights(), kept)


def _momentum_sgd_by_hand(x, y, weights, phases, lr=0.05, momentum=0.9, batch=16):
    """Keras's SGD with momentum (v = momentum * v - lr * g; w += v) on a linear 8-6-1 MLP with MSE, in float64:
    ``phases`` lists, per epoch, whether the first layer trains; a frozen layer keeps its velocity unchanged."""
    w1, b1, w2, b2 = (np.array(w, np.float64) for w in weights)
    velocity = [np.zeros_like(w) for w in (w1, b1, w2, b2)]
    for first_trains in phases:
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            h = xb @ w1 + b1
            d = 2 * (h @ w2 + b2 - yb) / yb.size
            dh = d @ w2.T
            grads = [xb.T @ dh, dh.sum(0), h.T @ d, d.sum(0)]
            for k, (w, g) in enumerate(zip((w1, b1, w2, b2), grads)):
                if k < 2 and not first_trains:
                    continue
                velocity[k] = momentum * velocity[k] - lr * g
                w += velocity[k]
    return [w1, b1, w2, b2]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_a_weight_frozen_then_trained_again_with_the_same_optimizer_takes_up_its_moments(jit):
    """Keras's optimizer keeps a slot per weight it was built with, through recompiles with the same optimizer
    object: a layer frozen for a while, then unfrozen, goes on from its momentum (Keras's TensorFlow backend; its
    jax backend refuses the step), rather than from zero."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 8)), rng.standard_normal((64, 1))
    model = gpunn.Sequential([gpunn.Input((8,), dtype="float64"), layers.Dense(6), layers.Dense(1)])
    start = [rng.standard_normal(w.shape) * 0.3 for w in model.get_weights()]
    model.set_weights(start)
    optimizer = optimizers.SGD(0.05, momentum=0.9)
    phases = [True, False, True]
    for first_trains in phases:
        model.layers[0].trainable = first_trains
        model.compile(optimizer, "mse", jit_compile=jit)
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for ours, expected in zip(model.get_weights(), _momentum_sgd_by_hand(x, y, start, phases)):
        np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_replayed_training_after_a_trainable_change_equals_eager():
    """As in tests/test_train_step.py: the recording is made again for the new layout, bit for bit eager's."""
    def run(jit):
        model = _model(batchnorm=True)
        _compile(model, jit)
        first = _fit(model).history
        model.get_layer("base").trainable = False
        model.get_layer("norm").trainable = False
        _compile(model, jit)
        second = _fit(model).history
        model.get_layer("norm").trainable = True
        _compile(model, jit)
        third = _fit(model).history
        return model, (first, second, third)

    (eager, eager_history), (replayed, replayed_history) = run(False), run(True)
    _assert_same(eager.get_weights(), replayed.get_weights())
    assert eager_history == replayed_history


def test_model_trainable_sets_every_layer_and_freezes_everything():
    """Keras's setter sets every layer's flag; a model with nothing to train warns as Keras does."""
    model = _model(batchnorm=True)
    _compile(model)
    _fit(model, epochs=1)
    model.trainable = False
    assert [layer.trainable for layer in model.layers] == [False, False, False]
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == len(model.weights)
    _compile(model)
    before = model.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        _fit(model)
    _assert_same(model.get_weights(), before)  # moving statistics too: frozen BatchNormalization infers
    model.trainable = True
    assert all(layer.trainable for layer in model.layers)
    _compile(model)
    _fit(model, epochs=1)
    assert all(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_a_model_built_with_trainable_false_trains_nothing():
    """Keras: the constructor's flag is the model's own; its trainable_variables are empty while it is False."""
    model = gpunn.Sequential([gpunn.Input(shape=(FEATURES,)), layers.Dense(4), layers.Dense(CLASSES)],
                             trainable=False)
    assert all(layer.trainable for layer in model.layers) and model.trainable_weights == []
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        _fit(model, epochs=1)
    _assert_same(model.get_weights(), before)


def test_weight_lists_counts_and_summary_agree_after_a_change():
    model = _model(batchnorm=True)
    _compile(model)
    _fit(model, epochs=1)
    sizes = {"base": 6 * 8 + 8, "norm": 4 * 8, "head": 8 * 3 + 3}
    for frozen in ([], ["base"], ["base", "norm"], ["norm"], []):
        for layer in model.layers:
            layer.trainable = layer.name not in frozen
        trainable = sum(int(w.size) for w in model.trainable_weights)
        non_trainable = sum(int(w.size) for w in model.non_trainable_weights)
        moving = 2 * 8  # BatchNormalization's moving statistics are never trained
        want = sum(size for name, size in sizes.items() if name not in frozen) - moving * ("norm" not in frozen)
        assert trainable == want and trainable + non_trainable == model.count_params() == sum(sizes.values())
        assert len(model.trainable_weights) + len(model.non_trainable_weights) == len(model.weights)
        lines = []
        model.summary(print_fn=lines.append)
        text = "\n".join(lines)
        assert f"Trainable params: {trainable:,}" in text and f"Non-trainable params: {non_trainable:,}" in text
        _compile(model)
        _fit(model, epochs=1)  # and training agrees: the frozen layers stay as they were
        assert model.params.size == trainable


_VARIABLE_LISTS_SCRIPT = """
import json, sys, keras
from keras import layers
frozen = json.load(sys.stdin)
model = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="base"), layers.BatchNormalization(name="norm"),
                          layers.Dense(2, name="head")], name="m")
for layer in model.layers:
    layer.trainable = layer.name not in frozen
print(json.dumps({f"{owner}.{name}": [v.path for v in getattr(obj, name)]
                  for owner, obj in (("model", model), ("bn", model.layers[1]))
                  for name in ("variables", "trainable_variables", "non_trainable_variables")}))
"""


@pytest.mark.parametrize("frozen", [[], ["norm"], ["base", "head"]])
def test_variables_lists_are_keras_s(frozen):
    """``variables`` / ``trainable_variables`` / ``non_trainable_variables`` list what Keras lists (a model without
    random layers: Keras adds their seed states to ``variables``)."""
    model = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(3, name="base"), layers.BatchNormalization(name="norm"),
                              layers.Dense(2, name="head")], name="m")
    for layer in model.layers:
        layer.trainable = layer.name not in frozen
    ours = {f"{owner}.{name}": [v.path for v in getattr(obj, name)]
            for owner, obj in (("model", model), ("bn", model.layers[1]))
            for name in ("variables", "trainable_variables", "non_trainable_variables")}
    assert ours == run_keras(_VARIABLE_LISTS_SCRIPT, frozen)
    assert ours["bn.variables"] == ["m/norm/gamma", "m/norm/beta", "m/norm/moving_mean", "m/norm/moving_variance"]

def test_frozen_batch_normalization_after_training_runs_in_inference_mode():
    """Keras 3: ``if training and self.trainable`` batch statistics, else the moving ones, left unchanged."""
    model = _model(batchnorm=True)
    _compile(model, optimizer=optimizers.SGD(0.1))
    x, y = _data()
    _fit(model)  # the moving statistics move away from their initial values
    norm = model.get_layer("norm")
    batch = x[:10], y[:10]
    # While trainable, a training step normalises with the batch's statistics: not evaluate's loss.
    evaluated = model.evaluate(*batch, verbose=0)
    assert model.train_on_batch(*batch) != pytest.approx(evaluated, rel=1e-6)
    norm.trainable = False
    _compile(model, optimizer=optimizers.SGD(0.1))
    kept = norm.get_weights()
    # Frozen: the training step normalises with the moving statistics, so its loss and accuracy (taken before
    # its update) are evaluate's on the same batch.
    evaluated = model.evaluate(*batch, verbose=0)
    assert model.train_on_batch(*batch) == pytest.approx(evaluated, rel=1e-12)
    _fit(model)
    _assert_same(norm.get_weights(), kept)  # gamma, beta and the moving statistics, bit for bit
    norm.trainable = True
    _compile(model, optimizer=optimizers.SGD(0.1))
    _fit(model)
    assert all(not np.array_equal(a, b) for a, b in zip(norm.get_weights(), kept))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_a_change_without_recompiling_keeps_the_compiled_state_and_warns_once(jit):
    """Keras: "those changes will not take effect during fit() unless compile() is called again", and its
    _warn_if_trainable_state_changed message, once per change."""
    model = _model(batchnorm=True)
    _compile(model, jit)
    _fit(model, epochs=1)
    base, norm = model.get_layer("base"), model.get_layer("norm")
    base.trainable = norm.trainable = False
    before = base.get_weights() + norm.get_weights()
    with pytest.warns(UserWarning, match=r"Please recompile your model.*Changed layers: \['base', 'norm'\]"):
        _fit(model, epochs=1)
    after = base.get_weights() + norm.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(after, before))  # trained as compiled, statistics too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(model, epochs=1)  # warned once for this change
        _compile(model, jit)
        frozen = base.get_weights() + norm.get_weights()
        _fit(model, epochs=1)
    _assert_same(base.get_weights() + norm.get_weights(), frozen)


def test_the_flags_of_the_first_fit_after_compile_are_taken():
    """Keras builds its optimizer and training function at the first fit after compile (on TensorFlow and JAX
    alike: checked with both), so a layer frozen between compile and fit stays frozen, without a warning; after
    the model has trained, a change waits for the next compile (and is warned about)."""
    model = _model()
    _compile(model)
    base = model.get_layer("base")
    base.trainable = False
    before = base.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(model, epochs=1)
    _assert_same(base.get_weights(), before)
    base.trainable = True
    with pytest.warns(UserWarning, match="Please recompile your model"):
        _fit(model, epochs=1)
    _assert_same(base.get_weights(), before)


class _FreezeAfterFirstEpoch(callbacks.Callback):
    """Keras's ``Layer.trainable`` docstring: a change during training needs make_train_function(force=True)."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.model.get_layer("base").trainable = False
            self.model.make_train_function(force=True)
            self.frozen = self.model.get_layer("base").get_weights()
            self.head = self.model.get_layer("head").get_weights()


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_make_train_function_force_applies_a_change_during_fit(jit):
    model = _model()
    _compile(model, jit)
    callback = _FreezeAfterFirstEpoch()
    _fit(model, epochs=3, callbacks=[callback])
    _assert_same(model.get_layer("base").get_weights(), callback.frozen)
    assert not _same(model.get_layer("head").get_weights(), callback.head)


def test_trainable_must_be_a_bool():
    with pytest.raises(ValueError, match="trainable: expected True or False, got 'no'"):
        layers.Dense(2, trainable="no")
    with pytest.raises(ValueError, match="trainable: expected True or False"):
        _model().trainable = None
    with pytest.raises(ValueError, match="trainable: expected True or False"):
        _model().layers[0].trainable = "False"


# ---- reused and shared layers -------------------------------------------------------------------------------


def _trained_base():
    model = _model()
    _compile(model)
    _fit(model)
    return model


def test_reused_layers_keep_their_trained_weights_and_the_first_model_keeps_working():
    a = _trained_base()
    x, _ = _data()
    weights, predictions = a.get_weights(), a.predict(x, verbose=0)
    b = gpunn.Sequential(a.layers[:-1] + [layers.Dense(2, activation="softmax", name="new_head")])
    b.build((None, FEATURES))
    _assert_same(b.get_weights()[:2], weights[:2])
    _assert_same(a.get_weights(), weights)
    np.testing.assert_array_equal(a.predict(x, verbose=0), predictions)
    b.predict(x, verbose=0)
    np.testing.assert_array_equal(a.predict(x, verbose=0), predictions)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_shared_layers_share_their_weights_both_ways(jit):
    """Keras: a layer owns its weights; training either model changes them for both."""
    x, y = _data()
    a = _trained_base()
    _compile(a, jit)
    b = gpunn.Sequential(a.layers[:-1] + [layers.Dense(2, activation="softmax", name="new_head")])
    _compile(b, jit)
    a_head = a.get_layer("head").get_weights()
    b.fit(x, y % 2, batch_size=10, epochs=2, verbose=0)
    shared = a.get_layer("base")
    assert shared is b.get_layer("base")
    _assert_same(a.get_weights()[:2], b.get_weights()[:2])
    _assert_same(a.get_layer("head").get_weights(), a_head)  # not shared, not trained by b
    np.testing.assert_array_equal(a.predict(x, verbose=0), _clone(a).predict(x, verbose=0))
    np.testing.assert_array_equal(a.params, _clone(a).params)  # a's own buffer holds the shared values again
    b_head = b.get_layer("new_head").get_weights()
    _fit(a)
    _assert_same(a.get_weights()[:2], b.get_weights()[:2])
    _assert_same(b.get_layer("new_head").get_weights(), b_head)
    np.testing.assert_array_equal(b.predict(x, verbose=0), _clone(b).predict(x, verbose=0))


def test_alternating_training_of_shared_models_replays_as_eager():
    """Each model's recorded step stays valid while the shared layer moves between the two models' buffers."""
    def run(jit):
        x, y = _data()
        a = _trained_base()
        _compile(a, jit)
        b = gpunn.Sequential(a.layers[:-1] + [layers.Dense(2, activation="softmax")])
        _compile(b, jit)
        for _ in range(3):
            a.fit(x, y, batch_size=10, epochs=1, verbose=0, shuffle=False)
            b.fit(x, y % 2, batch_size=10, epochs=1, verbose=0, shuffle=False)
        return a.get_weights() + b.get_weights()

    _assert_same(run(False), run(True))


class _PredictWith(callbacks.Callback):
    def __init__(self, other, x):
        super().__init__()
        self.other, self.x = other, x

    def on_train_batch_end(self, batch, logs=None):
        self.other.predict(self.x, verbose=0)  # runs the shared layer on the other model's buffers


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_the_other_model_running_during_fit_changes_nothing(jit):
    x, _ = _data()

    def run(with_other):
        a = _trained_base()
        _compile(a, jit)
        b = gpunn.Sequential(a.layers[:-1] + [layers.Dense(2)])
        b.build((None, FEATURES))
        _fit(a, callbacks=[_PredictWith(b, x)] if with_other else None)
        return a.get_weights()

    _assert_same(run(True), run(False))


def test_transfer_learning_recipe_trains_only_the_new_head():
    """Keras's transfer-learning guide: freeze the base, put a new head on it, train, then fine-tune."""
    x, y = _data()
    a = _trained_base()
    a_predictions = a.predict(x, verbose=0)
    base = a.layers[:-1]
    for layer in base:
        layer.trainable = False
    b = gpunn.Sequential(base + [layers.Dense(2, activation="softmax")])
    b.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kept = [layer.get_weights() for layer in base]
    b.fit(x, y % 2, batch_size=10, epochs=2, verbose=0)
    for layer, weights in zip(base, kept):
        _assert_same(layer.get_weights(), weights)
    np.testing.assert_array_equal(a.predict(x, verbose=0), a_predictions)
    for layer in base:
        layer.trainable = True
    b.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    b.fit(x, y % 2, batch_size=10, epochs=1, verbose=0)
    assert not _same(base[0].get_weights(), kept[0])
    np.testing.assert_array_equal(a.predict(x, verbose=0), _clone(a).predict(x, verbose=0))


def test_a_built_layer_refuses_inputs_its_weights_do_not_fit():
    a = _trained_base()
    model = gpunn.Sequential([gpunn.Input(shape=(FEATURES + 1,))])
    with pytest.raises(ValueError, match=r"layer: 'base' holds weights for inputs of shape \(None, 6\)"):
        model.add(a.get_layer("base"))
    assert a.get_layer("base").input_shape == (FEATURES,)
    x, _ = _data()
    a.predict(x, verbose=0)


# ---- accuracy on logits --------------------------------------------------------------------------------------

# Logits chosen so that ``logit > 0.5`` (Keras) and ``sigmoid(logit) > 0.5`` disagree on three samples.
LOGITS = np.array([0.3, 0.3, -0.2, 0.7, 0.1, -0.4, 0.45, 0.9])
LABELS = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
KERAS_ACCURACY = np.mean((LOGITS > 0.5) == LABELS)  # 5 / 8


def _logit_model(loss):
    """Dense(1) with kernel 1 and bias 0: its logits are its inputs (set again before each training call, whose
    metrics are those of the outputs before its update)."""
    model = gpunn.Sequential([gpunn.Input(shape=(1,), dtype="float64"), layers.Dense(1)])
    model.set_weights([np.ones((1, 1)), np.zeros(1)])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy", "acc", "binary_accuracy"])
    return model


@pytest.mark.parametrize("loss", [
    losses.BinaryCrossentropy(from_logits=True),
    {"class_name": "BinaryCrossentropy", "config": {"from_logits": True}},
    "binary_crossentropy",  # the outputs taken as probabilities: the metric thresholds them all the same
], ids=["object", "config", "string"])
def test_accuracy_with_logits_is_keras_binary_accuracy_on_the_logits(loss):
    assert KERAS_ACCURACY == 0.625 and np.mean((LOGITS > 0.0) == LABELS) == 0.875
    model = _logit_model(loss)
    x = LOGITS.reshape(-1, 1)
    logits = model.predict(x, verbose=0).ravel()
    np.testing.assert_array_equal(logits, LOGITS)
    hand = np.mean((logits > 0.5) == LABELS)
    results = model.evaluate(x, LABELS, batch_size=3, verbose=0, return_dict=True)
    assert results["accuracy"] == results["acc"] == results["binary_accuracy"] == hand == KERAS_ACCURACY
    assert model.train_on_batch(x, LABELS, return_dict=True)["accuracy"] == KERAS_ACCURACY
    model.set_weights([np.ones((1, 1)), np.zeros(1)])
    history = model.fit(x, LABELS, batch_size=8, epochs=1, verbose=0)
    assert history.history["accuracy"] == [KERAS_ACCURACY]


def test_accuracy_after_a_sigmoid_output_sees_its_probabilities():
    """The fused sigmoid + cross-entropy step hands the metrics the probabilities the layer outputs."""
    model = gpunn.Sequential([gpunn.Input(shape=(1,), dtype="float64"), layers.Dense(1, activation="sigmoid")])
    model.set_weights([np.ones((1, 1)), np.zeros(1)])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    x = LOGITS.reshape(-1, 1)
    probabilities = model.predict(x, verbose=0).ravel()
    _, accuracy = model.evaluate(x, LABELS, verbose=0)
    assert accuracy == np.mean((probabilities > 0.5) == LABELS) == np.mean((LOGITS > 0.0) == LABELS)


def test_categorical_accuracy_with_logits_takes_the_argmax_of_the_logits(rng):
    x = rng.standard_normal((20, FEATURES))
    labels = rng.integers(0, CLASSES, 20)
    model = gpunn.Sequential([gpunn.Input(shape=(FEATURES,), dtype="float64"), layers.Dense(CLASSES)])
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    _, accuracy = model.evaluate(x, labels, verbose=0)
    assert accuracy == np.mean(model.predict(x, verbose=0).argmax(-1) == labels)


def test_binary_accuracy_compares_labels_exactly_as_keras(numpy_backend):
    """Keras's binary_accuracy: y_true == cast(y_pred > threshold, y_true.dtype); a soft label matches neither."""
    y_true = np.array([[1.0], [0.0], [0.9], [0.1]])
    y_pred = np.array([[0.7], [0.2], [0.8], [0.3]])
    out = np.zeros(())
    metrics.BinaryAccuracy().batch_sum(numpy_backend, Workspace(numpy_backend), y_true, y_pred, out)
    assert float(out) == np.sum(y_true == (y_pred > 0.5)) == 2


_NESTED_FLAGS = """
def nested_flags(keras):
    layers, out = keras.layers, {}
    inner = keras.Sequential([keras.Input((3,)), layers.Dense(3), layers.Dense(3)], name="inner")
    outer = keras.Sequential([keras.Input((3,)), inner, layers.Dense(1)], name="outer")
    outer.trainable = False
    out["frozen"] = [inner.trainable, inner.layers[0].trainable, len(outer.trainable_weights)]
    outer.trainable = True
    out["unfrozen"] = [inner.trainable, len(inner.trainable_weights), len(outer.trainable_weights)]
    inner.trainable = False
    out["inner_frozen"] = [outer.trainable, len(outer.trainable_weights)]
    base = keras.Sequential([keras.Input((3,)), layers.Dense(3)], name="base")
    inputs = keras.Input((3,))
    functional = keras.Model(inputs, layers.Dense(1)(base(inputs)))
    functional.trainable = False
    out["functional_frozen"] = [base.trainable, base.layers[0].trainable]
    functional.trainable = True
    out["functional_unfrozen"] = [base.trainable, len(base.trainable_weights), len(functional.trainable_weights)]
    return out
"""


def test_a_nested_model_s_flag_follows_the_outer_model_s_as_in_keras():
    """Keras's ``trainable`` setter sets every sublayer's flag, a model added as a layer or called in a functional
    model included: ``inner.trainable`` reads what ``outer.trainable = ...`` set, both ways."""
    namespace: dict = {}
    exec(_NESTED_FLAGS, namespace)
    out = namespace["nested_flags"](gpunn)
    assert out == run_keras("import json, keras\n" + _NESTED_FLAGS + "print(json.dumps(nested_flags(keras)))", None)
    assert out["frozen"] == [False, False, 0] and out["unfrozen"] == [True, 4, 6]


def test_a_model_the_outer_one_refused_to_add_does_not_follow_its_flag():
    outer = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(3, name="taken")])
    clashing = gpunn.Sequential([gpunn.Input((3,)), layers.Dense(3, name="taken")])
    with pytest.raises(ValueError, match="already has layers named"):
        outer.add(clashing)
    outer.trainable = False
    assert clashing.trainable and clashing.layers[0].trainable


FROZEN_MODELS_LOADED_AND_CLONED = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    def flags(model):
        return [model.trainable, [layer.trainable for layer in model.layers], len(model.trainable_weights)]

    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, name="b")(keras.layers.Dense(3, name="a")(inputs))
    functional = keras.Model(inputs, outputs)
    functional.trainable = False
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    sequential.trainable = False
    seen = {}
    for name, model in (("functional", functional), ("sequential", sequential)):
        model.save(os.path.join(folder, name + ".keras"))
        loaded = keras.models.load_model(os.path.join(folder, name + ".keras"))
        clone = keras.models.clone_model(model)
        seen[name] = [flags(loaded), flags(clone), flags(keras.Sequential.from_config(sequential.get_config()))]
        # the recipe: a frozen pretrained model loaded, its top layer unfrozen, then trained
        loaded.layers[-1].trainable = True
        loaded.compile(keras.optimizers.SGD(0.1), "mse")
        before = [np.array(w) for w in loaded.get_weights()]
        x = np.linspace(-1, 1, 32, dtype="float32").reshape(8, 4)
        loaded.fit(x, x[:, :1], epochs=1, batch_size=8, verbose=0)
        seen[name].append([bool(np.any(np.array(w) != b)) for w, b in zip(loaded.get_weights(), before)])
    return seen
'''


def test_frozen_models_loaded_or_cloned_keep_their_layers_flags_not_the_model_s_as_in_keras(tmp_path_factory):
    """Keras's Sequential.from_config and its functional clone_model make the model without its own trainable
    flag (its layers keep theirs): a frozen Sequential loads as trainable=True over frozen layers, so unfreezing
    its top layer trains that layer."""
    ours, theirs = run_script_both_ways(FROZEN_MODELS_LOADED_AND_CLONED, tmp_path_factory)
    assert ours == theirs
    assert theirs["sequential"][-1] == [False, False, True, True]  # the top layer trained, the frozen one not


def test_a_single_variable_s_trainable_flag_is_its_own():
    """Keras keeps a flag per variable (tests/test_variable_trainable.py trains with it)."""
    model = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(3, name="d")])
    assert model.layers[0].bias.trainable
    model.layers[0].bias.trainable = False
    assert not model.layers[0].bias.trainable and model.layers[0].kernel.trainable
    assert [v.name for v in model.trainable_weights] == ["kernel"] and model.layers[0].trainable


def test_moments_held_for_frozen_weights_follow_the_weight_itself_not_its_name():
    """A layer removed and another of the same name and shape added: the new one starts afresh, and the removed
    one's moments are dropped (they were the old layer's)."""
    from types import SimpleNamespace

    from gpunn.optimizers.carried_slots import not_trained

    old, new, frozen = (layers.Dense(2, name="head"), layers.Dense(2, name="head"), layers.Dense(2, name="body"))
    kernel = SimpleNamespace(name="kernel")
    kept = {(old, "kernel"): {"momentum": np.ones(4)}, (frozen, "kernel"): {"momentum": np.full(4, 2.0)}}
    held = not_trained(kept, [(new, kernel)], [new, frozen], 0)
    assert list(held) == [(frozen, "kernel")]  # the removed layer's dropped, the frozen one's held
    assert (new, "kernel") not in held and (old, "kernel") not in held


def test_setting_a_variable_s_flag_to_what_it_is_changes_nothing():
    model = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(3, name="d")])
    model.layers[0].bias.trainable = True  # as Keras takes it
    assert len(model.trainable_weights) == 2


FROZEN_DISCRIMINATOR = r'''
import json, sys
import numpy as np


def run(module, folder):
    # the GAN's discriminator frozen after its compile: its own train_on_batch trains nothing, and Keras's
    # optimizer, given no gradients, returns before counting the step (base_optimizer.py apply)
    d = module.Sequential([module.Input((4,)), module.layers.Dense(1, activation="sigmoid",
                                                               kernel_initializer="ones")])
    d.compile(optimizer=module.optimizers.Adam(0.01), loss="binary_crossentropy")
    d.trainable = False
    x, y = np.linspace(0, 1, 32).reshape(8, 4).astype("float32"), np.ones((8, 1), "float32")
    before = [w.tolist() for w in d.get_weights()]
    losses = [float(d.train_on_batch(x, y)) for _ in range(3)]
    return {"iterations": int(np.asarray(d.optimizer.iterations)), "trainable": len(d.trainable_weights),
            "losses": losses, "unchanged": before == [w.tolist() for w in d.get_weights()]}
'''


def test_a_step_that_trains_nothing_does_not_count_as_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(FROZEN_DISCRIMINATOR, tmp_path_factory)
    assert theirs["iterations"] == 0 and theirs["unchanged"]
    assert ours["iterations"] == 0 and ours["unchanged"] and ours["trainable"] == theirs["trainable"] == 0
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-6)


def test_fit_with_nothing_to_train_counts_no_step_in_replays_either(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(2)])
    model.trainable = False
    model.compile(optimizer="adam", loss="mse")
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        model.fit(np.ones((16, 4)), np.ones((16, 2)), batch_size=4, epochs=2, verbose=0)  # recorded, then replayed
    assert model.optimizer.iterations == 0
    model.trainable = True
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((16, 4)), np.ones((16, 2)), batch_size=4, epochs=1, verbose=0)
    assert model.optimizer.iterations == 4
