"""Keras 3's focal cross-entropies (keras/src/losses/losses.py ``BinaryFocalCrossentropy``,
``CategoricalFocalCrossentropy`` and their functions) with their arguments: alpha (a list of class weights too),
gamma (integer, fractional, 0), from_logits, label_smoothing, apply_class_balancing.

- values and gradients against Keras itself, in a subprocess (jax backend), on the same inputs in float32 and in
  float64 (JAX_ENABLE_X64, floatx float64): the per-sample function, the gradient jax takes of it, the class's
  reduced value with and without sample weights, and its config. Keras's jax ``ops.mean`` computes float64 in
  float32 (keras/src/backend/jax/numpy.py ``mean``: its compute dtype, ``result_type(x.dtype, "float32")``, is
  float32), so Keras's float64 binary focal loss, a mean over the last axis, is float32-exact: it is compared to
  float32's precision, and to 1e-12 with the float64 formula written here from Keras's source;
- the numbers of Keras's docstrings;
- the gradient against finite differences of the loss's own step, in float64;
- static steps for every argument combination: no allocation after the first call, a recorded step replays on new
  inputs what the eager step computes, bit for bit; in training, replay equals eager and the loss goes down;
- names, configs (Keras's own, from a model file), bad arguments, and the metrics Keras resolves (or refuses)
  around these losses.

The defaults also run through the parametrized tests of test_keras_losses.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from allocations import count_step_allocations, describe
from helpers import (assert_gradients_close, assert_same_training, numerical_gradient, numpy_backend,  # noqa: F401
                     run_keras)
from test_keras_losses import binary_focal_reference, categorical_focal_reference
from test_step_allocations import _fit_steps
from test_train_step import _data, _model

import gpunn
from gpunn import losses, metrics
from gpunn.models.keras_file_config import compile_config_from_keras
from gpunn.ops.recording import Recording
from gpunn.ops.workspace import Workspace

B, C = 7, 5
EPS = 1e-7  # Keras's backend epsilon
GRAD_SCALE = 0.25  # not 1 / B, so that a gradient ignoring grad_scale would show
DTYPES = ("float32", "float64")

CLASSES = {"binary": losses.BinaryFocalCrossentropy, "categorical": losses.CategoricalFocalCrossentropy}
REFERENCES = {"binary": binary_focal_reference, "categorical": categorical_focal_reference}
# Every argument of each loss, each value its own code path: integer gamma (multiplied out), fractional gamma
# (exp and log), gamma 0 (no focal factor), a list of class weights.
CONFIGS = {
    "binary": [
        {},
        {"gamma": 3.0, "from_logits": True},
        {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5},
        {"apply_class_balancing": True, "label_smoothing": 0.1, "from_logits": True},
        {"apply_class_balancing": True, "alpha": 0.6, "gamma": 2.5, "label_smoothing": 0.2, "from_logits": True},
        {"gamma": 1.0, "label_smoothing": 0.05},
        {"gamma": 0.5, "alpha": 0.9, "apply_class_balancing": True},
    ],
    "categorical": [
        {},
        {"gamma": 3.0, "from_logits": True},
        {"alpha": [0.1, 0.2, 0.3, 0.25, 0.15], "gamma": 1.5, "label_smoothing": 0.1},
        {"alpha": 1.0, "gamma": 0.0},
        {"alpha": 0.5, "gamma": 2.5, "label_smoothing": 0.2, "from_logits": True},
        {"alpha": [0.4, 0.1, 0.2, 0.2, 0.1], "gamma": 0.5, "from_logits": True},
    ],
}
CASES = [(kind, index) for kind in CONFIGS for index in range(len(CONFIGS[kind]))]
# Keras's float64 numbers: categorical sums in float64; binary means in float32 (see above), to 2**-24 or so
KERAS_FLOAT64_RTOL = {"binary": 2e-7, "categorical": 1e-12}
CASE_IDS = [f"{kind}-{index}" for kind, index in CASES]


def _config(kind, index):
    return CONFIGS[kind][index]


def keras_inputs(kind, from_logits, dtype, seed=0):
    """(y_pred, y_true, sample_weight) in ``dtype`` with the edges Keras's formula has: probabilities 0 and 1
    (the focal base 1 - p_t is then 0 for 0/1 labels) and others beyond the clip at both ends, logits that
    saturate the sigmoid / softmax, soft labels beside 0/1 or one-hot ones. No value sits on a clip bound, where
    jax and TensorFlow pass different shares of the gradient."""
    rng = np.random.default_rng(seed)
    if kind == "binary":
        t = rng.integers(0, 2, (B, C)).astype(np.float64)
        t[3] = [0.3, 0.8, 0.5, 1.0, 0.0]  # soft labels
        if from_logits:
            p = 3.0 * rng.standard_normal((B, C))
            p[0, :4] = [20.0, -20.0, 17.0, -30.0]  # the sigmoid saturates (to 1 in float32 above ~17)
        else:
            p = rng.uniform(0.02, 0.98, (B, C))
            p[0, :4] = [0.0, 1.0, 0.5 * EPS, 1.0 - 0.5 * EPS]  # beyond the clip at both ends
            p[1, :2] = [0.0, 1.0]
    else:
        t = np.eye(C)[rng.integers(0, C, B)]
        t[3] = rng.dirichlet(np.ones(C))  # a soft distribution
        if from_logits:
            p = 3.0 * rng.standard_normal((B, C))
            p[0, 1] = 30.0  # a saturated softmax: its rescaled probabilities are clipped at both ends
        else:
            p = rng.uniform(0.02, 0.98, (B, C))  # rows not summing to one: Keras rescales them
            p[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # clipped at both ends after the rescaling
            p[1, 2] = 0.0
    weights = rng.uniform(0.0, 2.0, B)
    return p.astype(dtype), t.astype(dtype), weights.astype(dtype)


KERAS_SIDE = """
import json, sys
task = json.loads(sys.stdin.read())
if task["dtype"] == "float64":
    import jax
    jax.config.update("jax_enable_x64", True)  # before any array is made
import jax
import numpy as np
import keras
keras.config.set_floatx(task["dtype"])
dtype = task["dtype"]
out = []
for case in task["cases"]:
    binary = case["kind"] == "binary"
    function = keras.losses.binary_focal_crossentropy if binary else keras.losses.categorical_focal_crossentropy
    cls = keras.losses.BinaryFocalCrossentropy if binary else keras.losses.CategoricalFocalCrossentropy
    config = case["config"]
    y_true = np.asarray(case["y_true"], dtype)
    y_pred = np.asarray(case["y_pred"], dtype)
    weights = np.asarray(case["weights"], dtype)
    per_sample = np.asarray(function(y_true, y_pred, **config))
    grad = np.asarray(jax.grad(lambda p: function(y_true, p, **config).sum())(jax.numpy.asarray(y_pred)))
    loss = cls(**config)
    out.append({"per_sample": per_sample.tolist(), "per_sample_dtype": str(per_sample.dtype),
                "grad": grad.tolist(), "mean": float(loss(y_true, y_pred)),
                "weighted": float(loss(y_true, y_pred, sample_weight=weights)),
                "serialized": keras.losses.serialize(loss)})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def keras_results():
    """{dtype: [Keras's results, one per case in CASES]}."""
    results = {}
    for dtype in DTYPES:
        cases = []
        for kind, index in CASES:
            config = _config(kind, index)
            p, t, w = keras_inputs(kind, config.get("from_logits", False), dtype)
            cases.append({"kind": kind, "config": config, "y_pred": p.tolist(), "y_true": t.tolist(),
                          "weights": w.tolist()})
        results[dtype] = run_keras(KERAS_SIDE, {"dtype": dtype, "cases": cases})
    return results


# ---- against Keras itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, index", CASES, ids=CASE_IDS)
def test_values_and_gradients_are_keras_own(keras_results, kind, index, dtype, numpy_backend):
    """The per-sample values and the gradient of their sum, computed in ``dtype`` by the loss's step, against
    Keras's function and the gradient jax takes of it."""
    theirs = keras_results[dtype][CASES.index((kind, index))]
    config = _config(kind, index)
    loss = CLASSES[kind](**config)
    p, t, _ = keras_inputs(kind, loss.from_logits, dtype)
    assert theirs["per_sample_dtype"] == dtype
    per_sample, grad, predictions = loss.compute(numpy_backend, Workspace(numpy_backend), p, t, 1.0,
                                                 loss.from_logits)
    assert per_sample.dtype == grad.dtype == np.dtype(dtype) and predictions is p
    expected, expected_grad = np.asarray(theirs["per_sample"]), np.asarray(theirs["grad"])
    assert np.isfinite(expected).all()
    rtol = 2e-5 if dtype == "float32" else KERAS_FLOAT64_RTOL[kind]
    np.testing.assert_allclose(per_sample, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    # With gamma < 1 the slope of the focal factor, gamma (1 - p_t)^(gamma - 1), is infinite where a prediction is
    # certain and right (1 - p_t = 0): jax's gradient is NaN there (inf times a zero label), this one +-inf.
    finite = np.isfinite(expected_grad)
    assert finite.all() or (kind == "binary" and config.get("gamma", 2.0) < 1), "Keras's gradient is not finite"
    np.testing.assert_array_equal(np.isfinite(grad), finite)
    grad_rtol = 1e-4 if dtype == "float32" else max(1e-10, KERAS_FLOAT64_RTOL[kind])
    np.testing.assert_allclose(grad[finite], expected_grad[finite], rtol=grad_rtol,
                               atol=grad_rtol * np.abs(expected_grad[finite]).max())


@pytest.mark.parametrize("kind, index", CASES, ids=CASE_IDS)
def test_reduced_values_with_and_without_sample_weights_are_keras_own(keras_results, kind, index):
    """The host API (``loss(y_true, y_pred, sample_weight)``, float64) against Keras's class in float64:
    sum over the batch of the weighted losses, divided by the batch size."""
    theirs = keras_results["float64"][CASES.index((kind, index))]
    config = _config(kind, index)
    loss = CLASSES[kind](**config)
    p, t, w = keras_inputs(kind, loss.from_logits, "float64")
    rtol = KERAS_FLOAT64_RTOL[kind]
    assert loss(t, p) == pytest.approx(theirs["mean"], rel=rtol)
    assert loss(t, p, sample_weight=w) == pytest.approx(theirs["weighted"], rel=rtol)
    assert loss(t, p, sample_weight=w) != pytest.approx(loss(t, p), rel=1e-3)  # the weights did act


@pytest.mark.parametrize("kind, index", CASES, ids=CASE_IDS)
def test_functions_equal_the_float64_reference_and_keras(keras_results, kind, index):
    """The function forms (per-sample, float64) against the float64 formula written in the tests and Keras's."""
    config = _config(kind, index)
    p, t, _ = keras_inputs(kind, config.get("from_logits", False), "float64")
    function = losses.binary_focal_crossentropy if kind == "binary" else losses.categorical_focal_crossentropy
    ours = function(t, p, **config)
    np.testing.assert_allclose(ours, REFERENCES[kind](p, t, **config), rtol=1e-12)
    np.testing.assert_allclose(ours, keras_results["float64"][CASES.index((kind, index))]["per_sample"],
                               rtol=KERAS_FLOAT64_RTOL[kind])


@pytest.mark.parametrize("kind, index", CASES, ids=CASE_IDS)
def test_configs_are_keras_own_and_keras_configs_load(keras_results, kind, index):
    """get_config holds Keras's keys and values (less ``reduction``, written by gpunn only when not the default, and
    ``dtype``); Keras's serialized loss, as a Keras model file holds it, loads as the same loss."""
    serialized = keras_results["float64"][CASES.index((kind, index))]["serialized"]
    loss = CLASSES[kind](**_config(kind, index))
    ours, theirs = loss.get_config(), serialized["config"]
    assert ours == {key: theirs[key] for key in ours}
    assert set(theirs) - set(ours) <= {"reduction", "dtype"}
    compiled = compile_config_from_keras({"optimizer": "adam", "loss": serialized, "metrics": None}, legacy=False)
    loaded = losses.get(compiled["loss"])
    assert type(loaded) is type(loss) and loaded.get_config() == ours


# ---- Keras's docstring numbers ------------------------------------------------------------------------------------


def test_binary_focal_docstring_examples():
    """keras/src/losses/losses.py BinaryFocalCrossentropy and binary_focal_crossentropy; 'sum' and None reductions
    (which gpunn's loss classes do not take) through the per-sample function."""
    focal = losses.BinaryFocalCrossentropy
    y_true, y_pred = np.array([0, 1, 0, 0]), np.array([-18.6, 0.51, 2.94, -12.8])
    assert focal(gamma=2, from_logits=True)(y_true, y_pred) == pytest.approx(0.691, abs=5e-4)
    assert focal(apply_class_balancing=True, gamma=2, from_logits=True)(y_true, y_pred) == pytest.approx(0.51, abs=5e-3)
    y_true, y_pred = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    assert focal(gamma=3, from_logits=True)(y_true, y_pred) == pytest.approx(0.647, abs=5e-4)
    assert focal(apply_class_balancing=True, gamma=3, from_logits=True)(y_true, y_pred) == pytest.approx(0.482,
                                                                                                         abs=5e-4)
    weights = [0.8, 0.2]
    assert focal(gamma=3, from_logits=True)(y_true, y_pred, sample_weight=weights) == pytest.approx(0.133, abs=5e-4)
    balanced = focal(apply_class_balancing=True, gamma=3, from_logits=True)
    assert balanced(y_true, y_pred, sample_weight=weights) == pytest.approx(0.097, abs=5e-4)
    per_sample = losses.binary_focal_crossentropy
    assert per_sample(y_true, y_pred, gamma=4, from_logits=True).sum() == pytest.approx(1.222, abs=5e-4)
    assert per_sample(y_true, y_pred, apply_class_balancing=True, gamma=4, from_logits=True).sum() == pytest.approx(
        0.914, abs=5e-4)
    np.testing.assert_allclose(per_sample(y_true, y_pred, gamma=5, from_logits=True), [0.0017, 1.1561], atol=5e-5)
    np.testing.assert_allclose(per_sample(y_true, y_pred, apply_class_balancing=True, gamma=5, from_logits=True),
                               [0.0004, 0.8670], atol=1e-4)  # as the docstring rounds them (0.000437, 0.867077)
    y_true, y_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    np.testing.assert_allclose(per_sample(y_true, y_pred, gamma=2), [0.330, 0.206], atol=5e-4)
    # gamma = 0: the binary cross-entropy itself
    np.testing.assert_allclose(per_sample(y_true, y_pred, gamma=0), [0.916, 0.714], atol=5e-4)
    np.testing.assert_allclose(per_sample(y_true, y_pred, gamma=0), losses.binary_crossentropy(y_true, y_pred),
                               rtol=1e-15)


def test_categorical_focal_docstring_examples():
    """keras/src/losses/losses.py CategoricalFocalCrossentropy and categorical_focal_crossentropy."""
    y_true, y_pred = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    loss = losses.CategoricalFocalCrossentropy()
    assert loss(y_true, y_pred) == pytest.approx(0.23315276, rel=1e-6)
    assert loss(y_true, y_pred, sample_weight=np.array([0.3, 0.7])) == pytest.approx(0.1632, abs=5e-5)
    per_sample = losses.categorical_focal_crossentropy(y_true, y_pred)
    assert per_sample.sum() == pytest.approx(0.46631, abs=5e-6)  # reduction="sum"
    np.testing.assert_allclose(per_sample, [3.2058331e-05, 4.6627346e-01], rtol=1e-6)  # reduction=None
    np.testing.assert_allclose(
        losses.categorical_focal_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]),
        [2.63401289e-04, 6.75912094e-01], rtol=1e-6)
    # alpha = 1, gamma = 0: the categorical cross-entropy itself
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(y_true, y_pred, alpha=1.0, gamma=0.0),
                               losses.categorical_crossentropy(y_true, y_pred), rtol=1e-15)


# ---- gradients, static steps ------------------------------------------------------------------------------------


def _fd_inputs(kind, config, rng):
    """float64 inputs for finite differences: every probability well inside or well outside the clip (a step of
    1e-6 never crosses a bound), labels 0/1 or one-hot and a soft row. A binary probability beyond [0, 1] makes
    1 - p_t negative, whose fractional power is NaN (in Keras too): only an integer gamma gets those."""
    p, t, _ = keras_inputs(kind, config.get("from_logits", False), "float64", seed=int(rng.integers(1 << 30)))
    if config.get("from_logits", False):
        return np.clip(p, -8.0, 8.0), t
    if kind == "binary":
        edge = (p < 0.01) | (p > 0.99)
        if float(config.get("gamma", 2.0)).is_integer():
            p = np.where(edge, rng.choice([-0.2, 1.3], p.shape), p)  # beyond the clip
        else:
            p = np.where(edge, 0.5, p)
    else:
        p[0] = [0.9, -0.2, 0.05, 0.1, 0.3]
        p[1, 2] = -0.1
    return p, t


@pytest.mark.parametrize("kind, index", CASES, ids=CASE_IDS)
def test_gradient_matches_finite_differences_of_the_loss_itself(kind, index, rng, numpy_backend):
    """In float64, the gradient of the mean loss computed by the loss's own step (grad_scale = 1 / B)."""
    ops = numpy_backend
    loss = CLASSES[kind](**_config(kind, index))
    output, y = _fd_inputs(kind, _config(kind, index), rng)
    _, grad, _ = loss.compute(ops, Workspace(ops), output.copy(), y, 1.0 / B, loss.from_logits)
    ws = Workspace(ops)
    numeric = numerical_gradient(
        lambda out: loss.compute(ops, ws, out.copy(), y, 1.0 / B, loss.from_logits, False)[0].mean(), output.copy())
    assert_gradients_close(grad, numeric, rtol=1e-6, atol=1e-8, what=f"{kind} {_config(kind, index)}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind, index", CASES, ids=CASE_IDS)
def test_every_argument_combination_is_static_and_replays_bit_for_bit(kind, index, dtype, numpy_backend):
    """After a first call a step allocates nothing; recorded, it replays on new inputs what the eager step
    computes on them, bit for bit; the values are the float64 formula's."""
    ops = numpy_backend
    loss = CLASSES[kind](**_config(kind, index))
    output, y, _ = keras_inputs(kind, loss.from_logits, dtype)
    ws = Workspace(ops)
    loss.compute(ops, ws, output, y, GRAD_SCALE, loss.from_logits)
    with count_step_allocations() as events:
        loss.compute(ops, ws, output, y, GRAD_SCALE, loss.from_logits)
        loss.compute(ops, ws, output, y, GRAD_SCALE, loss.from_logits, need_grad=False)
    assert events == [], describe(events)
    with Recording(ops) as tape:
        recorded = loss.compute(ops, ws, output, y, GRAD_SCALE, loss.from_logits)
    new_output, new_y, _ = keras_inputs(kind, loss.from_logits, dtype, seed=1)
    output[...], y[...] = new_output, new_y
    tape.replay()
    eager = loss.compute(ops, Workspace(ops), output.copy(), y.copy(), GRAD_SCALE, loss.from_logits)
    for got, want in zip(recorded, eager):
        np.testing.assert_array_equal(got, want)
    if dtype == np.float64:
        np.testing.assert_allclose(recorded[0], REFERENCES[kind](output, y, **_config(kind, index)), rtol=1e-12)


def test_a_list_alpha_weights_each_class_and_must_fit_the_output(numpy_backend):
    p, t, _ = keras_inputs("categorical", False, "float64")
    weights = [0.1, 0.2, 0.3, 0.25, 0.15]
    by_class = losses.categorical_focal_crossentropy(t, p, alpha=weights)
    each = [losses.categorical_focal_crossentropy(t * np.eye(C)[k], p, alpha=weights[k]) for k in range(C)]
    np.testing.assert_allclose(by_class, np.sum(each, axis=0), rtol=1e-13)
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(t, p, alpha=[0.5]),
                               losses.categorical_focal_crossentropy(t, p, alpha=0.5), rtol=0)  # broadcast
    with pytest.raises(ValueError, match=r"^alpha: 3 class weights for an output of 5 classes"):
        losses.categorical_focal_crossentropy(t, p, alpha=[0.1, 0.2, 0.3])


def test_a_zero_focal_base_with_a_fractional_gamma_is_powered_as_pow_does(numpy_backend):
    """1 - p_t = 0 (a certain, right prediction): 0^gamma = 0 and, for the gradient, gamma 0^(gamma - 1), which is 0
    above gamma = 1 and inf below it (as jax's pow gives); no log(0) is taken (no warning)."""
    ops = numpy_backend
    output, y = np.array([[1.0, 0.0, 0.4]]), np.array([[1.0, 0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        per_sample, grad, _ = losses.BinaryFocalCrossentropy(gamma=1.5).compute(ops, Workspace(ops), output, y, 1.0,
                                                                                False)
        _, steep, _ = losses.BinaryFocalCrossentropy(gamma=0.5).compute(ops, Workspace(ops), output, y, 1.0, False)
    np.testing.assert_allclose(per_sample, binary_focal_reference(output, y, gamma=1.5), rtol=1e-14)
    assert grad[0, 0] == grad[0, 1] == 0.0 and np.isfinite(grad[0, 2])
    # the focal factor's slope, inf, times the positive bce and d(1 - p_t)/dp = 1 - 2t
    assert steep[0, 0] == -np.inf and steep[0, 1] == np.inf


# ---- in training --------------------------------------------------------------------------------------------------

# (output activation, loss) for a 3-unit model on _data()'s samples: sigmoid / softmax outputs, or logits
TRAINED = {
    "binary": ("sigmoid", losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5,
                                                         label_smoothing=0.1)),
    "binary_logits": ("linear", losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True)),
    "categorical": ("softmax", losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.5, 0.3], gamma=2.5,
                                                                  label_smoothing=0.1)),
    "categorical_logits": ("linear", losses.CategoricalFocalCrossentropy(gamma=1.0, from_logits=True)),
}


def _targets(name, labels, n):
    if name.startswith("binary"):
        return np.random.default_rng(2).integers(0, 2, (n, 3)).astype("float32")
    return gpunn.utils.to_categorical(labels, 3).astype("float32")


def _train(name, jit, epochs=2, metrics_=("accuracy",)):
    activation, loss = TRAINED[name]
    x, labels = _data()
    y = _targets(name, labels, len(x))
    model = _model("dense", out_activation=activation)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss=losses.get(losses.serialize(loss)),
                  metrics=list(metrics_), jit_compile=jit)
    history = model.fit(x, y, batch_size=10, epochs=epochs, verbose=0)
    return model, history.history


@pytest.mark.parametrize("name", list(TRAINED))
def test_replay_equals_eager_in_training_and_the_loss_goes_down(name, numpy_backend):
    eager = _train(name, False, epochs=6)
    assert np.isfinite(eager[1]["loss"]).all()
    assert eager[1]["loss"][-1] < eager[1]["loss"][0], eager[1]["loss"]
    assert_same_training(eager, _train(name, True, epochs=6))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("name", list(TRAINED))
def test_a_training_step_allocates_nothing_after_the_first(name, jit, numpy_backend):
    activation, loss = TRAINED[name]
    x, labels = _data(n=40)
    y = _targets(name, labels, len(x))
    model = _model("dense", out_activation=activation)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss=loss, metrics=["mae"], jit_compile=jit)
    x, y = model._prepare(x, y)
    batches, one = _fit_steps(model, x, y, batch_size=8)
    one(batches[0])
    with count_step_allocations() as events:
        for batch in batches[1:]:
            one(batch)
    assert events == [], describe(events)


def test_the_training_loss_is_the_mean_of_the_loss_over_the_batch(numpy_backend):
    """One full-batch evaluation: the logged loss is what the loss object computes on the model's output."""
    activation, loss = TRAINED["binary"]
    x, labels = _data()
    y = _targets("binary", labels, len(x))
    model = _model("dense", out_activation=activation)
    model.compile(optimizer="adam", loss=loss)
    evaluated = model.evaluate(x, y, batch_size=len(x), verbose=0)
    expected = loss(y, model.predict(x, verbose=0).astype(np.float64))
    assert evaluated == pytest.approx(expected, rel=1e-5)


# ---- names, configs, arguments, metrics -------------------------------------------------------------------------


def test_compiled_by_name_with_keras_defaults():
    for name, cls, activation in (("binary_focal_crossentropy", losses.BinaryFocalCrossentropy, "sigmoid"),
                                  ("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy, "softmax")):
        model = _model("dense", out_activation=activation)
        model.compile(optimizer="adam", loss=name)
        assert model.loss == name  # as given, as Keras keeps it; compiled to Keras's class with its defaults
        compiled = model._resolved_loss
        assert type(compiled) is cls and compiled.get_config() == cls().get_config()
        assert compiled.name == name and compiled.gamma == 2.0 and compiled.alpha == 0.25


def test_arguments_are_kept_through_serialization():
    binary = losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=3, from_logits=True,
                                            label_smoothing=0.1, axis=1, name="focal")
    restored = losses.get(losses.serialize(binary))
    assert restored.get_config() == binary.get_config() == {
        "name": "focal", "from_logits": True, "label_smoothing": 0.1, "axis": 1, "apply_class_balancing": True,
        "alpha": 0.4, "gamma": 3.0}
    categorical = losses.CategoricalFocalCrossentropy(alpha=np.array([0.25, 0.75]), gamma=0.5)
    config = categorical.get_config()
    assert config["alpha"] == [0.25, 0.75] and type(config["alpha"][0]) is float  # JSON-ready, as Keras keeps it
    assert losses.CategoricalFocalCrossentropy.from_config(config).get_config() == config
    assert losses.BinaryFocalCrossentropy.from_config(binary.get_config()).get_config() == binary.get_config()


@pytest.mark.parametrize("make, argument", [
    (lambda: losses.BinaryFocalCrossentropy(gamma="2"), "gamma"),
    (lambda: losses.BinaryFocalCrossentropy(gamma=float("nan")), "gamma"),
    (lambda: losses.BinaryFocalCrossentropy(alpha=None), "alpha"),
    (lambda: losses.BinaryFocalCrossentropy(alpha=[0.25, 0.75]), "alpha"),  # one weight, for class 1
    (lambda: losses.BinaryFocalCrossentropy(apply_class_balancing="yes"), "apply_class_balancing"),
    (lambda: losses.BinaryFocalCrossentropy(label_smoothing=1.5), "label_smoothing"),
    (lambda: losses.BinaryFocalCrossentropy(axis=0), "axis"),
    (lambda: losses.BinaryFocalCrossentropy(reduction="total"), "reduction"),
    (lambda: losses.CategoricalFocalCrossentropy(alpha=[[0.1, 0.9]]), "alpha"),
    (lambda: losses.CategoricalFocalCrossentropy(alpha=["a", 0.5]), "alpha"),
    (lambda: losses.CategoricalFocalCrossentropy(alpha=[]), "alpha"),
    (lambda: losses.CategoricalFocalCrossentropy(gamma=True), "gamma"),
    (lambda: losses.CategoricalFocalCrossentropy(label_smoothing=-0.1), "label_smoothing"),
    (lambda: losses.CategoricalFocalCrossentropy(axis=True), "axis"),  # Keras refuses a bool axis too
])
def test_bad_arguments_are_refused_by_name(make, argument):
    with pytest.raises(ValueError, match=f"^{argument}: "):
        make()


def test_what_keras_accepts_is_accepted():
    """Keras checks none of these: a negative or fractional gamma, alpha outside [0, 1], integers."""
    assert losses.BinaryFocalCrossentropy(gamma=-1, alpha=2).get_config()["gamma"] == -1.0
    assert losses.CategoricalFocalCrossentropy(alpha=np.float32(0.5), gamma=np.int64(3)).gamma == 3.0
    np.testing.assert_allclose(losses.binary_focal_crossentropy([[1.0, 0.0]], np.array([[0.5, 0.25]]), gamma=-1.0),
                               binary_focal_reference([[0.5, 0.25]], [[1.0, 0.0]], gamma=-1.0), rtol=1e-14)


def test_metrics_resolve_around_the_focal_losses_as_keras_does():
    """Keras 3 has no focal metric classes: ``metrics=["binary_focal_crossentropy"]`` is refused ("Could not
    interpret metric identifier"), and so it is here. 'accuracy' follows the output's shape, as Keras 3's
    compile_utils does for any loss (a one-unit output: binary, else categorical for one-hot labels)."""
    for name in ("binary_focal_crossentropy", "categorical_focal_crossentropy"):
        with pytest.raises(ValueError, match="binary_focal_crossentropy|categorical_focal_crossentropy"):
            metrics.get(name)
    binary = losses.BinaryFocalCrossentropy()
    assert type(metrics.get("accuracy", binary, 1, False)) is metrics.BinaryAccuracy
    assert type(metrics.get("accuracy", binary, 3, False)) is metrics.CategoricalAccuracy
    categorical = losses.CategoricalFocalCrossentropy()
    assert type(metrics.get("accuracy", categorical, 3, False)) is metrics.CategoricalAccuracy


def test_compiled_metrics_log_next_to_the_loss(numpy_backend):
    model, history = _train("categorical", False, epochs=1, metrics_=("accuracy", "categorical_crossentropy"))
    assert set(history) == {"loss", "accuracy", "categorical_crossentropy"}
    assert 0.0 <= history["accuracy"][0] <= 1.0 and history["categorical_crossentropy"][0] > history["loss"][0]
