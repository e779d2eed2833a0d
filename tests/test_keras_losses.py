"""Keras 3's Huber, LogCosh, KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge,
MeanSquaredLogarithmicError, CosineSimilarity, BinaryFocalCrossentropy and CategoricalFocalCrossentropy
(keras/src/losses/losses.py), as classes, names and functions (the focal losses' arguments, logits and Keras's own
numbers: test_keras_focal_losses.py):

- each value against a formula written here from Keras's source in float64 NumPy, and against the numbers in
  Keras's docstrings and tests (keras/src/losses/losses_test.py);
- each gradient against finite differences in float64;
- as static steps: no allocation after the first call of a batch size (the loss alone, and whole training
  steps), and a recorded step replays what the eager step computes, bit for bit, in training too.
"""
from __future__ import annotations

import numpy as np
import pytest
from allocations import count_step_allocations, describe
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, numpy_backend  # noqa: F401
from test_step_allocations import _fit_steps
from test_train_step import _data, _model

import gpunn
from gpunn import losses
from gpunn.ops.recording import Recording
from gpunn.ops.workspace import Workspace

B, C = 7, 5
EPS = 1e-7  # Keras's backend epsilon
GRAD_SCALE = 0.25  # not 1 / B, so that a gradient ignoring grad_scale would show


def _logaddexp0(x):
    return np.logaddexp(x, 0.0)


def _hinge_labels(t):
    return 2.0 * t - 1.0 if np.isin(t, (0.0, 1.0)).all() else t


def _normalize(x):
    return x / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), EPS * EPS))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def binary_focal_reference(p, t, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                           label_smoothing=0.0):
    """Per-sample losses in float64, written from keras/src/losses/losses.py ``binary_focal_crossentropy``."""
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = _sigmoid(p)
    o = np.clip(p, EPS, 1.0 - EPS)
    bce = -(t * np.log(o) + (1.0 - t) * np.log(1.0 - o))
    p_t = t * p + (1.0 - t) * (1.0 - p)
    focal = np.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (t * alpha + (1.0 - t) * (1.0 - alpha)) * focal
    return focal.mean(-1)


def categorical_focal_reference(p, t, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    """Per-sample losses in float64, written from keras/src/losses/losses.py ``categorical_focal_crossentropy``."""
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / p.shape[-1]
    if from_logits:
        p = _softmax(p)
    o = np.clip(p / p.sum(-1, keepdims=True), EPS, 1.0 - EPS)
    return (np.power(1.0 - o, gamma) * np.asarray(alpha, np.float64) * (-t * np.log(o))).sum(-1)


def reference(name, p, t, delta=1.0):
    """Per-sample losses in float64, from the function of the same name in keras/src/losses/losses.py."""
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    if name == "huber":
        e = p - t
        return np.where(np.abs(e) <= delta, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta).mean(-1)
    if name == "log_cosh":
        e = p - t
        return (e + _logaddexp0(-2.0 * e) - np.log(2.0)).mean(-1)
    if name == "kl_divergence":
        tc, pc = np.clip(t, EPS, 1.0), np.clip(p, EPS, 1.0)
        return (tc * np.log(tc / pc)).sum(-1)
    if name == "poisson":
        return (p - t * np.log(p + EPS)).mean(-1)
    if name == "hinge":
        return np.maximum(1.0 - _hinge_labels(t) * p, 0.0).mean(-1)
    if name == "squared_hinge":
        return np.maximum(1.0 - _hinge_labels(t) * p, 0.0).__pow__(2).mean(-1)
    if name == "categorical_hinge":
        pos, neg = (t * p).sum(-1), ((1.0 - t) * p).max(-1)
        return np.maximum(neg - pos + 1.0, 0.0)
    if name == "mean_squared_logarithmic_error":
        return ((np.log(np.maximum(p, EPS) + 1.0) - np.log(np.maximum(t, EPS) + 1.0)) ** 2).mean(-1)
    if name == "cosine_similarity":
        return -(_normalize(t) * _normalize(p)).sum(-1)
    if name == "mean_absolute_percentage_error":
        return 100.0 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)
    if name == "binary_focal_crossentropy":
        return binary_focal_reference(p, t)
    if name == "categorical_focal_crossentropy":
        return categorical_focal_reference(p, t)
    raise KeyError(name)


CLASSES = {
    "huber": losses.Huber, "log_cosh": losses.LogCosh, "kl_divergence": losses.KLDivergence,
    "poisson": losses.Poisson, "hinge": losses.Hinge, "squared_hinge": losses.SquaredHinge,
    "categorical_hinge": losses.CategoricalHinge, "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
    "cosine_similarity": losses.CosineSimilarity,
    "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
    "binary_focal_crossentropy": losses.BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": losses.CategoricalFocalCrossentropy,
}
NAMES = list(CLASSES)
KERAS_NAMES = {  # keras/src/losses/__init__.py ALL_OBJECTS_DICT, and the default ``name`` of each class
    "huber": (["huber", "Huber"], "huber_loss"),
    "log_cosh": (["log_cosh", "LogCosh", "logcosh"], "log_cosh"),
    "kl_divergence": (["kl_divergence", "kld", "KLD", "KLDivergence", "kullback_leibler_divergence"],
                      "kl_divergence"),
    "poisson": (["poisson", "Poisson"], "poisson"),
    "hinge": (["hinge", "Hinge"], "hinge"),
    "squared_hinge": (["squared_hinge", "SquaredHinge"], "squared_hinge"),
    "categorical_hinge": (["categorical_hinge", "CategoricalHinge"], "categorical_hinge"),
    "mean_squared_logarithmic_error": (["mean_squared_logarithmic_error", "msle", "MSLE",
                                        "MeanSquaredLogarithmicError"], "mean_squared_logarithmic_error"),
    "cosine_similarity": (["cosine_similarity", "CosineSimilarity"], "cosine_similarity"),
    "mean_absolute_percentage_error": (["mean_absolute_percentage_error", "mape", "MAPE",
                                        "MeanAbsolutePercentageError"], "mean_absolute_percentage_error"),
    "binary_focal_crossentropy": (["binary_focal_crossentropy", "BinaryFocalCrossentropy"],
                                  "binary_focal_crossentropy"),
    "categorical_focal_crossentropy": (["categorical_focal_crossentropy", "CategoricalFocalCrossentropy"],
                                       "categorical_focal_crossentropy"),
}


def inputs(name, rng, dtype=np.float64, rows=B):
    """(y_pred, y_true) for one loss, away from its kinks, with values its clips act on where it has clips."""
    shape = (rows, C)
    if name in ("huber", "log_cosh"):
        p, t = rng.standard_normal(shape) * 2.0, rng.standard_normal(shape)
        e = p - t
        p = np.where(np.abs(np.abs(e) - 1.0) < 0.05, p + 0.2, p)  # off Huber's corner at |e| = delta
    elif name == "kl_divergence":
        t = rng.dirichlet(np.ones(C), rows)
        t[0, 0] = 0.0  # clipped to eps, as Keras does
        p = rng.uniform(0.05, 0.95, shape)
        p[1, 1], p[2, 2] = 1.3, -0.2  # clipped: no gradient
    elif name in ("poisson", "mean_squared_logarithmic_error"):
        t = rng.integers(0, 5, shape).astype(np.float64)
        p = rng.uniform(0.1, 4.0, shape)
        if name == "mean_squared_logarithmic_error":
            p[0, 0], t[1, 1] = -0.5, -2.0  # clipped to eps
    elif name in ("hinge", "squared_hinge"):
        t = rng.integers(0, 2, shape).astype(np.float64)  # 0/1: converted to -1/1
        p = rng.standard_normal(shape)
        margin = 1.0 - _hinge_labels(t) * p
        p = np.where(np.abs(margin) < 0.05, p + 0.2, p)
    elif name == "categorical_hinge":
        t = np.eye(C)[rng.integers(0, C, rows)]
        p = rng.uniform(0.0, 1.0, shape)
    elif name == "cosine_similarity":
        p, t = rng.standard_normal(shape), rng.standard_normal(shape)
    elif name == "mean_absolute_percentage_error":
        # |y_true| below eps (divided by eps) has its own test: its slope, 1e9, would swamp finite differences
        t = rng.uniform(0.5, 3.0, shape) * rng.choice([-1.0, 1.0], shape)
        p = t + rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)  # away from the kink at p = t
    elif name == "binary_focal_crossentropy":
        t = rng.integers(0, 2, shape).astype(np.float64)
        p = rng.uniform(0.05, 0.95, shape)
        # clipped to eps in the cross-entropy, not in the focal factor (the upper bound, 1 - eps, is another
        # number in float32: its clip is compared with Keras's in float32 in test_keras_focal_losses.py)
        p[1, 1], p[2, 2] = -0.3, -0.2
    elif name == "categorical_focal_crossentropy":
        t = np.eye(C)[rng.integers(0, C, rows)]
        p = rng.uniform(0.05, 0.95, shape)  # rows not summing to one: Keras rescales them
        p[2, 2] = -0.2  # clipped after the rescaling
    else:
        raise KeyError(name)
    return p.astype(dtype), t.astype(dtype)


# ---- names, configs, bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_keras_names_resolve_and_round_trip(name):
    cls = CLASSES[name]
    identifiers, default_name = KERAS_NAMES[name]
    for identifier in identifiers + [cls, getattr(losses, name)]:
        assert type(losses.as_loss(identifier)) is cls, identifier
    loss = cls()
    assert loss.name == default_name and not loss.from_logits
    restored = losses.get(losses.serialize(loss))
    assert type(restored) is cls and restored.get_config() == loss.get_config()


def test_the_short_aliases_keras_registers_resolve():
    """keras/src/losses/__init__.py ALL_OBJECTS_DICT's aliases, as ``compile(loss="bce")`` gives them."""
    for alias, cls in (("bce", losses.BinaryCrossentropy), ("BCE", losses.BinaryCrossentropy),
                       ("kld", losses.KLDivergence), ("KLD", losses.KLDivergence),
                       ("mae", losses.MeanAbsoluteError), ("MAE", losses.MeanAbsoluteError),
                       ("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
                       ("mape", losses.MeanAbsolutePercentageError), ("MAPE", losses.MeanAbsolutePercentageError),
                       ("msle", losses.MeanSquaredLogarithmicError), ("MSLE", losses.MeanSquaredLogarithmicError)):
        assert type(losses.as_loss(alias)) is cls, alias


def test_arguments_of_huber_and_cosine_similarity_are_kept():
    huber = losses.get(losses.serialize(losses.Huber(delta=2.5, name="h")))
    assert (huber.delta, huber.name) == (2.5, "h")
    assert losses.get(losses.serialize(losses.CosineSimilarity(axis=1))).axis == 1
    p, t = np.array([[0.0, 3.0]]), np.array([[0.0, 0.0]])
    np.testing.assert_allclose(losses.huber(t, p, delta=2.0), [(0.0 + 2.0 * 3.0 - 2.0) / 2])


@pytest.mark.parametrize("make, argument", [
    (lambda: losses.Huber(delta=-1.0), "delta"),
    (lambda: losses.Huber(delta="big"), "delta"),
    (lambda: losses.CosineSimilarity(axis=0), "axis"),
    (lambda: losses.Hinge(reduction="total"), "reduction"),
])
def test_bad_arguments_are_refused_by_name(make, argument):
    with pytest.raises(ValueError, match=f"^{argument}: "):
        make()


def test_logits_are_refused(numpy_backend):
    p, t = inputs("hinge", np.random.default_rng(0))
    with pytest.raises(ValueError, match="Hinge: expected the model's output, not logits"):
        losses.Hinge().compute(numpy_backend, Workspace(numpy_backend), p, t, 1.0, True)


# ---- Keras's numbers ------------------------------------------------------------------------------------------


def test_keras_docstring_examples():
    assert losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) == pytest.approx(0.155, abs=5e-4)
    assert losses.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]) == pytest.approx(0.108, abs=5e-4)
    np.testing.assert_allclose(
        losses.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]),
        [-0.0, -0.99999994, 0.99999994], atol=1e-7)


def test_keras_test_suite_numbers():
    """keras/src/losses/losses_test.py, the unweighted cases."""
    t, p = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    assert losses.Hinge()(t, p) == pytest.approx(1.3, abs=1e-3)
    np.testing.assert_allclose(losses.hinge(t, p), [1.1, 1.5])
    assert losses.SquaredHinge()(t, p) == pytest.approx(1.86, abs=1e-3)
    assert losses.CategoricalHinge()(t, p) == pytest.approx(1.4, abs=1e-3)
    t6, p6 = np.array([[1, 9, 2], [-5, -2, 6]], np.float32), np.array([[4, 8, 12], [8, 1, 3]], np.float32)
    assert losses.MeanSquaredLogarithmicError()(t6, p6) == pytest.approx(1.4370, abs=1e-3)
    expected = np.log((np.exp(p6 - t6) + np.exp(t6 - p6)) / 2).sum() / 6
    assert losses.LogCosh()(t6, p6) == pytest.approx(expected, abs=1e-3)
    unit = lambda x: x / np.sqrt((x * x).sum(1, keepdims=True))  # noqa: E731
    assert losses.CosineSimilarity()(t6, p6) == pytest.approx(-np.mean((unit(t6) * unit(p6)).sum(1)), abs=1e-3)
    kp = np.array([0.4, 0.9, 0.12, 0.36, 0.3, 0.4], np.float32).reshape(2, 3)
    kt = np.array([0.5, 0.8, 0.12, 0.7, 0.43, 0.8], np.float32).reshape(2, 3)
    assert losses.KLDivergence()(kt, kp) == pytest.approx((kt * np.log(kt / kp)).sum() / 2, abs=1e-3)
    pp = np.array([1, 9, 2, 5, 2, 6], np.float32).reshape(2, 3)
    pt = np.array([4, 8, 12, 8, 1, 3], np.float32).reshape(2, 3)
    assert losses.Poisson()(pt, pp) == pytest.approx((pp - pt * np.log(pp)).sum() / 6, abs=1e-3)
    hp = np.array([[0.9, 0.2, 0.2], [0.8, 0.4, 0.6]])
    ht = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    quadratic = np.minimum(np.abs(hp - ht), 1.0)
    expected = (0.5 * quadratic ** 2 + (np.abs(hp - ht) - quadratic)).sum() / 6
    assert losses.Huber()(ht, hp) == pytest.approx(expected, abs=1e-3)


def test_hinge_converts_labels_only_when_all_are_0_or_1():
    p = np.array([[0.3, -0.8], [1.2, 0.1]])
    binary = np.array([[0.0, 1.0], [1.0, 1.0]])
    signed = np.array([[-1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(losses.hinge(binary, p), losses.hinge(signed, p), rtol=0)
    soft = np.array([[0.0, 1.0], [0.5, 1.0]])  # not all 0/1: used as they are
    np.testing.assert_allclose(losses.hinge(soft, p), np.maximum(1.0 - soft * p, 0.0).mean(-1), rtol=1e-15)
    np.testing.assert_allclose(losses.squared_hinge(binary, p),
                               (np.maximum(1.0 - signed * p, 0.0) ** 2).mean(-1), rtol=1e-15)


def test_cosine_similarity_of_a_zero_vector_is_zero():
    np.testing.assert_array_equal(losses.cosine_similarity([[0.0, 0.0], [1.0, 2.0]], [[1.0, 2.0], [0.0, 0.0]]),
                                  [0.0, 0.0])


# ---- values, gradients, static steps -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("need_grad", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_loss_is_static_and_keeps_keras_numbers(name, need_grad, dtype, rng, numpy_backend):
    ops = numpy_backend
    loss = CLASSES[name]()
    output, y = inputs(name, rng, dtype)
    ws = Workspace(ops)
    first = loss.compute(ops, ws, output, y, GRAD_SCALE, False, need_grad)  # makes the buffers
    with count_step_allocations() as events:
        per_sample, grad, predictions = loss.compute(ops, ws, output, y, GRAD_SCALE, False, need_grad)
    assert events == [], describe(events)
    assert per_sample is first[0] and predictions is output and (grad is first[1] if need_grad else grad is None)
    assert per_sample.shape == (B,) and per_sample.dtype == dtype
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(per_sample, reference(name, output, y), rtol=rtol, atol=rtol)
    if need_grad:
        assert grad.shape == output.shape and grad.dtype == dtype
        y64 = y.astype(np.float64)
        numeric = numerical_gradient(lambda out: reference(name, out, y64).sum() * GRAD_SCALE,
                                     output.astype(np.float64))
        tolerance = 5e-5 if dtype == np.float32 else 1e-7
        np.testing.assert_allclose(grad, numeric, rtol=tolerance, atol=tolerance * np.abs(numeric).max())


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences_of_the_loss_itself(name, rng, numpy_backend):
    """In float64, the gradient of the mean loss computed by the loss's own step (grad_scale = 1 / B)."""
    ops = numpy_backend
    loss = CLASSES[name]()
    output, y = inputs(name, rng)
    _, grad, _ = loss.compute(ops, Workspace(ops), output.copy(), y, 1.0 / B, False)
    ws = Workspace(ops)
    numeric = numerical_gradient(lambda out: loss.compute(ops, ws, out.copy(), y, 1.0 / B, False, False)[0].mean(),
                                 output.copy())
    assert_gradients_close(grad, numeric, what=f"{name} d loss / d output")


def test_huber_gradient_with_another_delta(rng, numpy_backend):
    ops = numpy_backend
    loss = losses.Huber(delta=0.3)
    output, y = rng.standard_normal((B, C)), rng.standard_normal((B, C))
    _, grad, _ = loss.compute(ops, Workspace(ops), output, y, 1.0 / B, False)
    np.testing.assert_allclose(grad, np.clip(output - y, -0.3, 0.3) / (B * C), rtol=1e-15)
    np.testing.assert_allclose(loss.per_sample(y, output), reference("huber", output, y, delta=0.3), rtol=1e-15)


def test_categorical_hinge_shares_the_gradient_between_tied_maxima(numpy_backend):
    """TF's max reduction gives each tied entry an equal share of the gradient."""
    ops = numpy_backend
    output, y = np.array([[0.2, 0.5, 0.5]]), np.array([[1.0, 0.0, 0.0]])
    _, grad, _ = losses.CategoricalHinge().compute(ops, Workspace(ops), output, y, 1.0, False)
    np.testing.assert_allclose(grad, [[-1.0, 0.5, 0.5]])


@pytest.mark.parametrize("name", NAMES)
def test_recorded_loss_replays_on_new_inputs(name, rng, numpy_backend):
    """Recorded once, replayed after the inputs' contents change: the eager numbers, bit for bit. For the hinge
    losses the new labels are -1/1 where the recorded ones were 0/1: the conversion is decided on the device."""
    ops = numpy_backend
    loss = CLASSES[name]()
    output, y = inputs(name, rng, np.float32)
    ws = Workspace(ops)
    loss.compute(ops, ws, output, y, GRAD_SCALE, False)
    with Recording(ops) as tape:
        per_sample, grad, predictions = loss.compute(ops, ws, output, y, GRAD_SCALE, False)
    new_output, new_y = inputs(name, rng, np.float32)
    if name in ("hinge", "squared_hinge"):
        new_y = 2 * new_y - 1
    output[...], y[...] = new_output, new_y
    tape.replay()
    want = loss.compute(ops, Workspace(ops), output.copy(), y.copy(), GRAD_SCALE, False)
    for got, expected in zip((per_sample, grad, predictions), want):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(per_sample, reference(name, output, y), rtol=2e-6, atol=2e-6)


def test_new_primitives_with_out_and_0d_operands_allocate_nothing(numpy_backend):
    ops = numpy_backend
    a = np.linspace(-2.0, 2.0, 12, dtype=np.float32).reshape(3, 4)
    zero = np.zeros((), np.float32)
    out, flags, more = np.empty_like(a), np.empty(a.shape, np.bool_), np.zeros(a.shape, np.bool_)
    row, scalar_flag = np.empty((3, 1), np.float32), np.empty((), np.bool_)
    calls = [
        lambda: ops.tanh(a, out), lambda: ops.logaddexp(a, zero, out), lambda: ops.greater_equal(a, zero, flags),
        lambda: ops.logical_or(flags, more, flags), lambda: ops.all(flags, None, scalar_flag),
        lambda: ops.max(a, -1, row, keepdims=True), lambda: ops.copy_where(a, flags, out),
        lambda: ops.copy_into(scalar_flag, zero), lambda: ops.multiply(out, flags, out),
    ]
    for call in calls:
        call()
    with count_step_allocations() as events:
        for call in calls:
            call()
    assert events == [], describe(events)
    np.testing.assert_allclose(ops.logaddexp(a, zero, out), np.logaddexp(a, 0.0), rtol=1e-6)


# ---- in training ----------------------------------------------------------------------------------------------

# (output activation, targets) for a 3-unit model on _data()'s 53 samples
TRAINING = {
    "huber": ("linear", "regression"), "log_cosh": ("linear", "regression"),
    "mean_absolute_percentage_error": ("linear", "regression"),
    "cosine_similarity": ("linear", "regression"), "kl_divergence": ("softmax", "distribution"),
    "poisson": ("softplus", "counts"), "mean_squared_logarithmic_error": ("softplus", "counts"),
    "hinge": ("tanh", "binary"), "squared_hinge": ("linear", "signed"),
    "categorical_hinge": ("linear", "one_hot"),
    "binary_focal_crossentropy": ("sigmoid", "binary"), "categorical_focal_crossentropy": ("softmax", "one_hot"),
}


def _targets(kind, labels, n):
    rng = np.random.default_rng(2)
    if kind == "regression":
        return rng.standard_normal((n, 3)).astype("float32")
    if kind == "distribution":
        return rng.dirichlet(np.ones(3), n).astype("float32")
    if kind == "counts":
        return rng.integers(0, 4, (n, 3)).astype("float32")
    if kind == "binary":
        return rng.integers(0, 2, (n, 3)).astype("float32")
    if kind == "signed":
        return rng.choice([-1.0, 1.0], (n, 3)).astype("float32")
    return gpunn.utils.to_categorical(labels, 3).astype("float32")


def _train(name, jit, epochs=2):
    activation, kind = TRAINING[name]
    x, labels = _data()
    y = _targets(kind, labels, len(x))
    model = _model("dense", out_activation=activation)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss=name, jit_compile=jit)
    history = model.fit(x, y, batch_size=10, epochs=epochs, verbose=0)
    return model, history.history


@pytest.mark.parametrize("name", NAMES)
def test_replay_equals_eager_in_training(name, numpy_backend):
    eager = _train(name, False)
    assert np.isfinite(eager[1]["loss"]).all()
    assert_same_training(eager, _train(name, True))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("name", NAMES)
def test_a_training_step_allocates_nothing_after_the_first(name, jit, numpy_backend):
    activation, kind = TRAINING[name]
    x, labels = _data(n=40)
    y = _targets(kind, labels, len(x))
    model = _model("dense", out_activation=activation)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss=name, metrics=["mae"], jit_compile=jit)
    x, y = model._prepare(x, y)
    batches, one = _fit_steps(model, x, y, batch_size=8)
    one(batches[0])
    with count_step_allocations() as events:
        for batch in batches[1:]:
            one(batch)
    assert events == [], describe(events)


def test_a_training_run_lowers_each_loss(numpy_backend):
    for name in NAMES:
        _, history = _train(name, False, epochs=6)
        assert history["loss"][-1] < history["loss"][0], (name, history["loss"])


def test_mape_divides_by_epsilon_where_y_true_is_zero_as_keras_does():
    """Keras's docstring example (6.111111), and a zero target: |0 - p| / 1e-7."""
    loss = losses.MeanAbsolutePercentageError()
    assert float(loss(np.array([100.0, 200.0, 300.0]), np.array([90.0, 210.0, 310.0]))) == pytest.approx(6.111111)
    got = losses.mean_absolute_percentage_error(np.array([[0.0, 2.0]]), np.array([[1e-8, 1.0]]))
    np.testing.assert_allclose(got, [100.0 * (1e-8 / EPS + 0.5) / 2], rtol=1e-12)


@pytest.mark.parametrize("loss, y_true, y_pred, expected", [
    (losses.MeanSquaredError(), [0.0, 1.0], [1.0, 1.0], 0.5),
    (losses.MeanAbsoluteError(), [0.0, 1.0], [1.0, 1.0], 0.5),
    (losses.CategoricalCrossentropy(), [0.0, 1.0, 0.0], [0.05, 0.95, 0.0], -np.log(0.95)),
    (losses.SparseCategoricalCrossentropy(), 1, [0.05, 0.95, 0.0], -np.log(0.95)),
    (losses.Huber(), [0.0, 2.0], [0.5, 0.0], (0.125 + 1.5) / 2),
])
def test_a_vector_is_one_sample_as_keras_reduces_the_last_axis(loss, y_true, y_pred, expected):
    per_sample = loss.per_sample(np.array(y_true), np.array(y_pred))
    assert per_sample.shape == () and float(per_sample) == pytest.approx(expected, rel=1e-6)
    assert loss(np.array(y_true), np.array(y_pred)) == pytest.approx(expected, rel=1e-6)


def test_standalone_losses_compute_in_the_predictions_dtype():
    """Keras clips float32 probabilities in float32 (1 - 1e-7 rounds there): the loss functions called on their
    own give Keras's values on saturated predictions."""
    from helpers import run_keras

    script = """
import json
import numpy as np
import keras
y = np.array([[0.], [1.], [0.], [1.]], "float32")
p = np.array([[1.0], [0.0], [0.3], [0.999]], "float32")
print(json.dumps({"bce": np.asarray(keras.losses.binary_crossentropy(y, p)).tolist(),
                  "mean": float(keras.losses.BinaryCrossentropy()(y, p)),
                  "cce": np.asarray(keras.losses.categorical_crossentropy(np.eye(3, dtype="float32")[[1]],
                                                                         np.eye(3, dtype="float32")[[0]])).tolist()}))
"""
    theirs = run_keras(script, {})
    import gpunn

    y = np.array([[0.], [1.], [0.], [1.]], "float32")
    p = np.array([[1.0], [0.0], [0.3], [0.999]], "float32")
    np.testing.assert_allclose(np.asarray(gpunn.losses.binary_crossentropy(y, p)), theirs["bce"], rtol=1e-6)
    assert float(gpunn.losses.BinaryCrossentropy()(y, p)) == pytest.approx(theirs["mean"], rel=1e-6)
    np.testing.assert_allclose(np.asarray(gpunn.losses.categorical_crossentropy(
        np.eye(3, dtype="float32")[[1]], np.eye(3, dtype="float32")[[0]])), theirs["cce"], rtol=1e-6)


REDUCTIONS_SCRIPT = """
import json
import numpy as np
import keras
y = np.array([[0., 1.], [1., 0.], [0.5, 0.5]], "float32")
p = np.array([[0.2, 0.7], [0.9, 0.3], [0.1, 0.4]], "float32")
w = np.array([1.0, 2.0, 0.5], "float32")
out = {}
for name in ["MeanSquaredError", "BinaryCrossentropy", "Huber", "CategoricalCrossentropy"]:
    for reduction in ["sum", "none", None, "mean", "mean_with_sample_weight", "sum_over_batch_size"]:
        loss = getattr(keras.losses, name)(reduction=reduction)
        out[f"{name} {reduction}"] = [np.asarray(loss(y, p)).tolist(), np.asarray(loss(y, p, sample_weight=w)).tolist()]
print(json.dumps(out))
"""


def test_a_loss_called_on_its_own_takes_keras_s_reductions():
    from helpers import run_keras

    import gpunn

    theirs = run_keras(REDUCTIONS_SCRIPT, {})
    namespace = {"keras": gpunn}
    exec(REDUCTIONS_SCRIPT.replace("import keras\n", "").replace("print(json.dumps(out))", ""), namespace)
    for key, values in theirs.items():
        for mine, keras_s in zip(namespace["out"][key], values):
            np.testing.assert_allclose(np.asarray(mine), np.asarray(keras_s), rtol=1e-5, err_msg=key)
    loss = gpunn.losses.MeanSquaredError(reduction="none")
    assert gpunn.losses.MeanSquaredError.from_config(loss.get_config()).reduction == "none"
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)])
    with pytest.raises(ValueError, match="reduction='sum_over_batch_size'"):
        model.compile(optimizer="sgd", loss=gpunn.losses.MeanSquaredError(reduction="sum"))
    with pytest.raises(ValueError, match="reduction: expected one of"):
        gpunn.losses.MeanSquaredError(reduction="total")


def test_a_loss_on_its_own_takes_per_step_predictions():
    """(samples, steps, features) predictions: one value per step, averaged, as Keras's losses give them."""
    import gpunn

    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(4, 5, 3)).astype("float32")
    y_pred = rng.normal(size=(4, 5, 3)).astype("float32")
    ids = rng.integers(0, 3, size=(4, 5)).astype("int32")
    assert float(gpunn.losses.MeanSquaredError()(y_true, y_pred)) == pytest.approx(2.0341706, rel=1e-6)  # Keras's
    assert float(gpunn.losses.SparseCategoricalCrossentropy(from_logits=True)(ids, y_pred)) == pytest.approx(
        1.3739021, rel=1e-6)
    assert gpunn.losses.mean_squared_error(y_true, y_pred).shape == (4, 5)


GET_SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    y_true = np.array([[0.0, 1.0], [1.0, 0.0]], "float32")
    y_pred = np.array([[0.2, 0.8], [0.6, 0.4]], "float32")
    out = {}
    for name in ["mse", "MSE", "mean_squared_error", "mae", "bce", "kld", "categorical_crossentropy",
                 "binary_crossentropy", "huber", "log_cosh", "MeanSquaredError", "Huber", "CategoricalCrossentropy"]:
        found = keras.losses.get(name)
        kind = "class" if isinstance(found, keras.losses.Loss) else "function"
        out[name] = [kind, np.round(np.asarray(found(y_true, y_pred), "float64"), 5).tolist()]
    function = lambda t, p: keras.ops.mean(keras.ops.abs(t - p), axis=-1)
    out["callable"] = keras.losses.get(function) is function
    out["none"] = keras.losses.get(None) is None
    out["class"] = type(keras.losses.get(keras.losses.Huber)).__name__
    instance = keras.losses.Huber(delta=2.0)
    out["instance"] = keras.losses.get(instance) is instance
    restored = keras.losses.deserialize(keras.losses.serialize(keras.losses.get("mse")))
    out["serialized_function"] = np.round(np.asarray(keras.losses.get(restored)(y_true, y_pred), "float64"),
                                          5).tolist()
    return out
'''


def test_get_gives_what_keras_s_get_gives(tmp_path_factory):
    """``keras.losses.get("mse")`` is the function (a loss per sample), ``get("MeanSquaredError")`` an instance
    (the mean): calling what it gives yields Keras's numbers. compile takes either (``as_loss``)."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(GET_SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["mse"][0] == "function" and len(ours["mse"][1]) == 2
